/* Unit tests of loop: the lag heartbeat sees a callback that holds the loop, and does not keep it running. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kprofefe/loop.h"
#include "kprofefe/metrics.h"
#include "test_loop.h"

/* What a slow disk does to the loop: a callback that does not return for a while. */
static void hold_the_loop(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL); /* the fault itself, not a wait for a condition */
	*(int *)w->data = 1;
}

static double lag_bucket_count(const char *le)
{
	char *text = metrics_render();
	char want[128];
	snprintf(want, sizeof(want), "kprofefe_loop_lag_seconds_bucket{le=\"%s\"} ", le);
	const char *p = strstr(text, want);
	double v = p ? strtod(p + strlen(want), NULL) : -1;
	free(text);
	return v;
}

static int lag_seen(void *arg)
{
	(void)arg;
	return metrics_get(METRIC_LOOP_LAG_SECONDS, NULL) >= 3;
}

static void test_lag_sees_a_held_loop(void **state)
{
	(void)state;
	metrics_reset();
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	loop_t *loop = loop_new(ev);
	loop_measure_lag(loop, 0.05);
	int held = 0;
	ev_timer hold;
	ev_timer_init(&hold, hold_the_loop, 0.12, 0.);
	hold.data = &held;
	ev_timer_start(ev, &hold);
	assert_true(test_run_until(ev, lag_seen, NULL, 5));
	assert_true(held);
	/* The beat due during the hold came more than 0.1 s late (it waited 0.3 s less the
	 * time already gone). Others may be late too on a loaded machine: no bound on them. */
	double total = metrics_get(METRIC_LOOP_LAG_SECONDS, NULL);
	assert_true(lag_bucket_count("0.1") <= total - 1);
	assert_true(lag_bucket_count("+Inf") == total);
	loop_free(loop);
	ev_loop_destroy(ev);
	metrics_reset();
}

/* Only the heartbeat is left: ev_run returns instead of running for ever. */
static void test_lag_does_not_keep_the_loop(void **state)
{
	(void)state;
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	loop_t *loop = loop_new(ev);
	loop_measure_lag(loop, 0.01);
	ev_run(ev, 0);
	loop_measure_lag(loop, 0.01); /* again: the first one is replaced */
	ev_run(ev, 0);
	loop_free(loop);
	ev_loop_destroy(ev);
	metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lag_sees_a_held_loop),
		cmocka_unit_test(test_lag_does_not_keep_the_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
