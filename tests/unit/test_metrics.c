/* Unit tests of metrics: the registry, the text exposition and the HTTP server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kprofefe/buf.h"
#include "kprofefe/http.h"
#include "kprofefe/loop.h"
#include "kprofefe/metrics.h"

static int reset(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

static void test_add_set_get(void **state)
{
	(void)state;
	metrics_register("kprofefe_uploads_total", "counter", "Profiles uploaded.");
	metrics_register("kprofefe_pods", "gauge", "Pods being profiled.");
	assert_true(metrics_get("kprofefe_uploads_total", NULL) == 0);
	metrics_add("kprofefe_uploads_total", 1, NULL);
	metrics_add("kprofefe_uploads_total", 2.5, NULL);
	assert_true(metrics_get("kprofefe_uploads_total", NULL) == 3.5);

	metrics_add("kprofefe_uploads_total", 1, "type", "cpu", NULL);
	metrics_add("kprofefe_uploads_total", 1, "type", "cpu", NULL);
	metrics_add("kprofefe_uploads_total", 1, "type", "heap", NULL);
	assert_true(metrics_get("kprofefe_uploads_total", "type", "cpu", NULL) == 2);
	assert_true(metrics_get("kprofefe_uploads_total", "type", "heap", NULL) == 1);
	assert_true(metrics_get("kprofefe_uploads_total", "type", "block", NULL) == 0);
	assert_true(metrics_get("kprofefe_uploads_total", NULL) == 3.5);

	metrics_set("kprofefe_pods", 7, "node", "a", NULL);
	metrics_set("kprofefe_pods", 3, "node", "a", NULL);
	assert_true(metrics_get("kprofefe_pods", "node", "a", NULL) == 3);
	metrics_set("kprofefe_pods", -1, NULL);
	assert_true(metrics_get("kprofefe_pods", NULL) == -1);

	/* Registering again changes nothing and keeps the values. */
	metrics_register("kprofefe_pods", "gauge", "Pods being profiled.");
	assert_true(metrics_get("kprofefe_pods", "node", "a", NULL) == 3);
	/* Unknown names read as 0. */
	assert_true(metrics_get("kprofefe_nope", NULL) == 0);
}

static void test_reset_forgets(void **state)
{
	(void)state;
	metrics_register("m", "counter", "h");
	metrics_add("m", 5, NULL);
	metrics_reset();
	assert_true(metrics_get("m", NULL) == 0);
	char *text = metrics_render();
	assert_string_equal(text, "");
	free(text);
	metrics_register("m", "counter", "h");
	assert_true(metrics_get("m", NULL) == 0);
}

static void test_render_exact(void **state)
{
	(void)state;
	metrics_register("kprofefe_b_total", "counter", "B things.");
	metrics_register("kprofefe_a", "gauge", "A level.");
	metrics_register("kprofefe_empty", "gauge", "Nothing yet.");
	metrics_add("kprofefe_b_total", 2, "result", "ok", "type", "cpu", NULL);
	metrics_add("kprofefe_b_total", 1, "result", "error", "type", "cpu", NULL);
	metrics_set("kprofefe_a", 0.5, NULL);
	char *text = metrics_render();
	assert_string_equal(text,
			    "# HELP kprofefe_b_total B things.\n"
			    "# TYPE kprofefe_b_total counter\n"
			    "kprofefe_b_total{result=\"ok\",type=\"cpu\"} 2\n"
			    "kprofefe_b_total{result=\"error\",type=\"cpu\"} 1\n"
			    "# HELP kprofefe_a A level.\n"
			    "# TYPE kprofefe_a gauge\n"
			    "kprofefe_a 0.5\n"
			    "# HELP kprofefe_empty Nothing yet.\n"
			    "# TYPE kprofefe_empty gauge\n");
	free(text);
}

static void test_render_values(void **state)
{
	(void)state;
	metrics_register("v", "gauge", "Values.");
	metrics_set("v", 0.1, "k", "tenth", NULL);
	metrics_set("v", 1e21, "k", "big", NULL);
	metrics_set("v", 1234567890123.0, "k", "int", NULL);
	metrics_set("v", NAN, "k", "nan", NULL);
	metrics_set("v", INFINITY, "k", "inf", NULL);
	metrics_set("v", -INFINITY, "k", "-inf", NULL);
	metrics_set("v", 1.0 / 3.0, "k", "third", NULL);
	char *text = metrics_render();
	assert_non_null(strstr(text, "v{k=\"tenth\"} 0.1\n"));
	assert_non_null(strstr(text, "v{k=\"big\"} 1e+21\n"));
	assert_non_null(strstr(text, "v{k=\"int\"} 1234567890123\n"));
	assert_non_null(strstr(text, "v{k=\"nan\"} NaN\n"));
	assert_non_null(strstr(text, "v{k=\"inf\"} +Inf\n"));
	assert_non_null(strstr(text, "v{k=\"-inf\"} -Inf\n"));
	/* A third keeps every digit it needs to read back the same. */
	const char *third = strstr(text, "v{k=\"third\"} ");
	assert_non_null(third);
	assert_true(strtod(third + strlen("v{k=\"third\"} "), NULL) == 1.0 / 3.0);
	free(text);
}

