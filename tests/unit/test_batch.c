/* Tests of the upload pipeline: flushes, concurrency, RETRY to spool, replay, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "test_loop.h"

#include "fake_profefe.h"
#include "test_data.h"
#include "kprofefe/batch.h"
#include "kprofefe/log.h"
#include "kprofefe/loop.h"
#include "kprofefe/metrics.h"
#include "kprofefe/spool.h"

struct env {
	struct ev_loop *ev;
	loop_t *loop;
	ev_timer tick;
	profefe_client *client;
	spool_t *spool;
	char dir[64];
	batch_t *batch;
};

static void on_tick(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)t;
	(void)revents;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	ev_timer_init(&e->tick, on_tick, 0.005, 0.005);
	ev_timer_start(e->ev, &e->tick);
	metrics_reset();
	if (fake_profefe_start() != 0)
		return -1;
	char err[256];
	e->client = profefe_client_new(e->loop, fake_pf.url, NULL, err, sizeof(err));
	strcpy(e->dir, "/tmp/kprofefe-test-batch-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	batch_free(e->batch);
	profefe_client_free(e->client);
	spool_close(e->spool);
	fake_profefe_stop();
	ev_timer_stop(e->ev, &e->tick);
	loop_free(e->loop);
	ev_loop_destroy(e->ev);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", e->dir);
	free(e);
	metrics_reset();
	return 0;
}

static void open_spool(struct env *e)
{
	char err[256];
	char path[128];
	snprintf(path, sizeof(path), "%s/spool", e->dir);
	e->spool = spool_open(path, NULL, err, sizeof(err));
	assert_non_null(e->spool);
}

static void submit(struct env *e, const char *body, int64_t time_ns)
{
	batch_profile p = {"web", "cpu", "pod=a", time_ns};
	unsigned char *data = (unsigned char *)strdup(body);
	assert_int_equal(batch_submit(e->batch, &p, data, strlen(body)), 0);
}

static void spin(struct env *e, double seconds)
{
	test_run_until(e->ev, NULL, NULL, seconds);
}

/* What wait_count and wait_spool wait for. */
struct goal {
	struct env *e;
	size_t n;
};

static int uploads_reached(void *arg)
{
	const struct goal *g = arg;
	return fake_count() >= (int)g->n;
}

static int wait_count(struct env *e, int n, double timeout)
{
	struct goal g = {e, (size_t)n};
	return test_run_until(e->ev, uploads_reached, &g, timeout);
}

/* A counter reaching a value: what the loop does after an upload's reply arrived. */
struct metric_goal {
	enum metric_id id;
	const char *k1, *v1, *k2, *v2;
	double want;
};

static int metric_reached(void *arg)
{
	const struct metric_goal *g = arg;
	return metrics_get(g->id, g->k1, g->v1, g->k2, g->v2, NULL) >= g->want;
}

/* Waits until the counter id{k1=v1,k2=v2} (labels may be NULL) reaches want. */
static int wait_metric(struct env *e, double want, enum metric_id id, const char *k1,
		       const char *v1, const char *k2, const char *v2)
{
	struct metric_goal g = {id, k1, v1, k2, v2, want};
	return test_run_until(e->ev, metric_reached, &g, 5);
}

static int held_reached(void *arg)
{
	return fake_held() >= *(const int *)arg;
}

static size_t spool_entries(const struct env *e)
{
	spool_stats st;
	spool_get_stats(e->spool, &st);
	return st.entries;
}

static int spool_reached(void *arg)
{
	const struct goal *g = arg;
	return spool_entries(g->e) == g->n;
}

static int wait_spool(struct env *e, size_t n, double timeout)
{
	struct goal g = {e, n};
	return test_run_until(e->ev, spool_reached, &g, timeout);
}

#define NOW_NS ((int64_t)(ev_time() * 1e9))

static void test_flush_by_size(void **state)
{
	struct env *e = *state;
	batch_options o = {.interval_s = 60, .batch_size = 3};
	e->batch = batch_new(e->loop, e->client, NULL, &o);
	submit(e, "p1", NOW_NS);
	submit(e, "p2", NOW_NS);
	spin(e, 0.2);
	assert_int_equal(fake_count(), 0);
	assert_int_equal(batch_queue_depth(e->batch), 2);
	submit(e, "p3", NOW_NS);
	assert_true(wait_count(e, 3, 5));
	assert_true(wait_metric(e, 3, METRIC_UPLOADS_TOTAL, "type", "cpu", "result", "ok"));
	assert_int_equal(metrics_get(METRIC_UPLOADS_TOTAL, "type", "cpu", "result", "ok", NULL), 3);
	assert_int_equal(metrics_get(METRIC_UPLOAD_BYTES_TOTAL, NULL), 6);
	assert_true(metrics_get(METRIC_LAST_UPLOAD_SUCCESS_TIMESTAMP_SECONDS, NULL) > 1e9);
	assert_int_equal(batch_queue_depth(e->batch), 0);
	assert_string_equal(fake_pf.rec[0].labels, "pod=a");
}

