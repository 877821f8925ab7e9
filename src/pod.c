/* pod: decides whether a pod is a scrape target and builds it from its annotations. */
#include "kprofefe/pod.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/pprof.h"
#include "kprofefe/profefe.h"
#include "kprofefe/xalloc.h"

void pod_defaults_init(pod_defaults *d)
{
	d->port = POD_DEFAULT_PORT;
	d->path = POD_DEFAULT_PATH;
	d->types = PPROF_DEFAULT_TYPES;
	d->cpu_seconds = 10;
	d->min_cpu_seconds = 1;
	d->max_cpu_seconds = 300;
	d->delta = PPROF_DELTA_SECONDS;
}

/* ---- validators ------------------------------------------------------------------------ */

static int is_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
	}
	return 1;
}

/* Digits only, at most 9 of them (so no overflow), value in [min, max]. */
static int parse_bounded(const char *s, long min, long max, long *out)
{
	if (!is_digits(s) || strlen(s) > 9)
		return -1;
	long v = strtol(s, NULL, 10);
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int pod_port_parse(const char *s, int *port, char *err, size_t errlen)
{
	long v;

	if (parse_bounded(s, 1, 65535, &v) != 0) {
		snprintf(err, errlen, "not a port (1..65535)");
		return -1;
	}
	*port = (int)v;
	return 0;
}

int pod_path_check(const char *s, char **out, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (s[0] != '/') {
		snprintf(err, errlen, "must start with '/'");
		return -1;
	}
	if (len > POD_MAX_PATH_LEN) {
		snprintf(err, errlen, "longer than %d bytes", POD_MAX_PATH_LEN);
		return -1;
	}
	if (strstr(s, "..") != NULL) {
		snprintf(err, errlen, "must not contain \"..\"");
		return -1;
	}
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		/* Each of these would change what the URL means, or hide a second request. */
		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\') {
			snprintf(err, errlen, "must not contain spaces, control characters, "
					      "non-ASCII, '?', '#', '%%' or '\\'");
			return -1;
		}
	}
	while (len > 0 && s[len - 1] == '/')
		len--;
	*out = xstrndup(s, len);
	return 0;
}

int pod_service_check(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (len == 0) {
		snprintf(err, errlen, "empty");
		return -1;
	}
	if (len > POD_MAX_SERVICE_LEN) {
		snprintf(err, errlen, "longer than %d bytes", POD_MAX_SERVICE_LEN);
		return -1;
	}
	if (s[0] == ' ' || s[len - 1] == ' ') {
		snprintf(err, errlen, "leading or trailing space");
		return -1;
	}
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f) {
			snprintf(err, errlen, "not printable ASCII");
			return -1;
		}
	}
	return 0;
}

/* ---- service name ------------------------------------------------------------------------ */

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* The Deployment of a ReplicaSet named <deployment>-<hash>, or NULL. */
static char *deployment_of(const kube_pod *pod, const char *rs)
{
	const char *hash = kube_pod_label(pod, "pod-template-hash");
	size_t rs_len = strlen(rs), hash_len;

	if (hash == NULL || *hash == '\0')
		return NULL;
	hash_len = strlen(hash);
	if (rs_len < hash_len + 2 || rs[rs_len - hash_len - 1] != '-' ||
	    strcmp(rs + rs_len - hash_len, hash) != 0)
		return NULL;
	return xstrndup(rs, rs_len - hash_len - 1);
}

/* The CronJob of a Job named <cronjob>-<digits>, or NULL. */
static char *cronjob_of(const char *job)
{
	const char *dash = strrchr(job, '-');

	if (dash == NULL || dash == job || !is_digits(dash + 1))
		return NULL;
	return xstrndup(job, (size_t)(dash - job));
}

char *pod_service_name(const kube_pod *pod)
{
	const kube_owner *owner = kube_pod_controller(pod);
	char *name;

	if (owner == NULL || owner->name == NULL || owner->name[0] == '\0' || owner->kind == NULL)
		return xstrdup(str_or_empty(pod->name));
	if (strcmp(owner->kind, "ReplicaSet") == 0) {
		name = deployment_of(pod, owner->name);
		return name ? name : xstrdup(owner->name);
	}
	if (strcmp(owner->kind, "Job") == 0) {
		name = cronjob_of(owner->name);
		return name ? name : xstrdup(owner->name);
	}
	if (strcmp(owner->kind, "StatefulSet") == 0 || strcmp(owner->kind, "DaemonSet") == 0)
		return xstrdup(owner->name);
	return xstrdup(str_or_empty(pod->name));
}

/* ---- targets ------------------------------------------------------------------------------ */

/* Writes the INVALID message naming the pod, the annotation and its value; returns -1. */
static int bad_annotation(const kube_pod *pod, const char *key, const char *value,
			  const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "pod %s/%s: annotation %s=\"%.*s\": %s", str_or_empty(pod->ns),
		 str_or_empty(pod->name), key, 300, value, why);
	return -1;
}

static enum pod_verdict ignored(const char *reason, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", reason);
	return POD_IGNORED;
}

static int ip_ok(const char *ip)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, ip, addr) == 1 || inet_pton(AF_INET6, ip, addr) == 1;
}

