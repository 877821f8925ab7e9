/* Tests of the profefe client: label encoding, URLs, reply parsing, upload outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "test_loop.h"

#include "fake_profefe.h"
#include "kprofefe/log.h"
#include "kprofefe/loop.h"
#include "kprofefe/profefe.h"

/* ---- labels and URLs ---- */

static void test_label_value(void **state)
{
	(void)state;
	const char *pairs[] = {"namespace", "a=b", "pod", "web,1 %", "podx", "no", NULL};
	char *labels = profefe_labels_encode(pairs);
	char *v = profefe_label_value(labels, "pod");
	assert_string_equal(v, "web,1 %");
	free(v);
	v = profefe_label_value(labels, "namespace");
	assert_string_equal(v, "a=b");
	free(v);
	assert_null(profefe_label_value(labels, "po"));
	assert_null(profefe_label_value(labels, "node"));
	assert_null(profefe_label_value("", "pod"));
	assert_null(profefe_label_value(NULL, "pod"));
	v = profefe_label_value("broken,pod=%zz%4", "pod"); /* bad escapes stay as they are */
	assert_string_equal(v, "%zz%4");
	free(v);
	free(labels);
}

static void test_labels_encode(void **state)
{
	(void)state;
	const char *pairs[] = {"namespace", "default", "pod", "web-1", NULL};
	char *s = profefe_labels_encode(pairs);
	assert_string_equal(s, "namespace=default,pod=web-1");
	free(s);

	/* profefe splits on ',' and '=' then unescapes each part: they must not survive raw */
	const char *odd[] = {"a,b", "x=y", "pct", "100%", "sp ace", "ü", NULL};
	s = profefe_labels_encode(odd);
	assert_string_equal(s, "a%2Cb=x%3Dy,pct=100%25,sp%20ace=%C3%BC");
	free(s);

	const char *none[] = {NULL};
	s = profefe_labels_encode(none);
	assert_string_equal(s, "");
	free(s);
	s = profefe_labels_encode(NULL);
	assert_string_equal(s, "");
	free(s);
	/* an odd trailing key without value is ignored */
	const char *dangling[] = {"k", "v", "lonely", NULL};
	s = profefe_labels_encode(dangling);
	assert_string_equal(s, "k=v");
	free(s);
}

