/* capture: the plugin's capture: find the pods, fetch every profile at once, save each. */
#include "kprofefe/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/buf.h"
#include "kprofefe/delta.h"
#include "kprofefe/fetch.h"
#include "kprofefe/progress.h"
#include "kprofefe/xalloc.h"

#define MAX_ATTEMPTS 1000 /* file names tried before giving up */

/* One profile of one pod. */
struct item {
	capture_run *run;
	pod_target *target;   /* its token is read again when it changes */
	enum pprof_type type;
	fetch *fetch;
	profefe_request *upload;
	unsigned char *data; /* held while the upload runs */
	char *labels;        /* the upload's: the pod's and whether it is a delta */
	char *where;         /* its file path or profefe URL once captured */
	ev_timer retry;      /* the profiler was busy: the next try */
	double first_try;    /* ev time of the first try */
	int busy;            /* the profiler was busy at least once */
};

/* One GET of a named pod, or the one LIST. */
struct lookup {
	capture_run *run;
	char *name; /* NULL for the list */
	kube_call *call;
};

struct capture_run {
	kube_client *kc;
	loop_t *loop;
	capture_options opt; /* a copy; its strings are borrowed */
	time_t now;
	struct lookup *lookups;
	size_t n_lookups, lookups_pending;
	pod_target **targets;
	size_t n_targets;
	struct item *items;
	size_t n_items, items_pending, timed_pending, busy_pending;
	progress_t *progress;
	capture_summary sum;
	ev_timer finish;
	capture_done_fn done;
	void *arg;
};

/* ---- reporting ----------------------------------------------------------------------------- */

