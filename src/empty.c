/* empty: profiles without samples are left out of uploads, said once, and fetched less often. */
#include "kprofefe/empty.h"

#include <stdio.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"

int empty_due(empty_state *s)
{
	if (s->skip == 0)
		return 1;
	s->skip--;
	return 0;
}

/* Rounds between fetches after streak empty ones in a row: 1, then 2, 4, ... MAX. */
static unsigned backoff_gap(unsigned streak)
{
	if (streak < EMPTY_BACKOFF_AFTER)
		return 1;
	unsigned shift = streak - EMPTY_BACKOFF_AFTER + 1;
	if (shift >= 8)
		return EMPTY_BACKOFF_MAX;
	unsigned gap = 1u << shift;
	return gap < EMPTY_BACKOFF_MAX ? gap : EMPTY_BACKOFF_MAX;
}

void empty_seen(empty_state *s, const char *pod, enum pprof_type t, int is_empty)
{
	if (!is_empty) {
		s->streak = 0;
		s->skip = 0;
		return;
	}
	if (s->streak < EMPTY_BACKOFF_AFTER + 8)
		s->streak++;
	s->skip = backoff_gap(s->streak) - 1;
	metrics_add(METRIC_PROFILES_SKIPPED_TOTAL, 1, "type", pprof_type_name(t), "reason",
		    "empty", NULL);
	if (s->said)
		return;
	s->said = 1;
	log_event(LOG_INFO, "profile has no samples; not uploaded (profefe refuses empty "
		  "profiles), and fetched less often while it stays empty", "pod", pod, "type",
		  pprof_type_name(t), NULL);
}
