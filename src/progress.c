/* progress: a terminal status line with counts and a countdown, redrawn once a second. */
#include "kprofefe/progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "kprofefe/buf.h"
#include "kprofefe/xalloc.h"

/* Back to the start of the line and erase it (VT100, what every terminal speaks). */
#define ERASE_LINE "\r\033[K"

struct progress {
	struct ev_loop *ev;
	FILE *tty;
	char *label;
	int total, done, failed;
	char *countdown_what; /* NULL when no countdown runs */
	double deadline;      /* ev time the countdown reaches 0 */
	ev_timer tick;
	int drawn; /* the status line is on the screen */
};

static void erase(progress_t *p)
{
	if (!p->drawn)
		return;
	fputs(ERASE_LINE, p->tty);
	fflush(p->tty);
	p->drawn = 0;
}

static void draw(progress_t *p)
{
	/* Nothing to show before there is something to count. */
	if (!p->tty || p->total == 0)
		return;
	char *text = progress_text(p);
	fprintf(p->tty, ERASE_LINE "%s", text);
	fflush(p->tty);
	free(text);
	p->drawn = 1;
}

static void on_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	draw(w->data);
}

progress_t *progress_new(struct ev_loop *ev, FILE *tty)
{
	progress_t *p = xcalloc(1, sizeof(*p));
	p->ev = ev;
	p->tty = tty;
	p->label = xstrdup("");
	ev_timer_init(&p->tick, on_tick, 1., 1.);
	p->tick.data = p;
	return p;
}

void progress_free(progress_t *p)
{
	if (!p)
		return;
	ev_timer_stop(p->ev, &p->tick);
	if (p->tty)
		erase(p);
	free(p->label);
	free(p->countdown_what);
	free(p);
}

int progress_enabled(const progress_t *p)
{
	return p && p->tty;
}

void progress_set_label(progress_t *p, const char *label)
{
	free(p->label);
	p->label = xstrdup(label);
	draw(p);
}

void progress_set_total(progress_t *p, int total)
{
	p->total = total;
	draw(p);
}

void progress_step(progress_t *p, int ok)
{
	p->done++;
	if (!ok)
		p->failed++;
	draw(p);
}

void progress_countdown(progress_t *p, const char *what, double seconds)
{
	free(p->countdown_what);
	p->countdown_what = xstrdup(what);
	p->deadline = ev_now(p->ev) + seconds;
	if (p->tty) {
		/* Ticks on the second boundaries of the countdown, so "23s" lasts a second. */
		double first = seconds - floor(seconds);
		ev_timer_stop(p->ev, &p->tick);
		ev_timer_set(&p->tick, first > 0 ? first : 1., 1.);
		ev_timer_start(p->ev, &p->tick);
	}
	draw(p);
}

void progress_countdown_stop(progress_t *p)
{
	ev_timer_stop(p->ev, &p->tick);
	free(p->countdown_what);
	p->countdown_what = NULL;
	draw(p);
}

void progress_printf(progress_t *p, FILE *f, const char *fmt, ...)
{
	int was_drawn = p && p->drawn;
	va_list ap;

	if (p && p->tty)
		erase(p);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
	if (was_drawn)
		draw(p);
}

char *progress_text(const progress_t *p)
{
	buf_t b = BUF_INIT;

	buf_printf(&b, "%s%s%d/%d done", p->label, *p->label ? ": " : "", p->done, p->total);
	if (p->failed)
		buf_printf(&b, ", %d failed", p->failed);
	if (p->countdown_what) {
		/* Rounded up: "1s left" until the very end, never "0s left". */
		double left = ceil(p->deadline - ev_now(p->ev) - 0.05);
		if (left >= 1)
			buf_printf(&b, ", %s %.0fs left", p->countdown_what, left);
		else
			buf_printf(&b, ", %s finishing", p->countdown_what);
	}
	return buf_detach(&b);
}
