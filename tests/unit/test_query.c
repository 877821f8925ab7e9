/* Unit tests of query: durations and times, label lists, the profiles table, loading local
 * files, and listing/uploading against a FAKE profefe (libmicrohttpd in this process, on
 * 127.0.0.1, port 0) that answers some types with profiles, one with an error and the rest
 * with profefe's "nothing found". The real profefe is used by tests/e2e/plugin_profefe_test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "test_loop.h"
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "kprofefe/query.h"
#include "kprofefe/xalloc.h"

static char *data_path(const char *name)
{
	const char *dir = getenv("KPROFEFE_TEST_DATA");
	return xasprintf("%s/pprof/%s", dir ? dir : "tests/data", name);
}

/* ---- parsing ------------------------------------------------------------------------------------ */

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		double seconds;
	} ok[] = {{"24h", 86400},    {"0m", 0},     {"0", 0},       {"30m", 1800},
		  {"1h30m", 5400},   {"1.5h", 5400}, {"250ms", 0.25}, {"-24h", 86400},
		  {"+2s", 2},        {"1h1m1s", 3661}, {"100us", 1e-4}, {"3\xc2\xb5s", 3e-6},
		  {"2h45m30.5s", 9930.5}, {".5s", 0.5}};
	static const char *const bad[] = {"", "24", "h", "1d", "1h 30m", "yesterday", "1.h.", "-",
					  "1hh", "12x"};
	double s;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (query_parse_duration(ok[i].text, &s) != 0)
			fail_msg("\"%s\" not parsed", ok[i].text);
		assert_float_equal(s, ok[i].seconds, 1e-9);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (query_parse_duration(bad[i], &s) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
}

static void test_times(void **state)
{
	time_t now = 1700000000, t;
	char err[256];

	(void)state;
	assert_int_equal(query_parse_time("24h", now, &t, err, sizeof(err)), 0);
	assert_int_equal(t, now - 86400);
	assert_int_equal(query_parse_time("0m", now, &t, err, sizeof(err)), 0);
	assert_int_equal(t, now);
	assert_int_equal(query_parse_time("2023-11-14T22:13:20Z", now, &t, err, sizeof(err)), 0);
	assert_int_equal(t, 1700000000);
	assert_int_equal(query_parse_time("2023-11-14T23:13:20+01:00", now, &t, err, sizeof(err)), 0);
	assert_int_equal(t, 1700000000);
	assert_int_equal(query_parse_time("last week", now, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"last week\" is neither a duration"));
	/* found by fuzzing: 3.6e23 seconds does not fit a time_t */
	assert_int_equal(query_parse_time("99999999999999999999h", now, &t, err, sizeof(err)), -1);
	assert_string_equal(err, "\"99999999999999999999h\" reaches back before 1970-01-01");
	assert_int_equal(query_parse_time("1700000001s", now, &t, err, sizeof(err)), -1);
	assert_int_equal(query_parse_time("1700000000s", now, &t, err, sizeof(err)), 0);
	assert_int_equal(t, 0);
}

static void test_labels(void **state)
{
	static const char *const extra[] = {"from", "kubectl-profefe-load", "env", "x", NULL};
	char *enc = NULL;
	char err[256];

	(void)state;
	assert_int_equal(query_labels_parse(" a=1 , b = x y ,,", NULL, &enc, err, sizeof(err)), 0);
	assert_string_equal(enc, "a=1,b=x%20y");
	free(enc);
	assert_int_equal(query_labels_parse("k=a,b=c%", NULL, &enc, err, sizeof(err)), 0);
	assert_string_equal(enc, "k=a,b=c%25");
	free(enc);
	/* Extra labels, unless the list sets their key. */
	assert_int_equal(query_labels_parse("env=prod", extra, &enc, err, sizeof(err)), 0);
	assert_string_equal(enc, "env=prod,from=kubectl-profefe-load");
	free(enc);
	assert_int_equal(query_labels_parse(NULL, NULL, &enc, err, sizeof(err)), 0);
	assert_string_equal(enc, "");
	free(enc);
	assert_int_equal(query_labels_parse("k=", NULL, &enc, err, sizeof(err)), 0);
	assert_string_equal(enc, "k=");
	free(enc);
	enc = NULL;
	assert_int_equal(query_labels_parse("a=1,novalue", NULL, &enc, err, sizeof(err)), -1);
	assert_string_equal(err, "label \"novalue\" is not key=value");
	assert_int_equal(query_labels_parse("=v", NULL, &enc, err, sizeof(err)), -1);
	assert_null(enc);
}

