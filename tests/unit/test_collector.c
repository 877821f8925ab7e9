/* Unit tests of collector: the scheduler through its collector_io seam, with no pod and no API server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/collector.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"
#include "test_loop.h"

/* ---- the seam's fakes: fetches the test ends, a watch the test speaks for ---- */

#define MAX_FETCHES 64

struct fake_fetch {
	enum pprof_type type;
	enum pprof_delta delta; /* as asked (fetch_options.delta) */
	char url[256];
	fetch_done_fn done;
	void *arg;
	int running;  /* started, not yet ended nor canceled */
	int canceled;
};

static struct world {
	struct fake_fetch fetches[MAX_FETCHES];
	int nfetches;
	kube_pod_watch_callbacks cb;
	int watching;
	int submitted;
	char submitted_types[MAX_FETCHES][16];
	char submitted_labels[MAX_FETCHES][160];
	int rounds;
	int round_targets, round_failures;
} w;

static fetch *fake_fetch_start(loop_t *loop, const char *base_url, enum pprof_type t,
			       const fetch_options *opt, fetch_done_fn done, void *arg)
{
	(void)loop;
	assert_true(w.nfetches < MAX_FETCHES);
	struct fake_fetch *f = &w.fetches[w.nfetches++];
	f->type = t;
	f->delta = opt->delta;
	snprintf(f->url, sizeof(f->url), "%s", base_url);
	f->done = done;
	f->arg = arg;
	f->running = 1;
	return (fetch *)(void *)f;
}

static void fake_fetch_cancel(fetch *h)
{
	struct fake_fetch *f = (struct fake_fetch *)(void *)h;
	assert_true(f->running);
	f->running = 0;
	f->canceled = 1;
}

static int fake_watch_token;

static kube_pod_watch *fake_watch_start(kube_client *kc, const char *field_selector,
					const char *label_selector, const kube_pod_watch_callbacks *cb)
{
	(void)kc;
	(void)label_selector;
	assert_string_equal(field_selector, "spec.nodeName=node-a");
	w.cb = *cb;
	w.watching = 1;
	return (kube_pod_watch *)(void *)&fake_watch_token;
}

static void fake_watch_stop(kube_pod_watch *h)
{
	if (h)
		w.watching = 0;
}

static int fake_submit(batch_t *b, const batch_profile *p, unsigned char *data, size_t len)
{
	(void)b;
	(void)len;
	snprintf(w.submitted_labels[w.submitted], sizeof(w.submitted_labels[0]), "%s", p->labels);
	snprintf(w.submitted_types[w.submitted++], sizeof(w.submitted_types[0]), "%s", p->type);
	free(data);
	return 0;
}

static const collector_io fake_io = {
	.fetch_start = fake_fetch_start,
	.fetch_cancel = fake_fetch_cancel,
	.watch_start = fake_watch_start,
	.watch_stop = fake_watch_stop,
	.submit = fake_submit,
};

/* Ends fetch i with reason (FETCH_OK: a small non-empty profile). */
static void finish(int i, enum fetch_reason reason)
{
	struct fake_fetch *f = &w.fetches[i];
	assert_true(f->running);
	f->running = 0;
	fetch_result res = {0};
	res.type = f->type;
	res.url = f->url;
	res.reason = reason;
	res.ok = reason == FETCH_OK;
	if (res.ok) {
		res.status = 200;
		res.data = xmalloc(4);
		res.len = 4;
		res.facts.n_samples = 1;
	} else {
		res.message = "fake failure";
	}
	f->done(&res, f->arg);
	free(res.data); /* what fetch does after done, when the profile was not taken */
}

static int running_count(void)
{
	int n = 0;
	for (int i = 0; i < w.nfetches; i++)
		n += w.fetches[i].running;
	return n;
}

static int running_of(enum pprof_type t)
{
	int n = 0;
	for (int i = 0; i < w.nfetches; i++)
		n += w.fetches[i].running && w.fetches[i].type == t;
	return n;
}

static void on_round(int targets, int failures, void *arg)
{
	(void)arg;
	w.rounds++;
	w.round_targets = targets;
	w.round_failures = failures;
}

/* A running pod of node-a with the given profile types, profefe.com/delta and
 * profefe.com/port (NULL: none), as the watch would hand it. */
