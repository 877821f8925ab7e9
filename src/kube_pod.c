/* kube_pod: Pod and PodList JSON from the API server, read into plain structs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/kube.h"
#include "kprofefe/xalloc.h"
#include "kube_internal.h"

static void kv_free(kube_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void containers_free(kube_container *c, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].image);
		free(c[i].image_id);
		for (j = 0; j < c[i].n_ports; j++) {
			free(c[i].ports[j].name);
			free(c[i].ports[j].protocol);
		}
		free(c[i].ports);
	}
	free(c);
}

void kube_pod_free(kube_pod *pod)
{
	size_t i;

	if (pod == NULL)
		return;
	free(pod->ns);
	free(pod->name);
	free(pod->uid);
	free(pod->node_name);
	free(pod->phase);
	free(pod->pod_ip);
	free(pod->resource_version);
	kv_free(pod->annotations, pod->n_annotations);
	kv_free(pod->labels, pod->n_labels);
	for (i = 0; i < pod->n_owners; i++) {
		free(pod->owners[i].kind);
		free(pod->owners[i].name);
	}
	free(pod->owners);
	containers_free(pod->containers, pod->n_containers);
	free(pod);
}

kube_pod *kube_pod_stub(const char *ns, const char *name, const char *uid)
{
	kube_pod *pod = xcalloc(1, sizeof(*pod));

	pod->ns = xstrdup(ns);
	pod->name = xstrdup(name);
	pod->uid = xstrdup(uid ? uid : "");
	pod->node_name = xstrdup("");
	pod->phase = xstrdup("");
	pod->pod_ip = xstrdup("");
	pod->resource_version = xstrdup("");
	return pod;
}

/* An optional string member copied into *out ("" when absent). */
static int opt_str(yajl_val obj, const char *where, const char *key, char **out, char *err,
		   size_t errlen)
{
	const char *s;

	if (kube_json_str(obj, key, &s) < 0)
		return kube_errf(err, errlen, "pod %s.%s is not a string", where, key);
	*out = xstrdup(s ? s : "");
	return 0;
}

/* A map of strings (labels, annotations); absent or null is empty. */
static int string_map(yajl_val obj, const char *key, kube_kv **out, size_t *n, char *err,
		      size_t errlen)
{
	yajl_val m = kube_json_get(obj, key);
	size_t i;

	*out = NULL;
	*n = 0;
	if (m == NULL || YAJL_IS_NULL(m))
		return 0;
	if (!YAJL_IS_OBJECT(m))
		return kube_errf(err, errlen, "pod metadata.%s is not an object", key);
	*out = xcalloc(m->u.object.len + 1, sizeof(**out));
	for (i = 0; i < m->u.object.len; i++) {
		yajl_val v = m->u.object.values[i];

		if (!YAJL_IS_STRING(v))
			return kube_errf(err, errlen, "pod metadata.%s[\"%s\"] is not a string", key,
					 m->u.object.keys[i]);
		(*out)[i].key = xstrdup(m->u.object.keys[i]);
		(*out)[i].value = xstrdup(v->u.string);
		*n = i + 1;
	}
	return 0;
}

static int owners(yajl_val meta, kube_pod *pod, char *err, size_t errlen)
{
	yajl_val arr = kube_json_get(meta, "ownerReferences");
	size_t i;

	if (arr == NULL || YAJL_IS_NULL(arr))
		return 0;
	if (!YAJL_IS_ARRAY(arr))
		return kube_errf(err, errlen, "pod metadata.ownerReferences is not a list");
	pod->owners = xcalloc(arr->u.array.len + 1, sizeof(*pod->owners));
	for (i = 0; i < arr->u.array.len; i++) {
		yajl_val o = arr->u.array.values[i], c = kube_json_get(o, "controller");
		const char *kind, *name;

		if (!YAJL_IS_OBJECT(o) || kube_json_str(o, "kind", &kind) < 0 ||
		    kube_json_str(o, "name", &name) < 0 || kind == NULL || name == NULL)
			return kube_errf(err, errlen, "pod metadata.ownerReferences[%zu] needs a kind "
					 "and a name", i);
		pod->owners[i].kind = xstrdup(kind);
		pod->owners[i].name = xstrdup(name);
		pod->owners[i].controller = YAJL_IS_TRUE(c);
		pod->n_owners = i + 1;
	}
	return 0;
}

