/* profefe: client of profefe's HTTP API (upload, services, profiles, version) on the shared loop. */
#ifndef KPROFEFE_PROFEFE_H
#define KPROFEFE_PROFEFE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kprofefe/http.h"
#include "kprofefe/loop.h"

typedef struct profefe_client_options {
	const char *ca_file;       /* PEM bundle for https, or NULL: system store */
	const char *token;         /* sent as "Authorization: Bearer <token>", or NULL */
	const char *extra_header;  /* one "Name: value" for an authenticating proxy, or NULL */
	long connect_timeout_ms;   /* 0: 5000 */
	long timeout_ms;           /* whole request; 0: 30000 */
	size_t max_reply_bytes;    /* cap on JSON replies; 0: 16 MiB */
} profefe_client_options;

typedef struct profefe_client profefe_client;

/*
 * A client for the profefe at base_url ("http(s)://host:port[/prefix]", a trailing '/'
 * is dropped). Strings are copied. Returns NULL with a message in err when base_url is
 * not http(s) or extra_header has no ':'.
 */
profefe_client *profefe_client_new(loop_t *loop, const char *base_url,
				   const profefe_client_options *opt, char *err, size_t errlen);
/* Cancels every request still running (their callbacks are not called) and frees.
 * NULL is fine. Call it before loop_free: loop_free drops the HTTP requests but not
 * this client's bookkeeping of them. */
void profefe_client_free(profefe_client *c);
const char *profefe_client_base_url(const profefe_client *c);
/* Why the latest of c's requests to finish got no response (HTTP_FAIL_CONNECT: profefe is
 * not reachable at the base URL), or HTTP_FAIL_NONE when it got one. Inside a request's
 * callback, that request's. */
enum http_failure profefe_client_failure(const profefe_client *c);

/*
 * Labels for profefe: pairs is a NULL-terminated list of key, value, key, value...
 * Each key and value is percent-encoded (so ',' '=' '%' and anything else not
 * unreserved survive profefe's split-then-unescape), then joined as k=v,k=v.
 * Returns "" for no pairs; the caller frees.
 */
char *profefe_labels_encode(const char *const *pairs);

/* Encoded labels back into a NULL-terminated key, value... list (never NULL; empty
 * for NULL or ""); items without '=' or key are left out. Free with
 * profefe_strv_free. */
char **profefe_labels_decode(const char *labels);

/* The decoded value of key in encoded labels, or NULL when absent. Caller frees. */
char *profefe_label_value(const char *labels, const char *key);

/* ---- upload ---- */

enum profefe_outcome {
	PROFEFE_OK,        /* 200/201: stored */
	PROFEFE_RETRY,     /* connection error, timeout, 5xx, 408, 429: try again later */
	PROFEFE_REJECTED   /* any other status: retrying will not help */
};

/* "ok", "retry", "rejected": the result label of uploads (static). */
const char *profefe_outcome_name(enum profefe_outcome o);

typedef struct profefe_upload_result {
	enum profefe_outcome outcome;
	long status;           /* HTTP status; 0 when none arrived */
	const char *message;   /* why (profefe's {error} text, or the transport error), NULL on OK */
	const char *id;        /* the stored profile's id on OK, when the reply had one; or NULL */
	double seconds;
} profefe_upload_result;

/* Called once from the loop; the result and its strings live only during the call. */
typedef void (*profefe_upload_fn)(const profefe_upload_result *res, void *arg);

typedef struct profefe_request profefe_request;

/*
 * POST /api/0/profiles?service=S&type=T&instance_id=I&labels=L with data as the body.
 * labels is already encoded (profefe_labels_encode) and may be NULL or "". I is the
 * value of the label "pod" (the instance_id of profefe's first API, which
 * kube-profefe sent), left out when there is none. Strings are copied;
 * data is borrowed until done is called or the request is canceled. done is never
 * called from inside this function. The handle is valid until then.
 */
profefe_request *profefe_upload(profefe_client *c, const char *service, const char *type,
				const char *labels, const unsigned char *data, size_t len,
				profefe_upload_fn done, void *arg);