static void report(capture_run *run, FILE *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(capture_run *run, FILE *f, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	line = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(line, (size_t)n + 1, fmt, ap);
	va_end(ap);
	/* Keep it one line whatever a server put in its message. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	progress_printf(run->progress, f, "%s", line);
	free(line);
}

static void pod_failed(capture_run *run, const char *ns, const char *name, const char *why)
{
	run->sum.failures++;
	report(run, run->opt.err, "error: pod %s/%s: %s", ns, name, why);
}

/* Why a request to the API server failed, naming the server. Caller frees. */
static char *api_failure(capture_run *run, const http_response *resp)
{
	const char *server = kube_config_server(kube_client_config(run->kc));
	const char *path[] = {"message", NULL};
	char perr[128];
	yajl_val root, msg;
	char *s;

	if (!resp->ok && (resp->failure == HTTP_FAIL_CONNECT || resp->failure == HTTP_FAIL_TLS ||
			  resp->failure == HTTP_FAIL_TIMEOUT))
		return xasprintf("cannot reach the API server %s: %s", server,
				 resp->error ? resp->error : "no connection");
	/* Also the credentials that could not be had (an exec plugin that failed). */
	if (!resp->ok)
		return xasprintf("request to the API server %s failed: %s", server,
				 resp->error ? resp->error : "transfer failed");
	if (resp->status == 401)
		return xasprintf("the API server %s answered 401 Unauthorized: it did not accept "
				 "the kubeconfig's credentials", server);
	root = yajl_tree_parse((const char *)resp->body, perr, sizeof(perr));
	msg = yajl_tree_get(root, path, yajl_t_string);
	s = xasprintf("the API server %s answered HTTP %ld%s%s", server, resp->status,
		      msg ? ": " : "", msg ? YAJL_GET_STRING(msg) : "");
	yajl_tree_free(root);
	return s;
}

/* ---- choosing pods -------------------------------------------------------------------------- */

static enum capture_choice refuse(int named, char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum capture_choice refuse(int named, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!named)
		return CAPTURE_SKIP;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return CAPTURE_FAIL;
}

/* pod_target_from's messages start with "pod NS/NAME: "; ours name the pod already. */
static void strip_pod_prefix(const kube_pod *pod, char *why)
{
	char *prefix = xasprintf("pod %s/%s: ", pod->ns, pod->name);
	size_t n = strlen(prefix);

	if (strncmp(why, prefix, n) == 0)
		memmove(why, why + n, strlen(why + n) + 1);
	free(prefix);
}

/* The command line's --port, --path and --scheme over the pod's annotations. */
static int apply_overrides(pod_target *t, const capture_options *opt, char *why, size_t whylen)
{
	char *path = NULL;
	if (opt->path && pod_path_check(opt->path, &path, why, whylen) != 0)
		return -1;
	if (path) {
		free(t->path);
		t->path = path;
	}
	if (opt->port > 0)
		t->port = opt->port;
	if (opt->scheme)
		pod_tls_set_scheme(&t->tls, strcmp(opt->scheme, "https") == 0, opt->pod_tls);
	free(t->base_url);
	t->base_url = pod_tls_base_url(&t->tls, t->ip, t->port, t->path);
	return 0;
}

enum capture_choice capture_choose(const kube_pod *pod, const capture_options *opt, int named,
				   pod_target **out, char *why, size_t whylen)
{
	const char *enable = kube_pod_annotation(pod, POD_ANN_ENABLE);
	pod_defaults d;

	*out = NULL;
	if (enable == NULL && !named)
		return refuse(named, why, whylen, "not annotated %s: \"true\"", POD_ANN_ENABLE);
	if (enable && strcmp(enable, "true") != 0)
		return refuse(named, why, whylen, "annotation %s is \"%.100s\", not \"true\"",
			      POD_ANN_ENABLE, enable);
	if (pod->deleting)
		return refuse(named, why, whylen, "being deleted");
	if (strcmp(pod->phase, "Running") != 0)
		return refuse(named, why, whylen, "not Running (phase %s)",
			      *pod->phase ? pod->phase : "unknown");

	/* The proxy's Authorization is the kubeconfig's, for the API server. */
	const char *creds = kube_pod_annotation(pod, POD_ANN_CREDENTIALS);
	if (creds && !opt->direct)
		return refuse(1, why, whylen, "annotation %s=\"%.100s\": the API server's pod proxy "
			      "cannot carry a pod's credentials (use --direct with "
			      "--pod-credentials-dir)", POD_ANN_CREDENTIALS, creds);
	pod_defaults_init(&d);
	d.named = named;
	d.tls = opt->pod_tls;
	d.delta = PPROF_DELTA_OFF; /* a capture is looked at alone: totals since the start */
	if (opt->default_port > 0)
		d.port = opt->default_port;
	d.cpu_seconds = opt->cpu_seconds > 0 ? opt->cpu_seconds : CAPTURE_DEFAULT_CPU_SECONDS;
	if (d.cpu_seconds > d.max_cpu_seconds)
		d.max_cpu_seconds = d.cpu_seconds;
	switch (pod_target_from(pod, &d, out, why, whylen)) {
	case POD_TARGET:
		break;
	case POD_INVALID:
		strip_pod_prefix(pod, why);
		return CAPTURE_FAIL;
	case POD_IGNORED:
		if (pod->pod_ip == NULL || pod->pod_ip[0] == '\0')
			return refuse(named, why, whylen, "Running but without a pod IP yet");
		return refuse(1, why, whylen, "pod IP \"%.60s\" is not an IP address", pod->pod_ip);
	}
	if (apply_overrides(*out, opt, why, whylen) != 0) {
		pod_target_free(*out);
		*out = NULL;
		return CAPTURE_FAIL;
	}
	if (opt->types)
		(*out)->types = opt->types;
	if (opt->cpu_seconds > 0)
		(*out)->cpu_seconds = opt->cpu_seconds;
	/* godeltaprof's answer is the change since the previous call by anyone: a capture
	 * would take it from the collector's next window. ?seconds= takes nothing. */
	if (opt->delta || (*out)->delta == PPROF_DELTA_GODELTAPROF)
		(*out)->delta = PPROF_DELTA_SECONDS;
	return CAPTURE_TAKE;
}

/* ---- files ---------------------------------------------------------------------------------- */

char *capture_file_name(const char *dir, enum pprof_type t, const char *pod, time_t when,
			int attempt)
{
	size_t n = strlen(dir);
	const char *ext = t == PPROF_TRACE ? ".out" : ".pb.gz";
	char suffix[24] = "";

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (attempt > 0)
		snprintf(suffix, sizeof(suffix), "-%d", attempt);
	return xasprintf("%.*s%sprofile-%s-%s-%lld%s%s", (int)n, dir,
			 n == 1 && dir[0] == '/' ? "" : "/", pprof_type_name(t), pod,
			 (long long)when, suffix, ext);
}

int capture_write_all(int fd, const unsigned char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

char *capture_write_file(const char *dir, enum pprof_type t, const char *pod, time_t when,
			 const unsigned char *data, size_t len, char *err, size_t errlen)
{
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		char *path = capture_file_name(dir, t, pod, when, attempt);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno == EEXIST) {
			free(path);
			continue;
		}
		if (fd < 0) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			free(path);
			return NULL;
		}
		if (capture_write_all(fd, data, len) != 0 || close(fd) != 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			unlink(path);
			free(path);
			return NULL;
		}
		return path;
	}
	snprintf(err, errlen, "no free file name for the %s profile of %s in %s",
		 pprof_type_name(t), pod, dir);
	return NULL;
}

