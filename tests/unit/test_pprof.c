/* Unit tests of pprof: types, endpoints, body checks on real Go profiles, and robustness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_data.h"

#include "kprofefe/pprof.h"

/* Reads tests/data/pprof/<name>; the caller frees. */
static unsigned char *load(const char *name, size_t *len)
{
	test_file f = test_data_load(name);
	*len = f.len;
	return f.data;
}

/* A small deterministic generator so failures reproduce. */
static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void test_type_names(void **state)
{
	(void)state;
	for (int i = 0; i < PPROF_TYPE_COUNT; i++) {
		enum pprof_type t;
		assert_int_equal(pprof_type_parse(pprof_type_name((enum pprof_type)i), &t), 0);
		assert_int_equal(t, i);
	}
	enum pprof_type t;
	assert_int_equal(pprof_type_parse("profile", &t), -1);
	assert_int_equal(pprof_type_parse("CPU", &t), -1);
	assert_int_equal(pprof_type_parse("", &t), -1);
	assert_int_equal(pprof_type_parse(NULL, &t), -1);
	assert_string_equal(pprof_type_name((enum pprof_type)99), "unknown");
}

static void test_profefe_types(void **state)
{
	(void)state;
	assert_string_equal(pprof_profefe_type(PPROF_CPU), "cpu");
	assert_string_equal(pprof_profefe_type(PPROF_HEAP), "heap");
	assert_string_equal(pprof_profefe_type(PPROF_ALLOCS), "other");
	assert_string_equal(pprof_profefe_type(PPROF_GOROUTINE), "goroutine");
	assert_string_equal(pprof_profefe_type(PPROF_MUTEX), "mutex");
	assert_string_equal(pprof_profefe_type(PPROF_BLOCK), "block");
	assert_string_equal(pprof_profefe_type(PPROF_THREADCREATE), "threadcreate");
	assert_string_equal(pprof_profefe_type(PPROF_TRACE), "trace");
}

static void check_endpoint(enum pprof_type t, int seconds, const char *want)
{
	char *e = pprof_endpoint(t, seconds);
	assert_string_equal(e, want);
	free(e);
}

static void test_endpoints(void **state)
{
	(void)state;
	check_endpoint(PPROF_CPU, 10, "profile?seconds=10");
	check_endpoint(PPROF_CPU, 0, "profile?seconds=1");
	check_endpoint(PPROF_TRACE, 3, "trace?seconds=3");
	check_endpoint(PPROF_HEAP, 10, "heap");
	check_endpoint(PPROF_ALLOCS, 10, "allocs");
	check_endpoint(PPROF_GOROUTINE, 10, "goroutine");
	check_endpoint(PPROF_MUTEX, 10, "mutex");
	check_endpoint(PPROF_BLOCK, 10, "block");
	check_endpoint(PPROF_THREADCREATE, 10, "threadcreate");
}

static void check_delta_endpoint(enum pprof_type t, enum pprof_delta d, int seconds,
				 const char *want)
{
	char *got = pprof_delta_endpoint(t, d, seconds);
	assert_string_equal(got, want);
	free(got);
}

