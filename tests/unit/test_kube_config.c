/* Tests of kube_config: kubeconfig JSON variants, exec plugins, in-cluster files, base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kprofefe/kube.h"
#include "kprofefe/xalloc.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_kube_config.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int remove_tmpdir(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	(void)state;
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static const char *data_dir(void)
{
	const char *d = getenv("KPROFEFE_TEST_DATA");

	return d ? d : "tests/data";
}

/* A minified kubeconfig with one context; cluster and user bodies are given. */
static char *kubeconfig(const char *cluster, const char *user, const char *ctx_extra)
{
	return xasprintf("{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"current-context\":\"c\","
			 "\"clusters\":[{\"name\":\"cl\",\"cluster\":{%s}}],"
			 "\"users\":[{\"name\":\"u\",\"user\":{%s}}],"
			 "\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"cl\","
			 "\"user\":\"u\"%s}}]}",
			 cluster, user, ctx_extra);
}

static kube_config *load(const char *cluster, const char *user, const char *ctx_extra,
			 char *err, size_t errlen)
{
	char *json = kubeconfig(cluster, user, ctx_extra);
	kube_config *cfg = kube_config_from_json(json, "/home/me/.kube", err, errlen);

	free(json);
	return cfg;
}

/* ---- base64 and time ------------------------------------------------------------------- */

static void check_b64(const char *in, const char *want)
{
	size_t n = 99;
	unsigned char *out = kube_base64_decode(in, strlen(in), &n);

	if (want == NULL) {
		assert_null(out);
		return;
	}
	assert_non_null(out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], 0);
	free(out);
}

static void test_base64(void **state)
{
	(void)state;
	check_b64("", "");
	check_b64("YQ==", "a");
	check_b64("YWI=", "ab");
	check_b64("YWJj", "abc");
	check_b64("YWJjZA==", "abcd");
	check_b64("YQ", "a");      /* padding is optional */
	check_b64("YWI", "ab");
	check_b64("YW\nJj\r\n ZA==\n", "abcd"); /* whitespace anywhere */
	check_b64("Pz8/Pw==", "????");          /* '/' */
	check_b64("Pj4+", ">>>");               /* '+' */
	check_b64("Y", NULL);                   /* a lone sixth of a byte */
	check_b64("YWJjZ", NULL);
	check_b64("YQ=a", NULL);   /* data after padding */
	check_b64("YQ===", NULL);  /* too much padding */
	check_b64("YWJj=", NULL);  /* padding after a full quantum */
	check_b64("YW-j", NULL);   /* URL alphabet is not standard base64 */
	check_b64("YW\x01j", NULL);
}

static void test_base64_binary(void **state)
{
	/* Every byte value survives: "AAECAwQFBgcICQ==" is 0..9. */
	size_t n;
	unsigned char *out = kube_base64_decode("AAECAwQFBgcICQ==", 16, &n);
	size_t i;

	(void)state;
	assert_non_null(out);
	assert_int_equal(n, 10);
	for (i = 0; i < n; i++)
		assert_int_equal(out[i], i);
	free(out);
	out = kube_base64_decode("//79", 4, &n);
	assert_non_null(out);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 0xff);
	assert_int_equal(out[1], 0xfe);
	assert_int_equal(out[2], 0xfd);
	free(out);
}

