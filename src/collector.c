/* collector: keeps the node's annotated pods as targets and scrapes each on its schedule. */
#include "kprofefe/collector.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kprofefe/delta.h"
#include "kprofefe/empty.h"
#include "kprofefe/fetch.h"
#include "kprofefe/list.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

typedef struct target target;

/* One profile of one target to fetch: waiting for a slot, or in flight. */
typedef struct job {
	target *owner;
	enum pprof_type type;
	fetch *req;            /* NULL while waiting */
	list_node wait;        /* in one of the collector's waiting lists while waiting */
	int is_long;           /* answered after its seconds (job_is_long), set when queued */
	ev_timer retry;        /* a busy CPU profiler: the one retry of the round */
	int retried;           /* this round's retry was made */
	int budget_waited;     /* this round it found the budget full (counted once) */
	size_t reserve;        /* taken from the budget while in flight (job_reserve) */
} job;

/* A port of a pod being scraped, or a pod whose annotations are (partly) invalid (kept
 * to log it once). */
struct target {
	collector_t *c;
	char *key;            /* pod_target.id ("ns/name" or "ns/name:port"); "ns/name" when
	                         invalid */
	char *pod_key;        /* "ns/name": every target of a pod goes with it */
	pod_target *pod;      /* NULL when invalid */
	char *invalid;        /* the message when invalid */
	ev_timer timer;
	job jobs[PPROF_TYPE_COUNT];
	empty_state empty[PPROF_TYPE_COUNT];
	int pending;          /* jobs of the current round not finished */
	int said_ignored;     /* logged that the pod ignores ?seconds= */
	/* godeltaprof: when the pod last answered each delta_* endpoint (ev time; 0: not
	 * since this target was added). The next answer's window starts there. */
	double answered_at[PPROF_TYPE_COUNT];
	double round_start;   /* ev time the current round began */
	list_node link;       /* in the collector's targets */
};

/* Fetches beyond --max-concurrency wait in two lists: CPU profiles and traces
 * start before the quick ones, so every pod's CPU profile runs in the same
 * window and a round lasts about --cpu-seconds. */
enum { WAIT_LONG, WAIT_SHORT };

struct collector {
	loop_t *loop;
	kube_client *kc;
	batch_t *batch;
	const collector_options *opt;
	const collector_io *io;
	kube_pod_watch *watch;
	list_node targets;
	size_t ntargets;
	list_node waiting[2];  /* of jobs: WAIT_LONG first, then WAIT_SHORT */
	int in_flight;
	int in_flight_short;   /* of in_flight, snapshots (WAIT_SHORT) */
	int synced;
	collector_round_fn round_done;
	void *round_arg;
	int round_targets;     /* --once: targets in the round */
	int round_pending;     /* --once: jobs not finished */
	int round_failures;
	int round_reported;
	ev_timer round_timer;  /* --once: reports the round from the loop */
	ev_timer budget_timer; /* retries waiting fetches while the budget is full */
};

/* Taken from the budget for each fetch in flight, before its body arrives: curl's
 * handle, buffers and connection, so that admission counts what a transfer costs even
 * when its profile is small. Measured with massif at 750 transfers: about 10 KiB of
 * curl's and 1 KiB of ours each (scripts/bench.sh, issue 10's note). */
#define FETCH_RESERVE_BYTES ((size_t)12 << 10)
/* An https fetch holds more: pod_tls_extra_reserve. */
static size_t job_reserve(const job *j)
{
	return FETCH_RESERVE_BYTES + pod_tls_extra_reserve(&j->owner->pod->tls);
}
/* How often fetches waiting for the budget try again. */
#define BUDGET_RETRY_S 0.05

static double random_unit(void)
{
	return (double)rand() / ((double)RAND_MAX + 1.0);
}

static void set_targets_gauge(collector_t *c)
{
	metrics_set(METRIC_TARGETS, (double)c->ntargets, NULL);
}

/* ---- the waiting lists ---- */

/* CPU profiles, traces and ?seconds= deltas: answered after their seconds (godeltaprof
 * deltas are answered at once: snapshots). */
static int job_is_long(const job *j)
{
	return pprof_endpoint_waits(j->type, j->owner->pod->delta);
}

static void wait_push(collector_t *c, job *j)
{
	list_push_back(&c->waiting[j->is_long ? WAIT_LONG : WAIT_SHORT], &j->wait);
}

