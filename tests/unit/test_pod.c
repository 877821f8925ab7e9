/* Unit tests of pod: verdicts, annotation validation, service names, labels, equality. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/pod.h"
#include "kprofefe/pprof.h"
#include "kprofefe/xalloc.h"

/* A Pod object as the API server sends it: annotations, labels and ownerReferences
 * are JSON fragments ("" for none); phase and ip may be NULL to leave them out. */
typedef struct pod_spec {
	const char *name;
	const char *annotations;
	const char *labels;
	const char *owners;
	const char *phase;
	const char *ip;
	const char *node;
	int deleting;
} pod_spec;

static kube_pod *make_pod(const pod_spec *s)
{
	char *status, *json;
	char err[256];
	yajl_val v;
	kube_pod *pod;

	status = xasprintf("%s%s%s%s%s%s%s", s->phase ? "\"phase\":\"" : "",
			   s->phase ? s->phase : "", s->phase ? "\"" : "",
			   s->phase && s->ip ? "," : "", s->ip ? "\"podIP\":\"" : "",
			   s->ip ? s->ip : "", s->ip ? "\"" : "");
	json = xasprintf("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
			 "\"uid\":\"u-1\",\"resourceVersion\":\"7\"%s"
			 ",\"annotations\":{%s},\"labels\":{%s},\"ownerReferences\":[%s]},"
			 "\"spec\":{\"nodeName\":\"%s\"},\"status\":{%s}}",
			 s->name ? s->name : "web-1",
			 s->deleting ? ",\"deletionTimestamp\":\"2024-05-01T10:00:00Z\"" : "",
			 s->annotations ? s->annotations : "", s->labels ? s->labels : "",
			 s->owners ? s->owners : "", s->node ? s->node : "", status);
	v = yajl_tree_parse(json, err, sizeof(err));
	if (v == NULL)
		fail_msg("bad test JSON %s: %s", json, err);
	pod = kube_pod_from_json(v, err, sizeof(err));
	if (pod == NULL)
		fail_msg("kube_pod_from_json: %s", err);
	yajl_tree_free(v);
	free(json);
	free(status);
	return pod;
}

#define ENABLED "\"profefe.com/enable\":\"true\""

static pod_spec running(const char *annotations)
{
	pod_spec s = {0};
	s.annotations = annotations;
	s.phase = "Running";
	s.ip = "10.1.2.3";
	s.node = "node-a";
	return s;
}

/* The verdict for s, with the target or message. */
static enum pod_verdict judge(const pod_spec *s, const pod_defaults *d, pod_target **t,
			      char *err, size_t errlen)
{
	kube_pod *pod = make_pod(s);
	enum pod_verdict v = pod_target_from(pod, d, t, err, errlen);
	kube_pod_free(pod);
	return v;
}

static void expect_ignored(const pod_spec *s, const char *reason)
{
	pod_target *t = (pod_target *)1;
	char err[512];

	assert_int_equal(judge(s, NULL, &t, err, sizeof(err)), POD_IGNORED);
	assert_null(t);
	assert_string_equal(err, reason);
}