static void test_rfc3339(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(kube_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(kube_parse_rfc3339("2024-05-01T10:00:00Z", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(kube_parse_rfc3339("2024-05-01T12:00:00.123456+02:00", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(kube_parse_rfc3339("2024-05-01t05:30:00-04:30", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(kube_parse_rfc3339("2024-05-01T10:00:00", &t), -1);
	assert_int_equal(kube_parse_rfc3339("2024-05-01 10:00:00Z", &t), -1);
	assert_int_equal(kube_parse_rfc3339("2024-13-01T10:00:00Z", &t), -1);
	assert_int_equal(kube_parse_rfc3339("2024-05-01T10:00:00.Z", &t), -1);
	assert_int_equal(kube_parse_rfc3339("2024-05-01T10:00:00Zjunk", &t), -1);
	assert_int_equal(kube_parse_rfc3339("", &t), -1);
}

/* ---- kubeconfig ------------------------------------------------------------------------ */

static void test_token_and_namespace(void **state)
{
	char err[512] = "";
	kube_config *cfg;
	const http_tls *tls;

	(void)state;
	cfg = load("\"server\":\"https://10.0.0.1:6443/\"", "\"token\":\"abc\"",
		   ",\"namespace\":\"team\"", err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(kube_config_server(cfg), "https://10.0.0.1:6443");
	assert_string_equal(kube_config_namespace(cfg), "team");
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "abc");
	tls = kube_config_tls(cfg);
	assert_null(tls->ca_file);
	assert_null(tls->ca_pem);
	assert_null(tls->cert_file);
	assert_int_equal(tls->insecure, 0);
	assert_null(kube_config_tls_server_name(cfg));
	kube_config_free(cfg);

	/* No namespace in the context: "default". No user at all: no token. */
	cfg = load("\"server\":\"http://127.0.0.1:8080\"", "", "", err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(kube_config_namespace(cfg), "default");
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_null(kube_config_token(cfg));
	kube_config_free(cfg);
}

static void test_token_file(void **state)
{
	char err[512] = "";
	char *user = xasprintf("\"token\":\"ignored\",\"tokenFile\":\"%s/tok\"", tmpdir);
	kube_config *cfg;

	(void)state;
	write_file(tmpdir, "tok", "first\n");
	cfg = load("\"server\":\"https://k:6443\"", user, "", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "first"); /* tokenFile wins, trimmed */
	write_file(tmpdir, "tok", "second-longer\n");
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "second-longer");
	/* A vanished file is an error, and the last token is kept. */
	{
		char *p = xasprintf("%s/tok", tmpdir);
		unlink(p);
		free(p);
	}
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tok"));
	assert_string_equal(kube_config_token(cfg), "second-longer");
	kube_config_free(cfg);
	free(user);
}

static void test_relative_paths(void **state)
{
	char err[512] = "";
	kube_config *cfg;
	const http_tls *tls;

	(void)state;
	cfg = load("\"server\":\"https://k:6443\",\"certificate-authority\":\"ca.crt\"",
		   "\"client-certificate\":\"certs/me.crt\",\"client-key\":\"/abs/me.key\"", "", err,
		   sizeof(err));
	assert_non_null(cfg);
	tls = kube_config_tls(cfg);
	assert_string_equal(tls->ca_file, "/home/me/.kube/ca.crt");
	assert_string_equal(tls->cert_file, "/home/me/.kube/certs/me.crt");
	assert_string_equal(tls->key_file, "/abs/me.key");
	assert_null(tls->cert_pem);
	kube_config_free(cfg);
}

static void test_data_fields(void **state)
{
	char err[512] = "";
	kube_config *cfg;
	const http_tls *tls;

	(void)state;
	/* "-----BEGIN CA-----\n", "CERT\n", "KEY\n" */
	cfg = load("\"server\":\"https://k:6443\",\"certificate-authority\":\"/x/ca.crt\","
		   "\"certificate-authority-data\":\"LS0tLS1CRUdJTiBDQS0tLS0tCg==\","
		   "\"insecure-skip-tls-verify\":true,\"tls-server-name\":\"kubernetes.default\"",
		   "\"client-certificate-data\":\"Q0VSVAo=\",\"client-key-data\":\"S0VZCg==\"", "",
		   err, sizeof(err));
	assert_non_null(cfg);
	tls = kube_config_tls(cfg);
	assert_null(tls->ca_file); /* the data wins */
	assert_string_equal(tls->ca_pem, "-----BEGIN CA-----\n");
	assert_string_equal(tls->cert_pem, "CERT\n");
	assert_string_equal(tls->key_pem, "KEY\n");
	assert_int_equal(tls->insecure, 1);
	assert_string_equal(kube_config_tls_server_name(cfg), "kubernetes.default");
	kube_config_free(cfg);

	/* Bad base64 and binary data are refused by name. */
	cfg = load("\"server\":\"https://k\",\"certificate-authority-data\":\"%%%\"", "", "", err,
		   sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "certificate-authority-data"));
	cfg = load("\"server\":\"https://k\",\"certificate-authority-data\":\"AAEC\"", "", "", err,
		   sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "PEM"));
	/* A certificate without a key. */
	cfg = load("\"server\":\"https://k\"", "\"client-certificate-data\":\"Q0VSVAo=\"", "", err,
		   sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "without a key"));
}

static void test_errors(void **state)
{
	char err[512] = "";
	kube_config *cfg;

	(void)state;
	cfg = load("\"server\":\"https://k\"",
		   "\"auth-provider\":{\"name\":\"gcp\",\"config\":{}}", "", err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, "kubeconfig user u uses auth-provider \"gcp\", which "
				 "kubectl-profefe does not support; use an exec plugin");
	cfg = load("\"server\":\"https://k\"", "\"username\":\"admin\",\"password\":\"x\"", "", err,
		   sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "username and password"));
	assert_non_null(strstr(err, "user u"));
	cfg = load("\"certificate-authority\":\"x\"", "", "", err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "no server"));
	cfg = load("\"server\":\"ftp://k\"", "", "", err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "not an http"));

	cfg = kube_config_from_json("{\"clusters\":[],\"users\":[],\"contexts\":[]}", NULL, err,
				    sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "no current context"));
	cfg = kube_config_from_json("{\"current-context\":\"\"}", NULL, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "no current context"));
	cfg = kube_config_from_json("{\"current-context\":\"gone\",\"contexts\":[]}", NULL, err,
				    sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "context \"gone\" not found"));
	cfg = kube_config_from_json("{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\","
				    "\"context\":{\"cluster\":\"nope\"}}]}",
				    NULL, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "cluster \"nope\""));
	cfg = kube_config_from_json("{not json", NULL, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "not valid JSON"));
	cfg = kube_config_from_json("[]", NULL, err, sizeof(err));
	assert_null(cfg);
	cfg = load("\"server\":\"https://k\"", "\"token\":7", "", err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "token"));
}