static int job_waiting(const job *j)
{
	return list_linked(&j->wait);
}

static job *first_waiting(const list_node *l)
{
	return list_empty(l) ? NULL : LIST_ENTRY(list_first(l), job, wait);
}

/* The long fetches first, all of them at once; the snapshots a few at a time, so that
 * hundreds of pods serializing profiles at once do not crowd the node's CPU (and the
 * collector's memory) while the long ones only wait. */
static job *next_waiting(collector_t *c)
{
	int limit = c->opt->max_snapshot_fetches;
	if (!list_empty(&c->waiting[WAIT_LONG]))
		return first_waiting(&c->waiting[WAIT_LONG]);
	if (limit > 0 && c->in_flight_short >= limit)
		return NULL;
	return first_waiting(&c->waiting[WAIT_SHORT]);
}

static void job_left_flight(collector_t *c, const job *j)
{
	c->in_flight--;
	if (!j->is_long)
		c->in_flight_short--;
	budget_give(c->opt->budget, j->reserve);
}

const collector_io collector_io_default = {
	.fetch_start = fetch_start,
	.fetch_cancel = fetch_cancel,
	.watch_start = kube_pod_watch_start,
	.watch_stop = kube_pod_watch_stop,
	.submit = batch_submit,
};

/* ---- one round of a target ---- */

/* One of t's jobs of this round ended (fetched, failed, or given up): the last one
 * ends the round, whose length is what a round costs the node. */
static void target_job_done(target *t)
{
	if (--t->pending > 0)
		return;
	double took = ev_now(loop_ev(t->c->loop)) - t->round_start;
	metrics_observe(METRIC_ROUND_DURATION_SECONDS, took, NULL);
}

static void start_waiting_jobs(collector_t *c);

static void round_job_finished(collector_t *c, int failed)
{
	if (!c->opt->once || c->round_reported)
		return;
	c->round_failures += failed;
	if (--c->round_pending > 0)
		return;
	c->round_reported = 1;
	/* Reported from the loop, not from here: the owner may stop (free) the
	 * collector in the callback while a fetch callback is still using it. */
	ev_timer_start(loop_ev(c->loop), &c->round_timer);
}

static void report_round(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	collector_t *c = w->data;
	if (c->round_done)
		c->round_done(c->round_targets, c->round_failures, c->round_arg);
}

/* The window of a godeltaprof answer: the time since the target's previous answer of
 * that type, or DELTA_NO_WINDOW. Every answer the pod gave moves its state (godeltaprof
 * keeps one per process, for every caller), even one that is not stored. */
static double godeltaprof_window(target *t, const fetch_result *res)
{
	if (t->pod->delta != PPROF_DELTA_GODELTAPROF || !pprof_type_is_cumulative(res->type))
		return DELTA_NO_WINDOW;
	double now = ev_now(loop_ev(t->c->loop));
	double last = t->answered_at[res->type];
	if (res->status >= 200 && res->status < 300)
		t->answered_at[res->type] = now;
	return last > 0 ? now - last : DELTA_NO_WINDOW;
}

static void submit_profile(collector_t *c, target *tg, fetch_result *res, double window)
{
	const pod_target *t = tg->pod;
	char *labels = delta_collected_labels(res->type, t->delta, &res->facts, window, tg->key,
					      t->labels, &tg->said_ignored);
	if (!labels)
		return;
	size_t len = 0;
	unsigned char *data = fetch_result_take(res, &len);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	batch_profile p = {
		.service = t->service,
		.type = pprof_profefe_type(res->type),
		.labels = labels,
		.time_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
	};
	metrics_add(METRIC_PROFILES_COLLECTED_TOTAL, 1, "type", pprof_type_name(res->type), NULL);
	c->io->submit(c->batch, &p, data, len);
	free(labels);
}

static void count_retry(const job *j, const fetch_result *res)
{
	const char *result = res->ok ? "ok" : res->reason == FETCH_BUSY ? "busy" : "failed";
	metrics_add(METRIC_BUSY_RETRIES_TOTAL, 1, "type", pprof_type_name(j->type), "result",
		    result, NULL);
}

static void on_retry(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	job *j = w->data;
	wait_push(j->owner->c, j);
	start_waiting_jobs(j->owner->c);
}

