/* kube_config: where the API server is and how to authenticate: in-cluster service account
 * files or a kubeconfig (as kubectl prints it in JSON), exec credential plugins. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "kprofefe/buf.h"
#include "kprofefe/kube.h"
#include "kprofefe/xalloc.h"
#include "kube_internal.h"

extern char **environ;

#define KUBE_TOKEN_MAX (64 * 1024)
#define KUBE_FILE_MAX (4 * 1024 * 1024)
#define KUBE_RUN_TIMEOUT_MS 30000
#define KUBE_EXEC_OUT_MAX (1024 * 1024)
#define KUBE_KUBECTL_OUT_MAX (64 * 1024 * 1024)
#define KUBE_EXEC_EARLY_S 10

struct kube_exec {
	char *api_version;
	char *command;
	char **argv; /* command, args..., NULL */
	char **env;  /* "NAME=value", ..., NULL */
};

struct kube_config {
	char *server;
	char *ns;
	char *tls_server_name;
	char *ca_file;
	char *ca_pem;
	char *cert_file;
	char *cert_pem;
	char *key_file;
	char *key_pem;
	int insecure;
	http_tls tls;

	char *token; /* current bearer token, whatever its source */

	char *token_file; /* re-read when it changes */
	int token_stat_valid;
	dev_t token_dev;
	ino_t token_ino;
	off_t token_size;
	struct timespec token_mtime;

	struct kube_exec *exec;
	int exec_valid; /* the plugin's credential is there and usable */
	int exec_gave_token;
	time_t exec_expiry; /* 0: never expires */
	char *exec_cert_pem;
	char *exec_key_pem;
	char *user_name;
};

/* ---- shared helpers -------------------------------------------------------------------- */

int kube_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

yajl_val kube_json_get(yajl_val obj, const char *key)
{
	size_t i;

	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

int kube_json_str(yajl_val obj, const char *key, const char **out)
{
	yajl_val v = kube_json_get(obj, key);

	*out = NULL;
	if (v == NULL || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_STRING(v))
		return -1;
	*out = v->u.string;
	return 0;
}

/* ---- base64 and time ------------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *kube_base64_decode(const char *in, size_t in_len, size_t *out_len)
{
	unsigned char *out = xmalloc(in_len / 4 * 3 + 4);
	size_t n = 0, i, pad = 0;
	unsigned int acc = 0;
	int have = 0;

	for (i = 0; i < in_len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (isspace(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad > 0) /* bad character, or data after padding */
			goto bad;
		acc = (acc << 6) | (unsigned int)v;
		if (++have == 4) {
			out[n++] = (unsigned char)(acc >> 16);
			out[n++] = (unsigned char)(acc >> 8);
			out[n++] = (unsigned char)acc;
			acc = 0;
			have = 0;
		}
	}
	/* A lone sixth of a byte cannot be; padding must complete a quantum. */
	if (have == 1 || (pad > 0 && (size_t)have + pad != 4) || pad > 2)
		goto bad;
	if (have == 2) {
		out[n++] = (unsigned char)(acc >> 4);
	} else if (have == 3) {
		out[n++] = (unsigned char)(acc >> 10);
		out[n++] = (unsigned char)(acc >> 2);
	}
	out[n] = '\0';
	*out_len = n;
	return out;
bad:
	free(out);
	return NULL;
}

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *chars)
{
	if (**p == '\0' || strchr(chars, **p) == NULL)
		return -1;
	(*p)++;
	return 0;
}

int kube_parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm;
	int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
	const char *p = s;
	time_t t;

	if (parse_digits(&p, 4, &year) || expect(&p, "-") || parse_digits(&p, 2, &mon) ||
	    expect(&p, "-") || parse_digits(&p, 2, &day) || expect(&p, "Tt") ||
	    parse_digits(&p, 2, &hour) || expect(&p, ":") || parse_digits(&p, 2, &min) ||
	    expect(&p, ":") || parse_digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (parse_digits(&p, 2, &oh) || expect(&p, ":") || parse_digits(&p, 2, &om))
			return -1;
	} else {
		return -1;
	}
	if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
	    sec > 60 || oh > 23 || om > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- files and processes --------------------------------------------------------------- */

