/* kube_watch: list+watch of pods that keeps an owner in sync, with re-list on 410 Gone and
 * backoff on errors; plus its testable parts (line splitting, events, the pod cache). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kprofefe/kube.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"
#include "kube_internal.h"

#define KUBE_EVENT_MAX (4u * 1024 * 1024)
#define KUBE_WATCH_LIST_MAX (512u * 1024 * 1024)
/* Pods per page of the initial list (limit=): the JSON of a page and its parse tree are
 * what the list holds at once, about 4 KiB and 16 KiB a pod, so a node of 250 pods
 * costs a page's worth, not the 5 MiB of one answer. */
#define KUBE_WATCH_LIST_PAGE 100
#define KUBE_BACKOFF_FIRST 0.5
#define KUBE_BACKOFF_MAX 30.0

/* ---- lines ----------------------------------------------------------------------------- */

int kube_lines_feed(kube_lines *l, const void *data, size_t len, kube_line_fn fn, void *arg)
{
	const char *p = data, *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t chunk = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l->pending.len + chunk > l->max)
			return -1;
		buf_append(&l->pending, p, chunk);
		p += chunk;
		if (nl == NULL)
			break;
		p++; /* the '\n' */
		/* A line of only "\r" or nothing carries no event. */
		if (l->pending.len > 0 && l->pending.data[l->pending.len - 1] == '\r')
			l->pending.data[--l->pending.len] = '\0';
		if (l->pending.len > 0) {
			int stop = fn((const char *)l->pending.data, l->pending.len, arg);

			buf_reset(&l->pending);
			if (stop)
				return 1;
		}
	}
	return 0;
}

void kube_lines_free(kube_lines *l)
{
	buf_free(&l->pending);
}

/* ---- events ---------------------------------------------------------------------------- */

void kube_event_clear(kube_event *ev)
{
	kube_pod_free(ev->pod);
	free(ev->resource_version);
	free(ev->message);
	memset(ev, 0, sizeof(*ev));
}

static int event_type(const char *s, enum kube_event_type *t)
{
	static const struct {
		const char *name;
		enum kube_event_type type;
	} types[] = {{"ADDED", KUBE_EV_ADDED},       {"MODIFIED", KUBE_EV_MODIFIED},
		     {"DELETED", KUBE_EV_DELETED},   {"BOOKMARK", KUBE_EV_BOOKMARK},
		     {"ERROR", KUBE_EV_ERROR}};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(s, types[i].name) == 0) {
			*t = types[i].type;
			return 0;
		}
	}
	return -1;
}

int kube_event_parse(const char *line, kube_event *ev, char *err, size_t errlen)
{
	char perr[256], perr2[256];
	yajl_val root = yajl_tree_parse(line, perr, sizeof(perr));
	yajl_val obj, code;
	const char *type, *s;
	int rc = -1;

	memset(ev, 0, sizeof(*ev));
	if (root == NULL)
		return kube_errf(err, errlen, "watch event is not valid JSON: %s", perr);
	obj = kube_json_get(root, "object");
	if (kube_json_str(root, "type", &type) < 0 || type == NULL || event_type(type, &ev->type) < 0) {
		kube_errf(err, errlen, "watch event has no known type");
		goto out;
	}
	if (!YAJL_IS_OBJECT(obj)) {
		kube_errf(err, errlen, "watch event %s has no object", type);
		goto out;
	}
	switch (ev->type) {
	case KUBE_EV_ERROR:
		code = kube_json_get(obj, "code");
		ev->code = YAJL_IS_INTEGER(code) ? (long)YAJL_GET_INTEGER(code) : 0;
		if (kube_json_str(obj, "message", &s) == 0 && s != NULL)
			ev->message = xstrdup(s);
		break;
	case KUBE_EV_BOOKMARK:
		if (kube_json_str(kube_json_get(obj, "metadata"), "resourceVersion", &s) < 0 ||
		    s == NULL) {
			kube_errf(err, errlen, "watch BOOKMARK has no metadata.resourceVersion");
			goto out;
		}
		ev->resource_version = xstrdup(s);
		break;
	default:
		ev->pod = kube_pod_from_json(obj, perr2, sizeof(perr2));
		if (ev->pod == NULL) {
			kube_errf(err, errlen, "watch %s event: %s", type, perr2);
			goto out;
		}
		if (ev->pod->resource_version[0] != '\0')
			ev->resource_version = xstrdup(ev->pod->resource_version);
		break;
	}
	rc = 0;
out:
	if (rc < 0)
		kube_event_clear(ev);
	yajl_tree_free(root);
	return rc;
}