static void test_delta_endpoints(void **state)
{
	(void)state;
	check_delta_endpoint(PPROF_ALLOCS, PPROF_DELTA_SECONDS, 10, "allocs?seconds=10");
	check_delta_endpoint(PPROF_BLOCK, PPROF_DELTA_SECONDS, 3, "block?seconds=3");
	check_delta_endpoint(PPROF_MUTEX, PPROF_DELTA_SECONDS, 0, "mutex?seconds=1");
	/* heap stays a snapshot; the others are not cumulative. */
	check_delta_endpoint(PPROF_HEAP, PPROF_DELTA_SECONDS, 10, "heap");
	check_delta_endpoint(PPROF_GOROUTINE, PPROF_DELTA_SECONDS, 10, "goroutine");
	check_delta_endpoint(PPROF_CPU, PPROF_DELTA_SECONDS, 10, "profile?seconds=10");
	/* Off: the totals. */
	check_delta_endpoint(PPROF_ALLOCS, PPROF_DELTA_OFF, 10, "allocs");
	check_delta_endpoint(PPROF_CPU, PPROF_DELTA_OFF, 10, "profile?seconds=10");
	/* godeltaprof: its own endpoints, no seconds; allocs from its heap profile. */
	check_delta_endpoint(PPROF_ALLOCS, PPROF_DELTA_GODELTAPROF, 10, "delta_heap");
	check_delta_endpoint(PPROF_BLOCK, PPROF_DELTA_GODELTAPROF, 10, "delta_block");
	check_delta_endpoint(PPROF_MUTEX, PPROF_DELTA_GODELTAPROF, 10, "delta_mutex");
	check_delta_endpoint(PPROF_HEAP, PPROF_DELTA_GODELTAPROF, 10, "heap");
	check_delta_endpoint(PPROF_CPU, PPROF_DELTA_GODELTAPROF, 7, "profile?seconds=7");
	/* Which endpoints hold the connection for their seconds. */
	assert_true(pprof_endpoint_waits(PPROF_CPU, PPROF_DELTA_OFF));
	assert_true(pprof_endpoint_waits(PPROF_TRACE, PPROF_DELTA_GODELTAPROF));
	assert_true(pprof_endpoint_waits(PPROF_ALLOCS, PPROF_DELTA_SECONDS));
	assert_false(pprof_endpoint_waits(PPROF_ALLOCS, PPROF_DELTA_OFF));
	assert_false(pprof_endpoint_waits(PPROF_MUTEX, PPROF_DELTA_GODELTAPROF));
	assert_false(pprof_endpoint_waits(PPROF_HEAP, PPROF_DELTA_SECONDS));
	assert_true(pprof_type_is_cumulative(PPROF_ALLOCS));
	assert_true(pprof_type_is_cumulative(PPROF_BLOCK));
	assert_true(pprof_type_is_cumulative(PPROF_MUTEX));
	assert_false(pprof_type_is_cumulative(PPROF_HEAP));
	assert_false(pprof_type_is_cumulative(PPROF_CPU));
	assert_false(pprof_type_is_cumulative(PPROF_THREADCREATE));
}

static void test_delta_names(void **state)
{
	enum pprof_delta d = PPROF_DELTA_OFF;
	(void)state;
	for (unsigned i = 0; i < PPROF_DELTA_COUNT; i++) {
		assert_int_equal(pprof_delta_parse(pprof_delta_name((enum pprof_delta)i), &d), 0);
		assert_int_equal(d, i);
	}
	assert_string_equal(pprof_delta_name(PPROF_DELTA_GODELTAPROF), "godeltaprof");
	assert_string_equal(pprof_delta_name(PPROF_DELTA_SECONDS), "true");
	assert_int_equal(pprof_delta_parse("GoDeltaProf", &d), -1);
	assert_int_equal(pprof_delta_parse("yes", &d), -1);
	assert_int_equal(pprof_delta_parse("", &d), -1);
	assert_int_equal(pprof_delta_parse(NULL, &d), -1);
	assert_string_equal(pprof_delta_name((enum pprof_delta)PPROF_DELTA_COUNT), "unknown");
}

static void test_has_samples(void **state)
{
	size_t len;
	unsigned char *data;
	(void)state;

	/* Real Go answers: a delta with allocations, an empty mutex delta (nothing locked
	 * in the window), a cumulative heap profile, plain protobuf, a trace, garbage. */
	data = load("allocs-delta.pb.gz", &len);
	assert_int_equal(pprof_count_samples(data, len, 0) > 0, 1);
	free(data);
	data = load("mutex-delta-empty.pb.gz", &len);
	assert_int_equal(pprof_count_samples(data, len, 0), 0);
	free(data);
	data = load("heap.pb", &len);
	assert_int_equal(pprof_count_samples(data, len, 0) > 0, 1);
	free(data);
	data = load("trace.out", &len);
	assert_int_equal(pprof_count_samples(data, len, 0), -1);
	free(data);
	assert_int_equal(pprof_count_samples((const unsigned char *)"<html>", 6, 0), -1);
}

