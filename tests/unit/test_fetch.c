/* Unit tests of fetch against a FAKE pod server (libmicrohttpd in this process, on
 * 127.0.0.1, port 0) that produces the answers and faults a real Go target can't on
 * demand: HTML, busy CPU profiler, redirects, oversized and slow bodies, raw protobuf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "test_loop.h"

#include "test_data.h"
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kprofefe/fetch.h"
#include "kprofefe/metrics.h"

/* ---- the fake pod server ---------------------------------------------------------- */

typedef test_file file;

static file heap_gz, heap_raw, cpu_gz, trace_raw, index_html;

static struct MHD_Daemon *fake;
static int fake_port;
static atomic_int target_hits;     /* requests to /ok/heap (the redirect's target) */
static atomic_int auth_seen;       /* requests that carried Authorization */
static atomic_int slow_done;       /* slow bodies that ended (client went away) */
static char cpu_query[32];         /* the seconds= of the last /ok/profile */

static file load(const char *name)
{
	return test_data_load(name);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const void *body,
			     size_t len, const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* A body that trickles a byte every 20 ms for up to 10 s (the client times out first). */
static ssize_t slow_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	(void)cls;
	(void)max;
	if (pos >= 500)
		return MHD_CONTENT_READER_END_OF_STREAM;
	nanosleep(&ts, NULL);
	buf[0] = 'x';
	return 1;
}

static void slow_free(void *cls)
{
	(void)cls;
	atomic_fetch_add(&slow_done, 1);
}

/* An unbounded chunked body (no Content-Length) of zeros. */
static ssize_t endless_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	if (pos > (64u << 20))
		return MHD_CONTENT_READER_END_OF_STREAM;
	memset(buf, 0, max);
	return (ssize_t)max;
}

static enum MHD_Result fake_pod(void *cls, struct MHD_Connection *c, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **state)
{
	static char big[2 << 20];
	struct MHD_Response *r;
	enum MHD_Result rc;
	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;

	if (*state == NULL) { /* the first call only sees the headers */
		*state = (void *)1;
		return MHD_YES;
	}
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))
		atomic_fetch_add(&auth_seen, 1);

	if (strcmp(url, "/ok/heap") == 0) {
		atomic_fetch_add(&target_hits, 1);
		return reply(c, 200, heap_gz.data, heap_gz.len, "application/octet-stream");
	}
	if (strcmp(url, "/ok/profile") == 0) {
		const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
		snprintf(cpu_query, sizeof(cpu_query), "%s", s ? s : "");
		return reply(c, 200, cpu_gz.data, cpu_gz.len, "application/octet-stream");
	}
	if (strcmp(url, "/ok/trace") == 0)
		return reply(c, 200, trace_raw.data, trace_raw.len, "application/octet-stream");
	if (strcmp(url, "/proto/goroutine") == 0)
		return reply(c, 200, heap_raw.data, heap_raw.len, "application/octet-stream");
	if (strcmp(url, "/html/heap") == 0)
		return reply(c, 200, index_html.data, index_html.len, "text/html");
	if (strcmp(url, "/empty/heap") == 0)
		return reply(c, 200, "", 0, NULL);
	if (strcmp(url, "/busy/profile") == 0) {
		static const char msg[] =
			"Could not enable CPU profiling: cpu profiling already in use\n";
		return reply(c, 500, msg, sizeof(msg) - 1, "text/plain; charset=utf-8");
	}
	if (strcmp(url, "/404/heap") == 0)
		return reply(c, 404, "Unknown profile\n", 16, "text/plain");
	if (strcmp(url, "/503/heap") == 0)
		return reply(c, 503, "unavailable", 11, "text/plain");
	if (strcmp(url, "/redir/heap") == 0) {
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Location", "/ok/heap");
		rc = MHD_queue_response(c, 302, r);
		MHD_destroy_response(r);
		return rc;
	}
	if (strcmp(url, "/big/heap") == 0)
		return reply(c, 200, big, sizeof(big), "application/octet-stream");
	if (strcmp(url, "/endless/heap") == 0) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, endless_body,
						      NULL, NULL);
		rc = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return rc;
	}
	if (strcmp(url, "/slow/heap") == 0 || strcmp(url, "/slow/profile") == 0) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, slow_body, NULL,
						      slow_free);
		rc = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return rc;
	}
	return reply(c, 404, "no such fake route\n", 19, "text/plain");
}