/* ---- the pod cache --------------------------------------------------------------------- */

struct cache_entry {
	char *ns;
	char *name;
	char *uid;
	unsigned gen;
	struct cache_entry *next;
};

struct kube_pod_cache {
	struct cache_entry **buckets;
	size_t n_buckets;
	size_t n;
	unsigned gen;
};

kube_pod_cache *kube_pod_cache_new(void)
{
	kube_pod_cache *c = xcalloc(1, sizeof(*c));

	c->n_buckets = 64;
	c->buckets = xcalloc(c->n_buckets, sizeof(*c->buckets));
	return c;
}

static void entry_free(struct cache_entry *e)
{
	free(e->ns);
	free(e->name);
	free(e->uid);
	free(e);
}

void kube_pod_cache_free(kube_pod_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_buckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	free(c->buckets);
	free(c);
}

size_t kube_pod_cache_size(const kube_pod_cache *c)
{
	return c->n;
}

static size_t key_hash(const char *ns, const char *name)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	const unsigned char *p;

	for (p = (const unsigned char *)ns; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	h = (h ^ '/') * 1099511628211u;
	for (p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return (size_t)h;
}

static struct cache_entry **find_slot(const kube_pod_cache *c, const char *ns, const char *name)
{
	struct cache_entry **slot = &c->buckets[key_hash(ns, name) % c->n_buckets];

	while (*slot != NULL && (strcmp((*slot)->ns, ns) != 0 || strcmp((*slot)->name, name) != 0))
		slot = &(*slot)->next;
	return slot;
}

const char *kube_pod_cache_uid(const kube_pod_cache *c, const char *ns, const char *name)
{
	struct cache_entry *e = *find_slot(c, ns, name);

	return e ? e->uid : NULL;
}

static void grow(kube_pod_cache *c)
{
	size_t n = c->n_buckets * 2, i;
	struct cache_entry **b = xcalloc(n, sizeof(*b));

	for (i = 0; i < c->n_buckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			size_t h = key_hash(e->ns, e->name) % n;

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->n_buckets = n;
}

static struct cache_entry *insert(kube_pod_cache *c, const kube_pod *pod)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e)), **slot;

	if (c->n + 1 > c->n_buckets)
		grow(c);
	e->ns = xstrdup(pod->ns);
	e->name = xstrdup(pod->name);
	e->uid = xstrdup(pod->uid);
	e->gen = c->gen;
	slot = &c->buckets[key_hash(pod->ns, pod->name) % c->n_buckets];
	e->next = *slot;
	*slot = e;
	c->n++;
	return e;
}

static int stopping(const int *stop)
{
	return stop != NULL && *stop;
}

static void emit_stub_delete(const struct cache_entry *e, const kube_pod_watch_callbacks *cb)
{
	kube_pod *stub;

	if (cb->on_delete == NULL)
		return;
	stub = kube_pod_stub(e->ns, e->name, e->uid);
	cb->on_delete(stub, cb->arg);
	kube_pod_free(stub);
}

/* Records pod as known, replacing (and reporting gone) an older pod of the same name. */
static void upsert(kube_pod_cache *c, const kube_pod *pod, const kube_pod_watch_callbacks *cb,
		   const int *stop)
{
	struct cache_entry *e = *find_slot(c, pod->ns, pod->name);

	if (e == NULL) {
		insert(c, pod);
	} else {
		e->gen = c->gen;
		if (strcmp(e->uid, pod->uid) != 0) {
			emit_stub_delete(e, cb);
			free(e->uid);
			e->uid = xstrdup(pod->uid);
			if (stopping(stop))
				return;
		}
	}
	if (cb->on_pod != NULL)
		cb->on_pod(pod, cb->arg);
}

void kube_pod_cache_sync(kube_pod_cache *c, const kube_pod_list *list,
			 const kube_pod_watch_callbacks *cb, const int *stop)
{
	struct cache_entry **gone = NULL;
	size_t n_gone = 0, i;

	c->gen++;
	/* Mark what the list still has, then drop (and report) the rest before adding. */
	for (i = 0; i < list->n; i++) {
		struct cache_entry *e = *find_slot(c, list->pods[i]->ns, list->pods[i]->name);

		if (e != NULL)
			e->gen = c->gen;
	}
	for (i = 0; i < c->n_buckets; i++) {
		struct cache_entry **slot = &c->buckets[i];

		while (*slot != NULL) {
			struct cache_entry *e = *slot;

			if (e->gen == c->gen) {
				slot = &e->next;
				continue;
			}
			*slot = e->next;
			c->n--;
			gone = xrealloc(gone, (n_gone + 1) * sizeof(*gone));
			gone[n_gone++] = e;
		}
	}
	for (i = 0; i < n_gone; i++) {
		if (!stopping(stop))
			emit_stub_delete(gone[i], cb);
		entry_free(gone[i]);
	}
	free(gone);
	for (i = 0; i < list->n && !stopping(stop); i++)
		upsert(c, list->pods[i], cb, stop);
}

