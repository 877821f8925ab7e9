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
	metrics_use_defs(NULL, 0);
	return 0;
}

static void test_add_set_get(void **state)
{
	(void)state;
	static const metric_def defs[] = {
		{"kprofefe_uploads_total", METRIC_COUNTER, "Profiles uploaded.", NULL, 0},
		{"kprofefe_pods", METRIC_GAUGE, "Pods being profiled.", NULL, 0},
	};
	metrics_use_defs(defs, 2);
	assert_true(metrics_get((enum metric_id)0, NULL) == 0);
	metrics_add((enum metric_id)0, 1, NULL);
	metrics_add((enum metric_id)0, 2.5, NULL);
	assert_true(metrics_get((enum metric_id)0, NULL) == 3.5);

	metrics_add((enum metric_id)0, 1, "type", "cpu", NULL);
	metrics_add((enum metric_id)0, 1, "type", "cpu", NULL);
	metrics_add((enum metric_id)0, 1, "type", "heap", NULL);
	assert_true(metrics_get((enum metric_id)0, "type", "cpu", NULL) == 2);
	assert_true(metrics_get((enum metric_id)0, "type", "heap", NULL) == 1);
	assert_true(metrics_get((enum metric_id)0, "type", "block", NULL) == 0);
	assert_true(metrics_get((enum metric_id)0, NULL) == 3.5);

	metrics_set((enum metric_id)1, 7, "node", "a", NULL);
	metrics_set((enum metric_id)1, 3, "node", "a", NULL);
	assert_true(metrics_get((enum metric_id)1, "node", "a", NULL) == 3);
	metrics_set((enum metric_id)1, -1, NULL);
	assert_true(metrics_get((enum metric_id)1, NULL) == -1);

	/* An id outside the declarations (only a cast makes one) is ignored, never a crash. */
	metrics_add((enum metric_id)2, 1, NULL);
	metrics_observe((enum metric_id)2, 1, NULL);
	assert_true(metrics_get((enum metric_id)2, NULL) == 0);
	/* Observing a gauge, or adding to a histogram, changes nothing. */
	metrics_observe((enum metric_id)1, 5, NULL);
	assert_true(metrics_get((enum metric_id)1, NULL) == -1);
}

static void test_reset_forgets(void **state)
{
	(void)state;
	static const metric_def defs[] = {
		{"m", METRIC_COUNTER, "h", NULL, 0},
	};
	metrics_use_defs(defs, 1);
	metrics_add((enum metric_id)0, 5, NULL);
	metrics_reset();
	assert_true(metrics_get((enum metric_id)0, NULL) == 0);
	char *text = metrics_render();
	assert_string_equal(text, "# HELP m h\n# TYPE m counter\n");
	free(text);
	assert_true(metrics_get((enum metric_id)0, NULL) == 0);
}

static void test_render_exact(void **state)
{
	(void)state;
	static const metric_def defs[] = {
		{"kprofefe_b_total", METRIC_COUNTER, "B things.", NULL, 0},
		{"kprofefe_a", METRIC_GAUGE, "A level.", NULL, 0},
		{"kprofefe_empty", METRIC_GAUGE, "Nothing yet.", NULL, 0},
	};
	metrics_use_defs(defs, 3);
	metrics_add((enum metric_id)0, 2, "result", "ok", "type", "cpu", NULL);
	metrics_add((enum metric_id)0, 1, "result", "error", "type", "cpu", NULL);
	metrics_set((enum metric_id)1, 0.5, NULL);
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
	static const metric_def defs[] = {
		{"v", METRIC_GAUGE, "Values.", NULL, 0},
	};
	metrics_use_defs(defs, 1);
	metrics_set((enum metric_id)0, 0.1, "k", "tenth", NULL);
	metrics_set((enum metric_id)0, 1e21, "k", "big", NULL);
	metrics_set((enum metric_id)0, 1234567890123.0, "k", "int", NULL);
	metrics_set((enum metric_id)0, NAN, "k", "nan", NULL);
	metrics_set((enum metric_id)0, INFINITY, "k", "inf", NULL);
	metrics_set((enum metric_id)0, -INFINITY, "k", "-inf", NULL);
	metrics_set((enum metric_id)0, 1.0 / 3.0, "k", "third", NULL);
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
	static const metric_def defs[] = {
		{"esc", METRIC_COUNTER, "Escapes.", NULL, 0},
	};
	metrics_use_defs(defs, 1);
	metrics_add((enum metric_id)0, 1, "pod", "a\"b\\c\nd", "empty", "", "null", NULL, "utf8", "caf\xc3\xa9",
		    NULL);
	char *text = metrics_render();
	assert_non_null(strstr(text, "esc{pod=\"a\\\"b\\\\c\\nd\",empty=\"\",null=\"\","
				     "utf8=\"caf\xc3\xa9\"} 1\n"));
	free(text);
	/* The same labels find the same series. */
	assert_true(metrics_get((enum metric_id)0, "pod", "a\"b\\c\nd", "empty", "", "null", NULL, "utf8",
				"caf\xc3\xa9", NULL) == 1);
}