static int group_setup(void **state)
{
	const union MHD_DaemonInfo *info;
	(void)state;

	heap_gz = load("heap.pb.gz");
	heap_raw = load("heap.pb");
	cpu_gz = load("cpu.pb.gz");
	trace_raw = load("trace.out");
	index_html = load("index.html");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	fake = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				0, NULL, NULL, fake_pod, NULL, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_END);
	assert_non_null(fake);
	info = MHD_get_daemon_info(fake, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	fake_port = info->port;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	MHD_stop_daemon(fake);
	free(heap_gz.data);
	free(heap_raw.data);
	free(cpu_gz.data);
	free(trace_raw.data);
	free(index_html.data);
	metrics_reset();
	return 0;
}

/* ---- driving the loop ------------------------------------------------------------------ */

typedef struct env {
	struct ev_loop *ev;
	loop_t *loop;
} env;

static int setup(void **state)
{
	env *e = calloc(1, sizeof(*e));
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	metrics_reset();
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env *e = *state;
	loop_free(e->loop);
	ev_loop_destroy(e->ev);
	free(e);
	return 0;
}

/* What a done callback saw. */
typedef struct outcome {
	int called;
	int ok;
	long status;
	enum pprof_type type;
	char reason[32];
	char body_reason[32];
	char message[512];
	char url[256];
	unsigned char *data; /* taken */
	size_t len;
	double seconds;
} outcome;

static void on_done(fetch_result *res, void *arg)
{
	outcome *o = arg;

	o->called++;
	o->ok = res->ok;
	o->status = res->status;
	o->type = res->type;
	o->seconds = res->seconds;
	snprintf(o->reason, sizeof(o->reason), "%s", res->ok ? "" : fetch_reason_name(res->reason));
	snprintf(o->body_reason, sizeof(o->body_reason), "%s",
		 pprof_reason_name(res->body_reason));
	snprintf(o->message, sizeof(o->message), "%s", res->message ? res->message : "");
	snprintf(o->url, sizeof(o->url), "%s", res->url);
	o->data = fetch_result_take(res, &o->len);
	assert_null(res->data);
}

/* Runs the loop until *flag is set or seconds pass; returns whether the flag was set. */
static int run_until(env *e, const int *flag, double seconds)
{
	return test_run_until_flag(e->ev, flag, seconds);
}

static char *base(const char *route)
{
	static char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", fake_port, route);
	return url;
}

static void fetch_and_wait(env *e, const char *route, enum pprof_type t, const fetch_options *opt,
			   outcome *o)
{
	memset(o, 0, sizeof(*o));
	fetch *f = fetch_start(e->loop, base(route), t, opt, on_done, o);
	assert_non_null(f);
	assert_int_equal(o->called, 0); /* never from inside fetch_start */
	if (!run_until(e, &o->called, 10.0))
		fail_msg("fetch of %s did not finish", route);
	assert_int_equal(o->called, 1);
}

