/* http: one HTTP request on the shared loop, with timeouts, a size cap and no redirects. */
#include "kprofefe/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/buf.h"
#include "kprofefe/log.h"
#include "kprofefe/xalloc.h"

struct http_request {
	loop_t *loop;
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	buf_t body;
	size_t max_body_bytes;
	size_t received; /* body bytes so far, kept or streamed */
	int too_large;
	int aborted;
	int over_budget;
	int canceled;         /* http_cancel came while curl still holds the handle */
	budget_t *budget;
	size_t charged;       /* bytes of body.cap taken from budget */
	CURLcode setup_error; /* the first curl_easy_setopt that failed */
	const char *setup_option;
	int (*on_data)(const unsigned char *data, size_t len, void *arg);
	http_done_fn done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

static void request_free(http_request *req)
{
	budget_give(req->budget, req->charged);
	curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	curl_slist_free_all(req->connect_to);
	buf_free(&req->body);
	free(req);
}

/* Takes from the budget what the body buffer is about to grow by. */
static int charge_growth(http_request *req, size_t len)
{
	size_t cap = buf_cap_after(&req->body, len);
	if (!req->budget || cap <= req->body.cap)
		return 0;
	if (budget_take(req->budget, cap - req->body.cap) != 0)
		return -1;
	req->charged += cap - req->body.cap;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	http_request *req = userp;
	size_t len = size * nmemb;
	if (req->canceled)
		return 0; /* its owner is gone; the loop removes it once curl returns */
	/* Streamed bytes count too: a watch that never ends is capped by the caller
	 * leaving max_body_bytes at 0, not by the cap being skipped. */
	if (req->max_body_bytes && len > req->max_body_bytes - req->received) {
		req->too_large = 1;
		return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
	}
	req->received += len;
	if (req->on_data) {
		if (req->on_data((const unsigned char *)data, len, req->arg) != 0) {
			req->aborted = 1;
			return 0;
		}
		return len;
	}
	if (charge_growth(req, len) != 0) {
		req->over_budget = 1;
		return 0;
	}
	buf_append(&req->body, data, len);
	return len;
}

static const char *const failure_names[] = {
	[HTTP_FAIL_NONE] = "none",
	[HTTP_FAIL_CONNECT] = "connect",
	[HTTP_FAIL_TLS] = "tls",
	[HTTP_FAIL_TIMEOUT] = "timeout",
	[HTTP_FAIL_TOO_LARGE] = "too_large",
	[HTTP_FAIL_ABORTED] = "aborted",
	[HTTP_FAIL_BUDGET] = "budget",
	[HTTP_FAIL_OTHER] = "error",
};

const char *http_failure_name(enum http_failure f)
{
	return (size_t)f < sizeof(failure_names) / sizeof(failure_names[0]) ? failure_names[f]
									    : "error";
}

static enum http_failure classify(const http_request *req, CURLcode result)
{
	if (result == CURLE_OK)
		return HTTP_FAIL_NONE;
	if (req->too_large || result == CURLE_FILESIZE_EXCEEDED)
		return HTTP_FAIL_TOO_LARGE;
	if (req->aborted)
		return HTTP_FAIL_ABORTED;
	if (req->over_budget)
		return HTTP_FAIL_BUDGET;
	switch (result) {
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_FAIL_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return HTTP_FAIL_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
		return HTTP_FAIL_TLS;
	default:
		return HTTP_FAIL_OTHER;
	}
}

static void on_done(CURL *easy, CURLcode result, void *arg)
{
	http_request *req = arg;
	http_response resp = {0};
	char message[CURL_ERROR_SIZE + 128];
	/* Each of these only reads what the transfer recorded: on a failure the field
	 * keeps its zero, which is what a transfer without a response has. */
	if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp.status) != CURLE_OK)
		resp.status = 0;
	if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &resp.content_type) != CURLE_OK)
		resp.content_type = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &resp.seconds) != CURLE_OK)
		resp.seconds = 0;
	resp.failure = classify(req, result);
	resp.ok = resp.failure == HTTP_FAIL_NONE;
	resp.curl_code = result;
	long os_errno = 0;
	if (!resp.ok && curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK)
		resp.os_errno = (int)os_errno;
	if (resp.failure == HTTP_FAIL_TOO_LARGE) {
		snprintf(message, sizeof(message), "response body larger than %zu bytes",
			 req->max_body_bytes);
		resp.error = message;
	} else if (resp.failure == HTTP_FAIL_BUDGET) {
		snprintf(message, sizeof(message),
			 "memory budget exhausted after %zu body bytes (--memory-budget)",
			 req->received);
		resp.error = message;
	} else if (resp.failure == HTTP_FAIL_ABORTED) {
		resp.error = "transfer stopped by its reader";
	} else if (!resp.ok && req->setup_error != CURLE_OK) {
		snprintf(message, sizeof(message), "request setup failed: %s: %s",
			 req->setup_option, curl_easy_strerror(req->setup_error));
		resp.error = message;
	} else if (!resp.ok) {
		snprintf(message, sizeof(message), "%s",
			 req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
		resp.error = message;
	}
	resp.body = req->body.data ? req->body.data : (const unsigned char *)"";
	resp.body_len = req->body.len;
	resp.req = req;
	req->done(&resp, req->arg);
	request_free(req);
}

