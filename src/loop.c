/* loop: libcurl's multi interface driven by the process's libev loop. */
#include "kprofefe/loop.h"

#include <stdlib.h>

#include "kprofefe/list.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

/* Where a transfer is: its multi call may wait for curl to return to the loop. */
enum transfer_state {
	T_WAIT_ADD,    /* loop_add_owned came from inside curl: not in the multi yet */
	T_ACTIVE,      /* in the multi */
	T_WAIT_REMOVE, /* cancelled from inside curl: still in the multi */
	T_FAILED       /* curl_multi_add_handle failed: done is due from the loop */
};

/* What the loop remembers of one transfer, kept in CURLOPT_PRIVATE and in a list, so
 * loop_free can stop what is still running. */
struct transfer {
	CURL *easy;
	loop_done_fn done;
	loop_dropped_fn dropped;
	void *arg;
	enum transfer_state state;
	CURLcode failure;           /* T_FAILED: what done is told */
	list_node link;             /* in the loop's transfers */
	list_node todo;             /* in the loop's todo list while waiting */
};

struct loop {
	struct ev_loop *ev;
	CURLM *multi;
	ev_timer timer;        /* curl's timeout */
	ev_timer kick;         /* runs the todo list outside any curl call */
	int in_curl;           /* depth of curl_multi_socket_action calls */
	int running;
	list_node transfers;
	list_node todo;        /* waiting for curl to return, in order */
	ev_timer heartbeat;    /* loop_measure_lag */
	double heartbeat_due;  /* ev_time() the heartbeat should run at */
};

/* One watched socket, kept with curl_multi_assign. */
struct sock {
	ev_io io;
	loop_t *loop;
};

void loop_count_curl_error(const char *call)
{
	metrics_add(METRIC_CURL_ERRORS_TOTAL, 1, "call", call, NULL);
}

/* Logs and counts a failed multi call; returns rc so callers can test it. */
static CURLMcode check(CURLMcode rc, const char *call)
{
	if (rc == CURLM_OK)
		return rc;
	loop_count_curl_error(call);
	log_event(LOG_ERROR, "libcurl multi call failed", "call", call, "error",
		  curl_multi_strerror(rc), NULL);
	return rc;
}

/* CURLOPT_PRIVATE and CURLINFO_PRIVATE cannot fail on a valid handle; say so if they do. */
static void set_private(CURL *easy, struct transfer *t)
{
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)t) != CURLE_OK)
		log_event(LOG_ERROR, "libcurl refused CURLOPT_PRIVATE", NULL);
}

static struct transfer *get_private(CURL *easy)
{
	char *p = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
		return NULL;
	return (struct transfer *)(void *)p;
}

static void todo_push(loop_t *loop, struct transfer *t)
{
	list_push_back(&loop->todo, &t->todo);
	if (!loop->in_curl)
		ev_feed_event(loop->ev, &loop->kick, EV_TIMER);
}

/* Takes t out of the multi (when in it) and the lists; the caller frees t. */
static void forget(loop_t *loop, struct transfer *t)
{
	if (t->state == T_ACTIVE || t->state == T_WAIT_REMOVE)
		check(curl_multi_remove_handle(loop->multi, t->easy), "curl_multi_remove_handle");
	list_remove(&t->todo);
	set_private(t->easy, NULL);
	list_remove(&t->link);
	loop->running--;
}

static void drop(loop_t *loop, struct transfer *t)
{
	CURL *easy = t->easy;
	loop_dropped_fn dropped = t->dropped;
	void *arg = t->arg;
	forget(loop, t);
	free(t);
	if (dropped)
		dropped(easy, arg);
}

static void finish(loop_t *loop, struct transfer *t, CURLcode result)
{
	CURL *easy = t->easy;
	loop_done_fn done = t->done;
	void *arg = t->arg;
	forget(loop, t);
	free(t);
	done(easy, result, arg);
}