static void expect_invalid(const char *annotations, const pod_defaults *d, const char *msg)
{
	pod_spec s = running(annotations);
	pod_target *t = (pod_target *)1;
	char err[1024];

	assert_int_equal(judge(&s, d, &t, err, sizeof(err)), POD_INVALID);
	assert_null(t);
	if (strstr(err, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, msg);
}

static pod_target *expect_target(const pod_spec *s, const pod_defaults *d)
{
	pod_target *t = NULL;
	char err[1024];

	if (judge(s, d, &t, err, sizeof(err)) != POD_TARGET)
		fail_msg("not a target: %s", err);
	assert_non_null(t);
	return t;
}

static void test_ignored(void **state)
{
	pod_spec s;
	(void)state;

	s = running("");
	expect_ignored(&s, "not_enabled");
	s = running("\"profefe.com/enable\":\"True\"");
	expect_ignored(&s, "not_enabled");
	s = running("\"profefe.com/enable\":\"false\"");
	expect_ignored(&s, "not_enabled");
	s = running(ENABLED);
	s.deleting = 1;
	expect_ignored(&s, "deleting");
	s = running(ENABLED);
	s.phase = "Pending";
	expect_ignored(&s, "not_running");
	s = running(ENABLED);
	s.phase = NULL;
	expect_ignored(&s, "not_running");
	s = running(ENABLED);
	s.phase = "Succeeded";
	expect_ignored(&s, "not_running");
	s = running(ENABLED);
	s.ip = NULL;
	expect_ignored(&s, "no_pod_ip");
	s = running(ENABLED);
	s.ip = "10.1.2.3/24";
	expect_ignored(&s, "bad_pod_ip");
	/* Bad annotations on a pod that is not running are not reported. */
	s = running(ENABLED ",\"profefe.com/port\":\"x\"");
	s.phase = "Pending";
	expect_ignored(&s, "not_running");
}

static void test_defaults(void **state)
{
	pod_spec s = running(ENABLED);
	pod_target *t = expect_target(&s, NULL);
	(void)state;

	assert_string_equal(t->key, "default/web-1");
	assert_string_equal(t->ns, "default");
	assert_string_equal(t->name, "web-1");
	assert_string_equal(t->uid, "u-1");
	assert_string_equal(t->node, "node-a");
	assert_string_equal(t->ip, "10.1.2.3");
	assert_int_equal(t->port, 6060);
	assert_string_equal(t->path, "/debug/pprof");
	assert_string_equal(t->service, "web-1");
	assert_int_equal(t->types, PPROF_DEFAULT_TYPES);
	assert_int_equal(t->cpu_seconds, 10);
	assert_int_equal(t->delta, PPROF_DELTA_SECONDS);
	assert_string_equal(t->labels, "namespace=default,pod=web-1,node=node-a,from=kube-profefe");
	assert_string_equal(t->base_url, "http://10.1.2.3:6060/debug/pprof");
	pod_target_free(t);

	/* No node name: no node label. */
	s.node = NULL;
	t = expect_target(&s, NULL);
	assert_string_equal(t->labels, "namespace=default,pod=web-1,from=kube-profefe");
	pod_target_free(t);
}

static void test_annotations(void **state)
{
	pod_spec s = running(ENABLED ",\"profefe.com/port\":\"8080\",\"profefe.com/path\":\"/x/pprof/\","
				     "\"profefe.com/service\":\"checkout api\","
				     "\"profefe.com/profiles\":\"cpu, heap\","
				     "\"profefe.com/cpu-seconds\":\"30\"");
	pod_target *t = expect_target(&s, NULL);
	(void)state;

	assert_int_equal(t->port, 8080);
	assert_string_equal(t->path, "/x/pprof");
	assert_string_equal(t->service, "checkout api");
	assert_int_equal(t->types, PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_HEAP));
	assert_int_equal(t->cpu_seconds, 30);
	assert_string_equal(t->base_url, "http://10.1.2.3:8080/x/pprof");
	pod_target_free(t);

	s = running(ENABLED ",\"profefe.com/path\":\"/\"");
	t = expect_target(&s, NULL);
	assert_string_equal(t->path, "");
	assert_string_equal(t->base_url, "http://10.1.2.3:6060");
	pod_target_free(t);

	s = running(ENABLED);
	s.ip = "fd00:10::5";
	t = expect_target(&s, NULL);
	assert_string_equal(t->ip, "fd00:10::5");
	assert_string_equal(t->base_url, "http://[fd00:10::5]:6060/debug/pprof");
	pod_target_free(t);
}