/* loop_free is ending the request before it finished: free it, say nothing. */
static void on_dropped(CURL *easy, void *arg)
{
	(void)easy;
	request_free(arg);
}

/* Records the first option curl refused; the request then fails from the loop naming it.
 * Every option set here is one the request must have (no redirects, no proxy, only
 * http and https, the limits), so none is skipped quietly. */
static void note_setopt(http_request *req, CURLcode rc, const char *option)
{
	if (rc == CURLE_OK || req->setup_error != CURLE_OK)
		return;
	req->setup_error = rc;
	req->setup_option = option;
	loop_count_curl_error("curl_easy_setopt");
	log_event(LOG_ERROR, "libcurl refused an option", "option", option, "error",
		  curl_easy_strerror(rc), NULL);
}

/* curl_slist_append fails only when memory is exhausted: like xalloc, stop. */
static struct curl_slist *slist_add(struct curl_slist *list, const char *s)
{
	struct curl_slist *out = curl_slist_append(list, s);
	if (!out) {
		fputs("kprofefe: out of memory (curl_slist_append)\n", stderr);
		abort();
	}
	return out;
}

/* libcurl may share the store it built from a CA file between the handles of a multi
 * for 24 h (CURLOPT_CA_CACHE_TIMEOUT's default). Mounted bundles (a ConfigMap, the
 * service account's ca.crt) are rotated in place: a store is never used longer than this
 * after it was loaded, so a changed bundle applies without a restart. */
#define HTTP_CA_RELOAD_S 60L

static void set_tls(CURL *easy, http_request *req, const http_tls *tls)
{
	if (tls->ca_file) {
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file),
			    "CURLOPT_CAINFO");
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_CA_CACHE_TIMEOUT, HTTP_CA_RELOAD_S),
			    "CURLOPT_CA_CACHE_TIMEOUT");
	}
	if (tls->ca_pem) {
		struct curl_blob blob = {(void *)(uintptr_t)tls->ca_pem, strlen(tls->ca_pem),
					 CURL_BLOB_COPY};
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob),
			    "CURLOPT_CAINFO_BLOB");
	}
	if (tls->cert_file)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert_file),
			    "CURLOPT_SSLCERT");
	if (tls->cert_pem) {
		struct curl_blob blob = {(void *)(uintptr_t)tls->cert_pem, strlen(tls->cert_pem),
					 CURL_BLOB_COPY};
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob),
			    "CURLOPT_SSLCERT_BLOB");
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM"),
			    "CURLOPT_SSLCERTTYPE");
	}
	if (tls->key_file)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key_file),
			    "CURLOPT_SSLKEY");
	if (tls->key_pem) {
		struct curl_blob blob = {(void *)(uintptr_t)tls->key_pem, strlen(tls->key_pem),
					 CURL_BLOB_COPY};
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &blob),
			    "CURLOPT_SSLKEY_BLOB");
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM"),
			    "CURLOPT_SSLKEYTYPE");
	}
	if (tls->insecure) {
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L),
			    "CURLOPT_SSL_VERIFYPEER");
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L),
			    "CURLOPT_SSL_VERIFYHOST");
	}
	if (tls->connect_host) {
		/* Any host and port of the URL goes to connect_host instead; the URL's
		 * host stays the name the certificate is checked against. */
		char *rule = xasprintf("::%s", tls->connect_host);
		req->connect_to = slist_add(NULL, rule);
		free(rule);
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_CONNECT_TO, req->connect_to),
			    "CURLOPT_CONNECT_TO");
	}
}

static void set_method_and_body(CURL *easy, http_request *req, const http_options *opt)
{
	if (opt->body) {
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_POSTFIELDS, opt->body),
			    "CURLOPT_POSTFIELDS");
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opt->body_len),
			    "CURLOPT_POSTFIELDSIZE_LARGE");
	}
	/* HEAD must be curl's own, or it would wait for a body that never comes. */
	if (opt->method && strcmp(opt->method, "HEAD") == 0)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_NOBODY, 1L),
			    "CURLOPT_NOBODY");
	else if (opt->method && strcmp(opt->method, opt->body ? "POST" : "GET") != 0)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, opt->method),
			    "CURLOPT_CUSTOMREQUEST");
}