static void test_types_parse(void **state)
{
	unsigned mask = 0;
	char err[256];
	char *s;
	(void)state;

	assert_int_equal(pprof_types_parse("cpu,heap", &mask, err, sizeof(err)), 0);
	assert_int_equal(mask, PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_HEAP));
	assert_int_equal(pprof_types_parse(" trace , cpu,cpu ", &mask, err, sizeof(err)), 0);
	assert_int_equal(mask, PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_TRACE));
	assert_int_equal(pprof_types_parse("cpu,heap,goroutine,mutex,block,threadcreate", &mask,
					   err, sizeof(err)), 0);
	assert_int_equal(mask, PPROF_DEFAULT_TYPES);

	mask = 7;
	assert_int_equal(pprof_types_parse("cpu,foo", &mask, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"foo\""));
	assert_non_null(strstr(err, "threadcreate")); /* lists the known ones */
	assert_int_equal(mask, 7);                     /* untouched on error */
	assert_int_equal(pprof_types_parse("cpu,,heap", &mask, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(pprof_types_parse("", &mask, err, sizeof(err)), -1);
	assert_int_equal(pprof_types_parse("cpu,", &mask, err, sizeof(err)), -1);
	assert_int_equal(pprof_types_parse(NULL, &mask, err, sizeof(err)), -1);

	s = pprof_types_format(PPROF_DEFAULT_TYPES);
	assert_string_equal(s, "cpu,heap,goroutine,mutex,block,threadcreate");
	free(s);
	s = pprof_types_format(0);
	assert_string_equal(s, "");
	free(s);
	s = pprof_types_format(PPROF_ALL_TYPES);
	assert_string_equal(s, "cpu,heap,allocs,goroutine,mutex,block,threadcreate,trace");
	free(s);
}

/* Every real profile checks as gzip pprof, reads, and infers its own type. */
static void test_real_profiles(void **state)
{
	static const struct {
		const char *file;
		enum pprof_type type;
		enum pprof_type inferred;
	} cases[] = {
		{"cpu.pb.gz", PPROF_CPU, PPROF_CPU},
		{"heap.pb.gz", PPROF_HEAP, PPROF_HEAP},
		{"allocs.pb.gz", PPROF_ALLOCS, PPROF_HEAP},
		{"goroutine.pb.gz", PPROF_GOROUTINE, PPROF_GOROUTINE},
		{"mutex.pb.gz", PPROF_MUTEX, PPROF_MUTEX},
		{"block.pb.gz", PPROF_BLOCK, PPROF_BLOCK},
		{"threadcreate.pb.gz", PPROF_THREADCREATE, PPROF_THREADCREATE},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len, out_len;
		unsigned char *data = load(cases[i].file, &len), *out;
		enum pprof_reason reason = PPROF_REASON_EMPTY;
		pprof_info info;
		enum pprof_type t;
		char err[256];

		assert_int_equal(pprof_body_check(cases[i].type, data, len, 0, &reason),
				 PPROF_BODY_GZIP);
		assert_int_equal(reason, PPROF_REASON_NONE);
		assert_int_equal(pprof_body_prepare(cases[i].type, data, len, 0, &out, &out_len,
						    &reason),
				 PPROF_BODY_GZIP);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, data, len);
		free(out);

		assert_int_equal(pprof_read_info(data, len, &info, err, sizeof(err)), 0);
		assert_true(info.time_nanos > 1600000000LL * 1000000000LL);
		assert_true(info.n_sample_types >= 1);
		if (pprof_infer_type(&info, &t, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].file, err);
		assert_int_equal(t, cases[i].inferred);
		pprof_info_clear(&info);
		free(data);
	}
}

