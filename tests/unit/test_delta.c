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

/* What the collector does: the facts come from the body's check (fetch). */
static delta_verdict inspect(const char *file, enum pprof_type t, int asked)
{
	test_file f = test_data_load(file);
	pprof_body_facts facts;
	enum pprof_reason reason;
	delta_verdict v;

	assert_int_not_equal(pprof_body_inspect(t, f.data, f.len, 0, &facts, &reason),
			     PPROF_BODY_INVALID);
	delta_inspect(t, asked, &facts, &v);
	free(f.data);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_delta),
		cmocka_unit_test(test_ignored_seconds),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