static void test_flush_by_timer(void **state)
{
	struct env *e = *state;
	batch_options o = {.interval_s = 0.3, .batch_size = 100};
	e->batch = batch_new(e->loop, e->client, NULL, &o);
	double t0 = ev_time();
	submit(e, "p1", NOW_NS);
	assert_true(wait_count(e, 1, 5));
	double took = ev_time() - t0;
	assert_true(took >= 0.25);
	assert_true(took < 2);
}

static void test_concurrency_bound(void **state)
{
	struct env *e = *state;
	batch_options o = {.interval_s = 60, .batch_size = 1, .upload_concurrency = 2};
	e->batch = batch_new(e->loop, e->client, NULL, &o);
	fake_set_hold(1);
	for (int i = 0; i < 6; i++)
		submit(e, "p", NOW_NS);
	double deadline = ev_time() + 5;
	while (fake_held() < 2 && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	spin(e, 0.2);
	assert_int_equal(fake_held(), 2);
	assert_int_equal(batch_queue_depth(e->batch), 6);
	fake_set_hold(0);
	assert_true(wait_count(e, 6, 5));
	assert_int_equal(fake_pf.max_in_flight, 2);
}

static void test_retry_goes_to_spool_then_replays_oldest_first(void **state)
{
	struct env *e = *state;
	open_spool(e);
	batch_options o = {.interval_s = 60, .batch_size = 1, .spool_drain_rate = 50,
			   .backoff_initial_s = 0.1, .backoff_max_s = 0.2};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	fake_set_status(503);
	int64_t t = NOW_NS;
	submit(e, "p0", t);
	assert_true(wait_spool(e, 1, 5));
	assert_false(batch_profefe_up(e->batch));
	assert_int_equal(batch_queue_depth(e->batch), 0);
	assert_int_equal(metrics_get(METRIC_UPLOADS_TOTAL, "type", "cpu", "result", "retry", NULL), 1);
	/* while down, fresh profiles go straight to the spool */
	submit(e, "p1", t + 1);
	submit(e, "p2", t + 2);
	assert_int_equal(spool_entries(e), 3);
	assert_int_equal(batch_queue_depth(e->batch), 0);
	/* probes keep failing with backoff (two take at least the first backoff, 0.1 s:
	 * a slow machine only makes that longer); nothing is lost */
	double t_down = ev_time();
	assert_true(wait_count(e, 3, 5));
	assert_true(ev_time() - t_down >= 0.1);
	assert_int_equal(spool_entries(e), 3);

	fake_set_status(200);
	int before = fake_count();
	assert_true(wait_spool(e, 0, 5));
	assert_true(batch_profefe_up(e->batch));
	int n = fake_count();
	assert_int_equal(n - before, 3);
	assert_string_equal(fake_pf.rec[before].body, "p0");
	assert_string_equal(fake_pf.rec[before + 1].body, "p1");
	assert_string_equal(fake_pf.rec[before + 2].body, "p2");
	assert_int_equal(metrics_get(METRIC_SPOOL_DRAINED_TOTAL, NULL), 3);
}

static void test_drain_rate(void **state)
{
	struct env *e = *state;
	open_spool(e);
	int64_t t = NOW_NS - 100 * 1000000000ll;
	unsigned char data[8];
	for (int i = 0; i < 10; i++) {
		char svc[] = "web", type[] = "heap", labels[] = "";
		snprintf((char *)data, sizeof(data), "s%d", i);
		/* put newest first: the spool must order them by collection time */
		spool_entry se = {NULL, svc, type, labels, t + (9 - i) * 1000, 0, data,
				  strlen((char *)data)};
		char err[256];
		assert_int_equal(spool_put(e->spool, &se, err, sizeof(err)), 0);
	}
	/* One upload at a time, so the order they reach the fake is the order they left
	 * in (with more, a slow one can be overtaken). */
	batch_options o = {.interval_s = 60, .batch_size = 1, .spool_drain_rate = 20,
			   .upload_concurrency = 1};
	/* the loop's cached time, which timers start from, lags after slow setup (valgrind) */
	ev_now_update(e->ev);
	double t0 = ev_now(e->ev);
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	assert_true(wait_count(e, 10, 5));
	double took = ev_time() - t0;
	/* 10 entries at 20/s: the 10th leaves about 0.45 s after the first. Unlimited, all
	 * ten would be gone in a few milliseconds; the margin is for timer slack. */
	assert_true(took >= 0.3);
	for (int i = 0; i < 10; i++) {
		char want[8];
		snprintf(want, sizeof(want), "s%d", 9 - i);
		assert_string_equal(fake_pf.rec[i].body, want);
	}
	assert_true(wait_spool(e, 0, 2));
}

static void test_fresh_not_starved_by_replay(void **state)
{
	struct env *e = *state;
	open_spool(e);
	unsigned char data[] = "old";
	for (int i = 0; i < 20; i++) {
		char svc[] = "web", type[] = "heap", labels[] = "";
		spool_entry se = {NULL, svc, type, labels, NOW_NS - 1000000000ll, 0, data, 3};
		char err[256];
		assert_int_equal(spool_put(e->spool, &se, err, sizeof(err)), 0);
	}
	/* replays are held by the fake: they may take at most half the 4 slots */
	fake_set_hold(1);
	batch_options o = {.interval_s = 60, .batch_size = 1, .spool_drain_rate = 100,
			   .upload_concurrency = 4};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	int two = 2;
	assert_true(test_run_until(e->ev, held_reached, &two, 5));
	spin(e, 0.1); /* and no third */
	assert_int_equal(fake_held(), 2);
	submit(e, "fresh", NOW_NS);
	double deadline = ev_time() + 5;
	while (fake_held() < 3 && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	assert_int_equal(fake_held(), 3);
	fake_set_hold(0);
	assert_true(wait_spool(e, 0, 5));
}

static void test_rejected(void **state)
{
	struct env *e = *state;
	open_spool(e);
	char svc[] = "web", type[] = "heap", labels[] = "";
	unsigned char data[] = "bad";
	spool_entry se = {NULL, svc, type, labels, NOW_NS, 0, data, 3};
	char err[256];
	assert_int_equal(spool_put(e->spool, &se, err, sizeof(err)), 0);
	fake_set_status(400);
	batch_options o = {.interval_s = 60, .batch_size = 1, .spool_drain_rate = 50};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	submit(e, "fresh", NOW_NS);
	assert_true(wait_spool(e, 0, 5));
	assert_true(wait_count(e, 2, 5));
	assert_true(wait_metric(e, 1, METRIC_UPLOADS_TOTAL, "type", "cpu", "result", "rejected"));
	assert_true(wait_metric(e, 1, METRIC_UPLOADS_TOTAL, "type", "heap", "result", "rejected"));
	assert_int_equal(metrics_get(METRIC_SPOOL_REJECTED_TOTAL, NULL), 1);
	assert_int_equal(metrics_get(METRIC_UPLOADS_TOTAL, "type", "cpu", "result", "rejected", NULL), 1);
	assert_int_equal(metrics_get(METRIC_UPLOADS_TOTAL, "type", "heap", "result", "rejected", NULL), 1);
	assert_int_equal(batch_queue_depth(e->batch), 0);
	assert_true(batch_profefe_up(e->batch)); /* a 400 is an answer: profefe is up */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test $(ls %s/spool/rejected | wc -l) = 1", e->dir);
	assert_int_equal(system(cmd), 0);
}

/* Everything held was uploaded, the newest ("d") among it: the bound dropped the oldest. */
struct drained_goal {
	struct env *e;
	int before;
};

static int drained_with_d(void *arg)
{
	const struct drained_goal *g = arg;
	int n = fake_count(), d = 0;
	for (int i = g->before; i < n; i++)
		d |= strcmp(fake_pf.rec[i].body, "d") == 0;
	return d && n - g->before >= 3 && batch_queue_depth(g->e->batch) == 0;
}

/* A spooled entry profefe keeps answering 500 for, while it stores the others, moves to
 * rejected/ after 3 tries without holding up the rest. */
static void test_unstorable_after_three_500s(void **state)
{
	struct env *e = *state;
	open_spool(e);
	char svc[] = "web", type[] = "heap", labels[] = "";
	char err[256];
	for (int i = 0; i < 6; i++) {
		unsigned char data[8];
		snprintf((char *)data, sizeof(data), "%s%d", i == 0 ? "bad" : "ok", i);
		spool_entry se = {NULL, svc, type, labels, NOW_NS - (6 - i) * 1000, 0, data,
				  strlen((char *)data)};
		assert_int_equal(spool_put(e->spool, &se, err, sizeof(err)), 0);
	}
	snprintf(fake_pf.fail_body, sizeof(fake_pf.fail_body), "bad");
	batch_options o = {.interval_s = 60, .batch_size = 1, .spool_drain_rate = 50};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	assert_true(wait_spool(e, 0, 10));
	for (int i = 0; i < 6; i++) {
		submit(e, "fresh", NOW_NS); /* stored uploads let the parked entry be tried again */
		spin(e, 0.05);
	}
	assert_int_equal(metrics_get(METRIC_SPOOL_REJECTED_TOTAL, NULL), 1);
	assert_int_equal(metrics_get(METRIC_SPOOL_DRAINED_TOTAL, NULL), 5);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test $(ls %s/spool/rejected | wc -l) = 1", e->dir);
	assert_int_equal(system(cmd), 0);
}

/* profefe refuses an empty profile (no samples): a spooled one is deleted and counted,
 * never filed under rejected/. */
static void test_refused_empty_is_dropped(void **state)
{
	struct env *e = *state;
	open_spool(e);
	test_file f = test_data_load("mutex-empty.pb.gz");
	char svc[] = "web", type[] = "mutex", labels[] = "";
	spool_entry se = {NULL, svc, type, labels, NOW_NS, 0, f.data, f.len};
	char err[256];
	assert_int_equal(spool_put(e->spool, &se, err, sizeof(err)), 0);
	free(f.data);
	fake_set_status(400);
	batch_options o = {.interval_s = 60, .batch_size = 1, .spool_drain_rate = 50};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	assert_true(wait_spool(e, 0, 5));
	assert_int_equal(metrics_get(METRIC_PROFILES_SKIPPED_TOTAL, "type", "mutex", "reason",
				     "empty", NULL), 1);
	assert_int_equal(metrics_get(METRIC_SPOOL_REJECTED_TOTAL, NULL), 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test $(ls %s/spool/rejected 2>/dev/null | wc -l) = 0", e->dir);
	assert_int_equal(system(cmd), 0);
}

static void test_no_spool_keeps_in_memory_with_bound(void **state)
{
	struct env *e = *state;
	batch_options o = {.interval_s = 60, .batch_size = 1, .max_queue = 3,
			   .backoff_initial_s = 0.05, .backoff_max_s = 0.1};
	e->batch = batch_new(e->loop, e->client, NULL, &o);
	fake_set_status(503);
	submit(e, "a", NOW_NS);
	assert_true(wait_count(e, 1, 5));
	spin(e, 0.02);
	submit(e, "b", NOW_NS);
	submit(e, "c", NOW_NS);
	submit(e, "d", NOW_NS); /* 4 in memory (or in flight as the probe), bound 3 */
	assert_true(wait_metric(e, 1, METRIC_QUEUE_DROPPED_TOTAL, "reason", "full", NULL, NULL));
	assert_true(metrics_get(METRIC_QUEUE_DROPPED_TOTAL, "reason", "full", NULL) >= 1);
	assert_true(batch_queue_depth(e->batch) <= 3);
	fake_set_status(200);
	int before = fake_count();
	/* the queue empties when the last upload starts, and under load the probe may take
	 * any of them: wait for all to arrive */
	struct drained_goal g = {e, before};
	assert_true(test_run_until(e->ev, drained_with_d, &g, 5));
}

static void on_done(void *arg)
{
	(*(int *)arg)++;
}

static void test_shutdown_spools_memory_and_in_flight(void **state)
{
	struct env *e = *state;
	open_spool(e);
	batch_options o = {.interval_s = 60, .batch_size = 1, .upload_concurrency = 1};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	fake_set_hold(1);
	submit(e, "a", NOW_NS);
	submit(e, "b", NOW_NS);
	submit(e, "c", NOW_NS);
	double deadline = ev_time() + 5;
	while (fake_held() < 1 && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	int done = 0;
	double t0 = ev_time();
	batch_shutdown(e->batch, 0.2, on_done, &done);
	assert_int_equal(done, 0);
	deadline = ev_time() + 5;
	while (!done && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	assert_int_equal(done, 1);
	assert_true(ev_time() - t0 >= 0.15);
	assert_int_equal(spool_entries(e), 3);
	assert_int_equal(batch_queue_depth(e->batch), 0);
	batch_profile p = {"web", "cpu", NULL, NOW_NS};
	assert_int_equal(batch_submit(e->batch, &p, (unsigned char *)strdup("late"), 4), -1);
	fake_set_hold(0);
}

static void test_shutdown_flushes_within_grace(void **state)
{
	struct env *e = *state;
	open_spool(e);
	batch_options o = {.interval_s = 60, .batch_size = 10};
	e->batch = batch_new(e->loop, e->client, e->spool, &o);
	submit(e, "a", NOW_NS);
	submit(e, "b", NOW_NS);
	int done = 0;
	batch_shutdown(e->batch, 5, on_done, &done);
	double deadline = ev_time() + 5;
	while (!done && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	assert_int_equal(done, 1);
	assert_int_equal(fake_count(), 2);
	assert_int_equal(spool_entries(e), 0);
}

int main(void)
{
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flush_by_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_by_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrency_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_goes_to_spool_then_replays_oldest_first,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_not_starved_by_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unstorable_after_three_500s, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_empty_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_spool_keeps_in_memory_with_bound, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_spools_memory_and_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_flushes_within_grace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