/*
 * Someone else (kubectl profefe capture, another profiler) holds the pod's CPU profiler
 * or tracer: instead of losing the interval, the job waits and tries once more, late
 * enough for the other profile to have ended (one window) and early enough to end
 * before the next round. Returns 1 when the retry is scheduled.
 */
static int retry_busy_later(job *j, const fetch_result *res)
{
	target *t = j->owner;
	collector_t *c = t->c;
	double window = t->pod->cpu_seconds;
	double margin = (double)c->opt->cpu_margin_ms / 1000.0;

	if (j->retried || res->reason != FETCH_BUSY)
		return 0;
	double elapsed = ev_now(loop_ev(c->loop)) - t->round_start;
	double left = c->opt->interval_s - elapsed - window - margin;
	if (!c->opt->once && left < window)
		return 0; /* a retry would overlap the next round */
	j->retried = 1;
	log_event(LOG_INFO, "profiler busy (someone else is profiling the pod): retrying once",
		  "pod", t->key, "type", pprof_type_name(j->type), NULL);
	ev_timer_init(&j->retry, on_retry, window, 0.);
	j->retry.data = j;
	ev_timer_start(loop_ev(c->loop), &j->retry);
	return 1;
}

/* An empty profile is not uploaded (empty.h); returns 1 when res was one. */
static int skip_empty(target *t, const fetch_result *res)
{
	empty_seen(&t->empty[res->type], t->key, res->type, res->empty);
	return res->empty;
}

/* Whether this round fetches type: one that keeps coming back empty is left out of
 * some rounds (empty.h); --once fetches everything. */
static int round_wants(const collector_t *c, target *t, int type)
{
	return c->opt->once || empty_due(&t->empty[type]);
}

static void log_fetched(const target *t, const fetch_result *res)
{
	if (!log_enabled(LOG_DEBUG))
		return;
	char seconds[32], bytes[32];
	snprintf(seconds, sizeof(seconds), "%.3f", res->seconds);
	snprintf(bytes, sizeof(bytes), "%zu", res->len);
	log_event(LOG_DEBUG, "profile fetched", "pod", t->key, "type", pprof_type_name(res->type),
		  "bytes", bytes, "seconds", seconds, NULL);
}

static void on_fetched(fetch_result *res, void *arg)
{
	job *j = arg;
	target *t = j->owner;
	collector_t *c = t->c;
	j->req = NULL;
	job_left_flight(c, j);
	if (j->retried)
		count_retry(j, res);
	if (retry_busy_later(j, res)) {
		start_waiting_jobs(c);
		return;
	}
	target_job_done(t);
	double window = godeltaprof_window(t, res);
	if (res->ok) {
		log_fetched(t, res);
		if (!skip_empty(t, res))
			submit_profile(c, t, res, window);
	} else {
		char seconds[32];
		snprintf(seconds, sizeof(seconds), "%.3f", res->seconds);
		log_event(LOG_WARN, "profile fetch failed", "pod", t->key, "type",
			  pprof_type_name(res->type), "reason", fetch_reason_name(res->reason), "detail",
			  res->body_reason ? pprof_reason_name(res->body_reason) : NULL, "error", res->message, "seconds", seconds, NULL);
	}
	round_job_finished(c, !res->ok);
	start_waiting_jobs(c);
}

static void start_job(collector_t *c, job *j)
{
	const collector_options *o = c->opt;
	fetch_options fo = {
		.cpu_seconds = j->owner->pod->cpu_seconds,
		.delta = j->owner->pod->delta,
		.connect_timeout_ms = o->connect_timeout_ms,
		.margin_ms = o->cpu_margin_ms,
		.plain_timeout_ms = o->timeout_ms,
		.max_profile_bytes = o->max_profile_bytes,
		.max_inflated_bytes = o->max_inflated_bytes,
		.budget = o->budget,
	};
	pod_tls_request tr;
	pod_target *pt = j->owner->pod;
	pod_tls_request_for(&pt->tls, pt->key, pt->ip, pt->port, &tr);
	fo.tls = pt->tls.https ? &tr.tls : NULL;
	fo.headers = tr.headers[0] ? tr.headers : NULL;
	c->in_flight++;
	if (!j->is_long)
		c->in_flight_short++;
	j->req = c->io->fetch_start(c->loop, j->owner->pod->base_url, j->type, &fo, on_fetched,
				    j);
}

