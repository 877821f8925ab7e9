/* Unit tests of progress: the status line's text, redrawing around printed lines, nothing
 * drawn without a terminal, and the countdown driven by the real libev loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kprofefe/progress.h"

typedef struct out {
	char *text;
	size_t len;
	FILE *f;
} out;

static void out_open(out *o)
{
	o->text = NULL;
	o->len = 0;
	o->f = open_memstream(&o->text, &o->len);
}

static void out_close(out *o)
{
	fclose(o->f);
	free(o->text);
}

static void test_text(void **state)
{
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	progress_t *p = progress_new(ev, NULL);
	char *s;

	(void)state;
	assert_false(progress_enabled(p));
	progress_set_label(p, "capturing 2 pods");
	progress_set_total(p, 12);
	s = progress_text(p);
	assert_string_equal(s, "capturing 2 pods: 0/12 done");
	free(s);
	progress_step(p, 1);
	progress_step(p, 0);
	s = progress_text(p);
	assert_string_equal(s, "capturing 2 pods: 2/12 done, 1 failed");
	free(s);
	progress_countdown(p, "CPU profile", 30);
	s = progress_text(p);
	assert_string_equal(s, "capturing 2 pods: 2/12 done, 1 failed, CPU profile 30s left");
	free(s);
	progress_countdown(p, "CPU profile", 0);
	s = progress_text(p);
	assert_string_equal(s, "capturing 2 pods: 2/12 done, 1 failed, CPU profile finishing");
	free(s);
	progress_countdown_stop(p);
	s = progress_text(p);
	assert_string_equal(s, "capturing 2 pods: 2/12 done, 1 failed");
	free(s);
	progress_free(p);
	ev_loop_destroy(ev);
}

static void test_no_terminal_only_prints_lines(void **state)
{
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	progress_t *p = progress_new(ev, NULL);
	out o;

	(void)state;
	out_open(&o);
	progress_set_total(p, 3);
	progress_step(p, 1);
	progress_printf(p, o.f, "line %d", 1);
	progress_printf(NULL, o.f, "line %d", 2);
	progress_free(p);
	fflush(o.f);
	assert_string_equal(o.text, "line 1\nline 2\n");
	out_close(&o);
	ev_loop_destroy(ev);
}

static void test_lines_above_the_status_line(void **state)
{
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	out tty;
	progress_t *p;

	(void)state;
	out_open(&tty);
	p = progress_new(ev, tty.f);
	assert_true(progress_enabled(p));
	progress_set_label(p, "x");
	fflush(tty.f);
	assert_string_equal(tty.text, ""); /* nothing to count yet: nothing drawn */
	progress_set_total(p, 2);
	progress_printf(p, tty.f, "hello");
	progress_free(p);
	fflush(tty.f);
	/* Drawn, erased for the line, drawn again, erased at the end. */
	assert_string_equal(tty.text, "\r\033[Kx: 0/2 done\r\033[Khello\n\r\033[Kx: 0/2 done\r\033[K");
	out_close(&tty);
	ev_loop_destroy(ev);
}

static void on_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(ev, EVBREAK_ALL);
}

static void test_countdown_ticks(void **state)
{
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	ev_timer deadline;
	out tty;
	progress_t *p;

	(void)state;
	out_open(&tty);
	p = progress_new(ev, tty.f);
	progress_set_total(p, 1);
	progress_countdown(p, "CPU profile", 1.3);
	ev_timer_init(&deadline, on_timeout, 5., 0.);
	ev_timer_start(ev, &deadline);
	/* Redrawn by its own timer: 2s, then 1s, then finishing. */
	for (;;) {
		fflush(tty.f);
		if (strstr(tty.text, "finishing") || !ev_is_active(&deadline))
			break;
		ev_run(ev, EVRUN_ONCE);
	}
	ev_timer_stop(ev, &deadline);
	assert_non_null(strstr(tty.text, "0/1 done, CPU profile 2s left"));
	assert_non_null(strstr(tty.text, "0/1 done, CPU profile 1s left"));
	assert_non_null(strstr(tty.text, "0/1 done, CPU profile finishing"));
	progress_countdown_stop(p);
	progress_free(p);
	out_close(&tty);
	ev_loop_destroy(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_no_terminal_only_prints_lines),
		cmocka_unit_test(test_lines_above_the_status_line),
		cmocka_unit_test(test_countdown_ticks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
