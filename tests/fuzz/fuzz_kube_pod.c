/* fuzz_kube_pod: pod lists and pods as the API server's JSON, and their annotations as
 * scrape targets. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "kprofefe/kube.h"
#include "kprofefe/pod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void target(const kube_pod *pod)
{
	pod_target *t = NULL;
	pod_targets ts;
	pod_label_map m;
	pod_defaults d;
	char err[256];
	char *svc = pod_service_name(pod);

	free(svc);
	(void)kube_pod_controller(pod);
	if (pod_target_from(pod, NULL, &t, err, sizeof(err)) == POD_TARGET)
		pod_target_free(t);
	/* Every port list and copied label, as the collector asks for them. */
	pod_defaults_init(&d);
	if (pod_label_map_parse("app.kubernetes.io/version,team=example.com/team,app", &m, err,
				sizeof(err)) != 0)
		abort();
	d.labels = &m;
	if (pod_targets_from(pod, &d, &ts, err, sizeof(err)) == POD_TARGET)
		pod_targets_clear(&ts);
	pod_label_map_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	char *json = malloc(size + 1);

	memcpy(json, data, size);
	json[size] = '\0';
	kube_pod_list *list = kube_pod_list_parse(json, err, sizeof(err));
	if (list) {
		for (size_t i = 0; i < list->n; i++)
			target(list->pods[i]);
		kube_pod_list_free(list);
	}
	yajl_val root = yajl_tree_parse(json, NULL, 0);
	if (root) {
		kube_pod *pod = kube_pod_from_json(root, err, sizeof(err));
		if (pod) {
			target(pod);
			kube_pod_free(pod);
		}
		yajl_tree_free(root);
	}
	free(json);
	return 0;
}
