/* batch: queue of profiles flushed to profefe on timers, with spooling, backoff and replay. */
#include "kprofefe/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/batch_suspect.h"
#include "kprofefe/empty.h"
#include "kprofefe/list.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/pprof.h"
#include "kprofefe/xalloc.h"

struct item {
	list_node node;           /* in the queue or in flight */
	char *service, *type, *labels;
	int64_t time_ns;
	uint32_t attempts;
	unsigned char *data;
	size_t len;               /* all of it is taken from the budget while in memory */
	char *spool_name;         /* a replayed spool entry, or NULL for a fresh profile */
	int probe;                /* sent as the probe while profefe is down */
	profefe_request *req;     /* while in flight */
	batch_t *b;
};

/* Profiles in memory, oldest first, with their count and bytes kept as they change. */
struct queue {
	list_node head;
	size_t n, bytes;
	/* A flush is under way: the queue goes out as upload slots free, until it is empty.
	 * It belongs to the queue, not to the states: a flush runs in UP and DRAINING alike. */
	int flushing;
};

struct batch {
	loop_t *loop;
	struct ev_loop *ev;
	profefe_client *client;
	spool_t *spool;
	batch_options opt;
	enum batch_state state;   /* changed only by set_state */
	struct queue queue;
	list_node inflight;       /* of struct item */
	size_t n_inflight, replays_inflight;
	suspects suspects;
	double backoff;           /* the next probe's delay while profefe is down */
	batch_done_fn done;
	void *done_arg;
	ev_timer flush_timer, drain_timer, probe_timer, expire_timer, grace_timer;
};

static const char *const state_names[] = {
	[BATCH_UP] = "up",
	[BATCH_DRAINING] = "draining",
	[BATCH_DOWN] = "down",
	[BATCH_PROBING] = "probing",
	[BATCH_STOPPING] = "stopping",
	[BATCH_STOPPING_DOWN] = "stopping_down",
	[BATCH_STOPPED] = "stopped",
};

const char *batch_state_name(enum batch_state s)
{
	return (size_t)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s]
									  : "unknown";
}

enum batch_state batch_state(const batch_t *b)
{
	return b->state;
}

/* ---- the queue ---- */

static void queue_push(struct queue *q, struct item *it, int front)
{
	if (front)
		list_push_front(&q->head, &it->node);
	else
		list_push_back(&q->head, &it->node);
	q->n++;
	q->bytes += it->len;
}

static struct item *queue_first(const struct queue *q)
{
	return list_empty(&q->head) ? NULL : LIST_ENTRY(list_first(&q->head), struct item, node);
}

static void queue_remove(struct queue *q, struct item *it)
{
	list_remove(&it->node);
	q->n--;
	q->bytes -= it->len;
}

static struct item *queue_pop(struct queue *q)
{
	struct item *it = queue_first(q);
	if (it)
		queue_remove(q, it);
	return it;
}

static void item_free(struct item *it)
{
	budget_give(it->b->opt.budget, it->len);
	free(it->service);
	free(it->type);
	free(it->labels);
	free(it->data);
	free(it->spool_name);
	free(it);
}

/* ---- states ---- */

static int profefe_up(const batch_t *b)
{
	return b->state == BATCH_UP || b->state == BATCH_DRAINING || b->state == BATCH_STOPPING;
}

static int stopping(const batch_t *b)
{
	return b->state == BATCH_STOPPING || b->state == BATCH_STOPPING_DOWN ||
	       b->state == BATCH_STOPPED;
}

/*
 * The one place the state changes. The timers follow it: the drain timer runs only in
 * DRAINING, the probe timer only in DOWN, the flush and expiry timers until stopping.
 */
