/* Unit tests of http and loop, against an in-process fake HTTP server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_loop.h"
#include <zlib.h>

#include "kprofefe/budget.h"
#include "kprofefe/buf.h"
#include "kprofefe/http.h"
#include "kprofefe/loop.h"

/*
 * The fake: a libmicrohttpd server on 127.0.0.1, port 0, with its own threads
 * (one per connection, so /slow can hold its request while others go on). It is
 * not a real peer: it exists to produce what real peers rarely do on demand
 * (stalls, oversized or chunked bodies, redirects) and to record what the client
 * sent. Routes:
 *   /hello              200 "hello world", text/plain
 *   /status/N           status N
 *   /big?n=N            N pattern bytes with a Content-Length
 *   /chunked?n=N        N pattern bytes, chunked (no length announced)
 *   /gzip?n=N           N pattern bytes, gzip-compressed (Content-Encoding)
 *   /binary             bytes with NULs in them
 *   /redirect           302 to /target
 *   /target             counts its hits
 *   /slow               holds the request until the test releases it (or 10 s)
 *   /echo               records method, body and two headers; answers the body
 */
struct fake {
	struct MHD_Daemon *daemon;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int released;
	int slow_hits;
	int target_hits;
	char method[16];
	char header[128];
	char content_type[128];
	buf_t body;
};

static struct fake fake;

/* The pattern byte at offset i of every generated body. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(i % 251);
}

static unsigned char *pattern_bytes(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(i);
	return p;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status,
			       const void *body, size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Pattern bytes sent gzip-compressed: they shrink a lot, which is what a size cap
 * on the decoded body is for. */
static enum MHD_Result respond_gzip(struct MHD_Connection *conn, size_t n)
{
	unsigned char *plain = pattern_bytes(n);
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, (uLong)n);
	unsigned char *packed = malloc(cap);
	z.next_in = plain;
	z.avail_in = (uInt)n;
	z.next_out = packed;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = z.total_out;
	deflateEnd(&z);
	struct MHD_Response *r = MHD_create_response_from_buffer(len, packed, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Encoding", "gzip");
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	free(plain);
	return ret;
}

static ssize_t chunked_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	size_t total = *(size_t *)cls;
	if (pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = total - (size_t)pos < max ? total - (size_t)pos : max;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)pattern((size_t)pos + i);
	return (ssize_t)n;
}

static size_t query_n(struct MHD_Connection *conn)
{
	const char *n = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "n");
	return n ? (size_t)strtoul(n, NULL, 10) : 0;
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t len)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	snprintf(out, len, "%s", v ? v : "");
}

