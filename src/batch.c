/* batch: queue of profiles flushed to profefe on timers, with spooling, backoff and replay. */
#include "kprofefe/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/empty.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/pprof.h"
#include "kprofefe/xalloc.h"

struct item {
	char *service, *type, *labels;
	int64_t time_ns;
	uint32_t attempts;
	unsigned char *data;
	size_t len;               /* all of it is taken from the budget while in memory */
	char *spool_name;         /* a replayed spool entry, or NULL for a fresh profile */
	int probe;                /* sent as the probe while profefe is down */
	profefe_request *req;     /* while in flight */
	batch_t *b;
	struct item *prev, *next;
};

struct list {
	struct item *head, *tail;
	size_t n;
};

/*
 * A spooled entry profefe answered with an error of its own (500...) rather than
 * "unavailable". Parked (kept handed out) until the next upload profefe stores, so
 * the probes and the drain move on to other entries instead of retrying it forever.
 */
struct suspect {
	char *name;           /* the spool entry */
	unsigned failures;    /* such answers while profefe was storing other profiles */
	int parked;
	struct suspect *next;
};

struct batch {
	loop_t *loop;
	struct ev_loop *ev;
	profefe_client *client;
	spool_t *spool;
	batch_options opt;
	struct list queue;        /* in memory, oldest first */
	size_t queue_bytes;       /* of the profiles in queue */
	struct list inflight;
	struct suspect *suspects;
	size_t replays_inflight;
	int up;
	int flushing;
	double backoff;
	int shutting_down;
	batch_done_fn done;
	void *done_arg;
	ev_timer flush_timer, drain_timer, probe_timer, expire_timer, grace_timer;
};

/* ---- lists ---- */

static void list_push_back(struct list *l, struct item *it)
{
	it->next = NULL;
	it->prev = l->tail;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->n++;
}

static void list_push_front(struct list *l, struct item *it)
{
	it->prev = NULL;
	it->next = l->head;
	if (l->head)
		l->head->prev = it;
	else
		l->tail = it;
	l->head = it;
	l->n++;
}