/* ---- exec plugins ---------------------------------------------------------------------- */

static int count_runs(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* An exec user running tests/data/kube/exec-credential.sh with the given args. */
static kube_config *exec_config(const char *api, const char *args, char *count_path, char *err,
				size_t errlen)
{
	char *user = xasprintf("\"exec\":{\"apiVersion\":\"%s\",\"command\":\"%s/kube/"
			       "exec-credential.sh\",\"args\":[%s],\"env\":[{\"name\":"
			       "\"KUBE_TEST_COUNT\",\"value\":\"%s\"},{\"name\":\"KUBE_TEST_SUFFIX\","
			       "\"value\":\"env\"}],\"interactiveMode\":\"Never\","
			       "\"provideClusterInfo\":false}",
			       api, data_dir(), args, count_path);
	kube_config *cfg = load("\"server\":\"https://k\"", user, "", err, errlen);

	free(user);
	return cfg;
}

static void test_exec_v1_cached(void **state)
{
	char err[512] = "";
	char *count = xasprintf("%s/count-v1", tmpdir);
	kube_config *cfg;

	(void)state;
	cfg = exec_config("client.authentication.k8s.io/v1",
			  "\"client.authentication.k8s.io/v1\",\"tok1\",\"2999-01-01T00:00:00Z\"",
			  count, err, sizeof(err));
	assert_non_null(cfg);
	assert_null(kube_config_token(cfg));
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "tok1-env"); /* env reached the plugin */
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_int_equal(count_runs(count), 1); /* cached until expiry */
	kube_config_invalidate(cfg);            /* a 401 */
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_int_equal(count_runs(count), 2);
	kube_config_free(cfg);
	free(count);
}

