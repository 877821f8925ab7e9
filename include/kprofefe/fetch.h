/* fetch: one pprof profile over HTTP from a pod (directly or through the API server's
 * pod proxy), with timeouts, size caps and a check that the body really is pprof. */
#ifndef KPROFEFE_FETCH_H
#define KPROFEFE_FETCH_H

#include <stddef.h>

#include "kprofefe/budget.h"
#include "kprofefe/http.h"
#include "kprofefe/loop.h"
#include "kprofefe/pprof.h"

#define FETCH_DEFAULT_CPU_SECONDS 10
#define FETCH_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define FETCH_DEFAULT_MARGIN_MS 10000L
#define FETCH_DEFAULT_PLAIN_TIMEOUT_MS 30000L
/* Per-profile caps. A heap profile of a large Go service is a few MiB compressed and
 * inflates about tenfold; checking an inflated profile keeps only a few KiB (pprof.h),
 * so the inflated cap bounds the time a gzip bomb costs, not memory. */
#define FETCH_DEFAULT_MAX_BYTES ((size_t)8 << 20)
#define FETCH_DEFAULT_MAX_INFLATED_BYTES ((size_t)64 << 20)

/* Every field may be 0/NULL for its default. */
typedef struct fetch_options {
	int cpu_seconds;          /* profile?seconds= and trace?seconds=; 0: 10 */
	enum pprof_delta delta;   /* how a cumulative type (pprof_type_is_cumulative) is
	                             asked for: PPROF_DELTA_SECONDS over cpu_seconds, with
	                             the CPU profile's timeout; PPROF_DELTA_GODELTAPROF from
	                             its delta_* endpoint, with the plain timeout */
	long connect_timeout_ms;  /* 0: FETCH_DEFAULT_CONNECT_TIMEOUT_MS */
	long margin_ms;           /* cpu and trace: total timeout = cpu_seconds + margin;
	                             0: FETCH_DEFAULT_MARGIN_MS */
	long plain_timeout_ms;    /* total timeout of the other types; 0: 30 s */
	size_t max_profile_bytes; /* response body cap; 0: FETCH_DEFAULT_MAX_BYTES */
	size_t max_inflated_bytes; /* cap when inflating to check;
	                              0: FETCH_DEFAULT_MAX_INFLATED_BYTES */
	/* Borrowed, NULL for none: the body is taken from it as it arrives (a body that
	 * does not fit fails with reason "budget"), and so is the profile handed over. */
	budget_t *budget;
	/* Transport for the pod-proxy case (both read in fetch_start only). By default
	 * neither is set and no credentials at all go to pods. */
	const http_tls *tls;
	const char *const *headers; /* NULL-terminated "Name: value" list */
} fetch_options;

/*
 * Why a fetch failed; FETCH_OK when it did not. fetch_reason_name gives the metric label
 * and log field (kprofefe_fetch_total{result}); code decides on the enum, never on the
 * name or a message.
 */
enum fetch_reason {
	FETCH_OK,
	FETCH_CONNECT,    /* no connection (refused, unreachable, DNS) */
	FETCH_TLS,        /* TLS handshake: certificate not verified, wrong name, not TLS */
	FETCH_TIMEOUT,    /* connect or total timeout */
	FETCH_REDIRECT,   /* a 3xx (redirects are refused, never followed) */
	FETCH_BUSY,       /* 500 because a CPU profile or trace is already running there */
	FETCH_HTTP_4XX,
	FETCH_HTTP_5XX,
	FETCH_HTTP_OTHER, /* other statuses */
	FETCH_TOO_LARGE,  /* body above max_profile_bytes (or inflating above its cap) */
	FETCH_BUDGET,     /* the body did not fit the memory budget */
	FETCH_NOT_PPROF,  /* 2xx but not a profile of the type (see body_reason) */
	FETCH_ERROR,      /* any other transfer failure */
	FETCH_REASON_COUNT
};

/* "ok", "connect", "tls", "timeout", "redirect", "busy", "http_4xx", "http_5xx",
 * "http_other", "too_large", "budget", "not_pprof", "error": static. ("canceled" is only
 * counted in the metric: done is never called after fetch_cancel.) */
const char *fetch_reason_name(enum fetch_reason r);

/* What a fetch ended with; handed to the done callback and valid only during it. */
typedef struct fetch_result {
	int ok;                  /* reason == FETCH_OK */
	enum pprof_type type;
	const char *url;         /* the URL fetched */
	long status;             /* HTTP status, 0 when none */
	unsigned char *data;     /* ok: gzip pprof (a trace for PPROF_TRACE), NULL otherwise.
	                            Freed after the callback returns unless taken with
	                            fetch_result_take. With a budget, len bytes of it are
	                            taken for data, and go with it. */
	size_t len;
	pprof_body_facts facts;  /* ok: samples, time and duration the profile holds */
	int empty;               /* ok: a valid profile without samples (what a Go process
	                            that never enabled mutex or block profiling serves);
	                            profefe refuses these */
	double seconds;          /* wall time of the transfer */
	enum fetch_reason reason;
	enum pprof_reason body_reason; /* FETCH_NOT_PPROF/FETCH_TOO_LARGE from the body
	                                  check, else PPROF_REASON_NONE */
	CURLcode curl_code;      /* the transfer's curl result (CURLE_OK when it completed) */
	int os_errno;            /* the errno behind a failed connect, else 0 */
	const char *message;     /* failure: human text naming the URL; NULL when ok */
} fetch_result;

/* Takes the profile bytes out of res: the caller owns and free()s the result; *len (may
 * be NULL) gets their size, which the caller gives back to the budget (if any) when it
 * frees them. Returns NULL when there are none. */
unsigned char *fetch_result_take(fetch_result *res, size_t *len);

typedef void (*fetch_done_fn)(fetch_result *res, void *arg);

typedef struct fetch fetch;

/*
 * Starts fetching one profile of type t from base_url + "/" + pprof_endpoint(t,
 * cpu_seconds) (pprof_delta_endpoint with opt->delta) (base_url like pod_target's base_url or a pod-proxy URL; a trailing '/'
 * is not doubled). base_url and opt, tls and headers included, are borrowed for
 * the call only. done is called exactly once
 * from the loop, never from inside fetch_start, unless fetch_cancel comes first. The
 * handle frees itself after done returns. Counts kprofefe_fetch_total{type,result}
 * (result "ok" or the reason) and kprofefe_fetch_bytes_total{type} (response body bytes
 * received). Fetches still running when the loop is freed are lost: cancel them first.
 */
fetch *fetch_start(loop_t *loop, const char *base_url, enum pprof_type t,
		   const fetch_options *opt, fetch_done_fn done, void *arg);
/* Stops a fetch whose done has not been called yet (not from inside its own done) and
 * frees it; done is never called. Counts result "canceled". NULL is a no-op. */
void fetch_cancel(fetch *f);

#endif