static void set_state(batch_t *b, enum batch_state to)
{
	enum batch_state from = b->state;
	if (from == to)
		return;
	if (log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "batch state", "from", batch_state_name(from), "to",
			  batch_state_name(to), NULL);
	b->state = to;
	if (from == BATCH_DRAINING)
		ev_timer_stop(b->ev, &b->drain_timer);
	if (from == BATCH_DOWN)
		ev_timer_stop(b->ev, &b->probe_timer);
	switch (to) {
	case BATCH_DRAINING:
		ev_timer_again(b->ev, &b->drain_timer);
		break;
	case BATCH_DOWN:
		ev_timer_set(&b->probe_timer, b->backoff, 0);
		ev_timer_start(b->ev, &b->probe_timer);
		break;
	case BATCH_STOPPING:
	case BATCH_STOPPING_DOWN:
		ev_timer_stop(b->ev, &b->flush_timer);
		ev_timer_stop(b->ev, &b->expire_timer);
		break;
	case BATCH_STOPPED:
		ev_timer_stop(b->ev, &b->grace_timer);
		break;
	case BATCH_UP:
	case BATCH_PROBING:
		break;
	}
}

/* ---- metrics ---- */


size_t batch_queue_depth(const batch_t *b)
{
	return b->queue.n + (b->n_inflight - b->replays_inflight);
}

int batch_profefe_up(const batch_t *b)
{
	return profefe_up(b);
}

static void update_depth(const batch_t *b)
{
	metrics_set(METRIC_QUEUE_DEPTH, (double)batch_queue_depth(b), NULL);
}

static void drop(struct item *it, const char *reason, const char *why)
{
	log_event(LOG_ERROR, "profile dropped unsent", "service", it->service, "type", it->type,
		  "reason", reason, "error", why, NULL);
	metrics_add(METRIC_QUEUE_DROPPED_TOTAL, 1, "reason", reason, NULL);
	item_free(it);
}

/* ---- spool ---- */

static spool_entry item_entry(const struct item *it)
{
	return (spool_entry){NULL, it->service, it->type, it->labels, it->time_ns, it->attempts,
			     it->data, it->len};
}

/* Writes a fresh profile to the spool alone; on success frees it and returns 0. */
static int spool_item(batch_t *b, struct item *it, char *err, size_t errlen)
{
	spool_entry e = item_entry(it);
	if (spool_put(b->spool, &e, err, errlen) != 0)
		return -1;
	item_free(it);
	return 0;
}

static int queue_over(const batch_t *b)
{
	return b->queue.n > b->opt.max_queue || b->queue.bytes > b->opt.max_queue_bytes;
}

/* Keeps a profile in memory, oldest first, within max_queue and max_queue_bytes: past
 * them the oldest goes to the spool, or is dropped when it cannot be written. */
static void keep_in_memory(batch_t *b, struct item *it, int front)
{
	queue_push(&b->queue, it, front);
	struct item *old;
	while (queue_over(b) && queue_first(&b->queue) != it &&
	       (old = queue_pop(&b->queue)) != NULL) {
		char err[512] = "in-memory queue full";
		if (b->spool && !stopping(b) && spool_item(b, old, err, sizeof(err)) == 0)
			continue;
		drop(old, "full", err);
	}
	update_depth(b);
}

/* What spool_queue does with a profile it could not write. */
enum unwritten { UNWRITTEN_KEEP, UNWRITTEN_DROP };

/*
 * Writes everything waiting in memory to the spool as one group commit (two syncs for
 * the lot, not two per profile). What cannot be written is kept in memory, in order,
 * or dropped and counted when the batch is stopping.
 */
static void spool_queue(batch_t *b, enum unwritten unwritten)
{
	if (!b->spool || b->queue.n == 0)
		return;
	size_t n = b->queue.n;
	struct item **items = xcalloc(n, sizeof(*items));
	spool_entry *entries = xcalloc(n, sizeof(*entries));
	int *rcs = xcalloc(n, sizeof(*rcs));
	struct item *it;
	for (size_t i = 0; i < n && (it = queue_pop(&b->queue)) != NULL; i++) {
		items[i] = it;
		entries[i] = item_entry(it);
	}
	char err[512] = "";
	spool_put_group(b->spool, entries, n, rcs, err, sizeof(err));
	for (size_t i = 0; i < n; i++) {
		it = items[i];
		if (rcs[i] == 0) {
			item_free(it);
		} else if (unwritten == UNWRITTEN_DROP) {
			drop(it, "shutdown", err);
		} else {
			log_event(LOG_WARN, "spool write failed; keeping profile in memory", "service",
				  it->service, "type", it->type, "error", err, NULL);
			keep_in_memory(b, it, 0);
		}
	}
	free(items);
	free(entries);
	free(rcs);
	update_depth(b);
}

