/* pod: decides whether a pod is a scrape target and builds it from its annotations. */
#include "kprofefe/pod.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/buf.h"
#include "kprofefe/delta.h"
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
	d->labels = NULL;
	d->tls = NULL;
	d->named = 0;
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

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int pod_port_name_check(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);
	int letter = 0;

	if (len == 0 || len > POD_MAX_PORT_NAME_LEN) {
		snprintf(err, errlen, "not a port name (1..%d characters)", POD_MAX_PORT_NAME_LEN);
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (!is_lower_alnum(*p) && *p != '-') {
			snprintf(err, errlen, "not a port number nor a port name (a-z, 0-9, '-')");
			return -1;
		}
		letter |= *p >= 'a' && *p <= 'z';
	}
	if (!letter || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--") != NULL) {
		snprintf(err, errlen, "not a port name (a letter at least, no '-' at either end "
				      "nor \"--\")");
		return -1;
	}
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

/* ---- pod labels copied into profile labels ---------------------------------------------- */

static const char *const reserved_keys[] = {
	"namespace", "pod", "node", "from", POD_LABEL_CONTAINER, POD_LABEL_PORT,
	POD_LABEL_IMAGE, POD_LABEL_DIGEST, DELTA_LABEL, DELTA_WINDOW_LABEL, NULL,
};

int pod_label_reserved(const char *key)
{
	for (size_t i = 0; reserved_keys[i]; i++)
		if (strcmp(reserved_keys[i], key) == 0)
			return 1;
	return 0;
}

static int is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A Kubernetes label name: 1..63 of [A-Za-z0-9_.-], alphanumeric at both ends. */
static int label_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > POD_MAX_LABEL_KEY_LEN || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

/* A Kubernetes label key: [prefix/]name, the prefix a DNS subdomain (checked loosely:
 * 1..253 of [a-z0-9.-]). */
static int label_key_ok(const char *s)
{
	const char *slash = strrchr(s, '/');

	if (slash == NULL)
		return label_name_ok(s, strlen(s));
	if (slash == s || (size_t)(slash - s) > 253 || !label_name_ok(slash + 1, strlen(slash + 1)))
		return 0;
	for (const char *p = s; p < slash; p++)
		if (!is_lower_alnum(*p) && *p != '-' && *p != '.')
			return 0;
	return 1;
}

static char *trimmed(const char *s, size_t len)
{
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	return xstrndup(s, len);
}

/* Checks one --pod-labels item and appends it to m; -1 with err naming it. */
static int label_copy_add(pod_label_map *m, char *item, char *err, size_t errlen)
{
	char *eq = strchr(item, '=');
	const char *label = eq ? eq + 1 : item;
	const char *slash = strrchr(label, '/');
	char *key = eq ? xstrndup(item, (size_t)(eq - item)) : xstrdup(slash ? slash + 1 : label);
	const char *why = NULL;

	if (!label_key_ok(label))
		why = "not a Kubernetes label key";
	else if (!label_name_ok(key, strlen(key)))
		why = "the stored key is not a label name (1..63 of A-Z a-z 0-9 _ . -)";
	else if (pod_label_reserved(key))
		why = "the stored key is one kprofefe sets itself (name another with key=label)";
	for (size_t i = 0; why == NULL && i < m->n; i++)
		if (strcmp(m->v[i].key, key) == 0)
			why = "two items store the same key (name one with key=label)";
	if (why) {
		snprintf(err, errlen, "pod label \"%.200s\" (stored as \"%.80s\"): %s", item, key,
			 why);
		free(key);
		return -1;
	}
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n].label = xstrdup(label);
	m->v[m->n].key = key;
	m->n++;
	return 0;
}

int pod_label_map_parse(const char *spec, pod_label_map *out, char *err, size_t errlen)
{
	const char *p = spec;

	out->v = NULL;
	out->n = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *item = trimmed(p, len);
		int rc = label_copy_add(out, item, err, errlen);

		free(item);
		if (rc != 0) {
			pod_label_map_clear(out);
			return -1;
		}
		p += len + (comma != NULL);
	}
	return 0;
}