/* ---- finishing ------------------------------------------------------------------------------ */

static void run_free(capture_run *run)
{
	for (size_t i = 0; i < run->n_lookups; i++) {
		kube_call_cancel(run->lookups[i].call);
		free(run->lookups[i].name);
	}
	free(run->lookups);
	for (size_t i = 0; i < run->n_items; i++) {
		struct item *it = &run->items[i];
		fetch_cancel(it->fetch);
		profefe_cancel(it->upload);
		ev_timer_stop(loop_ev(run->loop), &it->retry);
		free(it->data);
		free(it->labels);
		free(it->where);
	}
	free(run->items);
	for (size_t i = 0; i < run->n_targets; i++)
		pod_target_free(run->targets[i]);
	free(run->targets);
	ev_timer_stop(loop_ev(run->loop), &run->finish);
	progress_free(run->progress);
	free(run);
}

/* The command a person would type next: the first CPU profile, else the first one. */
static void print_next_command(const capture_run *run)
{
	const struct item *first = NULL;

	for (size_t i = 0; i < run->n_items; i++) {
		const struct item *it = &run->items[i];
		if (!it->where || (first && first->type == PPROF_CPU))
			continue;
		if (!first || it->type == PPROF_CPU)
			first = it;
	}
	if (!first)
		return;
	if (first->type == PPROF_TRACE)
		fprintf(run->opt.err, "go tool trace %s\n", first->where);
	else if (run->opt.profefe)
		fprintf(run->opt.err, "go tool pprof '%s'\n", first->where);
	else
		fprintf(run->opt.err, "go tool pprof %s\n", first->where);
}

/* Every profile's path or URL, grouped by pod (the items are in pod order), then one
 * summary line and the next command on err. */
static void print_results(const capture_run *run)
{
	const capture_summary *s = &run->sum;

	for (size_t i = 0; i < run->n_items; i++)
		if (run->items[i].where)
			fprintf(run->opt.out, "%s\n", run->items[i].where);
	fflush(run->opt.out);
	if (s->pods == 0 && s->profiles == 0)
		return;
	fprintf(run->opt.err, "%d profile%s %s, %d pod%s, %d failure%s, %s %s\n", s->profiles,
		s->profiles == 1 ? "" : "s", run->opt.profefe ? "pushed" : "written", s->pods,
		s->pods == 1 ? "" : "s", s->failures, s->failures == 1 ? "" : "s",
		run->opt.profefe ? "to profefe" : "in",
		run->opt.profefe ? profefe_client_base_url(run->opt.profefe) : run->opt.output_dir);
	print_next_command(run);
}

static void on_finish(struct ev_loop *ev, ev_timer *w, int revents)
{
	capture_run *run = w->data;
	capture_summary sum = run->sum;

	(void)revents;
	ev_timer_stop(ev, w);
	/* The status line goes before the caller prints anything of its own. */
	progress_free(run->progress);
	run->progress = NULL;
	print_results(run);
	run->done(&sum, run->arg);
	run_free(run);
}

/* The done callback always comes from a callback of its own, never from inside one of
 * kube's, fetch's or profefe's, so that the caller may do anything in it. */
static void schedule_finish(capture_run *run)
{
	ev_timer_start(loop_ev(run->loop), &run->finish);
}

static int is_timed(enum pprof_type t)
{
	return t == PPROF_CPU || t == PPROF_TRACE;
}