/* Starts waiting fetches while slots and the budget allow, CPU profiles first. A full
 * budget is waited out: what holds it (bodies, the upload queue) is given back as
 * transfers end and uploads go, and the timer tries again. */
static void start_waiting_jobs(collector_t *c)
{
	job *j;
	while (c->in_flight < c->opt->max_concurrency && (j = next_waiting(c)) != NULL) {
		if (budget_take_leaving(c->opt->budget, job_reserve(j),
					budget_limit(c->opt->budget) / 4) != 0) {
			if (!j->budget_waited) {
				j->budget_waited = 1;
				metrics_add(METRIC_FETCH_BUDGET_WAITS_TOTAL, 1, NULL);
			}
			/* Set again each time: a one-shot timer that has fired keeps no delay, and
			 * restarted as it is it would fire at once, spinning the loop. */
			if (!ev_is_active(&c->budget_timer)) {
				ev_timer_set(&c->budget_timer, BUDGET_RETRY_S, 0.);
				ev_timer_start(loop_ev(c->loop), &c->budget_timer);
			}
			return;
		}
		j->reserve = job_reserve(j);
		list_remove(&j->wait);
		start_job(c, j);
	}
}

static void retry_budget(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	ev_timer_stop(ev, w);
	start_waiting_jobs(w->data);
}

/* Queues every profile type of t; the CPU profile first, since it takes longest and
 * all pods' CPU profiles should run side by side. */
static void start_round(target *t)
{
	collector_t *c = t->c;
	if (t->pending > 0) {
		log_event(LOG_WARN, "previous scrape still running, skipping this one", "pod",
			  t->key, NULL);
		return;
	}
	t->round_start = ev_now(loop_ev(c->loop));
	for (int type = 0; type < PPROF_TYPE_COUNT; type++) {
		if (!(t->pod->types & PPROF_BIT(type)) || !round_wants(c, t, type))
			continue;
		job *j = &t->jobs[type];
		j->owner = t;
		j->type = (enum pprof_type)type;
		j->is_long = job_is_long(j);
		j->retried = 0;
		j->budget_waited = 0;
		t->pending++;
		if (c->opt->once)
			c->round_pending++;
		wait_push(c, j);
	}
	start_waiting_jobs(c);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	start_round(w->data);
}

/* ---- the set of targets ---- */

/* Takes t's jobs that have not started off the wait list (no curl call). */
static void drop_waiting_jobs(target *t)
{
	collector_t *c = t->c;
	for (int type = 0; type < PPROF_TYPE_COUNT; type++) {
		job *j = &t->jobs[type];
		if (j->retried && ev_is_active(&j->retry)) {
			ev_timer_stop(loop_ev(c->loop), &j->retry);
			t->pending--;
			round_job_finished(c, 1);
		}
		if (job_waiting(j)) {
			list_remove(&j->wait);
			t->pending--;
			round_job_finished(c, 1);
		}
	}
}

static void cancel_jobs(target *t)
{
	collector_t *c = t->c;
	drop_waiting_jobs(t);
	for (int type = 0; type < PPROF_TYPE_COUNT; type++) {
		job *j = &t->jobs[type];
		if (j->req) {
			c->io->fetch_cancel(j->req);
			j->req = NULL;
			job_left_flight(c, j);
			t->pending--;
			round_job_finished(c, 1);
		}
	}
}

static void target_free(target *t)
{
	if (t->pod) {
		cancel_jobs(t);
		ev_timer_stop(loop_ev(t->c->loop), &t->timer);
	}
	pod_target_free(t->pod);
	free(t->invalid);
	free(t->key);
	free(t->pod_key);
	free(t);
}

static target *find_target(collector_t *c, const char *key)
{
	for (list_node *n = list_first(&c->targets); n != &c->targets; n = n->next) {
		target *t = LIST_ENTRY(n, target, link);
		if (strcmp(t->key, key) == 0)
			return t;
	}
	return NULL;
}

/* Pod events arrive inside curl's write callback of the watch; cancelling the target's
 * fetches there is safe: the loop defers their removal from the multi until curl has
 * returned (loop.h), and a cancelled transfer's callbacks do nothing meanwhile. */