void pod_label_map_clear(pod_label_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].label);
		free(m->v[i].key);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* ---- service name ------------------------------------------------------------------------ */

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int str_eq(const char *a, const char *b)
{
	return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
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

/* Reads the annotations every target of the pod shares into t (all but the port); on
 * failure err is set and -1 returned. */
static int read_annotations(const kube_pod *pod, const pod_defaults *d, pod_target *t,
			    char *err, size_t errlen)
{
	const char *v;
	char why[256];
	long secs;

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

/* ---- the port list ---- */

/* One accepted item of profefe.com/port. */
typedef struct port_item {
	int port;
	const kube_container *container; /* the one that declares it, or NULL */
} port_item;

typedef struct port_list {
	port_item v[POD_MAX_PORTS];
	size_t n;      /* accepted */
	size_t listed; /* items in the annotation */
	buf_t refused; /* "item \"x\": why; ..." */
} port_list;

static void refuse_item(port_list *l, const char *item, const char *why)
{
	if (l->listed == 1) { /* the value is the item: as a one-port pod was always told */
		buf_append_str(&l->refused, why);
		return;
	}
	buf_printf(&l->refused, "%sitem \"%.40s\": %s", l->refused.len ? "; " : "", item, why);
}

/* The pod's only container: the program behind any port of the pod. */
static const kube_container *sole_container(const kube_pod *pod)
{
	return pod->n_containers == 1 ? &pod->containers[0] : NULL;
}

/* Resolves one item (a number or a port name) into *it; NULL, or why not. */
static const char *port_item_resolve(const kube_pod *pod, const char *item, port_item *it,
				     char *why, size_t whylen)
{
	if (item[0] >= '0' && item[0] <= '9') {
		if (pod_port_parse(item, &it->port, why, whylen) != 0)
			return why;
		it->container = kube_pod_port_container(pod, it->port);
		return NULL;
	}
	if (pod_port_name_check(item, why, whylen) != 0)
		return why;
	const kube_port *kp = kube_pod_named_port(pod, item, &it->container);
	if (kp == NULL)
		return "no container declares a TCP port of that name";
	it->port = kp->port;
	return NULL;
}

/* Appends item to l, or notes why it is refused. */
static void port_item_add(const kube_pod *pod, port_list *l, const char *item)
{
	port_item it = {0};
	char why[160];
	const char *bad = port_item_resolve(pod, item, &it, why, sizeof(why));

	for (size_t i = 0; bad == NULL && i < l->n; i++) {
		if (l->v[i].port == it.port) {
			snprintf(why, sizeof(why), "port %d is listed already", it.port);
			bad = why;
		}
	}
	if (bad) {
		refuse_item(l, item, bad);
		return;
	}
	if (it.container == NULL)
		it.container = sole_container(pod);
	l->v[l->n++] = it;
}

/* Splits the annotation (or the default port) into l. -1 with err when the annotation
 * is refused whole: more items than POD_MAX_PORTS. */
static int port_list_read(const kube_pod *pod, const pod_defaults *d, port_list *l,
			  char *err, size_t errlen)
{
	const char *v = kube_pod_annotation(pod, POD_ANN_PORT), *p = v;

	memset(l, 0, sizeof(*l));
	if (v == NULL) {
		l->v[0].port = d->port;
		l->v[0].container = kube_pod_port_container(pod, d->port);
		if (l->v[0].container == NULL)
			l->v[0].container = sole_container(pod);
		l->n = l->listed = 1;
		return 0;
	}
	for (l->listed = 1; *p; p++)
		l->listed += *p == ',';
	if (l->listed > POD_MAX_PORTS) {
		char why[64];
		snprintf(why, sizeof(why), "more than %d items", POD_MAX_PORTS);
		return bad_annotation(pod, POD_ANN_PORT, v, why, err, errlen);
	}
	for (p = v;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *item = xstrndup(p, len);

		if (item[0] == '\0')
			refuse_item(l, item, "empty: not a port (1..65535) nor a port name");
		else
			port_item_add(pod, l, item);
		free(item);
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

/* ---- targets ---- */

/* The digest of an imageID ("repo@sha256:..." or "docker-pullable://repo@sha256:..."),
 * or NULL. Borrowed from id. */
static const char *image_digest(const char *id)
{
	const char *at = strrchr(id, '@');

	if (at != NULL && at[1] != '\0')
		return at + 1;
	return strncmp(id, "sha256:", 7) == 0 ? id : NULL;
}

/* Encodes the labels of t (see pod.h) from pod's metadata and item. */
static char *target_labels(const kube_pod *pod, const pod_defaults *d, const pod_target *t,
			   const port_item *item, int several)
{
	size_t ncopies = d->labels ? d->labels->n : 0, n = 0;
	const char **kv = xcalloc(2 * (8 + ncopies) + 1, sizeof(*kv));
	char port[16];
	char *labels;

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
	if (item->container) {
		const char *digest = image_digest(item->container->image_id);
		kv[n++] = POD_LABEL_CONTAINER;
		kv[n++] = item->container->name;
		if (item->container->image[0] != '\0') {
			kv[n++] = POD_LABEL_IMAGE;
			kv[n++] = item->container->image;
		}
		if (digest) {
			kv[n++] = POD_LABEL_DIGEST;
			kv[n++] = digest;
		}
	}
	if (several) {
		snprintf(port, sizeof(port), "%d", item->port);
		kv[n++] = POD_LABEL_PORT;
		kv[n++] = port;
	}
	for (size_t i = 0; i < ncopies; i++) {
		const char *value = kube_pod_label(pod, d->labels->v[i].label);
		if (value == NULL)
			continue;
		kv[n++] = d->labels->v[i].key;
		kv[n++] = value;
	}
	kv[n] = NULL;
	labels = profefe_labels_encode(kv);
	free(kv);
	return labels;
}

static pod_target *target_copy(const pod_target *tpl)
{
	pod_target *t = xcalloc(1, sizeof(*t));

	*t = *tpl;
	t->key = xstrdup(tpl->key);
	t->ns = xstrdup(tpl->ns);
	t->name = xstrdup(tpl->name);
	t->uid = xstrdup(tpl->uid);
	t->node = xstrdup(tpl->node);
	t->ip = xstrdup(tpl->ip);
	t->path = xstrdup(tpl->path);
	t->service = NULL;
	t->id = t->container = t->labels = t->base_url = NULL;
	pod_tls_copy(&t->tls, &tpl->tls);
	return t;
}

/* The first item the first container declares, else the first item: it keeps the
 * service name a one-port pod has always had. */
static size_t primary_item(const kube_pod *pod, const port_list *l)
{
	for (size_t i = 0; pod->n_containers > 0 && i < l->n; i++)
		if (l->v[i].container == &pod->containers[0])
			return i;
	return 0;
}

/* base, base-<container> or base-<port> (see pod.h), for the item after the targets
 * made so far (out->v, the primary first). */
static char *service_of(const pod_target *tpl, const port_item *it, const pod_targets *out)
{
	int container_new = it->container != NULL;
	char *name;

	if (out->n == 0)
		return xstrdup(tpl->service);
	for (size_t j = 0; container_new && j < out->n; j++)
		container_new = !str_eq(out->v[j]->container, it->container->name);
	name = container_new ? xasprintf("%s-%s", tpl->service, it->container->name)
			     : xasprintf("%s-%d", tpl->service, it->port);
	for (size_t j = 0; j < out->n; j++) {
		if (strcmp(out->v[j]->service, name) == 0) {
			/* a container named like another's port: the port tells them apart */
			free(name);
			return xasprintf("%s-%s-%d", tpl->service,
					 it->container ? it->container->name : "port", it->port);
		}
	}
	return name;
}

static pod_target *target_of(const kube_pod *pod, const pod_defaults *d, const pod_target *tpl,
			     const port_list *l, size_t i, char *service)
{
	pod_target *t = target_copy(tpl);
	const port_item *it = &l->v[i];

	t->port = it->port;
	t->service = service;
	t->container = it->container ? xstrdup(it->container->name) : NULL;
	t->id = l->listed > 1 ? xasprintf("%s:%d", t->key, t->port) : xstrdup(t->key);
	t->base_url = pod_tls_base_url(&t->tls, t->ip, t->port, t->path);
	t->labels = target_labels(pod, d, t, it, l->listed > 1);
	return t;
}

/* One target per accepted item, the primary first. */
static void targets_make(const kube_pod *pod, const pod_defaults *d, const pod_target *tpl,
			 const port_list *l, pod_targets *out)
{
	size_t primary = primary_item(pod, l);

	out->v = xcalloc(l->n, sizeof(*out->v));
	for (size_t k = 0; k < l->n; k++) {
		size_t i = k == 0 ? primary : (k <= primary ? k - 1 : k);
		char *svc = service_of(tpl, &l->v[i], out);
		out->v[out->n++] = target_of(pod, d, tpl, l, i, svc);
	}
}

/* The settings every target of the pod shares, in tpl; POD_TARGET when they are valid. */
static enum pod_verdict template_from(const kube_pod *pod, const pod_defaults *d,
				      pod_target *tpl, char *err, size_t errlen)
{
	const char *enable = kube_pod_annotation(pod, POD_ANN_ENABLE);
	const char *ip = str_or_empty(pod->pod_ip);

	if (enable ? strcmp(enable, "true") != 0 : !d->named)
		return ignored("not_enabled", err, errlen);
	if (pod->deleting)
		return ignored("deleting", err, errlen);
	if (pod->phase == NULL || strcmp(pod->phase, "Running") != 0)
		return ignored("not_running", err, errlen);
	if (read_annotations(pod, d, tpl, err, errlen) != 0)
		return POD_INVALID;
	if (*ip == '\0' || !ip_ok(ip))
		return ignored(*ip == '\0' ? "no_pod_ip" : "bad_pod_ip", err, errlen);
	tpl->ns = xstrdup(str_or_empty(pod->ns));
	tpl->name = xstrdup(str_or_empty(pod->name));
	tpl->key = xasprintf("%s/%s", tpl->ns, tpl->name);
	tpl->uid = xstrdup(str_or_empty(pod->uid));
	tpl->node = xstrdup(str_or_empty(pod->node_name));
	tpl->ip = xstrdup(ip);
	return POD_TARGET;
}

enum pod_verdict pod_targets_from(const kube_pod *pod, const pod_defaults *defaults,
				  pod_targets *out, char *err, size_t errlen)
{
	pod_defaults dflt;
	pod_target tpl = {0};
	port_list l;
	enum pod_verdict v;

	memset(&l, 0, sizeof(l));
	memset(out, 0, sizeof(*out));
	if (defaults == NULL) {
		pod_defaults_init(&dflt);
		defaults = &dflt;
	}
	v = template_from(pod, defaults, &tpl, err, errlen);
	if (v == POD_TARGET && port_list_read(pod, defaults, &l, err, errlen) != 0)
		v = POD_INVALID;
	if (v != POD_TARGET)
		goto out;
	if (l.refused.len > 0) {
		char *why = buf_detach(&l.refused);
		char msg[1024];
		bad_annotation(pod, POD_ANN_PORT, kube_pod_annotation(pod, POD_ANN_PORT), why, msg,
			       sizeof(msg));
		free(why);
		if (l.n == 0) {
			snprintf(err, errlen, "%s", msg);
			v = POD_INVALID;
			goto out;
		}
		out->refused = xstrdup(msg);
	}
	targets_make(pod, defaults, &tpl, &l, out);
out:
	buf_free(&l.refused);
	free(tpl.key);
	free(tpl.ns);
	free(tpl.name);
	free(tpl.uid);
	free(tpl.node);
	free(tpl.ip);
	free(tpl.path);
	free(tpl.service);
	pod_tls_clear(&tpl.tls);
	return v;
}

void pod_targets_clear(pod_targets *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		pod_target_free(ts->v[i]);
	free(ts->v);
	free(ts->refused);
	memset(ts, 0, sizeof(*ts));
}

enum pod_verdict pod_target_from(const kube_pod *pod, const pod_defaults *defaults,
				 pod_target **out, char *err, size_t errlen)
{
	pod_targets ts;
	enum pod_verdict v = pod_targets_from(pod, defaults, &ts, err, errlen);

	*out = NULL;
	if (v == POD_TARGET) {
		*out = ts.v[0];
		ts.v[0] = NULL;
	}
	pod_targets_clear(&ts);
	return v;
}

void pod_target_free(pod_target *t)
{
	if (t == NULL)
		return;
	free(t->key);
	free(t->id);
	free(t->container);
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

int pod_target_equal(const pod_target *a, const pod_target *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return str_eq(a->key, b->key) && str_eq(a->id, b->id) &&
	       str_eq(a->container, b->container) && str_eq(a->uid, b->uid) && str_eq(a->node, b->node) &&
	       str_eq(a->ip, b->ip) && a->port == b->port && str_eq(a->path, b->path) &&
	       str_eq(a->service, b->service) && a->types == b->types &&
	       a->cpu_seconds == b->cpu_seconds && a->delta == b->delta &&
	       str_eq(a->labels, b->labels) &&
	       str_eq(a->base_url, b->base_url) && pod_tls_equal(&a->tls, &b->tls);
}