/* After progress_step and the item's own report. */
static void item_finished(struct item *it)
{
	capture_run *run = it->run;

	if (is_timed(it->type) && --run->timed_pending == 0)
		progress_countdown_stop(run->progress);
	if (--run->items_pending == 0)
		schedule_finish(run);
}

static void item_ok(struct item *it, const char *where)
{
	capture_run *run = it->run;

	run->sum.profiles++;
	progress_step(run->progress, 1);
	it->where = xstrdup(where);
	if (run->opt.progress_items && progress_enabled(run->progress))
		report(run, run->opt.progress, "  done %s %s", it->target->key,
		       pprof_type_name(it->type));
	item_finished(it);
}

static void item_failed(struct item *it, const char *why)
{
	capture_run *run = it->run;
	char *what = xasprintf("%s profile: %s", pprof_type_name(it->type), why);

	progress_step(run->progress, 0);
	pod_failed(run, it->target->ns, it->target->name, what);
	free(what);
	item_finished(it);
}

/* ---- uploading and saving ------------------------------------------------------------------- */

static void on_uploaded(const profefe_upload_result *res, void *arg)
{
	struct item *it = arg;
	capture_run *run = it->run;

	it->upload = NULL;
	free(it->data);
	it->data = NULL;
	free(it->labels);
	it->labels = NULL;
	if (res->outcome != PROFEFE_OK) {
		char *why = xasprintf("upload to profefe %s failed: %s",
				      profefe_client_base_url(run->opt.profefe),
				      res->message ? res->message : "no reason given");
		item_failed(it, why);
		free(why);
		return;
	}
	if (res->id) {
		char *url = profefe_profile_url(run->opt.profefe, res->id);
		item_ok(it, url);
		free(url);
		return;
	}
	char *where = xasprintf("%s (service %s, type %s; profefe sent no id)",
				profefe_client_base_url(run->opt.profefe), it->target->service,
				pprof_profefe_type(it->type));
	item_ok(it, where);
	free(where);
}

/* --direct from a machine outside the pod network: the connect times out, or the
 * kernel knows no route to the pod's address. */
static int no_route_to_pod(const fetch_result *res)
{
	if (res->reason == FETCH_TIMEOUT)
		return 1;
	return res->reason == FETCH_CONNECT &&
	       (res->os_errno == EHOSTUNREACH || res->os_errno == ENETUNREACH);
}

/* Why a fetch failed, with a hint for the causes a user can act on. Caller frees. */
static char *fetch_failure(const capture_run *run, const struct item *it,
			   const fetch_result *res)
{
	const char *server = kube_config_server(kube_client_config(run->kc));
	const char *msg = res->message ? res->message : "fetch failed";

	/* The API server's own refusals: its Status JSON says no more than this. */
	if (!run->opt.direct && res->status == 401)
		return xasprintf("the API server %s answered HTTP 401 Unauthorized to the pod "
				 "proxy request: it did not accept the kubeconfig's credentials",
				 server);
	if (!run->opt.direct && res->status == 403)
		return xasprintf("the API server %s answered HTTP 403 Forbidden to the pod proxy "
				 "request: the kubeconfig's user needs RBAC permission to get "
				 "pods/proxy in namespace %s", server, it->target->ns);
	/* Its "error trying to reach service" Status; fetch quotes only the start of it. */
	if (!run->opt.direct && (res->status == 502 || res->status == 503))
		return xasprintf("the API server's pod proxy could not reach %s port %d (HTTP "
				 "%ld): is the pod serving pprof on the port of %s?",
				 it->target->ip, it->target->port, res->status, POD_ANN_PORT);
	if (run->opt.direct && no_route_to_pod(res))
		return xasprintf("%s (--direct needs a route to the pod network; without "
				 "--direct the API server's pod proxy is used)", msg);
	if (res->status == 404)
		return xasprintf("%s (are the pod's %s and %s right?)", msg, POD_ANN_PORT,
				 POD_ANN_PATH);
	return xstrdup(msg);
}

/* The pod's labels plus delta=true/false, as the collector labels them. Caller frees. */
static char *upload_labels(const struct item *it, const fetch_result *res)
{
	delta_verdict v;

	delta_inspect(it->type, it->target->delta, &res->facts, &v);
	if (v.ignored)
		report(it->run, it->run->opt.err, "warning: pod %s: the %s profile is cumulative: "
		       "the pod ignores ?seconds= (a Go older than 1.16?)", it->target->key,
		       pprof_type_name(it->type));
	return delta_labels(it->target->labels, &v);
}