static void test_exec_v1beta1_expiring(void **state)
{
	char err[512] = "";
	char *count = xasprintf("%s/count-v1beta1", tmpdir);
	char when[64], *args;
	time_t soon = time(NULL) + 5; /* within the 10 s margin: stale at once */
	kube_config *cfg;

	(void)state;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&soon));
	args = xasprintf("\"client.authentication.k8s.io/v1beta1\",\"tok2\",\"%s\",\"cert\"", when);
	cfg = exec_config("client.authentication.k8s.io/v1beta1", args, count, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "tok2-env");
	assert_non_null(strstr(kube_config_tls(cfg)->cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(kube_config_tls(cfg)->key_pem, "BEGIN PRIVATE KEY"));
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_int_equal(count_runs(count), 2);
	kube_config_free(cfg);
	free(args);
	free(count);
}

static void test_exec_errors(void **state)
{
	char err[512] = "";
	char *count = xasprintf("%s/count-err", tmpdir);
	char *user;
	kube_config *cfg;

	(void)state;
	/* The plugin answers another apiVersion than the config asks for. */
	cfg = exec_config("client.authentication.k8s.io/v1",
			  "\"client.authentication.k8s.io/v1beta1\",\"t\"", count, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exited with status 4"));
	kube_config_free(cfg);

	/* A failing plugin: its last stderr line is in the message. */
	user = xasprintf("\"exec\":{\"apiVersion\":\"client.authentication.k8s.io/v1\","
			 "\"command\":\"%s/kube/exec-fail.sh\"}", data_dir());
	cfg = load("\"server\":\"https://k\"", user, "", err, sizeof(err));
	free(user);
	assert_non_null(cfg);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exited with status 2: error: you must log in first"));
	kube_config_free(cfg);

	/* A plugin that does not exist. */
	cfg = load("\"server\":\"https://k\"",
		   "\"exec\":{\"apiVersion\":\"client.authentication.k8s.io/v1\","
		   "\"command\":\"kprofefe-no-such-plugin\"}",
		   "", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kprofefe-no-such-plugin"));
	kube_config_free(cfg);

	/* Removed API version. */
	cfg = load("\"server\":\"https://k\"",
		   "\"exec\":{\"apiVersion\":\"client.authentication.k8s.io/v1alpha1\","
		   "\"command\":\"x\"}",
		   "", err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "v1alpha1"));
	free(count);
}

static void test_exec_relative_command(void **state)
{
	char err[512] = "";
	char *json = kubeconfig("\"server\":\"https://k\"",
				"\"exec\":{\"apiVersion\":\"client.authentication.k8s.io/v1\","
				"\"command\":\"./exec-credential.sh\",\"args\":["
				"\"client.authentication.k8s.io/v1\",\"rel\"]}",
				"");
	char *base = xasprintf("%s/kube", data_dir());
	kube_config *cfg = kube_config_from_json(json, base, err, sizeof(err));

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "rel");
	kube_config_free(cfg);
	free(base);
	free(json);
}

/* ---- in-cluster ------------------------------------------------------------------------ */