static void test_read_details(void **state)
{
	size_t len;
	unsigned char *data = load("cpu.pb.gz", &len);
	pprof_info info;
	char err[256];
	(void)state;

	assert_int_equal(pprof_read_info(data, len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.n_sample_types, 2);
	assert_string_equal(info.sample_types[0].type, "samples");
	assert_string_equal(info.sample_types[0].unit, "count");
	assert_string_equal(info.sample_types[1].type, "cpu");
	assert_string_equal(info.sample_types[1].unit, "nanoseconds");
	assert_string_equal(info.period_type.type, "cpu");
	assert_string_equal(info.period_type.unit, "nanoseconds");
	assert_int_equal(info.period, 10000000);
	assert_true(info.duration_nanos >= 1000000000LL && info.duration_nanos < 3000000000LL);
	pprof_info_clear(&info);
	free(data);

	data = load("allocs.pb.gz", &len);
	assert_int_equal(pprof_read_info(data, len, &info, err, sizeof(err)), 0);
	assert_string_equal(info.default_sample_type, "alloc_space");
	assert_int_equal(info.n_sample_types, 4);
	assert_string_equal(info.period_type.type, "space");
	pprof_info_clear(&info);
	free(data);

	data = load("mutex.pb.gz", &len);
	assert_int_equal(pprof_read_info(data, len, &info, err, sizeof(err)), 0);
	assert_string_equal(info.period_type.type, "contentions");
	assert_true(info.n_unlock_leaves > 0);
	assert_int_equal(info.n_other_leaves, 0);
	pprof_info_clear(&info);
	free(data);
}

static void test_uncompressed(void **state)
{
	size_t len, gz_len, out_len, back_len;
	unsigned char *raw = load("heap.pb", &len), *gz = load("heap.pb.gz", &gz_len);
	unsigned char *out, *back;
	enum pprof_reason reason;
	pprof_info info;
	enum pprof_type t;
	char err[256];
	(void)state;

	assert_int_equal(pprof_body_check(PPROF_HEAP, raw, len, 0, &reason), PPROF_BODY_PROTOBUF);
	assert_int_equal(pprof_body_prepare(PPROF_HEAP, raw, len, 0, &out, &out_len, &reason),
			 PPROF_BODY_PROTOBUF);
	assert_true(out[0] == 0x1f && out[1] == 0x8b);
	assert_int_equal(pprof_body_check(PPROF_HEAP, out, out_len, 0, &reason), PPROF_BODY_GZIP);
	assert_int_equal(pprof_gunzip(out, out_len, 0, &back, &back_len, &reason), 0);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, raw, len);
	free(back);
	free(out);

	/* Go's own gzip of it inflates to the same bytes. */
	assert_int_equal(pprof_gunzip(gz, gz_len, 0, &back, &back_len, &reason), 0);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, raw, len);
	free(back);

	assert_int_equal(pprof_read_info(raw, len, &info, err, sizeof(err)), 0);
	assert_int_equal(pprof_infer_type(&info, &t, err, sizeof(err)), 0);
	assert_int_equal(t, PPROF_HEAP);
	pprof_info_clear(&info);
	free(raw);
	free(gz);
}

