/* progress: one status line redrawn in place on a terminal (done/total counts and a
 * countdown), and whole lines printed above it without garbling it. */
#ifndef KPROFEFE_PROGRESS_H
#define KPROFEFE_PROGRESS_H

#include <stdio.h>

#include <ev.h>

typedef struct progress progress_t;

/*
 * A status line on tty (borrowed; the caller decides it is a terminal, e.g. with
 * isatty), redrawn with "\r" and erase-line, on ev (borrowed). tty NULL: no status line
 * at all, and progress_printf only prints its lines. Free with progress_free.
 */
progress_t *progress_new(struct ev_loop *ev, FILE *tty);
/* Erases the status line, stops the countdown and frees p. NULL is a no-op. */
void progress_free(progress_t *p);
/* Non-zero when p draws a status line (it was given a tty). */
int progress_enabled(const progress_t *p);

/* What is going on, shown first: "capturing 3 pods". label is copied. */
void progress_set_label(progress_t *p, const char *label);
/* How many steps there are; progress_step counts them done. */
void progress_set_total(progress_t *p, int total);
/* One step finished: ok or failed. */
void progress_step(progress_t *p, int ok);

/* Shows "<what> Ns left" counting down from seconds (ev's time), redrawn every second,
 * "<what> finishing" once it reaches 0, until progress_countdown_stop. what is copied. */
void progress_countdown(progress_t *p, const char *what, double seconds);
void progress_countdown_stop(progress_t *p);

/* Prints one line (a '\n' is added) to f above the status line, then redraws it.
 * p may be NULL: then it only prints. */
void progress_printf(progress_t *p, FILE *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The status line's text as it would be drawn now, e.g. "capturing 2 pods: 3/12 done,
 * 1 failed, CPU profile 23s left". Caller frees. */
char *progress_text(const progress_t *p);

#endif