static void item_start(struct item *it);

static void on_retry(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	item_start(w->data);
}

/* The status line while some profiler is busy. */
static void set_label(capture_run *run)
{
	char label[128];

	snprintf(label, sizeof(label), "capturing %zu pod%s%s", run->n_targets,
		 run->n_targets == 1 ? "" : "s",
		 run->busy_pending ? ", waiting: CPU profiler busy (someone else is profiling)" : "");
	progress_set_label(run->progress, label);
}

/*
 * A busy CPU profiler or tracer (the collector, or another capture, is taking one):
 * tries again in a second, for at most --request-timeout in all, and says so on the
 * status line. Returns 1 when a retry is scheduled.
 */
static int busy_wait(struct item *it, const fetch_result *res)
{
	capture_run *run = it->run;
	double now = ev_now(loop_ev(run->loop));
	int busy = res->reason == FETCH_BUSY;

	if (it->busy && !busy) {
		it->busy = 0;
		run->busy_pending--;
		set_label(run);
	}
	if (!busy || now + CAPTURE_BUSY_RETRY_S - it->first_try > (double)run->opt.timeout_ms / 1000.0)
		return 0;
	if (!it->busy) {
		it->busy = 1;
		run->busy_pending++;
		run->sum.busy_waits++;
		set_label(run);
		if (progress_enabled(run->progress))
			report(run, run->opt.progress, "  waiting: pod %s: its %s is busy (someone "
			       "else is profiling it, e.g. the kprofefe collector); retrying until "
			       "it is free, for up to %lds", it->target->key,
			       it->type == PPROF_TRACE ? "tracer" : "CPU profiler",
			       run->opt.timeout_ms / 1000);
	}
	ev_timer_init(&it->retry, on_retry, CAPTURE_BUSY_RETRY_S, 0.);
	it->retry.data = it;
	ev_timer_start(loop_ev(run->loop), &it->retry);
	return 1;
}

/* An empty profile (no samples) is not pushed: profefe refuses it. Said on err, not a
 * failure: a process that never enabled mutex or block profiling has nothing else. */
static void item_empty_skipped(struct item *it)
{
	capture_run *run = it->run;

	progress_step(run->progress, 1);
	report(run, run->opt.err, "note: pod %s: %s profile has no samples: not pushed to "
	       "profefe, which refuses empty profiles", it->target->key, pprof_type_name(it->type));
	item_finished(it);
}

/* A file is still written for an empty profile (go tool pprof reads it); this says so. */
static void note_empty_file(struct item *it, const char *path)
{
	report(it->run, it->run->opt.err, "note: pod %s: %s profile has no samples (empty): %s",
	       it->target->key, pprof_type_name(it->type), path);
}

static void on_fetched(fetch_result *res, void *arg)
{
	struct item *it = arg;
	capture_run *run = it->run;
	char err[1024];

	it->fetch = NULL;
	if (busy_wait(it, res))
		return;
	if (!res->ok) {
		char *why = fetch_failure(run, it, res);
		item_failed(it, why);
		free(why);
		return;
	}
	if (run->opt.profefe && res->empty) {
		item_empty_skipped(it);
		return;
	}
	if (run->opt.profefe) {
		size_t len;
		it->labels = upload_labels(it, res);
		it->data = fetch_result_take(res, &len);
		it->upload = profefe_upload_at(run->opt.profefe, it->target->service,
					       pprof_profefe_type(it->type), it->labels,
					       (int64_t)run->now * 1000000000, it->data, len,
					       on_uploaded, it);
		return;
	}
	char *path = capture_write_file(run->opt.output_dir, it->type, it->target->name, run->now,
					res->data, res->len, err, sizeof(err));
	if (!path) {
		item_failed(it, err);
		return;
	}
	if (res->empty)
		note_empty_file(it, path);
	item_ok(it, path);
	free(path);
}

/* ---- fetching ------------------------------------------------------------------------------- */