static void test_label_escaping(void **state)
{
	(void)state;
	metrics_register("esc", "counter", "Escapes.");
	metrics_add("esc", 1, "pod", "a\"b\\c\nd", "empty", "", "null", NULL, "utf8", "caf\xc3\xa9",
		    NULL);
	char *text = metrics_render();
	assert_non_null(strstr(text, "esc{pod=\"a\\\"b\\\\c\\nd\",empty=\"\",null=\"\","
				     "utf8=\"caf\xc3\xa9\"} 1\n"));
	free(text);
	/* The same labels find the same series. */
	assert_true(metrics_get("esc", "pod", "a\"b\\c\nd", "empty", "", "null", NULL, "utf8",
				"caf\xc3\xa9", NULL) == 1);
}

static void test_help_escaping(void **state)
{
	(void)state;
	metrics_register("h", "gauge", "Line one\nline two, a \\ backslash.");
	char *text = metrics_render();
	assert_non_null(strstr(text, "# HELP h Line one\\nline two, a \\\\ backslash.\n"));
	free(text);
}

/* ---- a small checker of the Prometheus text format (version 0.0.4) ---- */

static int is_name_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* Reads a metric or label name at *p; returns its length, 0 when none. */
static size_t read_name(const char **p)
{
	const char *s = *p;
	if (!is_name_char(*s, 1))
		return 0;
	while (is_name_char(*s, 0))
		s++;
	size_t n = (size_t)(s - *p);
	*p = s;
	return n;
}

/* Why a series line is not of family or not well formed; NULL when it is fine. */
static const char *series_error(const char *line, const char *family)
{
	const char *p = line;
	size_t n = read_name(&p);
	if (n != strlen(family) || strncmp(line, family, n) != 0)
		return "series of another family";
	if (*p == '{') {
		p++;
		while (*p != '}') {
			if (read_name(&p) == 0 || *p++ != '=' || *p++ != '"')
				return "bad label";
			for (; *p != '"'; p++) {
				if (*p == '\0')
					return "unterminated label value";
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						return "bad escape in a label value";
				}
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return "bad label list";
		}
		p++;
	}
	if (*p++ != ' ')
		return "no space before the value";
	if (strcmp(p, "NaN") == 0 || strcmp(p, "+Inf") == 0 || strcmp(p, "-Inf") == 0)
		return NULL;
	char *end;
	(void)strtod(p, &end);
	if (end == p || *end != '\0' || strpbrk(p, "nNiI"))
		return "bad value";
	return NULL;
}

/* Why text is not valid exposition (text format 0.0.4), NULL when it is: per
 * family one HELP, then one TYPE, then its series, and no family twice. */
static const char *exposition_error(const char *text, int *families_out)
{
	static char why[512];
	char family[256] = "";
	char seen[64][256];
	int families = 0;
	int expect_type = 0;
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		return "no newline at the end";
	char *copy = strdup(text);
	const char *err = NULL;
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			const char *p = line + 7;
			size_t n = read_name(&p);
			if (expect_type || n == 0 || n >= sizeof(family) || *p != ' ' ||
			    families == 64) {
				err = "bad HELP line";
				break;
			}
			snprintf(family, sizeof(family), "%.*s", (int)n, line + 7);
			for (int i = 0; i < families; i++)
				if (strcmp(seen[i], family) == 0)
					err = "family twice";
			snprintf(seen[families++], sizeof(seen[0]), "%s", family);
			expect_type = 1;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char want[300];
			snprintf(want, sizeof(want), "# TYPE %s ", family);
			const char *type = line + strlen(want);
			if (!expect_type || strncmp(line, want, strlen(want)) != 0 ||
			    (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0))
				err = "bad TYPE line";
			expect_type = 0;
			continue;
		}
		if (expect_type || line[0] == '#' || family[0] == '\0')
			err = "series without HELP and TYPE";
		else
			err = series_error(line, family);
		if (err) {
			snprintf(why, sizeof(why), "%s: %s", err, line);
			err = why;
		}
	}
	if (!err && expect_type)
		err = "HELP without TYPE";
	free(copy);
	if (families_out)
		*families_out = families;
	return err;
}

static int check_exposition(const char *text)
{
	int families = 0;
	const char *err = exposition_error(text, &families);
	if (err)
		fail_msg("not valid exposition (%s):\n%s", err, text);
	return families;
}

