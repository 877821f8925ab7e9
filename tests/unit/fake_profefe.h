/*
 * A FAKE profefe for unit tests of profefe.c and batch.c (included by both test
 * programs; not a test itself). It is a libmicrohttpd server on 127.0.0.1, port 0,
 * one thread per connection, that speaks profefe's upload reply format. It exists for
 * what the real profefe will not do on demand: answer 503, 429, 400 or hold a request
 * when a test says so. It records every upload (query as decoded once by the HTTP
 * layer, the two auth headers, the body). The real profefe is used by tests/e2e/.
 */
#ifndef KPROFEFE_TEST_FAKE_PROFEFE_H
#define KPROFEFE_TEST_FAKE_PROFEFE_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_MAX_RECORDS 256

struct fake_upload {
	char service[64];
	char type[32];
	char labels[256];
	char instance_id[64];
	char auth[128];
	char extra[128];
	char body[64];   /* the first bytes, NUL-terminated */
	size_t body_len;
	long status;     /* what the fake answered */
};

struct fake_profefe {
	struct MHD_Daemon *daemon;
	int port;
	char url[64];
	pthread_mutex_t mu;
	long status;          /* what uploads get: 200, 503, 429, 400... */
	char fail_body[16];   /* a body starting so gets 500 (a profefe that cannot store it) */
	int hold;             /* hold uploads until cleared (in-flight tests) */
	int held;             /* uploads being held now */
	int in_flight;        /* uploads inside the handler now */
	int max_in_flight;
	int n;
	struct fake_upload rec[FAKE_MAX_RECORDS];
};

static struct fake_profefe fake_pf;

struct fake_conn {
	char body[64];
	size_t len;
	int counted;
};

static enum MHD_Result fake_reply(struct MHD_Connection *conn, unsigned int status,
				  const char *body)
{
	char *copy = strdup(body);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void fake_copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static enum MHD_Result fake_on_request(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct fake_conn *fc = *con_cls;
	if (!fc) {
		fc = calloc(1, sizeof(*fc));
		*con_cls = fc;
		if (strcmp(method, "POST") == 0) {
			pthread_mutex_lock(&fake_pf.mu);
			fake_pf.in_flight++;
			if (fake_pf.in_flight > fake_pf.max_in_flight)
				fake_pf.max_in_flight = fake_pf.in_flight;
			pthread_mutex_unlock(&fake_pf.mu);
			fc->counted = 1;
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t cap = sizeof(fc->body) - 1;
		size_t have = fc->len < cap ? fc->len : cap;
		size_t take = *upload_size < cap - have ? *upload_size : cap - have;
		memcpy(fc->body + have, upload_data, take);
		fc->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/api/0/services") == 0)
		return fake_reply(conn, 200, "{\"code\":200,\"body\":[\"svc-a\",\"svc-b\"]}\n");
	if (strcmp(url, "/api/0/version") == 0)
		return fake_reply(conn, 200,
				  "{\"code\":200,\"body\":{\"version\":\"fake\",\"commit\":\"0\"}}\n");
	if (strcmp(method, "POST") != 0 || strcmp(url, "/api/0/profiles") != 0)
		return fake_reply(conn, 404, "{\"code\":404,\"error\":\"nothing found\"}\n");

	pthread_mutex_lock(&fake_pf.mu);
	fake_pf.held++;
	while (fake_pf.hold) {
		pthread_mutex_unlock(&fake_pf.mu);
		usleep(2000);
		pthread_mutex_lock(&fake_pf.mu);
	}
	fake_pf.held--;
	long status = fake_pf.status ? fake_pf.status : 200;
	if (fake_pf.fail_body[0] && strncmp(fc->body, fake_pf.fail_body, strlen(fake_pf.fail_body)) == 0)
		status = 500;
	int i = fake_pf.n < FAKE_MAX_RECORDS ? fake_pf.n++ : FAKE_MAX_RECORDS - 1;
	struct fake_upload *r = &fake_pf.rec[i];
	fake_copy(r->service, sizeof(r->service),
		  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "service"));
	fake_copy(r->type, sizeof(r->type),
		  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "type"));
	fake_copy(r->labels, sizeof(r->labels),
		  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "labels"));
	fake_copy(r->instance_id, sizeof(r->instance_id),
		  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "instance_id"));
	fake_copy(r->auth, sizeof(r->auth),
		  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
	fake_copy(r->extra, sizeof(r->extra),
		  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Proxy-Auth"));
	memcpy(r->body, fc->body, sizeof(r->body));
	r->body[sizeof(r->body) - 1] = '\0';
	r->body_len = fc->len;
	r->status = status;
	int id = fake_pf.n;
	pthread_mutex_unlock(&fake_pf.mu);

	char reply[256];
	if (status == 200)
		snprintf(reply, sizeof(reply),
			 "{\"code\":200,\"body\":{\"id\":\"fakeid%d\",\"type\":\"cpu\"}}\n", id);
	else if (status == 400)
		snprintf(reply, sizeof(reply),
			 "{\"code\":400,\"error\":\"bad request: bad profile type \\\"nope\\\"\"}\n");
	else
		snprintf(reply, sizeof(reply), "{\"code\":%ld,\"error\":\"fake says %ld\"}\n", status,
			 status);
	return fake_reply(conn, (unsigned int)status, reply);
}

static void fake_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct fake_conn *fc = *con_cls;
	if (fc && fc->counted) {
		pthread_mutex_lock(&fake_pf.mu);
		fake_pf.in_flight--;
		pthread_mutex_unlock(&fake_pf.mu);
	}
	free(fc);
	*con_cls = NULL;
}

static int fake_profefe_start(void)
{
	memset(&fake_pf, 0, sizeof(fake_pf));
	pthread_mutex_init(&fake_pf.mu, NULL);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake_pf.daemon = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
		fake_on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_NOTIFY_COMPLETED, fake_on_completed, NULL, MHD_OPTION_END);
	if (!fake_pf.daemon)
		return -1;
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(fake_pf.daemon, MHD_DAEMON_INFO_BIND_PORT);
	fake_pf.port = info->port;
	snprintf(fake_pf.url, sizeof(fake_pf.url), "http://127.0.0.1:%d", fake_pf.port);
	return 0;
}

static void fake_profefe_stop(void)
{
	pthread_mutex_lock(&fake_pf.mu);
	fake_pf.hold = 0;
	pthread_mutex_unlock(&fake_pf.mu);
	if (fake_pf.daemon)
		MHD_stop_daemon(fake_pf.daemon);
	fake_pf.daemon = NULL;
	pthread_mutex_destroy(&fake_pf.mu);
}

static void fake_set_status(long status)
{
	pthread_mutex_lock(&fake_pf.mu);
	fake_pf.status = status;
	pthread_mutex_unlock(&fake_pf.mu);
}

static void fake_set_hold(int hold)
{
	pthread_mutex_lock(&fake_pf.mu);
	fake_pf.hold = hold;
	pthread_mutex_unlock(&fake_pf.mu);
}

static int fake_count(void)
{
	pthread_mutex_lock(&fake_pf.mu);
	int n = fake_pf.n;
	pthread_mutex_unlock(&fake_pf.mu);
	return n;
}

static int fake_held(void)
{
	pthread_mutex_lock(&fake_pf.mu);
	int n = fake_pf.held;
	pthread_mutex_unlock(&fake_pf.mu);
	return n;
}

#endif