static void item_start(struct item *it)
{
	capture_run *run = it->run;
	const pod_target *t = it->target;
	long timeout = run->opt.timeout_ms;
	fetch_options fo;
	char err[512];

	memset(&fo, 0, sizeof(fo));
	fo.cpu_seconds = t->cpu_seconds;
	fo.delta = t->delta;
	if (it->busy)
		progress_countdown(run->progress, "CPU profile", t->cpu_seconds);
	fo.connect_timeout_ms = timeout < FETCH_DEFAULT_CONNECT_TIMEOUT_MS
					? timeout : FETCH_DEFAULT_CONNECT_TIMEOUT_MS;
	fo.margin_ms = timeout;
	fo.plain_timeout_ms = timeout;
	if (run->opt.direct) {
		pod_tls_request tr;
		pod_tls_request_for(&it->target->tls, it->target->key, t->ip, t->port, &tr);
		fo.tls = t->tls.https ? &tr.tls : NULL;
		fo.headers = tr.headers[0] ? tr.headers : NULL;
		it->fetch = fetch_start(run->loop, t->base_url, it->type, &fo, on_fetched, it);
		return;
	}
	char *path = kube_pod_proxy_path(t->ns, t->tls.https ? "https" : NULL, t->name, t->port,
					 *t->path ? t->path : "/");
	char *url = NULL;
	const http_tls *tls;
	const char *const *headers;
	int rc = kube_client_transport(run->kc, path, &url, &tls, &headers, err, sizeof(err));
	free(path);
	if (rc != 0) {
		char *why = xasprintf("kubernetes credentials: %s", err);
		item_failed(it, why);
		free(why);
		return;
	}
	fo.tls = tls; /* kube lends these until its next call; fetch_start is done with them */
	fo.headers = headers;
	it->fetch = fetch_start(run->loop, url, it->type, &fo, on_fetched, it);
	free(url);
}

static int count_types(unsigned mask)
{
	int n = 0;
	for (int t = 0; t < PPROF_TYPE_COUNT; t++)
		n += (mask & PPROF_BIT(t)) != 0;
	return n;
}

static int by_key(const void *a, const void *b)
{
	const pod_target *const *x = a, *const *y = b;
	return strcmp((*x)->key, (*y)->key);
}

static void start_items(capture_run *run)
{
	size_t n = 0;
	int longest = 0, cpu = 0;

	for (size_t i = 0; i < run->n_targets; i++)
		n += (size_t)count_types(run->targets[i]->types);
	run->sum.pods = (int)run->n_targets;
	/* The results are printed pod by pod, in this order. */
	if (run->n_targets > 1)
		qsort(run->targets, run->n_targets, sizeof(*run->targets), by_key);
	if (n == 0) {
		schedule_finish(run);
		return;
	}
	run->items = xcalloc(n, sizeof(*run->items));
	for (size_t i = 0; i < run->n_targets; i++) {
		for (int t = 0; t < PPROF_TYPE_COUNT; t++) {
			if (!(run->targets[i]->types & PPROF_BIT(t)))
				continue;
			struct item *it = &run->items[run->n_items++];
			it->run = run;
			it->target = run->targets[i];
			it->type = (enum pprof_type)t;
			it->first_try = ev_now(loop_ev(run->loop));
			if (is_timed(it->type)) {
				run->timed_pending++;
				cpu |= it->type == PPROF_CPU;
				if (it->target->cpu_seconds > longest)
					longest = it->target->cpu_seconds;
			}
		}
	}
	run->items_pending = run->n_items;
	set_label(run);
	progress_set_total(run->progress, (int)run->n_items);
	if (longest > 0)
		progress_countdown(run->progress, cpu ? "CPU profile" : "trace", longest);
	/* items_pending only reaches 0 through a callback, or item_start's own failure: in
	 * both cases the finish is scheduled, never run here. */
	for (size_t i = 0; i < run->n_items; i++)
		item_start(&run->items[i]);
}

/* ---- finding the pods ----------------------------------------------------------------------- */

static void add_target(capture_run *run, pod_target *t)
{
	run->targets = xrealloc(run->targets, (run->n_targets + 1) * sizeof(*run->targets));
	run->targets[run->n_targets++] = t;
}