/*
 * profefe_upload with created_at: the collection time (unix ns, sent in profefe's
 * format, UTC, whole seconds; 0 or less: not sent). profefe prefers the profile's own
 * time_nanos, so this is the time of what it cannot read a time from (a trace, a
 * profile without time_nanos), and keeps a replayed profile's time.
 */
profefe_request *profefe_upload_at(profefe_client *c, const char *service, const char *type,
				   const char *labels, int64_t created_ns,
				   const unsigned char *data, size_t len, profefe_upload_fn done,
				   void *arg);
/* Stops a request that has not called back yet; its callback is not called. */
void profefe_cancel(profefe_request *req);

/* Classifies a finished upload's reply (exposed for tests). The result's strings point
 * into *scratch, which the caller frees with free() after use. */
void profefe_classify_upload(const http_response *resp, profefe_upload_result *out,
			     char **scratch);

/* ---- queries (the kubectl plugin) ---- */

typedef struct profefe_profile_meta {
	char *id;
	char *type;
	char *service;
	char *created_at;  /* as profefe wrote it (RFC 3339) */
	char **labels;     /* NULL-terminated key, value, key, value... */
} profefe_profile_meta;

typedef struct profefe_query {
	const char *service;   /* required */
	const char *type;      /* required: "cpu", "heap", ... */
	time_t from, to;       /* 0: not sent */
	const char *labels;    /* encoded, or NULL */
	int limit;             /* 0: not sent */
} profefe_query;

/* error is NULL on success; every pointer lives only during the call. */
typedef void (*profefe_services_fn)(const char *const *names, size_t n, const char *error,
				    void *arg);
typedef void (*profefe_profiles_fn)(const profefe_profile_meta *items, size_t n,
				    const char *error, void *arg);
/* version: the reply's body as compact JSON text (profefe's version details). */
typedef void (*profefe_version_fn)(const char *version, const char *error, void *arg);

/* GET /api/0/services. "nothing found" (404 from profefe) is an empty list. */
profefe_request *profefe_services(profefe_client *c, profefe_services_fn done, void *arg);
/* GET /api/0/profiles?service&type&from&to&labels&limit. */
profefe_request *profefe_profiles(profefe_client *c, const profefe_query *q,
				  profefe_profiles_fn done, void *arg);
/* GET /api/0/version. */
profefe_request *profefe_version(profefe_client *c, profefe_version_fn done, void *arg);

/*
 * GET of any URL with the client's credentials, TLS and timeouts (for the URLs below,
 * which answer pprof bytes). opt may be NULL; when given, its streaming fields
 * (on_data, max_body_bytes, timeout_ms) are used, the rest is the client's. The
 * response is as http.h says; done is called once unless canceled.
 */
profefe_request *profefe_get(profefe_client *c, const char *url, const http_options *opt,
			     http_done_fn done, void *arg);

/* URL of one stored profile: <base>/api/0/profiles/<id>. Caller frees. */
char *profefe_profile_url(const profefe_client *c, const char *id);
/* URL of the merge of a query's profiles: <base>/api/0/profiles/merge?... Caller frees. */
char *profefe_merge_url(const profefe_client *c, const profefe_query *q);
/* Formats t as profefe's query time 2006-01-02T15:04:05 (UTC) into out. */
void profefe_format_time(time_t t, char out[20]);

/*
 * Reply parsing (exposed for tests). endpoint names the request in messages, e.g.
 * "GET /api/0/services". Each returns 0, or -1 with a message in err naming the
 * endpoint. Results are owned by the caller: free with profefe_strv_free /
 * profefe_metas_free / free.
 */
int profefe_parse_services(const char *endpoint, long status, const char *body, char ***names,
			   size_t *n, char *err, size_t errlen);
int profefe_parse_profiles(const char *endpoint, long status, const char *body,
			   profefe_profile_meta **items, size_t *n, char *err, size_t errlen);
int profefe_parse_version(const char *endpoint, long status, const char *body, char **version,
			  char *err, size_t errlen);
void profefe_strv_free(char **v);
void profefe_metas_free(profefe_profile_meta *items, size_t n);

#endif