static void set_limits(CURL *easy, http_request *req, const http_options *opt)
{
	long connect_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 5000L;
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms),
		    "CURLOPT_CONNECTTIMEOUT_MS");
	if (opt->timeout_ms > 0)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, opt->timeout_ms),
			    "CURLOPT_TIMEOUT_MS");
	if (opt->idle_timeout_s > 0) {
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L),
			    "CURLOPT_LOW_SPEED_LIMIT");
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, opt->idle_timeout_s),
			    "CURLOPT_LOW_SPEED_TIME");
	}
	if (opt->max_body_bytes && !opt->accept_encoding)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_body_bytes),
			    "CURLOPT_MAXFILESIZE_LARGE");
}

http_request *http_start(loop_t *loop, const char *url, const http_options *opt,
			 http_done_fn done, void *arg)
{
	static const http_options none = {0};
	if (!opt)
		opt = &none;
	http_request *req = xcalloc(1, sizeof(*req));
	req->loop = loop;
	req->easy = curl_easy_init();
	if (!req->easy) {
		fputs("kprofefe: curl_easy_init failed (out of memory)\n", stderr);
		abort();
	}
	req->budget = opt->budget;
	req->max_body_bytes = opt->max_body_bytes;
	req->on_data = opt->on_data;
	req->done = done;
	req->arg = arg;
	CURL *easy = req->easy;

	note_setopt(req, curl_easy_setopt(easy, CURLOPT_URL, url), "CURLOPT_URL");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), "CURLOPT_NOSIGNAL");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf),
		    "CURLOPT_ERRORBUFFER");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"),
		    "CURLOPT_PROTOCOLS_STR");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L),
		    "CURLOPT_FOLLOWLOCATION");
	/* Peers are the API server, profefe and pods, never through a proxy from
	 * the environment: a pod's profile must not leave for somewhere else. */
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_PROXY, ""), "CURLOPT_PROXY");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_USERAGENT, "kprofefe/" KPROFEFE_VERSION),
		    "CURLOPT_USERAGENT");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body),
		    "CURLOPT_WRITEFUNCTION");
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_WRITEDATA, req),
		    "CURLOPT_WRITEDATA");
	/* A node agent keeps hundreds of transfers open at once, each with curl's
	 * receive buffer from its connect on: 16 KiB by default, most of the
	 * collector's heap. Profiles come from nearby peers, where 1 KiB reads
	 * (curl's least) cost nothing. Not over HTTP/2: there curl 7.88 leaves what
	 * a read buffer cannot take in its stream until the next socket event, and
	 * with 1 KiB a page of the pod list waited 90 s for the API server to close
	 * the idle connection; 4 KiB has not stalled. */
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, opt->http1 ? 1024L : 4096L),
		    "CURLOPT_BUFFERSIZE");
	if (opt->accept_encoding)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip"),
			    "CURLOPT_ACCEPT_ENCODING");
	if (opt->no_reuse)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L),
			    "CURLOPT_FORBID_REUSE");
	if (opt->http1)
		note_setopt(req, curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1),
			    "CURLOPT_HTTP_VERSION");
	set_limits(easy, req, opt);
	set_method_and_body(easy, req, opt);
	if (opt->tls)
		set_tls(easy, req, opt->tls);

	/* An upload must not wait for "100 Continue" that some servers never send. */
	req->headers = slist_add(NULL, "Expect:");
	for (const char *const *h = opt->headers; h && *h; h++)
		req->headers = slist_add(req->headers, *h);
	note_setopt(req, curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers),
		    "CURLOPT_HTTPHEADER");

	if (req->setup_error != CURLE_OK)
		loop_add_failed(loop, easy, req->setup_error, on_done, on_dropped, req);
	else
		loop_add_owned(loop, easy, on_done, on_dropped, req);
	return req;
}

void http_cancel(http_request *req)
{
	if (!req)
		return;
	/* Inside a curl callback the loop keeps the handle until curl returns, and curl
	 * may call on_body meanwhile: it must find the request alive and do nothing. */
	req->canceled = 1;
	loop_cancel(req->loop, req->easy); /* on_dropped frees req, now or later */
}

unsigned char *http_take_body(http_request *req, size_t *len)
{
	unsigned char *data = req->body.data;
	size_t n = req->body.len;
	*len = 0;
	if (!data)
		return NULL;
	/* Shrink to the bytes received, so that the budget counts what is kept. */
	data = xrealloc(data, n + 1);
	budget_give(req->budget, req->charged);
	req->charged = 0;
	budget_force(req->budget, n);
	req->body.data = NULL;
	req->body.len = req->body.cap = 0;
	*len = n;
	return data;
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_t out = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int unreserved = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
				 (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
				 *p == '_' || *p == '~';
		if (unreserved) {
			buf_append(&out, p, 1);
			continue;
		}
		char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		buf_append(&out, enc, 3);
	}
	return buf_detach(&out);
}
