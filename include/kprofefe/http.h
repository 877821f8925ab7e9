/* http: one HTTP request on the shared loop, with the limits every untrusted peer needs. */
#ifndef KPROFEFE_HTTP_H
#define KPROFEFE_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "kprofefe/budget.h"
#include "kprofefe/loop.h"

/* TLS settings for one peer. Read only inside http_start (libcurl keeps its own
 * copies), so they may change or go away as soon as it returns. */
typedef struct http_tls {
	const char *ca_file;      /* PEM bundle to trust, or NULL */
	const char *ca_pem;       /* the same, inline (kubeconfig *-data), or NULL */
	const char *cert_file;    /* client certificate, or NULL */
	const char *cert_pem;
	const char *key_file;     /* client key, or NULL */
	const char *key_pem;
	int insecure;             /* skip verification of the server (never default) */
	const char *connect_host; /* "host:port" ([v6]:port) to dial instead of the
	                             URL's host, which then only names the certificate
	                             (kubeconfig tls-server-name); NULL: the URL's */
} http_tls;

typedef struct http_options {
	const char *method;              /* NULL: GET, or POST when body is set */
	const unsigned char *body;       /* borrowed until done/cancel; NULL for none */
	size_t body_len;
	const char *const *headers;      /* NULL-terminated "Name: value" list, copied */
	long connect_timeout_ms;         /* 0: 5000 */
	long timeout_ms;                 /* whole transfer; 0: none (watch streams) */
	long idle_timeout_s;             /* abort when under 1 byte/s for this long; 0: off */
	size_t max_body_bytes;           /* 0: unlimited; above it the request fails
	                                    (streamed bytes count too) */
	const http_tls *tls;             /* NULL: system CA store; read in http_start only */
	int accept_encoding;             /* ask for and decode gzip (JSON APIs only) */
	int http1;                       /* never HTTP/2 (see profefe.c for why); also
	                                    gets the smallest read buffer (http.c) */
	int no_reuse;                    /* close the connection afterwards instead of
	                                    keeping it in curl's cache */
	/* Streaming: when set, body bytes go here as they arrive instead of being
	 * kept, error bodies (4xx, 5xx) included, before done tells the status;
	 * return 0 to go on, non-zero to abort the transfer. */
	int (*on_data)(const unsigned char *data, size_t len, void *arg);
	/* Borrowed; NULL: none. The kept body's buffer is taken from it as it grows; when
	 * it does not fit the transfer fails with HTTP_FAIL_BUDGET. Given back when the
	 * request ends, unless the body is taken (http_take_body). */
	budget_t *budget;
} http_options;

/* Why a transfer failed, coarse enough to be a metric label (http_failure_name). */
enum http_failure {
	HTTP_FAIL_NONE,      /* completed, whatever the status */
	HTTP_FAIL_CONNECT,   /* DNS, refused, unreachable */
	HTTP_FAIL_TLS,       /* TLS handshake: the peer's certificate failed verification,
	                        or it does not speak TLS, or our own files are bad */
	HTTP_FAIL_TIMEOUT,   /* connect, total or idle timeout */
	HTTP_FAIL_TOO_LARGE, /* the body passed max_body_bytes */
	HTTP_FAIL_ABORTED,   /* on_data asked to stop */
	HTTP_FAIL_BUDGET,    /* the body did not fit the memory budget */
	HTTP_FAIL_OTHER
};

/* "connect", "tls", ...: static. */
const char *http_failure_name(enum http_failure f);

typedef struct http_request http_request;

typedef struct http_response {
	long status;                /* HTTP status; 0 when none arrived */
	int ok;                     /* transfer completed (any status) */
	enum http_failure failure;  /* HTTP_FAIL_NONE when ok */
	CURLcode curl_code;         /* curl's result for the transfer (CURLE_OK when ok) */
	int os_errno;               /* the OS's errno behind a failed connect, else 0 */
	const char *error;          /* why the transfer failed, or NULL when ok */
	const unsigned char *body;  /* NUL-terminated; empty when streamed */
	size_t body_len;
	const char *content_type;   /* or NULL */
	double seconds;             /* wall time of the transfer */
	http_request *req;          /* for http_take_body */
} http_response;

typedef void (*http_done_fn)(const http_response *resp, void *arg);

/*
 * Starts a request; done is called exactly once from the loop (never from inside
 * http_start), unless http_cancel comes first. The response and everything it
 * points to is valid only during the callback. Redirects are never followed and
 * only http and https are allowed. The request frees itself after done returns,
 * or in loop_free if it is still running then (done is not called).
 */
http_request *http_start(loop_t *loop, const char *url, const http_options *opt,
			 http_done_fn done, void *arg);
/* Stops a request that has not finished; done is not called. Safe from anywhere, curl
 * callbacks included: the loop frees it once curl lets go of it (loop.h). */
void http_cancel(http_request *req);

/*
 * Inside done only: takes the kept body out of the request without copying it (resp's
 * body is gone afterwards). The caller owns the buffer (NUL-terminated, free() it) and,
 * with a budget, the *len bytes taken from it for the body (budget_give them when the
 * buffer is freed). NULL, *len 0 when there is no body.
 */
unsigned char *http_take_body(http_request *req, size_t *len);

/* Percent-encodes s for a URL query or path segment (RFC 3986 unreserved kept). */
char *http_escape(const char *s);

#endif
