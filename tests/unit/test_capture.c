/* Unit tests of capture: choosing pods, file names and writing, and whole captures against
 * a FAKE API server + pod + profefe (libmicrohttpd in this process, on 127.0.0.1, port 0)
 * that answers the pod GETs and LISTs, the pod-proxy paths, the pods' own pprof paths and
 * profefe uploads, and records who sent which credentials. The real kube-apiserver, pods
 * and profefe are used by tests/e2e/plugin_*_test.sh. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "test_loop.h"

#include "test_data.h"
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "kprofefe/capture.h"
#include "kprofefe/xalloc.h"

/* ---- test data ------------------------------------------------------------------------------ */

typedef test_file file;

static file load(const char *name)
{
	return test_data_load(name);
}

/* A Pod object as the API server sends it. annotations/labels are JSON objects. */
static char *pod_json(const char *ns, const char *name, const char *phase, const char *ip,
		      const char *annotations, const char *labels)
{
	return xasprintf("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
			 "\"namespace\":\"%s\",\"uid\":\"uid-%s\",\"annotations\":%s,\"labels\":%s},"
			 "\"spec\":{\"nodeName\":\"node-a\"},\"status\":{\"phase\":\"%s\"%s%s%s}}",
			 name, ns, name, annotations, labels, phase, *ip ? ",\"podIP\":\"" : "", ip,
			 *ip ? "\"" : "");
}

/* ---- the fake --------------------------------------------------------------------------------- */

static struct MHD_Daemon *fake;
static int fake_port;
static file heap_gz, cpu_gz, goroutine_gz, mutex_gz, block_gz, threadcreate_gz;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int unauthorized;   /* answer 401 to every API request */
static atomic_int proxied, direct; /* pprof requests through the proxy / to the "pod" */
static atomic_int proxied_with_token, direct_with_auth;
static char cpu_seconds[16];       /* seconds= of the last CPU profile request */
static char uploads[4096];         /* "service|type|labels\n" per profefe upload */
static atomic_int n_uploads;

/* The fake's pods: name, namespace, phase, IP, annotations, labels. */
static char *the_pod(const char *ns, const char *name)
{
	char ann[256], ann2[256];

	snprintf(ann, sizeof(ann), "{\"profefe.com/enable\":\"true\",\"profefe.com/port\":\"%d\"}",
		 fake_port);
	if (!strcmp(ns, "ns1") && !strcmp(name, "good"))
		return pod_json(ns, name, "Running", "127.0.0.1", ann, "{\"app\":\"web\"}");
	if (!strcmp(ns, "ns1") && !strcmp(name, "good2")) {
		snprintf(ann2, sizeof(ann2), "{\"profefe.com/enable\":\"true\",\"profefe.com/port\":"
			 "\"%d\",\"profefe.com/service\":\"svc-two\"}", fake_port);
		return pod_json(ns, name, "Running", "127.0.0.1", ann2, "{\"app\":\"web\"}");
	}
	if (!strcmp(ns, "ns1") && !strcmp(name, "plain"))
		return pod_json(ns, name, "Running", "127.0.0.1", "{}", "{\"app\":\"web\"}");
	if (!strcmp(ns, "ns1") && !strcmp(name, "pending"))
		return pod_json(ns, name, "Pending", "", "{\"profefe.com/enable\":\"true\"}",
				"{\"app\":\"web\"}");
	if (!strcmp(ns, "ns1") && !strcmp(name, "broken")) {
		snprintf(ann2, sizeof(ann2), "{\"profefe.com/enable\":\"true\",\"profefe.com/port\":"
			 "\"%d\",\"profefe.com/path\":\"/broken\"}", fake_port);
		return pod_json(ns, name, "Running", "127.0.0.1", ann2, "{\"app\":\"api\"}");
	}
	if (!strcmp(ns, "ns2") && !strcmp(name, "other"))
		return pod_json(ns, name, "Running", "127.0.0.1", ann, "{}");
	return NULL;
}

static const char *const ns1_pods[] = {"good", "good2", "plain", "pending", "broken", NULL};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const void *body,
			     size_t len, const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply_str(struct MHD_Connection *c, unsigned status, char *s)
{
	enum MHD_Result rc = reply(c, status, s, strlen(s), "application/json");
	free(s);
	return rc;
}