void kube_pod_cache_apply(kube_pod_cache *c, enum kube_event_type type, const kube_pod *pod,
			  const kube_pod_watch_callbacks *cb, const int *stop)
{
	struct cache_entry **slot, *e;

	if (type == KUBE_EV_ADDED || type == KUBE_EV_MODIFIED) {
		upsert(c, pod, cb, stop);
		return;
	}
	if (type != KUBE_EV_DELETED)
		return;
	slot = find_slot(c, pod->ns, pod->name);
	e = *slot;
	/* A delete of an instance we never knew (or already replaced) changes nothing. */
	if (e == NULL || strcmp(e->uid, pod->uid) != 0)
		return;
	*slot = e->next;
	c->n--;
	entry_free(e);
	if (cb->on_delete != NULL)
		cb->on_delete(pod, cb->arg);
}

/* ---- backoff --------------------------------------------------------------------------- */

double kube_backoff_next(kube_backoff *b, double r)
{
	double step = b->next > 0 ? b->next : KUBE_BACKOFF_FIRST;

	b->next = step * 2 > KUBE_BACKOFF_MAX ? KUBE_BACKOFF_MAX : step * 2;
	return step * (0.5 + r / 2);
}

void kube_backoff_reset(kube_backoff *b)
{
	b->next = 0;
}

/* ---- the watcher ----------------------------------------------------------------------- */

enum watch_phase { PHASE_LIST, PHASE_WATCH };

struct kube_pod_watch {
	kube_client *kc;
	char *selectors; /* "&fieldSelector=...&labelSelector=..." escaped, or "" */
	kube_pod_watch_callbacks cb;
	kube_pod_cache *cache;
	kube_pod_list *pages; /* the pages of the list so far, while it has more */
	char *rv;
	kube_call *call;
	enum watch_phase phase;
	ev_timer retry;
	kube_backoff backoff;
	unsigned rand_state;

	/* state of the current watch stream */
	kube_lines lines;
	int got_events;
	int gone;
	char *stream_error;
	char *first_line; /* kept to explain a non-200 answer */

	int stopped;
	int dispatching;
};

static void do_list(kube_pod_watch *w);
static void list_page(kube_pod_watch *w, const char *continue_token);
static void do_watch(kube_pod_watch *w);

static double rand01(kube_pod_watch *w)
{
	w->rand_state = w->rand_state * 1103515245u + 12345u;
	return (double)((w->rand_state >> 8) & 0xffffff) / (double)0x1000000;
}

static void watch_free(kube_pod_watch *w)
{
	ev_timer_stop(loop_ev(kube_client_loop(w->kc)), &w->retry);
	kube_pod_cache_free(w->cache);
	kube_pod_list_free(w->pages);
	kube_lines_free(&w->lines);
	free(w->selectors);
	free(w->rv);
	free(w->stream_error);
	free(w->first_line);
	free(w);
}

void kube_pod_watch_stop(kube_pod_watch *w)
{
	if (w == NULL || w->stopped)
		return;
	w->stopped = 1;
	ev_timer_stop(loop_ev(kube_client_loop(w->kc)), &w->retry);
	if (w->dispatching > 0)
		return; /* the callback we are in frees w when it unwinds */
	if (w->call != NULL)
		kube_call_cancel(w->call);
	watch_free(w);
}

/* Leaves a callback: frees w when the owner stopped it meanwhile. Returns 1 then. */
static int leave(kube_pod_watch *w)
{
	w->dispatching--;
	if (w->stopped && w->dispatching == 0 && w->call == NULL) {
		watch_free(w);
		return 1;
	}
	return 0;
}

static void restart_count(const char *reason)
{
	metrics_add(METRIC_WATCH_RESTARTS_TOTAL, 1, "reason", reason, NULL);
}

static void on_retry(struct ev_loop *ev, ev_timer *t, int revents)
{
	kube_pod_watch *w = t->data;

	(void)revents;
	ev_timer_stop(ev, t);
	if (w->phase == PHASE_WATCH && w->rv != NULL)
		do_watch(w);
	else
		do_list(w);
}