static void test_format_time_and_urls(void **state)
{
	(void)state;
	char t[20];
	profefe_format_time(0, t);
	assert_string_equal(t, "1970-01-01T00:00:00");
	profefe_format_time(1700000000, t);
	assert_string_equal(t, "2023-11-14T22:13:20");

	char err[256];
	profefe_client *c = profefe_client_new(NULL, "http://profefe:10100/", NULL, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(profefe_client_base_url(c), "http://profefe:10100");
	char *u = profefe_profile_url(c, "bp3e9kq6 x");
	assert_string_equal(u, "http://profefe:10100/api/0/profiles/bp3e9kq6%20x");
	free(u);
	profefe_query q = {"my svc", "cpu", 1700000000, 1700003600, "pod=a%2Cb", 5};
	u = profefe_merge_url(c, &q);
	assert_string_equal(u, "http://profefe:10100/api/0/profiles/merge?service=my%20svc&type=cpu"
			       "&from=2023-11-14T22%3A13%3A20&to=2023-11-14T23%3A13%3A20"
			       "&labels=pod%3Da%252Cb&limit=5");
	free(u);
	profefe_query q2 = {"s", "heap", 0, 0, NULL, 0};
	u = profefe_merge_url(c, &q2);
	assert_string_equal(u, "http://profefe:10100/api/0/profiles/merge?service=s&type=heap");
	free(u);
	profefe_client_free(c);

	assert_null(profefe_client_new(NULL, "ftp://x", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "ftp://x"));
	profefe_client_options o = {.extra_header = "no colon here"};
	assert_null(profefe_client_new(NULL, "http://x", &o, err, sizeof(err)));
	assert_non_null(strstr(err, "Name: value"));
}

/* ---- reply parsing ---- */

static void test_parse_services(void **state)
{
	(void)state;
	char **names;
	size_t n;
	char err[256];
	const char *ep = "GET /api/0/services";
	assert_int_equal(profefe_parse_services(ep, 200, "{\"code\":200,\"body\":[\"a\",\"b\"]}",
						&names, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	assert_null(names[2]);
	profefe_strv_free(names);

	/* profefe says "nothing found" when it has no services */
	assert_int_equal(profefe_parse_services(ep, 404, "{\"code\":404,\"error\":\"nothing found\"}",
						&names, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	profefe_strv_free(names);

	assert_int_equal(profefe_parse_services(ep, 200, "{\"code\":200,\"body\":{}}", &names, &n,
						err, sizeof(err)), -1);
	assert_non_null(strstr(err, ep));
	assert_non_null(strstr(err, "not a list"));
	assert_int_equal(profefe_parse_services(ep, 200, "<html>oops</html>", &names, &n, err,
						sizeof(err)), -1);
	assert_non_null(strstr(err, "GET /api/0/services: malformed reply"));
	assert_non_null(strstr(err, "<html>oops</html>"));
	assert_int_equal(profefe_parse_services(ep, 200, "{\"code\":200,\"body\":[1]}", &names, &n,
						err, sizeof(err)), -1);
	assert_int_equal(profefe_parse_services(ep, 500, "{\"code\":500,\"error\":\"internal error\"}",
						&names, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "GET /api/0/services: HTTP 500: internal error");
	/* a 404 that is not profefe's (a proxy's HTML) is an error, not an empty list */
	assert_int_equal(profefe_parse_services(ep, 404, "Not Found", &names, &n, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "GET /api/0/services: HTTP 404: Not Found");
}

static void test_parse_profiles(void **state)
{
	(void)state;
	const char *ep = "GET /api/0/profiles";
	const char *body =
		"{\"code\":200,\"body\":["
		"{\"id\":\"id1\",\"type\":\"cpu\",\"service\":\"web\",\"created_at\":\"2023-11-14T22:13:20Z\","
		"\"labels\":[{\"Key\":\"namespace\",\"Value\":\"default\"},{\"Key\":\"pod\",\"Value\":\"w-1\"}]},"
		"{\"profile_id\":\"id2\",\"type\":2,\"service\":\"web\",\"labels\":{\"k\":\"v\"}},"
		"{\"id\":\"id3\",\"type\":\"heap\",\"service\":\"web\"}]}";
	profefe_profile_meta *items;
	size_t n;
	char err[256];
	assert_int_equal(profefe_parse_profiles(ep, 200, body, &items, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(items[0].id, "id1");
	assert_string_equal(items[0].type, "cpu");
	assert_string_equal(items[0].service, "web");
	assert_string_equal(items[0].created_at, "2023-11-14T22:13:20Z");
	assert_string_equal(items[0].labels[0], "namespace");
	assert_string_equal(items[0].labels[1], "default");
	assert_string_equal(items[0].labels[3], "w-1");
	assert_null(items[0].labels[4]);
	assert_string_equal(items[1].id, "id2");
	assert_string_equal(items[1].type, "2");
	assert_string_equal(items[1].labels[0], "k");
	assert_string_equal(items[1].created_at, "");
	assert_null(items[2].labels[0]);
	profefe_metas_free(items, n);

	assert_int_equal(profefe_parse_profiles(ep, 204, "", &items, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(profefe_parse_profiles(ep, 200, "{\"code\":200,\"body\":[{\"type\":\"cpu\"}]}",
						&items, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "profile 0 has no id"));
	assert_int_equal(profefe_parse_profiles(ep, 400,
						"{\"code\":400,\"error\":\"bad request: missing service\"}",
						&items, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "GET /api/0/profiles: HTTP 400: bad request: missing service");
	assert_int_equal(profefe_parse_profiles(ep, 200, "{\"code\":200,\"body\":[", &items, &n, err,
						sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
}

static void test_parse_version(void **state)
{
	(void)state;
	char *v;
	char err[256];
	assert_int_equal(profefe_parse_version("GET /api/0/version", 200,
					       "{\"code\":200,\"body\":{\"version\":\"1.0\",\"commit\":\"abc\",\"n\":1,\"ok\":true}}",
					       &v, err, sizeof(err)), 0);
	assert_string_equal(v, "{\"version\":\"1.0\",\"commit\":\"abc\",\"n\":1,\"ok\":true}");
	free(v);
	assert_int_equal(profefe_parse_version("GET /api/0/version", 200, "{\"code\":200}", &v, err,
					       sizeof(err)), -1);
	assert_string_equal(err, "GET /api/0/version: malformed reply: no body");
}

static void classify(long status, const char *body, int ok, profefe_upload_result *res,
		     char **scratch)
{
	http_response r = {0};
	r.status = status;
	r.ok = ok;
	r.failure = ok ? HTTP_FAIL_NONE : HTTP_FAIL_CONNECT;
	r.error = ok ? NULL : "Failed to connect to 127.0.0.1 port 1: Connection refused";
	r.body = (const unsigned char *)body;
	r.body_len = strlen(body);
	profefe_classify_upload(&r, res, scratch);
}

static void test_classify_upload(void **state)
{
	(void)state;
	profefe_upload_result res;
	char *s;
	classify(200, "{\"code\":200,\"body\":{\"id\":\"bq1\",\"type\":\"cpu\"}}", 1, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_OK);
	assert_string_equal(res.id, "bq1");
	assert_null(res.message);
	free(s);
	/* older profefe answers {"code":200} only */
	classify(200, "{\"code\":200}", 1, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_OK);
	assert_null(res.id);
	free(s);
	classify(201, "", 1, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_OK);
	free(s);

	long retry[] = {500, 502, 503, 504, 408, 429, 301};
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++) {
		classify(retry[i], "{\"code\":503,\"error\":\"failed to create profile\"}", 1, &res, &s);
		assert_int_equal(res.outcome, PROFEFE_RETRY);
		assert_int_equal(res.status, retry[i]);
		assert_non_null(strstr(res.message, "failed to create profile"));
		free(s);
	}
	long reject[] = {400, 401, 403, 404, 413, 422};
	for (size_t i = 0; i < sizeof(reject) / sizeof(reject[0]); i++) {
		classify(reject[i], "{\"code\":400,\"error\":\"bad request: bad profile type \\\"x\\\"\"}",
			 1, &res, &s);
		assert_int_equal(res.outcome, PROFEFE_REJECTED);
		assert_non_null(strstr(res.message, "bad request: bad profile type \"x\""));
		free(s);
	}
	classify(403, "Forbidden by proxy\n", 1, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_REJECTED);
	assert_string_equal(res.message, "HTTP 403: Forbidden by proxy");
	free(s);
	classify(0, "", 0, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_RETRY);
	assert_non_null(strstr(res.message, "Connection refused"));
	free(s);

	/* A 401 that arrived before the transfer broke (a proxy refusing early over
	 * HTTP/2): a refusal, not an outage. A 503 in the same state stays a retry. */
	classify(401, "{\"code\":401,\"error\":\"invalid bearer token\"}", 0, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_REJECTED);
	assert_string_equal(res.message, "HTTP 401: invalid bearer token");
	free(s);
	classify(503, "", 0, &res, &s);
	assert_int_equal(res.outcome, PROFEFE_RETRY);
	free(s);
}

/* ---- against the fake server ---- */

struct env {
	struct ev_loop *ev;
	loop_t *loop;
	ev_timer tick;
};

static void on_tick(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)t;
	(void)revents;
}

/* Runs the loop until *flag is set or 5 s passed. */
static int run_until(struct env *e, const int *flag)
{
	return test_run_until_flag(e->ev, flag, 5);
}

/* Runs the loop for a while (for "nothing happens" checks). */
static void spin(struct env *e, double seconds)
{
	test_run_until(e->ev, NULL, NULL, seconds);
}

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	ev_timer_init(&e->tick, on_tick, 0.01, 0.01);
	ev_timer_start(e->ev, &e->tick);
	if (fake_profefe_start() != 0)
		return -1;
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;
	fake_profefe_stop();
	ev_timer_stop(e->ev, &e->tick);
	loop_free(e->loop);
	ev_loop_destroy(e->ev);
	free(e);
	return 0;
}

struct upload_seen {
	int done;
	profefe_upload_result res;
	char id[64];
	char message[256];
};

static void on_upload(const profefe_upload_result *res, void *arg)
{
	struct upload_seen *s = arg;
	s->done = 1;
	s->res = *res;
	snprintf(s->id, sizeof(s->id), "%s", res->id ? res->id : "");
	snprintf(s->message, sizeof(s->message), "%s", res->message ? res->message : "");
}

static void test_upload_against_fake(void **state)
{
	struct env *e = *state;
	profefe_client_options o = {.token = "s3cret", .extra_header = "X-Proxy-Auth: let-me-in"};
	char err[256];
	profefe_client *c = profefe_client_new(e->loop, fake_pf.url, &o, err, sizeof(err));
	assert_non_null(c);
	const char *pairs[] = {"pod", "web,1", "namespace", "a=b", NULL};
	char *labels = profefe_labels_encode(pairs);
	const unsigned char data[] = "\x1f\x8b profile bytes";

	struct upload_seen s = {0};
	assert_non_null(profefe_upload(c, "web svc", "cpu", labels, data, sizeof(data) - 1,
				       on_upload, &s));
	assert_int_equal(s.done, 0); /* never from inside */
	assert_true(run_until(e, &s.done));
	assert_int_equal(s.res.outcome, PROFEFE_OK);
	assert_int_equal(s.res.status, 200);
	assert_string_equal(s.id, "fakeid1");
	assert_int_equal(fake_count(), 1);
	struct fake_upload *r = &fake_pf.rec[0];
	assert_string_equal(r->service, "web svc");
	assert_string_equal(r->type, "cpu");
	/* decoded once by the HTTP layer: what profefe then splits and unescapes */
	assert_string_equal(r->labels, "pod=web%2C1,namespace=a%3Db");
	assert_string_equal(r->instance_id, "web,1"); /* the pod label, decoded */
	assert_string_equal(r->auth, "Bearer s3cret");
	assert_string_equal(r->extra, "let-me-in");
	assert_int_equal(r->body_len, sizeof(data) - 1);
	assert_memory_equal(r->body, data, sizeof(data) - 1);

	fake_set_status(503);
	memset(&s, 0, sizeof(s));
	profefe_upload(c, "web", "cpu", labels, data, 3, on_upload, &s);
	assert_true(run_until(e, &s.done));
	assert_int_equal(s.res.outcome, PROFEFE_RETRY);
	assert_string_equal(s.message, "HTTP 503: fake says 503");

	fake_set_status(429);
	memset(&s, 0, sizeof(s));
	profefe_upload(c, "web", "cpu", labels, data, 3, on_upload, &s);
	assert_true(run_until(e, &s.done));
	assert_int_equal(s.res.outcome, PROFEFE_RETRY);

	fake_set_status(400);
	memset(&s, 0, sizeof(s));
	profefe_upload(c, "web", "nope", NULL, data, 3, on_upload, &s);
	assert_true(run_until(e, &s.done));
	assert_int_equal(s.res.outcome, PROFEFE_REJECTED);
	assert_int_equal(s.res.status, 400);
	assert_string_equal(s.message, "HTTP 400: bad request: bad profile type \"nope\"");

	/* cancel: no callback; free with a request running: no callback, no leak */
	fake_set_status(200);
	fake_set_hold(1);
	memset(&s, 0, sizeof(s));
	profefe_request *req = profefe_upload(c, "web", "cpu", NULL, data, 3, on_upload, &s);
	double deadline = ev_time() + 5;
	while (fake_held() < 1 && ev_time() < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	profefe_cancel(req);
	profefe_upload(c, "web", "cpu", NULL, data, 3, on_upload, &s);
	profefe_client_free(c);
	fake_set_hold(0);
	spin(e, 0.2); /* nothing may call back */
	assert_int_equal(s.done, 0);
	free(labels);
}

static void test_upload_connection_refused_is_retry(void **state)
{
	struct env *e = *state;
	char err[256];
	/* port 1 on loopback: nothing listens */
	profefe_client *c = profefe_client_new(e->loop, "http://127.0.0.1:1", NULL, err, sizeof(err));
	struct upload_seen s = {0};
	profefe_upload(c, "web", "cpu", NULL, (const unsigned char *)"x", 1, on_upload, &s);
	assert_true(run_until(e, &s.done));
	assert_int_equal(s.res.outcome, PROFEFE_RETRY);
	assert_int_equal(s.res.status, 0);
	assert_true(strlen(s.message) > 0);
	profefe_client_free(c);
}

struct query_seen {
	int done;
	size_t n;
	char first[64];
	char error[256];
};

static void on_services(const char *const *names, size_t n, const char *error, void *arg)
{
	struct query_seen *q = arg;
	q->done = 1;
	q->n = n;
	snprintf(q->first, sizeof(q->first), "%s", n ? names[0] : "");
	snprintf(q->error, sizeof(q->error), "%s", error ? error : "");
}

static void on_version(const char *v, const char *error, void *arg)
{
	struct query_seen *q = arg;
	q->done = 1;
	snprintf(q->first, sizeof(q->first), "%s", v ? v : "");
	snprintf(q->error, sizeof(q->error), "%s", error ? error : "");
}

static void on_profiles(const profefe_profile_meta *items, size_t n, const char *error,
			void *arg)
{
	(void)items;
	struct query_seen *q = arg;
	q->done = 1;
	q->n = n;
	snprintf(q->error, sizeof(q->error), "%s", error ? error : "");
}

static void test_queries_against_fake(void **state)
{
	struct env *e = *state;
	char err[256];
	profefe_client *c = profefe_client_new(e->loop, fake_pf.url, NULL, err, sizeof(err));
	struct query_seen q = {0};
	profefe_services(c, on_services, &q);
	assert_true(run_until(e, &q.done));
	assert_int_equal(q.n, 2);
	assert_string_equal(q.first, "svc-a");
	assert_string_equal(q.error, "");

	memset(&q, 0, sizeof(q));
	profefe_version(c, on_version, &q);
	assert_true(run_until(e, &q.done));
	assert_string_equal(q.first, "{\"version\":\"fake\",\"commit\":\"0\"}");

	/* the fake knows no GET /api/0/profiles: its 404 "nothing found" is an empty list */
	memset(&q, 0, sizeof(q));
	profefe_query pq = {"web", "cpu", 0, 0, NULL, 0};
	profefe_profiles(c, &pq, on_profiles, &q);
	assert_true(run_until(e, &q.done));
	assert_int_equal(q.n, 0);
	assert_string_equal(q.error, "");
	profefe_client_free(c);

	/* transport errors name the endpoint */
	c = profefe_client_new(e->loop, "http://127.0.0.1:1", NULL, err, sizeof(err));
	memset(&q, 0, sizeof(q));
	profefe_services(c, on_services, &q);
	assert_true(run_until(e, &q.done));
	assert_non_null(strstr(q.error, "GET /api/0/services: "));
	profefe_client_free(c);
}

int main(void)
{
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_encode),
		cmocka_unit_test(test_label_value),
		cmocka_unit_test(test_format_time_and_urls),
		cmocka_unit_test(test_parse_services),
		cmocka_unit_test(test_parse_profiles),
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_classify_upload),
		cmocka_unit_test_setup_teardown(test_upload_against_fake, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_upload_connection_refused_is_retry, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_queries_against_fake, env_setup, env_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