/* While profefe is down, the queue goes to the spool by the same rule that would send
 * it: batch_size profiles or half the byte bound waiting, or the flush timer. */
static int flush_due_by_size(const batch_t *b)
{
	return b->queue.n >= b->opt.batch_size || b->queue.bytes >= b->opt.max_queue_bytes / 2;
}

/* ---- uploads ---- */

static void start_upload(batch_t *b, struct item *it);
static void pump(batch_t *b);
static void kick_drain(batch_t *b);
static void check_finished(batch_t *b);

/* An upload got RETRY: profefe counts as down. What waits in memory goes to disk, where
 * a crash cannot lose it and from where it is replayed in order with everything else. */
static void go_down(batch_t *b, const struct item *it, const char *why)
{
	switch (b->state) {
	case BATCH_UP:
	case BATCH_DRAINING:
		b->backoff = b->opt.backoff_initial_s;
		log_event(LOG_WARN, "profefe unavailable; spooling until it answers", "error", why,
			  NULL);
		set_state(b, BATCH_DOWN);
		spool_queue(b, UNWRITTEN_KEEP);
		break;
	case BATCH_PROBING:
		if (!it->probe)
			break; /* an older upload: the probe's answer decides */
		b->backoff *= 2;
		if (b->backoff > b->opt.backoff_max_s)
			b->backoff = b->opt.backoff_max_s;
		set_state(b, BATCH_DOWN);
		break;
	case BATCH_STOPPING:
		log_event(LOG_WARN, "profefe unavailable; spooling until it answers", "error", why,
			  NULL);
		set_state(b, BATCH_STOPPING_DOWN);
		spool_queue(b, UNWRITTEN_KEEP);
		break;
	case BATCH_DOWN:
	case BATCH_STOPPING_DOWN:
	case BATCH_STOPPED:
		break;
	}
}

/* An upload got an answer: profefe is up. */
static void go_up(batch_t *b)
{
	if (profefe_up(b) || b->state == BATCH_STOPPED)
		return;
	b->backoff = b->opt.backoff_initial_s;
	if (!list_empty(&b->queue.head))
		b->queue.flushing = 1; /* what waited in memory goes now */
	log_event(LOG_INFO, "profefe reachable again", NULL);
	set_state(b, b->state == BATCH_STOPPING_DOWN ? BATCH_STOPPING : BATCH_UP);
}

/* profefe refuses a profile without samples. The collector does not send those, but an
 * older one may have spooled some: such an entry is deleted, not filed under rejected/
 * (nothing there to look into). Returns 1 when it was one. */
static int refused_empty(batch_t *b, const struct item *it)
{
	if (pprof_count_samples(it->data, it->len, 0) != 0)
		return 0;
	metrics_add(METRIC_PROFILES_SKIPPED_TOTAL, 1, "type", it->type, "reason", "empty",
		    NULL);
	log_event(LOG_INFO, "profefe refused an empty profile (no samples); dropped", "service",
		  it->service, "type", it->type, "spooled", it->spool_name ? it->spool_name : "no",
		  NULL);
	if (it->spool_name) {
		suspect_forget(&b->suspects, it->spool_name);
		spool_remove(b->spool, it->spool_name);
	}
	return 1;
}

static void uploaded_ok(batch_t *b, const struct item *it, const profefe_upload_result *res)
{
	metrics_add(METRIC_UPLOAD_BYTES_TOTAL, (double)it->len, NULL);
	metrics_set(METRIC_LAST_UPLOAD_SUCCESS_TIMESTAMP_SECONDS, ev_time(), NULL);
	if (it->spool_name) {
		log_event(LOG_DEBUG, "spooled profile stored", "entry", it->spool_name, "id",
			  res->id, NULL);
		suspect_forget(&b->suspects, it->spool_name);
		spool_remove(b->spool, it->spool_name);
	}
	if (b->spool)
		suspects_release_parked(&b->suspects);
}