/* Logs one line about the failure and schedules the next attempt with backoff. */
static void fail(kube_pod_watch *w, const char *what, const char *reason, const char *why)
{
	double delay = kube_backoff_next(&w->backoff, rand01(w));
	char secs[32];

	snprintf(secs, sizeof(secs), "%.1f", delay);
	log_event(LOG_WARN, "kubernetes pod watch failed, retrying", "request", what, "error", why,
		  "retry_in_s", secs, NULL);
	restart_count(reason);
	ev_timer_set(&w->retry, delay, 0.);
	ev_timer_start(loop_ev(kube_client_loop(w->kc)), &w->retry);
}

/* A one-line reason for a non-200 answer, with the API's Status message when there is one. */
static char *status_text(long status, const char *body)
{
	char perr[64];
	yajl_val root = body ? yajl_tree_parse(body, perr, sizeof(perr)) : NULL;
	const char *msg = NULL;
	char *s;

	kube_json_str(root, "message", &msg);
	s = xasprintf("HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
	yajl_tree_free(root);
	return s;
}

static const char *status_reason(long status)
{
	if (status == 401 || status == 403)
		return "unauthorized";
	return "http_error";
}

static void list_done(const http_response *resp, void *arg)
{
	kube_pod_watch *w = arg;
	char err[512];
	kube_pod_list *list;
	char *why;

	w->call = NULL;
	w->dispatching++;
	if (w->stopped)
		goto out;
	if (!resp->ok) {
		fail(w, "list", "error", resp->error);
		goto out;
	}
	if (resp->status != 200) {
		why = status_text(resp->status, (const char *)resp->body);
		fail(w, "list", status_reason(resp->status), why);
		free(why);
		goto out;
	}
	list = kube_pod_list_parse((const char *)resp->body, err, sizeof(err));
	if (list == NULL) {
		fail(w, "list", "bad_response", err);
		goto out;
	}
	kube_backoff_reset(&w->backoff);
	w->pages = kube_pod_list_join(w->pages, list);
	if (w->pages->continue_token != NULL) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", w->pages->n);
		log_event(LOG_DEBUG, "pod list page read, more follow", "pods_so_far", n, NULL);
		list_page(w, w->pages->continue_token);
		goto out;
	}
	list = w->pages;
	w->pages = NULL;
	/* Every page is of one snapshot: the last one's resourceVersion is the list's. */
	free(w->rv);
	w->rv = xstrdup(list->resource_version);
	kube_pod_cache_sync(w->cache, list, &w->cb, &w->stopped);
	kube_pod_list_free(list);
	if (!w->stopped && w->cb.on_synced != NULL)
		w->cb.on_synced(w->cb.arg);
	if (!w->stopped)
		do_watch(w);
out:
	leave(w);
}

/* Lists from the first page: what an earlier, unfinished list gathered is dropped (its
 * continue token may have expired, and the answer of a fresh list is whole). */
static void do_list(kube_pod_watch *w)
{
	kube_pod_list_free(w->pages);
	w->pages = NULL;
	list_page(w, NULL);
}

static void list_page(kube_pod_watch *w, const char *continue_token)
{
	http_options opt;
	char *cont = continue_token ? http_escape(continue_token) : NULL;
	char *path = xasprintf("/api/v1/pods?limit=%d%s%s%s", KUBE_WATCH_LIST_PAGE, w->selectors,
			       cont ? "&continue=" : "", cont ? cont : "");

	free(cont);
	memset(&opt, 0, sizeof(opt));
	opt.max_body_bytes = KUBE_WATCH_LIST_MAX;
	opt.timeout_ms = 120000;
	opt.accept_encoding = 1;
	w->phase = PHASE_LIST;
	w->call = kube_request(w->kc, path, &opt, list_done, w);
	free(path);
}

/* One line of the stream: returns non-zero to end the stream. */
static int on_line(const char *line, size_t len, void *arg)
{
	kube_pod_watch *w = arg;
	kube_event ev;
	char err[512];

	(void)len;
	if (kube_event_parse(line, &ev, err, sizeof(err)) < 0) {
		if (w->first_line == NULL && !w->got_events)
			w->first_line = xstrndup(line, 4096);
		w->stream_error = xstrdup(err);
		return 1;
	}
	w->got_events = 1;
	if (ev.type == KUBE_EV_ERROR) {
		if (ev.code == 410)
			w->gone = 1;
		else
			w->stream_error = xasprintf("watch ERROR event %ld: %s", ev.code,
						    ev.message ? ev.message : "");
		kube_event_clear(&ev);
		return 1;
	}
	if (ev.resource_version != NULL) {
		free(w->rv);
		w->rv = ev.resource_version;
		ev.resource_version = NULL;
	}
	if (ev.pod != NULL)
		kube_pod_cache_apply(w->cache, ev.type, ev.pod, &w->cb, &w->stopped);
	kube_event_clear(&ev);
	return w->stopped;
}