static void test_delta_annotation(void **state)
{
	pod_defaults d;
	pod_spec s = running(ENABLED ",\"profefe.com/delta\":\"false\"");
	pod_target *t = expect_target(&s, NULL);
	(void)state;

	assert_int_equal(t->delta, PPROF_DELTA_OFF);
	pod_target_free(t);
	/* The annotation wins over the default either way. */
	pod_defaults_init(&d);
	d.delta = PPROF_DELTA_OFF;
	s = running(ENABLED ",\"profefe.com/delta\":\"true\"");
	t = expect_target(&s, &d);
	assert_int_equal(t->delta, PPROF_DELTA_SECONDS);
	pod_target_free(t);
	s = running(ENABLED ",\"profefe.com/delta\":\"godeltaprof\"");
	t = expect_target(&s, &d);
	assert_int_equal(t->delta, PPROF_DELTA_GODELTAPROF);
	pod_target_free(t);
	s = running(ENABLED);
	t = expect_target(&s, &d);
	assert_int_equal(t->delta, PPROF_DELTA_OFF);
	pod_target_free(t);
	/* A collector whose default is godeltaprof: "true" still asks for ?seconds=. */
	d.delta = PPROF_DELTA_GODELTAPROF;
	t = expect_target(&s, &d);
	assert_int_equal(t->delta, PPROF_DELTA_GODELTAPROF);
	pod_target_free(t);
	s = running(ENABLED ",\"profefe.com/delta\":\"true\"");
	t = expect_target(&s, &d);
	assert_int_equal(t->delta, PPROF_DELTA_SECONDS);
	pod_target_free(t);
	expect_invalid(ENABLED ",\"profefe.com/delta\":\"yes\"", NULL,
		       "annotation profefe.com/delta=\"yes\": not \"true\", \"false\" or "
		       "\"godeltaprof\"");
	expect_invalid(ENABLED ",\"profefe.com/delta\":\"GODELTAPROF\"", NULL,
		       "annotation profefe.com/delta=\"GODELTAPROF\": not \"true\", \"false\" "
		       "or \"godeltaprof\"");
}

static void test_bad_port(void **state)
{
	static const char *const bad[] = {"99999", "0", "-1", "+80", " 80", "80a", "", "0x50",
					  "65536", "99999999999999999999"};
	char ann[256];
	(void)state;

	expect_invalid(ENABLED ",\"profefe.com/port\":\"99999\"", NULL,
		       "pod default/web-1: annotation profefe.com/port=\"99999\": not a port "
		       "(1..65535)");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(ann, sizeof(ann), ENABLED ",\"profefe.com/port\":\"%s\"", bad[i]);
		expect_invalid(ann, NULL, "not a port");
	}
	int port;
	char err[64];
	assert_int_equal(pod_port_parse("65535", &port, err, sizeof(err)), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(pod_port_parse("1", &port, err, sizeof(err)), 0);
}

static void test_bad_path(void **state)
{
	static const char *const bad[] = {
		"debug/pprof", "", "/a/../b", "/..", "/a?x=1", "/a#frag", "/a b", "/a\\tb",
		"/a\\r\\nHost: x", "/a%2e%2e", "/a\\\\b", "/a\\u0001", "/caf\\u00e9",
	};
	char ann[512], err[256], *out;
	(void)state;

	expect_invalid(ENABLED ",\"profefe.com/path\":\"debug\"", NULL,
		       "annotation profefe.com/path=\"debug\": must start with '/'");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(ann, sizeof(ann), ENABLED ",\"profefe.com/path\":\"%s\"", bad[i]);
		expect_invalid(ann, NULL, "annotation profefe.com/path=");
	}
	char longpath[POD_MAX_PATH_LEN + 2];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(pod_path_check(longpath, &out, err, sizeof(err)), -1);
	longpath[POD_MAX_PATH_LEN] = '\0';
	assert_int_equal(pod_path_check(longpath, &out, err, sizeof(err)), 0);
	free(out);
	assert_int_equal(pod_path_check("/a.b/c-d_e~f///", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "/a.b/c-d_e~f");
	free(out);
}

