/* metrics: the process's counters and gauges, and the /metrics, /healthz, /readyz server. */
#ifndef KPROFEFE_METRICS_H
#define KPROFEFE_METRICS_H

#include <ev.h>
#include <stddef.h>

/* Every metric the programs serve, by id: a misspelt id does not compile, and every
 * one is declared (metrics_defs.c) before the first use, so nothing can fail at run
 * time for a name. The name is the id lowercased with "kprofefe_" before it, except
 * the process_* ones. */
enum metric_id {
	METRIC_TARGETS,
	METRIC_TARGETS_INVALID_TOTAL,
	METRIC_PROFILES_COLLECTED_TOTAL,
	METRIC_PROFILES_SKIPPED_TOTAL,
	METRIC_DELTA_IGNORED_TOTAL,
	METRIC_FETCH_TOTAL,
	METRIC_FETCH_BYTES_TOTAL,
	METRIC_FETCH_BUDGET_WAITS_TOTAL,
	METRIC_BUSY_RETRIES_TOTAL,
	METRIC_POD_TLS_INSECURE_TOTAL,
	METRIC_POD_TOKEN_RELOADS_TOTAL,
	METRIC_ROUND_DURATION_SECONDS,
	METRIC_CPU_SECONDS,
	METRIC_UPLOADS_TOTAL,
	METRIC_UPLOAD_BYTES_TOTAL,
	METRIC_UPLOAD_DURATION_SECONDS,
	METRIC_LAST_UPLOAD_SUCCESS_TIMESTAMP_SECONDS,
	METRIC_QUEUE_DEPTH,
	METRIC_QUEUE_DROPPED_TOTAL,
	METRIC_SPOOL_ENTRIES,
	METRIC_SPOOL_BYTES,
	METRIC_SPOOL_OLDEST_AGE_SECONDS,
	METRIC_SPOOL_WRITTEN_TOTAL,
	METRIC_SPOOL_DRAINED_TOTAL,
	METRIC_SPOOL_EVICTED_TOTAL,
	METRIC_SPOOL_QUARANTINED_TOTAL,
	METRIC_SPOOL_REJECTED_TOTAL,
	METRIC_SPOOL_ERRORS_TOTAL,
	METRIC_MEMORY_BUDGET_BYTES,
	METRIC_MEMORY_BUDGET_USED_BYTES,
	METRIC_MEMORY_BUDGET_ERRORS_TOTAL,
	METRIC_KUBE_REQUESTS_TOTAL,
	METRIC_WATCH_RESTARTS_TOTAL,
	METRIC_CURL_ERRORS_TOTAL,
	METRIC_LOOP_LAG_SECONDS,
	METRIC_READY,
	METRIC_BUILD_INFO,
	METRIC_PROCESS_CPU_SECONDS_TOTAL,
	METRIC_PROCESS_RESIDENT_MEMORY_BYTES,
	METRIC_PROCESS_START_TIME_SECONDS,
	METRIC_COUNT
};

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* One metric's declaration. Strings and buckets are static. */
typedef struct metric_def {
	const char *name;
	enum metric_type type;
	const char *help;
	const double *buckets;  /* histograms: upper bounds, ascending (+Inf is implied) */
	size_t nbuckets;
} metric_def;

/* The declarations, indexed by enum metric_id (metrics_defs.c). */
extern const metric_def metrics_defs[METRIC_COUNT];
/* The name of a metric, as served. */
const char *metrics_name(enum metric_id id);

/* Adds delta to (or sets) the series of id with the given labels: NULL-terminated
 * key/value string pairs, copied. Set also takes counters that mirror a total kept
 * elsewhere (process_cpu_seconds_total). */
void metrics_add(enum metric_id id, double delta, ...);
void metrics_set(enum metric_id id, double value, ...);
/* Counts one observation of value in a histogram's series. */
void metrics_observe(enum metric_id id, double value, ...);
/* The current value of one series, 0 when it does not exist (for tests and --once);
 * of a histogram, its count. */
double metrics_get(enum metric_id id, ...);

/* Prometheus text exposition of every series; the caller frees it. Every declared
 * metric has its HELP and TYPE, with or without series. */
char *metrics_render(void);
/* Forgets every series (tests, and before exit so no leak is reported). */
void metrics_reset(void);
/* Tests only: serve the declarations in defs (n of them, borrowed until the next call)
 * instead of metrics_defs, ids being their indexes; NULL restores metrics_defs. Forgets
 * every series. */
void metrics_use_defs(const metric_def *defs, size_t n);

/* Sets the process_* gauges from /proc/self (what a Prometheus client library serves);
 * /metrics calls it before each render. */
void metrics_update_process(void);

/* What /readyz answers: ready when the callback returns non-zero. */
typedef int (*metrics_ready_fn)(void *arg);

typedef struct metrics_server metrics_server;
/* Serves /metrics, /healthz and /readyz on addr ("host:port", port 0 picks one) from
 * the given loop. Returns NULL with a message in err on failure. */
metrics_server *metrics_serve(struct ev_loop *ev, const char *addr, metrics_ready_fn ready,
			      void *arg, char *err, size_t errlen);
/* The port it listens on. */
int metrics_server_port(const metrics_server *srv);
void metrics_server_free(metrics_server *srv);

#endif
