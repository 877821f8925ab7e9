/* budget: the bytes of profile data a process may hold at once, shared by everything that holds them. */
#ifndef KPROFEFE_BUDGET_H
#define KPROFEFE_BUDGET_H

#include <stddef.h>

/*
 * One budget serves the whole collector: bodies being received, the profiles they
 * become, and the upload queue, so that no pod, however it answers, can make the
 * process hold more than the limit. Every function takes NULL as "no budget" (an
 * unlimited one), as the plugin and the tests use. Single-threaded, like the loop.
 * Gauges kprofefe_memory_budget_bytes and kprofefe_memory_budget_used_bytes.
 */
typedef struct budget budget_t;

/* A budget of limit bytes (0: unlimited, only counted). Free with budget_free. */
budget_t *budget_new(size_t limit);
void budget_free(budget_t *b);

/* Takes n bytes when they fit under the limit: returns 0, or -1 and takes nothing. */
int budget_take(budget_t *b, size_t n);
/* Takes n bytes only when keep bytes stay free under the limit after them: for
 * admitting work whose data comes later (a fetch's body), so that what is already
 * admitted does not fill the budget and starve the bodies. Returns 0 or -1. */
int budget_take_leaving(budget_t *b, size_t n, size_t keep);
/* Takes n bytes even past the limit: for data already in memory (a spool replay). */
void budget_force(budget_t *b, size_t n);
/* Gives back n bytes taken before. */
void budget_give(budget_t *b, size_t n);

size_t budget_used(const budget_t *b);
size_t budget_limit(const budget_t *b);
/* The most ever used at once. */
size_t budget_peak(const budget_t *b);

#endif