static void test_bad_service_profiles_seconds(void **state)
{
	pod_defaults d;
	pod_spec s;
	pod_target *t;
	char longsvc[POD_MAX_SERVICE_LEN + 80];
	(void)state;

	expect_invalid(ENABLED ",\"profefe.com/service\":\"\"", NULL,
		       "annotation profefe.com/service=\"\": empty");
	expect_invalid(ENABLED ",\"profefe.com/service\":\" web\"", NULL, "space");
	expect_invalid(ENABLED ",\"profefe.com/service\":\"a\\nb\"", NULL, "printable");
	char svc[POD_MAX_SERVICE_LEN + 2];
	memset(svc, 'a', sizeof(svc) - 1);
	svc[sizeof(svc) - 1] = '\0';
	snprintf(longsvc, sizeof(longsvc), ENABLED ",\"profefe.com/service\":\"%s\"", svc);
	expect_invalid(longsvc, NULL, "longer than 128");

	expect_invalid(ENABLED ",\"profefe.com/profiles\":\"cpu,foo\"", NULL,
		       "pod default/web-1: annotation profefe.com/profiles=\"cpu,foo\": unknown "
		       "profile type \"foo\"");
	expect_invalid(ENABLED ",\"profefe.com/profiles\":\"\"", NULL, "profiles=\"\"");

	expect_invalid(ENABLED ",\"profefe.com/cpu-seconds\":\"0\"", NULL,
		       "annotation profefe.com/cpu-seconds=\"0\": not a whole number of seconds "
		       "in 1..300");
	expect_invalid(ENABLED ",\"profefe.com/cpu-seconds\":\"301\"", NULL, "1..300");
	expect_invalid(ENABLED ",\"profefe.com/cpu-seconds\":\"1.5\"", NULL, "1..300");
	expect_invalid(ENABLED ",\"profefe.com/cpu-seconds\":\"-5\"", NULL, "1..300");

	/* The caller's max (from the scrape interval) bounds the annotation and the default. */
	pod_defaults_init(&d);
	d.max_cpu_seconds = 5;
	expect_invalid(ENABLED ",\"profefe.com/cpu-seconds\":\"6\"", &d, "1..5");
	s = running(ENABLED);
	t = expect_target(&s, &d);
	assert_int_equal(t->cpu_seconds, 5);
	pod_target_free(t);
	s = running(ENABLED ",\"profefe.com/cpu-seconds\":\"5\"");
	t = expect_target(&s, &d);
	assert_int_equal(t->cpu_seconds, 5);
	pod_target_free(t);

	/* Other defaults. */
	d.port = 7070;
	d.path = "/pp/";
	d.types = PPROF_BIT(PPROF_GOROUTINE);
	s = running(ENABLED);
	t = expect_target(&s, &d);
	assert_string_equal(t->base_url, "http://10.1.2.3:7070/pp");
	assert_int_equal(t->types, PPROF_BIT(PPROF_GOROUTINE));
	pod_target_free(t);

	/* A long bad value is cut in the message. */
	char big[2000], msg[1024];
	memset(big, 'x', sizeof(big));
	snprintf(big, sizeof(big), ENABLED ",\"profefe.com/port\":\"%0900d\"", 7);
	s = running(big);
	assert_int_equal(judge(&s, NULL, &t, msg, sizeof(msg)), POD_INVALID);
	assert_non_null(strstr(msg, "not a port"));
}

static char *service_of(const char *labels, const char *owners, const char *name)
{
	pod_spec s = running(ENABLED);
	kube_pod *pod;
	char *svc;

	s.labels = labels;
	s.owners = owners;
	s.name = name;
	pod = make_pod(&s);
	svc = pod_service_name(pod);
	kube_pod_free(pod);
	return svc;
}

static void check_service(const char *labels, const char *owners, const char *want)
{
	char *svc = service_of(labels, owners, "web-5d8f9c7b4-x2x9q");
	assert_string_equal(svc, want);
	free(svc);
}