static void test_trace(void **state)
{
	size_t len, hlen;
	unsigned char *data = load("trace.out", &len), *heap = load("heap.pb.gz", &hlen);
	unsigned char *out;
	size_t out_len;
	enum pprof_reason reason;
	pprof_info info;
	enum pprof_type t;
	char err[256];
	(void)state;

	assert_true(pprof_is_trace(data, len));
	assert_int_equal(pprof_body_check(PPROF_TRACE, data, len, 0, &reason), PPROF_BODY_TRACE);
	assert_int_equal(pprof_body_prepare(PPROF_TRACE, data, len, 0, &out, &out_len, &reason),
			 PPROF_BODY_TRACE);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, data, len);
	free(out);
	assert_int_equal(pprof_body_check(PPROF_CPU, data, len, 0, &reason), PPROF_BODY_INVALID);
	assert_string_equal(pprof_reason_name(reason), "unexpected_trace");
	assert_int_equal(pprof_body_check(PPROF_TRACE, heap, hlen, 0, &reason),
			 PPROF_BODY_INVALID);
	assert_string_equal(pprof_reason_name(reason), "not_trace");

	assert_int_equal(pprof_read_info(data, len, &info, err, sizeof(err)), 0);
	assert_true(info.is_trace);
	assert_non_null(info.trace_version);
	assert_true(strncmp(info.trace_version, "1.", 2) == 0);
	assert_int_equal(pprof_infer_type(&info, &t, err, sizeof(err)), 0);
	assert_int_equal(t, PPROF_TRACE);
	pprof_info_clear(&info);

	assert_false(pprof_is_trace((const unsigned char *)"go 1.22 trace", 13));
	assert_false(pprof_is_trace((const unsigned char *)"go 1.x trace\0\0\0\0", 16));
	assert_true(pprof_is_trace((const unsigned char *)"go 1.5 trace\0\0\0\0", 16));
	free(data);
	free(heap);
}

static void check_reason(const char *body, size_t len, const char *want)
{
	enum pprof_reason reason = PPROF_REASON_NONE;
	unsigned char *out = (unsigned char *)1;
	size_t out_len = 1;

	assert_int_equal(pprof_body_check(PPROF_HEAP, (const unsigned char *)body, len, 0, &reason),
			 PPROF_BODY_INVALID);
	assert_string_equal(pprof_reason_name(reason), want);
	assert_int_equal(pprof_body_prepare(PPROF_HEAP, (const unsigned char *)body, len, 0, &out,
					    &out_len, &reason),
			 PPROF_BODY_INVALID);
	assert_null(out);
	assert_int_equal(out_len, 0);
}

static void test_not_pprof(void **state)
{
	size_t len;
	unsigned char *data;
	(void)state;

	check_reason("", 0, "empty");
	check_reason("\n  <html><body>hi</body></html>", 31, "html");
	check_reason("Could not enable CPU profiling: cpu profiling already in use\n", 61, "text");
	check_reason("\x01\x02\x03\x04\x05", 5, "not_gzip_or_protobuf");
	check_reason("\x1f\x8b", 2, "corrupt_gzip");
	data = load("index.html", &len);
	check_reason((const char *)data, len, "html");
	free(data);
	data = load("goroutine-debug1.txt", &len);
	check_reason((const char *)data, len, "text");
	free(data);
	data = load("cpu-busy.txt", &len);
	check_reason((const char *)data, len, "text");
	free(data);

	/* A valid gzip of something that is not a Profile. */
	unsigned char *gz;
	size_t gz_len;
	assert_int_equal(pprof_gzip((const unsigned char *)"hello, world", 12, &gz, &gz_len), 0);
	check_reason((const char *)gz, gz_len, "not_profile");
	free(gz);
	/* Valid protobuf but no string table: not a Profile. */
	check_reason("\x08\x01\x10\x02", 4, "not_gzip_or_protobuf");
	/* A string table whose first entry is not "". */
	check_reason("\x32\x01x", 3, "not_gzip_or_protobuf");
}

