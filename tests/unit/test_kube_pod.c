/* Tests of kube_pod: Pod and PodList JSON, malformed inputs, and pod proxy paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kprofefe/buf.h"
#include "kprofefe/kube.h"
#include "kprofefe/xalloc.h"

static char *read_data(const char *name)
{
	const char *dir = getenv("KPROFEFE_TEST_DATA");
	char *path = xasprintf("%s/kube/%s", dir ? dir : "tests/data", name);
	FILE *f = fopen(path, "r");
	buf_t b = BUF_INIT;
	char chunk[4096];
	size_t n;

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	free(path);
	return buf_detach(&b);
}

static kube_pod *parse(const char *json, char *err, size_t errlen)
{
	char perr[128];
	yajl_val root = yajl_tree_parse(json, perr, sizeof(perr));
	kube_pod *pod;

	assert_non_null(root);
	pod = kube_pod_from_json(root, err, errlen);
	yajl_tree_free(root);
	return pod;
}

static void test_full_pod(void **state)
{
	char *json = read_data("pod.json");
	char err[256] = "";
	kube_pod *pod = parse(json, err, sizeof(err));
	const kube_owner *ctl;

	(void)state;
	assert_non_null(pod);
	assert_string_equal(pod->ns, "shop");
	assert_string_equal(pod->name, "web-7d4b9c-x2k4p");
	assert_string_equal(pod->uid, "0c4f2d3e-1111-4a6b-9e2f-3b1a2c3d4e5f");
	assert_string_equal(pod->node_name, "node-1");
	assert_string_equal(pod->phase, "Running");
	assert_string_equal(pod->pod_ip, "10.244.1.7");
	assert_string_equal(pod->resource_version, "48213");
	assert_int_equal(pod->deleting, 0);
	assert_string_equal(kube_pod_annotation(pod, "profefe.com/port"), "6060");
	assert_string_equal(kube_pod_annotation(pod, "profefe.com/service"), "web");
	assert_null(kube_pod_annotation(pod, "profefe.com/path"));
	assert_string_equal(kube_pod_label(pod, "app"), "web");
	assert_null(kube_pod_label(pod, "web"));
	assert_int_equal(pod->n_owners, 2);
	ctl = kube_pod_controller(pod);
	assert_non_null(ctl);
	assert_string_equal(ctl->kind, "ReplicaSet");
	assert_string_equal(ctl->name, "web-7d4b9c");
	assert_int_equal(pod->owners[0].controller, 0);
	kube_pod_free(pod);
	free(json);
}

static void test_minimal_pod(void **state)
{
	char err[256] = "";
	kube_pod *pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\","
			      "\"labels\":null,\"deletionTimestamp\":\"2024-05-01T10:00:00Z\"}}",
			      err, sizeof(err));

	(void)state;
	assert_non_null(pod);
	assert_string_equal(pod->node_name, "");
	assert_string_equal(pod->phase, "");
	assert_string_equal(pod->pod_ip, "");
	assert_int_equal(pod->deleting, 1);
	assert_int_equal(pod->n_labels, 0);
	assert_null(kube_pod_controller(pod));
	assert_null(kube_pod_label(pod, "app"));
	kube_pod_free(pod);

	pod = kube_pod_stub("n", "p", "u");
	assert_string_equal(pod->ns, "n");
	assert_string_equal(pod->pod_ip, "");
	kube_pod_free(pod);
}

static void check_bad(const char *json, const char *want)
{
	char err[256] = "";
	kube_pod *pod = parse(json, err, sizeof(err));

	assert_null(pod);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

#define META "\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\""

static void test_malformed(void **state)
{
	(void)state;
	check_bad("[]", "not a JSON object");
	check_bad("\"pod\"", "not a JSON object");
	check_bad("{}", "no metadata");
	check_bad("{\"metadata\":[]}", "no metadata");
	check_bad("{\"metadata\":{\"namespace\":\"n\",\"uid\":\"u\"}}", "metadata.name");
	check_bad("{\"metadata\":{\"name\":3,\"namespace\":\"n\",\"uid\":\"u\"}}", "metadata.name");
	check_bad("{\"metadata\":{\"name\":\"p\",\"uid\":\"u\"}}", "metadata.namespace");
	check_bad("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"}}", "metadata.uid");
	check_bad("{\"metadata\":{" META ",\"labels\":[]}}", "metadata.labels");
	check_bad("{\"metadata\":{" META ",\"annotations\":{\"a\":1}}}", "annotations[\"a\"]");
	check_bad("{\"metadata\":{" META ",\"ownerReferences\":{}}}", "ownerReferences");
	check_bad("{\"metadata\":{" META ",\"ownerReferences\":[{\"kind\":\"X\"}]}}",
		  "ownerReferences[0]");
	check_bad("{\"metadata\":{" META ",\"resourceVersion\":5}}", "resourceVersion");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"nodeName\":true}}", "spec.nodeName");
	check_bad("{\"metadata\":{" META "},\"status\":{\"podIP\":[]}}", "status.podIP");
	check_bad("{\"metadata\":{" META "},\"status\":7}", "status");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":{}}}", "spec.containers");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":[{}]}}", "spec.containers[0]");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":[{\"name\":\"a\","
		  "\"image\":1}]}}", "spec.containers[0]");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"initContainers\":[{\"name\":\"a\","
		  "\"restartPolicy\":true}]}}", "spec.initContainers[0]");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":[{\"name\":\"a\","
		  "\"ports\":{}}]}}", "spec.containers[0].ports");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":[{\"name\":\"a\","
		  "\"ports\":[{\"containerPort\":\"80\"}]}]}}", "spec.containers[0].ports[0]");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":[{\"name\":\"a\","
		  "\"ports\":[{\"containerPort\":70000}]}]}}", "ports[0] needs a containerPort");
	check_bad("{\"metadata\":{" META "},\"spec\":{\"containers\":[{\"name\":\"a\","
		  "\"ports\":[{\"containerPort\":80},{\"containerPort\":81,\"name\":5}]}]}}",
		  "ports[1]");
	check_bad("{\"metadata\":{" META "},\"status\":{\"containerStatuses\":7}}",
		  "status.containerStatuses");
	check_bad("{\"metadata\":{" META "},\"status\":{\"initContainerStatuses\":[{"
		  "\"name\":\"a\",\"imageID\":1}]}}", "status.initContainerStatuses[0]");
}

static void test_containers(void **state)
{
	char err[256] = "";
	kube_pod *pod = parse(
		"{\"metadata\":{" META "},\"spec\":{"
		"\"initContainers\":[{\"name\":\"setup\",\"image\":\"busybox\",\"ports\":["
		"{\"name\":\"init\",\"containerPort\":9090}]},"
		"{\"name\":\"proxy\",\"image\":\"auth/proxy:1.4\",\"restartPolicy\":\"Always\","
		"\"ports\":[{\"name\":\"admin\",\"containerPort\":7070,\"protocol\":\"TCP\"}]}],"
		"\"containers\":[{\"name\":\"app\",\"image\":\"shop/web:v2\",\"ports\":["
		"{\"containerPort\":8080},"
		"{\"name\":\"dns\",\"containerPort\":5353,\"protocol\":\"UDP\"},"
		"{\"name\":\"pprof\",\"containerPort\":6060}]},"
		"{\"name\":\"bare\",\"ports\":null}]},"
		"\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"imageID\":"
		"\"shop/web@sha256:01\"},{\"name\":\"gone\",\"imageID\":\"x\"},{\"name\":\"bare\"}],"
		"\"initContainerStatuses\":[{\"name\":\"proxy\",\"imageID\":\"sha256:02\"}]}}",
		err, sizeof(err));
	const kube_container *c;
	const kube_port *p;

	(void)state;
	if (pod == NULL)
		fail_msg("%s", err);
	/* The containers first, then the sidecars; a plain init container is left out. */
	assert_int_equal(pod->n_containers, 3);
	assert_string_equal(pod->containers[0].name, "app");
	assert_string_equal(pod->containers[0].image, "shop/web:v2");
	assert_string_equal(pod->containers[0].image_id, "shop/web@sha256:01");
	assert_int_equal(pod->containers[0].sidecar, 0);
	assert_int_equal(pod->containers[0].n_ports, 3);
	assert_string_equal(pod->containers[0].ports[0].name, "");
	assert_string_equal(pod->containers[0].ports[0].protocol, "TCP");
	assert_string_equal(pod->containers[0].ports[1].protocol, "UDP");
	assert_string_equal(pod->containers[1].name, "bare");
	assert_string_equal(pod->containers[1].image, "");
	assert_string_equal(pod->containers[1].image_id, "");
	assert_int_equal(pod->containers[1].n_ports, 0);
	assert_string_equal(pod->containers[2].name, "proxy");
	assert_int_equal(pod->containers[2].sidecar, 1);
	assert_string_equal(pod->containers[2].image_id, "sha256:02");

	p = kube_pod_named_port(pod, "pprof", &c);
	assert_non_null(p);
	assert_int_equal(p->port, 6060);
	assert_string_equal(c->name, "app");
	p = kube_pod_named_port(pod, "admin", &c);
	assert_non_null(p);
	assert_string_equal(c->name, "proxy");
	assert_null(kube_pod_named_port(pod, "dns", &c)); /* UDP */
	assert_null(c);
	assert_null(kube_pod_named_port(pod, "init", &c)); /* not running with the pod */
	assert_null(kube_pod_named_port(pod, "", &c));     /* unnamed ports have no name */
	assert_string_equal(kube_pod_port_container(pod, 8080)->name, "app");
	assert_string_equal(kube_pod_port_container(pod, 7070)->name, "proxy");
	assert_null(kube_pod_port_container(pod, 5353));
	assert_null(kube_pod_port_container(pod, 9090));
	kube_pod_free(pod);
}

