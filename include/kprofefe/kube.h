/* kube: Kubernetes API access: cluster config (in-cluster or kubeconfig), pods as JSON,
 * one-shot requests, and the list+watch of pods that keeps an owner in sync. */
#ifndef KPROFEFE_KUBE_H
#define KPROFEFE_KUBE_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/buf.h"
#include "kprofefe/http.h"
#include "kprofefe/loop.h"

/* ---- config ------------------------------------------------------------------------ */

/* Where an in-cluster pod finds its service account (token, ca.crt, namespace). */
#define KUBE_SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct kube_config kube_config;

/*
 * In-cluster config: server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * (IPv6 bracketed), token, ca.crt and namespace from dir. dir NULL: the env variable
 * KPROFEFE_SERVICEACCOUNT_DIR, else KUBE_SERVICEACCOUNT_DIR. The token file is read
 * again whenever it changes (bound tokens rotate). Returns NULL with a message in err
 * on failure; the caller frees the result with kube_config_free.
 */
kube_config *kube_config_in_cluster(const char *dir, char *err, size_t errlen);

/*
 * Config from the JSON that `kubectl config view --raw --minify -o json` prints: the
 * current context's cluster, user and namespace (default "default"). Relative paths
 * (certificate files, tokenFile, an exec command with a '/') are resolved against
 * base_dir, the kubeconfig file's directory (NULL: the current directory). json is
 * borrowed. Users with auth-provider or username/password are refused with a message
 * naming them. Returns NULL with a message in err on failure; free with kube_config_free.
 */
kube_config *kube_config_from_json(const char *json, const char *base_dir, char *err,
				   size_t errlen);

/*
 * Runs `kubectl config view --raw --minify -o json` (no shell; kubectl NULL: "kubectl"
 * from PATH) with --kubeconfig and --context when non-NULL, and parses its output as
 * kube_config_from_json does. base_dir comes from kubeconfig, else the first entry of
 * $KUBECONFIG, else ~/.kube. Blocks for at most 30 seconds. All arguments borrowed.
 */
kube_config *kube_config_from_kubectl(const char *kubectl, const char *kubeconfig,
				      const char *context, char *err, size_t errlen);

void kube_config_free(kube_config *cfg);

/* Borrowed strings, valid as long as cfg. */
const char *kube_config_server(const kube_config *cfg);    /* "https://host:port[/prefix]" */
const char *kube_config_namespace(const kube_config *cfg); /* never NULL */

/*
 * Brings the credentials up to date: re-reads a token file whose size, mtime or inode
 * changed (one stat), and runs the exec plugin when it has no credential or it expires
 * within 10 seconds (synchronously, for at most 30 seconds). Returns 0, or -1 with a
 * message in err (the old credentials are kept).
 */
int kube_config_refresh(kube_config *cfg, char *err, size_t errlen);
/* Forgets an exec plugin's credential so the next refresh runs the plugin again (after
 * a 401). No-op without an exec plugin. */
void kube_config_invalidate(kube_config *cfg);
/* The bearer token, or NULL for none. Borrowed until the next refresh or free. */
const char *kube_config_token(const kube_config *cfg);
/* TLS settings as http wants them (connect_host unset). Borrowed until the next
 * refresh or free. */
const http_tls *kube_config_tls(const kube_config *cfg);
/* The tls-server-name, or NULL. Borrowed. */
const char *kube_config_tls_server_name(const kube_config *cfg);

/* ---- small parsers (exposed for tests) ----------------------------------------------- */

/* Decodes standard base64 (padding optional, whitespace skipped). Returns a NUL-terminated
 * buffer the caller frees and its length in *out_len, or NULL when the input is invalid. */
unsigned char *kube_base64_decode(const char *in, size_t in_len, size_t *out_len);
/* Parses an RFC 3339 time ("2024-05-01T10:00:00Z", fraction and +hh:mm allowed).
 * Returns 0, or -1 when invalid. */