static void list_remove(struct list *l, struct item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		l->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		l->tail = it->prev;
	it->prev = it->next = NULL;
	l->n--;
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

/* ---- metrics ---- */

size_t batch_queue_depth(const batch_t *b)
{
	return b->queue.n + (b->inflight.n - b->replays_inflight);
}

int batch_profefe_up(const batch_t *b)
{
	return b->up;
}

static size_t queue_bytes(const batch_t *b)
{
	size_t n = 0;
	for (const struct item *it = b->queue.head; it; it = it->next)
		n += it->len;
	return n;
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

/* Writes a fresh profile to the spool; on success frees it and returns 0. */
static int spool_item(batch_t *b, struct item *it, char *err, size_t errlen)
{
	if (!b->spool) {
		snprintf(err, errlen, "no spool");
		return -1;
	}
	spool_entry e = {NULL, it->service, it->type, it->labels, it->time_ns, it->attempts,
			 it->data, it->len};
	if (spool_put(b->spool, &e, err, errlen) != 0)
		return -1;
	item_free(it);
	return 0;
}

static int queue_over(const batch_t *b)
{
	return b->queue.n > b->opt.max_queue || queue_bytes(b) > b->opt.max_queue_bytes;
}

/* Keeps a profile in memory, oldest first, within max_queue and max_queue_bytes: past
 * them the oldest goes to the spool, or is dropped when it cannot be written. */
static void keep_in_memory(batch_t *b, struct item *it, int front)
{
	if (front)
		list_push_front(&b->queue, it);
	else
		list_push_back(&b->queue, it);
	while (queue_over(b) && b->queue.head != it) {
		struct item *old = b->queue.head;
		char err[512] = "in-memory queue full";
		list_remove(&b->queue, old);
		if (b->spool && !b->shutting_down && spool_item(b, old, err, sizeof(err)) == 0)
			continue;
		drop(old, "full", err);
	}
	update_depth(b);
}

/* A fresh profile that could not be uploaded now: spool it, else keep it. */
static void defer(batch_t *b, struct item *it, int front)
{
	char err[512];
	if (b->spool && spool_item(b, it, err, sizeof(err)) == 0) {
		update_depth(b);
		return;
	}
	if (b->spool)
		log_event(LOG_WARN, "spool write failed; keeping profile in memory", "service",
			  it->service, "type", it->type, "error", err, NULL);
	keep_in_memory(b, it, front);
}

/* ---- entries profefe keeps failing ---- */

/* After this many error answers while profefe stores other profiles, a spooled entry
 * is taken for one profefe cannot store (such as a body it cannot parse: a 500) and
 * moved to rejected/, so it cannot hold up the spool forever. */
#define POISON_FAILURES 3

static struct suspect **suspect_link(batch_t *b, const char *name)
{
	struct suspect **l = &b->suspects;
	while (*l && strcmp((*l)->name, name) != 0)
		l = &(*l)->next;
	return l;
}

static void suspect_forget(batch_t *b, const char *name)
{
	struct suspect **l = suspect_link(b, name);
	struct suspect *sp = *l;
	if (!sp)
		return;
	*l = sp->next;
	free(sp->name);
	free(sp);
}

static void suspects_clear(batch_t *b)
{
	while (b->suspects) {
		struct suspect *sp = b->suspects;
		b->suspects = sp->next;
		if (sp->parked && b->spool)
			spool_release(b->spool, sp->name);
		free(sp->name);
		free(sp);
	}
}

/* A success: parked entries may be tried again (they are still the oldest). */
static void release_parked(batch_t *b)
{
	struct suspect **l = &b->suspects;
	while (*l) {
		struct suspect *sp = *l;
		if (sp->parked) {
			sp->parked = 0;
			spool_release(b->spool, sp->name);
		}
		l = &sp->next;
	}
}

/* An answer about this profile rather than about profefe's availability: 502/503/504
 * (a proxy or profefe saying it is unavailable), 408 and 429 say nothing about it. */
static int answer_about_profile(const profefe_upload_result *res)
{
	return res->status >= 500 && res->status != 502 && res->status != 503 &&
	       res->status != 504;
}

/*
 * A replayed entry got RETRY. Returns 1 when it was judged unstorable and moved to
 * rejected/; otherwise it is parked (an error answer) or released (unavailable).
 */
static int replay_failed(batch_t *b, const struct item *it, const profefe_upload_result *res)
{
	if (!answer_about_profile(res)) {
		spool_release(b->spool, it->spool_name);
		return 0;
	}
	struct suspect **l = suspect_link(b, it->spool_name);
	if (!*l) {
		*l = xcalloc(1, sizeof(**l));
		(*l)->name = xstrdup(it->spool_name);
	}
	struct suspect *sp = *l;
	/* Only while up (the last upload was stored) does an error say something about
	 * this profile; during an outage every upload fails. */
	if (b->up)
		sp->failures++;
	if (sp->failures < POISON_FAILURES) {
		sp->parked = 1;
		return 0;
	}
	char status[16], failures[16];
	snprintf(status, sizeof(status), "%ld", res->status);
	snprintf(failures, sizeof(failures), "%u", sp->failures);
	log_event(LOG_WARN, "profefe keeps failing a spooled profile while storing others; "
		  "moved to rejected/", "service", it->service, "type", it->type, "status", status,
		  "error", res->message, "failures", failures, "entry", it->spool_name, NULL);
	suspect_forget(b, it->spool_name);
	spool_reject(b->spool, it->spool_name);
	return 1;
}

/* ---- uploads ---- */

static void start_upload(batch_t *b, struct item *it);
static void pump(batch_t *b);
static void kick_drain(batch_t *b);
static void check_finished(batch_t *b);
static void on_grace_timer(struct ev_loop *ev, ev_timer *t, int revents);

/* profefe went down: what waits in memory goes to disk, where a crash cannot lose it
 * and from where it is replayed in order with everything else. */
static void spool_queue(batch_t *b)
{
	if (!b->spool)
		return;
	struct list waiting = b->queue;
	memset(&b->queue, 0, sizeof(b->queue));
	while (waiting.head) {
		struct item *it = waiting.head;
		list_remove(&waiting, it);
		defer(b, it, 0); /* what cannot be written goes back to the queue, in order */
	}
}

static void go_down(batch_t *b, const struct item *it, const char *why)
{
	if (b->up) {
		b->up = 0;
		b->backoff = b->opt.backoff_initial_s;
		log_event(LOG_WARN, "profefe unavailable; spooling until it answers", "error", why,
			  NULL);
		spool_queue(b);
	} else if (it->probe) {
		b->backoff *= 2;
		if (b->backoff > b->opt.backoff_max_s)
			b->backoff = b->opt.backoff_max_s;
	}
	ev_timer_stop(b->ev, &b->drain_timer);
	if (!ev_is_active(&b->probe_timer) && !b->shutting_down) {
		ev_timer_set(&b->probe_timer, b->backoff, 0);
		ev_timer_start(b->ev, &b->probe_timer);
	}
}

static void go_up(batch_t *b)
{
	if (b->up)
		return;
	b->up = 1;
	b->backoff = b->opt.backoff_initial_s;
	ev_timer_stop(b->ev, &b->probe_timer);
	if (b->queue.head)
		b->flushing = 1; /* what waited in memory goes now */
	log_event(LOG_INFO, "profefe reachable again", NULL);
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
		suspect_forget(b, it->spool_name);
		spool_remove(b->spool, it->spool_name);
	}
	return 1;
}

static void on_uploaded(const profefe_upload_result *res, void *arg)
{
	struct item *it = arg;
	batch_t *b = it->b;
	list_remove(&b->inflight, it);
	it->req = NULL;
	if (it->spool_name)
		b->replays_inflight--;
	const char *result = res->outcome == PROFEFE_OK ? "ok"
			     : res->outcome == PROFEFE_REJECTED ? "rejected" : "retry";
	metrics_add(METRIC_UPLOADS_TOTAL, 1, "type", it->type, "result", result, NULL);

	if (res->outcome == PROFEFE_OK || res->outcome == PROFEFE_REJECTED) {
		if (res->outcome == PROFEFE_OK) {
			metrics_add(METRIC_UPLOAD_BYTES_TOTAL, (double)it->len, NULL);
			metrics_set(METRIC_LAST_UPLOAD_SUCCESS_TIMESTAMP_SECONDS, ev_time(), NULL);
			if (it->spool_name) {
				log_event(LOG_DEBUG, "spooled profile stored", "entry", it->spool_name,
					  "id", res->id, NULL);
				suspect_forget(b, it->spool_name);
				spool_remove(b->spool, it->spool_name);
			}
			if (b->spool)
				release_parked(b);
		} else if (refused_empty(b, it)) {
			/* said and counted there */
		} else {
			char status[16];
			snprintf(status, sizeof(status), "%ld", res->status);
			log_event(LOG_WARN, "profefe rejected profile", "service", it->service, "type",
				  it->type, "status", status, "error", res->message, "spooled",
				  it->spool_name ? it->spool_name : "no", NULL);
			if (it->spool_name) {
				suspect_forget(b, it->spool_name);
				spool_reject(b->spool, it->spool_name);
			}
		}
		item_free(it);
		go_up(b);
		kick_drain(b);
	} else {
		log_event(LOG_INFO, "upload to retry", "service", it->service, "type", it->type,
			  "error", res->message, NULL);
		if (it->spool_name) {
			/* judged before go_down: whether profefe was up says what the error means */
			if (!replay_failed(b, it, res))
				go_down(b, it, res->message);
			item_free(it);
		} else {
			go_down(b, it, res->message);
			it->attempts++;
			it->probe = 0;
			defer(b, it, 1);
		}
	}
	update_depth(b);
	pump(b);
	check_finished(b);
}

static void start_upload(batch_t *b, struct item *it)
{
	it->b = b;
	list_push_back(&b->inflight, it);
	if (it->spool_name)
		b->replays_inflight++;
	it->req = profefe_upload_at(b->client, it->service, it->type, it->labels, it->time_ns,
				    it->data, it->len, on_uploaded, it);
}

/* Starts queued uploads while profefe is up, a flush is due and slots are free. */
static void pump(batch_t *b)
{
	if (!b->up)
		return;
	while (b->flushing && b->queue.head &&
	       b->inflight.n < (size_t)b->opt.upload_concurrency) {
		struct item *it = b->queue.head;
		list_remove(&b->queue, it);
		start_upload(b, it);
	}
	if (!b->queue.head && !b->shutting_down)
		b->flushing = 0;
}

static void flush(batch_t *b)
{
	b->flushing = 1;
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

static void on_drain_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)revents;
	batch_t *b = t->data;
	if (!b->up || b->shutting_down || !b->spool || spool_available(b->spool) == 0) {
		ev_timer_stop(ev, t);
		return;
	}
	if (b->replays_inflight >= replay_slots(b) ||
	    b->inflight.n >= (size_t)b->opt.upload_concurrency)
		return;
	if (!replay_one(b, 0))
		ev_timer_stop(ev, t);
}

