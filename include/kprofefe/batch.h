/* batch: the upload pipeline: in-memory queue, timed flushes, bounded uploads, spool and replay. */
#ifndef KPROFEFE_BATCH_H
#define KPROFEFE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "kprofefe/budget.h"
#include "kprofefe/loop.h"
#include "kprofefe/profefe.h"
#include "kprofefe/spool.h"

/*
 * Profiles wait in memory and go to profefe when batch_interval passed or batch_size
 * of them wait, at most upload_concurrency at a time. Outcomes:
 *   OK        dropped (a replayed entry is deleted from the spool)
 *   REJECTED  logged with profefe's error and counted, then dropped (a replayed entry
 *             moves to the spool's rejected/)
 *   RETRY     written to the spool; without a spool, or when the write fails, kept in
 *             memory. profefe counts as down: what waits in memory goes to the spool
 *             too, nothing is sent but one probe after a backoff (doubling up to
 *             backoff_max), and fresh profiles go to the spool by the rule that would
 *             have sent them (batch_size of them, or the flush timer), each such flush
 *             one group commit (spool_put_group). The first success brings it back up.
 * A replayed entry profefe answers with an error of its own is set aside, then moved to
 * rejected/ (batch_suspect.h), so probes and the drain move on to other entries.
 * While up, the spool drains oldest first at spool_drain_rate entries per second,
 * using at most half the upload slots (at least one), so fresh profiles keep flowing.
 * Metrics: kprofefe_uploads_total{type,result}, kprofefe_upload_bytes_total,
 * kprofefe_queue_depth, kprofefe_queue_dropped_total{reason},
 * kprofefe_last_upload_success_timestamp_seconds.
 *
 * The states (each change logged at debug, "batch state" from= to=):
 *
 *   UP ----spool has entries----> DRAINING ----spool empty----> UP
 *   UP, DRAINING --RETRY--> DOWN --backoff--> PROBING --RETRY (backoff x2)--> DOWN
 *   DOWN, PROBING --an upload stored or refused (or nothing to probe with)--> UP
 *   any but STOPPED --batch_shutdown--> STOPPING (profefe up) or STOPPING_DOWN
 *   STOPPING <--RETRY / stored--> STOPPING_DOWN --in flight done or grace--> STOPPED
 */
enum batch_state {
	BATCH_UP,            /* profefe stores uploads; nothing in the spool to replay */
	BATCH_DRAINING,      /* profefe stores uploads; the spool replays beside fresh ones */
	BATCH_DOWN,          /* profefe unavailable: spooling; the probe waits its backoff */
	BATCH_PROBING,       /* profefe unavailable: the probe is in flight */
	BATCH_STOPPING,      /* shutting down: uploading what is in memory within the grace */
	BATCH_STOPPING_DOWN, /* shutting down, profefe unavailable: the rest goes to the spool */
	BATCH_STOPPED,       /* everything spooled, done called */
};

const char *batch_state_name(enum batch_state s);

#define BATCH_DEFAULT_MAX_QUEUE_BYTES ((size_t)64 << 20)

typedef struct batch_options {
	double interval_s;          /* flush period; 0: 10 */
	size_t batch_size;          /* flush as soon as this many wait; 0: 10 */
	int upload_concurrency;     /* uploads in flight at most; 0: 4 */
	size_t max_queue;           /* profiles kept in memory at most (the oldest goes to the
	                               spool, else is dropped); 0: 1000 */
	size_t max_queue_bytes;     /* the same bound in bytes; 0: half the budget's limit, or
	                               BATCH_DEFAULT_MAX_QUEUE_BYTES without one */
	/* Borrowed, NULL for none. Every profile in memory holds its size of it: taken by
	 * the submitter, or here for a spool entry read for replay; given back when the
	 * profile leaves memory. */
	budget_t *budget;
	double spool_drain_rate;    /* replays per second; 0: 5 */
	double backoff_initial_s;   /* first probe after a RETRY; 0: 1 */
	double backoff_max_s;       /* 0: 60 */
	double expire_interval_s;   /* how often spool_expire runs; 0: 60 */
} batch_options;

/* A profile's metadata; strings are copied by batch_submit. */
typedef struct batch_profile {
	const char *service;
	const char *type;      /* profefe type */
	const char *labels;    /* encoded (profefe_labels_encode), or NULL */
	int64_t time_ns;       /* collection time, unix ns */
} batch_profile;

typedef struct batch batch_t;

/* client and spool are borrowed and must outlive the batch; spool may be NULL (no
 * durability: RETRYs stay in memory). Starts the timers on loop's ev loop. */
batch_t *batch_new(loop_t *loop, profefe_client *client, spool_t *spool,
		   const batch_options *opt);

/* Queues a profile. data (malloc'ed) is taken in every case, and with it len bytes of
 * the budget, which the caller took (fetch_result_take hands them over). Returns 0, or
 * -1 when the batch is shutting down (the profile is dropped and counted). */
int batch_submit(batch_t *b, const batch_profile *p, unsigned char *data, size_t len);

typedef void (*batch_done_fn)(void *arg);
/*
 * Stops accepting, tries to upload what is in memory within grace_s seconds, then
 * cancels what is still in flight and writes everything left in memory to the spool
 * (profiles that cannot be written are logged and counted as lost), then calls done
 * once from the loop (never from inside this call). Free the batch afterwards.
 */
void batch_shutdown(batch_t *b, double grace_s, batch_done_fn done, void *arg);

/* Cancels everything and frees; profiles still in memory are lost (use batch_shutdown
 * first). NULL is fine. */
void batch_free(batch_t *b);

/* Profiles in memory: queued plus fresh ones in flight. */
size_t batch_queue_depth(const batch_t *b);
/* Whether profefe is thought reachable (no RETRY since the last success). */
int batch_profefe_up(const batch_t *b);
enum batch_state batch_state(const batch_t *b);

#endif