int kube_parse_rfc3339(const char *s, time_t *out);

/* ---- client -------------------------------------------------------------------------- */

typedef struct kube_client kube_client;
/* One request in flight; freed by itself after its done callback or by kube_call_cancel. */
typedef struct kube_call kube_call;

/* A client on loop (borrowed; must outlive the client). cfg is taken. */
kube_client *kube_client_new(loop_t *loop, kube_config *cfg);
/* Frees the client. Calls still in flight must have been cancelled or finished. */
void kube_client_free(kube_client *kc);
kube_config *kube_client_config(kube_client *kc); /* borrowed */
loop_t *kube_client_loop(kube_client *kc);        /* borrowed */

/*
 * Starts a request to the API server: path is "/api/v1/...?query" (borrowed, copied).
 * base (may be NULL; borrowed for the call, its body until done) gives method, body,
 * extra headers, timeouts, size cap and on_data; kube fills tls, Authorization: Bearer
 * and Accept: application/json. Default timeouts when base leaves them 0: connect 5 s,
 * and 60 s for the whole transfer unless on_data is set (streams have none). on_data
 * receives arg like done. done is called exactly once from the loop, never from inside
 * kube_request (also when the credentials could not be refreshed: status 0, error set),
 * unless kube_call_cancel comes first. A 401 makes the next request run the exec plugin
 * again. Counts kprofefe_kube_requests_total{verb,code}.
 */
kube_call *kube_request(kube_client *kc, const char *path, const http_options *base,
			http_done_fn done, void *arg);
/* Stops a call that has not finished; its done is not called. Not from inside its own
 * on_data (return non-zero there instead). */
void kube_call_cancel(kube_call *call);

/*
 * What a request outside kube_request needs to reach the API server (the plugin's pod
 * proxy fetch): *url gets server URL + path (caller frees; with tls-server-name its host
 * is that name), *tls the TLS settings (connect_host set when needed), *headers a
 * NULL-terminated list with Authorization (when there is a token) and Accept. tls and
 * headers are borrowed until the next call on kc. Refreshes credentials first; returns
 * -1 with a message in err when that fails.
 */
int kube_client_transport(kube_client *kc, const char *path, char **url,
			  const http_tls **tls, const char *const **headers, char *err,
			  size_t errlen);

/* "/api/v1/namespaces/NS/pods/NAME:PORT/proxy" + path_and_query (which must start with
 * '/'; kept as given), "pods/SCHEME:NAME:PORT" with a scheme ("https": the API server
 * dials the pod with TLS). ns and pod are escaped. Caller frees. */
char *kube_pod_proxy_path(const char *ns, const char *scheme, const char *pod, int port,
			  const char *path_and_query);

/* ---- pods ---------------------------------------------------------------------------- */

typedef struct kube_kv {
	char *key;
	char *value;
} kube_kv;

typedef struct kube_owner {
	char *kind;
	char *name;
	int controller; /* ownerReferences[].controller is true */
} kube_owner;

/* A containerPort of spec.containers[].ports[]. */
typedef struct kube_port {
	char *name;     /* "" when unnamed */
	int port;       /* containerPort, 1..65535 */
	char *protocol; /* "TCP" when absent */
} kube_port;

/* A container that runs for the pod's life: spec.containers[], then the sidecars
 * (spec.initContainers[] with restartPolicy Always), in that order. */
typedef struct kube_container {
	char *name;
	char *image;    /* spec image as written, "" when absent */
	char *image_id; /* status.(init)containerStatuses[].imageID, "" until known */
	int sidecar;    /* an init container with restartPolicy Always */
	kube_port *ports;
	size_t n_ports;
} kube_container;

/* A pod as the API server sent it, only the parts kprofefe uses. Every string owned by
 * the pod and never NULL ("" when absent) except where noted. */
