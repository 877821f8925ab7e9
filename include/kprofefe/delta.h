/* delta: delta and cumulative profiles: whether a server really answered the delta that
 * was asked for, and the labels that tell the two apart in profefe. */
#ifndef KPROFEFE_DELTA_H
#define KPROFEFE_DELTA_H

#include <stddef.h>

#include "kprofefe/pprof.h"

/* Labels: delta=true plus window=<N>s on a delta, delta=false on a cumulative profile.
 * A query with labels=delta=true selects the deltas alone, whatever their window. */
#define DELTA_LABEL "delta"
#define DELTA_WINDOW_LABEL "window"

enum delta_kind {
	DELTA_NONE,      /* cpu, goroutine, threadcreate, trace: neither; no label */
	DELTA_DELTA,     /* the difference over a window (pprof duration_nanos set) */
	DELTA_CUMULATIVE /* since the process started (heap always: its in-use values are a
	                    snapshot and its alloc_* values add up since the start) */
};

typedef struct delta_verdict {
	enum delta_kind kind;
	int ignored;  /* a ?seconds= delta was asked for and a cumulative profile came back
	                 (no duration): a Go server too old to know ?seconds= */
	int empty;    /* a delta asked for has no samples (nothing happened in the window);
	                 the other profiles are not read and say 0 */
	int window_s; /* DELTA_DELTA: the window in seconds, from duration_nanos; 0 for
	                 godeltaprof, whose answers do not carry it (delta_collected_labels
	                 gets it from the collector) */
} delta_verdict;

/* Non-zero for the types that get a delta label: heap, allocs, block, mutex. */
int delta_labelled(enum pprof_type t);

/*
 * What a profile of type t fetched as asked (pprof_delta_endpoint) turned out to be,
 * from the facts its check found (fetch_result.facts, borrowed): no profile is read
 * again, so this costs no memory. Only a ?seconds= delta of a cumulative type depends on
 * them (Go sets duration_nanos on those alone); a godeltaprof answer is a delta by its
 * endpoint (it carries a time but no duration, like a cumulative profile); the others
 * are judged by their type.
 */
void delta_inspect(enum pprof_type t, enum pprof_delta asked, const pprof_body_facts *facts,
		   delta_verdict *out);

/* labels (encoded for profefe, NULL or "" for none) followed by the labels of v's kind,
 * encoded; a copy of labels for DELTA_NONE. The caller frees. */
char *delta_labels(const char *labels, const delta_verdict *v);

/* ---- the collector's use ------------------------------------------------------------ */

/* A godeltaprof answer with nothing before it: no window (see delta_collected_labels). */
#define DELTA_NO_WINDOW (-1.0)

/*
 * The labels to store a fetched profile with: labels (the pod's, encoded) plus its
 * delta labels. since_s is, for a godeltaprof answer, the seconds since the target's
 * previous answer of that type: its window. NULL when it is not to be stored, counted
 * in kprofefe_profiles_skipped_total{type,reason}:
 *   "empty": a delta without samples (nothing happened in the window), as every empty
 *            profile;
 *   "first": a godeltaprof answer with since_s DELTA_NO_WINDOW, the first since the
 *            collector started. It holds everything since the process started (or since
 *            someone else's last call): stored, it would be counted again by every merge
 *            of the pod's deltas, and labelled cumulative it would be the pod's only one.
 *            It primes godeltaprof's state; the next answer is the first window.
 * A ?seconds= delta answered cumulative is counted in kprofefe_delta_ignored_total{type}
 * and logged once for pod ("ns/name"): *said is the pod's flag for that, set here.
 * Borrowed arguments; the caller frees the result.
 */
char *delta_collected_labels(enum pprof_type t, enum pprof_delta asked,
			     const pprof_body_facts *facts, double since_s, const char *pod,
			     const char *labels, int *said);

#endif
