/* delta: tells a delta profile from a cumulative one and labels it so for profefe. */
#include "kprofefe/delta.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/profefe.h"
#include "kprofefe/xalloc.h"

int delta_labelled(enum pprof_type t)
{
	return t == PPROF_HEAP || pprof_type_is_cumulative(t);
}

int delta_inspect(enum pprof_type t, int asked, const unsigned char *data, size_t len,
		  delta_verdict *out)
{
	pprof_info info;
	char err[128];

	memset(out, 0, sizeof(*out));
	if (!delta_labelled(t))
		return 0;
	if (!asked || !pprof_type_is_cumulative(t)) {
		/* Nothing to find out: only a delta asked for needs reading the profile. */
		out->kind = DELTA_CUMULATIVE;
		return 0;
	}
	if (pprof_read_info(data, len, &info, err, sizeof(err)) != 0)
		return -1;
	/* Go sets DurationNanos on a delta only; an old server ignores ?seconds= and
	 * answers the cumulative profile at once. */
	out->kind = info.duration_nanos > 0 ? DELTA_DELTA : DELTA_CUMULATIVE;
	out->ignored = out->kind == DELTA_CUMULATIVE;
	out->empty = info.n_samples == 0;
	if (out->kind == DELTA_DELTA)
		out->window_s = (int)((info.duration_nanos + 500000000) / 1000000000);
	pprof_info_clear(&info);
	return 0;
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