static void test_inflate_cap(void **state)
{
	size_t n = 8u << 20, gz_len, out_len;
	unsigned char *zeros = calloc(1, n), *gz, *out;
	enum pprof_reason reason = PPROF_REASON_NONE;
	(void)state;

	/* 8 MiB of zeros compress to a few KiB: far beyond 64x, and beyond a 1 MiB cap. */
	assert_int_equal(pprof_gzip(zeros, n, &gz, &gz_len), 0);
	assert_true(gz_len < 64 * 1024);
	assert_int_equal(pprof_gunzip(gz, gz_len, 0, &out, &out_len, &reason), -1);
	assert_string_equal(pprof_reason_name(reason), "too_large");
	assert_null(out);
	/* Checked as a stream, zeros are not a Profile from their first byte on. */
	assert_int_equal(pprof_body_check(PPROF_HEAP, gz, gz_len, 1 << 20, &reason),
			 PPROF_BODY_INVALID);
	assert_string_equal(pprof_reason_name(reason), "not_profile");
	/* Exactly at the cap is fine. */
	assert_int_equal(pprof_gunzip(gz, gz_len, n, &out, &out_len, &reason), 0);
	assert_int_equal(out_len, n);
	free(out);
	assert_int_equal(pprof_gunzip(gz, gz_len, n - 1, &out, &out_len, &reason), -1);
	assert_string_equal(pprof_reason_name(reason), "too_large");
	free(gz);
	free(zeros);
}

/* A bomb that is a valid Profile all the way (8 MiB of empty strings): the stream
 * check stops it at the cap, and accepts it under a cap large enough. */
static void test_inflate_cap_valid_profile(void **state)
{
	size_t n = 8u << 20, gz_len;
	unsigned char *strings = malloc(n), *gz;
	enum pprof_reason reason = PPROF_REASON_NONE;
	pprof_body_facts facts;
	(void)state;

	for (size_t i = 0; i < n; i += 2) {
		strings[i] = 0x32; /* field 6 (string_table), length-delimited */
		strings[i + 1] = 0x00;
	}
	assert_int_equal(pprof_gzip(strings, n, &gz, &gz_len), 0);
	assert_int_equal(pprof_body_check(PPROF_HEAP, gz, gz_len, 1 << 20, &reason),
			 PPROF_BODY_INVALID);
	assert_string_equal(pprof_reason_name(reason), "too_large");
	assert_int_equal(pprof_body_inspect(PPROF_HEAP, gz, gz_len, n, &facts, &reason),
			 PPROF_BODY_GZIP);
	assert_int_equal(reason, PPROF_REASON_NONE);
	assert_int_equal(facts.n_samples, 0);
	free(gz);
	free(strings);
}

/* The stream check finds what pprof_read_info finds of a profile. */
static void test_inspect_facts(void **state)
{
	size_t len;
	unsigned char *cpu = load("cpu.pb.gz", &len);
	pprof_body_facts facts;
	enum pprof_reason reason;
	pprof_info info;
	char err[256];
	(void)state;

	assert_int_equal(pprof_body_inspect(PPROF_CPU, cpu, len, 0, &facts, &reason),
			 PPROF_BODY_GZIP);
	assert_int_equal(pprof_read_info(cpu, len, &info, err, sizeof(err)), 0);
	assert_int_equal(facts.n_samples, info.n_samples);
	assert_true(facts.n_samples > 0);
	assert_true(facts.time_nanos == info.time_nanos);
	assert_true(facts.duration_nanos == info.duration_nanos);
	assert_true(facts.duration_nanos > 0);
	pprof_info_clear(&info);
	/* Truncated anywhere, it is refused. */
	for (size_t cut = 1; cut < len; cut += len / 37 + 1)
		assert_int_equal(pprof_body_inspect(PPROF_CPU, cpu, cut, 0, &facts, &reason),
				 PPROF_BODY_INVALID);
	free(cpu);
}