static enum MHD_Result status_reply(struct MHD_Connection *c, unsigned code, const char *msg)
{
	return reply_str(c, code, xasprintf("{\"kind\":\"Status\",\"apiVersion\":\"v1\","
					    "\"status\":\"Failure\",\"message\":\"%s\",\"code\":%u}",
					    msg, code));
}

/* A pod's pprof handler at path below its pprof prefix. */
static enum MHD_Result pprof(struct MHD_Connection *c, const char *path)
{
	static const struct {
		const char *path;
		file *f;
	} files[] = {{"/debug/pprof/heap", &heap_gz},           {"/debug/pprof/profile", &cpu_gz},
		     {"/debug/pprof/goroutine", &goroutine_gz}, {"/debug/pprof/mutex", &mutex_gz},
		     {"/debug/pprof/block", &block_gz},
		     {"/debug/pprof/threadcreate", &threadcreate_gz}};

	if (!strncmp(path, "/broken/", 8))
		return reply(c, 500, "boom", 4, "text/plain");
	if (!strcmp(path, "/debug/pprof/profile")) {
		const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
		pthread_mutex_lock(&mu);
		snprintf(cpu_seconds, sizeof(cpu_seconds), "%s", s ? s : "");
		pthread_mutex_unlock(&mu);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(path, files[i].path))
			return reply(c, 200, files[i].f->data, files[i].f->len,
				     "application/octet-stream");
	return reply(c, 404, "404 page not found\n", 19, "text/plain");
}

static char *list_json(const char *ns, const char *selector)
{
	char *out = xstrdup("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[");
	int first = 1;

	char want[128] = "";

	/* Selectors of one "k=v" only, matched against the labels' JSON. */
	if (selector && strchr(selector, '='))
		snprintf(want, sizeof(want), "\"%.*s\":\"%s\"", (int)(strchr(selector, '=') - selector),
			 selector, strchr(selector, '=') + 1);
	for (size_t i = 0; (!ns || !strcmp(ns, "ns1")) && ns1_pods[i]; i++) {
		char *p = the_pod("ns1", ns1_pods[i]);
		if (*want && !strstr(p, want)) {
			free(p);
			continue;
		}
		char *joined = xasprintf("%s%s%s", out, first ? "" : ",", p);
		free(out);
		free(p);
		out = joined;
		first = 0;
	}
	if (!ns && !*want) {
		char *p = the_pod("ns2", "other");
		char *joined = xasprintf("%s%s%s", out, first ? "" : ",", p);
		free(out);
		free(p);
		out = joined;
	}
	char *done = xasprintf("%s]}", out);
	free(out);
	return done;
}

static enum MHD_Result api(struct MHD_Connection *c, const char *url)
{
	const char *sel = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector");
	char ns[64], rest[256];

	if (unauthorized)
		return status_reply(c, 401, "Unauthorized");
	if (!strcmp(url, "/api/v1/pods"))
		return reply_str(c, 200, list_json(NULL, sel));
	if (sscanf(url, "/api/v1/namespaces/%63[^/]/pods/%255s", ns, rest) == 2) {
		char *proxy = strstr(rest, "/proxy");
		if (proxy) {
			const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								       "Authorization");
			proxied++;
			if (auth && !strcmp(auth, "Bearer tok-123"))
				proxied_with_token++;
			return pprof(c, proxy + 6);
		}
		char *p = the_pod(ns, rest);
		if (!p) {
			char msg[300];
			snprintf(msg, sizeof(msg), "pods \\\"%s\\\" not found", rest);
			return status_reply(c, 404, msg);
		}
		return reply_str(c, 200, p);
	}
	if (sscanf(url, "/api/v1/namespaces/%63[^/]/pods", ns) == 1)
		return reply_str(c, 200, list_json(ns, sel));
	return status_reply(c, 404, "the server could not find the requested resource");
}

static enum MHD_Result upload(struct MHD_Connection *c)
{
	const char *svc = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service");
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	const char *labels = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labels");
	int n = ++n_uploads;

