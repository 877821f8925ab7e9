/* pod: a Kubernetes pod as a scrape target: annotations validated, service name, labels. */
#ifndef KPROFEFE_POD_H
#define KPROFEFE_POD_H

#include <stddef.h>

#include "kprofefe/kube.h"
#include "kprofefe/pprof.h"
#include "kprofefe/pod_tls.h"

/* The annotations read from a pod. */
#define POD_ANN_ENABLE "profefe.com/enable"           /* "true" only */
#define POD_ANN_PORT "profefe.com/port"               /* "6060" or "6060,pprof": see below */
#define POD_ANN_PATH "profefe.com/path"               /* see pod_path_check */
#define POD_ANN_SERVICE "profefe.com/service"         /* see pod_service_check */
#define POD_ANN_PROFILES "profefe.com/profiles"       /* "cpu,heap,...": replaces the default set */
#define POD_ANN_CPU_SECONDS "profefe.com/cpu-seconds" /* min..max from pod_defaults */
#define POD_ANN_DELTA "profefe.com/delta"             /* "true", "false", "godeltaprof" */

#define POD_DEFAULT_PORT 6060
#define POD_DEFAULT_PATH "/debug/pprof"
#define POD_MAX_SERVICE_LEN 128
#define POD_MAX_PATH_LEN 256
#define POD_MAX_PORT_NAME_LEN 15 /* IANA_SVC_NAME, as Kubernetes' named ports */
#define POD_MAX_PORTS 16         /* items of one profefe.com/port list */
#define POD_MAX_LABEL_KEY_LEN 63 /* a stored key, as a Kubernetes label name */

/* Label keys kprofefe sets itself; --pod-labels may not store a key of these. */
#define POD_LABEL_CONTAINER "container"
#define POD_LABEL_PORT "port"
#define POD_LABEL_IMAGE "image"   /* spec image as written: repo[:tag][@digest] */
#define POD_LABEL_DIGEST "digest" /* "sha256:..." from the container's status imageID */

/* The pod labels copied into profile labels (--pod-labels). */
typedef struct pod_label_copy {
	char *label; /* the pod label's key, "app.kubernetes.io/version" */
	char *key;   /* the profile label's key, "version" */
} pod_label_copy;

typedef struct pod_label_map {
	pod_label_copy *v; /* owned */
	size_t n;
} pod_label_map;

/*
 * Parses --pod-labels: a comma list of items, each a pod label key
 * ("app.kubernetes.io/version", stored as the part after the last '/': "version") or
 * "key=label" ("release=app.kubernetes.io/version"). Spaces around items are dropped;
 * "" gives an empty map. Refused, with err naming the item: a label key that is not a
 * Kubernetes label key, a stored key that is not a label name (1..63 of [A-Za-z0-9_.-],
 * alphanumeric at both ends), a stored key kprofefe sets itself (pod_label_reserved),
 * and two items storing the same key. Returns 0 with *out filled (free with
 * pod_label_map_clear), or -1 with out empty.
 */
int pod_label_map_parse(const char *spec, pod_label_map *out, char *err, size_t errlen);
void pod_label_map_clear(pod_label_map *m);
/* Non-zero for a profile label key kprofefe sets itself (namespace, pod, node, from,
 * container, port, image, digest, delta, window). */
int pod_label_reserved(const char *key);

/* What applies when a pod's annotations leave something out. */
typedef struct pod_defaults {
	int port;            /* POD_DEFAULT_PORT */
	const char *path;    /* POD_DEFAULT_PATH; borrowed, must pass pod_path_check */
	unsigned types;      /* PPROF_DEFAULT_TYPES */
	int cpu_seconds;     /* 10; cut to max_cpu_seconds when above it */
	int min_cpu_seconds; /* 1: smallest cpu-seconds annotation accepted */
	int max_cpu_seconds; /* 300: largest; the caller lowers it so that a cpu profile
	                        (and a trace) fits the scrape interval */
	enum pprof_delta delta; /* PPROF_DELTA_SECONDS: allocs, block and mutex as deltas
	                           over cpu_seconds */
	const pod_label_map *labels; /* NULL: none; borrowed, must outlive the targets' use */
	const pod_tls_options *tls; /* NULL: no --pod-ca, no credentials (pod_tls.h) */
	int named;           /* a pod the user named (capture): profefe.com/enable may be
	                        absent (not another value) */
} pod_defaults;

/* Fills d with the values in the comments above. */
void pod_defaults_init(pod_defaults *d);

enum pod_verdict {
	POD_TARGET,  /* scrape it: *out is set */
	POD_IGNORED, /* not for us (now): err gets a short reason, see pod_target_from */
	POD_INVALID  /* asked for profiling with a bad annotation: err says which */
};