static void kick_drain(batch_t *b)
{
	if (!b->spool || !b->up || b->shutting_down || ev_is_active(&b->drain_timer) ||
	    spool_available(b->spool) == 0)
		return;
	ev_timer_again(b->ev, &b->drain_timer);
}

static void on_probe_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	batch_t *b = t->data;
	if (b->shutting_down)
		return;
	struct item *it = b->queue.head;
	if (it) {
		list_remove(&b->queue, it);
		it->probe = 1;
		start_upload(b, it);
		return;
	}
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
	if (b->opt.interval_s <= 0)
		b->opt.interval_s = 10;
	if (b->opt.batch_size == 0)
		b->opt.batch_size = 10;
	if (b->opt.upload_concurrency <= 0)
		b->opt.upload_concurrency = 4;
	if (b->opt.max_queue == 0)
		b->opt.max_queue = 1000;
	if (b->opt.max_queue_bytes == 0)
		b->opt.max_queue_bytes = budget_limit(b->opt.budget) ? budget_limit(b->opt.budget) / 2
							       : BATCH_DEFAULT_MAX_QUEUE_BYTES;
	if (b->opt.spool_drain_rate <= 0)
		b->opt.spool_drain_rate = 5;
	if (b->opt.backoff_initial_s <= 0)
		b->opt.backoff_initial_s = 1;
	if (b->opt.backoff_max_s < b->opt.backoff_initial_s)
		b->opt.backoff_max_s = b->opt.backoff_initial_s > 60 ? b->opt.backoff_initial_s : 60;
	if (b->opt.expire_interval_s <= 0)
		b->opt.expire_interval_s = 60;
	b->up = 1;
	b->backoff = b->opt.backoff_initial_s;

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
	if (b->shutting_down) {
		drop(it, "shutdown", "submitted after shutdown began");
		return -1;
	}
	if (!b->up) {
		/* profefe is down: straight to disk rather than piling up in memory */
		defer(b, it, 0);
		return 0;
	}
	keep_in_memory(b, it, 0);
	/* Flush by count, or early by size so the queue stays well inside its bound. */
	if (b->queue.n >= b->opt.batch_size || queue_bytes(b) >= b->opt.max_queue_bytes / 2)
		flush(b);
	return 0;
}