static void test_list(void **state)
{
	char *json = read_data("podlist.json");
	char err[256] = "";
	kube_pod_list *list = kube_pod_list_parse(json, err, sizeof(err));

	(void)state;
	assert_non_null(list);
	assert_string_equal(list->resource_version, "900");
	assert_int_equal(list->n, 2);
	assert_string_equal(list->pods[0]->name, "a");
	assert_string_equal(list->pods[1]->pod_ip, "10.0.0.2");
	assert_int_equal(list->pods[1]->deleting, 1);
	kube_pod_list_free(list);
	free(json);

	list = kube_pod_list_parse("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},"
				   "\"items\":[]}",
				   err, sizeof(err));
	assert_non_null(list);
	assert_int_equal(list->n, 0);
	kube_pod_list_free(list);
}

/* A paged list: each page's pods in order, then the last page's version and no token. */
static void test_list_pages(void **state)
{
	char err[256] = "";
	kube_pod_list *all, *page;

	(void)state;
	all = kube_pod_list_parse("{\"metadata\":{\"resourceVersion\":\"5\",\"continue\":\"tok=1\"},"
				  "\"items\":[{\"metadata\":{" META "}}]}",
				  err, sizeof(err));
	assert_non_null(all);
	assert_string_equal(all->continue_token, "tok=1");
	page = kube_pod_list_parse("{\"metadata\":{\"resourceVersion\":\"5\",\"continue\":\"\"},"
				   "\"items\":[{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\","
				   "\"uid\":\"u2\"}}]}",
				   err, sizeof(err));
	assert_non_null(page);
	assert_null(page->continue_token);
	all = kube_pod_list_join(all, page);
	assert_int_equal(all->n, 2);
	assert_string_equal(all->pods[1]->name, "b");
	assert_string_equal(all->resource_version, "5");
	assert_null(all->continue_token);
	kube_pod_list_free(all);
	assert_null(kube_pod_list_parse("{\"metadata\":{\"resourceVersion\":\"1\",\"continue\":3}}",
					err, sizeof(err)));
	assert_non_null(strstr(err, "metadata.continue"));
}