static void pod_event_full(const char *name, const char *profiles, const char *delta,
			   const char *ports, int deleted)
{
	char *json = xasprintf(
		"{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"u-%s\","
		"\"annotations\":{\"profefe.com/enable\":\"true\",\"profefe.com/profiles\":\"%s\","
		"\"profefe.com/delta\":\"%s\"%s%s%s}},"
		"\"spec\":{\"nodeName\":\"node-a\"},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.0.%d\"}}",
		name, name, profiles, delta, ports ? ",\"profefe.com/port\":\"" : "",
		ports ? ports : "", ports ? "\"" : "", name[0]);
	char err[256];
	yajl_val v = yajl_tree_parse(json, err, sizeof(err));
	assert_non_null(v);
	kube_pod *pod = kube_pod_from_json(v, err, sizeof(err));
	if (!pod)
		fail_msg("kube_pod_from_json: %s", err);
	if (deleted)
		w.cb.on_delete(pod, w.cb.arg);
	else
		w.cb.on_pod(pod, w.cb.arg);
	kube_pod_free(pod);
	yajl_tree_free(v);
	free(json);
}

static void pod_event(const char *name, const char *profiles, int deleted)
{
	pod_event_full(name, profiles, "false", NULL, deleted);
}

static void pod_event_ports(const char *name, const char *profiles, const char *ports,
			    int deleted)
{
	pod_event_full(name, profiles, "false", ports, deleted);
}

static void pod_event_delta(const char *name, const char *profiles, const char *delta,
			    int deleted)
{
	pod_event_full(name, profiles, delta, NULL, deleted);
}

struct env {
	struct ev_loop *ev;
	loop_t *loop;
	budget_t *budget;
	collector_options opt;
	collector_t *c;
};

static int setup(void **state)
{
	memset(&w, 0, sizeof(w));
	metrics_reset();
	struct env *e = xcalloc(1, sizeof(*e));
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	e->opt.node_name = "node-a";
	e->opt.interval_s = 60;
	e->opt.jitter_s = 0;
	pod_defaults_init(&e->opt.defaults);
	e->opt.defaults.cpu_seconds = 1;
	e->opt.max_concurrency = 100;
	e->opt.cpu_margin_ms = 1000;
	e->opt.io = &fake_io;
	*state = e;
	return 0;
}

static void start(struct env *e)
{
	e->c = collector_start(e->loop, NULL, NULL, &e->opt, on_round, NULL);
	assert_true(w.watching);
}

static int teardown(void **state)
{
	struct env *e = *state;
	collector_stop(e->c);
	loop_free(e->loop);
	ev_loop_destroy(e->ev);
	budget_free(e->budget);
	metrics_reset();
	free(e);
	return 0;
}

static int fetches_reach(void *n)
{
	return w.nfetches >= *(int *)n;
}

/* Lets the loop run the collector's timers until n fetches were started. */
static int run_until_fetches(struct env *e, int n)
{
	return test_run_until(e->ev, fetches_reach, &n, 5);
}

/* ---- the tests ---- */

/* With one slot: a pod's CPU profile goes first, and a CPU profile queued later goes
 * before snapshots queued earlier, so every pod's CPU profile runs in the same window. */
static void test_cpu_profiles_first(void **state)
{
	struct env *e = *state;
	e->opt.max_concurrency = 1;
	start(e);
	pod_event("a", "heap,cpu,goroutine", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 1));
	assert_int_equal(w.fetches[0].type, PPROF_CPU);
	pod_event("b", "goroutine,cpu", 0);
	int two = 2;
	assert_false(test_run_until(e->ev, fetches_reach, &two, 0.3)); /* b waits for the slot */
	finish(0, FETCH_OK);
	assert_int_equal(w.nfetches, 2);
	assert_int_equal(w.fetches[1].type, PPROF_CPU);
	assert_non_null(strstr(w.fetches[1].url, "//10.1.0.98:")); /* 'b' */
	finish(1, FETCH_OK);
	assert_int_not_equal(w.fetches[2].type, PPROF_CPU);
	assert_int_equal(collector_targets(e->c), 2);
}

