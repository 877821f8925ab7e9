/* pod_tls: the https annotations of a pod, its credential files, and what each fetch sends. */
#include "kprofefe/pod_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

/* Measured with massif (heap + allocator overhead) on N parallel delta fetches from one
 * local pprof target, libcurl 7.88 + OpenSSL 3.0: 13.4 KiB per plain transfer, 129.3 KiB
 * per https one (N = 10 and 40, slope). OpenSSL's SSL object, the SSL_CTX curl makes
 * per connection, the handshake's crypto state and record buffers: 116 KiB more. The
 * process's RSS grows less (about 56 KiB per https transfer in a --once round over 30
 * pods: calloc'd buffers not all touched); the heap figure is kept, to be safe. */
#define TLS_EXTRA_RESERVE_BYTES ((size_t)116 << 10)

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int str_eq(const char *a, const char *b)
{
	return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
}

/* ---- names ---------------------------------------------------------------------------- */

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A DNS name: dot-separated labels of letters, digits and '-', 1..63 bytes each, not
 * starting or ending with '-'. One trailing dot is not accepted (certificates omit it). */
static int dns_name_ok(const char *s)
{
	size_t label = 0;
	if (*s == '\0' || strlen(s) > POD_TLS_MAX_NAME_LEN)
		return 0;
	for (const char *p = s;; p++) {
		char c = *p;
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return 0;
			if (c == '\0')
				return 1;
			label = 0;
			continue;
		}
		int ok = is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || (c == '-' && label > 0);
		if (!ok)
			return 0;
		label++;
	}
}

/* A Secret's name (RFC 1123 subdomain): lower-case letters, digits, '-' and '.', starting
 * and ending with a letter or digit. So it is one path element, never "." or "..". */
static int secret_name_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > POD_TLS_MAX_NAME_LEN || !is_lower_alnum(s[0]) ||
	    !is_lower_alnum(s[len - 1]))
		return 0;
	for (const char *p = s; *p; p++) {
		if (!is_lower_alnum(*p) && *p != '-' && *p != '.')
			return 0;
	}
	return 1;
}

/* ---- credential files ------------------------------------------------------------------- */

static int readable(const char *path, char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

/* Reads at most max bytes of path into a NUL-terminated string; NULL with why set. */
static char *read_small(const char *path, size_t max, struct stat *st, char *why,
			size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	char *data = xmalloc(max + 2);
	size_t len = 0;
	ssize_t n;
	while (len <= max && (n = read(fd, data + len, max + 1 - len)) > 0)
		len += (size_t)n;
	int failed = n < 0;
	close(fd);
	if (failed || len > max) {
		snprintf(why, whylen, "%s: %s", path,
			 failed ? strerror(errno) : "larger than the largest token accepted");
		free(data);
		return NULL;
	}
	data[len] = '\0';
	return data;
}

/* A token with its trailing line end removed: printable ASCII without space (it goes
 * into a header line: a CR or LF would start another header). */
static int token_trim_check(char *tok, char *why, size_t whylen, const char *path)
{
	size_t len = strlen(tok);
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ' ||
			   tok[len - 1] == '\t'))
		tok[--len] = '\0';
	if (len == 0) {
		snprintf(why, whylen, "%s: empty token", path);
		return -1;
	}
	for (const char *p = tok; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f) {
			snprintf(why, whylen, "%s: token not printable ASCII", path);
			return -1;
		}
	}
	return 0;
}

/* Whether path is, or holds the same token as, the collector's service-account token. */
static int is_sa_token(const pod_tls_options *opt, const char *path, const char *token)
{
	const char *sa = opt && opt->sa_token_file ? opt->sa_token_file : POD_TLS_SA_TOKEN;
	char real[PATH_MAX], sa_real[PATH_MAX];
	if (realpath(path, real) && realpath(sa, sa_real) && strcmp(real, sa_real) == 0)
		return 1;
	struct stat st;
	char why[64];
	char *sa_tok = read_small(sa, POD_TLS_MAX_TOKEN_BYTES, &st, why, sizeof(why));
	if (sa_tok == NULL)
		return 0;
	int same = token_trim_check(sa_tok, why, sizeof(why), sa) == 0 && strcmp(sa_tok, token) == 0;
	free(sa_tok);
	return same;
}

/* Reads f->path into f->header when its identity changed (or was never read). Returns
 * 0 when f->header is current, -1 with why when the file cannot be used. */
static int token_load(pod_tls_file *f, const pod_tls_options *opt, char *why, size_t whylen)
{
	struct stat st;
	char *tok = read_small(f->path, POD_TLS_MAX_TOKEN_BYTES, &st, why, whylen);
	if (tok == NULL)
		return -1;
	if (token_trim_check(tok, why, whylen, f->path) != 0) {
		free(tok);
		return -1;
	}
	if (is_sa_token(opt, f->path, tok)) {
		snprintf(why, whylen, "%s: the collector's own service-account token is never sent",
			 f->path);
		free(tok);
		return -1;
	}
	free(f->header);
	f->header = xasprintf("Authorization: Bearer %s", tok);
	free(tok);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	return 0;
}

