/* empty: the collector's handling of profiles without samples: not uploaded, counted,
 * logged once per target and type, and fetched less often while they stay empty. */
#ifndef KPROFEFE_EMPTY_H
#define KPROFEFE_EMPTY_H

#include "kprofefe/pprof.h"

/*
 * A Go process that never calls runtime.SetMutexProfileFraction or SetBlockProfileRate
 * (most services) always serves empty mutex and block profiles, and a young process may
 * serve an empty heap profile. profefe refuses them (400 "profile is empty: no
 * samples"), so they are never uploaded. After EMPTY_BACKOFF_AFTER empty fetches in a
 * row a type is fetched every 2nd round, then every 4th, up to every
 * EMPTY_BACKOFF_MAX-th; the first fetch with samples brings it back to every round.
 */
#define EMPTY_BACKOFF_AFTER 3
#define EMPTY_BACKOFF_MAX 8

/* One target's record for one profile type; zero-initialise it. */
typedef struct empty_state {
	unsigned streak; /* empty fetches in a row */
	unsigned skip;   /* rounds still to leave out */
	int said;        /* the empty profile was logged for this target and type */
} empty_state;

/* At the start of a round: 1 when the type is to be fetched, 0 when the backoff leaves
 * this round out (counted down). */
int empty_due(empty_state *s);

/*
 * After a successful fetch of type t from pod ("ns/name", borrowed for the call):
 * is_empty says whether it had no samples. An empty one is counted in
 * kprofefe_profiles_skipped_total{type,reason="empty"}, logged at info the first time
 * for this state (not every round), and lengthens the backoff; one with samples ends it.
 */
void empty_seen(empty_state *s, const char *pod, enum pprof_type t, int is_empty);

#endif