static void start(loop_t *loop, struct transfer *t)
{
	CURLMcode rc = check(curl_multi_add_handle(loop->multi, t->easy), "curl_multi_add_handle");
	if (rc == CURLM_OK) {
		t->state = T_ACTIVE;
		return;
	}
	t->state = T_FAILED;
	t->failure = rc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
	todo_push(loop, t);
}

/* Carries out what waited for curl to return: starts, stops and failed starts. Each
 * callback it makes may queue more work; that is done in the same pass. */
static void run_todo(loop_t *loop)
{
	while (!loop->in_curl && !list_empty(&loop->todo)) {
		struct transfer *t = LIST_ENTRY(list_first(&loop->todo), struct transfer, todo);
		list_remove(&t->todo);
		switch (t->state) {
		case T_WAIT_ADD:
			start(loop, t);
			break;
		case T_WAIT_REMOVE:
			drop(loop, t);
			break;
		case T_FAILED:
			finish(loop, t, t->failure);
			break;
		case T_ACTIVE:
			break;
		}
	}
}

static void finish_done_transfers(loop_t *loop)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = get_private(msg->easy_handle);
		if (!t || t->state != T_ACTIVE)
			continue;
		finish(loop, t, msg->data.result);
	}
}

/* One call into curl; what its callbacks asked for is carried out once it returns. */
static void socket_action(loop_t *loop, curl_socket_t fd, int action)
{
	int still;
	loop->in_curl++;
	check(curl_multi_socket_action(loop->multi, fd, action, &still),
	      "curl_multi_socket_action");
	loop->in_curl--;
	run_todo(loop);
	finish_done_transfers(loop);
	run_todo(loop);
}

static void socket_ready(struct ev_loop *ev, ev_io *io, int revents)
{
	(void)ev;
	struct sock *s = (struct sock *)io;
	/* socket_action may close the socket and so free s: keep what is needed. */
	loop_t *loop = s->loop;
	int action = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	socket_action(loop, io->fd, action);
}

static void timer_fired(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	socket_action(w->data, CURL_SOCKET_TIMEOUT, 0);
}

static void kicked(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	run_todo(w->data);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)easy;
	loop_t *loop = userp;
	struct sock *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(loop->ev, &s->io);
			free(s);
		}
		check(curl_multi_assign(loop->multi, fd, NULL), "curl_multi_assign");
		return 0;
	}
	int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->loop = loop;
		if (check(curl_multi_assign(loop->multi, fd, s), "curl_multi_assign") != CURLM_OK) {
			free(s);
			return -1; /* curl fails the transfers on this socket */
		}
	} else {
		ev_io_stop(loop->ev, &s->io);
	}
	ev_io_init(&s->io, socket_ready, fd, events);
	ev_io_start(loop->ev, &s->io);
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	loop_t *loop = userp;
	ev_timer_stop(loop->ev, &loop->timer);
	if (timeout_ms < 0)
		return 0;
	/* A zero timeout still goes through the loop, never straight into curl:
	 * curl forbids calling socket_action from inside its own callback. */
	ev_timer_set(&loop->timer, (double)timeout_ms / 1000.0, 0.);
	ev_timer_start(loop->ev, &loop->timer);
	return 0;
}

/* Runs every interval; how late it runs is how long the loop was busy with something
 * else. ev_time(), not ev_now(): the loop's cached time stops while a callback blocks. */
static void heartbeat(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	loop_t *loop = w->data;
	double now = ev_time();
	double lag = now - loop->heartbeat_due;
	metrics_observe(METRIC_LOOP_LAG_SECONDS, lag > 0 ? lag : 0, NULL);
	/* libev counts the next run from the iteration's cached time. */
	loop->heartbeat_due = ev_now(ev) + w->repeat;
	ev_timer_again(ev, w);
}

static void stop_heartbeat(loop_t *loop)
{
	if (!ev_is_active(&loop->heartbeat))
		return;
	ev_ref(loop->ev); /* given back before the stop, as libev asks of unref'ed watchers */
	ev_timer_stop(loop->ev, &loop->heartbeat);
}