static int token_changed(const pod_tls_file *f)
{
	struct stat st;
	if (stat(f->path, &st) != 0)
		return 1;
	return st.st_dev != f->dev || st.st_ino != f->ino || st.st_size != f->size ||
	       st.st_mtim.tv_sec != f->mtime.tv_sec || st.st_mtim.tv_nsec != f->mtime.tv_nsec;
}

/* ---- annotations ------------------------------------------------------------------------ */

/* Sets *key and *value to the annotation and why to msg (kept when NULL); returns -1. */
static int bad(const char *ann, const char *v, const char **key, const char **value, char *why,
	       size_t whylen, const char *msg)
{
	*key = ann;
	*value = v;
	if (msg)
		snprintf(why, whylen, "%s", msg);
	return -1;
}

/* Present, even as a dangling link: then it is there but cannot be read, not absent. */
static int present(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static char *set_file(const char *dir, const char *name, const char *file)
{
	return xasprintf("%s/%s/%s", dir, name, file);
}

/* Resolves credentials NAME in opt's directory into t. 0, or -1 with why. */
static int read_credentials(const char *name, const pod_tls_options *opt, pod_tls *t, char *why,
			    size_t whylen)
{
	struct stat st;
	if (!secret_name_ok(name)) {
		snprintf(why, whylen, "not a Secret name (lower-case letters, digits, '-', '.')");
		return -1;
	}
	if (opt == NULL || opt->credentials_dir == NULL || *opt->credentials_dir == '\0') {
		snprintf(why, whylen, "no --pod-credentials-dir was given");
		return -1;
	}
	char *dir = xasprintf("%s/%s", opt->credentials_dir, name);
	int is_dir = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	if (!is_dir)
		snprintf(why, whylen, "no credential set %s in %s", name, opt->credentials_dir);
	free(dir);
	if (!is_dir)
		return -1;
	t->credentials = xstrdup(name);
	char *token = set_file(opt->credentials_dir, name, POD_TLS_TOKEN_FILE);
	char *cert = set_file(opt->credentials_dir, name, POD_TLS_CERT_FILE);
	char *key = set_file(opt->credentials_dir, name, POD_TLS_KEY_FILE);
	int has_token = present(token), has_cert = present(cert), has_key = present(key);
	if (has_token) {
		t->token.path = token;
		token = NULL;
	}
	if (has_cert && has_key) {
		t->cert_path = cert;
		t->key_path = key;
		cert = key = NULL;
	}
	free(token);
	free(cert);
	free(key);
	if (has_cert != has_key) {
		snprintf(why, whylen, "credential set %s has only one of %s and %s", name,
			 POD_TLS_CERT_FILE, POD_TLS_KEY_FILE);
		return -1;
	}
	if (!has_token && !has_cert) {
		snprintf(why, whylen, "credential set %s has neither %s nor %s and %s", name,
			 POD_TLS_TOKEN_FILE, POD_TLS_CERT_FILE, POD_TLS_KEY_FILE);
		return -1;
	}
	if (t->token.path && token_load(&t->token, opt, why, whylen) != 0)
		return -1;
	if (t->cert_path && (!readable(t->cert_path, why, whylen) || !readable(t->key_path, why, whylen)))
		return -1;
	return 0;
}

int pod_tls_read(const kube_pod *pod, const pod_tls_options *opt, pod_tls *out,
		 const char **key, const char **value, char *why, size_t whylen)
{
	const char *scheme = kube_pod_annotation(pod, POD_ANN_SCHEME);
	const char *name = kube_pod_annotation(pod, POD_ANN_TLS_SERVER_NAME);
	const char *creds = kube_pod_annotation(pod, POD_ANN_CREDENTIALS);

	if (scheme && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		return bad(POD_ANN_SCHEME, scheme, key, value, why, whylen,
			   "not \"http\" or \"https\"");
	out->https = scheme && strcmp(scheme, "https") == 0;
	if (name && !out->https)
		return bad(POD_ANN_TLS_SERVER_NAME, name, key, value, why, whylen,
			   "only with profefe.com/scheme \"https\"");
	if (name && !dns_name_ok(name))
		return bad(POD_ANN_TLS_SERVER_NAME, name, key, value, why, whylen,
			   "not a DNS name");
	if (creds && !out->https)
		return bad(POD_ANN_CREDENTIALS, creds, key, value, why, whylen,
			   "credentials go only over https (profefe.com/scheme \"https\")");
	if (creds && read_credentials(creds, opt, out, why, whylen) != 0)
		return bad(POD_ANN_CREDENTIALS, creds, key, value, why, whylen, NULL);
	if (!out->https)
		return 0;
	out->server_name = name ? xstrdup(name) : NULL;
	out->insecure = opt && opt->insecure;
	out->ca_file = opt && opt->ca_file && *opt->ca_file ? xstrdup(opt->ca_file) : NULL;
	return 0;
}

void pod_tls_clear(pod_tls *t)
{
	free(t->ca_file);
	free(t->server_name);
	free(t->credentials);
	free(t->cert_path);
	free(t->key_path);
	free(t->token.path);
	free(t->token.header);
	memset(t, 0, sizeof(*t));
}

/* A copy of s, NULL for NULL. */
static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void pod_tls_copy(pod_tls *dst, const pod_tls *src)
{
	*dst = *src;
	dst->ca_file = dup_or_null(src->ca_file);
	dst->server_name = dup_or_null(src->server_name);
	dst->credentials = dup_or_null(src->credentials);
	dst->cert_path = dup_or_null(src->cert_path);
	dst->key_path = dup_or_null(src->key_path);
	dst->token.path = dup_or_null(src->token.path);
	dst->token.header = dup_or_null(src->token.header);
}

int pod_tls_equal(const pod_tls *a, const pod_tls *b)
{
	return a->https == b->https && a->insecure == b->insecure && str_eq(a->ca_file, b->ca_file) &&
	       str_eq(a->server_name, b->server_name) && str_eq(a->credentials, b->credentials) &&
	       str_eq(a->cert_path, b->cert_path) && str_eq(a->key_path, b->key_path) &&
	       str_eq(a->token.path, b->token.path);
}

char *pod_tls_base_url(const pod_tls *t, const char *ip, int port, const char *path)
{
	const char *scheme = t->https ? "https" : "http";
	if (t->server_name)
		return xasprintf("%s://%s:%d%s", scheme, t->server_name, port, path);
	if (strchr(ip, ':') != NULL)
		return xasprintf("%s://[%s]:%d%s", scheme, ip, port, path);
	return xasprintf("%s://%s:%d%s", scheme, ip, port, path);
}

void pod_tls_set_scheme(pod_tls *t, int https, const pod_tls_options *opt)
{
	if (https == t->https)
		return;
	pod_tls_clear(t);
	if (!https)
		return;
	t->https = 1;
	t->insecure = opt && opt->insecure;
	t->ca_file = opt && opt->ca_file && *opt->ca_file ? xstrdup(opt->ca_file) : NULL;
}

/* ---- per fetch --------------------------------------------------------------------------- */

static void token_refresh(pod_tls_file *f, const char *pod_key)
{
	char why[512];
	if (!token_changed(f))
		return;
	/* The options only matter for the service-account check, which looks at the
	 * default path here: a token that became the collector's own is refused too. */
	if (token_load(f, NULL, why, sizeof(why)) == 0) {
		metrics_add(METRIC_POD_TOKEN_RELOADS_TOTAL, 1, "result", "ok", NULL);
		return;
	}
	metrics_add(METRIC_POD_TOKEN_RELOADS_TOTAL, 1, "result", "failed", NULL);
	log_event(LOG_WARN, "pod token could not be read again; sending the last one read", "pod",
		  pod_key, "error", why, NULL);
}

void pod_tls_request_for(pod_tls *t, const char *pod_key, const char *ip, int port,
			 pod_tls_request *req)
{
	memset(req, 0, sizeof(*req));
	if (!t->https)
		return;
	req->tls.ca_file = t->ca_file;
	req->tls.insecure = t->insecure;
	req->tls.cert_file = t->cert_path;
	req->tls.key_file = t->key_path;
	if (t->server_name) {
		snprintf(req->connect_host, sizeof(req->connect_host),
			 strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
		req->tls.connect_host = req->connect_host;
	}
	if (t->token.path) {
		token_refresh(&t->token, pod_key);
		req->headers[0] = t->token.header;
	}
}

void pod_tls_note_target(const pod_tls *t, const char *pod_key)
{
	if (!t->https || !t->insecure)
		return;
	log_event(LOG_WARN, "pod certificate not verified (--pod-insecure-skip-verify)", "pod",
		  pod_key, NULL);
	metrics_add(METRIC_POD_TLS_INSECURE_TOTAL, 1, NULL);
}

size_t pod_tls_extra_reserve(const pod_tls *t)
{
	return t->https ? TLS_EXTRA_RESERVE_BYTES : 0;
}

int pod_tls_options_check(const pod_tls_options *opt, char *err, size_t errlen)
{
	struct stat st;
	const char *dir = opt->credentials_dir;
	if (opt->ca_file && *opt->ca_file && !readable(opt->ca_file, err, errlen))
		return -1;
	if (dir == NULL || *dir == '\0')
		return 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "--pod-credentials-dir %s: not a directory", dir);
		return -1;
	}
	char real[PATH_MAX];
	if (realpath(dir, real) &&
	    (strncmp(real, "/var/run/secrets/kubernetes.io", 30) == 0 ||
	     strncmp(real, "/run/secrets/kubernetes.io", 26) == 0)) {
		snprintf(err, errlen, "--pod-credentials-dir %s: the service account's secrets are "
				      "never sent to pods", dir);
		return -1;
	}
	return 0;
}
