/* kube_client: requests to the API server with its TLS and bearer token, pod proxy paths,
 * and the one-shot get/list of pods. */
#include <stdlib.h>
#include <string.h>

#include "kprofefe/kube.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"
#include "kube_internal.h"

#define KUBE_DEFAULT_TIMEOUT_MS 60000L
#define KUBE_GET_MAX (16L * 1024 * 1024)
#define KUBE_LIST_MAX (512L * 1024 * 1024)

struct kube_client {
	loop_t *loop;
	kube_config *cfg;
	char *base_url;     /* scheme://host:port[/prefix], host = tls-server-name if any */
	char *connect_host; /* the real host:port when tls-server-name is set, else NULL */
	http_tls tls;       /* what kube_client_transport hands out */
	char *auth_header;
	const char *headers[3];
};

struct kube_call {
	kube_client *kc;
	http_request *req;
	http_done_fn done;
	int (*on_data)(const unsigned char *data, size_t len, void *arg);
	void *arg;
	const char *verb;
	char *error;   /* set when the call failed before it started */
	ev_timer fail; /* delivers that failure from the loop */
	void *extra; /* freed with the call (the one-shot helpers' context) */
};

/* ---- the client ------------------------------------------------------------------------ */

/* Splits the server URL so that, with tls-server-name, the URL names the certificate's
 * host and curl dials the real one. */
static void build_base_url(kube_client *kc)
{
	const char *server = kube_config_server(kc->cfg);
	const char *sni = kube_config_tls_server_name(kc->cfg);
	const char *hostport = strstr(server, "://") + 3;
	const char *slash = strchr(hostport, '/');
	size_t hp_len = slash ? (size_t)(slash - hostport) : strlen(hostport);
	char *hp = xstrndup(hostport, hp_len);
	const char *port;
	char *host;
	int https = strncmp(server, "https", 5) == 0;

	if (sni == NULL) {
		kc->base_url = xstrdup(server);
		free(hp);
		return;
	}
	/* "[v6]:port", "host:port", or no port at all. */
	if (hp[0] == '[') {
		char *close = strchr(hp, ']');

		port = close && close[1] == ':' ? close + 2 : NULL;
		host = xstrndup(hp, close ? (size_t)(close - hp + 1) : strlen(hp));
	} else {
		char *colon = strrchr(hp, ':');

		port = colon ? colon + 1 : NULL;
		host = xstrndup(hp, colon ? (size_t)(colon - hp) : strlen(hp));
	}
	if (port == NULL || port[0] == '\0')
		port = https ? "443" : "80";
	kc->base_url = xasprintf("%s://%s:%s%s", https ? "https" : "http", sni, port,
				 slash ? slash : "");
	kc->connect_host = xasprintf("%s:%s", host, port);
	free(host);
	free(hp);
}

kube_client *kube_client_new(loop_t *loop, kube_config *cfg)
{
	kube_client *kc = xcalloc(1, sizeof(*kc));

	kc->loop = loop;
	kc->cfg = cfg;
	build_base_url(kc);
	return kc;
}

void kube_client_free(kube_client *kc)
{
	if (kc == NULL)
		return;
	kube_config_free(kc->cfg);
	free(kc->base_url);
	free(kc->connect_host);
	free(kc->auth_header);
	free(kc);
}

kube_config *kube_client_config(kube_client *kc)
{
	return kc->cfg;
}

loop_t *kube_client_loop(kube_client *kc)
{
	return kc->loop;
}

/* Authorization and Accept for the current credentials (refreshed first). */
static int update_headers(kube_client *kc, char *err, size_t errlen)
{
	const char *token;
	size_t n = 0;

	if (kube_config_refresh(kc->cfg, err, errlen) < 0)
		return -1;
	token = kube_config_token(kc->cfg);
	free(kc->auth_header);
	kc->auth_header = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	if (kc->auth_header)
		kc->headers[n++] = kc->auth_header;
	kc->headers[n++] = "Accept: application/json";
	kc->headers[n] = NULL;
	kc->tls = *kube_config_tls(kc->cfg);
	kc->tls.connect_host = kc->connect_host;
	return 0;
}

int kube_client_transport(kube_client *kc, const char *path, char **url, const http_tls **tls,
			  const char *const **headers, char *err, size_t errlen)
{
	if (update_headers(kc, err, errlen) < 0)
		return -1;
	*url = xasprintf("%s%s", kc->base_url, path);
	*tls = &kc->tls;
	*headers = kc->headers;
	return 0;
}

