/* pod_tls: a pod's https scheme, certificate name and credentials, and what a fetch sends. */
#ifndef KPROFEFE_POD_TLS_H
#define KPROFEFE_POD_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "kprofefe/http.h"
#include "kprofefe/kube.h"

#define POD_ANN_SCHEME "profefe.com/scheme"                   /* "http" (default) or "https" */
#define POD_ANN_TLS_SERVER_NAME "profefe.com/tls-server-name" /* DNS name; https only */
#define POD_ANN_CREDENTIALS "profefe.com/credentials"         /* a set in the credentials dir */

/* In a credential set's directory (a mounted Secret). */
#define POD_TLS_TOKEN_FILE "token"
#define POD_TLS_CERT_FILE "tls.crt"
#define POD_TLS_KEY_FILE "tls.key"
/* Where Kubernetes mounts the collector's own service-account token: never sent to pods. */
#define POD_TLS_SA_TOKEN "/var/run/secrets/kubernetes.io/serviceaccount/token"
/* A token above this is refused (a JWT is a few KiB). */
#define POD_TLS_MAX_TOKEN_BYTES 16384
/* The longest tls-server-name (a DNS name) and credentials name (a Secret's name). */
#define POD_TLS_MAX_NAME_LEN 253

/* The collector's flags for pods (all borrowed strings, outliving every target). */
typedef struct pod_tls_options {
	const char *ca_file;         /* --pod-ca: PEM bundle pods are verified against;
	                                NULL: the system store */
	int insecure;                /* --pod-insecure-skip-verify */
	const char *credentials_dir; /* --pod-credentials-dir: one subdirectory per set;
	                                NULL: profefe.com/credentials is always invalid */
	const char *sa_token_file;   /* the token never to send; NULL: POD_TLS_SA_TOKEN */
} pod_tls_options;

/* A file read again when its identity (device, inode, size, mtime) changes: a mounted
 * Secret is updated by swapping a symlink, which gives the path a new inode. */
typedef struct pod_tls_file {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *header; /* "Authorization: Bearer <token>" from the last good read */
} pod_tls_file;

/* A target's transport; strings owned. Zeroed: plain http, nothing sent. */
typedef struct pod_tls {
	int https;
	int insecure;          /* https without verification (the flag) */
	char *ca_file;         /* https: the flag's bundle, or NULL */
	char *server_name;     /* https: the name the certificate must carry; NULL: the pod IP */
	char *credentials;     /* the set's name, or NULL */
	char *cert_path;       /* the set's tls.crt and tls.key, or NULL */
	char *key_path;
	pod_tls_file token;    /* path NULL when the set has no token */
} pod_tls;

/*
 * Reads the three annotations of pod (borrowed) into *out (zeroed by the caller).
 * 0 on success; -1 when one is invalid: *key and *value (borrowed from pod) name it and
 * why says what is wrong. Invalid: a scheme other than "http"/"https"; a server name or
 * credentials on an http pod; a server name that is not a DNS name; a credentials name
 * that is not a Secret's name, not in the directory, with no token and no certificate,
 * with only one of tls.crt and tls.key, or with a file that cannot be read (a token
 * that is empty, not printable, too long, or the service account's own).
 * opt NULL: no flags (system store, no credentials). *out may hold strings on -1:
 * pod_tls_clear it either way.
 */
int pod_tls_read(const kube_pod *pod, const pod_tls_options *opt, pod_tls *out,
		 const char **key, const char **value, char *why, size_t whylen);
void pod_tls_clear(pod_tls *t);
/* dst (uninitialized) gets its own copy of src: the targets of one pod's port list. */
void pod_tls_copy(pod_tls *dst, const pod_tls *src);
/* Non-zero when a and b fetch the same way (the cached token aside). */
int pod_tls_equal(const pod_tls *a, const pod_tls *b);

/* "<scheme>://<host>:<port><path>": host the server name, else ip (IPv6 bracketed).
 * Caller frees. */
char *pod_tls_base_url(const pod_tls *t, const char *ip, int port, const char *path);

/* Makes t https (with opt's CA and insecure) or http (dropping credentials): what a
 * command line's --scheme does over the annotation. */
void pod_tls_set_scheme(pod_tls *t, int https, const pod_tls_options *opt);

/* What one fetch sends: point fetch_options' tls and headers at its fields. */
typedef struct pod_tls_request {
	http_tls tls;
	const char *headers[2];
	char connect_host[64]; /* "ip:port" dialled when the URL names the server name */
} pod_tls_request;

/*
 * Fills *req for a fetch from t at ip:port. For https: the CA file or insecure, the
 * client certificate files (libcurl reads them at each new connection, so a renewed
 * Secret applies from the next one), and the bearer token, read again first when the
 * file changed. A token that cannot be read again keeps the last one read (logged);
 * nothing is sent over http. req borrows from t until the fetch has started.
 */
void pod_tls_request_for(pod_tls *t, const char *pod_key, const char *ip, int port,
			 pod_tls_request *req);

/* Logs and counts (kprofefe_pod_tls_insecure_total) a new https target that is not
 * verified; call once per target added. */
void pod_tls_note_target(const pod_tls *t, const char *pod_key);

/* Memory an https fetch holds in flight beyond a plain one (116 KiB, measured with
 * massif: pod_tls.c); 0 for http. */
size_t pod_tls_extra_reserve(const pod_tls *t);

/* Checks the flags at start: the credentials directory exists and is not the
 * service account's. 0, or -1 with err. */
int pod_tls_options_check(const pod_tls_options *opt, char *err, size_t errlen);

#endif