static void test_labels_match(void **state)
{
	char ns[] = "namespace", shop[] = "shop", delta[] = "delta", yes[] = "true", k[] = "k,=%",
	     v[] = "v w", id[] = "x";
	char *labels[] = {ns, shop, delta, yes, k, v, NULL};
	profefe_profile_meta m = {.id = id, .labels = labels};
	profefe_profile_meta none = {.id = id};
	char *want = NULL, err[128];
	(void)state;

	assert_true(query_labels_match(&m, NULL));
	assert_true(query_labels_match(&m, ""));
	assert_int_equal(query_labels_parse("delta=true", NULL, &want, err, sizeof(err)), 0);
	assert_true(query_labels_match(&m, want));
	assert_false(query_labels_match(&none, want));
	free(want);
	/* Every pair must be there, with its value; keys and values that need encoding. */
	const char *const pairs[] = {"delta", "true", "k,=%", "v w", NULL};
	want = profefe_labels_encode(pairs);
	assert_true(query_labels_match(&m, want));
	free(want);
	assert_int_equal(query_labels_parse("delta=true,namespace=web", NULL, &want, err,
					    sizeof(err)), 0);
	assert_false(query_labels_match(&m, want));
	free(want);
	assert_int_equal(query_labels_parse("delta=false", NULL, &want, err, sizeof(err)), 0);
	assert_false(query_labels_match(&m, want));
	free(want);
}

static void test_merge_file_name(void **state)
{
	char *f;
	(void)state;

	f = query_merge_file_name(".", "other", "web", 1714557600);
	assert_string_equal(f, "./profile-other-web-merged-1714557600.pb.gz");
	free(f);
	f = query_merge_file_name("/tmp/", "cpu", "team/api", 7);
	assert_string_equal(f, "/tmp/profile-cpu-team_api-merged-7.pb.gz");
	free(f);
	f = query_merge_file_name("/", "heap", "s", 7);
	assert_string_equal(f, "/profile-heap-s-merged-7.pb.gz");
	free(f);
}

static void test_profefe_types(void **state)
{
	const char *const *t = query_profefe_types();
	size_t n = 0;

	(void)state;
	while (t[n])
		n++;
	assert_int_equal(n, 8);
	assert_string_equal(t[0], "cpu");
	assert_string_equal(t[6], "other");
	assert_true(query_is_profefe_type("threadcreate"));
	assert_false(query_is_profefe_type("allocs"));
	assert_false(query_is_profefe_type("CPU"));
}

/* ---- loading files ---------------------------------------------------------------------------- */

static enum pprof_type load_ok(const char *name, const char *type_name)
{
	char *path = data_path(name);
	unsigned char *data;
	size_t len;
	enum pprof_type t;
	char err[512];

	if (query_load_file(path, type_name, &data, &len, &t, err, sizeof(err)) != 0)
		fail_msg("%s: %s", name, err);
	assert_true(len > 0);
	if (t != PPROF_TRACE) /* what is uploaded is gzip */
		assert_true(data[0] == 0x1f && data[1] == 0x8b);
	free(data);
	free(path);
	return t;
}

