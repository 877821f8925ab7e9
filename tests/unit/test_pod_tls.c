/* Unit tests of pod_tls: the https annotations, credential sets, and a token read again
 * when its file changes (a Secret's symlink swap, a rewrite in place, a removal). */
#include <setjmp.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/metrics.h"
#include "kprofefe/pod.h"
#include "kprofefe/pod_tls.h"
#include "kprofefe/xalloc.h"

/* A running pod at ip with the annotations (a JSON fragment) and profiling enabled. */
static kube_pod *pod_with(const char *annotations, const char *ip)
{
	char err[256];
	char *json = xasprintf("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"namespace\":"
			       "\"default\",\"uid\":\"u-1\",\"annotations\":{"
			       "\"profefe.com/enable\":\"true\"%s%s}},\"spec\":{\"nodeName\":"
			       "\"node-a\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\"}}",
			       *annotations ? "," : "", annotations, ip);
	yajl_val v = yajl_tree_parse(json, err, sizeof(err));
	if (v == NULL)
		fail_msg("bad test JSON %s: %s", json, err);
	kube_pod *pod = kube_pod_from_json(v, err, sizeof(err));
	if (pod == NULL)
		fail_msg("kube_pod_from_json: %s", err);
	yajl_tree_free(v);
	free(json);
	return pod;
}

/* A credentials directory made for one test, removed by the teardown. */
typedef struct fixture {
	char dir[64];
	char sa[128];
	pod_tls_options opt;
} fixture;

static void write_file(const char *dir, const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void make_dir(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);
}

static int setup(void **state)
{
	fixture *fx = xcalloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_pod_tls.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->sa, sizeof(fx->sa), "%s/sa-token", fx->dir);
	write_file(fx->dir, "sa-token", "service-account-jwt\n");
	fx->opt.credentials_dir = fx->dir;
	fx->opt.ca_file = "/etc/pods-ca.crt";
	fx->opt.sa_token_file = fx->sa;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;
	char *cmd = xasprintf("rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(fx);
	metrics_reset();
	return 0;
}

/* The target pod_target_from makes of annotations, or fails with its message. */
static pod_target *target_of(const char *annotations, const char *ip, const pod_tls_options *opt)
{
	pod_defaults d;
	pod_defaults_init(&d);
	d.tls = opt;
	kube_pod *pod = pod_with(annotations, ip);
	pod_target *t = NULL;
	char err[1024];
	if (pod_target_from(pod, &d, &t, err, sizeof(err)) != POD_TARGET)
		fail_msg("not a target: %s", err);
	kube_pod_free(pod);
	return t;
}

/* pod_target_from refuses annotations with a message holding each of want (NULL-ended). */
static void expect_invalid(const char *annotations, const pod_tls_options *opt, ...)
{
	pod_defaults d;
	pod_defaults_init(&d);
	d.tls = opt;
	kube_pod *pod = pod_with(annotations, "10.1.2.3");
	pod_target *t = NULL;
	char err[1024];
	assert_int_equal(pod_target_from(pod, &d, &t, err, sizeof(err)), POD_INVALID);
	assert_null(t);
	kube_pod_free(pod);
	va_list ap;
	va_start(ap, opt);
	for (const char *want; (want = va_arg(ap, const char *)) != NULL;) {
		if (strstr(err, want) == NULL)
			fail_msg("message \"%s\" lacks \"%s\"", err, want);
	}
	va_end(ap);
}

static void test_http_by_default(void **state)
{
	fixture *fx = *state;
	pod_target *t = target_of("", "10.1.2.3", &fx->opt);
	assert_string_equal(t->base_url, "http://10.1.2.3:6060/debug/pprof");
	assert_int_equal(t->tls.https, 0);
	pod_tls_request req;
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_null(req.headers[0]);
	assert_null(req.tls.ca_file);
	pod_target_free(t);
	t = target_of("\"profefe.com/scheme\":\"http\"", "10.1.2.3", NULL);
	assert_string_equal(t->base_url, "http://10.1.2.3:6060/debug/pprof");
	pod_target_free(t);
}

static void test_https(void **state)
{
	fixture *fx = *state;
	pod_target *t = target_of("\"profefe.com/scheme\":\"https\"", "10.1.2.3", &fx->opt);
	assert_string_equal(t->base_url, "https://10.1.2.3:6060/debug/pprof");
	pod_tls_request req;
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_string_equal(req.tls.ca_file, "/etc/pods-ca.crt");
	assert_int_equal(req.tls.insecure, 0);
	assert_null(req.tls.connect_host); /* the certificate names the pod IP */
	assert_null(req.headers[0]);
	pod_target_free(t);

	t = target_of("\"profefe.com/scheme\":\"https\"", "fd00::7", NULL);
	assert_string_equal(t->base_url, "https://[fd00::7]:6060/debug/pprof");
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_null(req.tls.ca_file); /* the system store */
	pod_target_free(t);
}

