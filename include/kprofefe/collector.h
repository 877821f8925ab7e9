/* collector: keeps the node's annotated pods as targets and scrapes each on its schedule. */
#ifndef KPROFEFE_COLLECTOR_H
#define KPROFEFE_COLLECTOR_H

#include <stddef.h>

#include "kprofefe/batch.h"
#include "kprofefe/budget.h"
#include "kprofefe/fetch.h"
#include "kprofefe/kube.h"
#include "kprofefe/loop.h"
#include "kprofefe/pod.h"

/* What the collector calls outside itself: fetches, the pod watch and the upload queue.
 * collector_io_default holds the real ones; a unit test gives its own, and drives the
 * scheduler without a pod or an API server. */
typedef struct collector_io {
	fetch *(*fetch_start)(loop_t *loop, const char *base_url, enum pprof_type t,
			      const fetch_options *opt, fetch_done_fn done, void *arg);
	void (*fetch_cancel)(fetch *f);
	kube_pod_watch *(*watch_start)(kube_client *kc, const char *field_selector,
				       const char *label_selector,
				       const kube_pod_watch_callbacks *cb);
	void (*watch_stop)(kube_pod_watch *w);
	int (*submit)(batch_t *b, const batch_profile *p, unsigned char *data, size_t len);
} collector_io;

extern const collector_io collector_io_default;

typedef struct collector_options {
	const char *node_name;     /* required: only this node's pods are listed */
	double interval_s;         /* each target is scraped this often */
	double jitter_s;           /* a new target's first scrape waits up to this long */
	pod_defaults defaults;     /* port, path, types, cpu seconds */
	int max_concurrency;       /* fetches in flight at once */
	/* Of those, snapshots (profiles answered at once: heap, goroutine, ...) in flight
	 * at once; 0: no limit beyond max_concurrency. They run one after another while
	 * the CPU profiles and deltas wait out their seconds. */
	int max_snapshot_fetches;
	long connect_timeout_ms;
	long timeout_ms;           /* total for a non-cpu profile */
	long cpu_margin_ms;        /* a cpu profile or trace may take its seconds plus this */
	size_t max_profile_bytes;  /* compressed; 0: FETCH_DEFAULT_MAX_BYTES */
	size_t max_inflated_bytes; /* 0: FETCH_DEFAULT_MAX_INFLATED_BYTES */
	/* Borrowed, NULL for none: each fetch in flight holds a reserve of it plus its
	 * body; a fetch waits (CPU profiles first) while the reserves would leave less
	 * than a quarter of it for bodies and the queue. */
	budget_t *budget;
	int once;                  /* one round over the targets of the first list, then done */
	const collector_io *io;    /* borrowed; NULL: collector_io_default */
} collector_options;

typedef struct collector collector_t;

/* Called once in --once mode, when every target of the round was fetched (or failed);
 * failures counts the profiles that could not be fetched. */
typedef void (*collector_round_fn)(int targets, int failures, void *arg);

/*
 * Starts watching the node's pods through kc and scraping them; every profile
 * fetched goes to batch. kc, batch and opt are borrowed and must outlive the
 * collector. round_done may be NULL outside --once mode.
 */
collector_t *collector_start(loop_t *loop, kube_client *kc, batch_t *batch,
			     const collector_options *opt, collector_round_fn round_done,
			     void *arg);
/* Non-zero once the first list of pods arrived (what /readyz answers). */
int collector_synced(const collector_t *c);
/* How many targets are being scraped. */
size_t collector_targets(const collector_t *c);
/* Where a --once round stands. */
enum collector_once_status {
	COLLECTOR_ONCE_DONE,       /* the round ended and every profile was fetched */
	COLLECTOR_ONCE_FAILED,     /* the round ended; some profiles could not be fetched */
	COLLECTOR_ONCE_NOT_LISTED, /* the node's pods were never listed (API server down?) */
	COLLECTOR_ONCE_UNFINISHED  /* listed, but fetches of the round are still due */
};
/* --once: how the round stands now (a caller that gives up on it says why). */
enum collector_once_status collector_once_status(const collector_t *c);
/* "done", "fetches_failed", "pods_not_listed", "fetches_unfinished": static. */
const char *collector_once_status_name(enum collector_once_status st);
/* Stops the watch and every fetch (in-flight ones are canceled) and frees c. */
void collector_stop(collector_t *c);

#endif