/* Snapshots run a few at a time (--max-snapshot-fetches) while long ones all start. */
static void test_snapshots_limited(void **state)
{
	struct env *e = *state;
	e->opt.max_snapshot_fetches = 1;
	start(e);
	pod_event("a", "cpu,heap,goroutine,threadcreate", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 2));
	assert_int_equal(running_count(), 2); /* the CPU profile and one snapshot */
	assert_int_equal(running_of(PPROF_CPU), 1);
	int snapshot = w.fetches[0].type == PPROF_CPU ? 1 : 0;
	finish(snapshot, FETCH_OK);
	assert_int_equal(running_count(), 2);
	assert_int_equal(w.nfetches, 3);
}

static int budget_waited(void *arg)
{
	(void)arg;
	return metrics_get(METRIC_FETCH_BUDGET_WAITS_TOTAL, NULL) >= 1;
}

/* A fetch starts only while the reserves leave a quarter of the budget; the rest wait
 * and start as fetches end. */
static void test_budget_admission(void **state)
{
	struct env *e = *state;
	e->budget = budget_new((size_t)64 << 10); /* 12 KiB reserves: 4 fit in 48 KiB */
	e->opt.budget = e->budget;
	start(e);
	pod_event("a", "cpu,heap,goroutine,threadcreate,mutex,block", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 4));
	assert_true(test_run_until(e->ev, budget_waited, NULL, 5));
	assert_int_equal(w.nfetches, 4);
	assert_int_equal(budget_used(e->budget), (size_t)48 << 10);
	finish(0, FETCH_OK);
	assert_true(run_until_fetches(e, 5));
	assert_int_equal(running_count(), 4);
	for (int i = 1; i < 5; i++)
		finish(i, FETCH_OK);
	assert_true(run_until_fetches(e, 6));
	finish(5, FETCH_OK);
	assert_int_equal(budget_used(e->budget), 0);
	assert_int_equal(w.submitted, 6);
}

/* A budget that stays full is retried every 50 ms, not in a spin of the loop, and each
 * fetch that waits is counted once however often it is retried. */
static void test_budget_full_waits_without_spinning(void **state)
{
	struct env *e = *state;
	e->budget = budget_new((size_t)64 << 10); /* 4 of the 6 reserves fit */
	e->opt.budget = e->budget;
	start(e);
	pod_event("a", "cpu,heap,goroutine,threadcreate,mutex,block", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 4));
	assert_true(test_run_until(e->ev, budget_waited, NULL, 5));
	unsigned before = ev_iteration(e->ev);
	assert_false(test_run_until(e->ev, NULL, NULL, 0.5));
	unsigned iterations = ev_iteration(e->ev) - before;
	assert_in_range(iterations, 2, 100); /* about 10 retries; a spin makes 100,000s */
	assert_int_equal(metrics_get(METRIC_FETCH_BUDGET_WAITS_TOTAL, NULL), 1);
	assert_int_equal(w.nfetches, 4);
	finish(0, FETCH_OK);
	assert_true(run_until_fetches(e, 5)); /* the waiting one starts; the next waits */
	assert_int_equal(metrics_get(METRIC_FETCH_BUDGET_WAITS_TOTAL, NULL), 2);
}

static int cpu_fetches_reach(void *n)
{
	int cpu = 0;
	for (int i = 0; i < w.nfetches; i++)
		cpu += w.fetches[i].type == PPROF_CPU;
	return cpu >= *(int *)n;
}

/* A busy CPU profiler is retried once, a window later; busy again, it is a failure. */
static void test_busy_retried_once(void **state)
{
	struct env *e = *state;
	start(e);
	pod_event("a", "cpu", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 1));
	finish(0, FETCH_BUSY);
	assert_int_equal(running_count(), 0);
	int two = 2;
	assert_true(test_run_until(e->ev, cpu_fetches_reach, &two, 5));
	finish(1, FETCH_BUSY);
	int three = 3;
	assert_false(test_run_until(e->ev, cpu_fetches_reach, &three, 1.5));
	assert_true(metrics_get(METRIC_BUSY_RETRIES_TOTAL, "type", "cpu", "result", "busy", NULL) == 1);
	assert_int_equal(w.submitted, 0);
}

