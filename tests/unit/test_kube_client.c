/* Tests of kube_client and the pod watcher against a FAKE API server (libmicrohttpd on
 * 127.0.0.1): scripted answers for faults a real kube-apiserver will not produce on demand
 * (410 in a stream, 403, a stop from inside a callback). The real one is in tests/e2e. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "kprofefe/buf.h"
#include "kprofefe/kube.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

#define POD(name, uid, rv)                                                                       \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"uid\":\"" uid                 \
	"\",\"resourceVersion\":\"" rv "\"}}"

struct answer {
	unsigned status;
	const char *body;
};

/* What the fake answers, request by request; the last one repeats. */
static const struct answer script[] = {
	{200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"10\"},\"items\":["
	      POD("a", "ua", "5") "," POD("b", "ub", "6") "]}"},
	{200, "{\"type\":\"ADDED\",\"object\":" POD("c", "uc", "11") "}\n"
	      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}\n"
	      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"message\":\"too old\"}}\n"},
	{200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"20\"},\"items\":["
	      POD("a", "ua2", "15") "," POD("c", "uc", "11") "]}"},
	{403, "{\"kind\":\"Status\",\"code\":403,\"message\":\"pods is forbidden: no\"}"},
	{200, "{\"type\":\"MODIFIED\",\"object\":" POD("a", "ua2", "21") "}\n"},
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static size_t n_requests;
static char paths[8][512];
static char auth[8][128];

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	struct MHD_Response *resp;
	const struct answer *a;
	const char *h, *q;
	enum MHD_Result rc;
	size_t i;

	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	pthread_mutex_lock(&mu);
	i = n_requests++;
	a = &script[i < 5 ? i : 4];
	if (i < 8) {
		q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "resourceVersion");
		h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		snprintf(paths[i], sizeof(paths[i]), "%s rv=%s", url, q ? q : "-");
		snprintf(auth[i], sizeof(auth[i]), "%s", h ? h : "");
	}
	pthread_mutex_unlock(&mu);
	resp = MHD_create_response_from_buffer(strlen(a->body), (void *)(uintptr_t)a->body,
					       MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(conn, a->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static char log_text[4096];

struct owner {
	buf_t log;
	int synced;
	int stopped;
	kube_pod_watch *w;
};

static void on_pod(const kube_pod *pod, void *arg)
{
	struct owner *o = arg;

	buf_printf(&o->log, "+%s@%s ", pod->name, pod->uid);
	if (strcmp(pod->resource_version, "21") == 0) {
		kube_pod_watch_stop(o->w); /* from inside a callback */
		o->stopped = 1;
	}
}

static void on_delete(const kube_pod *pod, void *arg)
{
	struct owner *o = arg;

	buf_printf(&o->log, "-%s@%s ", pod->name, pod->uid);
}

static void on_synced(void *arg)
{
	struct owner *o = arg;

	o->synced++;
	buf_append_str(&o->log, "| ");
}

static void give_up(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(ev, EVBREAK_ALL);
}

static void test_watch_against_fake(void **state)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
						serve, NULL, MHD_OPTION_END);
	const union MHD_DaemonInfo *info;
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	struct owner o = {BUF_INIT, 0, 0, NULL};
	kube_pod_watch_callbacks cb = {on_pod, on_delete, on_synced, &o};
	char err[256], *json;
	kube_config *cfg;
	kube_client *kc;
	loop_t *loop;
	ev_timer deadline;
	ev_tstamp start;
	FILE *log_file = tmpfile();

	(void)state;
	assert_non_null(d);
	log_setup(log_file, LOG_LOGFMT, LOG_INFO);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	json = xasprintf("{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\",\"context\":"
			 "{\"cluster\":\"k\",\"user\":\"u\"}}],\"clusters\":[{\"name\":\"k\","
			 "\"cluster\":{\"server\":\"http://127.0.0.1:%u\"}}],\"users\":[{\"name\":"
			 "\"u\",\"user\":{\"token\":\"s3cret\"}}]}",
			 (unsigned)info->port);
	cfg = kube_config_from_json(json, NULL, err, sizeof(err));
	free(json);
	assert_non_null(cfg);
	loop = loop_new(ev);
	kc = kube_client_new(loop, cfg);
	o.w = kube_pod_watch_start(kc, "spec.nodeName=n1", NULL, &cb);

	ev_timer_init(&deadline, give_up, 10., 0.);
	ev_timer_start(ev, &deadline);
	start = ev_now(ev);
	while (!o.stopped && ev_now(ev) - start < 10.)
		ev_run(ev, EVRUN_ONCE);
	ev_timer_stop(ev, &deadline);
	fflush(log_file);
	rewind(log_file);
	log_text[fread(log_text, 1, sizeof(log_text) - 1, log_file)] = '\0';
	log_setup(stderr, LOG_LOGFMT, LOG_INFO);

	assert_int_equal(o.stopped, 1);
	assert_string_equal((const char *)o.log.data,
			    "+a@ua +b@ub | +c@uc "              /* list, then a watch event */
			    "-b@ub -a@ua +a@ua2 +c@uc | "       /* 410: re-list reconciles */
			    "+a@ua2 ");                         /* after the 403 and a backoff */
	assert_int_equal(o.synced, 2);
	pthread_mutex_lock(&mu);
	assert_int_equal(n_requests, 5);
	assert_string_equal(paths[0], "/api/v1/pods rv=-");
	assert_string_equal(paths[1], "/api/v1/pods rv=10");
	assert_string_equal(paths[2], "/api/v1/pods rv=-");
	assert_string_equal(paths[3], "/api/v1/pods rv=20");
	assert_string_equal(paths[4], "/api/v1/pods rv=20");
	assert_string_equal(auth[0], "Bearer s3cret");
	assert_string_equal(auth[4], "Bearer s3cret");
	pthread_mutex_unlock(&mu);
	assert_true(metrics_get(METRIC_WATCH_RESTARTS_TOTAL, "reason", "gone", NULL) == 1);
	assert_non_null(strstr(log_text, "HTTP 403: pods is forbidden: no"));
	assert_true(metrics_get(METRIC_WATCH_RESTARTS_TOTAL, "reason", "unauthorized", NULL) == 1);
	assert_true(metrics_get(METRIC_KUBE_REQUESTS_TOTAL, "verb", "list", "code", "200",
				NULL) == 2);
	assert_true(metrics_get(METRIC_KUBE_REQUESTS_TOTAL, "verb", "watch", "code", "403",
				NULL) == 1);

	/* Let the aborted stream finish so nothing is left running. */
	start = ev_now(ev);
	while (loop_running(loop) > 0 && ev_now(ev) - start < 5.)
		ev_run(ev, EVRUN_ONCE);
	assert_int_equal(loop_running(loop), 0);
	kube_client_free(kc);
	loop_free(loop);
	ev_loop_destroy(ev);
	MHD_stop_daemon(d);
	buf_free(&o.log);
	fclose(log_file);
	metrics_reset();
}

static void test_transport(void **state)
{
	char err[256];
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	loop_t *loop = loop_new(ev);
	kube_config *cfg = kube_config_from_json(
		"{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":"
		"\"k\",\"user\":\"u\"}}],\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":"
		"\"https://[fd00::5]:6443/prefix\",\"tls-server-name\":\"kubernetes\"}}],"
		"\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"tk\"}}]}",
		NULL, err, sizeof(err));
	kube_client *kc;
	const http_tls *tls;
	const char *const *headers;
	char *url;

	(void)state;
	assert_non_null(cfg);
	kc = kube_client_new(loop, cfg);
	assert_int_equal(kube_client_transport(kc, "/api/v1/pods", &url, &tls, &headers, err,
					       sizeof(err)),
			 0);
	assert_string_equal(url, "https://kubernetes:6443/prefix/api/v1/pods");
	assert_string_equal(tls->connect_host, "[fd00::5]:6443");
	assert_string_equal(headers[0], "Authorization: Bearer tk");
	assert_string_equal(headers[1], "Accept: application/json");
	assert_null(headers[2]);
	free(url);
	kube_client_free(kc);
	loop_free(loop);
	ev_loop_destroy(ev);
	metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_watch_against_fake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