static double fetch_count(const char *type, const char *result)
{
	return metrics_get(METRIC_FETCH_TOTAL, "type", type, "result", result, NULL);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_ok_gzip(void **state)
{
	env *e = *state;
	outcome o;

	fetch_and_wait(e, "ok", PPROF_HEAP, NULL, &o);
	assert_true(o.ok);
	assert_int_equal(o.status, 200);
	assert_int_equal(o.type, PPROF_HEAP);
	assert_string_equal(o.reason, "");
	assert_int_equal(o.len, heap_gz.len);
	assert_memory_equal(o.data, heap_gz.data, heap_gz.len);
	assert_true(o.seconds >= 0);
	free(o.data);
	assert_true(fetch_count("heap", "ok") == 1.0);
	assert_true(metrics_get(METRIC_FETCH_BYTES_TOTAL, "type", "heap", NULL) ==
		    (double)heap_gz.len);
	assert_int_equal(atomic_load(&auth_seen), 0); /* no credentials by default */
}

static void test_cpu_seconds_and_trailing_slash(void **state)
{
	env *e = *state;
	fetch_options opt = {0};
	outcome o;

	opt.cpu_seconds = 7;
	fetch_and_wait(e, "ok/", PPROF_CPU, &opt, &o);
	assert_true(o.ok);
	assert_string_equal(cpu_query, "7");
	assert_non_null(strstr(o.url, "/ok/profile?seconds=7"));
	assert_null(strstr(o.url, "//profile"));
	free(o.data);

	fetch_and_wait(e, "ok", PPROF_TRACE, &opt, &o);
	assert_true(o.ok);
	assert_int_equal(o.len, trace_raw.len);
	free(o.data);
}

static void test_raw_protobuf_gzipped(void **state)
{
	env *e = *state;
	outcome o;

	fetch_and_wait(e, "proto", PPROF_GOROUTINE, NULL, &o);
	assert_true(o.ok);
	assert_true(o.len > 2 && o.data[0] == 0x1f && o.data[1] == 0x8b);
	unsigned char *raw;
	size_t raw_len;
	enum pprof_reason why;
	assert_int_equal(pprof_gunzip(o.data, o.len, 0, &raw, &raw_len, &why), 0);
	assert_int_equal(raw_len, heap_raw.len);
	assert_memory_equal(raw, heap_raw.data, raw_len);
	free(raw);
	free(o.data);
}

static void test_html(void **state)
{
	env *e = *state;
	outcome o;

	fetch_and_wait(e, "html", PPROF_HEAP, NULL, &o);
	assert_false(o.ok);
	assert_int_equal(o.status, 200);
	assert_string_equal(o.reason, "not_pprof");
	assert_string_equal(o.body_reason, "html");
	assert_null(o.data);
	assert_non_null(strstr(o.message, base("html/heap")));
	assert_non_null(strstr(o.message, "<html>"));
	assert_true(fetch_count("heap", "not_pprof") == 1.0);

	fetch_and_wait(e, "empty", PPROF_HEAP, NULL, &o);
	assert_string_equal(o.reason, "not_pprof");
	assert_string_equal(o.body_reason, "empty");
}

static void test_busy(void **state)
{
	env *e = *state;
	outcome o;

	fetch_and_wait(e, "busy", PPROF_CPU, NULL, &o);
	assert_false(o.ok);
	assert_int_equal(o.status, 500);
	assert_string_equal(o.reason, "busy");
	assert_non_null(strstr(o.message, "already in use"));
	assert_non_null(strstr(o.message, base("busy/profile")));
	assert_true(fetch_count("cpu", "busy") == 1.0);
}

static void test_statuses(void **state)
{
	env *e = *state;
	outcome o;

	fetch_and_wait(e, "404", PPROF_HEAP, NULL, &o);
	assert_string_equal(o.reason, "http_4xx");
	assert_int_equal(o.status, 404);
	assert_non_null(strstr(o.message, "HTTP 404: Unknown profile"));
	fetch_and_wait(e, "503", PPROF_HEAP, NULL, &o);
	assert_string_equal(o.reason, "http_5xx");
	assert_true(fetch_count("heap", "http_4xx") == 1.0);
	assert_true(fetch_count("heap", "http_5xx") == 1.0);
}

static void test_redirect_refused(void **state)
{
	env *e = *state;
	outcome o;
	int before = atomic_load(&target_hits);

	fetch_and_wait(e, "redir", PPROF_HEAP, NULL, &o);
	assert_false(o.ok);
	assert_int_equal(o.status, 302);
	assert_string_equal(o.reason, "redirect");
	assert_non_null(strstr(o.message, "redirect refused"));
	assert_int_equal(atomic_load(&target_hits), before); /* not followed */
}

static void test_too_large(void **state)
{
	env *e = *state;
	fetch_options opt = {0};
	outcome o;

	opt.max_profile_bytes = 1 << 20;
	fetch_and_wait(e, "big", PPROF_HEAP, &opt, &o); /* Content-Length says so */
	assert_false(o.ok);
	assert_string_equal(o.reason, "too_large");
	assert_null(o.data);
	fetch_and_wait(e, "endless", PPROF_HEAP, &opt, &o); /* chunked, no length */
	assert_string_equal(o.reason, "too_large");
	assert_true(fetch_count("heap", "too_large") == 2.0);
}

/* The budget: an endless body stops when it no longer fits, and a profile handed over
 * holds exactly its size until the taker gives it back. */
static void test_budget(void **state)
{
	env *e = *state;
	fetch_options opt = {0};
	outcome o;

	opt.budget = budget_new(256 * 1024);
	fetch_and_wait(e, "endless", PPROF_HEAP, &opt, &o);
	assert_false(o.ok);
	assert_string_equal(o.reason, "budget");
	assert_non_null(strstr(o.message, "memory budget"));
	assert_int_equal(budget_used(opt.budget), 0);
	assert_true(budget_peak(opt.budget) <= 256 * 1024);
	assert_true(fetch_count("heap", "budget") == 1.0);

	fetch_and_wait(e, "ok", PPROF_HEAP, &opt, &o);
	assert_true(o.ok);
	assert_int_equal(budget_used(opt.budget), o.len);
	free(o.data);
	budget_give(opt.budget, o.len);
	/* The raw protobuf is replaced by its gzip: the budget follows. */
	fetch_and_wait(e, "proto", PPROF_GOROUTINE, &opt, &o);
	assert_true(o.ok);
	assert_int_equal(budget_used(opt.budget), o.len);
	free(o.data);
	budget_give(opt.budget, o.len);
	budget_free(opt.budget);
}

static void test_timeout(void **state)
{
	env *e = *state;
	fetch_options opt = {0};
	outcome o;

	opt.plain_timeout_ms = 300;
	fetch_and_wait(e, "slow", PPROF_HEAP, &opt, &o);
	assert_false(o.ok);
	assert_string_equal(o.reason, "timeout");
	assert_non_null(strstr(o.message, base("slow/heap")));
	assert_true(o.seconds < 5);

	/* cpu: seconds + margin */
	opt.cpu_seconds = 1;
	opt.margin_ms = 200;
	fetch_and_wait(e, "slow", PPROF_CPU, &opt, &o);
	assert_string_equal(o.reason, "timeout");
	assert_true(o.seconds >= 1.1 && o.seconds < 5);
	assert_true(fetch_count("cpu", "timeout") == 1.0);
}

static void test_connect_refused(void **state)
{
	env *e = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	char url[64];
	outcome o;

	/* A port that was free a moment ago: bind, learn it, close. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/debug/pprof", ntohs(sa.sin_port));
	memset(&o, 0, sizeof(o));
	fetch_start(e->loop, url, PPROF_HEAP, NULL, on_done, &o);
	assert_true(run_until(e, &o.called, 10.0));
	assert_false(o.ok);
	assert_string_equal(o.reason, "connect");
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.message, url));
	assert_true(fetch_count("heap", "connect") == 1.0);
}

static void test_headers_and_cancel(void **state)
{
	env *e = *state;
	const char *const headers[] = {"Authorization: Bearer t0ken", NULL};
	fetch_options opt = {0};
	outcome o;
	int before = atomic_load(&auth_seen), never = 0;

	opt.headers = headers;
	fetch_and_wait(e, "ok", PPROF_HEAP, &opt, &o);
	assert_true(o.ok);
	free(o.data);
	assert_int_equal(atomic_load(&auth_seen), before + 1);

	/* Cancel a slow fetch mid-body: done is never called. */
	memset(&o, 0, sizeof(o));
	fetch *f = fetch_start(e->loop, base("slow"), PPROF_HEAP, NULL, on_done, &o);
	run_until(e, &never, 0.2);
	fetch_cancel(f);
	fetch_cancel(NULL);
	run_until(e, &never, 0.2);
	assert_int_equal(o.called, 0);
	assert_true(fetch_count("heap", "canceled") == 1.0);

	/* Cancel before the loop ever ran. */
	f = fetch_start(e->loop, base("ok"), PPROF_HEAP, NULL, on_done, &o);
	fetch_cancel(f);
	run_until(e, &never, 0.1);
	assert_int_equal(o.called, 0);
}

static void ignore_done(fetch_result *res, void *arg)
{
	(void)res;
	(*(int *)arg)++;
}

/* A callback that does not take the data: fetch frees it (the sanitizer build checks). */
static void test_not_taken_is_freed(void **state)
{
	env *e = *state;
	int called = 0;

	fetch_start(e->loop, base("ok"), PPROF_HEAP, NULL, ignore_done, &called);
	assert_true(run_until(e, &called, 10.0));
	assert_int_equal(called, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_seconds_and_trailing_slash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_protobuf_gzipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_html, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_taken_is_freed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