#define OWNER(kind, name, ctl)                                                          \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"" kind "\",\"name\":\"" name               \
	"\",\"uid\":\"o\",\"controller\":" ctl "}"

static void test_service_name(void **state)
{
	(void)state;
	check_service("\"pod-template-hash\":\"5d8f9c7b4\"", OWNER("ReplicaSet", "web-5d8f9c7b4", "true"),
		      "web");
	check_service("\"pod-template-hash\":\"5d8f9c7b4\"",
		      OWNER("ReplicaSet", "my-web-app-5d8f9c7b4", "true"), "my-web-app");
	check_service("", OWNER("ReplicaSet", "web-5d8f9c7b4", "true"), "web-5d8f9c7b4");
	check_service("\"pod-template-hash\":\"aaaa\"", OWNER("ReplicaSet", "web-5d8f9c7b4", "true"),
		      "web-5d8f9c7b4");
	check_service("\"pod-template-hash\":\"5d8f9c7b4\"", OWNER("ReplicaSet", "5d8f9c7b4", "true"),
		      "5d8f9c7b4");
	check_service("", OWNER("StatefulSet", "db", "true"), "db");
	check_service("", OWNER("DaemonSet", "agent", "true"), "agent");
	check_service("", OWNER("Job", "backup-28473920", "true"), "backup");
	check_service("", OWNER("Job", "migrate", "true"), "migrate");
	check_service("", OWNER("Job", "migrate-v2a", "true"), "migrate-v2a");
	check_service("", OWNER("Job", "-123", "true"), "-123");
	check_service("", OWNER("Job", "x-", "true"), "x-");
	check_service("", OWNER("Node", "node-a", "true"), "web-5d8f9c7b4-x2x9q");
	check_service("", OWNER("StatefulSet", "db", "false"), "web-5d8f9c7b4-x2x9q");
	check_service("", OWNER("StatefulSet", "db", "false") "," OWNER("DaemonSet", "ds", "true"),
		      "ds");
	check_service("", "", "web-5d8f9c7b4-x2x9q");

	/* The annotation wins. */
	pod_spec s = running(ENABLED ",\"profefe.com/service\":\"checkout\"");
	s.owners = OWNER("StatefulSet", "db", "true");
	pod_target *t = expect_target(&s, NULL);
	assert_string_equal(t->service, "checkout");
	pod_target_free(t);
	s = running(ENABLED);
	s.owners = OWNER("StatefulSet", "db", "true");
	t = expect_target(&s, NULL);
	assert_string_equal(t->service, "db");
	pod_target_free(t);
}

static void test_equal(void **state)
{
	pod_spec s = running(ENABLED);
	pod_target *a = expect_target(&s, NULL), *b = expect_target(&s, NULL), *c;
	(void)state;

	assert_true(pod_target_equal(a, b));
	assert_true(pod_target_equal(NULL, NULL));
	assert_false(pod_target_equal(a, NULL));

	s = running(ENABLED ",\"profefe.com/port\":\"6061\"");
	c = expect_target(&s, NULL);
	assert_false(pod_target_equal(a, c));
	pod_target_free(c);

	s = running(ENABLED ",\"profefe.com/profiles\":\"cpu\"");
	c = expect_target(&s, NULL);
	assert_false(pod_target_equal(a, c));
	pod_target_free(c);

	s = running(ENABLED);
	s.ip = "10.1.2.4";
	c = expect_target(&s, NULL);
	assert_false(pod_target_equal(a, c));
	pod_target_free(c);

	/* An unrelated annotation changes nothing that matters. */
	s = running(ENABLED ",\"other\":\"x\"");
	c = expect_target(&s, NULL);
	assert_true(pod_target_equal(a, c));
	pod_target_free(c);

	pod_target_free(a);
	pod_target_free(b);
	pod_target_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_delta_annotation),
		cmocka_unit_test(test_bad_port),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_bad_service_profiles_seconds),
		cmocka_unit_test(test_service_name),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