	pthread_mutex_lock(&mu);
	size_t used = strlen(uploads);
	snprintf(uploads + used, sizeof(uploads) - used, "%s|%s|%s\n", svc ? svc : "",
		 type ? type : "", labels ? labels : "");
	pthread_mutex_unlock(&mu);
	return reply_str(c, 200, xasprintf("{\"code\":200,\"body\":{\"id\":\"id%d\"}}", n));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **state)
{
	(void)cls;
	(void)version;
	(void)data;
	if (*state == NULL) {
		*state = c;
		return MHD_YES;
	}
	if (*size) {
		*size = 0; /* upload bodies are not kept */
		return MHD_YES;
	}
	if (!strcmp(method, "POST") && !strcmp(url, "/api/0/profiles"))
		return upload(c);
	if (!strncmp(url, "/api/", 5))
		return api(c, url);
	direct++;
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))
		direct_with_auth++;
	return pprof(c, url);
}

static int setup_all(void **state)
{
	struct sockaddr_in sa = {0};

	(void)state;
	heap_gz = load("heap.pb.gz");
	cpu_gz = load("cpu.pb.gz");
	goroutine_gz = load("goroutine.pb.gz");
	mutex_gz = load("mutex.pb.gz");
	block_gz = load("block.pb.gz");
	threadcreate_gz = load("threadcreate.pb.gz");
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_END);
	if (!fake)
		return -1;
	fake_port = MHD_get_daemon_info(fake, MHD_DAEMON_INFO_BIND_PORT)->port;
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	MHD_stop_daemon(fake);
	free(heap_gz.data);
	free(cpu_gz.data);
	free(goroutine_gz.data);
	free(mutex_gz.data);
	free(block_gz.data);
	free(threadcreate_gz.data);
	return 0;
}

/* ---- running a capture ------------------------------------------------------------------------ */

typedef struct env {
	struct ev_loop *ev;
	loop_t *loop;
	kube_client *kc;
	profefe_client *pf;
	char dir[64];
	char *out, *err, *tty; /* what was written to each */
	size_t out_len, err_len, tty_len;
	FILE *out_f, *err_f, *tty_f;
	int done;
	capture_summary sum;
} env;