static int read_file(const char *path, size_t max, buf_t *out, char *err, size_t errlen)
{
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kube_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
	buf_reset(out);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kube_errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		buf_append(out, chunk, (size_t)n);
		if (out->len > max) {
			close(fd);
			return kube_errf(err, errlen, "%s is larger than %zu bytes", path, max);
		}
	}
	close(fd);
	return 0;
}

static char *trim_dup(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	return xstrndup(s, len);
}

static long ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Keeps only the last line of a program's stderr, for error messages. */
static const char *last_line(buf_t *b)
{
	char *s, *nl;

	if (b->len == 0)
		return "";
	s = (char *)b->data;
	while (b->len > 0 && isspace((unsigned char)s[b->len - 1]))
		s[--b->len] = '\0';
	nl = strrchr(s, '\n');
	return nl ? nl + 1 : s;
}

/*
 * Runs argv (no shell; PATH searched) with envp (NULL: ours), stdin from /dev/null,
 * collecting stdout (at most max bytes) and stderr (the tail). Kills it after timeout_ms.
 * Returns 0 when it exited with status 0, else -1 with a message naming what.
 */
static int run_capture(char *const argv[], char *const envp[], long timeout_ms, size_t max,
		       buf_t *out, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	int opipe[2], epipe[2], status = 0, rc = -1, killed = 0;
	pid_t pid;
	struct timespec start;
	buf_t errbuf = BUF_INIT;
	struct pollfd pfd[2];

	if (pipe(opipe) < 0)
		return kube_errf(err, errlen, "pipe: %s", strerror(errno));
	if (pipe(epipe) < 0) {
		close(opipe[0]);
		close(opipe[1]);
		return kube_errf(err, errlen, "pipe: %s", strerror(errno));
	}
	fcntl(opipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(epipe[0], F_SETFD, FD_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
	posix_spawn_file_actions_addclose(&fa, opipe[1]);
	posix_spawn_file_actions_addclose(&fa, epipe[1]);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	close(opipe[1]);
	close(epipe[1]);
	if (rc != 0) {
		close(opipe[0]);
		close(epipe[0]);
		return kube_errf(err, errlen, "cannot run %s: %s", argv[0], strerror(rc));
	}
	rc = -1;
	buf_reset(out);
	clock_gettime(CLOCK_MONOTONIC, &start);
	pfd[0].fd = opipe[0];
	pfd[1].fd = epipe[0];
	pfd[0].events = pfd[1].events = POLLIN;
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		long left = timeout_ms - ms_since(&start);
		char chunk[8192];
		int i;

		if (left <= 0) {
			killed = 1;
			break;
		}
		if (poll(pfd, 2, (int)left) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			buf_append(i == 0 ? out : &errbuf, chunk, (size_t)n);
			if (errbuf.len > 4096)
				buf_consume(&errbuf, errbuf.len - 4096);
		}
		if (out->len > max) {
			kube_errf(err, errlen, "%s printed more than %zu bytes", argv[0], max);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			goto done;
		}
	}
	/* Output closed: give the process what is left of the timeout to exit. */
	while (!killed && waitpid(pid, &status, WNOHANG) == 0) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (ms_since(&start) >= timeout_ms)
			killed = 1;
		else
			nanosleep(&ts, NULL);
	}
	if (killed) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kube_errf(err, errlen, "%s did not finish within %ld seconds", argv[0],
			  timeout_ms / 1000);
		goto done;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
	} else if (WIFEXITED(status)) {
		kube_errf(err, errlen, "%s exited with status %d: %s", argv[0], WEXITSTATUS(status),
			  last_line(&errbuf));
	} else {
		kube_errf(err, errlen, "%s was killed by signal %d: %s", argv[0],
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0, last_line(&errbuf));
	}
done:
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	buf_free(&errbuf);
	return rc;
}

/* ---- the config object ----------------------------------------------------------------- */