char *kube_pod_proxy_path(const char *ns, const char *scheme, const char *pod, int port,
			  const char *path_and_query)
{
	char *ens = http_escape(ns), *epod = http_escape(pod);
	char *s = xasprintf("/api/v1/namespaces/%s/pods/%s%s%s:%d/proxy%s", ens,
			    scheme ? scheme : "", scheme ? ":" : "", epod, port, path_and_query);

	free(ens);
	free(epod);
	return s;
}

/* ---- requests -------------------------------------------------------------------------- */

/* The verb for metrics, as the API server's audit log would name it. */
static const char *verb_of(const char *method, const char *path)
{
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	const char *segs[16];
	size_t n = 0, first;
	const char *p = path;

	if (method != NULL && strcmp(method, "GET") != 0)
		return method[0] == 'P' && method[1] == 'O' ? "create" : "other";
	if (q && (strstr(q, "watch=1") || strstr(q, "watch=true")))
		return "watch";
	while (p < path + plen && n < 16) {
		while (*p == '/' && p < path + plen)
			p++;
		if (p >= path + plen)
			break;
		segs[n++] = p;
		while (*p != '/' && p < path + plen)
			p++;
	}
	/* /api/v1/... or /apis/group/version/... */
	first = n > 0 && strncmp(segs[0], "apis/", 5) == 0 ? 3 : 2;
	if (n > first + 2 && strncmp(segs[first], "namespaces/", 11) == 0)
		first += 2;
	if (n > first + 2)
		return "proxy"; /* a subresource such as proxy */
	return n == first + 1 ? "list" : "get";
}

static void call_free(kube_call *call)
{
	free(call->error);
	free(call->extra);
	free(call);
}

static void count(const kube_call *call, long status)
{
	char code[24];

	if (status > 0)
		snprintf(code, sizeof(code), "%ld", status);
	else
		snprintf(code, sizeof(code), "error");
	metrics_add(METRIC_KUBE_REQUESTS_TOTAL, 1, "verb", call->verb, "code", code, NULL);
}

static void call_done(const http_response *resp, void *arg)
{
	kube_call *call = arg;

	count(call, resp->status);
	if (resp->status == 401)
		kube_config_invalidate(call->kc->cfg);
	call->done(resp, call->arg);
	call_free(call);
}

static int call_data(const unsigned char *data, size_t len, void *arg)
{
	kube_call *call = arg;

	return call->on_data(data, len, call->arg);
}

static void call_fail(struct ev_loop *ev, ev_timer *t, int revents)
{
	kube_call *call = t->data;
	http_response resp;

	(void)revents;
	ev_timer_stop(ev, t);
	memset(&resp, 0, sizeof(resp));
	resp.failure = HTTP_FAIL_OTHER;
	resp.error = call->error;
	resp.body = (const unsigned char *)"";
	count(call, 0);
	call->done(&resp, call->arg);
	call_free(call);
}

kube_call *kube_request(kube_client *kc, const char *path, const http_options *base,
			http_done_fn done, void *arg)
{
	kube_call *call = xcalloc(1, sizeof(*call));
	http_options opt;
	const char **headers;
	size_t n = 0, i;
	char err[512];
	char *url;

	call->kc = kc;
	call->done = done;
	call->arg = arg;
	memset(&opt, 0, sizeof(opt));
	if (base != NULL)
		opt = *base;
	call->verb = verb_of(opt.method ? opt.method : (opt.body ? "POST" : "GET"), path);
	if (update_headers(kc, err, sizeof(err)) < 0) {
		log_event(LOG_WARN, "kubernetes credentials unavailable", "error", err, NULL);
		call->error = xstrdup(err);
		ev_timer_init(&call->fail, call_fail, 0., 0.);
		call->fail.data = call;
		ev_timer_start(loop_ev(kc->loop), &call->fail);
		return call;
	}
	for (i = 0; base && base->headers && base->headers[i]; i++)
		n++;
	headers = xcalloc(n + 3, sizeof(*headers));
	for (i = 0; i < n; i++)
		headers[i] = base->headers[i];
	for (i = 0; kc->headers[i]; i++)
		headers[n++] = kc->headers[i];
	opt.headers = headers;
	opt.tls = &kc->tls; /* http reads it here only: a later refresh may replace it */
	if (opt.on_data) {
		call->on_data = opt.on_data;
		opt.on_data = call_data;
	} else if (opt.timeout_ms == 0) {
		opt.timeout_ms = KUBE_DEFAULT_TIMEOUT_MS;
	}
	url = xasprintf("%s%s", kc->base_url, path);
	call->req = http_start(kc->loop, url, &opt, call_done, call);
	free(url);
	free(headers); /* http copies the header list */
	return call;
}