/* A JSON array member, absent or null as NULL; -1 when of another type. */
static int opt_array(yajl_val obj, const char *key, yajl_val *out)
{
	yajl_val a = kube_json_get(obj, key);

	*out = NULL;
	if (a == NULL || YAJL_IS_NULL(a))
		return 0;
	if (!YAJL_IS_ARRAY(a))
		return -1;
	*out = a;
	return 0;
}

static int ports(yajl_val c, const char *where, size_t ci, kube_container *k, char *err,
		 size_t errlen)
{
	yajl_val arr;
	size_t i;

	if (opt_array(c, "ports", &arr) < 0)
		return kube_errf(err, errlen, "pod spec.%s[%zu].ports is not a list", where, ci);
	if (arr == NULL)
		return 0;
	k->ports = xcalloc(arr->u.array.len + 1, sizeof(*k->ports));
	for (i = 0; i < arr->u.array.len; i++) {
		yajl_val p = arr->u.array.values[i], num = kube_json_get(p, "containerPort");
		const char *name, *proto;

		if (!YAJL_IS_OBJECT(p) || !YAJL_IS_INTEGER(num) || YAJL_GET_INTEGER(num) < 1 ||
		    YAJL_GET_INTEGER(num) > 65535 || kube_json_str(p, "name", &name) < 0 ||
		    kube_json_str(p, "protocol", &proto) < 0)
			return kube_errf(err, errlen, "pod spec.%s[%zu].ports[%zu] needs a "
					 "containerPort in 1..65535 and string name and protocol",
					 where, ci, i);
		k->ports[i].port = (int)YAJL_GET_INTEGER(num);
		k->ports[i].name = xstrdup(name ? name : "");
		k->ports[i].protocol = xstrdup(proto && proto[0] ? proto : "TCP");
		k->n_ports = i + 1;
	}
	return 0;
}

