/* loop: libcurl's multi interface driven by the process's libev loop. */
#include "kprofefe/loop.h"

#include <stdlib.h>

#include "kprofefe/xalloc.h"

/* What the loop remembers of one transfer, kept in CURLOPT_PRIVATE and in a
 * list, so loop_free can stop what is still running. */
struct transfer {
	CURL *easy;
	loop_done_fn done;
	loop_dropped_fn dropped;
	void *arg;
	struct transfer *prev, *next;
};

struct loop {
	struct ev_loop *ev;
	CURLM *multi;
	ev_timer timer;
	int running;
	struct transfer *transfers;
};

/* One watched socket, kept with curl_multi_assign. */
struct sock {
	ev_io io;
	loop_t *loop;
};

/* Takes easy out of the multi and the list; returns its record for the caller to free. */
static struct transfer *forget(loop_t *loop, CURL *easy)
{
	struct transfer *t = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
	if (!t)
		return NULL;
	curl_multi_remove_handle(loop->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->transfers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	loop->running--;
	return t;
}

static void finish_done_transfers(loop_t *loop)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		struct transfer *t = forget(loop, easy);
		if (!t)
			continue;
		loop_done_fn done = t->done;
		void *arg = t->arg;
		free(t);
		done(easy, result, arg);
	}
}

static void socket_ready(struct ev_loop *ev, ev_io *io, int revents)
{
	(void)ev;
	struct sock *s = (struct sock *)io;
	/* socket_action may close the socket and so free s: keep what is needed. */
	loop_t *loop = s->loop;
	int action = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int still;
	curl_multi_socket_action(loop->multi, io->fd, action, &still);
	finish_done_transfers(loop);
}

static void timer_fired(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	loop_t *loop = w->data;
	int still;
	curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &still);
	finish_done_transfers(loop);
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
		curl_multi_assign(loop->multi, fd, NULL);
		return 0;
	}
	int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->loop = loop;
		curl_multi_assign(loop->multi, fd, s);
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

loop_t *loop_new(struct ev_loop *ev)
{
	static int curl_ready;
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = 1;
	}
	loop_t *loop = xcalloc(1, sizeof(*loop));
	loop->ev = ev;
	loop->multi = curl_multi_init();
	ev_init(&loop->timer, timer_fired);
	loop->timer.data = loop;
	curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
	curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
	return loop;
}

void loop_free(loop_t *loop)
{
	if (!loop)
		return;
	while (loop->transfers) {
		CURL *easy = loop->transfers->easy;
		struct transfer *t = forget(loop, easy);
		if (!t)
			break; /* cannot happen: every listed transfer has its record */
		loop_dropped_fn dropped = t->dropped;
		void *arg = t->arg;
		free(t);
		if (dropped)
			dropped(easy, arg);
	}
	ev_timer_stop(loop->ev, &loop->timer);
	curl_multi_cleanup(loop->multi);
	free(loop);
}

struct ev_loop *loop_ev(loop_t *loop)
{
	return loop->ev;
}

void loop_add(loop_t *loop, CURL *easy, loop_done_fn done, void *arg)
{
	loop_add_owned(loop, easy, done, NULL, arg);
}

void loop_add_owned(loop_t *loop, CURL *easy, loop_done_fn done, loop_dropped_fn dropped,
		    void *arg)
{
	struct transfer *t = xcalloc(1, sizeof(*t));
	t->easy = easy;
	t->done = done;
	t->dropped = dropped;
	t->arg = arg;
	t->next = loop->transfers;
	if (t->next)
		t->next->prev = t;
	loop->transfers = t;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	curl_multi_add_handle(loop->multi, easy);
	loop->running++;
}

void loop_remove(loop_t *loop, CURL *easy)
{
	free(forget(loop, easy));
}

int loop_running(const loop_t *loop)
{
	return loop->running;
}