void kube_call_cancel(kube_call *call)
{
	if (call == NULL)
		return;
	if (call->req != NULL)
		http_cancel(call->req);
	else
		ev_timer_stop(loop_ev(call->kc->loop), &call->fail);
	call_free(call);
}

/* ---- one-shot helpers ------------------------------------------------------------------ */

struct oneshot {
	kube_pod_done_fn pod_done;
	kube_list_done_fn list_done;
	void *arg;
};

/* Why a request failed, in one line: transport error, or status with the API's message. */
static char *failure_text(const http_response *resp)
{
	char perr[128];
	yajl_val root;
	const char *msg = NULL;
	char *s;

	if (!resp->ok)
		return xasprintf("request to the API server failed: %s", resp->error);
	root = yajl_tree_parse((const char *)resp->body, perr, sizeof(perr));
	kube_json_str(root, "message", &msg);
	s = xasprintf("API server answered HTTP %ld%s%s", resp->status, msg ? ": " : "",
		      msg ? msg : "");
	yajl_tree_free(root);
	return s;
}

static void get_done(const http_response *resp, void *arg)
{
	struct oneshot *o = arg;
	char err[512], perr[256];
	yajl_val root;
	kube_pod *pod;
	char *why;

	if (!resp->ok || resp->status != 200) {
		why = failure_text(resp);
		o->pod_done(NULL, why, o->arg);
		free(why);
		return;
	}
	root = yajl_tree_parse((const char *)resp->body, perr, sizeof(perr));
	if (root == NULL) {
		snprintf(err, sizeof(err), "pod is not valid JSON: %s", perr);
		o->pod_done(NULL, err, o->arg);
		return;
	}
	pod = kube_pod_from_json(root, err, sizeof(err));
	yajl_tree_free(root);
	o->pod_done(pod, pod ? NULL : err, o->arg);
	kube_pod_free(pod);
}

static void list_done(const http_response *resp, void *arg)
{
	struct oneshot *o = arg;
	char err[512];
	kube_pod_list *list;
	char *why;

	if (!resp->ok || resp->status != 200) {
		why = failure_text(resp);
		o->list_done(NULL, why, o->arg);
		free(why);
		return;
	}
	list = kube_pod_list_parse((const char *)resp->body, err, sizeof(err));
	o->list_done(list, list ? NULL : err, o->arg);
	kube_pod_list_free(list);
}

kube_call *kube_get_pod(kube_client *kc, const char *ns, const char *name,
			kube_pod_done_fn done, void *arg)
{
	struct oneshot *o = xcalloc(1, sizeof(*o));
	char *ens = http_escape(ns), *ename = http_escape(name);
	char *path = xasprintf("/api/v1/namespaces/%s/pods/%s", ens, ename);
	http_options opt;
	kube_call *call;

	memset(&opt, 0, sizeof(opt));
	opt.max_body_bytes = KUBE_GET_MAX;
	opt.accept_encoding = 1;
	o->pod_done = done;
	o->arg = arg;
	call = kube_request(kc, path, &opt, get_done, o);
	call->extra = o;
	free(path);
	free(ens);
	free(ename);
	return call;
}

kube_call *kube_list_pods(kube_client *kc, const char *ns, const char *label_selector,
			  const char *field_selector, kube_list_done_fn done, void *arg)
{
	struct oneshot *o = xcalloc(1, sizeof(*o));
	buf_t path = BUF_INIT;
	char sep = '?';
	http_options opt;
	kube_call *call;
	char *e;

	if (ns != NULL) {
		e = http_escape(ns);
		buf_printf(&path, "/api/v1/namespaces/%s/pods", e);
		free(e);
	} else {
		buf_append_str(&path, "/api/v1/pods");
	}
	if (label_selector != NULL && label_selector[0] != '\0') {
		e = http_escape(label_selector);
		buf_printf(&path, "%clabelSelector=%s", sep, e);
		sep = '&';
		free(e);
	}
	if (field_selector != NULL && field_selector[0] != '\0') {
		e = http_escape(field_selector);
		buf_printf(&path, "%cfieldSelector=%s", sep, e);
		free(e);
	}
	memset(&opt, 0, sizeof(opt));
	opt.max_body_bytes = KUBE_LIST_MAX;
	opt.accept_encoding = 1;
	opt.timeout_ms = 120000;
	o->list_done = done;
	o->arg = arg;
	call = kube_request(kc, (const char *)path.data, &opt, list_done, o);
	call->extra = o;
	buf_free(&path);
	return call;
}