static void remove_one(collector_t *c, target *t, const char *why)
{
	list_remove(&t->link);
	if (t->pod) {
		c->ntargets--;
		log_event(LOG_INFO, "target removed", "pod", t->key, "reason", why, NULL);
	}
	target_free(t);
}

/* Whether t stays while its pod has the targets ts (NULL: none) and the invalid
 * message invalid (NULL: none): the ones to be replaced or left as they are. */
static int target_kept(const target *t, const pod_targets *ts, const char *invalid)
{
	if (t->pod == NULL)
		return invalid != NULL && strcmp(t->invalid, invalid) == 0;
	for (size_t i = 0; ts && i < ts->n; i++)
		if (strcmp(ts->v[i]->id, t->key) == 0)
			return 1;
	return 0;
}

/* Removes the targets of pod_key that it no longer has. */
static void remove_pod_targets(collector_t *c, const char *pod_key, const pod_targets *ts,
			       const char *invalid, const char *why)
{
	list_node *n = list_first(&c->targets), *next;
	for (; n != &c->targets; n = next) {
		target *t = LIST_ENTRY(n, target, link);
		next = n->next;
		if (strcmp(t->pod_key, pod_key) == 0 && !target_kept(t, ts, invalid))
			remove_one(c, t, why);
	}
	set_targets_gauge(c);
	start_waiting_jobs(c); /* the slots their fetches held */
}

static void remove_target(collector_t *c, const char *key, const char *why)
{
	target *t = find_target(c, key);
	if (!t)
		return;
	remove_one(c, t, why);
	set_targets_gauge(c);
	start_waiting_jobs(c);
}

static target *add_target(collector_t *c, const char *key, const char *pod_key)
{
	target *t = xcalloc(1, sizeof(*t));
	t->c = c;
	t->key = xstrdup(key);
	t->pod_key = xstrdup(pod_key);
	for (int type = 0; type < PPROF_TYPE_COUNT; type++)
		list_init(&t->jobs[type].wait);
	list_push_front(&c->targets, &t->link);
	return t;
}

static void schedule_target(collector_t *c, target *t)
{
	double first = c->opt->once ? 0 : random_unit() * c->opt->jitter_s;
	if (first > c->opt->interval_s)
		first = random_unit() * c->opt->interval_s;
	ev_timer_init(&t->timer, on_timer, first, c->opt->once ? 0. : c->opt->interval_s);
	t->timer.data = t;
	if (!c->opt->once)
		ev_timer_start(loop_ev(c->loop), &t->timer);
}

/* A pod refused whole (partial: some items of its port list only), said once. */
static void note_invalid(collector_t *c, const char *key, const char *message, int partial)
{
	target *t = find_target(c, key);
	if (t && t->invalid && strcmp(t->invalid, message) == 0)
		return; /* said already: a status update is no reason to say it again */
	t = add_target(c, key, key);
	t->invalid = xstrdup(message);
	log_event(LOG_WARN, partial ? "pod port refused: invalid annotation"
				    : "pod skipped: invalid annotation",
		  "pod", key, "error", message, NULL);
	metrics_add(METRIC_TARGETS_INVALID_TOTAL, 1, NULL);
}

static void note_target(collector_t *c, pod_target *pt)
{
	target *t = find_target(c, pt->id);
	if (t && t->pod && pod_target_equal(t->pod, pt)) {
		pod_target_free(pt);
		return;
	}
	remove_target(c, pt->id, "changed");
	t = add_target(c, pt->id, pt->key);
	t->pod = pt;
	c->ntargets++;
	set_targets_gauge(c);
	char types[128] = "";
	char *list = pprof_types_format(pt->types);
	snprintf(types, sizeof(types), "%s", list);
	free(list);
	log_event(LOG_INFO, "target added", "pod", pt->id, "url", pt->base_url, "service",
		  pt->service, "profiles", types, NULL);
	pod_tls_note_target(&pt->tls, pt->key);
	schedule_target(c, t);
}