/* No retry when it would run into the next round: 4 s apart, 1 s window, 3 s margin. */
static void test_busy_not_retried_into_next_round(void **state)
{
	struct env *e = *state;
	e->opt.interval_s = 4;
	e->opt.cpu_margin_ms = 3000;
	start(e);
	pod_event("a", "cpu", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 1));
	finish(0, FETCH_BUSY);
	int two = 2;
	assert_false(test_run_until(e->ev, cpu_fetches_reach, &two, 2));
	assert_true(metrics_get(METRIC_BUSY_RETRIES_TOTAL, "type", "cpu", "result", "busy", NULL) == 0);
}

/* A pod deleted mid-fetch: its fetches are canceled, the slots go to the others. */
static void test_target_removed_mid_fetch(void **state)
{
	struct env *e = *state;
	e->opt.max_concurrency = 2;
	start(e);
	pod_event("a", "cpu,heap", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 2));
	pod_event("b", "cpu", 0);
	int three = 3;
	assert_false(test_run_until(e->ev, fetches_reach, &three, 0.3));
	pod_event("a", "cpu,heap", 1);
	assert_true(w.fetches[0].canceled && w.fetches[1].canceled);
	assert_int_equal(collector_targets(e->c), 1);
	assert_true(run_until_fetches(e, 3));
	assert_non_null(strstr(w.fetches[2].url, "//10.1.0.98:"));
	finish(2, FETCH_OK);
	assert_int_equal(w.submitted, 1);
	assert_int_equal(running_count(), 0);
}

/* A pod's port list: one target per port, a refused item said once and the others kept,
 * a changed list replacing the pod's targets, and all of them gone with the pod. */
static void test_pod_ports(void **state)
{
	struct env *e = *state;
	start(e);
	pod_event_ports("a", "heap", "6060,7070", 0);
	w.cb.on_synced(w.cb.arg);
	assert_int_equal(collector_targets(e->c), 2);
	assert_true(run_until_fetches(e, 2));
	int ports = (strstr(w.fetches[0].url, "//10.1.0.97:6060/") != NULL) +
		    (strstr(w.fetches[1].url, "//10.1.0.97:7070/") != NULL) +
		    (strstr(w.fetches[0].url, "//10.1.0.97:7070/") != NULL) +
		    (strstr(w.fetches[1].url, "//10.1.0.97:6060/") != NULL);
	assert_int_equal(ports, 2);

	/* A bad item: counted once however often the pod is seen; its targets go on. */
	pod_event_ports("a", "heap", "6060,7070,nope", 0);
	pod_event_ports("a", "heap", "6060,7070,nope", 0);
	assert_true(metrics_get(METRIC_TARGETS_INVALID_TOTAL, NULL) == 1);
	assert_int_equal(collector_targets(e->c), 2);
	assert_true(w.fetches[0].running && w.fetches[1].running);

	/* One port left: the other target goes, the one left is another target (named by
	 * the pod alone), so both fetches end. */
	pod_event_ports("a", "heap", "7070", 0);
	assert_int_equal(collector_targets(e->c), 1);
	assert_true(w.fetches[0].canceled && w.fetches[1].canceled);
	assert_true(run_until_fetches(e, 3));
	assert_non_null(strstr(w.fetches[2].url, "//10.1.0.97:7070/"));

	pod_event_ports("a", "heap", "6060,7070", 0);
	assert_int_equal(collector_targets(e->c), 2);
	pod_event_ports("a", "heap", "6060,7070", 1);
	assert_int_equal(collector_targets(e->c), 0);
	assert_int_equal(running_count(), 0);
}

/* --once: not listed, then unfinished, then done; a failure makes it "failed". */
static void test_once_status(void **state)
{
	struct env *e = *state;
	e->opt.once = 1;
	start(e);
	assert_int_equal(collector_once_status(e->c), COLLECTOR_ONCE_NOT_LISTED);
	pod_event("a", "cpu,heap", 0);
	pod_event("b", "heap", 0);
	w.cb.on_synced(w.cb.arg);
	assert_false(w.watching); /* the round's targets are fixed */
	assert_int_equal(collector_once_status(e->c), COLLECTOR_ONCE_UNFINISHED);
	assert_true(run_until_fetches(e, 3));
	finish(0, FETCH_OK);
	finish(1, FETCH_CONNECT);
	assert_int_equal(collector_once_status(e->c), COLLECTOR_ONCE_UNFINISHED);
	finish(2, FETCH_OK);
	assert_true(test_run_until(e->ev, NULL, NULL, 0.05) == 0);
	assert_int_equal(w.rounds, 1);
	assert_int_equal(w.round_targets, 2);
	assert_int_equal(w.round_failures, 1);
	assert_int_equal(collector_once_status(e->c), COLLECTOR_ONCE_FAILED);
}

