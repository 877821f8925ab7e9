/* test_loop: drives a test's libev loop until a condition holds, never past a deadline
 * (include after cmocka.h). */
#ifndef KPROFEFE_TEST_LOOP_H
#define KPROFEFE_TEST_LOOP_H

#include <ev.h>
#include <stdint.h>

static inline void test_loop_deadline(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	*(int *)w->data = 1;
}

/*
 * Runs ev one iteration at a time until done(arg) is non-zero or seconds pass; returns
 * done(arg). A timer marks the deadline, so an iteration with nothing else to do wakes
 * up for it instead of blocking for good. done NULL: run for the whole time.
 */
static inline int test_run_until(struct ev_loop *ev, int (*done)(void *), void *arg, double seconds)
{
	int expired = 0;
	ev_timer deadline;
	ev_timer_init(&deadline, test_loop_deadline, seconds, 0.);
	deadline.data = &expired;
	ev_timer_start(ev, &deadline);
	while (!(done && done(arg)) && !expired)
		ev_run(ev, EVRUN_ONCE);
	ev_timer_stop(ev, &deadline);
	return done && done(arg);
}

static inline int test_flag_is_set(void *flag)
{
	return *(const int *)flag != 0;
}

/* test_run_until a flag (an int the callbacks set) is non-zero. */
static inline int test_run_until_flag(struct ev_loop *ev, const int *flag, double seconds)
{
	return test_run_until(ev, test_flag_is_set, (void *)(uintptr_t)flag, seconds);
}

#endif