typedef struct kube_pod {
	char *ns;
	char *name;
	char *uid;
	char *node_name;
	char *phase;
	char *pod_ip;
	char *resource_version;
	int deleting; /* metadata.deletionTimestamp is set */
	kube_kv *annotations;
	size_t n_annotations;
	kube_kv *labels;
	size_t n_labels;
	kube_owner *owners;
	size_t n_owners;
	kube_container *containers;
	size_t n_containers;
} kube_pod;

/* Reads a Pod object (borrowed). Requires metadata.name, .namespace and .uid as strings;
 * wrong types anywhere are errors. Returns NULL with a message in err. Free with
 * kube_pod_free. */
kube_pod *kube_pod_from_json(yajl_val obj, char *err, size_t errlen);
/* A pod with only ns, name and uid set (what the watcher knows of a vanished pod). */
kube_pod *kube_pod_stub(const char *ns, const char *name, const char *uid);
void kube_pod_free(kube_pod *pod);
/* Borrowed value, or NULL when absent. */
const char *kube_pod_annotation(const kube_pod *pod, const char *key);
const char *kube_pod_label(const kube_pod *pod, const char *key);
/* The owner reference with controller=true, or NULL. Borrowed. */
const kube_owner *kube_pod_controller(const kube_pod *pod);
/* The TCP port named name (a containerPort's name) and its container, or NULL. A name
 * declared twice gives the first. Borrowed. */
const kube_port *kube_pod_named_port(const kube_pod *pod, const char *name,
				     const kube_container **container);
/* The container that declares TCP port number port, or NULL. Borrowed. */
const kube_container *kube_pod_port_container(const kube_pod *pod, int port);

typedef struct kube_pod_list {
	kube_pod **pods; /* owned */
	size_t n;
	char *resource_version; /* metadata.resourceVersion, never NULL */
	char *continue_token;   /* metadata.continue: another page follows; NULL on the last */
} kube_pod_list;

/* Parses a PodList (json borrowed, NUL-terminated). Returns NULL with a message in err.
 * Free with kube_pod_list_free. */
kube_pod_list *kube_pod_list_parse(const char *json, char *err, size_t errlen);
void kube_pod_list_free(kube_pod_list *list);
/* Moves the pods of page (a later page of the same list) to the end of into, and takes
 * its resourceVersion and continue token; frees page. into may be NULL: returns page
 * itself then. Returns the list that holds them all (owned by the caller). */
kube_pod_list *kube_pod_list_join(kube_pod_list *into, kube_pod_list *page);

/* ---- one-shot helpers (plugin) -------------------------------------------------------- */

/* Exactly one of pod/list is non-NULL on success; error is non-NULL on failure (an HTTP
 * error, the API's Status message, or a parse error). Everything is borrowed for the
 * callback only (take a pod by setting the pointer in the list to NULL: not supported;
 * copy what you need). */
typedef void (*kube_pod_done_fn)(const kube_pod *pod, const char *error, void *arg);
typedef void (*kube_list_done_fn)(const kube_pod_list *list, const char *error, void *arg);

/* GET one pod. ns and name borrowed. */
kube_call *kube_get_pod(kube_client *kc, const char *ns, const char *name,
			kube_pod_done_fn done, void *arg);
/* LIST pods in ns (NULL: all namespaces) with optional selectors (NULL for none). */
kube_call *kube_list_pods(kube_client *kc, const char *ns, const char *label_selector,
			  const char *field_selector, kube_list_done_fn done, void *arg);

/* ---- watch --------------------------------------------------------------------------- */

/* What the watcher tells its owner. Pods are borrowed for the call. on_delete may get a
 * stub with only ns, name and uid (a pod found gone by a re-list). Any callback may call
 * kube_pod_watch_stop. */
typedef struct kube_pod_watch_callbacks {
	void (*on_pod)(const kube_pod *pod, void *arg);    /* added or modified */
	void (*on_delete)(const kube_pod *pod, void *arg); /* gone */
	void (*on_synced)(void *arg);                      /* after each complete list */
	void *arg;
} kube_pod_watch_callbacks;