static char *load_err(const char *name, const char *type_name)
{
	char *path = name[0] == '/' ? xstrdup(name) : data_path(name);
	static unsigned char sentinel[1];
	unsigned char *data = sentinel;
	size_t len = 1;
	enum pprof_type t;
	char err[512];

	assert_int_equal(query_load_file(path, type_name, &data, &len, &t, err, sizeof(err)), -1);
	assert_null(data);
	free(path);
	return xstrdup(err);
}

static void test_load_reads_the_type(void **state)
{
	char *e;

	(void)state;
	assert_int_equal(load_ok("cpu.pb.gz", NULL), PPROF_CPU);
	assert_int_equal(load_ok("heap.pb.gz", NULL), PPROF_HEAP);
	assert_int_equal(load_ok("heap.pb", NULL), PPROF_HEAP); /* uncompressed: gzipped */
	assert_int_equal(load_ok("allocs.pb.gz", NULL), PPROF_HEAP);
	assert_int_equal(load_ok("goroutine.pb.gz", NULL), PPROF_GOROUTINE);
	assert_int_equal(load_ok("threadcreate.pb.gz", NULL), PPROF_THREADCREATE);
	assert_int_equal(load_ok("mutex.pb.gz", NULL), PPROF_MUTEX);
	assert_int_equal(load_ok("block.pb.gz", NULL), PPROF_BLOCK);
	assert_int_equal(load_ok("trace.out", NULL), PPROF_TRACE);
	/* --profile-type wins, as long as it fits the file. */
	assert_int_equal(load_ok("allocs.pb.gz", "other"), PPROF_ALLOCS);
	assert_int_equal(load_ok("heap.pb.gz", "allocs"), PPROF_ALLOCS);
	assert_int_equal(load_ok("trace.out", "trace"), PPROF_TRACE);
	e = load_err("heap.pb.gz", "trace");
	assert_non_null(strstr(e, "heap.pb.gz: a pprof profile, not a Go execution trace"));
	free(e);
	e = load_err("trace.out", "cpu");
	assert_non_null(strstr(e, "trace.out: a Go execution trace, not a pprof profile"));
	free(e);
	e = load_err("heap.pb.gz", "bogus");
	assert_non_null(strstr(e, "unknown profile type \"bogus\""));
	free(e);
}

static void test_load_refuses_what_is_not_pprof(void **state)
{
	char *e;

	(void)state;
	e = load_err("index.html", NULL);
	assert_non_null(strstr(e, "index.html: not a pprof profile"));
	free(e);
	e = load_err("goroutine-debug1.txt", NULL);
	assert_non_null(strstr(e, "goroutine-debug1.txt: not a pprof profile"));
	free(e);
	e = load_err("/nonexistent/file.pb.gz", NULL);
	assert_string_equal(e, "/nonexistent/file.pb.gz: No such file or directory");
	free(e);
	e = load_err("/", NULL);
	assert_string_equal(e, "/: is a directory");
	free(e);
	e = load_err("/dev/null", NULL);
	assert_non_null(strstr(e, "/dev/null: not a pprof profile or Go trace: empty file"));
	free(e);
}

/* ---- the table --------------------------------------------------------------------------------- */

static void test_table(void **state)
{
	profefe_profile_meta *items = xcalloc(2, sizeof(*items));
	const char *id[] = {"c1", "longer-id"}, *type[] = {"cpu", "goroutine"};
	const char *created[] = {"2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z"};
	for (size_t i = 0; i < 2; i++) {
		items[i].id = xstrdup(id[i]);
		items[i].type = xstrdup(type[i]);
		items[i].service = xstrdup("web");
		items[i].created_at = xstrdup(created[i]);
		items[i].labels = xcalloc(5, sizeof(char *));
	}
	items[0].labels[0] = xstrdup("pod");
	items[0].labels[1] = xstrdup("web-1");
	items[0].labels[2] = xstrdup("from");
	items[0].labels[3] = xstrdup("kube-profefe");
	char err[128], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	loop_t *loop = loop_new(ev);
	profefe_client *c = profefe_client_new(loop, "http://pf:10100/", NULL, err, sizeof(err));

	(void)state;
	query_print_profiles(f, c, items, 2);
	fclose(f);
	assert_string_equal(
		text,
		"ID          TYPE        SERVICE   CREATED_AT             LABELS                        URL\n"
		"c1          cpu         web       2024-05-01T10:00:00Z   pod=web-1,from=kube-profefe   "
		"http://pf:10100/api/0/profiles/c1\n"
		"longer-id   goroutine   web       2024-05-01T10:00:01Z                                 "
		"http://pf:10100/api/0/profiles/longer-id\n");
	free(text);
	profefe_metas_free(items, 2);
	profefe_client_free(c);
	loop_free(loop);
	ev_loop_destroy(ev);
}

