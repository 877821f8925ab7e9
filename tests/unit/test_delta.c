/* Unit tests of delta: real Go delta and cumulative profiles told apart, and labelled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_data.h"

#include "kprofefe/delta.h"
#include "kprofefe/metrics.h"

/* What the collector does: the facts come from the body's check (fetch). */
static pprof_body_facts facts_of(const char *file, enum pprof_type t)
{
	test_file f = test_data_load(file);
	pprof_body_facts facts;
	enum pprof_reason reason;

	assert_int_not_equal(pprof_body_inspect(t, f.data, f.len, 0, &facts, &reason),
			     PPROF_BODY_INVALID);
	free(f.data);
	return facts;
}

static delta_verdict inspect(const char *file, enum pprof_type t, enum pprof_delta asked)
{
	pprof_body_facts facts = facts_of(file, t);
	delta_verdict v;

	delta_inspect(t, asked, &facts, &v);
	return v;
}

static void test_real_delta(void **state)
{
	(void)state;
	/* allocs?seconds=2 from a Go 1.26 net/http/pprof: duration 2.00 s, samples. */
	delta_verdict v = inspect("allocs-delta.pb.gz", PPROF_ALLOCS, 1);
	assert_int_equal(v.kind, DELTA_DELTA);
	assert_int_equal(v.window_s, 2);
	assert_false(v.ignored);
	assert_false(v.empty);
	/* mutex?seconds=1 of a program that locked nothing: a delta without samples. */
	v = inspect("mutex-delta-empty.pb.gz", PPROF_MUTEX, 1);
	assert_int_equal(v.kind, DELTA_DELTA);
	assert_int_equal(v.window_s, 1);
	assert_true(v.empty);
}

static void test_ignored_seconds(void **state)
{
	(void)state;
	/* A delta asked for, a cumulative profile (no duration) answered: an old Go. */
	delta_verdict v = inspect("allocs.pb.gz", PPROF_ALLOCS, 1);
	assert_int_equal(v.kind, DELTA_CUMULATIVE);
	assert_true(v.ignored);
	v = inspect("block.pb.gz", PPROF_BLOCK, 1);
	assert_int_equal(v.kind, DELTA_CUMULATIVE);
	assert_true(v.ignored);
	/* Not asked: cumulative, nothing ignored. */
	v = inspect("allocs.pb.gz", PPROF_ALLOCS, 0);
	assert_int_equal(v.kind, DELTA_CUMULATIVE);
	assert_false(v.ignored);
}

static void test_kinds(void **state)
{
	(void)state;
	/* heap is never asked for a delta: cumulative, whatever the mode. */
	delta_verdict v = inspect("heap.pb.gz", PPROF_HEAP, 1);
	assert_int_equal(v.kind, DELTA_CUMULATIVE);
	assert_false(v.ignored);
	/* cpu and goroutine carry no delta label (a CPU profile has a duration anyway). */
	v = inspect("cpu.pb.gz", PPROF_CPU, 1);
	assert_int_equal(v.kind, DELTA_NONE);
	v = inspect("goroutine.pb.gz", PPROF_GOROUTINE, 1);
	assert_int_equal(v.kind, DELTA_NONE);
	assert_true(delta_labelled(PPROF_HEAP));
	assert_true(delta_labelled(PPROF_MUTEX));
	assert_false(delta_labelled(PPROF_THREADCREATE));
}

static void test_labels(void **state)
{
	delta_verdict v = {.kind = DELTA_DELTA, .window_s = 10};
	char *l;
	(void)state;

	l = delta_labels("namespace=shop,pod=web-1", &v);
	assert_string_equal(l, "namespace=shop,pod=web-1,delta=true,window=10s");
	free(l);
	v.kind = DELTA_CUMULATIVE;
	l = delta_labels("namespace=shop", &v);
	assert_string_equal(l, "namespace=shop,delta=false");
	free(l);
	l = delta_labels(NULL, &v);
	assert_string_equal(l, "delta=false");
	free(l);
	v.kind = DELTA_NONE;
	l = delta_labels("a=b", &v);
	assert_string_equal(l, "a=b");
	free(l);
}

