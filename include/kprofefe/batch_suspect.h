/* batch_suspect: spooled entries profefe answers with an error of its own, set aside and judged. */
#ifndef KPROFEFE_BATCH_SUSPECT_H
#define KPROFEFE_BATCH_SUSPECT_H

#include "kprofefe/list.h"
#include "kprofefe/profefe.h"
#include "kprofefe/spool.h"

/*
 * A replayed spool entry profefe answered with an error of its own (a status >= 500
 * but 502, 503, 504: such as a 500 for a body it cannot parse) rather than "unavailable"
 * is a suspect. It is parked (kept handed out by the spool) until the next upload
 * profefe stores, so probes and the drain move on to other entries instead of retrying
 * it forever; after SUSPECT_FAILURES such answers while profefe was storing others it
 * is judged unstorable and moved to the spool's rejected/.
 */
#define SUSPECT_FAILURES 3

typedef struct suspects {
	list_node head;   /* of struct suspect, private to batch_suspect.c */
	spool_t *spool;   /* borrowed */
} suspects;

/* What suspect_judge decided about a replayed entry that got RETRY. */
enum suspect_verdict {
	SUSPECT_RELEASED, /* an answer about profefe's availability: the entry is available again */
	SUSPECT_PARKED,   /* an error of profefe's own: set aside until profefe stores another */
	SUSPECT_REJECTED, /* too many such errors: moved to rejected/ (logged) */
};

const char *suspect_verdict_name(enum suspect_verdict v);

void suspects_init(suspects *s, spool_t *spool);
/* Releases the parked entries to the spool and frees everything. */
void suspects_clear(suspects *s);

/*
 * A replayed entry (entry, of service and type, all borrowed) got RETRY with res.
 * profefe_up: whether profefe stored the last upload, which is when an error says
 * something about this profile rather than about profefe (during an outage every
 * upload fails).
 */
enum suspect_verdict suspect_judge(suspects *s, const char *entry, const char *service,
				   const char *type, const profefe_upload_result *res,
				   int profefe_up);
/* The entry is done with (stored, refused, deleted): forget whatever was held about it. */
void suspect_forget(suspects *s, const char *entry);
/* profefe stored an upload: the parked entries may be tried again (still the oldest). */
void suspects_release_parked(suspects *s);

#endif