static void test_in_cluster(void **state)
{
	char err[512] = "";
	char *sa = xasprintf("%s/sa", tmpdir);
	char *tok = xasprintf("%s/token", sa), *tmp = xasprintf("%s/token.new", sa);
	char *ca = xasprintf("%s/ca.crt", sa);
	kube_config *cfg;

	(void)state;
	assert_int_equal(mkdir(sa, 0700), 0);
	write_file(sa, "token", "token-one\n");
	write_file(sa, "ca.crt", "-----BEGIN CERTIFICATE-----\n");
	write_file(sa, "namespace", "profiling\n");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KPROFEFE_SERVICEACCOUNT_DIR", sa, 1);

	cfg = kube_config_in_cluster(NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(kube_config_server(cfg), "https://[fd00::1]:443");
	assert_string_equal(kube_config_namespace(cfg), "profiling");
	assert_string_equal(kube_config_token(cfg), "token-one");
	assert_string_equal(kube_config_tls(cfg)->ca_file, ca);

	/* Rotation in place (same inode, same size): mtime or size tells. Set an mtime in the
	 * past first so the rewrite cannot land in the same timestamp tick. */
	{
		struct timespec old[2] = {{1000, 0}, {1000, 0}};
		assert_int_equal(utimensat(AT_FDCWD, tok, old, 0), 0);
		assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	}
	write_file(sa, "token", "token-two\n");
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "token-two");

	/* Rotation the kubelet way: a new file renamed over the old one (new inode). */
	write_file(sa, "token.new", "token-three\n");
	assert_int_equal(rename(tmp, tok), 0);
	assert_int_equal(kube_config_refresh(cfg, err, sizeof(err)), 0);
	assert_string_equal(kube_config_token(cfg), "token-three");
	kube_config_free(cfg);

	/* An explicit dir wins over the env variable; no namespace file means "default". */
	setenv("KPROFEFE_SERVICEACCOUNT_DIR", "/nonexistent", 1);
	{
		char *nsf = xasprintf("%s/namespace", sa);
		assert_int_equal(unlink(nsf), 0);
		free(nsf);
	}
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	cfg = kube_config_in_cluster(sa, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(kube_config_server(cfg), "https://10.96.0.1:443");
	assert_string_equal(kube_config_namespace(cfg), "default");
	kube_config_free(cfg);

	/* Errors name what is missing. */
	cfg = kube_config_in_cluster(NULL, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "/nonexistent/ca.crt"));
	unlink(ca);
	cfg = kube_config_in_cluster(sa, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "ca.crt"));
	write_file(sa, "ca.crt", "x");
	unlink(tok);
	cfg = kube_config_in_cluster(sa, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "token"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	cfg = kube_config_in_cluster(sa, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	unsetenv("KPROFEFE_SERVICEACCOUNT_DIR");
	free(ca);
	free(tok);
	free(tmp);
	free(sa);
}

/* ---- kubectl --------------------------------------------------------------------------- */

static void test_from_kubectl(void **state)
{
	char err[512] = "";
	char *dir = xasprintf("%s/kc", tmpdir), *path = xasprintf("%s/kc/config", tmpdir);
	kube_config *cfg;

	(void)state;
	if (system("command -v kubectl >/dev/null 2>&1") != 0)
		skip();
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(dir, "config",
		   "apiVersion: v1\nkind: Config\ncurrent-context: one\n"
		   "clusters:\n- name: cl\n  cluster:\n    server: https://127.0.0.1:6443\n"
		   "    certificate-authority: ca.crt\n"
		   "users:\n- name: u\n  user:\n    token: from-kubectl\n"
		   "contexts:\n- name: one\n  context: {cluster: cl, user: u}\n"
		   "- name: two\n  context: {cluster: cl, user: u, namespace: ns2}\n");
	cfg = kube_config_from_kubectl(NULL, path, NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(kube_config_namespace(cfg), "default");
	assert_string_equal(kube_config_token(cfg), "from-kubectl");
	{
		char *ca = xasprintf("%s/ca.crt", dir);
		assert_string_equal(kube_config_tls(cfg)->ca_file, ca);
		free(ca);
	}
	kube_config_free(cfg);
	cfg = kube_config_from_kubectl("kubectl", path, "two", err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(kube_config_namespace(cfg), "ns2");
	kube_config_free(cfg);
	/* kubectl's own complaint comes through. */
	cfg = kube_config_from_kubectl(NULL, path, "three", err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "three"));
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_base64_binary),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_token_and_namespace),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_data_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_exec_v1_cached),
		cmocka_unit_test(test_exec_v1beta1_expiring),
		cmocka_unit_test(test_exec_errors),
		cmocka_unit_test(test_exec_relative_command),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_from_kubectl),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