/* ---- the fake profefe -------------------------------------------------------------------------- */

static struct MHD_Daemon *fake;
static char fake_url[64];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char queries[2048];  /* "type|from|to|labels\n" per GET /api/0/profiles */
static char uploads[2048];  /* "service|type|labels|bytes\n" per POST */
static atomic_int n_uploads;

#define STORED_P1 "\x1f\x8b stored p1"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	MHD_add_response_header(r, "Content-Type", "application/json");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	return v ? v : "";
}

static void record(char *log, size_t cap, const char *line)
{
	pthread_mutex_lock(&mu);
	size_t used = strlen(log);
	snprintf(log + used, cap - used, "%s\n", line);
	pthread_mutex_unlock(&mu);
}

static enum MHD_Result profiles(struct MHD_Connection *c)
{
	const char *type = arg(c, "type");
	char line[512];

	snprintf(line, sizeof(line), "%s|%s|%s|%s", type, arg(c, "from"), arg(c, "to"),
		 arg(c, "labels"));
	record(queries, sizeof(queries), line);
	/* Newest first, as a store might answer: the run sorts. */
	if (!strcmp(type, "cpu"))
		return reply(c, 200, "{\"code\":200,\"body\":[{\"id\":\"cpu2\",\"type\":\"cpu\","
				     "\"service\":\"web\",\"created_at\":\"2024-05-01T10:00:05Z\"},"
				     "{\"id\":\"cpu1\",\"type\":\"cpu\",\"service\":\"web\","
				     "\"created_at\":\"2024-05-01T10:00:00Z\",\"labels\":[{\"key\":"
				     "\"pod\",\"value\":\"a\"},{\"key\":\"k\",\"value\":"
				     "\"x,y\"}]}]}");
	if (!strcmp(type, "heap"))
		return reply(c, 200, "{\"code\":200,\"body\":[{\"id\":\"heap1\",\"type\":\"heap\","
				     "\"service\":\"web\",\"created_at\":\"2024-05-01T10:00:02Z\"}]}");
	if (!strcmp(type, "trace"))
		return reply(c, 500, "{\"code\":500,\"error\":\"store is down\"}");
	return reply(c, 404, "{\"code\":404,\"error\":\"nothing found\"}");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **state)
{
	size_t *received = *state;

	(void)cls;
	(void)version;
	(void)data;
	if (received == NULL) {
		*state = calloc(1, sizeof(size_t));
		return MHD_YES;
	}
	if (*size) {
		*received += *size;
		*size = 0;
		return MHD_YES;
	}
	if (!strcmp(method, "GET") && !strcmp(url, "/api/0/profiles"))
		return profiles(c);
	if (!strcmp(method, "GET") && !strcmp(url, "/api/0/profiles/p1"))
		return reply(c, 200, STORED_P1); /* gzip's magic: what profefe stores */
	if (!strcmp(method, "POST") && !strcmp(url, "/api/0/profiles")) {
		char line[512], body[128];
		int n = ++n_uploads;
		snprintf(line, sizeof(line), "%s|%s|%s|%zu", arg(c, "service"), arg(c, "type"),
			 arg(c, "labels"), *received);
		record(uploads, sizeof(uploads), line);
		snprintf(body, sizeof(body), "{\"code\":200,\"body\":{\"id\":\"up%d\"}}", n);
		return reply(c, 200, body);
	}
	return reply(c, 404, "{\"code\":404,\"error\":\"nothing found\"}");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*state);
	*state = NULL;
}