typedef struct kube_pod_watch kube_pod_watch;

/*
 * Lists pods cluster-wide with the selectors (borrowed, copied; NULL for none), then
 * watches from the list's resourceVersion, re-watching when a stream ends, re-listing on
 * 410 Gone, and retrying errors with backoff (0.5 s doubling to 30 s, jittered, reset by
 * a successful list or a stream that delivered events). kc borrowed; it must outlive the
 * watch. Counts kprofefe_watch_restarts_total{reason}.
 */
kube_pod_watch *kube_pod_watch_start(kube_client *kc, const char *field_selector,
				     const char *label_selector, const kube_pod_watch_callbacks *cb);
/* Stops everything and frees w; safe at any time, also from inside its callbacks (then
 * the free happens when the callback returns and nothing more is called). */
void kube_pod_watch_stop(kube_pod_watch *w);

/* ---- watch building blocks (exposed for tests) --------------------------------------- */

/* Splits a byte stream into lines, each at most max bytes. */
typedef struct kube_lines {
	buf_t pending;
	size_t max;
} kube_lines;
typedef int (*kube_line_fn)(const char *line, size_t len, void *arg);
/* Feeds bytes; calls fn for every complete non-empty line (without '\n', NUL-terminated
 * in place). Returns 0; 1 when fn returned non-zero (stop); -1 when a line is over max. */
int kube_lines_feed(kube_lines *l, const void *data, size_t len, kube_line_fn fn, void *arg);
void kube_lines_free(kube_lines *l);

enum kube_event_type { KUBE_EV_ADDED, KUBE_EV_MODIFIED, KUBE_EV_DELETED, KUBE_EV_BOOKMARK,
		       KUBE_EV_ERROR };

typedef struct kube_event {
	enum kube_event_type type;
	kube_pod *pod;          /* ADDED/MODIFIED/DELETED; owned */
	char *resource_version; /* of the object (BOOKMARK's, or the pod's); owned, may be NULL */
	long code;              /* ERROR: the Status code (410 = Gone) */
	char *message;          /* ERROR: the Status message; owned, may be NULL */
} kube_event;

/* Parses one watch event line (NUL-terminated). Returns 0, or -1 with a message. */
int kube_event_parse(const char *line, kube_event *ev, char *err, size_t errlen);
void kube_event_clear(kube_event *ev);

/* What the watcher knows: pod key (ns/name) -> uid. */
typedef struct kube_pod_cache kube_pod_cache;
kube_pod_cache *kube_pod_cache_new(void);
void kube_pod_cache_free(kube_pod_cache *c);
size_t kube_pod_cache_size(const kube_pod_cache *c);
/* uid of ns/name, or NULL. Borrowed. */
const char *kube_pod_cache_uid(const kube_pod_cache *c, const char *ns, const char *name);
/*
 * Applies a complete list: on_delete for known pods missing from it (stubs), and for a
 * pod whose uid changed (stub of the old, then on_pod of the new); on_pod for every pod
 * listed. Stops calling back as soon as *stop is non-zero (stop may be NULL).
 */
void kube_pod_cache_sync(kube_pod_cache *c, const kube_pod_list *list,
			 const kube_pod_watch_callbacks *cb, const int *stop);
/* Applies one ADDED/MODIFIED/DELETED event the same way (others are ignored). */
void kube_pod_cache_apply(kube_pod_cache *c, enum kube_event_type type, const kube_pod *pod,
			  const kube_pod_watch_callbacks *cb, const int *stop);

/* Exponential backoff with jitter: 0.5 s doubling to 30 s. */
typedef struct kube_backoff {
	double next; /* the next un-jittered delay; 0 means the initial one */
} kube_backoff;
/* The delay to wait now, jittered by r in [0,1): between half and all of the step. */
double kube_backoff_next(kube_backoff *b, double r);
void kube_backoff_reset(kube_backoff *b);

#endif
