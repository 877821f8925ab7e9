/* Tests of the suspects: a replayed entry's RETRY released, parked, or moved to rejected/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kprofefe/batch_suspect.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/spool.h"

struct fixture {
	char dir[64];
	spool_t *spool;
	suspects sus;
	char *entry; /* the one spooled entry, handed out as a replay would be */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/kprofefe-test-suspect-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	metrics_reset();
	char err[256];
	f->spool = spool_open(f->dir, NULL, err, sizeof(err));
	if (!f->spool)
		return -1;
	char svc[] = "web", type[] = "heap", labels[] = "";
	unsigned char data[] = "body";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	spool_entry se = {NULL, svc, type, labels, (int64_t)ts.tv_sec * 1000000000ll, 0, data, 4};
	if (spool_put(f->spool, &se, err, sizeof(err)) != 0)
		return -1;
	spool_entry *e = NULL;
	if (spool_peek_oldest(f->spool, &e, err, sizeof(err)) != 0 || !e)
		return -1;
	f->entry = strdup(e->name);
	spool_entry_free(e);
	suspects_init(&f->sus, f->spool);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	suspects_clear(&f->sus);
	spool_close(f->spool);
	free(f->entry);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	metrics_reset();
	return 0;
}

/* Hands the entry out again, as the next replay of it would. */
static void hand_out(struct fixture *f)
{
	spool_entry *e = NULL;
	char err[256];
	assert_int_equal(spool_peek_oldest(f->spool, &e, err, sizeof(err)), 0);
	assert_non_null(e);
	assert_string_equal(e->name, f->entry);
	spool_entry_free(e);
}

static enum suspect_verdict judge(struct fixture *f, long status, int up)
{
	profefe_upload_result res = {.outcome = PROFEFE_RETRY, .status = status, .message = "fake says so"};
	return suspect_judge(&f->sus, f->entry, "web", "heap", &res, up);
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(suspect_verdict_name(SUSPECT_RELEASED), "released");
	assert_string_equal(suspect_verdict_name(SUSPECT_PARKED), "parked");
	assert_string_equal(suspect_verdict_name(SUSPECT_REJECTED), "rejected");
	assert_string_equal(suspect_verdict_name((enum suspect_verdict)9), "unknown");
}

/* 502, 503, 504, 429 and no answer at all say profefe is unavailable: the entry is
 * available again at once, never counted against it. */
static void test_unavailable_releases(void **state)
{
	struct fixture *f = *state;
	const long statuses[] = {502, 503, 504, 429, 408, 0};
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		assert_int_equal(spool_available(f->spool), 0);
		assert_int_equal(judge(f, statuses[i], 1), SUSPECT_RELEASED);
		assert_int_equal(spool_available(f->spool), 1);
		hand_out(f);
	}
}

/* A 500 while profefe stores others: parked until it stores one, and the third moves the
 * entry to rejected/. */
static void test_three_errors_while_up_reject(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < SUSPECT_FAILURES - 1; i++) {
		assert_int_equal(judge(f, 500, 1), SUSPECT_PARKED);
		assert_int_equal(spool_available(f->spool), 0); /* set aside */
		suspects_release_parked(&f->sus);              /* profefe stored another */
		assert_int_equal(spool_available(f->spool), 1);
		hand_out(f);
	}
	assert_int_equal(judge(f, 500, 1), SUSPECT_REJECTED);
	assert_int_equal(metrics_get(METRIC_SPOOL_REJECTED_TOTAL, NULL), 1);
	spool_stats st;
	spool_get_stats(f->spool, &st);
	assert_int_equal(st.entries, 0);
}

/* During an outage every upload fails: errors then count nothing against the entry. */
static void test_errors_while_down_count_nothing(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 2 * SUSPECT_FAILURES; i++) {
		assert_int_equal(judge(f, 500, 0), SUSPECT_PARKED);
		suspects_release_parked(&f->sus);
		hand_out(f);
	}
	/* forgotten (stored at last): its count starts again */
	suspect_forget(&f->sus, f->entry);
	for (int i = 0; i < SUSPECT_FAILURES - 1; i++) {
		assert_int_equal(judge(f, 500, 1), SUSPECT_PARKED);
		suspects_release_parked(&f->sus);
		hand_out(f);
	}
	assert_int_equal(metrics_get(METRIC_SPOOL_REJECTED_TOTAL, NULL), 0);
}

/* suspects_clear hands a parked entry back to the spool. */
static void test_clear_releases_parked(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(judge(f, 500, 1), SUSPECT_PARKED);
	assert_int_equal(spool_available(f->spool), 0);
	suspects_clear(&f->sus);
	assert_int_equal(spool_available(f->spool), 1);
}

int main(void)
{
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test_setup_teardown(test_unavailable_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_three_errors_while_up_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_while_down_count_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_releases_parked, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