static void on_pod(const kube_pod *pod, void *arg)
{
	collector_t *c = arg;
	pod_targets ts;
	char err[1024];
	enum pod_verdict v = pod_targets_from(pod, &c->opt->defaults, &ts, err, sizeof(err));
	char *key = xasprintf("%s/%s", pod->ns, pod->name);
	if (v == POD_TARGET) {
		remove_pod_targets(c, key, &ts, ts.refused, "changed");
		if (ts.refused)
			note_invalid(c, key, ts.refused, 1);
		for (size_t i = 0; i < ts.n; i++) {
			note_target(c, ts.v[i]);
			ts.v[i] = NULL;
		}
		pod_targets_clear(&ts);
	} else if (v == POD_INVALID) {
		remove_pod_targets(c, key, NULL, err, "invalid annotation");
		note_invalid(c, key, err, 0);
	} else {
		remove_pod_targets(c, key, NULL, NULL, err);
	}
	free(key);
}

static void on_delete(const kube_pod *pod, void *arg)
{
	collector_t *c = arg;
	char *key = xasprintf("%s/%s", pod->ns, pod->name);
	remove_pod_targets(c, key, NULL, NULL, "pod deleted");
	free(key);
}

static void start_once_round(collector_t *c)
{
	c->round_pending = 1; /* held until every target is queued */
	for (list_node *n = list_first(&c->targets); n != &c->targets; n = n->next) {
		target *t = LIST_ENTRY(n, target, link);
		if (!t->pod)
			continue;
		c->round_targets++;
		start_round(t);
	}
	/* The watch has done its part: no target may join or leave the round now. */
	c->io->watch_stop(c->watch);
	c->watch = NULL;
	round_job_finished(c, 0);
}

static void on_synced(void *arg)
{
	collector_t *c = arg;
	if (!c->synced)
		log_event(LOG_INFO, "pods listed", "node", c->opt->node_name, NULL);
	c->synced = 1;
	if (c->opt->once && c->round_targets == 0 && !c->round_reported)
		start_once_round(c);
}

collector_t *collector_start(loop_t *loop, kube_client *kc, batch_t *batch,
			     const collector_options *opt, collector_round_fn round_done,
			     void *arg)
{
	collector_t *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->kc = kc;
	c->batch = batch;
	c->opt = opt;
	c->io = opt->io ? opt->io : &collector_io_default;
	list_init(&c->targets);
	list_init(&c->waiting[WAIT_LONG]);
	list_init(&c->waiting[WAIT_SHORT]);
	c->round_done = round_done;
	c->round_arg = arg;
	ev_timer_init(&c->round_timer, report_round, 0., 0.);
	c->round_timer.data = c;
	ev_timer_init(&c->budget_timer, retry_budget, BUDGET_RETRY_S, 0.);
	c->budget_timer.data = c;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	set_targets_gauge(c);
	char *selector = xasprintf("spec.nodeName=%s", opt->node_name);
	kube_pod_watch_callbacks cb = {on_pod, on_delete, on_synced, c};
	c->watch = c->io->watch_start(kc, selector, NULL, &cb);
	free(selector);
	return c;
}

static const char *const once_status_names[] = {
	[COLLECTOR_ONCE_DONE] = "done",
	[COLLECTOR_ONCE_FAILED] = "fetches_failed",
	[COLLECTOR_ONCE_NOT_LISTED] = "pods_not_listed",
	[COLLECTOR_ONCE_UNFINISHED] = "fetches_unfinished",
};

const char *collector_once_status_name(enum collector_once_status st)
{
	return (size_t)st < sizeof(once_status_names) / sizeof(once_status_names[0])
		       ? once_status_names[st]
		       : "unknown";
}

enum collector_once_status collector_once_status(const collector_t *c)
{
	if (!c->synced)
		return COLLECTOR_ONCE_NOT_LISTED;
	if (!c->round_reported || c->round_pending > 0)
		return COLLECTOR_ONCE_UNFINISHED;
	return c->round_failures ? COLLECTOR_ONCE_FAILED : COLLECTOR_ONCE_DONE;
}

int collector_synced(const collector_t *c)
{
	return c->synced;
}

size_t collector_targets(const collector_t *c)
{
	return c->ntargets;
}

void collector_stop(collector_t *c)
{
	if (!c)
		return;
	c->io->watch_stop(c->watch);
	c->round_reported = 1; /* nobody waits for a round any more */
	ev_timer_stop(loop_ev(c->loop), &c->round_timer);
	ev_timer_stop(loop_ev(c->loop), &c->budget_timer);
	while (!list_empty(&c->targets)) {
		target *t = LIST_ENTRY(list_first(&c->targets), target, link);
		list_remove(&t->link);
		target_free(t);
	}
	free(c);
}