static void test_list_malformed(void **state)
{
	char err[256] = "";

	(void)state;
	assert_null(kube_pod_list_parse("{\"items\":[", err, sizeof(err)));
	assert_non_null(strstr(err, "not valid JSON"));
	assert_null(kube_pod_list_parse("{\"items\":{}}", err, sizeof(err)));
	assert_non_null(strstr(err, "items"));
	assert_null(kube_pod_list_parse("{\"metadata\":{\"resourceVersion\":1},\"items\":[]}", err,
					sizeof(err)));
	assert_non_null(strstr(err, "resourceVersion"));
	assert_null(kube_pod_list_parse("{\"items\":[{\"metadata\":{" META "}},{\"metadata\":{}}]}",
					err, sizeof(err)));
	assert_non_null(strstr(err, "item 1: pod metadata.name"));
	assert_null(kube_pod_list_parse("{\"kind\":\"Status\",\"code\":403,\"message\":\"pods is "
					"forbidden\"}",
					err, sizeof(err)));
	assert_non_null(strstr(err, "pods is forbidden"));
}

static void test_proxy_path(void **state)
{
	char *p;

	(void)state;
	p = kube_pod_proxy_path("ns", NULL, "web-1", 6060, "/debug/pprof/profile?seconds=10");
	assert_string_equal(p, "/api/v1/namespaces/ns/pods/web-1:6060/proxy/debug/pprof/profile?seconds=10");
	free(p);
	p = kube_pod_proxy_path("a b", NULL, "x/y", 80, "/");
	assert_string_equal(p, "/api/v1/namespaces/a%20b/pods/x%2Fy:80/proxy/");
	free(p);
	p = kube_pod_proxy_path("ns", "https", "web-1", 8443, "/debug/pprof/heap");
	assert_string_equal(p, "/api/v1/namespaces/ns/pods/https:web-1:8443/proxy/debug/pprof/heap");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_pod),       cmocka_unit_test(test_minimal_pod),
		cmocka_unit_test(test_malformed),      cmocka_unit_test(test_list),
		cmocka_unit_test(test_list_malformed), cmocka_unit_test(test_proxy_path),
		cmocka_unit_test(test_list_pages),     cmocka_unit_test(test_containers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