/* Appends the containers of spec.<where>; init containers only when they are sidecars. */
static int containers(yajl_val spec, const char *where, int init, kube_pod *pod, char *err,
		      size_t errlen)
{
	yajl_val arr;
	size_t i;

	if (opt_array(spec, where, &arr) < 0)
		return kube_errf(err, errlen, "pod spec.%s is not a list", where);
	if (arr == NULL)
		return 0;
	pod->containers = xrealloc(pod->containers, (pod->n_containers + arr->u.array.len + 1) *
							    sizeof(*pod->containers));
	for (i = 0; i < arr->u.array.len; i++) {
		yajl_val c = arr->u.array.values[i];
		const char *name, *image, *restart;
		kube_container *k;

		if (!YAJL_IS_OBJECT(c) || kube_json_str(c, "name", &name) < 0 || name == NULL ||
		    kube_json_str(c, "image", &image) < 0 ||
		    kube_json_str(c, "restartPolicy", &restart) < 0)
			return kube_errf(err, errlen, "pod spec.%s[%zu] needs a name, and a string "
					 "image and restartPolicy", where, i);
		if (init && (restart == NULL || strcmp(restart, "Always") != 0))
			continue;
		k = &pod->containers[pod->n_containers++];
		memset(k, 0, sizeof(*k));
		k->name = xstrdup(name);
		k->image = xstrdup(image ? image : "");
		k->image_id = xstrdup("");
		k->sidecar = init;
		if (ports(c, where, i, k, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Sets image_id from status.<where>[] (matched by container name). */
static int image_ids(yajl_val status, const char *where, kube_pod *pod, char *err,
		     size_t errlen)
{
	yajl_val arr;
	size_t i, j;

	if (opt_array(status, where, &arr) < 0)
		return kube_errf(err, errlen, "pod status.%s is not a list", where);
	for (i = 0; arr != NULL && i < arr->u.array.len; i++) {
		const char *name, *id;

		if (kube_json_str(arr->u.array.values[i], "name", &name) < 0 ||
		    kube_json_str(arr->u.array.values[i], "imageID", &id) < 0)
			return kube_errf(err, errlen, "pod status.%s[%zu] has a name or imageID "
					 "that is not a string", where, i);
		for (j = 0; name != NULL && id != NULL && j < pod->n_containers; j++) {
			if (strcmp(pod->containers[j].name, name) != 0)
				continue;
			free(pod->containers[j].image_id);
			pod->containers[j].image_id = xstrdup(id);
		}
	}
	return 0;
}

static int required(yajl_val meta, const char *key, char **out, char *err, size_t errlen)
{
	const char *s;

	if (kube_json_str(meta, key, &s) < 0 || s == NULL || s[0] == '\0')
		return kube_errf(err, errlen, "pod metadata.%s is missing or not a string", key);
	*out = xstrdup(s);
	return 0;
}

kube_pod *kube_pod_from_json(yajl_val obj, char *err, size_t errlen)
{
	yajl_val meta = kube_json_get(obj, "metadata");
	yajl_val spec = kube_json_get(obj, "spec");
	yajl_val status = kube_json_get(obj, "status");
	yajl_val del = kube_json_get(meta, "deletionTimestamp");
	kube_pod *pod;

	if (!YAJL_IS_OBJECT(obj)) {
		kube_errf(err, errlen, "pod is not a JSON object");
		return NULL;
	}
	if (!YAJL_IS_OBJECT(meta)) {
		kube_errf(err, errlen, "pod has no metadata object");
		return NULL;
	}
	if ((spec != NULL && !YAJL_IS_OBJECT(spec) && !YAJL_IS_NULL(spec)) ||
	    (status != NULL && !YAJL_IS_OBJECT(status) && !YAJL_IS_NULL(status))) {
		kube_errf(err, errlen, "pod spec or status is not an object");
		return NULL;
	}
	pod = xcalloc(1, sizeof(*pod));
	if (required(meta, "name", &pod->name, err, errlen) < 0 ||
	    required(meta, "namespace", &pod->ns, err, errlen) < 0 ||
	    required(meta, "uid", &pod->uid, err, errlen) < 0 ||
	    opt_str(meta, "metadata", "resourceVersion", &pod->resource_version, err, errlen) < 0 ||
	    opt_str(spec, "spec", "nodeName", &pod->node_name, err, errlen) < 0 ||
	    opt_str(status, "status", "phase", &pod->phase, err, errlen) < 0 ||
	    opt_str(status, "status", "podIP", &pod->pod_ip, err, errlen) < 0 ||
	    string_map(meta, "annotations", &pod->annotations, &pod->n_annotations, err, errlen) < 0 ||
	    string_map(meta, "labels", &pod->labels, &pod->n_labels, err, errlen) < 0 ||
	    owners(meta, pod, err, errlen) < 0 ||
	    containers(spec, "containers", 0, pod, err, errlen) < 0 ||
	    containers(spec, "initContainers", 1, pod, err, errlen) < 0 ||
	    image_ids(status, "containerStatuses", pod, err, errlen) < 0 ||
	    image_ids(status, "initContainerStatuses", pod, err, errlen) < 0) {
		kube_pod_free(pod);
		return NULL;
	}
	pod->deleting = del != NULL && !YAJL_IS_NULL(del);
	return pod;
}

static const char *kv_find(const kube_kv *kv, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

const char *kube_pod_annotation(const kube_pod *pod, const char *key)
{
	return kv_find(pod->annotations, pod->n_annotations, key);
}

const char *kube_pod_label(const kube_pod *pod, const char *key)
{
	return kv_find(pod->labels, pod->n_labels, key);
}

const kube_owner *kube_pod_controller(const kube_pod *pod)
{
	size_t i;

	for (i = 0; i < pod->n_owners; i++)
		if (pod->owners[i].controller)
			return &pod->owners[i];
	return NULL;
}

static int is_tcp(const kube_port *p)
{
	return strcmp(p->protocol, "TCP") == 0;
}

const kube_port *kube_pod_named_port(const kube_pod *pod, const char *name,
				     const kube_container **container)
{
	size_t i, j;

	for (i = 0; i < pod->n_containers; i++) {
		for (j = 0; j < pod->containers[i].n_ports; j++) {
			const kube_port *p = &pod->containers[i].ports[j];

			if (is_tcp(p) && p->name[0] != '\0' && strcmp(p->name, name) == 0) {
				*container = &pod->containers[i];
				return p;
			}
		}
	}
	*container = NULL;
	return NULL;
}

const kube_container *kube_pod_port_container(const kube_pod *pod, int port)
{
	size_t i, j;

	for (i = 0; i < pod->n_containers; i++)
		for (j = 0; j < pod->containers[i].n_ports; j++)
			if (is_tcp(&pod->containers[i].ports[j]) &&
			    pod->containers[i].ports[j].port == port)
				return &pod->containers[i];
	return NULL;
}

void kube_pod_list_free(kube_pod_list *list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < list->n; i++)
		kube_pod_free(list->pods[i]);
	free(list->pods);
	free(list->resource_version);
	free(list->continue_token);
	free(list);
}

kube_pod_list *kube_pod_list_join(kube_pod_list *into, kube_pod_list *page)
{
	size_t i;

	if (into == NULL)
		return page;
	into->pods = xrealloc(into->pods, (into->n + page->n + 1) * sizeof(*into->pods));
	for (i = 0; i < page->n; i++)
		into->pods[into->n++] = page->pods[i];
	page->n = 0;
	free(into->resource_version);
	free(into->continue_token);
	into->resource_version = page->resource_version;
	into->continue_token = page->continue_token;
	page->resource_version = NULL;
	page->continue_token = NULL;
	kube_pod_list_free(page);
	return into;
}

kube_pod_list *kube_pod_list_parse(const char *json, char *err, size_t errlen)
{
	char perr[256], perr2[256];
	yajl_val root = yajl_tree_parse(json, perr, sizeof(perr));
	yajl_val items, meta;
	const char *rv = NULL, *kind = NULL, *cont = NULL;
	kube_pod_list *list = NULL;
	size_t i;

	if (root == NULL) {
		kube_errf(err, errlen, "pod list is not valid JSON: %s", perr);
		return NULL;
	}
	items = kube_json_get(root, "items");
	meta = kube_json_get(root, "metadata");
	kube_json_str(root, "kind", &kind);
	if (kind != NULL && strcmp(kind, "Status") == 0) {
		const char *msg = NULL;

		kube_json_str(root, "message", &msg);
		kube_errf(err, errlen, "API server answered: %s", msg ? msg : "(no message)");
		goto out;
	}
	if (!YAJL_IS_OBJECT(root) || (items != NULL && !YAJL_IS_ARRAY(items) && !YAJL_IS_NULL(items))) {
		kube_errf(err, errlen, "pod list has no items list");
		goto out;
	}
	if (kube_json_str(meta, "resourceVersion", &rv) < 0) {
		kube_errf(err, errlen, "pod list metadata.resourceVersion is not a string");
		goto out;
	}
	if (kube_json_str(meta, "continue", &cont) < 0) {
		kube_errf(err, errlen, "pod list metadata.continue is not a string");
		goto out;
	}
	list = xcalloc(1, sizeof(*list));
	list->resource_version = xstrdup(rv ? rv : "");
	list->continue_token = cont && cont[0] ? xstrdup(cont) : NULL;
	if (!YAJL_IS_ARRAY(items))
		goto out;
	list->pods = xcalloc(items->u.array.len + 1, sizeof(*list->pods));
	for (i = 0; i < items->u.array.len; i++) {
		kube_pod *p = kube_pod_from_json(items->u.array.values[i], perr2, sizeof(perr2));

		if (p == NULL) {
			kube_errf(err, errlen, "pod list item %zu: %s", i, perr2);
			kube_pod_list_free(list);
			list = NULL;
			goto out;
		}
		list->pods[list->n++] = p;
	}
out:
	yajl_tree_free(root);
	return list;
}