static env *env_new(void)
{
	env *e = xcalloc(1, sizeof(*e));
	char err[256];
	char *json = xasprintf(
		"{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":"
		"\"k\",\"user\":\"u\",\"namespace\":\"ns1\"}}],\"clusters\":[{\"name\":\"k\","
		"\"cluster\":{\"server\":\"http://127.0.0.1:%d\"}}],\"users\":[{\"name\":\"u\","
		"\"user\":{\"token\":\"tok-123\"}}]}", fake_port);
	kube_config *cfg = kube_config_from_json(json, NULL, err, sizeof(err));

	free(json);
	assert_non_null(cfg);
	e->ev = ev_loop_new(EVFLAG_AUTO);
	e->loop = loop_new(e->ev);
	e->kc = kube_client_new(e->loop, cfg);
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_capture.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->out_f = open_memstream(&e->out, &e->out_len);
	e->err_f = open_memstream(&e->err, &e->err_len);
	e->tty_f = open_memstream(&e->tty, &e->tty_len);
	proxied = direct = proxied_with_token = direct_with_auth = 0;
	unauthorized = 0;
	n_uploads = 0;
	uploads[0] = '\0';
	return e;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void env_free(env *e)
{
	/* Captures may create directories below the output directory (--output-dir a/b). */
	assert_int_equal(nftw(e->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
	fclose(e->out_f);
	fclose(e->err_f);
	fclose(e->tty_f);
	free(e->out);
	free(e->err);
	free(e->tty);
	profefe_client_free(e->pf);
	kube_client_free(e->kc);
	loop_free(e->loop);
	ev_loop_destroy(e->ev);
	free(e);
}

static capture_options options(env *e)
{
	capture_options o;

	memset(&o, 0, sizeof(o));
	o.ns = "ns1";
	o.output_dir = e->dir;
	o.out = e->out_f;
	o.err = e->err_f;
	o.cpu_seconds = 1;
	o.timeout_ms = 5000;
	o.now = 1700000000;
	return o;
}

static void on_done(const capture_summary *s, void *arg)
{
	env *e = arg;
	e->done = 1;
	e->sum = *s;
}


/* Runs a capture to its end (10 s at most); its output is in e->out/err. */
static void run(env *e, const capture_options *o)
{
	char err[512];
	capture_run *r = capture_start(e->kc, o, on_done, e, err, sizeof(err));

	assert_non_null(r);
	assert_true(test_run_until_flag(e->ev, &e->done, 10));
	fflush(e->out_f);
	fflush(e->err_f);
	fflush(e->tty_f);
}

static size_t lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- choosing ---------------------------------------------------------------------------------- */

static kube_pod *pod_from(const char *json)
{
	char err[256];
	yajl_val root = yajl_tree_parse(json, err, sizeof(err));
	kube_pod *pod;

	assert_non_null(root);
	pod = kube_pod_from_json(root, err, sizeof(err));
	yajl_tree_free(root);
	assert_non_null(pod);
	return pod;
}

static enum capture_choice choose(const char *phase, const char *ip, const char *ann,
				  const capture_options *o, int named, pod_target **t, char *why)
{
	char *json = pod_json("ns", "web-1", phase, ip, ann, "{}");
	kube_pod *pod = pod_from(json);
	enum capture_choice c = capture_choose(pod, o, named, t, why, 512);

	kube_pod_free(pod);
	free(json);
	return c;
}

static void test_choose_refusals(void **state)
{
	capture_options o = {0};
	pod_target *t;
	char why[512];

	(void)state;
	/* A named pod needs no annotation (the user asked for its profiles); a listed one
	 * does. */
	assert_int_equal(choose("Running", "10.0.0.1", "{}", &o, 1, &t, why), CAPTURE_TAKE);
	assert_string_equal(t->base_url, "http://10.0.0.1:6060/debug/pprof");
	pod_target_free(t);
	assert_int_equal(choose("Running", "10.0.0.1", "{}", &o, 0, &t, why), CAPTURE_SKIP);
	assert_null(t);
	/* --port, --path and --scheme, over no annotation or the pod's. */
	capture_options flags = {.port = 8443, .path = "/internal/pprof/", .scheme = "https"};
	assert_int_equal(choose("Running", "10.0.0.1", "{}", &flags, 1, &t, why), CAPTURE_TAKE);
	assert_string_equal(t->base_url, "https://10.0.0.1:8443/internal/pprof");
	pod_target_free(t);
	flags = (capture_options){.scheme = "http"};
	assert_int_equal(choose("Running", "10.0.0.1", "{\"profefe.com/enable\":\"true\","
				"\"profefe.com/scheme\":\"https\",\"profefe.com/port\":\"7443\"}",
				&flags, 1, &t, why), CAPTURE_TAKE);
	assert_string_equal(t->base_url, "http://10.0.0.1:7443/debug/pprof");
	pod_target_free(t);
	flags = (capture_options){.path = "/a/../b"};
	assert_int_equal(choose("Running", "10.0.0.1", "{}", &flags, 1, &t, why), CAPTURE_FAIL);
	assert_null(t);
	assert_int_equal(choose("Running", "10.0.0.1", "{\"profefe.com/enable\":\"yes\"}", &o, 1,
				&t, why), CAPTURE_FAIL);
	assert_string_equal(why, "annotation profefe.com/enable is \"yes\", not \"true\"");
	assert_int_equal(choose("Pending", "", "{\"profefe.com/enable\":\"true\"}", &o, 1, &t, why),
			 CAPTURE_FAIL);
	assert_string_equal(why, "not Running (phase Pending)");
	assert_int_equal(choose("Pending", "", "{\"profefe.com/enable\":\"true\"}", &o, 0, &t, why),
			 CAPTURE_SKIP);
	assert_int_equal(choose("Succeeded", "", "{\"profefe.com/enable\":\"true\"}", &o, 0, &t,
				why), CAPTURE_SKIP);
	assert_int_equal(choose("Running", "", "{\"profefe.com/enable\":\"true\"}", &o, 1, &t, why),
			 CAPTURE_FAIL);
	assert_string_equal(why, "Running but without a pod IP yet");
	/* A bad annotation fails also for a listed pod; the message does not repeat the pod. */
	assert_int_equal(choose("Running", "10.0.0.1", "{\"profefe.com/enable\":\"true\","
				"\"profefe.com/port\":\"99999\"}", &o, 0, &t, why), CAPTURE_FAIL);
	assert_string_equal(why, "annotation profefe.com/port=\"99999\": not a port (1..65535)");
	assert_null(t);
}

static void test_choose_flags_win_over_annotations(void **state)
{
	capture_options o = {0};
	pod_target *t;
	char why[512];
	const char *ann = "{\"profefe.com/enable\":\"true\",\"profefe.com/cpu-seconds\":\"5\","
			  "\"profefe.com/profiles\":\"heap\",\"profefe.com/service\":\"svc\"}";

	(void)state;
	/* Defaults: the default types, 30 s, the collector's service and labels. */
	assert_int_equal(choose("Running", "10.0.0.1", "{\"profefe.com/enable\":\"true\"}", &o, 1,
				&t, why), CAPTURE_TAKE);
	assert_int_equal(t->types, PPROF_DEFAULT_TYPES);
	assert_int_equal(t->cpu_seconds, CAPTURE_DEFAULT_CPU_SECONDS);
	assert_string_equal(t->service, "web-1");
	assert_string_equal(t->labels, "namespace=ns,pod=web-1,node=node-a,from=kube-profefe");
	assert_string_equal(t->base_url, "http://10.0.0.1:6060/debug/pprof");
	pod_target_free(t);
	/* The annotations... */
	assert_int_equal(choose("Running", "10.0.0.1", ann, &o, 1, &t, why), CAPTURE_TAKE);
	assert_int_equal(t->types, PPROF_BIT(PPROF_HEAP));
	assert_int_equal(t->cpu_seconds, 5);
	assert_string_equal(t->service, "svc");
	pod_target_free(t);
	/* ...unless the command line says otherwise. */
	o.types = PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_TRACE);
	o.cpu_seconds = 600;
	o.default_port = 7070;
	assert_int_equal(choose("Running", "10.0.0.1", ann, &o, 1, &t, why), CAPTURE_TAKE);
	assert_int_equal(t->types, o.types);
	assert_int_equal(t->cpu_seconds, 600);
	assert_int_equal(t->port, 7070);
	pod_target_free(t);
}

static void test_choose_delta(void **state)
{
	capture_options o = {0};
	pod_target *t;
	char why[512];
	const char *gdp = "{\"profefe.com/enable\":\"true\",\"profefe.com/delta\":\"godeltaprof\"}";
	const char *on = "{\"profefe.com/enable\":\"true\",\"profefe.com/delta\":\"true\"}";

	(void)state;
	/* Alone, a capture takes the totals... */
	assert_int_equal(choose("Running", "10.0.0.1", "{\"profefe.com/enable\":\"true\"}", &o, 1,
				&t, why), CAPTURE_TAKE);
	assert_int_equal(t->delta, PPROF_DELTA_OFF);
	pod_target_free(t);
	/* ...the pod's ?seconds= deltas when it asks for them... */
	assert_int_equal(choose("Running", "10.0.0.1", on, &o, 1, &t, why), CAPTURE_TAKE);
	assert_int_equal(t->delta, PPROF_DELTA_SECONDS);
	pod_target_free(t);
	/* ...and never godeltaprof's: its answer would take the collector's next window. */
	assert_int_equal(choose("Running", "10.0.0.1", gdp, &o, 1, &t, why), CAPTURE_TAKE);
	assert_int_equal(t->delta, PPROF_DELTA_SECONDS);
	pod_target_free(t);
	o.delta = 1;
	assert_int_equal(choose("Running", "10.0.0.1", "{\"profefe.com/enable\":\"true\"}", &o, 1,
				&t, why), CAPTURE_TAKE);
	assert_int_equal(t->delta, PPROF_DELTA_SECONDS);
	pod_target_free(t);
}

/* ---- files --------------------------------------------------------------------------------------- */

static void test_file_names(void **state)
{
	char *s;

	(void)state;
	s = capture_file_name("/tmp", PPROF_HEAP, "web-1", 1700000000, 0);
	assert_string_equal(s, "/tmp/profile-heap-web-1-1700000000.pb.gz");
	free(s);
	s = capture_file_name("out/", PPROF_CPU, "w", 5, 2);
	assert_string_equal(s, "out/profile-cpu-w-5-2.pb.gz");
	free(s);
	s = capture_file_name("/", PPROF_TRACE, "w", 5, 0);
	assert_string_equal(s, "/profile-trace-w-5.out");
	free(s);
}

static void test_write_never_replaces(void **state)
{
	env *e = env_new();
	char err[512];
	char *a, *b, *c;

	(void)state;
	a = capture_write_file(e->dir, PPROF_HEAP, "p", 9, (const unsigned char *)"one", 3, err,
			       sizeof(err));
	b = capture_write_file(e->dir, PPROF_HEAP, "p", 9, (const unsigned char *)"two", 3, err,
			       sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	assert_non_null(strstr(b, "/profile-heap-p-9-1.pb.gz"));
	c = capture_write_file("/nonexistent-dir", PPROF_HEAP, "p", 9,
			       (const unsigned char *)"x", 1, err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "cannot create /nonexistent-dir/profile-heap-p-9.pb.gz"));
	free(a);
	free(b);
	env_free(e);
}

static void test_bad_options(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good"};
	char err[512];

	(void)state;
	o.names = names;
	o.n_names = 1;
	o.all_namespaces = 1;
	assert_null(capture_start(e->kc, &o, on_done, e, err, sizeof(err)));
	assert_non_null(strstr(err, "all-namespaces"));
	o.all_namespaces = 0;
	o.selector = "app=web";
	assert_null(capture_start(e->kc, &o, on_done, e, err, sizeof(err)));
	assert_non_null(strstr(err, "selector"));
	o.selector = NULL;
	/* A directory that cannot be made: below a regular file. */
	char *plain = xasprintf("%s/file", e->dir), *below = xasprintf("%s/file/sub", e->dir);
	FILE *fp = fopen(plain, "w");
	assert_non_null(fp);
	fclose(fp);
	o.output_dir = below;
	assert_null(capture_start(e->kc, &o, on_done, e, err, sizeof(err)));
	assert_non_null(strstr(err, "output directory "));
	assert_non_null(strstr(err, "/file/sub: Not a directory"));
	unlink(plain);
	free(plain);
	free(below);
	o.output_dir = e->dir;
	o.cpu_seconds = 4000;
	assert_null(capture_start(e->kc, &o, on_done, e, err, sizeof(err)));
	o.cpu_seconds = 1;
	o.ns = NULL;
	assert_null(capture_start(e->kc, &o, on_done, e, err, sizeof(err)));
	env_free(e);
}

/* ---- whole captures ---------------------------------------------------------------------------- */

static void test_named_pods_through_the_proxy(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good", "missing", "plain", "pending", "broken", "pod/good"};
	char path[256];

	(void)state;
	o.names = names;
	o.n_names = 6;
	o.types = PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_HEAP);
	run(e, &o);
	/* good, and plain (named: no annotation needed, the default port and path): both
	 * profiles, as files, through the proxy with the token. */
	assert_int_equal(e->sum.pods, 3); /* good, plain, broken */
	assert_int_equal(e->sum.profiles, 4);
	assert_int_equal(e->sum.failures, 4); /* missing, pending, broken x2 */
	snprintf(path, sizeof(path), "%s/profile-heap-plain-1700000000.pb.gz", e->dir);
	assert_true(file_exists(path));
	snprintf(path, sizeof(path), "%s/profile-heap-good-1700000000.pb.gz", e->dir);
	assert_true(file_exists(path));
	assert_non_null(strstr(e->out, path));
	snprintf(path, sizeof(path), "%s/profile-cpu-good-1700000000.pb.gz", e->dir);
	assert_true(file_exists(path));
	assert_int_equal(lines(e->out), 4);
	assert_string_equal(cpu_seconds, "1");
	assert_int_equal(proxied, 6);
	assert_int_equal(proxied_with_token, 6);
	assert_int_equal(direct, 0);
	/* One line per failure, naming the pod. */
	assert_non_null(strstr(e->err, "error: pod ns1/missing: not found in namespace ns1\n"));
	assert_null(strstr(e->err, "ns1/plain"));
	assert_non_null(strstr(e->err, "error: pod ns1/pending: not Running (phase Pending)\n"));
	assert_non_null(strstr(e->err, "error: pod ns1/broken: heap profile: GET http://127.0.0.1:"));
	assert_non_null(strstr(e->err, "/api/v1/namespaces/ns1/pods/broken:"));
	assert_non_null(strstr(e->err, "/proxy/broken/heap: HTTP 500: boom"));
	/* Then the summary and the command for the CPU profile. */
	assert_int_equal(lines(e->err), 6);
	char *want = xasprintf("4 profiles written, 3 pods, 4 failures, in %s\n"
			       "go tool pprof %s/profile-cpu-good-1700000000.pb.gz\n", e->dir, e->dir);
	assert_non_null(strstr(e->err, want));
	free(want);
	env_free(e);
}

static void test_missing_dir_created(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good", "good2"};
	char *dir = xasprintf("%s/a/b", e->dir);

	(void)state;
	o.names = names;
	o.n_names = 2;
	o.types = PPROF_BIT(PPROF_HEAP) | PPROF_BIT(PPROF_GOROUTINE);
	o.output_dir = dir;
	run(e, &o);
	assert_int_equal(e->sum.profiles, 4);
	char *want = xasprintf("created output directory %s\n", dir);
	assert_non_null(strstr(e->err, want));
	free(want);
	/* Grouped by pod, whatever order the fetches finished in; the first profile's
	 * command when there is no CPU profile. */
	want = xasprintf("%s/profile-heap-good-1700000000.pb.gz\n"
			 "%s/profile-goroutine-good-1700000000.pb.gz\n"
			 "%s/profile-heap-good2-1700000000.pb.gz\n"
			 "%s/profile-goroutine-good2-1700000000.pb.gz\n", dir, dir, dir, dir);
	assert_string_equal(e->out, want);
	free(want);
	want = xasprintf("4 profiles written, 2 pods, 0 failures, in %s\n"
			 "go tool pprof %s/profile-heap-good-1700000000.pb.gz\n", dir, dir);
	assert_non_null(strstr(e->err, want));
	free(want);
	free(dir);
	env_free(e);
}

static void test_direct_sends_no_credentials(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good"};

	(void)state;
	o.names = names;
	o.n_names = 1;
	o.direct = 1;
	run(e, &o);
	assert_int_equal(e->sum.failures, 0);
	assert_int_equal(e->sum.profiles, 6); /* the default types */
	assert_int_equal(direct, 6);
	assert_int_equal(direct_with_auth, 0);
	assert_int_equal(proxied, 0);
	assert_non_null(strstr(e->err, "6 profiles written, 1 pod, 0 failures, in "));
	assert_int_equal(lines(e->err), 2);
	env_free(e);
}

static void test_selector_and_all_namespaces(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	char path[256];

	(void)state;
	o.selector = "app=web";
	o.types = PPROF_BIT(PPROF_HEAP);
	run(e, &o);
	/* good and good2; plain and pending are not chosen and not reported. */
	assert_int_equal(e->sum.pods, 2);
	assert_int_equal(e->sum.profiles, 2);
	assert_int_equal(e->sum.failures, 0);
	assert_non_null(strstr(e->err, "2 profiles written, 2 pods, 0 failures, in "));
	assert_int_equal(lines(e->err), 2);
	snprintf(path, sizeof(path), "%s/profile-heap-good2-1700000000.pb.gz", e->dir);
	assert_true(file_exists(path));
	env_free(e);

	e = env_new();
	o = options(e);
	o.all_namespaces = 1;
	o.types = PPROF_BIT(PPROF_HEAP);
	run(e, &o);
	/* good, good2, other (ns2) and broken, which fails. */
	assert_int_equal(e->sum.pods, 4);
	assert_int_equal(e->sum.profiles, 3);
	assert_int_equal(e->sum.failures, 1);
	snprintf(path, sizeof(path), "%s/profile-heap-other-1700000000.pb.gz", e->dir);
	assert_true(file_exists(path));
	env_free(e);

	e = env_new();
	o = options(e);
	o.selector = "app=none";
	o.ns = "empty";
	run(e, &o);
	assert_int_equal(e->sum.failures, 1);
	assert_string_equal(e->err, "error: no pod in namespace empty matching app=none is Running "
				    "and annotated profefe.com/enable: \"true\"\n");
	env_free(e);
}

static void test_unauthorized(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good"};
	char *want;

	(void)state;
	unauthorized = 1;
	o.names = names;
	o.n_names = 1;
	run(e, &o);
	assert_int_equal(e->sum.failures, 1);
	assert_int_equal(e->sum.profiles, 0);
	want = xasprintf("error: pod ns1/good: the API server http://127.0.0.1:%d answered 401 "
			 "Unauthorized: it did not accept the kubeconfig's credentials\n", fake_port);
	assert_string_equal(e->err, want);
	free(want);
	env_free(e);
}

static void test_push_to_profefe(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good2"};
	char err[256], *url;

	(void)state;
	url = xasprintf("http://127.0.0.1:%d", fake_port);
	e->pf = profefe_client_new(e->loop, url, NULL, err, sizeof(err));
	assert_non_null(e->pf);
	o.names = names;
	o.n_names = 1;
	o.types = PPROF_BIT(PPROF_HEAP) | PPROF_BIT(PPROF_GOROUTINE);
	o.profefe = e->pf;
	run(e, &o);
	assert_int_equal(e->sum.profiles, 2);
	assert_int_equal(e->sum.failures, 0);
	assert_int_equal(n_uploads, 2);
	/* The annotated service and the collector's labels; each URL printed. */
	assert_non_null(strstr(uploads, "svc-two|heap|namespace=ns1,pod=good2,node=node-a,"
					"from=kube-profefe,delta=false\n"));
	assert_non_null(strstr(uploads, "svc-two|goroutine|"));
	char *want = xasprintf("%s/api/0/profiles/id", url);
	assert_non_null(strstr(e->out, want));
	free(want);
	assert_int_equal(lines(e->out), 2);
	free(url);
	env_free(e);
}

static void test_progress_on_a_terminal(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good"};

	(void)state;
	o.names = names;
	o.n_names = 1;
	o.types = PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_HEAP);
	o.progress = e->tty_f;
	o.progress_items = 1;
	run(e, &o);
	assert_int_equal(e->sum.profiles, 2);
	assert_non_null(strstr(e->tty, "capturing 1 pod: 0/2 done, CPU profile 1s left"));
	assert_non_null(strstr(e->tty, "  done ns1/good heap\n"));
	assert_non_null(strstr(e->tty, "  done ns1/good cpu\n"));
	assert_non_null(strstr(e->tty, "capturing 1 pod: 2/2 done"));
	/* The line is erased at the end. */
	size_t n = strlen(e->tty);
	assert_true(n >= 4);
	assert_string_equal(e->tty + n - 4, "\r\033[K");
	env_free(e);
}

static void test_cancel(void **state)
{
	env *e = env_new();
	capture_options o = options(e);
	const char *names[] = {"good", "good2"};
	char err[256];

	(void)state;
	o.names = names;
	o.n_names = 2;
	capture_run *r = capture_start(e->kc, &o, on_done, e, err, sizeof(err));
	assert_non_null(r);
	capture_cancel(r);
	ev_run(e->ev, EVRUN_NOWAIT);
	assert_false(e->done);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose_refusals),
		cmocka_unit_test(test_choose_flags_win_over_annotations),
		cmocka_unit_test(test_choose_delta),
		cmocka_unit_test(test_file_names),
		cmocka_unit_test(test_write_never_replaces),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_named_pods_through_the_proxy),
		cmocka_unit_test(test_missing_dir_created),
		cmocka_unit_test(test_direct_sends_no_credentials),
		cmocka_unit_test(test_selector_and_all_namespaces),
		cmocka_unit_test(test_unauthorized),
		cmocka_unit_test(test_push_to_profefe),
		cmocka_unit_test(test_progress_on_a_terminal),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