static void strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void exec_free(struct kube_exec *e)
{
	if (e == NULL)
		return;
	free(e->api_version);
	free(e->command);
	strv_free(e->argv);
	strv_free(e->env);
	free(e);
}

void kube_config_free(kube_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->server);
	free(cfg->ns);
	free(cfg->tls_server_name);
	free(cfg->ca_file);
	free(cfg->ca_pem);
	free(cfg->cert_file);
	free(cfg->cert_pem);
	free(cfg->key_file);
	free(cfg->key_pem);
	free(cfg->token);
	free(cfg->token_file);
	exec_free(cfg->exec);
	free(cfg->exec_cert_pem);
	free(cfg->exec_key_pem);
	free(cfg->user_name);
	free(cfg);
}

/* Points tls at the current files and PEMs; an exec plugin's client cert wins. */
static void update_tls(kube_config *cfg)
{
	http_tls *t = &cfg->tls;

	memset(t, 0, sizeof(*t));
	t->ca_file = cfg->ca_file;
	t->ca_pem = cfg->ca_pem;
	t->insecure = cfg->insecure;
	if (cfg->exec_cert_pem && cfg->exec_key_pem) {
		t->cert_pem = cfg->exec_cert_pem;
		t->key_pem = cfg->exec_key_pem;
		return;
	}
	t->cert_file = cfg->cert_file;
	t->cert_pem = cfg->cert_pem;
	t->key_file = cfg->key_file;
	t->key_pem = cfg->key_pem;
}

const char *kube_config_server(const kube_config *cfg)
{
	return cfg->server;
}

const char *kube_config_namespace(const kube_config *cfg)
{
	return cfg->ns;
}

const char *kube_config_token(const kube_config *cfg)
{
	return cfg->token;
}

const http_tls *kube_config_tls(const kube_config *cfg)
{
	return &cfg->tls;
}

const char *kube_config_tls_server_name(const kube_config *cfg)
{
	return cfg->tls_server_name;
}

/* Re-reads the token file when stat says it changed (kubelet swaps a symlink, so the
 * inode changes too). */
static int refresh_token_file(kube_config *cfg, char *err, size_t errlen)
{
	struct stat st;
	buf_t b = BUF_INIT;
	char *tok;

	if (stat(cfg->token_file, &st) < 0)
		return kube_errf(err, errlen, "cannot stat token file %s: %s", cfg->token_file,
				 strerror(errno));
	if (cfg->token_stat_valid && st.st_dev == cfg->token_dev && st.st_ino == cfg->token_ino &&
	    st.st_size == cfg->token_size && st.st_mtim.tv_sec == cfg->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == cfg->token_mtime.tv_nsec)
		return 0;
	if (read_file(cfg->token_file, KUBE_TOKEN_MAX, &b, err, errlen) < 0) {
		buf_free(&b);
		return -1;
	}
	tok = trim_dup(b.data ? (const char *)b.data : "", b.len);
	buf_free(&b);
	if (tok[0] == '\0') {
		free(tok);
		return kube_errf(err, errlen, "token file %s is empty", cfg->token_file);
	}
	free(cfg->token);
	cfg->token = tok;
	cfg->token_stat_valid = 1;
	cfg->token_dev = st.st_dev;
	cfg->token_ino = st.st_ino;
	cfg->token_size = st.st_size;
	cfg->token_mtime = st.st_mtim;
	return 0;
}

/* The ExecCredential we hand the plugin in KUBERNETES_EXEC_INFO. */
static char *exec_info_json(const char *api_version)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;
	char *s;

#define GSTR(x) yajl_gen_string(g, (const unsigned char *)(x), strlen(x))
	yajl_gen_map_open(g);
	GSTR("apiVersion");
	GSTR(api_version);
	GSTR("kind");
	GSTR("ExecCredential");
	GSTR("spec");
	yajl_gen_map_open(g);
	GSTR("interactive");
	yajl_gen_bool(g, 0);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
#undef GSTR
	yajl_gen_get_buf(g, &out, &len);
	s = xstrndup((const char *)out, len);
	yajl_gen_free(g);
	return s;
}

