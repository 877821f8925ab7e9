/* delta: tells a delta profile from a cumulative one and labels it so for profefe. */
#include "kprofefe/delta.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/profefe.h"
#include "kprofefe/xalloc.h"

int delta_labelled(enum pprof_type t)
{
	return t == PPROF_HEAP || pprof_type_is_cumulative(t);
}

void delta_inspect(enum pprof_type t, enum pprof_delta asked, const pprof_body_facts *facts,
		   delta_verdict *out)
{
	memset(out, 0, sizeof(*out));
	if (!delta_labelled(t))
		return;
	if (asked == PPROF_DELTA_OFF || !pprof_type_is_cumulative(t)) {
		/* Nothing to find out: only a delta asked for depends on the answer. */
		out->kind = DELTA_CUMULATIVE;
		return;
	}
	out->empty = facts->n_samples == 0;
	if (asked == PPROF_DELTA_GODELTAPROF) {
		/* Its body looks cumulative (time, no duration): the endpoint says delta. */
		out->kind = DELTA_DELTA;
		return;
	}
	/* Go sets DurationNanos on a delta only; an old server ignores ?seconds= and
	 * answers the cumulative profile at once. */
	out->kind = facts->duration_nanos > 0 ? DELTA_DELTA : DELTA_CUMULATIVE;
	out->ignored = out->kind == DELTA_CUMULATIVE;
	if (out->kind == DELTA_DELTA)
		out->window_s = (int)((facts->duration_nanos + 500000000) / 1000000000);
}

char *delta_labels(const char *labels, const delta_verdict *v)
{
	char window[24];
	const char *delta[] = {DELTA_LABEL, "true", DELTA_WINDOW_LABEL, window, NULL};
	const char *cumulative[] = {DELTA_LABEL, "false", NULL};
	const char *base = labels ? labels : "";

	if (v->kind == DELTA_NONE)
		return xstrdup(base);
	snprintf(window, sizeof(window), "%ds", v->window_s);
	char *extra = profefe_labels_encode(v->kind == DELTA_DELTA ? delta : cumulative);
	char *all = xasprintf("%s%s%s", base, *base ? "," : "", extra);
	free(extra);
	return all;
}

static char *skipped(enum pprof_type t, const char *reason)
{
	metrics_add(METRIC_PROFILES_SKIPPED_TOTAL, 1, "type", pprof_type_name(t), "reason",
		    reason, NULL);
	return NULL;
}

char *delta_collected_labels(enum pprof_type t, enum pprof_delta asked,
			     const pprof_body_facts *facts, double since_s, const char *pod,
			     const char *labels, int *said)
{
	delta_verdict v;

	delta_inspect(t, asked, facts, &v);
	if (v.kind == DELTA_DELTA && asked == PPROF_DELTA_GODELTAPROF) {
		if (since_s < 0)
			return skipped(t, "first");
		v.window_s = since_s < 1 ? 1 : (int)(since_s + 0.5);
	}
	if (v.ignored) {
		metrics_add(METRIC_DELTA_IGNORED_TOTAL, 1, "type", pprof_type_name(t), NULL);
		if (!*said)
			log_event(LOG_WARN, "pod ignores ?seconds=: its delta profiles are stored "
				  "as cumulative (delta=false); an older Go net/http/pprof?", "pod",
				  pod, "type", pprof_type_name(t), NULL);
		*said = 1;
	}
	if (v.kind == DELTA_DELTA && v.empty)
		return skipped(t, "empty");
	return delta_labels(labels, &v);
}