static void test_godeltaprof_bodies(void **state)
{
	(void)state;
	/* Real godeltaprof v0.1.10 answers (delta_heap, delta_mutex, delta_block of
	 * tests/targets/pprof-target --godeltaprof): a time, no duration, samples. Judged
	 * by the body alone they would pass for a server that ignores ?seconds=. */
	static const struct {
		const char *file;
		enum pprof_type type;
	} bodies[] = {
		{"godeltaprof-heap.pb.gz", PPROF_ALLOCS},
		{"godeltaprof-mutex.pb.gz", PPROF_MUTEX},
		{"godeltaprof-block.pb.gz", PPROF_BLOCK},
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		pprof_body_facts facts = facts_of(bodies[i].file, bodies[i].type);
		assert_int_equal(facts.duration_nanos, 0);
		assert_true(facts.time_nanos > 0);
		assert_true(facts.n_samples > 0);
		delta_verdict v = inspect(bodies[i].file, bodies[i].type, PPROF_DELTA_SECONDS);
		assert_int_equal(v.kind, DELTA_CUMULATIVE);
		assert_true(v.ignored);
		/* Asked from godeltaprof's endpoint: a delta, its window the collector's. */
		v = inspect(bodies[i].file, bodies[i].type, PPROF_DELTA_GODELTAPROF);
		assert_int_equal(v.kind, DELTA_DELTA);
		assert_false(v.ignored);
		assert_false(v.empty);
		assert_int_equal(v.window_s, 0);
	}
	/* An empty answer (nothing locked since the last call) is an empty delta. */
	delta_verdict v = inspect("mutex-empty.pb.gz", PPROF_MUTEX, PPROF_DELTA_GODELTAPROF);
	assert_int_equal(v.kind, DELTA_DELTA);
	assert_true(v.empty);
	/* heap stays the snapshot. */
	v = inspect("heap.pb.gz", PPROF_HEAP, PPROF_DELTA_GODELTAPROF);
	assert_int_equal(v.kind, DELTA_CUMULATIVE);
}

static double skipped(const char *type, const char *reason)
{
	return metrics_get(METRIC_PROFILES_SKIPPED_TOTAL, "type", type, "reason", reason,
			   NULL);
}

static void test_godeltaprof_first_answer(void **state)
{
	(void)state;
	pprof_body_facts facts = facts_of("godeltaprof-mutex.pb.gz", PPROF_MUTEX);
	int said = 0;
	char *l;

	metrics_reset();
	/* The first answer since the collector started: the totals of the process's life,
	 * not stored, counted. */
	l = delta_collected_labels(PPROF_MUTEX, PPROF_DELTA_GODELTAPROF, &facts, DELTA_NO_WINDOW,
				   "shop/web-1", "pod=web-1", &said);
	assert_null(l);
	assert_true(skipped("mutex", "first") == 1.0);
	/* The next one: its window is the time since the previous answer, rounded. */
	l = delta_collected_labels(PPROF_MUTEX, PPROF_DELTA_GODELTAPROF, &facts, 59.6,
				   "shop/web-1", "pod=web-1", &said);
	assert_string_equal(l, "pod=web-1,delta=true,window=60s");
	free(l);
	l = delta_collected_labels(PPROF_MUTEX, PPROF_DELTA_GODELTAPROF, &facts, 0.2,
				   "shop/web-1", "pod=web-1", &said);
	assert_string_equal(l, "pod=web-1,delta=true,window=1s");
	free(l);
	assert_true(skipped("mutex", "first") == 1.0);
	assert_false(said);
	assert_true(metrics_get(METRIC_DELTA_IGNORED_TOTAL, "type", "mutex", NULL) == 0.0);
	/* A ?seconds= delta ignores since_s: its window is in the body. */
	pprof_body_facts seconds = facts_of("allocs-delta.pb.gz", PPROF_ALLOCS);
	l = delta_collected_labels(PPROF_ALLOCS, PPROF_DELTA_SECONDS, &seconds, DELTA_NO_WINDOW,
				   "shop/web-1", "", &said);
	assert_string_equal(l, "delta=true,window=2s");
	free(l);
	/* heap from a godeltaprof pod: the snapshot, never "first". */
	pprof_body_facts heap = facts_of("heap.pb.gz", PPROF_HEAP);
	l = delta_collected_labels(PPROF_HEAP, PPROF_DELTA_GODELTAPROF, &heap, DELTA_NO_WINDOW,
				   "shop/web-1", "", &said);
	assert_string_equal(l, "delta=false");
	free(l);
	metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_delta),
		cmocka_unit_test(test_ignored_seconds),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_godeltaprof_bodies),
		cmocka_unit_test(test_godeltaprof_first_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
