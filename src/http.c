/* http: one HTTP request on the shared loop, with timeouts, a size cap and no redirects. */
#include "kprofefe/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/buf.h"
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
	int (*on_data)(const unsigned char *data, size_t len, void *arg);
	http_done_fn done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

static void request_free(http_request *req)
{
	curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	curl_slist_free_all(req->connect_to);
	buf_free(&req->body);
	free(req);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	http_request *req = userp;
	size_t len = size * nmemb;
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
	buf_append(&req->body, data, len);
	return len;
}

static enum http_failure classify(const http_request *req, CURLcode result)
{
	if (result == CURLE_OK)
		return HTTP_FAIL_NONE;
	if (req->too_large || result == CURLE_FILESIZE_EXCEEDED)
		return HTTP_FAIL_TOO_LARGE;
	if (req->aborted)
		return HTTP_FAIL_ABORTED;
	switch (result) {
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_FAIL_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return HTTP_FAIL_CONNECT;
	default:
		return HTTP_FAIL_OTHER;
	}
}

static void on_done(CURL *easy, CURLcode result, void *arg)
{
	http_request *req = arg;
	http_response resp = {0};
	char message[CURL_ERROR_SIZE + 128];
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp.status);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &resp.content_type);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &resp.seconds);
	resp.failure = classify(req, result);
	resp.ok = resp.failure == HTTP_FAIL_NONE;
	if (resp.failure == HTTP_FAIL_TOO_LARGE) {
		snprintf(message, sizeof(message), "response body larger than %zu bytes",
			 req->max_body_bytes);
		resp.error = message;
	} else if (resp.failure == HTTP_FAIL_ABORTED) {
		resp.error = "transfer stopped by its reader";
	} else if (!resp.ok) {
		snprintf(message, sizeof(message), "%s",
			 req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
		resp.error = message;
	}
	resp.body = req->body.data ? req->body.data : (const unsigned char *)"";
	resp.body_len = req->body.len;
	req->done(&resp, req->arg);
	request_free(req);
}

/* loop_free is ending the request before it finished: free it, say nothing. */
static void on_dropped(CURL *easy, void *arg)
{
	(void)easy;
	request_free(arg);
}

static void set_tls(CURL *easy, http_request *req, const http_tls *tls)
{
	if (tls->ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file);
	if (tls->ca_pem) {
		struct curl_blob blob = {(void *)(uintptr_t)tls->ca_pem, strlen(tls->ca_pem),
					 CURL_BLOB_COPY};
		curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (tls->cert_file)
		curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert_file);
	if (tls->cert_pem) {
		struct curl_blob blob = {(void *)(uintptr_t)tls->cert_pem, strlen(tls->cert_pem),
					 CURL_BLOB_COPY};
		curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (tls->key_file)
		curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key_file);
	if (tls->key_pem) {
		struct curl_blob blob = {(void *)(uintptr_t)tls->key_pem, strlen(tls->key_pem),
					 CURL_BLOB_COPY};
		curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (tls->insecure) {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (tls->connect_host) {
		/* Any host and port of the URL goes to connect_host instead; the URL's
		 * host stays the name the certificate is checked against. */
		char *rule = xasprintf("::%s", tls->connect_host);
		req->connect_to = curl_slist_append(NULL, rule);
		free(rule);
		curl_easy_setopt(easy, CURLOPT_CONNECT_TO, req->connect_to);
	}
}

static void set_method_and_body(CURL *easy, const http_options *opt)
{
	if (opt->body) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, opt->body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opt->body_len);
	}
	/* HEAD must be curl's own, or it would wait for a body that never comes. */
	if (opt->method && strcmp(opt->method, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else if (opt->method && strcmp(opt->method, opt->body ? "POST" : "GET") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, opt->method);
}

static void set_limits(CURL *easy, const http_options *opt)
{
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
			 opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 5000L);
	if (opt->timeout_ms > 0)
		curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, opt->timeout_ms);
	if (opt->idle_timeout_s > 0) {
		curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, opt->idle_timeout_s);
	}
	if (opt->max_body_bytes && !opt->accept_encoding)
		curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_body_bytes);
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
	req->max_body_bytes = opt->max_body_bytes;
	req->on_data = opt->on_data;
	req->done = done;
	req->arg = arg;
	CURL *easy = req->easy;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* Peers are the API server, profefe and pods, never through a proxy from
	 * the environment: a pod's profile must not leave for somewhere else. */
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "kprofefe/" KPROFEFE_VERSION);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	/* A node agent keeps hundreds of transfers open at once; curl's 16 KiB
	 * receive buffer each was most of the collector's heap. Profiles and API
	 * replies come from nearby peers, where 4 KiB reads cost nothing. */
	curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 4096L);
	if (opt->accept_encoding)
		curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip");
	if (opt->http1)
		curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	set_limits(easy, opt);
	set_method_and_body(easy, opt);
	if (opt->tls)
		set_tls(easy, req, opt->tls);

	/* An upload must not wait for "100 Continue" that some servers never send. */
	req->headers = curl_slist_append(NULL, "Expect:");
	for (const char *const *h = opt->headers; h && *h; h++)
		req->headers = curl_slist_append(req->headers, *h);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);

	loop_add_owned(loop, easy, on_done, on_dropped, req);
	return req;
}

void http_cancel(http_request *req)
{
	if (!req)
		return;
	loop_remove(req->loop, req->easy);
	request_free(req);
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
