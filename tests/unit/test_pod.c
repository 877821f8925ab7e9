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
#include "kprofefe/profefe.h"
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
	const char *spec;   /* more members of spec ("\"containers\":[...]"), or NULL */
	const char *status; /* more members of status, or NULL */
} pod_spec;

static kube_pod *make_pod(const pod_spec *s)
{
	char *status, *json;
	char err[256];
	yajl_val v;
	kube_pod *pod;

	status = xasprintf("%s%s%s%s%s%s%s%s%s", s->phase ? "\"phase\":\"" : "",
			   s->phase ? s->phase : "", s->phase ? "\"" : "",
			   s->phase && s->ip ? "," : "", s->ip ? "\"podIP\":\"" : "",
			   s->ip ? s->ip : "", s->ip ? "\"" : "",
			   s->status && (s->phase || s->ip) ? "," : "", s->status ? s->status : "");
	json = xasprintf("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
			 "\"uid\":\"u-1\",\"resourceVersion\":\"7\"%s"
			 ",\"annotations\":{%s},\"labels\":{%s},\"ownerReferences\":[%s]},"
			 "\"spec\":{\"nodeName\":\"%s\"%s%s},\"status\":{%s}}",
			 s->name ? s->name : "web-1",
			 s->deleting ? ",\"deletionTimestamp\":\"2024-05-01T10:00:00Z\"" : "",
			 s->annotations ? s->annotations : "", s->labels ? s->labels : "",
			 s->owners ? s->owners : "", s->node ? s->node : "", s->spec ? "," : "",
			 s->spec ? s->spec : "", status);
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


/* ---- several targets per pod ---- */

/* An app container declaring pprof=6060 and http=8080, a Go sidecar (an init container
 * with restartPolicy Always) declaring admin=7070, a plain init container declaring
 * init=9090 (it has ended by the time the pod runs), and a UDP port named dns. */
#define CONTAINERS                                                                         \
	"\"containers\":[{\"name\":\"app\",\"image\":\"shop/web:v2\",\"ports\":["             \
	"{\"name\":\"pprof\",\"containerPort\":6060,\"protocol\":\"TCP\"},"                  \
	"{\"name\":\"http\",\"containerPort\":8080},"                                         \
	"{\"name\":\"dns\",\"containerPort\":5353,\"protocol\":\"UDP\"}]}],"                \
	"\"initContainers\":[{\"name\":\"setup\",\"image\":\"busybox\",\"ports\":["           \
	"{\"name\":\"init\",\"containerPort\":9090}]},"                                       \
	"{\"name\":\"proxy\",\"image\":\"auth/proxy:1.4\",\"restartPolicy\":\"Always\","      \
	"\"ports\":[{\"name\":\"admin\",\"containerPort\":7070}]}]"
#define STATUSES                                                                           \
	"\"containerStatuses\":[{\"name\":\"app\",\"imageID\":"                               \
	"\"docker-pullable://shop/web@sha256:0123abcd\"}],"                                   \
	"\"initContainerStatuses\":[{\"name\":\"proxy\",\"imageID\":\"sha256:feed\"}]"
#define RS_OWNER OWNER("ReplicaSet", "web-7d9f8c", "true")
#define RS_LABELS "\"pod-template-hash\":\"7d9f8c\",\"app.kubernetes.io/version\":\"v2\""

static pod_spec two_programs(const char *annotations)
{
	pod_spec s = running(annotations);
	s.owners = RS_OWNER;
	s.labels = RS_LABELS;
	s.spec = CONTAINERS;
	s.status = STATUSES;
	return s;
}

/* The verdict and targets of s. */
static enum pod_verdict judge_all(const pod_spec *s, const pod_defaults *d, pod_targets *ts,
				  char *err, size_t errlen)
{
	kube_pod *pod = make_pod(s);
	enum pod_verdict v = pod_targets_from(pod, d, ts, err, errlen);
	kube_pod_free(pod);
	return v;
}

static void expect_targets(const pod_spec *s, const pod_defaults *d, pod_targets *ts,
			   size_t n)
{
	char err[1024];

	if (judge_all(s, d, ts, err, sizeof(err)) != POD_TARGET)
		fail_msg("not a target: %s", err);
	assert_int_equal(ts->n, n);
}

static void expect_label(const pod_target *t, const char *key, const char *value)
{
	char *v = profefe_label_value(t->labels, key);

	if (value == NULL) {
		if (v != NULL)
			fail_msg("%s has label %s=%s", t->id, key, v);
		return;
	}
	if (v == NULL || strcmp(v, value) != 0)
		fail_msg("%s: label %s is \"%s\", not \"%s\" (labels %s)", t->id, key,
			 v ? v : "(none)", value, t->labels);
	free(v);
}

/* t's port, service, container (NULL: none) and port label (NULL: none). */
static void expect_is(const pod_target *t, int port, const char *service, const char *container,
		      const char *port_label)
{
	char id[64];

	assert_int_equal(t->port, port);
	assert_string_equal(t->service, service);
	if (container == NULL)
		assert_null(t->container);
	else
		assert_string_equal(t->container, container);
	expect_label(t, "container", container);
	expect_label(t, "port", port_label);
	snprintf(id, sizeof(id), "default/web-1:%d", port);
	assert_string_equal(t->id, port_label ? id : "default/web-1");
}

static void test_port_list(void **state)
{
	pod_spec s = running(ENABLED ",\"profefe.com/port\":\"6060,7070\"");
	pod_targets ts;
	(void)state;

	/* No containers declare them: the first item is the primary. */
	expect_targets(&s, NULL, &ts, 2);
	assert_null(ts.refused);
	expect_is(ts.v[0], 6060, "web-1", NULL, "6060");
	assert_string_equal(ts.v[0]->key, "default/web-1");
	assert_string_equal(ts.v[0]->base_url, "http://10.1.2.3:6060/debug/pprof");
	expect_is(ts.v[1], 7070, "web-1-7070", NULL, "7070");
	assert_string_equal(ts.v[1]->base_url, "http://10.1.2.3:7070/debug/pprof");
	expect_label(ts.v[1], "pod", "web-1");
	pod_targets_clear(&ts);

	/* The settings the annotations give apply to each. */
	s = running(ENABLED ",\"profefe.com/port\":\"6060,7070\",\"profefe.com/profiles\":\"heap\","
			    "\"profefe.com/path\":\"/pp\"");
	expect_targets(&s, NULL, &ts, 2);
	for (size_t i = 0; i < ts.n; i++) {
		assert_int_equal(ts.v[i]->types, PPROF_BIT(PPROF_HEAP));
		assert_string_equal(ts.v[i]->path, "/pp");
	}
	pod_targets_clear(&ts);

	/* The scheme too: each target has its own copy of the pod's transport. */
	s = running(ENABLED ",\"profefe.com/port\":\"6060,7070\",\"profefe.com/scheme\":\"https\"");
	expect_targets(&s, NULL, &ts, 2);
	assert_string_equal(ts.v[0]->base_url, "https://10.1.2.3:6060/debug/pprof");
	assert_string_equal(ts.v[1]->base_url, "https://10.1.2.3:7070/debug/pprof");
	assert_true(ts.v[0]->tls.https && ts.v[1]->tls.https);
	pod_targets_clear(&ts);

	/* The wrapper gives the primary alone. */
	pod_target *t = expect_target(&s, NULL);
	assert_int_equal(t->port, 6060);
	pod_target_free(t);
}

static void test_named_ports(void **state)
{
	pod_spec s = two_programs(ENABLED ",\"profefe.com/port\":\"admin,pprof\"");
	pod_targets ts;
	(void)state;

	/* The first container's port is the primary, whatever the order of the list. */
	expect_targets(&s, NULL, &ts, 2);
	expect_is(ts.v[0], 6060, "web", "app", "6060");
	expect_label(ts.v[0], "image", "shop/web:v2");
	expect_label(ts.v[0], "digest", "sha256:0123abcd");
	expect_is(ts.v[1], 7070, "web-proxy", "proxy", "7070");
	expect_label(ts.v[1], "image", "auth/proxy:1.4");
	expect_label(ts.v[1], "digest", "sha256:feed");
	pod_targets_clear(&ts);

	/* Numbers find their container too; a second port of one container is named by its
	 * port; profefe.com/service is the base of every name. */
	s = two_programs(ENABLED ",\"profefe.com/port\":\"7070,8080,6060\","
				 "\"profefe.com/service\":\"checkout\"");
	expect_targets(&s, NULL, &ts, 3);
	expect_is(ts.v[0], 8080, "checkout", "app", "8080");
	expect_is(ts.v[1], 7070, "checkout-proxy", "proxy", "7070");
	expect_is(ts.v[2], 6060, "checkout-6060", "app", "6060");
	pod_targets_clear(&ts);

	/* One number keeps its meaning: same service, no port label; its container is named. */
	s = two_programs(ENABLED ",\"profefe.com/port\":\"7070\"");
	expect_targets(&s, NULL, &ts, 1);
	expect_is(ts.v[0], 7070, "web", "proxy", NULL);
	pod_targets_clear(&ts);

	/* A port no container declares, in a pod of several: no container label. */
	s = two_programs(ENABLED ",\"profefe.com/port\":\"6061\"");
	expect_targets(&s, NULL, &ts, 1);
	expect_is(ts.v[0], 6061, "web", NULL, NULL);
	expect_label(ts.v[0], "image", NULL);
	pod_targets_clear(&ts);
}

static void test_only_container(void **state)
{
	pod_spec s = running(ENABLED);
	pod_targets ts;
	(void)state;

	/* The only container runs whatever serves the port, declared or not. */
	s.spec = "\"containers\":[{\"name\":\"main\",\"image\":\"img:1\"}]";
	expect_targets(&s, NULL, &ts, 1);
	assert_string_equal(ts.v[0]->container, "main");
	expect_label(ts.v[0], "image", "img:1");
	expect_label(ts.v[0], "digest", NULL);
	pod_targets_clear(&ts);
}

/* The pod gets targets for keep (ports, in order) and the refusal message has msg. */
static void expect_partial(const char *ports, const int *keep, size_t nkeep, const char *msg)
{
	char ann[512];
	pod_targets ts;

	snprintf(ann, sizeof(ann), ENABLED ",\"profefe.com/port\":\"%s\"", ports);
	pod_spec s = two_programs(ann);
	expect_targets(&s, NULL, &ts, nkeep);
	for (size_t i = 0; i < nkeep; i++)
		assert_int_equal(ts.v[i]->port, keep[i]);
	if (ts.refused == NULL || strstr(ts.refused, msg) == NULL)
		fail_msg("refusal \"%s\" lacks \"%s\"", ts.refused ? ts.refused : "(none)", msg);
	pod_targets_clear(&ts);
}

static void test_bad_port_items(void **state)
{
	/* Each bad item is refused by itself, named with the pod, the annotation and value;
	 * the ports kept are 6060 (and 7070 when keep2). */
	static const struct {
		const char *ports;
		int keep2;
		const char *msg;
	} cases[] = {
		{"6060,nope", 0, "pod default/web-1: annotation profefe.com/port=\"6060,nope\": "
				 "item \"nope\": no container declares a TCP port of that name"},
		{"6060,6060", 0, "item \"6060\": port 6060 is listed already"},
		{"pprof,6060", 0, "item \"6060\": port 6060 is listed already"},
		{"6060,pprof", 0, "item \"pprof\": port 6060 is listed already"},
		{"6060,,7070", 1, "item \"\": empty"},
		{"6060,7070,", 1, "item \"\": empty"},
		{"6060, 7070", 0, "item \" 7070\": not a port number nor a port name"},
		{"6060,70000", 0, "item \"70000\": not a port (1..65535)"},
		{"6060,Pprof", 0, "item \"Pprof\": not a port number nor a port name"},
		{"6060,abcdefghijklmnop", 0, "item \"abcdefghijklmnop\": not a port name (1..15"},
		{"6060,-pp", 0, "item \"-pp\": not a port name (a letter at least"},
		{"6060,a--b", 0, "item \"a--b\": not a port name"},
		{"6060,dns", 0, "item \"dns\": no container declares a TCP port"},
		{"6060,init", 0, "item \"init\": no container declares a TCP port"},
		/* Two bad items: one message names both. */
		{"x1,6060,6060", 0, "item \"x1\": no container declares a TCP port of that name; "
				    "item \"6060\": port 6060 is listed already"},
	};
	static const int keep[] = {6060, 7070};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_partial(cases[i].ports, keep, cases[i].keep2 ? 2 : 1, cases[i].msg);

	/* Nothing left: the pod is invalid. */
	expect_invalid(ENABLED ",\"profefe.com/port\":\"nope,zilch\"", NULL,
		       "pod default/web-1: annotation profefe.com/port=\"nope,zilch\": item "
		       "\"nope\": no container declares a TCP port of that name; item \"zilch\"");
	expect_invalid(ENABLED ",\"profefe.com/port\":\"pprof\"", NULL,
		       "annotation profefe.com/port=\"pprof\": no container declares a TCP port of "
		       "that name");
	expect_invalid(ENABLED ",\"profefe.com/port\":\"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\"",
		       NULL, "more than 16 items");
	/* Another bad annotation still makes the whole pod invalid. */
	expect_invalid(ENABLED ",\"profefe.com/port\":\"6060,7070\",\"profefe.com/path\":\"x\"", NULL,
		       "annotation profefe.com/path=\"x\"");
}

static void test_port_name_check(void **state)
{
	static const char *const good[] = {"pprof", "a", "p-1", "abcdefghijklmno", "1a"};
	static const char *const bad[] = {"", "-a", "a-", "a--b", "A", "a_b", "123",
					  "abcdefghijklmnop", "a b"};
	char err[128];
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (pod_port_name_check(good[i], err, sizeof(err)) != 0)
			fail_msg("\"%s\" refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pod_port_name_check(bad[i], err, sizeof(err)) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
}

/* ---- pod labels ---- */

static void test_label_map(void **state)
{
	static const struct {
		const char *spec, *why;
	} bad[] = {
		{"app.kubernetes.io/", "not a Kubernetes label key"},
		{"/version", "not a Kubernetes label key"},
		{"a,,b", "not a Kubernetes label key"},
		{"Example.com/x", "not a Kubernetes label key"},
		{"bad key", "not a Kubernetes label key"},
		{"x=", "not a Kubernetes label key"},
		{"=app", "the stored key is not a label name"},
		{"-v=app", "the stored key is not a label name"},
		{"pod", "one kprofefe sets itself"},
		{"example.com/namespace", "one kprofefe sets itself"},
		{"image=app", "one kprofefe sets itself"},
		{"delta=app", "one kprofefe sets itself"},
		{"app.kubernetes.io/version,example.com/version", "two items store the same key"},
		{"version=a,version=b", "two items store the same key"},
	};
	pod_label_map m;
	char err[256];
	(void)state;

	assert_int_equal(pod_label_map_parse("", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(pod_label_map_parse("app.kubernetes.io/version, team=example.com/owner,tier",
					     &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[0].label, "app.kubernetes.io/version");
	assert_string_equal(m.v[0].key, "version");
	assert_string_equal(m.v[1].label, "example.com/owner");
	assert_string_equal(m.v[1].key, "team");
	assert_string_equal(m.v[2].label, "tier");
	assert_string_equal(m.v[2].key, "tier");
	pod_label_map_clear(&m);
	/* A built-in key can be stored under another name. */
	assert_int_equal(pod_label_map_parse("pod-name=pod", &m, err, sizeof(err)), 0);
	pod_label_map_clear(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (pod_label_map_parse(bad[i].spec, &m, err, sizeof(err)) == 0)
			fail_msg("\"%s\" accepted", bad[i].spec);
		assert_null(m.v);
		if (strstr(err, bad[i].why) == NULL || strstr(err, "pod label \"") == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].spec, err, bad[i].why);
	}
}

static void test_copied_labels(void **state)
{
	pod_label_map m;
	pod_defaults d;
	pod_targets ts, ts2;
	pod_spec s = two_programs(ENABLED ",\"profefe.com/port\":\"pprof,admin\"");
	char err[256];
	(void)state;

	pod_defaults_init(&d);
	assert_int_equal(pod_label_map_parse("app.kubernetes.io/version,hash=pod-template-hash,"
					     "absent", &m, err, sizeof(err)), 0);
	d.labels = &m;
	expect_targets(&s, &d, &ts, 2);
	for (size_t i = 0; i < ts.n; i++) {
		expect_label(ts.v[i], "version", "v2");
		expect_label(ts.v[i], "hash", "7d9f8c");
		expect_label(ts.v[i], "absent", NULL);
		expect_label(ts.v[i], "namespace", "default");
	}
	/* A new version is a new target (the collector replaces it and the next round has
	 * the new label). */
	s.labels = "\"pod-template-hash\":\"7d9f8c\",\"app.kubernetes.io/version\":\"v3\"";
	expect_targets(&s, &d, &ts2, 2);
	expect_label(ts2.v[0], "version", "v3");
	assert_false(pod_target_equal(ts.v[0], ts2.v[0]));
	pod_targets_clear(&ts2);
	/* Any value survives profefe's syntax: it is percent-encoded. */
	s.labels = "\"app.kubernetes.io/version\":\"a,b=c%d\"";
	expect_targets(&s, &d, &ts2, 2);
	expect_label(ts2.v[0], "version", "a,b=c%d");
	pod_targets_clear(&ts2);
	pod_targets_clear(&ts);
	pod_label_map_clear(&m);
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
		cmocka_unit_test(test_port_list),
		cmocka_unit_test(test_named_ports),
		cmocka_unit_test(test_only_container),
		cmocka_unit_test(test_bad_port_items),
		cmocka_unit_test(test_port_name_check),
		cmocka_unit_test(test_label_map),
		cmocka_unit_test(test_copied_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