static int watch_data(const unsigned char *data, size_t len, void *arg)
{
	kube_pod_watch *w = arg;
	int rc;

	if (w->stopped)
		return 1;
	w->dispatching++;
	rc = kube_lines_feed(&w->lines, data, len, on_line, w);
	if (rc < 0)
		w->stream_error = xasprintf("watch event larger than %u bytes", KUBE_EVENT_MAX);
	w->dispatching--;
	/* Never freed here: the transfer is still running; watch_done frees. */
	return rc != 0 || w->stopped;
}

static void watch_done(const http_response *resp, void *arg)
{
	kube_pod_watch *w = arg;
	char *why;

	w->call = NULL;
	w->dispatching++;
	if (w->stopped)
		goto out;
	if (w->gone || resp->status == 410) {
		log_event(LOG_INFO, "kubernetes pod watch expired (410 Gone), listing again",
			  "resource_version", w->rv, NULL);
		restart_count("gone");
		do_list(w);
		goto out;
	}
	if (resp->status != 0 && resp->status != 200) {
		/* An error body is one JSON Status, often without a final newline. */
		why = status_text(resp->status, w->first_line ? w->first_line
							       : (const char *)w->lines.pending.data);
		fail(w, "watch", status_reason(resp->status), why);
		free(why);
		goto out;
	}
	if (w->stream_error != NULL) {
		fail(w, "watch", "bad_response", w->stream_error);
		goto out;
	}
	if (!resp->ok) {
		fail(w, "watch", "error", resp->error);
		goto out;
	}
	/* The server ended the stream (its timeout): watch on from where we are. A stream
	 * that ends at once without events must not spin, so it goes through backoff. */
	restart_count("stream_end");
	if (!w->got_events && resp->seconds < 1.0) {
		fail(w, "watch", "stream_end", "watch stream ended at once without events");
		goto out;
	}
	if (w->got_events)
		kube_backoff_reset(&w->backoff);
	do_watch(w);
out:
	leave(w);
}

static void do_watch(kube_pod_watch *w)
{
	http_options opt;
	char *rv = http_escape(w->rv ? w->rv : "");
	int timeout_s = 300 + (int)(rand01(w) * 300);
	char *path = xasprintf("/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
			       "&timeoutSeconds=%d%s", rv, timeout_s, w->selectors);

	buf_reset(&w->lines.pending);
	w->got_events = 0;
	w->gone = 0;
	free(w->stream_error);
	w->stream_error = NULL;
	free(w->first_line);
	w->first_line = NULL;
	memset(&opt, 0, sizeof(opt));
	opt.on_data = watch_data;
	/* The server ends the stream after timeoutSeconds; this only catches a hung one. */
	opt.timeout_ms = (long)(timeout_s + 60) * 1000;
	w->phase = PHASE_WATCH;
	w->call = kube_request(w->kc, path, &opt, watch_done, w);
	free(path);
	free(rv);
}

kube_pod_watch *kube_pod_watch_start(kube_client *kc, const char *field_selector,
				     const char *label_selector, const kube_pod_watch_callbacks *cb)
{
	kube_pod_watch *w = xcalloc(1, sizeof(*w));
	buf_t sel = BUF_INIT;
	char *e;

	w->kc = kc;
	w->cb = *cb;
	w->cache = kube_pod_cache_new();
	w->lines.max = KUBE_EVENT_MAX;
	w->rand_state = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
	if (field_selector != NULL && field_selector[0] != '\0') {
		e = http_escape(field_selector);
		buf_printf(&sel, "&fieldSelector=%s", e);
		free(e);
	}
	if (label_selector != NULL && label_selector[0] != '\0') {
		e = http_escape(label_selector);
		buf_printf(&sel, "&labelSelector=%s", e);
		free(e);
	}
	w->selectors = sel.data ? buf_detach(&sel) : xstrdup("");
	ev_timer_init(&w->retry, on_retry, 0., 0.);
	w->retry.data = w;
	do_list(w);
	return w;
}
