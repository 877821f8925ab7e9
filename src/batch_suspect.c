/* batch_suspect: spooled entries profefe keeps failing with errors of its own, parked then rejected. */
#include "kprofefe/batch_suspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/log.h"
#include "kprofefe/xalloc.h"

struct suspect {
	list_node node;
	char *entry;          /* the spool entry's name */
	unsigned failures;    /* such answers while profefe was storing other profiles */
	int parked;
};

static const char *const verdict_names[] = {
	[SUSPECT_RELEASED] = "released",
	[SUSPECT_PARKED] = "parked",
	[SUSPECT_REJECTED] = "rejected",
};

const char *suspect_verdict_name(enum suspect_verdict v)
{
	return (size_t)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v]
									    : "unknown";
}

void suspects_init(suspects *s, spool_t *spool)
{
	list_init(&s->head);
	s->spool = spool;
}

static struct suspect *find(const suspects *s, const char *entry)
{
	for (list_node *n = list_first(&s->head); n != &s->head; n = n->next) {
		struct suspect *sp = LIST_ENTRY(n, struct suspect, node);
		if (strcmp(sp->entry, entry) == 0)
			return sp;
	}
	return NULL;
}

static void suspect_free(struct suspect *sp)
{
	list_remove(&sp->node);
	free(sp->entry);
	free(sp);
}

void suspect_forget(suspects *s, const char *entry)
{
	struct suspect *sp = find(s, entry);
	if (sp)
		suspect_free(sp);
}

void suspects_clear(suspects *s)
{
	while (!list_empty(&s->head)) {
		struct suspect *sp = LIST_ENTRY(list_first(&s->head), struct suspect, node);
		if (sp->parked && s->spool)
			spool_release(s->spool, sp->entry);
		suspect_free(sp);
	}
}

void suspects_release_parked(suspects *s)
{
	for (list_node *n = list_first(&s->head); n != &s->head; n = n->next) {
		struct suspect *sp = LIST_ENTRY(n, struct suspect, node);
		if (sp->parked) {
			sp->parked = 0;
			spool_release(s->spool, sp->entry);
		}
	}
}

/* An answer about this profile rather than about profefe's availability: 502/503/504
 * (a proxy or profefe saying it is unavailable), 408 and 429 say nothing about it. */
static int answer_about_profile(const profefe_upload_result *res)
{
	return res->status >= 500 && res->status != 502 && res->status != 503 &&
	       res->status != 504;
}

enum suspect_verdict suspect_judge(suspects *s, const char *entry, const char *service,
				   const char *type, const profefe_upload_result *res,
				   int profefe_up)
{
	if (!answer_about_profile(res)) {
		spool_release(s->spool, entry);
		return SUSPECT_RELEASED;
	}
	struct suspect *sp = find(s, entry);
	if (!sp) {
		sp = xcalloc(1, sizeof(*sp));
		sp->entry = xstrdup(entry);
		list_push_back(&s->head, &sp->node);
	}
	if (profefe_up)
		sp->failures++;
	if (sp->failures < SUSPECT_FAILURES) {
		sp->parked = 1;
		return SUSPECT_PARKED;
	}
	char status[16], failures[16];
	snprintf(status, sizeof(status), "%ld", res->status);
	snprintf(failures, sizeof(failures), "%u", sp->failures);
	log_event(LOG_WARN, "profefe keeps failing a spooled profile while storing others; "
		  "moved to rejected/", "service", service, "type", type, "status", status,
		  "error", res->message, "failures", failures, "entry", entry, NULL);
	suspect_free(sp);
	spool_reject(s->spool, entry);
	return SUSPECT_REJECTED;
}