static int fake_start(void **state)
{
	struct sockaddr_in sa = {0};

	(void)state;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!fake)
		return -1;
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d",
		 MHD_get_daemon_info(fake, MHD_DAEMON_INFO_BIND_PORT)->port);
	return 0;
}

static int fake_stop(void **state)
{
	(void)state;
	MHD_stop_daemon(fake);
	return 0;
}

/* ---- runs against the fake ------------------------------------------------------------------------ */

typedef struct env {
	struct ev_loop *ev;
	loop_t *loop;
	profefe_client *c;
	int done;
	/* listing */
	char ids[256];
	char *error;
	/* loading */
	int failures;
	char *out, *err;
	size_t out_len, err_len;
	FILE *out_f, *err_f;
} env;

static env *env_new(void)
{
	env *e = xcalloc(1, sizeof(*e));
	char err[128];

	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	e->c = profefe_client_new(e->loop, fake_url, NULL, err, sizeof(err));
	e->out_f = open_memstream(&e->out, &e->out_len);
	e->err_f = open_memstream(&e->err, &e->err_len);
	queries[0] = uploads[0] = '\0';
	n_uploads = 0;
	return e;
}

static void env_free(env *e)
{
	fclose(e->out_f);
	fclose(e->err_f);
	free(e->out);
	free(e->err);
	free(e->error);
	profefe_client_free(e->c);
	loop_free(e->loop);
	ev_loop_destroy(e->ev);
	free(e);
}


static void drive(env *e)
{
	assert_true(test_run_until_flag(e->ev, &e->done, 10));
	fflush(e->out_f);
	fflush(e->err_f);
}

static void on_profiles(const profefe_profile_meta *items, size_t n, const char *error, void *arg)
{
	env *e = arg;

	e->done = 1;
	e->error = error ? xstrdup(error) : NULL;
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(e->ids);
		snprintf(e->ids + used, sizeof(e->ids) - used, "%s%s", i ? "," : "", items[i].id);
	}
}

static void test_profiles_of_every_type(void **state)
{
	env *e = env_new();
	query_profiles_options o = {.service = "web", .from = 1714557600, .to = 1714561200};

	(void)state;
	query_profiles(e->loop, e->c, &o, on_profiles, e);
	drive(e);
	/* Every type asked, oldest first across types; the failed type named; the
	 * second named by --to is included whole. */
	assert_string_equal(e->ids, "cpu1,heap1,cpu2");
	assert_non_null(e->error);
	assert_non_null(strstr(e->error, "store is down"));
	assert_non_null(strstr(queries, "cpu|2024-05-01T10:00:00|2024-05-01T11:00:01|\n"));
	for (const char *const *t = query_profefe_types(); *t; t++) {
		char want[64];
		snprintf(want, sizeof(want), "%s|", *t);
		assert_non_null(strstr(queries, want));
	}
	env_free(e);
}

/* profefe down: every type's request fails alike, and that is told once, with what to
 * do; a failure with a response is told as it is. */
