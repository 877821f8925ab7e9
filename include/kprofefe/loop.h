/* loop: the process's single libev loop with libcurl's multi interface glued to it. */
#ifndef KPROFEFE_LOOP_H
#define KPROFEFE_LOOP_H

#include <curl/curl.h>
#include <ev.h>

/*
 * The rule: every curl_multi_* call of the process is made in this module, and only
 * from the loop itself, never from inside a curl callback (curl answers
 * CURLM_RECURSIVE_API_CALL there and keeps the handle, so freeing it is a use after
 * free inside curl). A write, header or progress callback of any transfer may still
 * start or stop transfers: loop_add_owned and loop_cancel see that curl is running and
 * defer the multi call until curl has returned to the loop. No other module calls
 * curl_multi_* or curl_easy_perform.
 *
 * Every curl_multi_* failure is logged and counted in
 * kprofefe_curl_errors_total{call}; a transfer whose start fails ends through its
 * done callback, from the loop, like any other failure.
 */

typedef struct loop loop_t;

/* Called once when a transfer ends; result is curl's code for it. Called from the loop,
 * outside curl: it may start and cancel transfers. */
typedef void (*loop_done_fn)(CURL *easy, CURLcode result, void *arg);
/* Called instead of done when a transfer is cancelled or loop_free removes it, once easy
 * is out of the multi, so that its owner frees easy and what goes with it. */
typedef void (*loop_dropped_fn)(CURL *easy, void *arg);

/* A new curl multi driven by ev (borrowed: must outlive the loop_t). */
loop_t *loop_new(struct ev_loop *ev);
/* Removes every transfer still running and calls their dropped callbacks; their done
 * callbacks are not called. Not from inside a callback of this loop. */
void loop_free(loop_t *loop);
struct ev_loop *loop_ev(loop_t *loop);

/*
 * Starts easy. The caller keeps owning easy but must not touch it until done or dropped
 * is called; exactly one of them is, never from inside this call. Uses CURLOPT_PRIVATE.
 * Safe from inside curl callbacks (the start is deferred).
 */
void loop_add_owned(loop_t *loop, CURL *easy, loop_done_fn done, loop_dropped_fn dropped,
		    void *arg);
/* Like loop_add_owned for a transfer that cannot start (its setup failed): done is
 * called with result from the loop, as for any failed transfer. */
void loop_add_failed(loop_t *loop, CURL *easy, CURLcode result, loop_done_fn done,
		     loop_dropped_fn dropped, void *arg);
/*
 * Stops a transfer whose done has not been called: done never is, dropped is, once easy
 * is out of the multi: at once, or, inside a curl callback, as soon as curl has
 * returned. Until dropped, curl may still call the transfer's own callbacks, which must
 * then do nothing (return an error to stop it). Safe from anywhere.
 */
void loop_cancel(loop_t *loop, CURL *easy);
/* How many transfers are started or waiting to start. */
int loop_running(const loop_t *loop);
/* Counts a failed libcurl call in kprofefe_curl_errors_total{call} (the caller logs). */
void loop_count_curl_error(const char *call);
/* Measures how late the loop runs a timer due every interval_s into the histogram
 * kprofefe_loop_lag_seconds (the collector calls it; it does not keep ev_run going). */
void loop_measure_lag(loop_t *loop, double interval_s);
/* Non-zero while curl is running (that is, inside a curl callback). */
int loop_in_curl(const loop_t *loop);

#endif