static void test_server_name(void **state)
{
	fixture *fx = *state;
	const char *ann = "\"profefe.com/scheme\":\"https\","
			  "\"profefe.com/tls-server-name\":\"web.team-a.svc\"";
	pod_target *t = target_of(ann, "10.1.2.3", &fx->opt);
	assert_string_equal(t->base_url, "https://web.team-a.svc:6060/debug/pprof");
	pod_tls_request req;
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_string_equal(req.tls.connect_host, "10.1.2.3:6060");
	pod_target_free(t);

	t = target_of(ann, "fd00::7", &fx->opt);
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_string_equal(req.tls.connect_host, "[fd00::7]:6060");
	pod_target_free(t);
}

static void test_insecure(void **state)
{
	fixture *fx = *state;
	fx->opt.insecure = 1;
	pod_target *t = target_of("\"profefe.com/scheme\":\"https\"", "10.1.2.3", &fx->opt);
	pod_tls_request req;
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_int_equal(req.tls.insecure, 1);
	pod_tls_note_target(&t->tls, t->key);
	assert_true(metrics_get(METRIC_POD_TLS_INSECURE_TOTAL, NULL) == 1.0);
	pod_target_free(t);
	/* An http pod is not counted: there is nothing to verify. */
	t = target_of("", "10.1.2.3", &fx->opt);
	pod_tls_note_target(&t->tls, t->key);
	assert_true(metrics_get(METRIC_POD_TLS_INSECURE_TOTAL, NULL) == 1.0);
	pod_target_free(t);
}

static void test_bad_scheme_and_name(void **state)
{
	fixture *fx = *state;
	expect_invalid("\"profefe.com/scheme\":\"HTTPS\"", &fx->opt,
		       "pod default/web-1: annotation profefe.com/scheme=\"HTTPS\"",
		       "not \"http\" or \"https\"", NULL);
	expect_invalid("\"profefe.com/scheme\":\"\"", &fx->opt, "profefe.com/scheme=\"\"", NULL);
	expect_invalid("\"profefe.com/tls-server-name\":\"web\"", &fx->opt,
		       "profefe.com/tls-server-name=\"web\"", "only with", NULL);
	const char *bad_names[] = {"a..b", "-web", "web-", "we b", "web.", "", "x_y", "*.svc"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		char *ann = xasprintf("\"profefe.com/scheme\":\"https\","
				      "\"profefe.com/tls-server-name\":\"%s\"", bad_names[i]);
		char *want = xasprintf("profefe.com/tls-server-name=\"%s\": not a DNS name",
				       bad_names[i]);
		expect_invalid(ann, &fx->opt, want, NULL);
		free(want);
		free(ann);
	}
}

static void test_bad_credentials(void **state)
{
	fixture *fx = *state;
	const char *https = "\"profefe.com/scheme\":\"https\",";
	make_dir(fx->dir, "ok");
	write_file(fx->dir, "ok/token", "t0k3n\n");
	/* Never over http. */
	expect_invalid("\"profefe.com/credentials\":\"ok\"", &fx->opt,
		       "profefe.com/credentials=\"ok\"", "only over https", NULL);
	char *ann = xasprintf("%s\"profefe.com/credentials\":\"ok\"", https);
	expect_invalid(ann, NULL, "no --pod-credentials-dir", NULL);
	free(ann);

	struct {
		const char *name, *want;
	} cases[] = {
		{"../ok", "not a Secret name"},
		{"Ok", "not a Secret name"},
		{"missing", "no credential set missing"},
		{"half", "only one of tls.crt and tls.key"},
		{"none", "neither token nor tls.crt and tls.key"},
		{"empty", "empty token"},
		{"dangling", "No such file or directory"},
		{"twoline", "not printable"},
		{"sa", "service-account token is never sent"},
		{"certgone", "tls.key: No such file"},
	};
	make_dir(fx->dir, "half");
	write_file(fx->dir, "half/tls.crt", "x");
	make_dir(fx->dir, "none");
	make_dir(fx->dir, "empty");
	write_file(fx->dir, "empty/token", "\n");
	make_dir(fx->dir, "dangling");
	char *link = xasprintf("%s/dangling/token", fx->dir);
	assert_int_equal(symlink("..data/token", link), 0);
	free(link);
	make_dir(fx->dir, "twoline");
	write_file(fx->dir, "twoline/token", "abc\r\nX-Injected: 1\n");
	make_dir(fx->dir, "sa");
	write_file(fx->dir, "sa/token", "service-account-jwt");
	make_dir(fx->dir, "certgone");
	write_file(fx->dir, "certgone/tls.crt", "x");
	link = xasprintf("%s/certgone/tls.key", fx->dir);
	assert_int_equal(symlink("nowhere", link), 0);
	free(link);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ann = xasprintf("%s\"profefe.com/credentials\":\"%s\"", https, cases[i].name);
		char *key = xasprintf("annotation profefe.com/credentials=\"%s\"", cases[i].name);
		expect_invalid(ann, &fx->opt, key, cases[i].want, NULL);
		free(key);
		free(ann);
	}
}