/* Our environment, with the plugin's variables and KUBERNETES_EXEC_INFO set over it. */
static char **exec_environ(const struct kube_exec *e, const char *info)
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (e->env[m] != NULL)
		m++;
	env = xcalloc(n + m + 2, sizeof(*env));
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nlen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int overridden = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;

		for (j = 0; j < m && !overridden; j++)
			if (strncmp(environ[i], e->env[j], nlen) == 0 && e->env[j][nlen] == '=')
				overridden = 1;
		if (!overridden)
			env[k++] = xstrdup(environ[i]);
	}
	for (j = 0; j < m; j++)
		env[k++] = xstrdup(e->env[j]);
	env[k++] = xasprintf("KUBERNETES_EXEC_INFO=%s", info);
	env[k] = NULL;
	return env;
}

int kube_exec_credential_parse(kube_config *cfg, const char *text, char *err, size_t errlen)
{
	char perr[256];
	yajl_val root = yajl_tree_parse(text, perr, sizeof(perr));
	yajl_val status;
	const char *kind, *apiv, *token, *cert, *key, *exp;
	time_t expiry = 0;
	int rc = -1;

	if (root == NULL)
		return kube_errf(err, errlen, "exec plugin %s printed invalid JSON: %s",
				 cfg->exec->command, perr);
	status = kube_json_get(root, "status");
	if (kube_json_str(root, "kind", &kind) || kube_json_str(root, "apiVersion", &apiv) ||
	    kind == NULL || strcmp(kind, "ExecCredential") != 0) {
		kube_errf(err, errlen, "exec plugin %s did not print an ExecCredential",
			  cfg->exec->command);
		goto out;
	}
	if (apiv == NULL || strcmp(apiv, cfg->exec->api_version) != 0) {
		kube_errf(err, errlen, "exec plugin %s answered apiVersion \"%s\", expected \"%s\"",
			  cfg->exec->command, apiv ? apiv : "", cfg->exec->api_version);
		goto out;
	}
	if (!YAJL_IS_OBJECT(status) || kube_json_str(status, "token", &token) ||
	    kube_json_str(status, "clientCertificateData", &cert) ||
	    kube_json_str(status, "clientKeyData", &key) ||
	    kube_json_str(status, "expirationTimestamp", &exp)) {
		kube_errf(err, errlen, "exec plugin %s printed an ExecCredential without a valid status",
			  cfg->exec->command);
		goto out;
	}
	if ((cert == NULL) != (key == NULL) || (token == NULL && cert == NULL)) {
		kube_errf(err, errlen, "exec plugin %s gave neither a token nor a client certificate and key",
			  cfg->exec->command);
		goto out;
	}
	if (exp != NULL && kube_parse_rfc3339(exp, &expiry) < 0) {
		kube_errf(err, errlen, "exec plugin %s gave an invalid expirationTimestamp \"%s\"",
			  cfg->exec->command, exp);
		goto out;
	}
	free(cfg->exec_cert_pem);
	free(cfg->exec_key_pem);
	cfg->exec_cert_pem = cert ? xstrdup(cert) : NULL;
	cfg->exec_key_pem = key ? xstrdup(key) : NULL;
	cfg->exec_gave_token = token != NULL;
	if (token != NULL) {
		free(cfg->token);
		cfg->token = xstrdup(token);
	}
	cfg->exec_expiry = expiry;
	cfg->exec_valid = 1;
	update_tls(cfg);
	rc = 0;
out:
	yajl_tree_free(root);
	return rc;
}

static int run_exec_plugin(kube_config *cfg, char *err, size_t errlen)
{
	char *info = exec_info_json(cfg->exec->api_version);
	char **env = exec_environ(cfg->exec, info);
	buf_t out = BUF_INIT;
	int rc;

	rc = run_capture(cfg->exec->argv, env, KUBE_RUN_TIMEOUT_MS, KUBE_EXEC_OUT_MAX, &out, err,
			 errlen);
	if (rc == 0)
		rc = kube_exec_credential_parse(cfg, out.data ? (const char *)out.data : "", err, errlen);
	buf_free(&out);
	strv_free(env);
	free(info);
	return rc;
}