static void test_help_escaping(void **state)
{
	(void)state;
	static const metric_def defs[] = {
		{"h", METRIC_GAUGE, "Line one\nline two, a \\ backslash.", NULL, 0},
	};
	metrics_use_defs(defs, 1);
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
	static const metric_def defs[] = {
		{"kprofefe_profiles_total", METRIC_COUNTER, "Profiles fetched, by result.", NULL, 0},
		{"kprofefe_targets", METRIC_GAUGE, "Targets known.", NULL, 0},
		{"kprofefe_unused_total", METRIC_COUNTER, "Never touched.", NULL, 0},
	};
	metrics_use_defs(defs, 3);
	metrics_add((enum metric_id)0, 3, "type", "cpu", "result", "ok", NULL);
	metrics_add((enum metric_id)0, 1, "type", "heap", "result", "error", NULL);
	metrics_add((enum metric_id)0, 1, "type", "q\"uote\\", "result", "new\nline", NULL);
	metrics_set((enum metric_id)1, 12, NULL);
	metrics_set((enum metric_id)1, NAN, "node", "n", NULL);
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

/* Histograms render cumulative buckets, +Inf, _sum and _count, labels first. */
static void test_histogram_render(void **state)
{
	(void)state;
	static const double buckets[] = {0.1, 1};
	static const metric_def defs[] = {
		{"lag_seconds", METRIC_HISTOGRAM, "Lag.", buckets, 2},
	};
	metrics_use_defs(defs, 1);
	metrics_observe((enum metric_id)0, 0.05, NULL);
	metrics_observe((enum metric_id)0, 0.1, NULL); /* on a bound: in that bucket */
	metrics_observe((enum metric_id)0, 0.5, NULL);
	metrics_observe((enum metric_id)0, 7, NULL);
	metrics_observe((enum metric_id)0, 2, "k", "v", NULL);
	assert_true(metrics_get((enum metric_id)0, NULL) == 4);
	char *text = metrics_render();
	assert_string_equal(text, "# HELP lag_seconds Lag.\n"
				  "# TYPE lag_seconds histogram\n"
				  "lag_seconds_bucket{le=\"0.1\"} 2\n"
				  "lag_seconds_bucket{le=\"1\"} 3\n"
				  "lag_seconds_bucket{le=\"+Inf\"} 4\n"
				  "lag_seconds_sum 7.65\n"
				  "lag_seconds_count 4\n"
				  "lag_seconds_bucket{k=\"v\",le=\"0.1\"} 0\n"
				  "lag_seconds_bucket{k=\"v\",le=\"1\"} 0\n"
				  "lag_seconds_bucket{k=\"v\",le=\"+Inf\"} 1\n"
				  "lag_seconds_sum{k=\"v\"} 2\n"
				  "lag_seconds_count{k=\"v\"} 1\n");
	free(text);
}

static int name_ok(const char *name)
{
	if (!name || !name[0] || !is_name_char(name[0], 1))
		return 0;
	for (const char *p = name; *p; p++)
		if (!is_name_char(*p, 0) || *p == ':')
			return 0;
	return 1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The program's table: every id declared, valid unique names with the project's prefix,
 * help text, counters named _total, histograms with ascending buckets. A metric added to
 * the enum but not to the table fails here, in the first unit test run. */
static void test_defs_are_sound(void **state)
{
	(void)state;
	metrics_use_defs(NULL, 0);
	for (size_t i = 0; i < METRIC_COUNT; i++) {
		const metric_def *d = &metrics_defs[i];
		if (!name_ok(d->name))
			fail_msg("metric id %zu: no name, or not a valid one", i);
		assert_string_equal(metrics_name((enum metric_id)i), d->name);
		if (strncmp(d->name, "kprofefe_", 9) != 0 && strncmp(d->name, "process_", 8) != 0)
			fail_msg("%s: not kprofefe_ or process_", d->name);
		if (!d->help || !d->help[0])
			fail_msg("%s: no help", d->name);
		if ((d->type == METRIC_COUNTER) != ends_with(d->name, "_total"))
			fail_msg("%s: counters, and only they, end in _total", d->name);
		if ((d->type == METRIC_HISTOGRAM) != (d->nbuckets > 0 && d->buckets != NULL))
			fail_msg("%s: histograms, and only they, have buckets", d->name);
		for (size_t b = 1; b < d->nbuckets; b++)
			if (!(d->buckets[b] > d->buckets[b - 1]))
				fail_msg("%s: buckets not ascending", d->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(metrics_defs[j].name, d->name) == 0)
				fail_msg("%s declared twice", d->name);
	}
	char *text = metrics_render();
	assert_non_null(strstr(text, "# TYPE kprofefe_loop_lag_seconds histogram\n"));
	free(text);
}

/* /proc/self gives this process's CPU, memory and start time. */
static void test_process_metrics(void **state)
{
	(void)state;
	metrics_use_defs(NULL, 0);
	metrics_update_process();
	assert_true(metrics_get(METRIC_PROCESS_RESIDENT_MEMORY_BYTES, NULL) > 100000);
	assert_true(metrics_get(METRIC_PROCESS_START_TIME_SECONDS, NULL) > 1.6e9);
	assert_true(metrics_get(METRIC_PROCESS_CPU_SECONDS_TOTAL, NULL) >= 0);
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
	metrics_add((enum metric_id)0, 1, "type", "cpu", "result", "ok", NULL);
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
		cmocka_unit_test_setup_teardown(test_histogram_render, reset, reset),
		cmocka_unit_test_setup_teardown(test_defs_are_sound, reset, reset),
		cmocka_unit_test_setup_teardown(test_process_metrics, reset, reset),
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