static void test_once_done(void **state)
{
	struct env *e = *state;
	e->opt.once = 1;
	start(e);
	pod_event("a", "heap", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 1));
	finish(0, FETCH_OK);
	assert_int_equal(collector_once_status(e->c), COLLECTOR_ONCE_DONE);
	assert_true(test_run_until(e->ev, NULL, NULL, 0.05) == 0);
	assert_int_equal(w.rounds, 1);
	assert_int_equal(w.round_failures, 0);
	assert_true(metrics_get(METRIC_ROUND_DURATION_SECONDS, NULL) == 1);
}

/* --once with no target on the node is done at once. */
static void test_once_without_targets(void **state)
{
	struct env *e = *state;
	e->opt.once = 1;
	start(e);
	w.cb.on_synced(w.cb.arg);
	assert_int_equal(collector_once_status(e->c), COLLECTOR_ONCE_DONE);
	assert_true(test_run_until(e->ev, NULL, NULL, 0.05) == 0);
	assert_int_equal(w.rounds, 1);
	assert_int_equal(w.round_targets, 0);
}

static int index_of(enum pprof_type t, int from)
{
	for (int i = from; i < w.nfetches; i++)
		if (w.fetches[i].type == t)
			return i;
	fail_msg("no %s fetch from %d", pprof_type_name(t), from);
	return -1;
}

/* godeltaprof: block is asked from delta_block as a snapshot (it waits for a snapshot
 * slot, not with the CPU profile); its first answer primes the pod's state and is not
 * stored; the next one is a delta over the time since (a round later). */
static void test_godeltaprof_rounds(void **state)
{
	struct env *e = *state;
	e->opt.interval_s = 1.0;
	e->opt.max_snapshot_fetches = 1;
	start(e);
	pod_event_delta("g", "cpu,heap,block", "godeltaprof", 0);
	w.cb.on_synced(w.cb.arg);
	assert_true(run_until_fetches(e, 2));
	int three = 3;
	assert_false(test_run_until(e->ev, fetches_reach, &three, 0.2));
	assert_int_equal(running_of(PPROF_CPU), 1);
	assert_int_equal(running_of(PPROF_BLOCK), 0); /* a snapshot: after heap, not with cpu */
	finish(index_of(PPROF_HEAP, 0), FETCH_OK);
	int block = index_of(PPROF_BLOCK, 0);
	assert_int_equal(w.fetches[block].delta, PPROF_DELTA_GODELTAPROF);
	finish(block, FETCH_OK);
	finish(index_of(PPROF_CPU, 0), FETCH_OK);
	assert_int_equal(w.submitted, 2); /* cpu and heap: block's first answer primed */
	assert_true(metrics_get(METRIC_PROFILES_SKIPPED_TOTAL, "type", "block", "reason", "first",
				NULL) == 1);
	/* A round later: the answer is the delta since the first. */
	assert_true(run_until_fetches(e, 5));
	finish(index_of(PPROF_HEAP, 3), FETCH_OK);
	block = index_of(PPROF_BLOCK, 3);
	finish(block, FETCH_OK);
	assert_int_equal(w.submitted, 4);
	assert_string_equal(w.submitted_types[3], "block");
	assert_non_null(strstr(w.submitted_labels[3], ",delta=true,window=1s"));
	assert_true(metrics_get(METRIC_PROFILES_SKIPPED_TOTAL, "type", "block", "reason", "first",
				NULL) == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cpu_profiles_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_admission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_full_waits_without_spinning, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_retried_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_not_retried_into_next_round, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_target_removed_mid_fetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pod_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_once_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_once_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_once_without_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_godeltaprof_rounds, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