static enum MHD_Result fake_route(struct MHD_Connection *conn, const char *url,
				  const char *method, buf_t *upload)
{
	if (strcmp(url, "/hello") == 0)
		return respond(conn, 200, "hello world", 11, "text/plain");
	if (strncmp(url, "/status/", 8) == 0)
		return respond(conn, (unsigned int)atoi(url + 8), "status", 6, "text/plain");
	if (strcmp(url, "/big") == 0) {
		size_t n = query_n(conn);
		unsigned char *p = pattern_bytes(n);
		enum MHD_Result ret = respond(conn, 200, p, n, "application/octet-stream");
		free(p);
		return ret;
	}
	if (strcmp(url, "/chunked") == 0) {
		size_t *n = malloc(sizeof(*n));
		*n = query_n(conn);
		struct MHD_Response *r =
			MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, chunked_reader, n, free);
		enum MHD_Result ret = MHD_queue_response(conn, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/gzip") == 0)
		return respond_gzip(conn, query_n(conn));
	if (strcmp(url, "/binary") == 0)
		return respond(conn, 200, "a\0b\0\0c", 6, NULL);
	if (strcmp(url, "/redirect") == 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Location", "/target");
		enum MHD_Result ret = MHD_queue_response(conn, 302, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/target") == 0) {
		pthread_mutex_lock(&fake.mu);
		fake.target_hits++;
		pthread_mutex_unlock(&fake.mu);
		return respond(conn, 200, "target", 6, "text/plain");
	}
	if (strcmp(url, "/slow") == 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&fake.mu);
		fake.slow_hits++;
		while (!fake.released)
			if (pthread_cond_timedwait(&fake.cv, &fake.mu, &until) != 0)
				break;
		pthread_mutex_unlock(&fake.mu);
		return respond(conn, 200, "finally", 7, "text/plain");
	}
	if (strcmp(url, "/echo") == 0) {
		pthread_mutex_lock(&fake.mu);
		snprintf(fake.method, sizeof(fake.method), "%s", method);
		copy_header(conn, "X-Kprofefe-Test", fake.header, sizeof(fake.header));
		copy_header(conn, "Content-Type", fake.content_type, sizeof(fake.content_type));
		buf_reset(&fake.body);
		buf_append(&fake.body, upload->data, upload->len);
		pthread_mutex_unlock(&fake.mu);
		return respond(conn, 200, upload->data, upload->len, "application/octet-stream");
	}
	return respond(conn, 404, "no such route", 13, "text/plain");
}

/* libmicrohttpd calls this once with no data, then per upload piece, then once more
 * with none: the body is gathered in *con_cls and the answer given at the end. */
static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size,
				    void **con_cls)
{
	(void)cls;
	(void)version;
	if (*con_cls == NULL) {
		buf_t *upload = calloc(1, sizeof(*upload));
		*con_cls = upload;
		return MHD_YES;
	}
	buf_t *upload = *con_cls;
	if (*upload_data_size) {
		buf_append(upload, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return fake_route(conn, url, method, upload);
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	buf_t *upload = *con_cls;
	if (upload) {
		buf_free(upload);
		free(upload);
		*con_cls = NULL;
	}
}

static void fake_start(void)
{
	memset(&fake, 0, sizeof(fake));
	pthread_mutex_init(&fake.mu, NULL);
	pthread_cond_init(&fake.cv, NULL);
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake.daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
		fake_handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		MHD_OPTION_NOTIFY_COMPLETED, fake_completed, NULL, MHD_OPTION_END);
	assert_non_null(fake.daemon);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(fake.daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	fake.port = info->port;
	assert_true(fake.port > 0);
}

static void fake_stop(void)
{
	pthread_mutex_lock(&fake.mu);
	fake.released = 1;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
	MHD_stop_daemon(fake.daemon);
	buf_free(&fake.body);
	pthread_cond_destroy(&fake.cv);
	pthread_mutex_destroy(&fake.mu);
}

static int fake_count(const int *counter)
{
	pthread_mutex_lock(&fake.mu);
	int n = *counter;
	pthread_mutex_unlock(&fake.mu);
	return n;
}

/* Each test: a fresh fake, libev loop and loop_t. */
struct env {
	struct ev_loop *ev;
	loop_t *loop;
	ev_timer tick; /* wakes ev_run now and then so deadlines are checked */
};

static void on_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

static int setup(void **state)
{
	fake_start();
	struct env *e = calloc(1, sizeof(*e));
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	ev_timer_init(&e->tick, on_tick, 0.05, 0.05);
	ev_timer_start(e->ev, &e->tick);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	loop_free(e->loop);
	ev_timer_stop(e->ev, &e->tick);
	ev_loop_destroy(e->ev);
	free(e);
	fake_stop();
	return 0;
}

/* Runs the loop until *flag is non-zero or seconds pass; returns *flag. */
static int run_until(struct env *e, const int *flag, double seconds)
{
	return test_run_until_flag(e->ev, flag, seconds);
}

/* Runs the loop until the fake's counter reaches n or seconds pass. */
static int run_until_count(struct env *e, const int *counter, int n, double seconds)
{
	ev_now_update(e->ev);
	ev_tstamp deadline = ev_now(e->ev) + seconds;
	while (fake_count(counter) < n && ev_now(e->ev) < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	return fake_count(counter) >= n;
}

static char *url(const char *path)
{
	static char out[256];
	snprintf(out, sizeof(out), "http://127.0.0.1:%d%s", fake.port, path);
	return out;
}

/* What a done callback saw, copied out of the response. */
struct result {
	int done;
	int calls;
	long status;
	int ok;
	enum http_failure failure;
	char error[512];
	buf_t body;
	char content_type[128];
};

static int inside_start; /* set around http_start: done must never run then */

static void on_done(const http_response *resp, void *arg)
{
	struct result *r = arg;
	assert_false(inside_start);
	r->calls++;
	r->done = 1;
	r->status = resp->status;
	r->ok = resp->ok;
	r->failure = resp->failure;
	snprintf(r->error, sizeof(r->error), "%s", resp->error ? resp->error : "");
	if (resp->ok)
		assert_null(resp->error);
	else
		assert_non_null(resp->error);
	assert_non_null(resp->body);
	assert_int_equal(resp->body[resp->body_len], '\0');
	buf_append(&r->body, resp->body, resp->body_len);
	snprintf(r->content_type, sizeof(r->content_type), "%s",
		 resp->content_type ? resp->content_type : "");
}

static http_request *start(struct env *e, const char *u, const http_options *opt,
			   struct result *r)
{
	inside_start = 1;
	http_request *req = http_start(e->loop, u, opt, on_done, r);
	inside_start = 0;
	assert_non_null(req);
	assert_false(r->done);
	return req;
}

static void test_get_200(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	start(e, url("/hello"), NULL, &r);
	assert_int_equal(loop_running(e->loop), 1);
	assert_true(run_until(e, &r.done, 10));
	assert_int_equal(r.calls, 1);
	assert_true(r.ok);
	assert_int_equal(r.failure, HTTP_FAIL_NONE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 11);
	assert_string_equal((char *)r.body.data, "hello world");
	assert_string_equal(r.content_type, "text/plain");
	assert_int_equal(loop_running(e->loop), 0);
	buf_free(&r.body);
}

static void test_big_body_arrives_whole(void **state)
{
	struct env *e = *state;
	const size_t n = 3 * 1024 * 1024 + 17;
	char path[64];
	for (int chunked = 0; chunked <= 1; chunked++) {
		struct result r = {0};
		snprintf(path, sizeof(path), "/%s?n=%zu", chunked ? "chunked" : "big", n);
		http_options opt = {.max_body_bytes = n};
		start(e, url(path), &opt, &r);
		assert_true(run_until(e, &r.done, 20));
		assert_true(r.ok);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body.len, n);
		unsigned char *want = pattern_bytes(n);
		assert_memory_equal(r.body.data, want, n);
		free(want);
		buf_free(&r.body);
	}
}

static void test_binary_body(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	start(e, url("/binary"), NULL, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_true(r.ok);
	assert_int_equal(r.body.len, 6);
	assert_memory_equal(r.body.data, "a\0b\0\0c", 6);
	buf_free(&r.body);
}

static void test_status_codes_pass_through(void **state)
{
	struct env *e = *state;
	const long codes[] = {201, 204, 400, 401, 403, 404, 429, 500, 503};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct result r = {0};
		char path[32];
		snprintf(path, sizeof(path), "/status/%ld", codes[i]);
		start(e, url(path), NULL, &r);
		assert_true(run_until(e, &r.done, 10));
		assert_true(r.ok);
		assert_int_equal(r.failure, HTTP_FAIL_NONE);
		assert_int_equal(r.status, codes[i]);
		buf_free(&r.body);
	}
}

static void test_too_large(void **state)
{
	struct env *e = *state;
	const char *paths[] = {"/big?n=100000", "/chunked?n=100000"};
	for (size_t i = 0; i < 2; i++) {
		struct result r = {0};
		http_options opt = {.max_body_bytes = 1000};
		start(e, url(paths[i]), &opt, &r);
		assert_true(run_until(e, &r.done, 10));
		assert_int_equal(r.calls, 1);
		assert_false(r.ok);
		assert_int_equal(r.failure, HTTP_FAIL_TOO_LARGE);
		assert_non_null(strstr(r.error, "1000"));
		assert_true(r.body.len <= 1000);
		buf_free(&r.body);
	}
	/* Exactly at the limit is fine. */
	struct result r = {0};
	http_options opt = {.max_body_bytes = 1000};
	start(e, url("/chunked?n=1000"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_true(r.ok);
	assert_int_equal(r.body.len, 1000);
	buf_free(&r.body);
}

static void test_gzip(void **state)
{
	struct env *e = *state;
	const size_t n = 200000;
	/* Decoded when asked for, and the cap applies to the decoded size. */
	struct result r = {0};
	http_options opt = {.accept_encoding = 1, .max_body_bytes = n};
	start(e, url("/gzip?n=200000"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_true(r.ok);
	assert_int_equal(r.body.len, n);
	unsigned char *want = pattern_bytes(n);
	assert_memory_equal(r.body.data, want, n);
	free(want);
	buf_free(&r.body);

	struct result big = {0};
	opt.max_body_bytes = n - 1;
	start(e, url("/gzip?n=200000"), &opt, &big);
	assert_true(run_until(e, &big.done, 10));
	assert_int_equal(big.failure, HTTP_FAIL_TOO_LARGE);
	buf_free(&big.body);
}

static void test_redirect_not_followed(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	start(e, url("/redirect"), NULL, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_true(r.ok);
	assert_int_equal(r.status, 302);
	assert_int_equal(fake_count(&fake.target_hits), 0);
	buf_free(&r.body);
	/* The fake itself counts: a direct request to the target is seen. */
	struct result t = {0};
	start(e, url("/target"), NULL, &t);
	assert_true(run_until(e, &t.done, 10));
	assert_int_equal(fake_count(&fake.target_hits), 1);
	buf_free(&t.body);
}

static void test_timeout(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	http_options opt = {.timeout_ms = 200};
	start(e, url("/slow"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_int_equal(r.calls, 1);
	assert_false(r.ok);
	assert_int_equal(r.failure, HTTP_FAIL_TIMEOUT);
	assert_true(strlen(r.error) > 0);
	buf_free(&r.body);
}

static void test_idle_timeout(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	http_options opt = {.idle_timeout_s = 1};
	start(e, url("/slow"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_false(r.ok);
	assert_int_equal(r.failure, HTTP_FAIL_TIMEOUT);
	buf_free(&r.body);
}

/* A loopback port that nothing listens on: bound, read back, closed. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void test_connection_refused(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	char u[64];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", closed_port());
	start(e, u, NULL, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_int_equal(r.calls, 1);
	assert_false(r.ok);
	assert_int_equal(r.failure, HTTP_FAIL_CONNECT);
	assert_int_equal(r.status, 0);
	assert_true(strlen(r.error) > 0);
	buf_free(&r.body);
}

static void test_bad_urls_fail_from_the_loop(void **state)
{
	struct env *e = *state;
	const char *urls[] = {"ftp://127.0.0.1/x", "file:///etc/passwd", "not a url", ""};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct result r = {0};
		start(e, urls[i], NULL, &r); /* asserts done was not called inside */
		assert_true(run_until(e, &r.done, 10));
		assert_int_equal(r.calls, 1);
		assert_false(r.ok);
		assert_int_not_equal(r.failure, HTTP_FAIL_NONE);
		buf_free(&r.body);
	}
}

static void test_post_body_and_headers(void **state)
{
	struct env *e = *state;
	static const unsigned char body[] = "profile\0bytes\xff\x01 and more";
	const char *headers[] = {"X-Kprofefe-Test: value with spaces",
				 "Content-Type: application/octet-stream", NULL};
	struct result r = {0};
	http_options opt = {.body = body, .body_len = sizeof(body), .headers = headers};
	start(e, url("/echo"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	pthread_mutex_lock(&fake.mu);
	assert_string_equal(fake.method, "POST");
	assert_string_equal(fake.header, "value with spaces");
	assert_string_equal(fake.content_type, "application/octet-stream");
	assert_int_equal(fake.body.len, sizeof(body));
	assert_memory_equal(fake.body.data, body, sizeof(body));
	pthread_mutex_unlock(&fake.mu);
	assert_int_equal(r.body.len, sizeof(body));
	assert_memory_equal(r.body.data, body, sizeof(body));
	buf_free(&r.body);
}

static void test_other_methods(void **state)
{
	struct env *e = *state;
	const char *methods[] = {"PUT", "DELETE", "PATCH"};
	for (size_t i = 0; i < 3; i++) {
		struct result r = {0};
		http_options opt = {.method = methods[i]};
		if (i != 1) {
			opt.body = (const unsigned char *)"{}";
			opt.body_len = 2;
		}
		start(e, url("/echo"), &opt, &r);
		assert_true(run_until(e, &r.done, 10));
		assert_true(r.ok);
		pthread_mutex_lock(&fake.mu);
		assert_string_equal(fake.method, methods[i]);
		assert_int_equal(fake.body.len, i != 1 ? 2 : 0);
		pthread_mutex_unlock(&fake.mu);
		buf_free(&r.body);
	}
}

static void test_head(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	http_options opt = {.method = "HEAD", .timeout_ms = 5000};
	start(e, url("/big?n=5000"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	buf_free(&r.body);
}

/* Streaming: checks every byte against the pattern as it comes. */
struct stream {
	size_t seen;
	int mismatches;
	int chunks;
	int stop_after; /* 0: never */
};

/* The streaming tests pass a struct holding both the result and the stream. */
struct streamed {
	struct result r; /* first: done gets &streamed as its struct result */
	struct stream s;
};

static int on_data_check(const unsigned char *data, size_t len, void *arg)
{
	struct streamed *st = arg;
	assert_false(st->r.done);
	assert_true(len > 0);
	for (size_t i = 0; i < len; i++)
		if (data[i] != pattern(st->s.seen + i))
			st->s.mismatches++;
	st->s.seen += len;
	st->s.chunks++;
	return st->s.stop_after && st->s.chunks >= st->s.stop_after;
}

static void test_streaming(void **state)
{
	struct env *e = *state;
	const size_t n = 2 * 1024 * 1024 + 5;
	char path[64];
	for (int chunked = 0; chunked <= 1; chunked++) {
		struct streamed st = {0};
		snprintf(path, sizeof(path), "/%s?n=%zu", chunked ? "chunked" : "big", n);
		http_options opt = {.on_data = on_data_check};
		inside_start = 1;
		assert_non_null(http_start(e->loop, url(path), &opt, on_done, &st));
		inside_start = 0;
		assert_true(run_until(e, &st.r.done, 20));
		assert_true(st.r.ok);
		assert_int_equal(st.s.seen, n);
		assert_int_equal(st.s.mismatches, 0);
		assert_true(st.s.chunks > 1);
		assert_int_equal(st.r.body.len, 0); /* streamed bytes are not kept */
		buf_free(&st.r.body);
	}
}

static void test_streaming_abort(void **state)
{
	struct env *e = *state;
	struct streamed st = {0};
	st.s.stop_after = 1;
	http_options opt = {.on_data = on_data_check};
	assert_non_null(http_start(e->loop, url("/chunked?n=1000000"), &opt, on_done, &st));
	assert_true(run_until(e, &st.r.done, 10));
	assert_int_equal(st.r.calls, 1);
	assert_false(st.r.ok);
	assert_int_equal(st.r.failure, HTTP_FAIL_ABORTED);
	assert_int_equal(st.s.chunks, 1);
	assert_true(st.s.seen < 1000000);
	buf_free(&st.r.body);
}

static void test_streaming_too_large(void **state)
{
	struct env *e = *state;
	struct streamed st = {0};
	http_options opt = {.on_data = on_data_check, .max_body_bytes = 5000};
	assert_non_null(http_start(e->loop, url("/chunked?n=100000"), &opt, on_done, &st));
	assert_true(run_until(e, &st.r.done, 10));
	assert_int_equal(st.r.failure, HTTP_FAIL_TOO_LARGE);
	assert_true(st.s.seen <= 5000);
	assert_int_equal(st.s.mismatches, 0);
	buf_free(&st.r.body);
}

static void test_cancel(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	http_request *req = start(e, url("/slow"), NULL, &r);
	assert_true(run_until_count(e, &fake.slow_hits, 1, 10));
	assert_int_equal(loop_running(e->loop), 1);
	http_cancel(req);
	assert_int_equal(loop_running(e->loop), 0);
	/* Cancelling before the loop ever ran is fine too. */
	struct result r2 = {0};
	http_cancel(start(e, url("/hello"), NULL, &r2));
	/* Then other requests still work, and done never comes for the cancelled. */
	struct result after = {0};
	start(e, url("/hello"), NULL, &after);
	assert_true(run_until(e, &after.done, 10));
	assert_true(after.ok);
	assert_false(r.done);
	assert_false(r2.done);
	http_cancel(NULL);
	buf_free(&after.body);
}

/*
 * What a pod watch does when an event arrives: from inside one transfer's write
 * callback, cancel another transfer in flight, start a new one, and then cancel the
 * transfer itself. curl refuses multi calls there (CURLM_RECURSIVE_API_CALL), so the
 * loop must defer them; freeing a handle curl still holds is what valgrind and ASan
 * would report here.
 */
struct meddler {
	struct result self_r; /* first: the request's arg serves on_done and on_data */
	struct env *e;
	http_request *self, *victim, *started;
	struct result victim_r, started_r;
	int chunks;
	int in_curl_seen;
};

static int on_data_meddle(const unsigned char *data, size_t len, void *arg)
{
	struct meddler *m = arg;
	(void)data;
	(void)len;
	m->chunks++;
	m->in_curl_seen += loop_in_curl(m->e->loop);
	if (m->chunks == 1) {
		http_cancel(m->victim);
		m->started = http_start(m->e->loop, url("/hello"), NULL, on_done, &m->started_r);
		assert_false(m->started_r.done);
	} else if (m->chunks == 2) {
		http_cancel(m->self);
	}
	return 0;
}

static void test_start_and_cancel_from_inside_curl(void **state)
{
	struct env *e = *state;
	struct meddler m = {.e = e};
	m.victim = start(e, url("/slow"), NULL, &m.victim_r);
	assert_true(run_until_count(e, &fake.slow_hits, 1, 10));
	http_options opt = {.on_data = on_data_meddle};
	m.self = start(e, url("/chunked?n=1000000"), &opt, &m.self_r);
	assert_ptr_equal((void *)&m, (void *)&m.self_r);
	assert_true(run_until(e, &m.started_r.done, 10));
	assert_true(m.started_r.ok);
	assert_int_equal(m.started_r.status, 200);
	/* Once curl let go of them, the cancelled transfers are gone, silently. */
	ev_tstamp deadline = ev_time() + 5;
	while (loop_running(e->loop) > 0 && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	assert_int_equal(loop_running(e->loop), 0);
	assert_int_equal(m.chunks, 2); /* nothing reaches on_data after its own cancel */
	assert_true(m.in_curl_seen == 2);
	assert_false(m.victim_r.done);
	assert_false(m.self_r.done);
	buf_free(&m.started_r.body);
}

/* Cancelling from inside a done callback, where curl is not running, is immediate. */
struct canceller {
	http_request *other;
	struct result r;
};

static void on_done_cancel(const http_response *resp, void *arg)
{
	struct canceller *c = arg;
	(void)resp;
	c->r.done = 1;
	http_cancel(c->other);
}

static void test_cancel_from_done(void **state)
{
	struct env *e = *state;
	struct canceller c = {0};
	struct result slow = {0};
	c.other = start(e, url("/slow"), NULL, &slow);
	assert_true(run_until_count(e, &fake.slow_hits, 1, 10));
	assert_non_null(http_start(e->loop, url("/hello"), NULL, on_done_cancel, &c));
	assert_true(run_until(e, &c.r.done, 10));
	assert_int_equal(loop_running(e->loop), 0);
	assert_false(slow.done);
}

/* A body that does not fit the budget fails with its own reason and gives it all back;
 * a taken body keeps exactly its size of the budget. */
static void test_budget(void **state)
{
	struct env *e = *state;
	budget_t *b = budget_new(64 * 1024);
	struct result r = {0};
	http_options opt = {.budget = b};
	start(e, url("/big?n=200000"), &opt, &r);
	assert_true(run_until(e, &r.done, 10));
	assert_false(r.ok);
	assert_int_equal(r.failure, HTTP_FAIL_BUDGET);
	assert_non_null(strstr(r.error, "memory budget"));
	assert_int_equal(budget_used(b), 0);
	assert_true(budget_peak(b) <= 64 * 1024);
	buf_free(&r.body);
	budget_free(b);
}

struct taker {
	budget_t *b;
	unsigned char *data;
	size_t len;
	size_t used_in_done;
	int done;
};

static void on_done_take(const http_response *resp, void *arg)
{
	struct taker *t = arg;
	t->data = http_take_body(resp->req, &t->len);
	t->used_in_done = budget_used(t->b);
	t->done = 1;
}

static void test_take_body(void **state)
{
	struct env *e = *state;
	struct taker t = {.b = budget_new(1 << 20)};
	http_options opt = {.budget = t.b};
	assert_non_null(http_start(e->loop, url("/big?n=30000"), &opt, on_done_take, &t));
	assert_true(run_until(e, &t.done, 10));
	assert_int_equal(t.len, 30000);
	assert_int_equal(t.used_in_done, 30000);
	assert_int_equal(budget_used(t.b), 30000); /* the taker gives it back */
	for (size_t i = 0; i < t.len; i++)
		assert_int_equal(t.data[i], pattern(i));
	free(t.data);
	budget_give(t.b, t.len);
	assert_int_equal(budget_used(t.b), 0);
	budget_free(t.b);
}

/* A done callback may start the next request (what retries do). */
struct chain {
	struct env *e;
	int left;
	int finished;
	struct result r;
};

static void on_chain_done(const http_response *resp, void *arg)
{
	struct chain *c = arg;
	assert_int_equal(resp->status, 200);
	if (--c->left == 0) {
		c->finished = 1;
		return;
	}
	assert_non_null(http_start(c->e->loop, url("/hello"), NULL, on_chain_done, c));
}

static void test_start_from_done(void **state)
{
	struct env *e = *state;
	struct chain c = {.e = e, .left = 5};
	assert_non_null(http_start(e->loop, url("/hello"), NULL, on_chain_done, &c));
	assert_true(run_until(e, &c.finished, 10));
	assert_int_equal(c.left, 0);
}

struct many {
	struct result r[50];
	int finished;
	int count;
};

static void test_many_concurrent(void **state)
{
	struct env *e = *state;
	struct many *m = calloc(1, sizeof(*m));
	char path[64];
	for (int i = 0; i < 50; i++) {
		snprintf(path, sizeof(path), "/big?n=%d", 1000 + i * 997);
		start(e, url(path), NULL, &m->r[i]);
	}
	assert_int_equal(loop_running(e->loop), 50);
	ev_now_update(e->ev);
	ev_tstamp deadline = ev_now(e->ev) + 30;
	int all = 0;
	while (!all && ev_now(e->ev) < deadline) {
		ev_run(e->ev, EVRUN_ONCE);
		all = 1;
		for (int i = 0; i < 50; i++)
			all &= m->r[i].done;
	}
	assert_true(all);
	for (int i = 0; i < 50; i++) {
		size_t n = (size_t)(1000 + i * 997);
		assert_int_equal(m->r[i].calls, 1);
		assert_true(m->r[i].ok);
		assert_int_equal(m->r[i].body.len, n);
		unsigned char *want = pattern_bytes(n);
		assert_memory_equal(m->r[i].body.data, want, n);
		free(want);
		buf_free(&m->r[i].body);
	}
	assert_int_equal(loop_running(e->loop), 0);
	free(m);
}

/* loop_free while requests run frees them (the ASan build checks no leak) and
 * calls no done. */
static void test_loop_free_with_requests_running(void **state)
{
	struct env *e = *state;
	struct result r[3] = {{0}};
	for (int i = 0; i < 3; i++)
		start(e, url("/slow"), NULL, &r[i]);
	assert_true(run_until_count(e, &fake.slow_hits, 3, 10));
	struct result never = {0};
	start(e, url("/hello"), NULL, &never); /* not even connected yet */
	assert_int_equal(loop_running(e->loop), 4);
	loop_free(e->loop);
	e->loop = loop_new(e->ev); /* for teardown */
	for (int i = 0; i < 3; i++)
		assert_false(r[i].done);
	assert_false(never.done);
	/* Nothing of the freed loop is left watching: the ev loop runs on quietly. */
	int stop = 0;
	struct result after = {0};
	start(e, url("/hello"), NULL, &after);
	assert_true(run_until(e, &after.done, 10));
	assert_true(after.ok);
	assert_false(run_until(e, &stop, 0.2));
	buf_free(&after.body);
}

static void test_escape(void **state)
{
	(void)state;
	const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""},
		{"AZaz09-._~", "AZaz09-._~"},
		{"a b", "a%20b"},
		{"ns/pod-0", "ns%2Fpod-0"},
		{":/?#[]@!$&'()*+,;=%", "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25"},
		{"caf\xc3\xa9", "caf%C3%A9"},
		{"\x01\x7f\xff", "%01%7F%FF"},
		{"app=web,tier in (a,b)", "app%3Dweb%2Ctier%20in%20%28a%2Cb%29"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = http_escape(cases[i].in);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_body_arrives_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_codes_pass_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_urls_fail_from_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_body_and_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streaming_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streaming_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_and_cancel_from_inside_curl, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_free_with_requests_running, setup, teardown),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
