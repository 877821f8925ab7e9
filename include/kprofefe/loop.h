/* loop: the process's single libev loop with libcurl's multi interface glued to it. */
#ifndef KPROFEFE_LOOP_H
#define KPROFEFE_LOOP_H

#include <curl/curl.h>
#include <ev.h>

typedef struct loop loop_t;

/* Called once when a transfer ends; result is curl's code for it. */
typedef void (*loop_done_fn)(CURL *easy, CURLcode result, void *arg);

/* A new curl multi driven by ev (borrowed: must outlive the loop_t). */
loop_t *loop_new(struct ev_loop *ev);
/* Removes any transfer still running: their done callbacks are not called, their
 * dropped callbacks (loop_add_owned) are. */
void loop_free(loop_t *loop);
struct ev_loop *loop_ev(loop_t *loop);

/* Starts easy (still owned by the caller, who must not touch it until done or
 * loop_remove). Uses CURLOPT_PRIVATE. */
void loop_add(loop_t *loop, CURL *easy, loop_done_fn done, void *arg);
/* Called instead of done when loop_free removes a transfer still running, after
 * it is out of the multi, so its owner can free easy and what goes with it. */
typedef void (*loop_dropped_fn)(CURL *easy, void *arg);
/* loop_add, and loop_free calls dropped for the transfer if it is still running. */
void loop_add_owned(loop_t *loop, CURL *easy, loop_done_fn done, loop_dropped_fn dropped,
		    void *arg);
/* Stops a running transfer at once; neither done nor dropped is called. */
void loop_remove(loop_t *loop, CURL *easy);
/* How many transfers are running. */
int loop_running(const loop_t *loop);

#endif
