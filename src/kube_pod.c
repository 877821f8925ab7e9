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
	    owners(meta, pod, err, errlen) < 0) {
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