static void test_profiles_unreachable_told_once(void **state)
{
	env *e = env_new();
	char err[128];
	profefe_client *down = profefe_client_new(e->loop, "http://127.0.0.1:1", NULL, err,
						  sizeof(err));
	query_profiles_options o = {.service = "web"};
	const char *head = "error: profefe is not reachable at http://127.0.0.1:1 (GET "
			   "/api/0/profiles: ";
	const char *tail = "): port-forward its Service (kubectl -n profefe port-forward "
			   "svc/profefe 10100) or give its URL with --profefe-hostport or "
			   "PROFEFE_URL\n";

	(void)state;
	assert_int_equal(profefe_client_failure(down), HTTP_FAIL_NONE);
	query_profiles(e->loop, down, &o, on_profiles, e);
	drive(e);
	assert_non_null(e->error);
	assert_null(strchr(e->error, ';'));
	assert_int_equal(profefe_client_failure(down), HTTP_FAIL_CONNECT);
	query_print_profefe_error(e->err_f, down, e->error);
	fflush(e->err_f);
	assert_int_equal(strncmp(e->err, head, strlen(head)), 0);
	assert_true(e->err_len > strlen(tail));
	assert_string_equal(e->err + e->err_len - strlen(tail), tail);
	assert_ptr_equal(strchr(e->err, '\n'), e->err + e->err_len - 1); /* one line */
	char *other = NULL;
	size_t other_len = 0;
	FILE *f = open_memstream(&other, &other_len);
	assert_non_null(f);
	query_print_profefe_error(f, e->c, "GET /api/0/profiles: HTTP 500: store is down");
	assert_int_equal(fclose(f), 0);
	char *want = xasprintf("error: profefe %s: GET /api/0/profiles: HTTP 500: store is down\n",
			       fake_url);
	assert_string_equal(other, want);
	free(want);
	free(other);
	profefe_client_free(down);
	env_free(e);
}

/* Labels are matched here: profefe is asked without them (its index misses profiles
 * that arrived out of time order), and the limit counts matching profiles only. */
static void test_profiles_by_label(void **state)
{
	env *e = env_new();
	char *labels = profefe_labels_encode((const char *const[]){"k", "x,y", "pod", "a", NULL});
	query_profiles_options o = {.service = "web", .type = "cpu", .from = 1, .to = 2,
				    .labels = labels, .limit = 1};

	(void)state;
	query_profiles(e->loop, e->c, &o, on_profiles, e);
	drive(e);
	assert_string_equal(e->ids, "cpu1");
	assert_null(e->error);
	assert_string_equal(queries, "cpu|1970-01-01T00:00:01|1970-01-01T00:00:03|\n");
	free(labels);
	env_free(e);
}

static void test_labels_match_encoded(void **state)
{
	char pod[] = "pod", a[] = "a", k[] = "k", xy[] = "x,y", one[] = "1", two[] = "2";
	char *pod_a[] = {pod, a, k, xy, NULL};
	profefe_profile_meta m = {.id = one, .labels = pod_a}, none = {.id = two};

	(void)state;
	assert_true(query_labels_match(&m, NULL));
	assert_true(query_labels_match(&m, ""));
	assert_true(query_labels_match(&m, "pod=a"));
	assert_true(query_labels_match(&m, "k=x%2Cy,pod=a"));
	assert_false(query_labels_match(&m, "k=x"));
	assert_false(query_labels_match(&m, "pod=a,node=n"));
	assert_false(query_labels_match(&m, "pod=A"));
	assert_false(query_labels_match(&none, "pod=a"));
	assert_true(query_labels_match(&none, ""));
}

static void test_profiles_of_one_type(void **state)
{
	env *e = env_new();
	query_profiles_options o = {.service = "web", .type = "goroutine", .from = 1};

	(void)state;
	query_profiles(e->loop, e->c, &o, on_profiles, e);
	drive(e);
	assert_string_equal(e->ids, ""); /* "nothing found" is no error */
	assert_null(e->error);
	assert_int_equal(strchr(queries, '\n') - queries + 1, (long)strlen(queries)); /* one query */
	env_free(e);
}

static void on_loaded(int failures, void *arg)
{
	env *e = arg;

	e->done = 1;
	e->failures = failures;
}