static void register_sample(void)
{
	metrics_register("kprofefe_profiles_total", "counter", "Profiles fetched, by result.");
	metrics_register("kprofefe_targets", "gauge", "Targets known.");
	metrics_register("kprofefe_unused_total", "counter", "Never touched.");
	metrics_add("kprofefe_profiles_total", 3, "type", "cpu", "result", "ok", NULL);
	metrics_add("kprofefe_profiles_total", 1, "type", "heap", "result", "error", NULL);
	metrics_add("kprofefe_profiles_total", 1, "type", "q\"uote\\", "result", "new\nline", NULL);
	metrics_set("kprofefe_targets", 12, NULL);
	metrics_set("kprofefe_targets", NAN, "node", "n", NULL);
}

static void test_render_is_valid_exposition(void **state)
{
	(void)state;
	register_sample();
	char *text = metrics_render();
	assert_int_equal(check_exposition(text), 3);
	free(text);
}

/* The checker is only worth something if it rejects bad text. */
static void test_checker_rejects_bad_text(void **state)
{
	(void)state;
	const char *bad[] = {
		"# HELP a x\n# TYPE a counter\nb 1\n",
		"# HELP a x\n# TYPE a counter\na{k=\"v} 1\n",
		"# HELP a x\n# TYPE a counter\na{k=\"\\t\"} 1\n",
		"# HELP a x\na 1\n",
		"# HELP a x\n# TYPE a summary\n",
		"# HELP a x\n# TYPE a counter\na nan\n",
		"# HELP a x\n# TYPE a counter\na 1",
		"# HELP a x\n# TYPE a counter\n# HELP a x\n# TYPE a counter\n",
		"a 1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!exposition_error(bad[i], NULL))
			fail_msg("checker took bad text: %s", bad[i]);
	assert_null(exposition_error("# HELP a x\n# TYPE a gauge\na{b=\"\\\"\"} -Inf\na 2\n", NULL));
}

/* Using a name that was never registered is a bug and aborts: checked in a child. */
static void test_unknown_metric_aborts(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		metrics_add("kprofefe_never_registered", 1, NULL);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- the server, asked through the project's own http client ---- */

struct server_env {
	struct ev_loop *ev;
	loop_t *loop;
	metrics_server *srv;
	ev_timer tick;
	int ready;
	int ready_calls;
};

static int ready_cb(void *arg)
{
	struct server_env *e = arg;
	e->ready_calls++;
	return e->ready;
}

static void on_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

static int server_setup(void **state)
{
	metrics_reset();
	struct server_env *e = calloc(1, sizeof(*e));
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	char err[256] = "";
	e->srv = metrics_serve(e->ev, "127.0.0.1:0", ready_cb, e, err, sizeof(err));
	if (!e->srv) {
		fprintf(stderr, "metrics_serve: %s\n", err);
		return -1;
	}
	ev_timer_init(&e->tick, on_tick, 0.05, 0.05);
	ev_timer_start(e->ev, &e->tick);
	*state = e;
	return 0;
}

static int server_teardown(void **state)
{
	struct server_env *e = *state;
	loop_free(e->loop);
	metrics_server_free(e->srv);
	ev_timer_stop(e->ev, &e->tick);
	ev_loop_destroy(e->ev);
	free(e);
	metrics_reset();
	return 0;
}

struct got {
	int done;
	int ok;
	long status;
	char *body;
	char content_type[128];
};

static void on_got(const http_response *resp, void *arg)
{
	struct got *g = arg;
	g->done = 1;
	g->ok = resp->ok;
	g->status = resp->status;
	g->body = strdup((const char *)resp->body);
	snprintf(g->content_type, sizeof(g->content_type), "%s",
		 resp->content_type ? resp->content_type : "");
}

/* Sends one request to the server and runs the loop until the answer (10 s at most). */
static struct got ask(struct server_env *e, const char *method, const char *path)
{
	struct got g = {0};
	char u[128];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", metrics_server_port(e->srv), path);
	http_options opt = {.method = method, .timeout_ms = 10000};
	if (method && strcmp(method, "POST") == 0) {
		opt.body = (const unsigned char *)"x=1";
		opt.body_len = 3;
	}
	assert_non_null(http_start(e->loop, u, &opt, on_got, &g));
	ev_now_update(e->ev);
	ev_tstamp deadline = ev_now(e->ev) + 10;
	while (!g.done && ev_now(e->ev) < deadline)
		ev_run(e->ev, EVRUN_ONCE);
	assert_true(g.done);
	assert_true(g.ok);
	return g;
}

static void test_serve_metrics(void **state)
{
	struct server_env *e = *state;
	assert_true(metrics_server_port(e->srv) > 0);
	register_sample();
	struct got g = ask(e, NULL, "/metrics");
	assert_int_equal(g.status, 200);
	assert_non_null(strstr(g.content_type, "text/plain"));
	char *want = metrics_render();
	assert_string_equal(g.body, want);
	assert_int_equal(check_exposition(g.body), 3);
	free(want);
	free(g.body);
	/* Later changes show in the next scrape. */
	metrics_add("kprofefe_profiles_total", 1, "type", "cpu", "result", "ok", NULL);
	g = ask(e, NULL, "/metrics");
	assert_non_null(strstr(g.body, "kprofefe_profiles_total{type=\"cpu\",result=\"ok\"} 4\n"));
	free(g.body);
}

static void test_serve_health_and_ready(void **state)
{
	struct server_env *e = *state;
	struct got g = ask(e, NULL, "/healthz");
	assert_int_equal(g.status, 200);
	free(g.body);

	e->ready = 0;
	g = ask(e, NULL, "/readyz");
	assert_int_equal(g.status, 503);
	free(g.body);
	assert_int_equal(e->ready_calls, 1);

	e->ready = 1;
	g = ask(e, NULL, "/readyz");
	assert_int_equal(g.status, 200);
	free(g.body);
	assert_int_equal(e->ready_calls, 2);
}

static void test_serve_not_found_and_method(void **state)
{
	struct server_env *e = *state;
	struct got g = ask(e, NULL, "/nope");
	assert_int_equal(g.status, 404);
	free(g.body);
	g = ask(e, NULL, "/metrics/extra");
	assert_int_equal(g.status, 404);
	free(g.body);
	g = ask(e, "POST", "/metrics");
	assert_int_equal(g.status, 405);
	free(g.body);
	g = ask(e, "DELETE", "/healthz");
	assert_int_equal(g.status, 405);
	free(g.body);
	g = ask(e, "HEAD", "/metrics");
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body, "");
	free(g.body);
	/* The server still answers after all that. */
	g = ask(e, NULL, "/healthz");
	assert_int_equal(g.status, 200);
	free(g.body);
}

static void test_serve_without_ready_callback(void **state)
{
	(void)state;
	struct server_env e = {0};
	e.ev = ev_loop_new(EVFLAG_AUTO);
	e.loop = loop_new(e.ev);
	char err[256];
	e.srv = metrics_serve(e.ev, "127.0.0.1:0", NULL, NULL, err, sizeof(err));
	assert_non_null(e.srv);
	ev_timer_init(&e.tick, on_tick, 0.05, 0.05);
	ev_timer_start(e.ev, &e.tick);
	struct got g = ask(&e, NULL, "/readyz");
	assert_int_equal(g.status, 200);
	free(g.body);
	loop_free(e.loop);
	metrics_server_free(e.srv);
	ev_timer_stop(e.ev, &e.tick);
	ev_loop_destroy(e.ev);
}

static void test_serve_bad_addresses(void **state)
{
	(void)state;
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	const char *bad[] = {"nonsense", "localhost:9090", "127.0.0.1:99999", "127.0.0.1:",
			     "127.0.0.1:abc", "300.1.1.1:80", "", "[::1:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		assert_null(metrics_serve(ev, bad[i], NULL, NULL, err, sizeof(err)));
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i]);
		if (!strstr(err, quoted))
			fail_msg("error for %s does not name it: %s", bad[i], err);
	}
	/* A port already taken fails with the address named too. */
	char err[256] = "";
	metrics_server *first = metrics_serve(ev, "127.0.0.1:0", NULL, NULL, err, sizeof(err));
	assert_non_null(first);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", metrics_server_port(first));
	assert_null(metrics_serve(ev, addr, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, addr));
	metrics_server_free(first);
	metrics_server_free(NULL);
	ev_loop_destroy(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_set_get, reset, reset),
		cmocka_unit_test_setup_teardown(test_reset_forgets, reset, reset),
		cmocka_unit_test_setup_teardown(test_render_exact, reset, reset),
		cmocka_unit_test_setup_teardown(test_render_values, reset, reset),
		cmocka_unit_test_setup_teardown(test_label_escaping, reset, reset),
		cmocka_unit_test_setup_teardown(test_help_escaping, reset, reset),
		cmocka_unit_test_setup_teardown(test_render_is_valid_exposition, reset, reset),
		cmocka_unit_test_setup_teardown(test_checker_rejects_bad_text, reset, reset),
		cmocka_unit_test_setup_teardown(test_unknown_metric_aborts, reset, reset),
		cmocka_unit_test_setup_teardown(test_serve_metrics, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_serve_health_and_ready, server_setup,
						server_teardown),
		cmocka_unit_test_setup_teardown(test_serve_not_found_and_method, server_setup,
						server_teardown),
		cmocka_unit_test(test_serve_without_ready_callback),
		cmocka_unit_test_setup_teardown(test_serve_bad_addresses, reset, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