int kube_config_refresh(kube_config *cfg, char *err, size_t errlen)
{
	if (cfg->exec != NULL) {
		int stale = !cfg->exec_valid ||
			    (cfg->exec_expiry != 0 &&
			     time(NULL) + KUBE_EXEC_EARLY_S >= cfg->exec_expiry);

		if (stale && run_exec_plugin(cfg, err, errlen) < 0)
			return -1;
		/* A plugin that gave a certificate only may still go with a token file. */
		if (cfg->exec_gave_token)
			return 0;
	}
	if (cfg->token_file != NULL)
		return refresh_token_file(cfg, err, errlen);
	return 0;
}

void kube_config_invalidate(kube_config *cfg)
{
	if (cfg->exec != NULL)
		cfg->exec_valid = 0;
}

/* ---- in-cluster ------------------------------------------------------------------------ */

kube_config *kube_config_in_cluster(const char *dir, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	kube_config *cfg;
	buf_t b = BUF_INIT;
	char *path;

	if (dir == NULL)
		dir = getenv("KPROFEFE_SERVICEACCOUNT_DIR");
	if (dir == NULL || dir[0] == '\0')
		dir = KUBE_SERVICEACCOUNT_DIR;
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
		kube_errf(err, errlen, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
			  "set: not running in a cluster (use a kubeconfig instead)");
		return NULL;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	if (strchr(host, ':') != NULL && host[0] != '[')
		cfg->server = xasprintf("https://[%s]:%s", host, port);
	else
		cfg->server = xasprintf("https://%s:%s", host, port);
	cfg->token_file = xasprintf("%s/token", dir);
	cfg->ca_file = xasprintf("%s/ca.crt", dir);
	if (access(cfg->ca_file, R_OK) < 0) {
		kube_errf(err, errlen, "cannot read the service account CA %s: %s", cfg->ca_file,
			  strerror(errno));
		goto fail;
	}
	path = xasprintf("%s/namespace", dir);
	if (read_file(path, KUBE_TOKEN_MAX, &b, NULL, 0) == 0 && b.len > 0)
		cfg->ns = trim_dup((const char *)b.data, b.len);
	free(path);
	buf_free(&b);
	if (cfg->ns == NULL || cfg->ns[0] == '\0') {
		free(cfg->ns);
		cfg->ns = xstrdup("default");
	}
	update_tls(cfg);
	if (refresh_token_file(cfg, err, errlen) < 0)
		goto fail;
	return cfg;
fail:
	kube_config_free(cfg);
	return NULL;
}

/* ---- kubeconfig ------------------------------------------------------------------------ */

/* The entry named name in a kubeconfig list (clusters, users, contexts), its inner object
 * (under inner). NULL when not found. */
static yajl_val find_named(yajl_val root, const char *list, const char *inner, const char *name)
{
	yajl_val arr = kube_json_get(root, list);
	size_t i;

	if (!YAJL_IS_ARRAY(arr))
		return NULL;
	for (i = 0; i < arr->u.array.len; i++) {
		const char *n;
		yajl_val e = arr->u.array.values[i];

		if (kube_json_str(e, "name", &n) == 0 && n != NULL && strcmp(n, name) == 0)
			return kube_json_get(e, inner);
	}
	return NULL;
}

