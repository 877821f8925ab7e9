/* fetch: gets one pprof profile over HTTP and checks it before anyone stores it. */
#include "kprofefe/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/buf.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

struct fetch {
	http_request *req;
	enum pprof_type type;
	char *url;
	size_t max_inflated;
	budget_t *budget;
	fetch_done_fn done;
	void *arg;
};

static void count(enum pprof_type t, const char *result, size_t bytes)
{
	metrics_add(METRIC_FETCH_TOTAL, 1.0, "type", pprof_type_name(t), "result", result,
		    NULL);
	if (bytes > 0)
		metrics_add(METRIC_FETCH_BYTES_TOTAL, (double)bytes, "type",
			    pprof_type_name(t), NULL);
}

unsigned char *fetch_result_take(fetch_result *res, size_t *len)
{
	unsigned char *data = res->data;

	if (len)
		*len = data ? res->len : 0;
	res->data = NULL;
	res->len = 0;
	return data;
}

/* The profile bytes from a checked body: the body itself (no copy), or for an
 * uncompressed protobuf its gzip, which is what profefe and pprof tools expect. Either
 * way *len bytes are taken from the budget for the result. */
static unsigned char *keep_profile(fetch *f, const http_response *resp,
				   enum pprof_body_kind kind, size_t *len)
{
	size_t body_len = 0;
	unsigned char *body = http_take_body(resp->req, &body_len);
	unsigned char *gz = NULL;

	if (kind != PPROF_BODY_PROTOBUF) {
		*len = body_len;
		return body;
	}
	if (pprof_gzip(body, body_len, &gz, len) == 0)
		budget_force(f->budget, *len);
	free(body);
	budget_give(f->budget, body_len);
	return gz;
}

/* The start of a body as one line of printable text, for messages. */
static char *body_excerpt(const unsigned char *body, size_t len)
{
	size_t n = len < 120 ? len : 120;
	char *s = xmalloc(n + 4);
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = body[i] >= 0x20 && body[i] < 0x7f ? (char)body[i] : ' ';
	while (i > 0 && s[i - 1] == ' ')
		i--;
	if (n < len) {
		memcpy(s + i, "...", 3);
		i += 3;
	}
	s[i] = '\0';
	return s;
}

/* Go's answer when a CPU profile or a trace is already being taken: 500 and text. */
static int is_busy(const http_response *resp)
{
	const char *body = (const char *)resp->body;

	return resp->status == 500 && (strstr(body, "profiling already in use") != NULL ||
				       strstr(body, "tracing is already enabled") != NULL);
}

static const char *const reason_names[] = {
	[FETCH_OK] = "ok",
	[FETCH_CONNECT] = "connect",
	[FETCH_TLS] = "tls",
	[FETCH_TIMEOUT] = "timeout",
	[FETCH_REDIRECT] = "redirect",
	[FETCH_BUSY] = "busy",
	[FETCH_HTTP_4XX] = "http_4xx",
	[FETCH_HTTP_5XX] = "http_5xx",
	[FETCH_HTTP_OTHER] = "http_other",
	[FETCH_TOO_LARGE] = "too_large",
	[FETCH_BUDGET] = "budget",
	[FETCH_NOT_PPROF] = "not_pprof",
	[FETCH_ERROR] = "error",
};

const char *fetch_reason_name(enum fetch_reason r)
{
	return (size_t)r < FETCH_REASON_COUNT ? reason_names[r] : "error";
}

static enum fetch_reason status_reason(long status)
{
	if (status >= 300 && status < 400)
		return FETCH_REDIRECT;
	if (status >= 400 && status < 500)
		return FETCH_HTTP_4XX;
	if (status >= 500 && status < 600)
		return FETCH_HTTP_5XX;
	return FETCH_HTTP_OTHER;
}

static enum fetch_reason failure_reason(enum http_failure failure)
{
	switch (failure) {
	case HTTP_FAIL_CONNECT:
		return FETCH_CONNECT;
	case HTTP_FAIL_TLS:
		return FETCH_TLS;
	case HTTP_FAIL_TIMEOUT:
		return FETCH_TIMEOUT;
	case HTTP_FAIL_TOO_LARGE:
		return FETCH_TOO_LARGE;
	case HTTP_FAIL_BUDGET:
		return FETCH_BUDGET;
	default:
		return FETCH_ERROR;
	}
}

/* Fills res from a transfer that completed with a 2xx: the body must be a profile. */
static void check_body(fetch *f, const http_response *resp, fetch_result *res, char **message)
{
	enum pprof_reason why = PPROF_REASON_NONE;
	enum pprof_body_kind kind = pprof_body_inspect(f->type, resp->body, resp->body_len,
						       f->max_inflated, &res->facts, &why);
	if (kind != PPROF_BODY_INVALID) {
		size_t received = resp->body_len;
		res->data = keep_profile(f, resp, kind, &res->len);
		if (res->data) {
			res->ok = 1;
			res->empty = kind != PPROF_BODY_TRACE && res->facts.n_samples == 0;
			return;
		}
		*message = xasprintf("GET %s: gzip of the %zu-byte protobuf failed", f->url,
				     received);
		res->body_reason = PPROF_REASON_NOT_GZIP_OR_PROTOBUF; /* zlib could not */
		res->reason = FETCH_NOT_PPROF;
		return;
	}
	/* Show the start of a body only when it is text someone can read. */
	int readable = why == PPROF_REASON_HTML || why == PPROF_REASON_TEXT;
	char *excerpt = readable ? body_excerpt(resp->body, resp->body_len) : xstrdup("");
	res->body_reason = why;
	res->reason = why == PPROF_REASON_TOO_LARGE ? FETCH_TOO_LARGE : FETCH_NOT_PPROF;
	*message = xasprintf("GET %s: not a %s profile (%s, %zu bytes)%s%s", f->url,
			     pprof_type_name(f->type), pprof_reason_name(why), resp->body_len, excerpt[0] ? ": " : "",
			     excerpt);
	free(excerpt);
}