static void test_load_uploads(void **state)
{
	env *e = env_new();
	char *heap = data_path("heap.pb"), *cpu = data_path("cpu.pb.gz"),
	     *bad = data_path("index.html");
	const char *files[] = {heap, bad, cpu};
	query_load_options o = {.service = "svc", .labels = "from=x", .out = e->out_f,
				.err = e->err_f};

	(void)state;
	query_load(e->loop, e->c, files, 3, &o, on_loaded, e);
	drive(e);
	assert_int_equal(e->failures, 1);
	assert_int_equal(n_uploads, 2);
	assert_non_null(strstr(uploads, "svc|heap|from=x|"));
	assert_non_null(strstr(uploads, "svc|cpu|from=x|"));
	char *want = xasprintf("%s: heap %s/api/0/profiles/up", heap, fake_url);
	assert_non_null(strstr(e->out, want));
	free(want);
	want = xasprintf("error: %s: not a pprof profile", bad);
	assert_non_null(strstr(e->err, want));
	free(want);
	free(heap);
	free(cpu);
	free(bad);
	env_free(e);
}

static void test_load_nothing_loadable(void **state)
{
	env *e = env_new();
	const char *files[] = {"/nonexistent"};
	query_load_options o = {.service = "svc", .out = e->out_f, .err = e->err_f};

	(void)state;
	query_load(e->loop, e->c, files, 1, &o, on_loaded, e);
	assert_false(e->done); /* never from inside query_load */
	drive(e);
	assert_int_equal(e->failures, 1);
	assert_int_equal(n_uploads, 0);
	env_free(e);
}

static void on_written(int status, size_t n, const char *path, void *arg)
{
	env *e = arg;

	e->done = 1;
	e->failures = status;
	assert_int_equal(n, 1);
	free(e->error);
	e->error = path ? xstrdup(path) : NULL; /* the path, here */
}

/* get profile ID: the stored bytes into profile-<id>.pb.gz (never replacing one), or
 * -o; an unknown id is profefe's 404, said with the id. */
static void test_get_profile(void **state)
{
	char dir[] = "/tmp/test_query.XXXXXX";
	env *e = env_new();
	query_merge_options o = {.out = e->out_f, .err = e->err_f};
	char buf[64] = "";
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	for (int i = 0; i < 2; i++) {
		e->done = 0;
		query_get_profile(e->loop, e->c, "p1", &o, on_written, e);
		drive(e);
		assert_int_equal(e->failures, 0);
		char *want = i ? xasprintf("%s/profile-p1-1.pb.gz", dir)
			       : xasprintf("%s/profile-p1.pb.gz", dir);
		assert_string_equal(e->error, want);
		assert_non_null(f = fopen(want, "rb"));
		assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), strlen(STORED_P1));
		fclose(f);
		assert_string_equal(buf, STORED_P1);
		free(want);
	}
	for (int i = 0; i < 2; i++) {
		char *p = i ? xasprintf("%s/profile-p1-1.pb.gz", dir)
			    : xasprintf("%s/profile-p1.pb.gz", dir);
		assert_int_equal(unlink(p), 0);
		free(p);
	}
	e->done = 0;
	query_get_profile(e->loop, e->c, "nope", &o, on_written, e);
	drive(e);
	assert_int_equal(e->failures, 1);
	assert_null(e->error);
	char *want = xasprintf("error: profefe %s: profile nope: HTTP 404: ", fake_url);
	assert_non_null(strstr(e->err, want));
	free(want);
	assert_int_equal(rmdir(dir), 0);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_labels_match),
		cmocka_unit_test(test_merge_file_name),
		cmocka_unit_test(test_profiles_by_label),
		cmocka_unit_test(test_labels_match_encoded),
		cmocka_unit_test(test_profefe_types),
		cmocka_unit_test(test_load_reads_the_type),
		cmocka_unit_test(test_load_refuses_what_is_not_pprof),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_profiles_of_every_type),
		cmocka_unit_test(test_profiles_of_one_type),
		cmocka_unit_test(test_profiles_unreachable_told_once),
		cmocka_unit_test(test_get_profile),
		cmocka_unit_test(test_load_uploads),
		cmocka_unit_test(test_load_nothing_loadable),
	};
	return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
