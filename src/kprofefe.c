/* kprofefe: the node collector program: flags, wiring of the library, signals. */
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kprofefe/batch.h"
#include "kprofefe/collector.h"
#include "kprofefe/flags.h"
#include "kprofefe/kube.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/pprof.h"
#include "kprofefe/profefe.h"
#include "kprofefe/spool.h"
#include "kprofefe/version.h"

/* Everything the flags set, as parsed. */
struct settings {
	const char *node_name, *kubeconfig, *context;
	const char *profefe_url, *profefe_ca, *profefe_token, *profefe_header;
	const char *profiles, *default_path, *metrics_addr, *log_format, *log_level;
	const char *pod_labels;
	const char *spool_dir;
	const char *pod_ca, *pod_credentials_dir;
	double interval, jitter, connect_timeout, fetch_timeout, cpu_margin;
	double batch_interval, shutdown_grace, spool_max_age, request_timeout, once_deadline;
	long cpu_seconds, default_port, max_concurrency, max_snapshot_fetches, batch_size,
	    upload_concurrency;
	long max_queue;
	double spool_drain_rate;
	size_t max_profile_bytes, max_inflated_bytes, memory_budget, spool_max_bytes;
	const char *delta;
	int once, version, pod_insecure;
};

static struct settings s;

static const flag_spec specs[] = {
	{"node-name", 0, "NODE_NAME", FLAG_STRING, &s.node_name, NULL,
	 "node whose pods to collect (required; the DaemonSet sets it from spec.nodeName)"},
	{"profefe-hostport", 0, "PROFEFE_URL", FLAG_STRING, &s.profefe_url, NULL,
	 "profefe base URL, http(s)://host:port (required)"},
	{"kubeconfig", 0, "KPROFEFE_KUBECONFIG", FLAG_STRING, &s.kubeconfig, "",
	 "kubeconfig to use instead of the in-cluster service account"},
	{"context", 0, "KPROFEFE_CONTEXT", FLAG_STRING, &s.context, "",
	 "kubeconfig context (with --kubeconfig)"},
	{"profiles", 0, "KPROFEFE_PROFILES", FLAG_STRING, &s.profiles,
	 "cpu,heap,goroutine,mutex,block,threadcreate",
	 "profile types to collect (also allocs, trace); profefe.com/profiles overrides"},
	{"cpu-seconds", 0, "KPROFEFE_CPU_SECONDS", FLAG_INT, &s.cpu_seconds, "10",
	 "duration of CPU profiles and traces, seconds"},
	{"delta", 0, "KPROFEFE_DELTA", FLAG_STRING, &s.delta, "true",
	 "allocs, block and mutex as deltas (labelled delta=true), not totals since the pod "
	 "started (false): true over --cpu-seconds (?seconds=), godeltaprof from its "
	 "delta_heap, delta_block and delta_mutex over the interval; profefe.com/delta "
	 "overrides"},
	{"interval", 0, "KPROFEFE_INTERVAL", FLAG_DURATION, &s.interval, "60s",
	 "how often each pod is scraped"},
	{"jitter", 0, "KPROFEFE_JITTER", FLAG_DURATION, &s.jitter, "10s",
	 "a new pod's first scrape waits a random time up to this, to spread starts"},
	{"default-port", 0, "KPROFEFE_DEFAULT_PORT", FLAG_INT, &s.default_port, "6060",
	 "pprof port when profefe.com/port is not set"},
	{"default-path", 0, "KPROFEFE_DEFAULT_PATH", FLAG_STRING, &s.default_path,
	 "/debug/pprof", "pprof path when profefe.com/path is not set"},
	{"pod-labels", 0, "KPROFEFE_POD_LABELS", FLAG_STRING, &s.pod_labels, "",
	 "pod labels copied into profile labels, a comma list: app.kubernetes.io/version is "
	 "stored as version, release=app.kubernetes.io/version as release"},
	{"max-concurrency", 0, "KPROFEFE_MAX_CONCURRENCY", FLAG_INT, &s.max_concurrency, "1024",
	 "profile fetches in flight at most (CPU profiles and deltas first; --memory-budget "
	 "also bounds them)"},
	{"max-snapshot-fetches", 0, "KPROFEFE_MAX_SNAPSHOT_FETCHES", FLAG_INT, &s.max_snapshot_fetches,
	 "16", "of those, profiles answered at once (heap, goroutine, ...) in flight at most: "
	 "they run during the CPU profiles' seconds, a few at a time"},
	{"memory-budget", 0, "KPROFEFE_MEMORY_BUDGET", FLAG_BYTES, &s.memory_budget, "16Mi",
	 "profile data held at once: bodies being fetched and the upload queue"},
	{"connect-timeout", 0, "KPROFEFE_CONNECT_TIMEOUT", FLAG_DURATION, &s.connect_timeout,
	 "5s", "connect timeout to pods"},
	{"fetch-timeout", 0, "KPROFEFE_FETCH_TIMEOUT", FLAG_DURATION, &s.fetch_timeout, "30s",
	 "total timeout of a non-CPU profile fetch"},
	{"cpu-timeout-margin", 0, "KPROFEFE_CPU_TIMEOUT_MARGIN", FLAG_DURATION, &s.cpu_margin,
	 "10s", "a CPU profile may take --cpu-seconds plus this"},
	{"max-profile-bytes", 0, "KPROFEFE_MAX_PROFILE_BYTES", FLAG_BYTES,
	 &s.max_profile_bytes, "8Mi", "largest profile accepted from a pod (compressed)"},
	{"max-inflated-bytes", 0, "KPROFEFE_MAX_INFLATED_BYTES", FLAG_BYTES,
	 &s.max_inflated_bytes, "64Mi", "largest profile accepted, inflated (checked in a stream)"},
	{"profefe-ca", 0, "KPROFEFE_PROFEFE_CA", FLAG_STRING, &s.profefe_ca, "",
	 "CA bundle (PEM) for an https profefe"},
	{"profefe-token", 0, "KPROFEFE_PROFEFE_TOKEN", FLAG_STRING, &s.profefe_token, "",
	 "bearer token sent to profefe (an authenticating proxy)"},
	{"profefe-header", 0, "KPROFEFE_PROFEFE_HEADER", FLAG_STRING, &s.profefe_header, "",
	 "one extra \"Name: value\" header sent to profefe"},
	{"pod-ca", 0, "KPROFEFE_POD_CA", FLAG_STRING, &s.pod_ca, "",
	 "CA bundle (PEM) the certificates of https pods (profefe.com/scheme) are verified "
	 "against (\"\": the system store)"},
	{"pod-insecure-skip-verify", 0, "KPROFEFE_POD_INSECURE_SKIP_VERIFY", FLAG_BOOL,
	 &s.pod_insecure, "false",
	 "do not verify https pods' certificates (logged per pod, counted)"},
	{"pod-credentials-dir", 0, "KPROFEFE_POD_CREDENTIALS_DIR", FLAG_STRING,
	 &s.pod_credentials_dir, "",
	 "directory of credential sets for profefe.com/credentials: NAME/token, "
	 "NAME/tls.crt and NAME/tls.key (mounted Secrets)"},
	{"upload-timeout", 0, "KPROFEFE_UPLOAD_TIMEOUT", FLAG_DURATION, &s.request_timeout,
	 "30s", "total timeout of one upload to profefe"},
	{"batch-interval", 0, "KPROFEFE_BATCH_INTERVAL", FLAG_DURATION, &s.batch_interval,
	 "10s", "uploads are flushed this often"},
	{"batch-size", 0, "KPROFEFE_BATCH_SIZE", FLAG_INT, &s.batch_size, "20",
	 "or as soon as this many profiles wait"},
	{"upload-concurrency", 0, "KPROFEFE_UPLOAD_CONCURRENCY", FLAG_INT,
	 &s.upload_concurrency, "4", "uploads in flight at most"},
	{"max-queue", 0, "KPROFEFE_MAX_QUEUE", FLAG_INT, &s.max_queue, "1000",
	 "profiles kept in memory at most"},
	{"spool-dir", 0, "KPROFEFE_SPOOL_DIR", FLAG_STRING, &s.spool_dir,
	 "/var/lib/kprofefe/spool", "node-local spool for profiles profefe could not take (\"\" to disable)"},
	{"spool-max-bytes", 0, "KPROFEFE_SPOOL_MAX_BYTES", FLAG_BYTES, &s.spool_max_bytes,
	 "512Mi", "spool size bound; the oldest entries go beyond it"},
	{"spool-max-age", 0, "KPROFEFE_SPOOL_MAX_AGE", FLAG_DURATION, &s.spool_max_age, "24h",
	 "spooled profiles older than this go"},
	{"spool-drain-rate", 0, "KPROFEFE_SPOOL_DRAIN_RATE", FLAG_NUMBER,
	 &s.spool_drain_rate, "5", "spooled profiles replayed per second at most"},
	{"shutdown-grace", 0, "KPROFEFE_SHUTDOWN_GRACE", FLAG_DURATION, &s.shutdown_grace,
	 "20s", "on SIGTERM, time to flush uploads before spooling the rest"},
	{"metrics-addr", 0, "KPROFEFE_METRICS_ADDR", FLAG_STRING, &s.metrics_addr, ":9102",
	 "address of /metrics, /healthz, /readyz (\"\" to disable)"},
	{"log-format", 0, "KPROFEFE_LOG_FORMAT", FLAG_STRING, &s.log_format, "logfmt",
	 "logfmt or json"},
	{"log-level", 0, "KPROFEFE_LOG_LEVEL", FLAG_STRING, &s.log_level, "info",
	 "debug, info, warn or error"},
	{"once", 0, "KPROFEFE_ONCE", FLAG_BOOL, &s.once, "false",
	 "one round over the node's targets, then exit (0 only if all succeeded)"},
	{"once-deadline", 0, "KPROFEFE_ONCE_DEADLINE", FLAG_DURATION, &s.once_deadline, "0s",
	 "--once: give up on the round after this long and exit 1 (0s: 60s to list the pods "
	 "plus twice the CPU profile's window, margin and the fetch timeout)"},
	{"version", 0, NULL, FLAG_BOOL, &s.version, "false", "print the version and exit"},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* How often the loop's lag is sampled: often enough to see a stall of a few
 * hundredths of a second at 250 pods, cheap enough to be noise (one timer). */
#define LOOP_LAG_INTERVAL_S 0.1

/* The running program: what the signal and round callbacks need. */
struct app {
	struct ev_loop *ev;
	loop_t *loop;
	kube_client *kc;
	profefe_client *profefe;
	spool_t *spool;
	batch_t *batch;
	collector_t *collector;
	metrics_server *metrics;
	collector_options copt;
	pod_label_map pod_labels; /* copt.defaults.labels */
	pod_tls_options pod_tls;
	budget_t *budget;
	ev_signal sigterm, sigint;
	ev_timer once_deadline;
	int stopping;
	int exit_code;
};

static int usage_error(const char *msg)
{
	fprintf(stderr, "kprofefe: %s\n", msg);
	return 2;
}

static int check_settings(char *err, size_t errlen)
{
	if (!s.node_name || !*s.node_name) {
		snprintf(err, errlen, "--node-name (env NODE_NAME) is required: set it from the "
			 "downward API (spec.nodeName)");
		return -1;
	}
	if (!s.profefe_url || !*s.profefe_url) {
		snprintf(err, errlen, "--profefe-hostport (env PROFEFE_URL) is required");
		return -1;
	}
	if (s.spool_drain_rate <= 0) {
		snprintf(err, errlen, "--spool-drain-rate must be positive");
		return -1;
	}
	if (s.cpu_seconds < 1 || s.cpu_seconds > 300 || s.interval < 1 ||
	    s.cpu_seconds >= s.interval) {
		snprintf(err, errlen, "--cpu-seconds must be in 1..300 and below --interval");
		return -1;
	}
	if (s.max_profile_bytes > s.memory_budget / 2) {
		snprintf(err, errlen, "--max-profile-bytes must be at most half of --memory-budget "
			 "(a profile and the queue share the budget)");
		return -1;
	}
	if (s.max_concurrency < 1 || s.max_snapshot_fetches < 1 || s.batch_size < 1 ||
	    s.upload_concurrency < 1 || s.max_queue < 1) {
		snprintf(err, errlen, "--max-concurrency, --max-snapshot-fetches, --batch-size, "
			 "--upload-concurrency and --max-queue must be positive");
		return -1;
	}
	return 0;
}

static int setup_logging(void)
{
	int format = log_format_parse(s.log_format);
	int level = log_level_parse(s.log_level);
	if (format < 0 || level < 0) {
		fprintf(stderr, "kprofefe: --log-format wants logfmt|json, --log-level "
				"debug|info|warn|error\n");
		return -1;
	}
	log_setup(stderr, (enum log_format)format, (enum log_level)level);
	return 0;
}

/* --delta: a mode's name, or any spelling of true and false it took as a boolean flag. */
static int parse_delta(const char *text, enum pprof_delta *out)
{
	int on;
	if (pprof_delta_parse(text, out) == 0)
		return 0;
	if (flags_parse_bool(text, &on) != 0)
		return -1;
	*out = on ? PPROF_DELTA_SECONDS : PPROF_DELTA_OFF;
	return 0;
}

static int fill_collector_options(struct app *app, char *err, size_t errlen)
{
	collector_options *o = &app->copt;
	o->node_name = s.node_name;
	o->interval_s = s.interval;
	o->jitter_s = s.jitter;
	o->max_concurrency = (int)s.max_concurrency;
	o->max_snapshot_fetches = (int)s.max_snapshot_fetches;
	o->connect_timeout_ms = (long)(s.connect_timeout * 1000);
	o->timeout_ms = (long)(s.fetch_timeout * 1000);
	o->cpu_margin_ms = (long)(s.cpu_margin * 1000);
	o->max_profile_bytes = s.max_profile_bytes;
	o->max_inflated_bytes = s.max_inflated_bytes;
	o->budget = app->budget;
	o->once = s.once;
	pod_defaults_init(&o->defaults);
	o->defaults.port = (int)s.default_port;
	o->defaults.path = s.default_path;
	o->defaults.cpu_seconds = (int)s.cpu_seconds;
	if (parse_delta(s.delta, &o->defaults.delta) != 0) {
		snprintf(err, errlen, "--delta: \"%s\" is not true, false or godeltaprof", s.delta);
		return -1;
	}
	app->pod_tls.ca_file = *s.pod_ca ? s.pod_ca : NULL;
	app->pod_tls.insecure = s.pod_insecure;
	app->pod_tls.credentials_dir = *s.pod_credentials_dir ? s.pod_credentials_dir : NULL;
	o->defaults.tls = &app->pod_tls;
	if (pod_tls_options_check(&app->pod_tls, err, errlen) != 0)
		return -1;
	/* A CPU profile must end before the pod's next scrape starts. */
	int fit = (int)(s.interval - s.cpu_margin);
	if (fit < o->defaults.max_cpu_seconds)
		o->defaults.max_cpu_seconds = fit > 1 ? fit : 1;
	if (pprof_types_parse(s.profiles, &o->defaults.types, err, errlen) != 0)
		return -1;
	char why[512];
	if (pod_label_map_parse(s.pod_labels, &app->pod_labels, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--pod-labels: %s", why);
		return -1;
	}
	o->defaults.labels = &app->pod_labels;
	char *path = NULL;
	if (pod_path_check(s.default_path, &path, err, errlen) != 0)
		return -1;
	free(path);
	return 0;
}

static kube_config *load_kube_config(char *err, size_t errlen)
{
	if (*s.kubeconfig || *s.context)
		return kube_config_from_kubectl(NULL, *s.kubeconfig ? s.kubeconfig : NULL,
						*s.context ? s.context : NULL, err, errlen);
	return kube_config_in_cluster(NULL, err, errlen);
}

static int is_ready(void *arg)
{
	struct app *app = arg;
	return !app->stopping && app->collector && collector_synced(app->collector);
}

/* Profiles fetched since start, every type: what a test compares with profefe's count. */
static double profiles_collected(void)
{
	double n = 0;
	for (int t = 0; t < PPROF_TYPE_COUNT; t++)
		n += metrics_get(METRIC_PROFILES_COLLECTED_TOTAL, "type",
				 pprof_type_name((enum pprof_type)t), NULL);
	return n;
}

static void on_batch_drained(void *arg)
{
	struct app *app = arg;
	struct rusage ru;
	char rss[32] = "", cpu[32] = "", collected[32], spooled[32] = "0";
	snprintf(collected, sizeof(collected), "%.0f", profiles_collected());
	if (app->spool) {
		spool_stats st;
		spool_get_stats(app->spool, &st);
		snprintf(spooled, sizeof(spooled), "%zu", st.entries);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		snprintf(rss, sizeof(rss), "%ld", ru.ru_maxrss);
		snprintf(cpu, sizeof(cpu), "%.3f",
			 (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	}
	log_event(LOG_INFO, "stopped", "profiles_collected", collected, "spool_entries", spooled,
		  "peak_rss_kib", rss, "cpu_seconds", cpu, NULL);
	ev_break(app->ev, EVBREAK_ALL);
}

static void shut_down(struct app *app, const char *why)
{
	if (app->stopping)
		return;
	app->stopping = 1;
	log_event(LOG_INFO, "shutting down", "reason", why, NULL);
	ev_timer_stop(app->ev, &app->once_deadline);
	collector_stop(app->collector);
	app->collector = NULL;
	ev_signal_stop(app->ev, &app->sigterm);
	ev_signal_stop(app->ev, &app->sigint);
	batch_shutdown(app->batch, s.shutdown_grace, on_batch_drained, app);
}

/* --once ends without its round: the exit status says so, and the log says why. */
static void give_up_round(struct app *app, const char *why)
{
	if (!s.once || !app->collector)
		return;
	enum collector_once_status st = collector_once_status(app->collector);
	if (st == COLLECTOR_ONCE_DONE || st == COLLECTOR_ONCE_FAILED)
		return; /* the round ended; on_round_done has set the status */
	log_event(LOG_ERROR, "--once round did not complete", "reason", why, "status",
		  collector_once_status_name(st), NULL);
	app->exit_code = 1;
}

static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)ev;
	(void)revents;
	const char *why = w->signum == SIGTERM ? "SIGTERM" : "SIGINT";
	give_up_round(w->data, why);
	shut_down(w->data, why);
}

static void on_once_deadline(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	give_up_round(w->data, "--once-deadline passed");
	shut_down(w->data, "--once-deadline passed");
}

/* The whole round's own timeouts: listing the pods, then a CPU profile's window and
 * margin twice over (a busy profiler is retried once), and the slowest snapshot. */
static double once_deadline_s(void)
{
	if (s.once_deadline > 0)
		return s.once_deadline;
	return 60 + 2 * ((double)s.cpu_seconds + s.cpu_margin) + s.fetch_timeout;
}

/* --once: the exit status says whether every profile was fetched and uploaded. */
static double uploads_not_ok(void)
{
	static const char *const results[] = {"rejected", "retry"};
	double n = 0;
	for (int t = 0; t < PPROF_TYPE_COUNT; t++)
		for (size_t r = 0; r < 2; r++)
			n += metrics_get(METRIC_UPLOADS_TOTAL, "type",
					 pprof_profefe_type((enum pprof_type)t), "result", results[r], NULL);
	return n;
}

static void on_round_done(int targets, int failures, void *arg)
{
	struct app *app = arg;
	char t[32], f[32];
	snprintf(t, sizeof(t), "%d", targets);
	snprintf(f, sizeof(f), "%d", failures);
	log_event(LOG_INFO, "round finished", "targets", t, "fetch_failures", f, NULL);
	app->exit_code = failures ? 1 : 0;
	shut_down(app, "--once round finished");
}

static int start_services(struct app *app, char *err, size_t errlen)
{
	kube_config *cfg = load_kube_config(err, errlen);
	if (!cfg)
		return -1;
	app->kc = kube_client_new(app->loop, cfg);
	profefe_client_options po = {
		.ca_file = *s.profefe_ca ? s.profefe_ca : NULL,
		.token = *s.profefe_token ? s.profefe_token : NULL,
		.extra_header = *s.profefe_header ? s.profefe_header : NULL,
		.timeout_ms = (long)(s.request_timeout * 1000),
	};
	app->profefe = profefe_client_new(app->loop, s.profefe_url, &po, err, errlen);
	if (!app->profefe)
		return -1;
	if (*s.spool_dir) {
		spool_options so = {.max_bytes = s.spool_max_bytes,
				    .max_age_ns = (int64_t)(s.spool_max_age * 1e9)};
		app->spool = spool_open(s.spool_dir, &so, err, errlen);
		if (!app->spool)
			return -1;
	}
	/* Expiry runs often enough that nothing outlives --spool-max-age by much more
	 * than a tenth of it, and at most once a second. */
	double expire = s.spool_max_age > 0 ? s.spool_max_age / 10 : 60;
	batch_options bo = {
		.interval_s = s.batch_interval,
		.batch_size = (size_t)s.batch_size,
		.upload_concurrency = (int)s.upload_concurrency,
		.max_queue = (size_t)s.max_queue,
		.spool_drain_rate = s.spool_drain_rate,
		.budget = app->budget,
		.expire_interval_s = expire < 1 ? 1 : expire > 60 ? 60 : expire,
	};
	app->batch = batch_new(app->loop, app->profefe, app->spool, &bo);
	if (*s.metrics_addr) {
		app->metrics = metrics_serve(app->ev, s.metrics_addr, is_ready, app, err, errlen);
		if (!app->metrics)
			return -1;
		char port[16];
		snprintf(port, sizeof(port), "%d", metrics_server_port(app->metrics));
		log_event(LOG_INFO, "serving metrics", "addr", s.metrics_addr, "port", port, NULL);
	}
	app->collector = collector_start(app->loop, app->kc, app->batch, &app->copt,
					 s.once ? on_round_done : NULL, app);
	return 0;
}

static void stop_services(struct app *app)
{
	collector_stop(app->collector);
	batch_free(app->batch);
	spool_close(app->spool);
	profefe_client_free(app->profefe);
	kube_client_free(app->kc);
	metrics_server_free(app->metrics);
	loop_free(app->loop);
	budget_free(app->budget);
	pod_label_map_clear(&app->pod_labels);
	metrics_reset();
}

/*
 * glibc raises its mmap threshold each time a large block is freed, up to 32 MiB, after
 * which bodies of a few MiB come from the heap and their pages stay with the process
 * when freed. A fixed threshold (which also stops that raising) keeps every large body
 * in its own mapping, returned at free, so the RSS follows the memory budget.
 */
static void keep_large_blocks_mapped(void)
{
	/* AddressSanitizer's allocator replaces glibc's and refuses mallopt. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
	if (mallopt(M_MMAP_THRESHOLD, 64 * 1024) != 1 || mallopt(M_TRIM_THRESHOLD, 256 * 1024) != 1)
		log_event(LOG_WARN, "mallopt failed; freed profile memory may stay resident", NULL);
#endif
}

int main(int argc, char **argv)
{
	char err[1024];
	char **positional = calloc((size_t)argc + 1, sizeof(char *));
	int npositional = 0;
	int rc = flags_parse(specs, NSPECS, argc, argv, positional, &npositional, err, sizeof(err));
	free(positional);
	if (rc == 1) {
		flags_usage(stdout, "Usage: kprofefe [flags]\n\nCollects pprof profiles from the "
			    "annotated pods of one node into profefe.", specs, NSPECS);
		return 0;
	}
	if (rc < 0)
		return usage_error(err);
	if (s.version) {
		printf("kprofefe %s\n", kprofefe_version());
		return 0;
	}
	if (npositional)
		return usage_error("unexpected arguments (see --help)");
	if (setup_logging() != 0)
		return 2;

	keep_large_blocks_mapped();
	struct app app = {0};
	app.ev = ev_default_loop(0);
	app.loop = loop_new(app.ev);
	app.budget = budget_new(s.memory_budget);
	if (check_settings(err, sizeof(err)) != 0 ||
	    fill_collector_options(&app, err, sizeof(err)) != 0) {
		loop_free(app.loop);
		budget_free(app.budget);
		pod_label_map_clear(&app.pod_labels);
		return usage_error(err);
	}
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&app.sigterm, on_signal, SIGTERM);
	ev_signal_init(&app.sigint, on_signal, SIGINT);
	app.sigterm.data = app.sigint.data = &app;
	ev_signal_start(app.ev, &app.sigterm);
	ev_signal_start(app.ev, &app.sigint);
	ev_timer_init(&app.once_deadline, on_once_deadline, once_deadline_s(), 0.);
	app.once_deadline.data = &app;
	if (s.once)
		ev_timer_start(app.ev, &app.once_deadline);

	log_event(LOG_INFO, "starting", "version", kprofefe_version(), "node", s.node_name,
		  "profefe", s.profefe_url, NULL);
	metrics_set(METRIC_BUILD_INFO, 1, "version", kprofefe_version(), NULL);
	metrics_set(METRIC_CPU_SECONDS, (double)s.cpu_seconds, NULL);
	loop_measure_lag(app.loop, LOOP_LAG_INTERVAL_S);
	if (start_services(&app, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "cannot start", "error", err, NULL);
		stop_services(&app);
		return 1;
	}
	ev_run(app.ev, 0);
	if (s.once && uploads_not_ok() > 0)
		app.exit_code = 1;
	stop_services(&app);
	return app.exit_code;
}