static void test_gzip_members(void **state)
{
	size_t len, a_len, b_len, out_len;
	unsigned char *raw = load("heap.pb", &len), *a, *b, *cat, *out;
	enum pprof_reason reason;
	(void)state;

	/* gzip allows concatenated members; they inflate to the concatenation. */
	assert_int_equal(pprof_gzip(raw, len / 2, &a, &a_len), 0);
	assert_int_equal(pprof_gzip(raw + len / 2, len - len / 2, &b, &b_len), 0);
	cat = malloc(a_len + b_len);
	memcpy(cat, a, a_len);
	memcpy(cat + a_len, b, b_len);
	assert_int_equal(pprof_gunzip(cat, a_len + b_len, 0, &out, &out_len, &reason), 0);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, raw, len);
	free(out);
	assert_int_equal(pprof_body_check(PPROF_HEAP, cat, a_len + b_len, 0, &reason),
			 PPROF_BODY_GZIP);
	/* Trailing garbage after a member is corrupt. */
	cat[a_len] = 'x';
	assert_int_equal(pprof_gunzip(cat, a_len + b_len, 0, &out, &out_len, &reason), -1);
	assert_string_equal(pprof_reason_name(reason), "corrupt_gzip");
	free(cat);
	free(a);
	free(b);
	free(raw);
}

/* Checks and reads input without caring for the answer: it must just not crash (the
 * sanitizer build turns any out-of-bounds access into a failure). */
static void poke(const unsigned char *data, size_t len)
{
	enum pprof_reason reason;
	unsigned char *out;
	size_t out_len;
	pprof_info info;
	enum pprof_type t;
	char err[256];

	for (int ty = 0; ty < PPROF_TYPE_COUNT; ty += 7)
		if (pprof_body_prepare((enum pprof_type)ty, data, len, 0, &out, &out_len,
				       &reason) == PPROF_BODY_INVALID)
			assert_int_not_equal(reason, PPROF_REASON_NONE);
		else
			free(out);
	if (pprof_read_info(data, len, &info, err, sizeof(err)) == 0) {
		(void)pprof_infer_type(&info, &t, err, sizeof(err));
		pprof_info_clear(&info);
	}
}

static void test_truncations(void **state)
{
	static const char *const files[] = {"cpu.pb.gz", "mutex.pb.gz", "heap.pb", "trace.out"};
	(void)state;

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		unsigned char *data = load(files[f], &len);
		size_t max = len > 4096 ? 4096 : len;

		for (size_t n = 0; n < max; n++) {
			/* A copy of exactly n bytes so reads past n are caught. */
			unsigned char *part = malloc(n ? n : 1);
			memcpy(part, data, n);
			poke(part, n);
			if (data[0] == 0x1f) {
				enum pprof_reason reason;
				/* Every strict prefix of a gzip profile is refused. */
				assert_int_equal(pprof_body_check(PPROF_CPU, part, n, 0, &reason),
						 PPROF_BODY_INVALID);
			}
			free(part);
		}
		free(data);
	}
}

static void test_garbage(void **state)
{
	size_t len;
	unsigned char *raw = load("heap.pb", &len);
	unsigned char buf[2048];
	(void)state;

	for (int i = 0; i < 3000; i++) {
		size_t n = rng() % sizeof(buf);
		for (size_t j = 0; j < n; j++)
			buf[j] = (unsigned char)rng();
		if (i % 3 == 1 && n >= 2) {
			buf[0] = 0x1f;
			buf[1] = 0x8b;
		}
		unsigned char *copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		poke(copy, n);
		free(copy);
	}
	/* Every single-byte corruption of a real protobuf, then gzipped. */
	for (size_t i = 0; i < len; i += 3) {
		unsigned char *copy = malloc(len), *gz;
		size_t gz_len;
		memcpy(copy, raw, len);
		copy[i] = (unsigned char)rng();
		poke(copy, len);
		assert_int_equal(pprof_gzip(copy, len, &gz, &gz_len), 0);
		poke(gz, gz_len);
		free(gz);
		free(copy);
	}
	free(raw);
}

/* A mutex profile of a process that never enabled mutex profiling: valid, no samples
 * (profefe refuses it). The counted prepare says so; real profiles have samples. */