/* Fills res from a completed transfer with a status other than 2xx. */
static void check_status(fetch *f, const http_response *resp, fetch_result *res,
			 char **message)
{
	char *excerpt = body_excerpt(resp->body, resp->body_len);

	if (is_busy(resp)) {
		res->reason = FETCH_BUSY;
		*message = xasprintf("GET %s: the target is already taking a %s (%s)", f->url,
				     f->type == PPROF_TRACE ? "trace" : "CPU profile", excerpt);
	} else if (resp->status >= 300 && resp->status < 400) {
		res->reason = FETCH_REDIRECT;
		*message = xasprintf("GET %s: redirect refused (HTTP %ld)", f->url, resp->status);
	} else {
		res->reason = status_reason(resp->status);
		*message = xasprintf("GET %s: HTTP %ld%s%s", f->url, resp->status,
				     excerpt[0] ? ": " : "", excerpt);
	}
	free(excerpt);
}

static void on_http_done(const http_response *resp, void *arg)
{
	fetch *f = arg;
	fetch_result res;
	char *message = NULL;

	memset(&res, 0, sizeof(res));
	res.type = f->type;
	res.url = f->url;
	res.status = resp->status;
	res.seconds = resp->seconds;
	res.curl_code = resp->curl_code;
	res.os_errno = resp->os_errno;
	if (!resp->ok) {
		res.reason = failure_reason(resp->failure);
		message = xasprintf("GET %s: %s", f->url,
				    resp->error ? resp->error : fetch_reason_name(res.reason));
	} else if (resp->status >= 200 && resp->status < 300) {
		check_body(f, resp, &res, &message);
	} else {
		check_status(f, resp, &res, &message);
	}
	res.message = message;
	count(f->type, fetch_reason_name(res.reason), resp->body_len);
	f->req = NULL;
	f->done(&res, f->arg);
	if (res.data)
		budget_give(f->budget, res.len);
	free(res.data);
	free(message);
	free(f->url);
	free(f);
}

static char *profile_url(const char *base, enum pprof_type t, int seconds,
			 enum pprof_delta delta)
{
	char *endpoint = pprof_delta_endpoint(t, delta, seconds);
	size_t len = strlen(base);
	char *url = xasprintf("%s%s%s", base, len > 0 && base[len - 1] == '/' ? "" : "/",
			      endpoint);
	free(endpoint);
	return url;
}

fetch *fetch_start(loop_t *loop, const char *base_url, enum pprof_type t,
		   const fetch_options *opt, fetch_done_fn done, void *arg)
{
	static const fetch_options none = {0};
	http_options ho;
	fetch *f;
	int seconds;

	if (opt == NULL)
		opt = &none;
	seconds = opt->cpu_seconds > 0 ? opt->cpu_seconds : FETCH_DEFAULT_CPU_SECONDS;
	f = xcalloc(1, sizeof(*f));
	f->type = t;
	f->url = profile_url(base_url, t, seconds, opt->delta);
	f->max_inflated = opt->max_inflated_bytes > 0 ? opt->max_inflated_bytes
						      : FETCH_DEFAULT_MAX_INFLATED_BYTES;
	f->budget = opt->budget;
	f->done = done;
	f->arg = arg;

	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms
							    : FETCH_DEFAULT_CONNECT_TIMEOUT_MS;
	if (pprof_endpoint_waits(t, opt->delta))
		ho.timeout_ms = seconds * 1000L +
				(opt->margin_ms > 0 ? opt->margin_ms : FETCH_DEFAULT_MARGIN_MS);
	else
		ho.timeout_ms = opt->plain_timeout_ms > 0 ? opt->plain_timeout_ms
							  : FETCH_DEFAULT_PLAIN_TIMEOUT_MS;
	ho.max_body_bytes = opt->max_profile_bytes > 0 ? opt->max_profile_bytes
						       : FETCH_DEFAULT_MAX_BYTES;
	ho.tls = opt->tls;
	ho.budget = opt->budget;
	/* A pod is asked again a whole interval later: an idle connection kept for it
	 * until then is memory and a socket for nothing, times every fetch of a round. */
	ho.no_reuse = 1;
	/* One request per connection gains nothing from HTTP/2 (the API server's pod
	 * proxy would speak it), and HTTP/1.1 lets http use its smallest buffer. */
	ho.http1 = 1;
	ho.headers = opt->headers;
	/* No Accept-Encoding: Go sends gzip pprof anyway, and curl must not inflate it
	 * (the body is checked and stored compressed). */
	f->req = http_start(loop, f->url, &ho, on_http_done, f);
	return f;
}

void fetch_cancel(fetch *f)
{
	if (f == NULL)
		return;
	count(f->type, "canceled", 0);
	http_cancel(f->req);
	free(f->url);
	free(f);
}