static void consider(capture_run *run, const kube_pod *pod, int named)
{
	char why[512];
	pod_target *t;

	switch (capture_choose(pod, &run->opt, named, &t, why, sizeof(why))) {
	case CAPTURE_TAKE:
		add_target(run, t);
		break;
	case CAPTURE_FAIL:
		pod_failed(run, pod->ns, pod->name, why);
		break;
	case CAPTURE_SKIP:
		break;
	}
}

static void lookup_finished(capture_run *run)
{
	if (--run->lookups_pending == 0)
		start_items(run);
}

static void on_pod(const http_response *resp, void *arg)
{
	struct lookup *l = arg;
	capture_run *run = l->run;
	char err[512], perr[256];

	l->call = NULL;
	if (resp->ok && resp->status == 404) {
		char *why = xasprintf("not found in namespace %s", run->opt.ns);
		pod_failed(run, run->opt.ns, l->name, why);
		free(why);
	} else if (!resp->ok || resp->status != 200) {
		char *why = api_failure(run, resp);
		pod_failed(run, run->opt.ns, l->name, why);
		free(why);
	} else {
		yajl_val root = yajl_tree_parse((const char *)resp->body, perr, sizeof(perr));
		kube_pod *pod = root ? kube_pod_from_json(root, err, sizeof(err)) : NULL;
		if (pod)
			consider(run, pod, 1);
		else
			pod_failed(run, run->opt.ns, l->name, root ? err : perr);
		kube_pod_free(pod);
		yajl_tree_free(root);
	}
	lookup_finished(run);
}

/* "in namespace NS matching SEL" for messages. Caller frees. */
static char *scope_text(const capture_run *run)
{
	const char *sel = run->opt.selector;
	if (run->opt.all_namespaces)
		return xasprintf("in any namespace%s%s", sel ? " matching " : "", sel ? sel : "");
	return xasprintf("in namespace %s%s%s", run->opt.ns, sel ? " matching " : "",
			 sel ? sel : "");
}

static void on_list(const http_response *resp, void *arg)
{
	struct lookup *l = arg;
	capture_run *run = l->run;
	char err[512];
	char *scope = scope_text(run);

	l->call = NULL;
	if (!resp->ok || resp->status != 200) {
		char *why = api_failure(run, resp);
		run->sum.failures++;
		report(run, run->opt.err, "error: listing pods %s: %s", scope, why);
		free(why);
	} else {
		kube_pod_list *list = kube_pod_list_parse((const char *)resp->body, err, sizeof(err));
		int failures = run->sum.failures;
		for (size_t i = 0; list && i < list->n; i++)
			consider(run, list->pods[i], 0);
		if (!list) {
			run->sum.failures++;
			report(run, run->opt.err, "error: listing pods %s: %s", scope, err);
		} else if (run->n_targets == 0 && run->sum.failures == failures) {
			run->sum.failures++;
			report(run, run->opt.err, "error: no pod %s is Running and annotated "
				    "%s: \"true\"", scope, POD_ANN_ENABLE);
		}
		kube_pod_list_free(list);
	}
	free(scope);
	lookup_finished(run);
}

static char *list_path(const capture_run *run)
{
	buf_t b = BUF_INIT;
	if (run->opt.all_namespaces) {
		buf_append_str(&b, "/api/v1/pods");
	} else {
		char *ns = http_escape(run->opt.ns);
		buf_printf(&b, "/api/v1/namespaces/%s/pods", ns);
		free(ns);
	}
	if (run->opt.selector && *run->opt.selector) {
		char *sel = http_escape(run->opt.selector);
		buf_printf(&b, "?labelSelector=%s", sel);
		free(sel);
	}
	return buf_detach(&b);
}

static void start_lookups(capture_run *run)
{
	http_options ho;

	memset(&ho, 0, sizeof(ho));
	ho.timeout_ms = run->opt.timeout_ms;
	ho.accept_encoding = 1;
	run->lookups_pending = run->n_lookups;
	for (size_t i = 0; i < run->n_lookups; i++) {
		struct lookup *l = &run->lookups[i];
		char *path;
		if (l->name) {
			char *ns = http_escape(run->opt.ns), *name = http_escape(l->name);
			path = xasprintf("/api/v1/namespaces/%s/pods/%s", ns, name);
			free(ns);
			free(name);
		} else {
			path = list_path(run);
		}
		l->call = kube_request(run->kc, path, &ho, l->name ? on_pod : on_list, l);
		free(path);
	}
}