static void uploaded_rejected(batch_t *b, const struct item *it, const profefe_upload_result *res)
{
	if (refused_empty(b, it))
		return;
	char status[16];
	snprintf(status, sizeof(status), "%ld", res->status);
	log_event(LOG_WARN, "profefe rejected profile", "service", it->service, "type", it->type,
		  "status", status, "error", res->message, "spooled",
		  it->spool_name ? it->spool_name : "no", NULL);
	if (it->spool_name) {
		suspect_forget(&b->suspects, it->spool_name);
		spool_reject(b->spool, it->spool_name);
	}
}

static void uploaded_retry(batch_t *b, struct item *it, const profefe_upload_result *res)
{
	log_event(LOG_INFO, "upload to retry", "service", it->service, "type", it->type, "error",
		  res->message, NULL);
	if (it->spool_name) {
		/* judged before go_down: whether profefe was up says what the error means */
		enum suspect_verdict v = suspect_judge(&b->suspects, it->spool_name, it->service,
						       it->type, res, profefe_up(b));
		/* one judged unstorable says nothing against profefe, unless it was the probe */
		if (v != SUSPECT_REJECTED || it->probe)
			go_down(b, it, res->message);
		item_free(it);
		return;
	}
	go_down(b, it, res->message);
	it->attempts++;
	it->probe = 0;
	keep_in_memory(b, it, 1);
	spool_queue(b, UNWRITTEN_KEEP);
}

static void on_uploaded(const profefe_upload_result *res, void *arg)
{
	struct item *it = arg;
	batch_t *b = it->b;
	list_remove(&it->node);
	b->n_inflight--;
	it->req = NULL;
	if (it->spool_name)
		b->replays_inflight--;
	const char *result = res->outcome == PROFEFE_OK ? "ok"
			     : res->outcome == PROFEFE_REJECTED ? "rejected" : "retry";
	metrics_add(METRIC_UPLOADS_TOTAL, 1, "type", it->type, "result", result, NULL);

	if (res->outcome == PROFEFE_RETRY) {
		uploaded_retry(b, it, res);
	} else {
		if (res->outcome == PROFEFE_OK)
			uploaded_ok(b, it, res);
		else
			uploaded_rejected(b, it, res);
		item_free(it);
		go_up(b);
		kick_drain(b);
	}
	update_depth(b);
	pump(b);
	check_finished(b);
}

static void start_upload(batch_t *b, struct item *it)
{
	it->b = b;
	list_push_back(&b->inflight, &it->node);
	b->n_inflight++;
	if (it->spool_name)
		b->replays_inflight++;
	it->req = profefe_upload_at(b->client, it->service, it->type, it->labels, it->time_ns,
				    it->data, it->len, on_uploaded, it);
}

/* Starts queued uploads while profefe is up, a flush is due and slots are free. */
static void pump(batch_t *b)
{
	if (!profefe_up(b))
		return;
	int all = b->state == BATCH_STOPPING;
	while ((b->queue.flushing || all) && b->n_inflight < (size_t)b->opt.upload_concurrency) {
		struct item *it = queue_pop(&b->queue);
		if (!it)
			break;
		start_upload(b, it);
	}
	if (b->queue.n == 0)
		b->queue.flushing = 0;
}

/* A flush: while profefe is up the queue goes to it, while it is down to the spool. */
static void flush(batch_t *b)
{
	b->queue.flushing = 1;
	if (b->state == BATCH_DOWN || b->state == BATCH_PROBING)
		spool_queue(b, UNWRITTEN_KEEP);
	pump(b);
}

/* ---- timers ---- */

static void on_flush_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	flush(t->data);
}

/* Hands one spool entry to an upload; returns 0 when there was none. */
static int replay_one(batch_t *b, int probe)
{
	spool_entry *e = NULL;
	char err[512];
	if (spool_peek_oldest(b->spool, &e, err, sizeof(err)) != 0) {
		log_event(LOG_WARN, "spool read failed", "error", err, NULL);
		return 0;
	}
	if (!e)
		return 0;
	struct item *it = xcalloc(1, sizeof(*it));
	it->b = b;
	budget_force(b->opt.budget, e->len); /* already read: it is in memory now */
	it->service = e->service;
	it->type = e->type;
	it->labels = e->labels;
	it->time_ns = e->time_ns;
	it->attempts = e->attempts;
	it->data = e->data;
	it->len = e->len;
	it->spool_name = e->name;
	it->probe = probe;
	free(e); /* its strings and bytes now belong to the item */
	start_upload(b, it);
	return 1;
}