/* Cancels in-flight uploads and writes what is in memory to the spool. */
static void spool_everything(batch_t *b)
{
	while (b->inflight.head) {
		struct item *it = b->inflight.head;
		list_remove(&b->inflight, it);
		profefe_cancel(it->req);
		if (it->spool_name) {
			b->replays_inflight--;
			spool_release(b->spool, it->spool_name);
			item_free(it);
		} else {
			list_push_back(&b->queue, it);
		}
	}
	while (b->queue.head) {
		struct item *it = b->queue.head;
		list_remove(&b->queue, it);
		char err[512];
		if (spool_item(b, it, err, sizeof(err)) != 0)
			drop(it, "shutdown", err);
	}
	update_depth(b);
}

static void finish(batch_t *b)
{
	ev_timer_stop(b->ev, &b->grace_timer);
	spool_everything(b);
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
	if (!b->shutting_down || !b->done || b->inflight.n > 0)
		return;
	if (b->queue.n == 0 || !b->up) {
		/* from the loop, but not from inside an upload's callback chain */
		ev_timer_stop(b->ev, &b->grace_timer);
		ev_timer_set(&b->grace_timer, 0, 0);
		ev_timer_start(b->ev, &b->grace_timer);
	}
}

void batch_shutdown(batch_t *b, double grace_s, batch_done_fn done, void *arg)
{
	b->shutting_down = 1;
	b->done = done;
	b->done_arg = arg;
	ev_timer_stop(b->ev, &b->flush_timer);
	ev_timer_stop(b->ev, &b->drain_timer);
	ev_timer_stop(b->ev, &b->probe_timer);
	ev_timer_stop(b->ev, &b->expire_timer);
	ev_timer_set(&b->grace_timer, grace_s > 0 ? grace_s : 0, 0);
	ev_timer_start(b->ev, &b->grace_timer);
	flush(b);
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
	while (b->inflight.head) {
		struct item *it = b->inflight.head;
		list_remove(&b->inflight, it);
		profefe_cancel(it->req);
		if (it->spool_name && b->spool)
			spool_release(b->spool, it->spool_name);
		item_free(it);
	}
	while (b->queue.head) {
		struct item *it = b->queue.head;
		list_remove(&b->queue, it);
		item_free(it);
	}
	suspects_clear(b);
	free(b);
}