/* ---- starting ------------------------------------------------------------------------------- */

/* mkdir -p dir (mode 0755 less the umask). Returns 0, or -1 with a message. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char *path = xstrdup(dir);
	int rc = 0;

	for (char *p = path + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "output directory %s: cannot create %s: %s", dir, path,
				 strerror(errno));
			rc = -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(path);
	return rc;
}

static int check_options(const capture_options *opt, char *err, size_t errlen)
{
	const char *dir = opt->output_dir && *opt->output_dir ? opt->output_dir
							      : CAPTURE_DEFAULT_DIR;
	struct stat st;

	if (opt->n_names > 0 && opt->all_namespaces) {
		snprintf(err, errlen, "pod names and --all-namespaces exclude each other: name the "
			 "namespace with -n");
		return -1;
	}
	if (opt->n_names > 0 && opt->selector && *opt->selector) {
		snprintf(err, errlen, "pod names and a selector (-l) exclude each other");
		return -1;
	}
	if (!opt->all_namespaces && (!opt->ns || !*opt->ns)) {
		snprintf(err, errlen, "no namespace given");
		return -1;
	}
	if (opt->cpu_seconds < 0 || opt->cpu_seconds > CAPTURE_MAX_CPU_SECONDS) {
		snprintf(err, errlen, "--cpu-seconds must be in 1..%d", CAPTURE_MAX_CPU_SECONDS);
		return -1;
	}
	if (opt->profefe)
		return 0;
	if (stat(dir, &st) != 0 && errno == ENOENT) {
		if (make_dirs(dir, err, errlen) != 0)
			return -1;
		fprintf(opt->err ? opt->err : stderr, "created output directory %s\n", dir);
	}
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "output directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "output directory %s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK) != 0) {
		snprintf(err, errlen, "output directory %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* "pod/NAME" and "pods/NAME" as kubectl takes them. */
static const char *bare_name(const char *name)
{
	if (strncmp(name, "pod/", 4) == 0)
		return name + 4;
	if (strncmp(name, "pods/", 5) == 0)
		return name + 5;
	return name;
}

static void add_lookups(capture_run *run)
{
	const capture_options *opt = &run->opt;
	size_t n = opt->n_names > 0 ? opt->n_names : 1;

	run->lookups = xcalloc(n, sizeof(*run->lookups));
	if (opt->n_names == 0) {
		run->lookups[run->n_lookups++].run = run;
		return;
	}
	for (size_t i = 0; i < opt->n_names; i++) {
		const char *name = bare_name(opt->names[i]);
		int seen = 0;
		for (size_t j = 0; j < run->n_lookups; j++)
			seen |= strcmp(run->lookups[j].name, name) == 0;
		if (seen)
			continue;
		run->lookups[run->n_lookups].run = run;
		run->lookups[run->n_lookups++].name = xstrdup(name);
	}
}

capture_run *capture_start(kube_client *kc, const capture_options *opt, capture_done_fn done,
			   void *arg, char *err, size_t errlen)
{
	capture_run *run;

	if (check_options(opt, err, errlen) != 0)
		return NULL;
	run = xcalloc(1, sizeof(*run));
	run->kc = kc;
	run->loop = kube_client_loop(kc);
	run->opt = *opt;
	if (!run->opt.output_dir || !*run->opt.output_dir)
		run->opt.output_dir = CAPTURE_DEFAULT_DIR;
	if (run->opt.timeout_ms <= 0)
		run->opt.timeout_ms = CAPTURE_DEFAULT_TIMEOUT_MS;
	if (!run->opt.out)
		run->opt.out = stdout;
	if (!run->opt.err)
		run->opt.err = stderr;
	if (run->opt.all_namespaces)
		run->opt.ns = NULL;
	run->now = opt->now ? opt->now : time(NULL);
	run->done = done;
	run->arg = arg;
	run->progress = progress_new(loop_ev(run->loop), opt->progress);
	ev_timer_init(&run->finish, on_finish, 0., 0.);
	run->finish.data = run;
	add_lookups(run);
	start_lookups(run);
	return run;
}

void capture_cancel(capture_run *run)
{
	if (run)
		run_free(run);
}