static size_t replay_slots(const batch_t *b)
{
	size_t half = (size_t)b->opt.upload_concurrency / 2;
	return half > 0 ? half : 1;
}

/* Runs only in DRAINING (set_state starts and stops it). */
static void on_drain_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	batch_t *b = t->data;
	if (spool_available(b->spool) == 0) {
		set_state(b, BATCH_UP);
		return;
	}
	if (b->replays_inflight >= replay_slots(b) ||
	    b->n_inflight >= (size_t)b->opt.upload_concurrency)
		return;
	if (!replay_one(b, 0))
		set_state(b, BATCH_UP);
}

/* While up with entries to replay, the spool drains. */
static void kick_drain(batch_t *b)
{
	if (b->state == BATCH_UP && b->spool && spool_available(b->spool) > 0)
		set_state(b, BATCH_DRAINING);
}

/* Runs only in DOWN: one upload, the oldest profile in memory or else in the spool,
 * tells whether profefe is back. */
static void on_probe_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	batch_t *b = t->data;
	struct item *it = queue_pop(&b->queue);
	if (it) {
		it->probe = 1;
		set_state(b, BATCH_PROBING);
		start_upload(b, it);
		return;
	}
	set_state(b, BATCH_PROBING);
	if (b->spool && replay_one(b, 1))
		return;
	/* nothing to probe with: the next profile will tell */
	go_up(b);
	kick_drain(b);
}

static void on_expire_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	batch_t *b = t->data;
	if (b->spool)
		spool_expire(b->spool, (int64_t)(ev_time() * 1e9));
}

/* ---- public ---- */

static void apply_defaults(batch_options *o)
{
	if (o->interval_s <= 0)
		o->interval_s = 10;
	if (o->batch_size == 0)
		o->batch_size = 10;
	if (o->upload_concurrency <= 0)
		o->upload_concurrency = 4;
	if (o->max_queue == 0)
		o->max_queue = 1000;
	if (o->max_queue_bytes == 0)
		o->max_queue_bytes = budget_limit(o->budget) ? budget_limit(o->budget) / 2
							     : BATCH_DEFAULT_MAX_QUEUE_BYTES;
	if (o->spool_drain_rate <= 0)
		o->spool_drain_rate = 5;
	if (o->backoff_initial_s <= 0)
		o->backoff_initial_s = 1;
	if (o->backoff_max_s < o->backoff_initial_s)
		o->backoff_max_s = o->backoff_initial_s > 60 ? o->backoff_initial_s : 60;
	if (o->expire_interval_s <= 0)
		o->expire_interval_s = 60;
}

static void on_grace_timer(struct ev_loop *ev, ev_timer *t, int revents);

batch_t *batch_new(loop_t *loop, profefe_client *client, spool_t *spool,
		   const batch_options *opt)
{
	batch_t *b = xcalloc(1, sizeof(*b));
	b->loop = loop;
	b->ev = loop_ev(loop);
	b->client = client;
	b->spool = spool;
	if (opt)
		b->opt = *opt;
	apply_defaults(&b->opt);
	b->state = BATCH_UP;
	b->backoff = b->opt.backoff_initial_s;
	list_init(&b->queue.head);
	list_init(&b->inflight);
	suspects_init(&b->suspects, spool);

	ev_timer_init(&b->flush_timer, on_flush_timer, b->opt.interval_s, b->opt.interval_s);
	ev_timer_init(&b->drain_timer, on_drain_timer, 0, 1.0 / b->opt.spool_drain_rate);
	ev_timer_init(&b->probe_timer, on_probe_timer, 0, 0);
	ev_timer_init(&b->expire_timer, on_expire_timer, b->opt.expire_interval_s,
		      b->opt.expire_interval_s);
	ev_timer_init(&b->grace_timer, on_grace_timer, 0, 0);
	b->flush_timer.data = b->drain_timer.data = b->probe_timer.data = b;
	b->expire_timer.data = b->grace_timer.data = b;
	ev_timer_start(b->ev, &b->flush_timer);
	ev_timer_start(b->ev, &b->expire_timer);
	kick_drain(b);
	update_depth(b);
	return b;
}

