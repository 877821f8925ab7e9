/* pod: a Kubernetes pod as a scrape target: annotations validated, service name, labels. */
#ifndef KPROFEFE_POD_H
#define KPROFEFE_POD_H

#include <stddef.h>

#include "kprofefe/kube.h"
#include "kprofefe/pprof.h"
#include "kprofefe/pod_tls.h"

/* The annotations read from a pod. */
#define POD_ANN_ENABLE "profefe.com/enable"           /* "true" only */
#define POD_ANN_PORT "profefe.com/port"               /* 1..65535, digits only */
#define POD_ANN_PATH "profefe.com/path"               /* see pod_path_check */
#define POD_ANN_SERVICE "profefe.com/service"         /* see pod_service_check */
#define POD_ANN_PROFILES "profefe.com/profiles"       /* "cpu,heap,...": replaces the default set */
#define POD_ANN_CPU_SECONDS "profefe.com/cpu-seconds" /* min..max from pod_defaults */
#define POD_ANN_DELTA "profefe.com/delta"             /* "true", "false", "godeltaprof" */

#define POD_DEFAULT_PORT 6060
#define POD_DEFAULT_PATH "/debug/pprof"
#define POD_MAX_SERVICE_LEN 128
#define POD_MAX_PATH_LEN 256

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
	char *ns;
	char *name;
	char *uid;
	char *node;        /* spec.nodeName, "" when unset */
	char *ip;          /* status.podIP as given (no brackets) */
	int port;
	char *path;        /* validated, without trailing '/': "/debug/pprof", "" for "/" */
	char *service;     /* profefe service name */
	unsigned types;    /* mask of PPROF_BIT(enum pprof_type) */
	int cpu_seconds;   /* for cpu and trace, and the window of delta profiles */
	enum pprof_delta delta; /* profefe.com/delta, else pod_defaults.delta */
	char *labels;      /* for profefe, encoded by profefe_labels_encode */
	char *base_url;    /* "http://<ip>:<port><path>" (IPv6 in brackets); a profile's URL
	                      is base_url + "/" + pprof_endpoint(); see pod_tls_base_url */
	pod_tls tls;       /* scheme, certificate name, credentials (pod_tls.h) */
} pod_target;

/*
 * Turns pod (borrowed) into a target, in this order of checks:
 *   IGNORED, with err set to a short reason fit for a metric label:
 *     "not_enabled"  profefe.com/enable is not exactly "true"
 *     "deleting"     metadata.deletionTimestamp is set
 *     "not_running"  status.phase is not Running
 *     "no_pod_ip"    status.podIP is empty (or not an IPv4/IPv6 address: "bad_pod_ip")
 *   INVALID when an annotation is bad; err names the pod, the annotation and its value:
 *     pod default/web-1: annotation profefe.com/port="99999": not a port (1..65535)
 *   TARGET with *out set (the caller frees it with pod_target_free).
 * *out is NULL unless TARGET. defaults borrowed (NULL: pod_defaults_init's values).
 *
 * Service: profefe.com/service, else the owning workload's name (pod_service_name).
 * Labels: namespace=<ns>, pod=<name>, node=<nodeName> (when set), from=kube-profefe,
 * encoded with profefe_labels_encode.
 */
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
/* Non-empty, at most POD_MAX_SERVICE_LEN bytes of printable ASCII, no leading or
 * trailing space. */
int pod_service_check(const char *s, char *err, size_t errlen);

#endif