/* Secrets are updated by swapping ..data: the token path gets a new inode. */
static void swap_token(const fixture *fx, const char *set, const char *gen, const char *token)
{
	char *dir = xasprintf("%s/%s/%s", fx->dir, set, gen);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(dir, "token", token);
	char *tmp = xasprintf("%s/%s/..data_tmp", fx->dir, set);
	char *data = xasprintf("%s/%s/..data", fx->dir, set);
	assert_int_equal(symlink(gen, tmp), 0);
	assert_int_equal(rename(tmp, data), 0);
	free(data);
	free(tmp);
	free(dir);
}

static void expect_header(pod_target *t, const char *want)
{
	pod_tls_request req;
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	assert_non_null(req.headers[0]);
	assert_string_equal(req.headers[0], want);
	assert_null(req.headers[1]);
}

static void test_token_reload(void **state)
{
	fixture *fx = *state;
	make_dir(fx->dir, "api");
	swap_token(fx, "api", "gen1", "first\n");
	char *link = xasprintf("%s/api/token", fx->dir);
	assert_int_equal(symlink("..data/token", link), 0);
	pod_target *t = target_of("\"profefe.com/scheme\":\"https\",\"profefe.com/credentials\":\"api\"",
				  "10.1.2.3", &fx->opt);
	expect_header(t, "Authorization: Bearer first");
	expect_header(t, "Authorization: Bearer first");
	assert_true(metrics_get(METRIC_POD_TOKEN_RELOADS_TOTAL, "result", "ok", NULL) == 0.0);

	swap_token(fx, "api", "gen2", "second\n");
	expect_header(t, "Authorization: Bearer second");
	assert_true(metrics_get(METRIC_POD_TOKEN_RELOADS_TOTAL, "result", "ok", NULL) == 1.0);

	/* Rewritten in place, same size: the mtime tells. */
	struct timespec later[2] = {{0, UTIME_OMIT}, {time(NULL) + 5, 0}};
	char *gen2 = xasprintf("%s/api/gen2", fx->dir);
	write_file(gen2, "token", "third!\n");
	char *file = xasprintf("%s/token", gen2);
	assert_int_equal(utimensat(AT_FDCWD, file, later, 0), 0);
	expect_header(t, "Authorization: Bearer third!");

	/* Gone or unusable: the last good one goes on, and the failure is counted. */
	write_file(gen2, "token", "");
	expect_header(t, "Authorization: Bearer third!");
	assert_true(metrics_get(METRIC_POD_TOKEN_RELOADS_TOTAL, "result", "failed", NULL) >= 1.0);
	write_file(gen2, "token", "fourth");
	expect_header(t, "Authorization: Bearer fourth");
	free(file);
	free(gen2);
	free(link);
	pod_target_free(t);
}

static void test_client_certificate(void **state)
{
	fixture *fx = *state;
	make_dir(fx->dir, "mtls");
	write_file(fx->dir, "mtls/tls.crt", "cert");
	write_file(fx->dir, "mtls/tls.key", "key");
	pod_target *t = target_of("\"profefe.com/scheme\":\"https\",\"profefe.com/credentials\":\"mtls\"",
				  "10.1.2.3", &fx->opt);
	pod_tls_request req;
	pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
	char *crt = xasprintf("%s/mtls/tls.crt", fx->dir);
	char *key = xasprintf("%s/mtls/tls.key", fx->dir);
	assert_string_equal(req.tls.cert_file, crt);
	assert_string_equal(req.tls.key_file, key);
	assert_null(req.headers[0]); /* no token in this set */
	free(key);
	free(crt);
	pod_target_free(t);
}

static void test_equal(void **state)
{
	fixture *fx = *state;
	pod_target *a = target_of("\"profefe.com/scheme\":\"https\"", "10.1.2.3", &fx->opt);
	pod_target *b = target_of("\"profefe.com/scheme\":\"https\"", "10.1.2.3", &fx->opt);
	pod_target *c = target_of("", "10.1.2.3", &fx->opt);
	pod_target *d = target_of("\"profefe.com/scheme\":\"https\","
				  "\"profefe.com/tls-server-name\":\"web\"",
				  "10.1.2.3", &fx->opt);
	assert_true(pod_target_equal(a, b));
	assert_false(pod_target_equal(a, c));
	assert_false(pod_target_equal(a, d));
	pod_target_free(a);
	pod_target_free(b);
	pod_target_free(c);
	pod_target_free(d);
}

static void test_options_check(void **state)
{
	fixture *fx = *state;
	char err[512];
	assert_int_equal(pod_tls_options_check(&(pod_tls_options){0}, err, sizeof(err)), 0);
	pod_tls_options o = {.credentials_dir = fx->dir};
	assert_int_equal(pod_tls_options_check(&o, err, sizeof(err)), 0);
	o.credentials_dir = "/nonexistent/creds";
	assert_int_equal(pod_tls_options_check(&o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--pod-credentials-dir /nonexistent/creds: not a directory"));
	o.credentials_dir = NULL;
	o.ca_file = "/nonexistent/ca.crt";
	assert_int_equal(pod_tls_options_check(&o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/ca.crt"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_http_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_https, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insecure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_scheme_and_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_check, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