static char *resolve_path(const char *base_dir, const char *p)
{
	if (p[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
		return xstrdup(p);
	return xasprintf("%s/%s", base_dir, p);
}

/* A base64 *-data member decoded to PEM text: 0 (with *out NULL when absent) or -1. */
static int data_field(yajl_val obj, const char *key, char **out, char *err, size_t errlen)
{
	const char *s;
	size_t n;

	*out = NULL;
	if (kube_json_str(obj, key, &s) < 0)
		return kube_errf(err, errlen, "kubeconfig: %s is not a string", key);
	if (s == NULL || s[0] == '\0')
		return 0;
	*out = (char *)kube_base64_decode(s, strlen(s), &n);
	if (*out == NULL)
		return kube_errf(err, errlen, "kubeconfig: %s is not valid base64", key);
	if (strlen(*out) != n) {
		free(*out);
		*out = NULL;
		return kube_errf(err, errlen, "kubeconfig: %s does not hold PEM text", key);
	}
	return 0;
}

static int path_field(yajl_val obj, const char *key, const char *base_dir, char **out, char *err,
		      size_t errlen)
{
	const char *s;

	*out = NULL;
	if (kube_json_str(obj, key, &s) < 0)
		return kube_errf(err, errlen, "kubeconfig: %s is not a string", key);
	if (s != NULL && s[0] != '\0')
		*out = resolve_path(base_dir, s);
	return 0;
}

static int parse_cluster(kube_config *cfg, yajl_val cl, const char *base_dir, char *err,
			 size_t errlen)
{
	const char *server, *sni;
	yajl_val insecure = kube_json_get(cl, "insecure-skip-tls-verify");
	size_t len;

	if (kube_json_str(cl, "server", &server) < 0 || server == NULL || server[0] == '\0')
		return kube_errf(err, errlen, "kubeconfig: the cluster has no server");
	if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
		return kube_errf(err, errlen, "kubeconfig: server \"%s\" is not an http(s) URL",
				 server);
	len = strlen(server);
	while (len > 0 && server[len - 1] == '/')
		len--;
	cfg->server = xstrndup(server, len);
	if (kube_json_str(cl, "tls-server-name", &sni) < 0)
		return kube_errf(err, errlen, "kubeconfig: tls-server-name is not a string");
	if (sni != NULL && sni[0] != '\0')
		cfg->tls_server_name = xstrdup(sni);
	cfg->insecure = YAJL_IS_TRUE(insecure);
	if (path_field(cl, "certificate-authority", base_dir, &cfg->ca_file, err, errlen) < 0 ||
	    data_field(cl, "certificate-authority-data", &cfg->ca_pem, err, errlen) < 0)
		return -1;
	if (cfg->ca_pem != NULL) { /* kubectl: data wins over the file */
		free(cfg->ca_file);
		cfg->ca_file = NULL;
	}
	return 0;
}

static char **string_array(yajl_val arr, const char *first)
{
	size_t n = YAJL_IS_ARRAY(arr) ? arr->u.array.len : 0, i, k = 0;
	char **v = xcalloc(n + 2, sizeof(*v));

	if (first != NULL)
		v[k++] = xstrdup(first);
	for (i = 0; i < n; i++)
		if (YAJL_IS_STRING(arr->u.array.values[i]))
			v[k++] = xstrdup(arr->u.array.values[i]->u.string);
	return v;
}

static int parse_exec(kube_config *cfg, yajl_val ex, const char *base_dir, char *err,
		      size_t errlen)
{
	const char *apiv, *cmd;
	yajl_val args = kube_json_get(ex, "args"), env = kube_json_get(ex, "env");
	struct kube_exec *e;
	size_t i, n;

	if (kube_json_str(ex, "apiVersion", &apiv) < 0 || kube_json_str(ex, "command", &cmd) < 0 ||
	    cmd == NULL || cmd[0] == '\0')
		return kube_errf(err, errlen, "kubeconfig user %s: exec has no command",
				 cfg->user_name);
	if (apiv == NULL || (strcmp(apiv, "client.authentication.k8s.io/v1") != 0 &&
			     strcmp(apiv, "client.authentication.k8s.io/v1beta1") != 0))
		return kube_errf(err, errlen, "kubeconfig user %s: exec apiVersion \"%s\" is not "
				 "supported (use client.authentication.k8s.io/v1 or v1beta1)",
				 cfg->user_name, apiv ? apiv : "");
	if ((args != NULL && !YAJL_IS_ARRAY(args) && !YAJL_IS_NULL(args)) ||
	    (env != NULL && !YAJL_IS_ARRAY(env) && !YAJL_IS_NULL(env)))
		return kube_errf(err, errlen, "kubeconfig user %s: exec args and env must be lists",
				 cfg->user_name);
	e = xcalloc(1, sizeof(*e));
	cfg->exec = e;
	e->api_version = xstrdup(apiv);
	/* Like client-go: a command with a '/' is relative to the kubeconfig, a bare name is
	 * looked up in PATH. */
	e->command = strchr(cmd, '/') ? resolve_path(base_dir, cmd) : xstrdup(cmd);
	e->argv = string_array(args, e->command);
	n = YAJL_IS_ARRAY(env) ? env->u.array.len : 0;
	e->env = xcalloc(n + 1, sizeof(*e->env));
	for (i = 0; i < n; i++) {
		const char *name, *value;
		yajl_val item = env->u.array.values[i];

		if (kube_json_str(item, "name", &name) < 0 || kube_json_str(item, "value", &value) < 0 ||
		    name == NULL || name[0] == '\0' || strchr(name, '=') != NULL)
			return kube_errf(err, errlen, "kubeconfig user %s: exec env[%zu] needs a name "
					 "and a value", cfg->user_name, i);
		e->env[i] = xasprintf("%s=%s", name, value ? value : "");
	}
	return 0;
}

static int parse_user(kube_config *cfg, yajl_val u, const char *base_dir, char *err,
		      size_t errlen)
{
	yajl_val ap = kube_json_get(u, "auth-provider");
	yajl_val ex = kube_json_get(u, "exec");
	const char *token, *s;

	if (ap != NULL && !YAJL_IS_NULL(ap)) {
		const char *name = NULL;

		kube_json_str(ap, "name", &name);
		return kube_errf(err, errlen, "kubeconfig user %s uses auth-provider \"%s\", which "
				 "kubectl-profefe does not support; use an exec plugin",
				 cfg->user_name, name ? name : "");
	}
	if ((kube_json_str(u, "username", &s) == 0 && s != NULL && s[0] != '\0') ||
	    (kube_json_str(u, "password", &s) == 0 && s != NULL && s[0] != '\0'))
		return kube_errf(err, errlen, "kubeconfig user %s uses a username and password, which "
				 "kubectl-profefe does not support; use a token, a client "
				 "certificate or an exec plugin", cfg->user_name);
	if ((kube_json_str(u, "as", &s) == 0 && s != NULL && s[0] != '\0') ||
	    kube_json_get(u, "as-groups") != NULL)
		return kube_errf(err, errlen, "kubeconfig user %s uses impersonation (as), which "
				 "kubectl-profefe does not support", cfg->user_name);
	if (kube_json_str(u, "token", &token) < 0)
		return kube_errf(err, errlen, "kubeconfig user %s: token is not a string",
				 cfg->user_name);
	if (token != NULL && token[0] != '\0')
		cfg->token = xstrdup(token);
	if (path_field(u, "tokenFile", base_dir, &cfg->token_file, err, errlen) < 0 ||
	    path_field(u, "client-certificate", base_dir, &cfg->cert_file, err, errlen) < 0 ||
	    path_field(u, "client-key", base_dir, &cfg->key_file, err, errlen) < 0 ||
	    data_field(u, "client-certificate-data", &cfg->cert_pem, err, errlen) < 0 ||
	    data_field(u, "client-key-data", &cfg->key_pem, err, errlen) < 0)
		return -1;
	if (cfg->cert_pem != NULL) {
		free(cfg->cert_file);
		cfg->cert_file = NULL;
	}
	if (cfg->key_pem != NULL) {
		free(cfg->key_file);
		cfg->key_file = NULL;
	}
	if ((cfg->cert_file || cfg->cert_pem) != (cfg->key_file || cfg->key_pem))
		return kube_errf(err, errlen, "kubeconfig user %s has a client certificate without "
				 "a key or a key without a certificate", cfg->user_name);
	if (ex != NULL && !YAJL_IS_NULL(ex))
		return parse_exec(cfg, ex, base_dir, err, errlen);
	return 0;
}

kube_config *kube_config_from_json(const char *json, const char *base_dir, char *err,
				   size_t errlen)
{
	char perr[256];
	yajl_val root = yajl_tree_parse(json, perr, sizeof(perr));
	yajl_val ctx, cl, u;
	const char *cur, *cluster = NULL, *user = NULL, *ns = NULL;
	kube_config *cfg = NULL;

	if (root == NULL) {
		kube_errf(err, errlen, "kubeconfig is not valid JSON: %s", perr);
		return NULL;
	}
	if (kube_json_str(root, "current-context", &cur) < 0 || cur == NULL || cur[0] == '\0') {
		kube_errf(err, errlen, "kubeconfig has no current context (set one with kubectl "
			  "config use-context, or pass --context)");
		goto out;
	}
	ctx = find_named(root, "contexts", "context", cur);
	if (!YAJL_IS_OBJECT(ctx)) {
		kube_errf(err, errlen, "kubeconfig: context \"%s\" not found", cur);
		goto out;
	}
	if (kube_json_str(ctx, "cluster", &cluster) < 0 || kube_json_str(ctx, "user", &user) < 0 ||
	    kube_json_str(ctx, "namespace", &ns) < 0 || cluster == NULL) {
		kube_errf(err, errlen, "kubeconfig: context \"%s\" names no cluster", cur);
		goto out;
	}
	cl = find_named(root, "clusters", "cluster", cluster);
	if (!YAJL_IS_OBJECT(cl)) {
		kube_errf(err, errlen, "kubeconfig: cluster \"%s\" of context \"%s\" not found",
			  cluster, cur);
		goto out;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->ns = xstrdup(ns && ns[0] ? ns : "default");
	cfg->user_name = xstrdup(user ? user : "");
	if (parse_cluster(cfg, cl, base_dir, err, errlen) < 0)
		goto fail;
	u = user ? find_named(root, "users", "user", user) : NULL;
	if (u != NULL && !YAJL_IS_OBJECT(u) && !YAJL_IS_NULL(u)) {
		kube_errf(err, errlen, "kubeconfig: user \"%s\" is not an object", user);
		goto fail;
	}
	if (YAJL_IS_OBJECT(u) && parse_user(cfg, u, base_dir, err, errlen) < 0)
		goto fail;
	update_tls(cfg);
	goto out;
fail:
	kube_config_free(cfg);
	cfg = NULL;
out:
	yajl_tree_free(root);
	return cfg;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

kube_config *kube_config_from_kubectl(const char *kubectl, const char *kubeconfig,
				      const char *context, char *err, size_t errlen)
{
	const char *argv[12];
	size_t n = 0;
	buf_t out = BUF_INIT;
	char *base = NULL;
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	kube_config *cfg = NULL;

	argv[n++] = kubectl ? kubectl : "kubectl";
	argv[n++] = "config";
	argv[n++] = "view";
	argv[n++] = "--raw";
	argv[n++] = "--minify";
	argv[n++] = "-o";
	argv[n++] = "json";
	if (kubeconfig != NULL) {
		argv[n++] = "--kubeconfig";
		argv[n++] = kubeconfig;
	}
	if (context != NULL) {
		argv[n++] = "--context";
		argv[n++] = context;
	}
	argv[n] = NULL;
	/* posix_spawn takes char *const[]; it does not write to the strings. */
	if (run_capture((char *const *)(void *)argv, NULL, KUBE_RUN_TIMEOUT_MS,
			KUBE_KUBECTL_OUT_MAX, &out, err, errlen) < 0)
		goto out;
	if (kubeconfig != NULL) {
		base = dir_of(kubeconfig);
	} else if (env != NULL && env[0] != '\0') {
		char *first = xstrndup(env, strcspn(env, ":"));

		base = dir_of(first);
		free(first);
	} else if (home != NULL) {
		base = xasprintf("%s/.kube", home);
	}
	cfg = kube_config_from_json(out.data ? (const char *)out.data : "", base, err, errlen);
out:
	free(base);
	buf_free(&out);
	return cfg;
}