/* Reads the optional annotations into t; on failure err is set and -1 returned. */
static int read_annotations(const kube_pod *pod, const pod_defaults *d, pod_target *t,
			    char *err, size_t errlen)
{
	const char *v;
	char why[256];
	long secs;

	t->port = d->port;
	v = kube_pod_annotation(pod, POD_ANN_PORT);
	if (v && pod_port_parse(v, &t->port, why, sizeof(why)) != 0)
		return bad_annotation(pod, POD_ANN_PORT, v, why, err, errlen);

	v = kube_pod_annotation(pod, POD_ANN_PATH);
	if (v && pod_path_check(v, &t->path, why, sizeof(why)) != 0)
		return bad_annotation(pod, POD_ANN_PATH, v, why, err, errlen);
	if (v == NULL && pod_path_check(d->path, &t->path, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "default path \"%s\": %s", d->path, why);
		return -1;
	}

	v = kube_pod_annotation(pod, POD_ANN_SERVICE);
	if (v && pod_service_check(v, why, sizeof(why)) != 0)
		return bad_annotation(pod, POD_ANN_SERVICE, v, why, err, errlen);
	t->service = v ? xstrdup(v) : pod_service_name(pod);

	t->types = d->types;
	v = kube_pod_annotation(pod, POD_ANN_PROFILES);
	if (v && pprof_types_parse(v, &t->types, why, sizeof(why)) != 0)
		return bad_annotation(pod, POD_ANN_PROFILES, v, why, err, errlen);

	t->cpu_seconds = d->cpu_seconds < d->max_cpu_seconds ? d->cpu_seconds : d->max_cpu_seconds;
	v = kube_pod_annotation(pod, POD_ANN_CPU_SECONDS);
	if (v) {
		if (parse_bounded(v, d->min_cpu_seconds, d->max_cpu_seconds, &secs) != 0) {
			snprintf(why, sizeof(why), "not a whole number of seconds in %d..%d",
				 d->min_cpu_seconds, d->max_cpu_seconds);
			return bad_annotation(pod, POD_ANN_CPU_SECONDS, v, why, err, errlen);
		}
		t->cpu_seconds = (int)secs;
	}

	t->delta = d->delta;
	v = kube_pod_annotation(pod, POD_ANN_DELTA);
	if (v && pprof_delta_parse(v, &t->delta) != 0)
		return bad_annotation(pod, POD_ANN_DELTA, v,
				      "not \"true\", \"false\" or \"godeltaprof\"", err, errlen);
	const char *key;
	if (pod_tls_read(pod, d->tls, &t->tls, &key, &v, why, sizeof(why)) != 0)
		return bad_annotation(pod, key, v, why, err, errlen);
	return 0;
}

enum pod_verdict pod_target_from(const kube_pod *pod, const pod_defaults *defaults,
				 pod_target **out, char *err, size_t errlen)
{
	pod_defaults dflt;
	const char *enable = kube_pod_annotation(pod, POD_ANN_ENABLE);
	const char *ip = str_or_empty(pod->pod_ip);
	pod_target *t;

	*out = NULL;
	if (defaults == NULL) {
		pod_defaults_init(&dflt);
		defaults = &dflt;
	}
	if (enable ? strcmp(enable, "true") != 0 : !defaults->named)
		return ignored("not_enabled", err, errlen);
	if (pod->deleting)
		return ignored("deleting", err, errlen);
	if (pod->phase == NULL || strcmp(pod->phase, "Running") != 0)
		return ignored("not_running", err, errlen);

	t = xcalloc(1, sizeof(*t));
	if (read_annotations(pod, defaults, t, err, errlen) != 0) {
		pod_target_free(t);
		return POD_INVALID;
	}
	if (*ip == '\0' || !ip_ok(ip)) {
		pod_target_free(t);
		return ignored(*ip == '\0' ? "no_pod_ip" : "bad_pod_ip", err, errlen);
	}

	t->ns = xstrdup(str_or_empty(pod->ns));
	t->name = xstrdup(str_or_empty(pod->name));
	t->key = xasprintf("%s/%s", t->ns, t->name);
	t->uid = xstrdup(str_or_empty(pod->uid));
	t->node = xstrdup(str_or_empty(pod->node_name));
	t->ip = xstrdup(ip);
	t->base_url = pod_tls_base_url(&t->tls, ip, t->port, t->path);

	const char *kv[9];
	size_t n = 0;
	kv[n++] = "namespace";
	kv[n++] = t->ns;
	kv[n++] = "pod";
	kv[n++] = t->name;
	if (*t->node != '\0') {
		kv[n++] = "node";
		kv[n++] = t->node;
	}
	kv[n++] = "from";
	kv[n++] = "kube-profefe";
	kv[n] = NULL;
	t->labels = profefe_labels_encode(kv);
	*out = t;
	return POD_TARGET;
}

void pod_target_free(pod_target *t)
{
	if (t == NULL)
		return;
	free(t->key);
	free(t->ns);
	free(t->name);
	free(t->uid);
	free(t->node);
	free(t->ip);
	free(t->path);
	free(t->service);
	free(t->labels);
	free(t->base_url);
	pod_tls_clear(&t->tls);
	free(t);
}

static int str_eq(const char *a, const char *b)
{
	return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
}

int pod_target_equal(const pod_target *a, const pod_target *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return str_eq(a->key, b->key) && str_eq(a->uid, b->uid) && str_eq(a->node, b->node) &&
	       str_eq(a->ip, b->ip) && a->port == b->port && str_eq(a->path, b->path) &&
	       str_eq(a->service, b->service) && a->types == b->types &&
	       a->cpu_seconds == b->cpu_seconds && a->delta == b->delta &&
	       str_eq(a->labels, b->labels) &&
	       str_eq(a->base_url, b->base_url) && pod_tls_equal(&a->tls, &b->tls);
}