void loop_measure_lag(loop_t *loop, double interval_s)
{
	stop_heartbeat(loop);
	loop->heartbeat_due = ev_now(loop->ev) + interval_s;
	ev_timer_set(&loop->heartbeat, interval_s, interval_s);
	ev_timer_start(loop->ev, &loop->heartbeat);
	/* A heartbeat alone must not keep ev_run going. */
	ev_unref(loop->ev);
}

loop_t *loop_new(struct ev_loop *ev)
{
	static int curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_event(LOG_ERROR, "curl_global_init failed", NULL);
			abort();
		}
		curl_ready = 1;
	}
	loop_t *loop = xcalloc(1, sizeof(*loop));
	loop->ev = ev;
	list_init(&loop->transfers);
	list_init(&loop->todo);
	ev_init(&loop->heartbeat, heartbeat);
	loop->heartbeat.data = loop;
	loop->multi = curl_multi_init();
	if (!loop->multi) {
		log_event(LOG_ERROR, "curl_multi_init failed", NULL);
		abort();
	}
	ev_init(&loop->timer, timer_fired);
	loop->timer.data = loop;
	ev_init(&loop->kick, kicked);
	loop->kick.data = loop;
	check(curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, on_socket),
	      "curl_multi_setopt(SOCKETFUNCTION)");
	check(curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop), "curl_multi_setopt(SOCKETDATA)");
	check(curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, on_timer),
	      "curl_multi_setopt(TIMERFUNCTION)");
	check(curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop), "curl_multi_setopt(TIMERDATA)");
	return loop;
}

void loop_free(loop_t *loop)
{
	if (!loop)
		return;
	while (!list_empty(&loop->transfers))
		drop(loop, LIST_ENTRY(list_first(&loop->transfers), struct transfer, link));
	ev_timer_stop(loop->ev, &loop->timer);
	stop_heartbeat(loop);
	ev_clear_pending(loop->ev, &loop->kick);
	check(curl_multi_cleanup(loop->multi), "curl_multi_cleanup");
	free(loop);
}

struct ev_loop *loop_ev(loop_t *loop)
{
	return loop->ev;
}

/* A new record for easy, in the list of transfers. */
static struct transfer *track(loop_t *loop, CURL *easy, loop_done_fn done,
			      loop_dropped_fn dropped, void *arg)
{
	struct transfer *t = xcalloc(1, sizeof(*t));
	t->easy = easy;
	t->done = done;
	t->dropped = dropped;
	t->arg = arg;
	list_init(&t->todo);
	list_push_front(&loop->transfers, &t->link);
	loop->running++;
	set_private(easy, t);
	return t;
}

void loop_add_owned(loop_t *loop, CURL *easy, loop_done_fn done, loop_dropped_fn dropped,
		    void *arg)
{
	struct transfer *t = track(loop, easy, done, dropped, arg);
	if (loop->in_curl) {
		t->state = T_WAIT_ADD;
		todo_push(loop, t);
		return;
	}
	start(loop, t);
}

void loop_add_failed(loop_t *loop, CURL *easy, CURLcode result, loop_done_fn done,
		     loop_dropped_fn dropped, void *arg)
{
	struct transfer *t = track(loop, easy, done, dropped, arg);
	t->state = T_FAILED;
	t->failure = result;
	todo_push(loop, t);
}

void loop_cancel(loop_t *loop, CURL *easy)
{
	struct transfer *t = get_private(easy);
	if (!t || t->state == T_WAIT_REMOVE)
		return;
	if (t->state == T_ACTIVE && loop->in_curl) {
		t->state = T_WAIT_REMOVE;
		todo_push(loop, t);
		return;
	}
	/* Not in the multi (waiting to start, or failed), or curl is not running. */
	drop(loop, t);
}

int loop_running(const loop_t *loop)
{
	return loop->running;
}

int loop_in_curl(const loop_t *loop)
{
	return loop->in_curl > 0;
}
