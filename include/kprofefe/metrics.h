/* metrics: the process's counters and gauges, and the /metrics, /healthz, /readyz server. */
#ifndef KPROFEFE_METRICS_H
#define KPROFEFE_METRICS_H

#include <ev.h>
#include <stddef.h>

/* Declares a metric once, before use; type is "counter" or "gauge". Strings borrowed
 * (string literals). Registering the same name twice is a no-op. */
void metrics_register(const char *name, const char *type, const char *help);

/* Adds delta to (or sets) the series of name with the given labels: NULL-terminated
 * key/value string pairs, copied. Using an unregistered name aborts: it is a bug. */
void metrics_add(const char *name, double delta, ...);
void metrics_set(const char *name, double value, ...);
/* The current value of one series, 0 when it does not exist (for tests and --once). */
double metrics_get(const char *name, ...);

/* Prometheus text exposition of every series; the caller frees it. */
char *metrics_render(void);
/* Forgets every metric and series (tests, and before exit so no leak is reported). */
void metrics_reset(void);

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
