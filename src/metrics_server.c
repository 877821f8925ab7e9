/* metrics_server: /metrics, /healthz and /readyz over libmicrohttpd, run from the libev loop. */
#include "kprofefe/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/xalloc.h"

/* The server: libmicrohttpd in its epoll mode, its one descriptor watched by libev. */
struct metrics_server {
	struct ev_loop *ev;
	struct MHD_Daemon *daemon;
	ev_io io;
	ev_timer timer;
	metrics_ready_fn ready;
	void *arg;
	int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *type, char *body)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	struct metrics_server *srv = cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, 405, "text/plain", xstrdup("method not allowed\n"));
	if (strcmp(url, "/metrics") == 0) {
		metrics_update_process();
		metrics_set(METRIC_READY, !srv->ready || srv->ready(srv->arg) ? 1 : 0, NULL);
		return reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_render());
	}
	if (strcmp(url, "/healthz") == 0)
		return reply(conn, 200, "text/plain", xstrdup("ok\n"));
	if (strcmp(url, "/readyz") == 0) {
		if (srv->ready && !srv->ready(srv->arg))
			return reply(conn, 503, "text/plain", xstrdup("not ready\n"));
		return reply(conn, 200, "text/plain", xstrdup("ready\n"));
	}
	return reply(conn, 404, "text/plain", xstrdup("not found\n"));
}

static void schedule(struct metrics_server *srv)
{
	MHD_UNSIGNED_LONG_LONG ms;
	ev_timer_stop(srv->ev, &srv->timer);
	if (MHD_get_timeout(srv->daemon, &ms) != MHD_YES)
		return;
	ev_timer_set(&srv->timer, (double)ms / 1000.0, 0.);
	ev_timer_start(srv->ev, &srv->timer);
}

static void on_ready_fd(struct ev_loop *ev, ev_io *io, int revents)
{
	(void)ev;
	(void)revents;
	struct metrics_server *srv = io->data;
	MHD_run(srv->daemon);
	schedule(srv);
}

static void on_timeout(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	struct metrics_server *srv = t->data;
	MHD_run(srv->daemon);
	schedule(srv);
}

/* Accepts "host:port", ":port" (every interface) and "[v6]:port". */
static int parse_addr(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *colon = strrchr(addr, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || !end || *end != '\0' || colon[1] == '\0' || port < 0 || port > 65535) {
		snprintf(err, errlen, "metrics address \"%s\": want host:port", addr);
		return -1;
	}
	char host[64];
	size_t hlen = (size_t)(colon - addr);
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "metrics address \"%s\": host too long", addr);
		return -1;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		host[hlen - 1] = '\0';
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (hlen == 0 || inet_pton(AF_INET, host, &sin->sin_addr) == 1)
			return 0;
	}
	snprintf(err, errlen, "metrics address \"%s\": \"%s\" is not an IP address", addr, host);
	return -1;
}

metrics_server *metrics_serve(struct ev_loop *ev, const char *addr, metrics_ready_fn ready,
			      void *arg, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	if (parse_addr(addr, &sa, err, errlen) != 0)
		return NULL;
	struct metrics_server *srv = xcalloc(1, sizeof(*srv));
	srv->ev = ev;
	srv->ready = ready;
	srv->arg = arg;
	unsigned int flags = MHD_USE_EPOLL;
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				       MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				       MHD_OPTION_CONNECTION_LIMIT, 32U, MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "metrics address \"%s\": cannot listen (in use, or not an address of this host)", addr);
		free(srv);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *port = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = port ? port->port : 0;
	ev_io_init(&srv->io, on_ready_fd, info->epoll_fd, EV_READ);
	srv->io.data = srv;
	ev_io_start(ev, &srv->io);
	ev_init(&srv->timer, on_timeout);
	srv->timer.data = srv;
	return srv;
}

int metrics_server_port(const metrics_server *srv)
{
	return srv->port;
}

void metrics_server_free(metrics_server *srv)
{
	if (!srv)
		return;
	ev_io_stop(srv->ev, &srv->io);
	ev_timer_stop(srv->ev, &srv->timer);
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