static void test_samples(void **state)
{
	size_t len;
	unsigned char *empty = load("mutex-empty.pb.gz", &len);
	enum pprof_reason reason;
	pprof_body_facts facts = {.n_samples = 99};

	(void)state;
	assert_int_equal(pprof_count_samples(empty, len, 0), 0);
	assert_int_equal(pprof_body_inspect(PPROF_MUTEX, empty, len, 0, &facts, &reason),
			 PPROF_BODY_GZIP);
	assert_int_equal(facts.n_samples, 0);
	free(empty);
	const char *full[] = {"heap.pb.gz", "heap.pb", "goroutine.pb.gz", "mutex.pb.gz", "cpu.pb.gz"};
	for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		unsigned char *data = load(full[i], &len);
		assert_true(pprof_count_samples(data, len, 0) > 0);
		facts.n_samples = 0;
		pprof_body_inspect(PPROF_HEAP, data, len, 0, &facts, &reason);
		assert_true(facts.n_samples > 0);
		free(data);
	}
	unsigned char *trace = load("trace.out", &len);
	assert_int_equal(pprof_count_samples(trace, len, 0), -1);
	assert_int_equal(pprof_count_samples((const unsigned char *)"<html>", 6, 0), -1);
	free(trace);
}

static void test_infer_errors(void **state)
{
	char contentions[] = "contentions", count[] = "count", delay[] = "delay";
	char nanoseconds[] = "nanoseconds", bogus[] = "bogus", other[] = "other";
	pprof_value_type vt[2] = {{contentions, count}, {delay, nanoseconds}};
	pprof_info info;
	enum pprof_type t;
	char err[256];
	(void)state;

	memset(&info, 0, sizeof(info));
	info.sample_types = vt;
	info.n_sample_types = 2;
	assert_int_equal(pprof_infer_type(&info, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--profile-type"));
	info.n_samples = 3;
	info.n_unlock_leaves = 1;
	info.n_other_leaves = 2;
	assert_int_equal(pprof_infer_type(&info, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--profile-type"));
	info.n_other_leaves = 0;
	assert_int_equal(pprof_infer_type(&info, &t, err, sizeof(err)), 0);
	assert_int_equal(t, PPROF_MUTEX);

	vt[0].type = bogus;
	vt[1].type = other;
	assert_int_equal(pprof_infer_type(&info, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
}

/* Found by fuzzing: the smallest profile (an empty string table, field 6 of length 0)
 * has no locations or functions, and counting its leaves sorted NULL arrays. */
static void test_profile_without_locations(void **state)
{
	static const unsigned char minimal[] = {0x32, 0x00};
	pprof_info info;
	char err[256] = "";

	(void)state;
	assert_true(pprof_is_profile(minimal, sizeof(minimal)));
	assert_int_equal(pprof_read_info(minimal, sizeof(minimal), &info, err, sizeof(err)), 0);
	assert_int_equal(info.n_samples, 0);
	assert_int_equal(info.n_sample_types, 0);
	assert_int_equal(info.n_unlock_leaves + info.n_other_leaves, 0);
	pprof_info_clear(&info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_profefe_types),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_delta_endpoints),
		cmocka_unit_test(test_delta_names),
		cmocka_unit_test(test_has_samples),
		cmocka_unit_test(test_types_parse),
		cmocka_unit_test(test_real_profiles),
		cmocka_unit_test(test_read_details),
		cmocka_unit_test(test_uncompressed),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_not_pprof),
		cmocka_unit_test(test_inflate_cap),
		cmocka_unit_test(test_inflate_cap_valid_profile),
		cmocka_unit_test(test_inspect_facts),
		cmocka_unit_test(test_gzip_members),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_infer_errors),
		cmocka_unit_test(test_profile_without_locations),
		cmocka_unit_test(test_samples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