/* A pod to scrape. Every string owned by the target; free with pod_target_free. */
typedef struct pod_target {
	char *key;         /* "ns/name" */
	char *id;          /* the target among the pod's: key, or "ns/name:port" when the
	                      annotation lists more than one port */
	char *ns;
	char *name;
	char *uid;
	char *node;        /* spec.nodeName, "" when unset */
	char *ip;          /* status.podIP as given (no brackets) */
	int port;
	char *path;        /* validated, without trailing '/': "/debug/pprof", "" for "/" */
	char *service;     /* profefe service name */
	char *container;   /* the container that declares port, or the pod's only
	                      container; NULL when not known */
	unsigned types;    /* mask of PPROF_BIT(enum pprof_type) */
	int cpu_seconds;   /* for cpu and trace, and the window of delta profiles */
	enum pprof_delta delta; /* profefe.com/delta, else pod_defaults.delta */
	char *labels;      /* for profefe, encoded by profefe_labels_encode */
	char *base_url;    /* "http://<ip>:<port><path>" (IPv6 in brackets); a profile's URL
	                      is base_url + "/" + pprof_endpoint(); see pod_tls_base_url */
	pod_tls tls;       /* scheme, certificate name, credentials (pod_tls.h) */
} pod_target;

/* The targets of one pod: the primary first (see pod_targets_from), then the others in
 * the order of the profefe.com/port list. */
typedef struct pod_targets {
	pod_target **v; /* owned, n of them */
	size_t n;
	char *refused;  /* items of the port list that were refused, one message naming the
	                   pod, the annotation and its value; NULL when none. Owned. */
} pod_targets;

/*
 * Turns pod (borrowed) into its targets, in this order of checks:
 *   IGNORED, with err set to a short reason fit for a metric label:
 *     "not_enabled"  profefe.com/enable is not exactly "true"
 *     "deleting"     metadata.deletionTimestamp is set
 *     "not_running"  status.phase is not Running
 *     "no_pod_ip"    status.podIP is empty (or not an IPv4/IPv6 address: "bad_pod_ip")
 *   INVALID when an annotation is bad; err names the pod, the annotation and its value:
 *     pod default/web-1: annotation profefe.com/path="x": must start with '/'
 *   TARGET with out->n >= 1 (the caller frees with pod_targets_clear).
 * out is emptied first and stays empty unless TARGET. defaults borrowed (NULL:
 * pod_defaults_init's values).
 *
 * Ports: profefe.com/port is a comma list of up to POD_MAX_PORTS items, each a port
 * number (1..65535) or the name of a TCP containerPort of the pod's containers or
 * sidecars; absent, defaults->port. Each item is one target. A bad item (not a number
 * nor a valid name, a name no container declares, a port listed twice) is refused by
 * itself: the others stay targets and out->refused says what was refused (TARGET).
 * When every item is refused, or the list has more than POD_MAX_PORTS items, the
 * verdict is INVALID with the message in err.
 *
 * Service: the base is profefe.com/service, else the owning workload's name
 * (pod_service_name). The primary target (the first item whose port the first
 * container declares, else the first item) is named base; the first target of each
 * other container base-<container>; any other base-<port>. So two programs of one pod
 * never share a service, and a one-port pod is named as it always was.
 *
 * Labels, encoded with profefe_labels_encode: namespace=<ns>, pod=<name>,
 * node=<nodeName> (when set), from=kube-profefe; container=<name>, image=<image> and
 * digest=<sha256:...> (when known) for a target whose container is known; port=<port>
 * when the annotation lists more than one item; then defaults->labels' copies of the
 * pod's labels that are set.
 */
enum pod_verdict pod_targets_from(const kube_pod *pod, const pod_defaults *defaults,
				  pod_targets *out, char *err, size_t errlen);
void pod_targets_clear(pod_targets *ts);

/* The pod's primary target alone, as pod_targets_from makes it (refused items are
 * dropped silently); *out is NULL unless TARGET. Free with pod_target_free. */
enum pod_verdict pod_target_from(const kube_pod *pod, const pod_defaults *defaults,
				 pod_target **out, char *err, size_t errlen);
void pod_target_free(pod_target *t);
/* Non-zero when a and b would be scraped and stored the same way (every field). */
int pod_target_equal(const pod_target *a, const pod_target *b);

/*
 * The service name a pod gets without a profefe.com/service annotation, from its
 * controller ownerReference: a ReplicaSet named <deployment>-<hash> where the pod's
 * label pod-template-hash is <hash> gives the Deployment's name, another ReplicaSet its
 * own name; a StatefulSet or DaemonSet its name; a Job its name, except that a Job named
 * <name>-<digits> (what a CronJob creates) gives <name>. Otherwise (no controller, or
 * another kind) the pod's name. Caller frees.
 */
char *pod_service_name(const kube_pod *pod);

/* Validators, exposed for flags (the default path) and tests. Each returns 0, or -1
 * with the reason (no pod or annotation name) in err. */
/* Digits only, 1..65535. */
int pod_port_parse(const char *s, int *port, char *err, size_t errlen);
/* Starts with '/', at most POD_MAX_PATH_LEN bytes, printable ASCII without space, '?',
 * '#', '%' or '\\', and no "..". *out (caller frees) has trailing '/'s removed. */
int pod_path_check(const char *s, char **out, char *err, size_t errlen);
/* A Kubernetes port name (IANA_SVC_NAME): 1..15 of [a-z0-9-], at least one letter, no
 * '-' at either end nor "--". */
int pod_port_name_check(const char *s, char *err, size_t errlen);
/* Non-empty, at most POD_MAX_SERVICE_LEN bytes of printable ASCII, no leading or
 * trailing space. */
int pod_service_check(const char *s, char *err, size_t errlen);

#endif
