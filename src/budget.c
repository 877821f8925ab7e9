/* budget: a byte count with a limit, and its gauges. */
#include "kprofefe/budget.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

struct budget {
	size_t limit;
	size_t used;
	size_t peak;
};

static void publish(const budget_t *b)
{
	metrics_set(METRIC_MEMORY_BUDGET_USED_BYTES, (double)b->used, NULL);
}

budget_t *budget_new(size_t limit)
{
	budget_t *b = xcalloc(1, sizeof(*b));
	b->limit = limit;
	metrics_set(METRIC_MEMORY_BUDGET_BYTES, (double)limit, NULL);
	publish(b);
	return b;
}

void budget_free(budget_t *b)
{
	free(b);
}

int budget_take_leaving(budget_t *b, size_t n, size_t keep)
{
	if (!b)
		return 0;
	if (b->limit && (keep > b->limit || n > b->limit - keep || b->used > b->limit - keep - n))
		return -1;
	budget_force(b, n);
	return 0;
}

int budget_take(budget_t *b, size_t n)
{
	return budget_take_leaving(b, n, 0);
}

void budget_force(budget_t *b, size_t n)
{
	if (!b)
		return;
	b->used += n;
	if (b->used > b->peak)
		b->peak = b->used;
	publish(b);
}

/* Giving back more than was taken is an accounting bug somewhere: a Debug build stops
 * at it; a production one says so, counts it, and carries on at zero rather than wrap. */
static void over_give(const budget_t *b, size_t n)
{
	char given[32], used[32];
	snprintf(given, sizeof(given), "%zu", n);
	snprintf(used, sizeof(used), "%zu", b->used);
	log_event(LOG_ERROR, "bug: more memory given back to the budget than was taken", "given",
		  given, "used", used, NULL);
	metrics_add(METRIC_MEMORY_BUDGET_ERRORS_TOTAL, (double)(n - b->used), NULL);
	assert(n <= b->used); /* fails: a Debug build stops at the bug */
}

void budget_give(budget_t *b, size_t n)
{
	if (!b)
		return;
	if (n > b->used) {
		over_give(b, n);
		n = b->used;
	}
	b->used -= n;
	publish(b);
}

size_t budget_used(const budget_t *b)
{
	return b ? b->used : 0;
}

size_t budget_limit(const budget_t *b)
{
	return b ? b->limit : 0;
}

size_t budget_peak(const budget_t *b)
{
	return b ? b->peak : 0;
}