int batch_submit(batch_t *b, const batch_profile *p, unsigned char *data, size_t len)
{
	struct item *it = xcalloc(1, sizeof(*it));
	it->b = b;
	it->service = xstrdup(p->service ? p->service : "");
	it->type = xstrdup(p->type ? p->type : "");
	it->labels = xstrdup(p->labels ? p->labels : "");
	it->time_ns = p->time_ns;
	it->data = data;
	it->len = len;
	if (stopping(b)) {
		drop(it, "shutdown", "submitted after shutdown began");
		return -1;
	}
	keep_in_memory(b, it, 0);
	/* Flush by count, or early by size so the queue stays well inside its bound. */
	if (flush_due_by_size(b))
		flush(b);
	return 0;
}

/* Cancels in-flight uploads and writes what is in memory to the spool. */
static void spool_everything(batch_t *b)
{
	while (!list_empty(&b->inflight)) {
		struct item *it = LIST_ENTRY(list_first(&b->inflight), struct item, node);
		list_remove(&it->node);
		b->n_inflight--;
		profefe_cancel(it->req);
		if (it->spool_name) {
			b->replays_inflight--;
			spool_release(b->spool, it->spool_name);
			item_free(it);
		} else {
			queue_push(&b->queue, it, 0);
		}
	}
	if (b->spool) {
		spool_queue(b, UNWRITTEN_DROP);
	} else {
		struct item *it;
		while ((it = queue_pop(&b->queue)) != NULL)
			drop(it, "shutdown", "no spool");
	}
	update_depth(b);
}

static void finish(batch_t *b)
{
	spool_everything(b);
	set_state(b, BATCH_STOPPED);
	batch_done_fn done = b->done;
	b->done = NULL;
	if (done)
		done(b->done_arg);
}

static void on_grace_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	finish(t->data);
}

static void check_finished(batch_t *b)
{
	if (b->state == BATCH_STOPPED || !stopping(b) || !b->done || b->n_inflight > 0)
		return;
	if (b->queue.n == 0 || b->state == BATCH_STOPPING_DOWN) {
		/* from the loop, but not from inside an upload's callback chain */
		ev_timer_stop(b->ev, &b->grace_timer);
		ev_timer_set(&b->grace_timer, 0, 0);
		ev_timer_start(b->ev, &b->grace_timer);
	}
}

void batch_shutdown(batch_t *b, double grace_s, batch_done_fn done, void *arg)
{
	b->done = done;
	b->done_arg = arg;
	set_state(b, profefe_up(b) ? BATCH_STOPPING : BATCH_STOPPING_DOWN);
	ev_timer_set(&b->grace_timer, grace_s > 0 ? grace_s : 0, 0);
	ev_timer_start(b->ev, &b->grace_timer);
	pump(b);
	check_finished(b);
}

void batch_free(batch_t *b)
{
	if (!b)
		return;
	ev_timer_stop(b->ev, &b->flush_timer);
	ev_timer_stop(b->ev, &b->drain_timer);
	ev_timer_stop(b->ev, &b->probe_timer);
	ev_timer_stop(b->ev, &b->expire_timer);
	ev_timer_stop(b->ev, &b->grace_timer);
	while (!list_empty(&b->inflight)) {
		struct item *it = LIST_ENTRY(list_first(&b->inflight), struct item, node);
		list_remove(&it->node);
		profefe_cancel(it->req);
		if (it->spool_name && b->spool)
			spool_release(b->spool, it->spool_name);
		item_free(it);
	}
	struct item *it;
	while ((it = queue_pop(&b->queue)) != NULL)
		item_free(it);
	suspects_clear(&b->suspects);
	free(b);
}
