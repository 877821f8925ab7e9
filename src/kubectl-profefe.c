/* kubectl-profefe: the kubectl plugin program: commands, their flags, and wiring. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kprofefe/capture.h"
#include "kprofefe/flags.h"
#include "kprofefe/kube.h"
#include "kprofefe/log.h"
#include "kprofefe/pprof.h"
#include "kprofefe/profefe.h"
#include "kprofefe/query.h"
#include "kprofefe/version.h"
#include "kprofefe/web.h"
#include "kprofefe/xalloc.h"

#define PROG "kubectl-profefe"
#define DEFAULT_PROFEFE "http://localhost:10100"

static const char usage_main[] =
	"Usage: kubectl profefe COMMAND [flags]\n"
	"\n"
	"pprof profiles of annotated pods, saved as files or pushed to profefe, and\n"
	"profefe's stored profiles.\n"
	"\n"
	"Commands:\n"
	"  capture [POD...]      profiles of pods, through the API server's pod proxy\n"
	"  get services          the services profefe knows\n"
	"  get profiles          profiles of a service stored in profefe\n"
	"  get profile-types     the profile types profefe stores\n"
	"  merge                 one pprof file merged by profefe from a service's profiles\n"
	"  load FILE...          upload local pprof files to profefe\n"
	"  version               print the version\n"
	"\n"
	"The get, merge and load commands talk to the profefe at --profefe-hostport, else\n"
	"$PROFEFE_URL, else " DEFAULT_PROFEFE " (where\n"
	"`" QUERY_PORT_FORWARD "` puts it).\n"
	"\n"
	"capture, merge and get profile ID take --web: go tool pprof's web UI on the file\n"
	"written (needs Go).\n"
	"\n"
	"Run `kubectl profefe COMMAND --help` for a command's flags.";

/* ---- one program's worth of state: the loop and the clients every command may need ---- */

struct app {
	struct ev_loop *ev;
	loop_t *loop;
	kube_client *kc;
	profefe_client *profefe;
	int status; /* the exit status the command's callback decided */
	char *file; /* the file a merge or get profile wrote */
};

static void app_init(struct app *app)
{
	memset(app, 0, sizeof(*app));
	app->ev = ev_default_loop(0);
	app->loop = loop_new(app->ev);
}

static void app_free(struct app *app)
{
	profefe_client_free(app->profefe);
	kube_client_free(app->kc);
	loop_free(app->loop);
	free(app->file);
}

static int fail_with(const char *msg)
{
	fprintf(stderr, "error: %s\n", msg);
	return 1;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "error: %s\n", msg);
	return 2;
}

/* ---- flags: each command's own table, then the shared ones it takes ------------------------ */

/* The options of the commands that read profefe (get, merge, load). */
static struct {
	const char *profefe, *service, *type, *from, *to, *labels;
	long limit;
	double timeout;
} query_opt;

static const flag_spec profefe_specs[] = {
	{"profefe-hostport", 0, "PROFEFE_URL", FLAG_STRING, &query_opt.profefe, DEFAULT_PROFEFE,
	 "profefe's URL, http(s)://host:port"},
	{"request-timeout", 0, NULL, FLAG_DURATION, &query_opt.timeout, "30s",
	 "timeout of each request to profefe"},
};

/* --web: go tool pprof's web UI on the file a command wrote. */
static struct {
	int on, no_browser;
	const char *listen;
} webo;

static const flag_spec web_specs[] = {
	{"web", 0, NULL, FLAG_BOOL, &webo.on, NULL,
	 "then open the file in go tool pprof's web UI (needs Go on PATH) and serve it "
	 "until Ctrl-C; the file stays"},
	{"no-browser", 0, NULL, FLAG_BOOL, &webo.no_browser, NULL,
	 "with --web: serve and print the URL only, no browser (from a remote shell)"},
	{"web-listen", 0, NULL, FLAG_STRING, &webo.listen, WEB_DEFAULT_LISTEN,
	 "with --web: the UI's HOST:PORT (port 0: a free one)"},
};

enum shared_flags { SHARED_NONE = 0, SHARED_PROFEFE = 1, SHARED_WEB = 2 };

/* A command's flags: own (n of them, borrowed), then the shared tables in shared. */
typedef struct command_flags {
	const flag_spec *own;
	size_t n;
	unsigned shared; /* enum shared_flags bits */
} command_flags;

static size_t append_specs(flag_spec *to, size_t at, const flag_spec *from, size_t n)
{
	if (n > 0)
		memcpy(to + at, from, n * sizeof(*from));
	return at + n;
}

/* The whole table of cf, in --help's order; owned by the caller (free). */
static flag_spec *flag_table(const command_flags *cf, size_t *n)
{
	size_t np = sizeof(profefe_specs) / sizeof(profefe_specs[0]);
	size_t nw = sizeof(web_specs) / sizeof(web_specs[0]);
	flag_spec *v = xcalloc(cf->n + np + nw, sizeof(*v));

	*n = append_specs(v, 0, cf->own, cf->n);
	if (cf->shared & SHARED_PROFEFE)
		*n = append_specs(v, *n, profefe_specs, np);
	if (cf->shared & SHARED_WEB)
		*n = append_specs(v, *n, web_specs, nw);
	return v;
}

/* Parses argv (argv[0] is the command) with cf's flags; returns -1 to go on, else the
 * exit status (0 after --help, 2 on a bad flag). */
static int parse(const command_flags *cf, const char *usage, int argc, char **argv,
		 char **positional, int *npositional)
{
	char err[512];
	size_t n;
	flag_spec *specs = flag_table(cf, &n);
	int rc = flags_parse(specs, n, argc, argv, positional, npositional, err, sizeof(err));

	if (rc == 1)
		flags_usage(stdout, usage, specs, n);
	free(specs);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return usage_error(err);
	return -1;
}

/* parse for a command that takes flags only: a first argument that is not a flag is the
 * usage error no_arguments. */
static int parse_flags_only(const char *no_arguments, const command_flags *cf,
			    const char *usage, int argc, char **argv)
{
	char *pos[1];
	int npos = 0;

	if (argc > 1 && argv[1][0] != '-')
		return usage_error(no_arguments);
	return parse(cf, usage, argc, argv, pos, &npos);
}

static int new_profefe(struct app *app, const char *url, double timeout_s)
{
	char err[512];
	profefe_client_options po = {.timeout_ms = (long)(timeout_s * 1000)};

	app->profefe = profefe_client_new(app->loop, url, &po, err, sizeof(err));
	if (!app->profefe)
		return usage_error(err);
	return -1;
}

/* ---- --web: go tool pprof's web UI on the file a command wrote ------------------------------ */

/* -1 to go on, or 2 with the usage error. */
static int web_flags_check(void)
{
	char err[256], *host;
	int port;

	if (!webo.on && (webo.no_browser || strcmp(webo.listen, WEB_DEFAULT_LISTEN) != 0))
		return usage_error("--no-browser and --web-listen go with --web");
	if (!webo.on)
		return -1;
	if (web_parse_listen(webo.listen, &host, &port, err, sizeof(err)) != 0)
		return usage_error(err);
	free(host);
	return -1;
}

/* Serves files with --web's options: status when stopped by the user, else 1. */
static int serve_web(const char *const *files, size_t n, int status)
{
	web_options o = {.listen = webo.listen, .no_browser = webo.no_browser};

	return web_serve(files, n, &o) == WEB_STOPPED ? status : 1;
}

/* ---- capture ------------------------------------------------------------------------------ */

static struct {
	const char *kubeconfig, *context, *ns, *selector, *profiles, *output_dir, *profefe;
	const char *path, *scheme, *pod_ca, *pod_credentials_dir;
	int all_namespaces, direct, delta, pod_insecure;
	long cpu_seconds, port;
	double timeout;
} capture_opt;

static const flag_spec capture_specs[] = {
	{"namespace", 'n', NULL, FLAG_STRING, &capture_opt.ns, NULL,
	 "namespace of the pods (default: the context's)"},
	{"all-namespaces", 'A', NULL, FLAG_BOOL, &capture_opt.all_namespaces, NULL,
	 "pods of every namespace (not with pod names)"},
	{"selector", 'l', NULL, FLAG_STRING, &capture_opt.selector, NULL,
	 "label selector, e.g. app=web (not with pod names)"},
	{"profiles", 0, NULL, FLAG_STRING, &capture_opt.profiles, NULL,
	 "profile types, e.g. cpu,heap (default: the pod's profefe.com/profiles, else "
	 "cpu,heap,goroutine,mutex,block,threadcreate; also allocs, trace)"},
	{"cpu-seconds", 0, NULL, FLAG_INT, &capture_opt.cpu_seconds, NULL,
	 "duration of CPU profiles and traces (default: the pod's profefe.com/cpu-seconds, "
	 "else 30)"},
	{"delta", 0, NULL, FLAG_BOOL, &capture_opt.delta, NULL,
	 "allocs, block and mutex as deltas over --cpu-seconds, taken beside the CPU profile "
	 "(default: the pod's profefe.com/delta, else totals since the pod started)"},
	{"request-timeout", 0, NULL, FLAG_DURATION, &capture_opt.timeout, "30s",
	 "timeout of each request; a CPU profile may take --cpu-seconds plus this, and "
	 "waits up to this long for a CPU profiler someone else is using"},
	{"direct", 0, NULL, FLAG_BOOL, &capture_opt.direct, NULL,
	 "fetch from the pod IPs (inside the cluster network) instead of through the API "
	 "server's pod proxy"},
	{"port", 0, NULL, FLAG_INT, &capture_opt.port, NULL,
	 "pprof port (default: the pod's profefe.com/port, else 6060); a pod named without "
	 "profefe.com/enable is captured too"},
	{"path", 0, NULL, FLAG_STRING, &capture_opt.path, NULL,
	 "pprof path (default: the pod's profefe.com/path, else /debug/pprof)"},
	{"scheme", 0, NULL, FLAG_STRING, &capture_opt.scheme, NULL,
	 "http or https (default: the pod's profefe.com/scheme, else http)"},
	{"pod-ca", 0, NULL, FLAG_STRING, &capture_opt.pod_ca, NULL,
	 "with --direct: CA bundle (PEM) https pods' certificates are verified against "
	 "(default: the system store)"},
	{"pod-insecure-skip-verify", 0, NULL, FLAG_BOOL, &capture_opt.pod_insecure, NULL,
	 "with --direct: do not verify https pods' certificates"},
	{"pod-credentials-dir", 0, NULL, FLAG_STRING, &capture_opt.pod_credentials_dir, NULL,
	 "with --direct: credential sets for profefe.com/credentials (NAME/token, "
	 "NAME/tls.crt and NAME/tls.key)"},
	{"output-dir", 0, NULL, FLAG_STRING, &capture_opt.output_dir, CAPTURE_DEFAULT_DIR,
	 "where profile files go"},
	{"profefe-hostport", 0, NULL, FLAG_STRING, &capture_opt.profefe, NULL,
	 "push to the profefe at this URL (http://host:port) instead of writing files"},
	{"kubeconfig", 0, NULL, FLAG_STRING, &capture_opt.kubeconfig, NULL,
	 "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)"},
	{"context", 0, NULL, FLAG_STRING, &capture_opt.context, NULL, "kubeconfig context"},
};
static const command_flags capture_flags = {
	capture_specs, sizeof(capture_specs) / sizeof(capture_specs[0]), SHARED_WEB};

static const char usage_capture[] =
	"Usage: kubectl profefe capture [POD...] [-n NS | -A] [-l SELECTOR] [flags]\n"
	"\n"
	"Captures the profiles of every named pod that is Running (annotated or not: use\n"
	"--port, --path, --scheme), or of every Running pod matching the selector that is\n"
	"annotated profefe.com/enable: \"true\", all at once. Each is\n"
	"written as profile-<type>-<pod>-<unix seconds>.pb.gz in --output-dir (created if\n"
	"missing), or pushed to profefe with --profefe-hostport. The paths (or URLs) go to\n"
	"stdout grouped by pod; a summary and the `go tool pprof` command to stderr.\n"
	"Exits 1 unless every profile was captured. With --web, one type (--profiles,\n"
	"default cpu) is captured and its files opened in go tool pprof's web UI\n"
	"(the pods' profiles merged).";

/* --web: one pprof type, default cpu, into files. -1 to go on, else 2. */
static int capture_web_check(unsigned *types)
{
	int rc = web_flags_check();

	if (rc >= 0 || !webo.on)
		return rc;
	if (capture_opt.profefe)
		return usage_error("--web opens files: not with --profefe-hostport (open a stored "
				   "profile with get profile ID --web)");
	if (*types == 0)
		*types = PPROF_BIT(PPROF_CPU);
	if (*types & PPROF_BIT(PPROF_TRACE))
		return usage_error("--web: go tool pprof does not read traces (go tool trace does)");
	if (*types & (*types - 1))
		return usage_error("--web opens one profile type: name it with --profiles "
				   "(e.g. --profiles heap)");
	return -1;
}

/* The paths capture printed on out (one a line), for --web. */
static char **split_lines(char *text, size_t *n)
{
	char **v = xcalloc(1, sizeof(char *));
	*n = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		v = xrealloc(v, (*n + 2) * sizeof(char *));
		v[(*n)++] = line;
		v[*n] = NULL;
	}
	return v;
}

static void on_captured(const capture_summary *s, void *arg)
{
	struct app *app = arg;

	app->status = s->failures > 0 ? 1 : 0;
}

/* --port, --path, --scheme and the --pod-* flags: usage errors naming the flag. */
static int check_target_flags(char *err, size_t errlen)
{
	char why[256];
	char *path = NULL;
	if (capture_opt.port != 0 && (capture_opt.port < 1 || capture_opt.port > 65535))
		return usage_error("--port must be in 1..65535");
	if (capture_opt.path && pod_path_check(capture_opt.path, &path, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--path \"%s\": %s", capture_opt.path, why);
		return usage_error(err);
	}
	free(path);
	const char *scheme = capture_opt.scheme;
	if (scheme && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "--scheme \"%s\": not http or https", capture_opt.scheme);
		return usage_error(err);
	}
	int pod_flags = capture_opt.pod_ca || capture_opt.pod_insecure || capture_opt.pod_credentials_dir;
	if (pod_flags && !capture_opt.direct)
		return usage_error("--pod-ca, --pod-insecure-skip-verify and --pod-credentials-dir "
				   "go with --direct (through the API server's proxy, the API "
				   "server dials the pod)");
	if (capture_opt.pod_ca && capture_opt.pod_insecure)
		return usage_error("--pod-ca and --pod-insecure-skip-verify contradict each other");
	pod_tls_options o = {capture_opt.pod_ca, capture_opt.pod_insecure,
			     capture_opt.pod_credentials_dir, NULL};
	if (pod_tls_options_check(&o, why, sizeof(why)) != 0)
		return usage_error(why);
	return -1;
}

static int cmd_capture(int argc, char **argv)
{
	char **names = calloc((size_t)argc + 1, sizeof(char *));
	int n_names = 0, rc;
	char err[1024];
	struct app app;
	capture_options o = {0};
	unsigned types = 0;
	char *paths = NULL; /* --web reads the paths back (capture prints them at the end) */
	size_t paths_len = 0;

	capture_opt.cpu_seconds = 0;
	capture_opt.port = 0;
	rc = parse(&capture_flags, usage_capture,
		   argc, argv, names, &n_names);
	if (rc < 0 && capture_opt.profiles &&
	    pprof_types_parse(capture_opt.profiles, &types, err, sizeof(err)))
		rc = usage_error(err);
	if (rc < 0 && (capture_opt.cpu_seconds < 0 || capture_opt.cpu_seconds > CAPTURE_MAX_CPU_SECONDS))
		rc = usage_error("--cpu-seconds must be in 1..3600");
	if (rc < 0)
		rc = check_target_flags(err, sizeof(err));
	if (rc < 0)
		rc = capture_web_check(&types);
	if (rc >= 0) {
		free(names);
		return rc;
	}
	kube_config *cfg = kube_config_from_kubectl(NULL, capture_opt.kubeconfig, capture_opt.context, err,
						    sizeof(err));
	if (!cfg) {
		free(names);
		return fail_with(err);
	}
	app_init(&app);
	app.kc = kube_client_new(app.loop, cfg);
	if (capture_opt.profefe && (rc = new_profefe(&app, capture_opt.profefe, capture_opt.timeout)) >= 0)
		goto out;
	memset(&o, 0, sizeof(o));
	o.ns = capture_opt.ns && *capture_opt.ns ? capture_opt.ns : kube_config_namespace(cfg);
	o.all_namespaces = capture_opt.all_namespaces;
	o.names = (const char *const *)names;
	o.n_names = (size_t)n_names;
	o.selector = capture_opt.selector;
	o.types = types;
	o.cpu_seconds = (int)capture_opt.cpu_seconds;
	o.delta = capture_opt.delta;
	o.direct = capture_opt.direct;
	o.port = (int)capture_opt.port;
	o.path = capture_opt.path;
	o.scheme = capture_opt.scheme;
	pod_tls_options pod_opts = {capture_opt.pod_ca, capture_opt.pod_insecure,
				    capture_opt.pod_credentials_dir, NULL};
	o.pod_tls = &pod_opts;
	o.timeout_ms = (long)(capture_opt.timeout * 1000);
	o.output_dir = capture_opt.output_dir;
	o.profefe = app.profefe;
	/* The status line only on a terminal; the finished profiles are listed there only
	 * when stdout (their paths) goes elsewhere. */
	o.progress = isatty(STDERR_FILENO) ? stderr : NULL;
	o.progress_items = !isatty(STDOUT_FILENO);
	if (webo.on && !(o.out = open_memstream(&paths, &paths_len))) {
		rc = fail_with("open_memstream failed");
		goto out;
	}
	if (!capture_start(app.kc, &o, on_captured, &app, err, sizeof(err))) {
		rc = usage_error(err);
		goto out;
	}
	ev_run(app.ev, 0);
	rc = app.status;
out:
	app_free(&app);
	free(names);
	if (o.out && fclose(o.out) == 0 && paths) {
		fputs(paths, stdout);
		fflush(stdout);
		size_t n = 0;
		char **files = split_lines(paths, &n);
		if (n > 0)
			rc = serve_web((const char *const *)files, n, rc);
		free(files);
	}
	free(paths);
	return rc;
}

/* ---- get services / get profile-types ------------------------------------------------------- */

static const command_flags services_flags = {NULL, 0, SHARED_PROFEFE};
static const command_flags no_flags = {NULL, 0, SHARED_NONE};

static struct {
	const char *output; /* merge's and get profile ID's -o */
} mrg;

/* profefe's messages name the endpoint; this names the server too. */
static int profefe_failed(const struct app *app, const char *error)
{
	query_print_profefe_error(stderr, app->profefe, error);
	return 1;
}

static void on_services(const char *const *names, size_t n, const char *error, void *arg)
{
	struct app *app = arg;

	if (error) {
		app->status = profefe_failed(app, error);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\n", names[i]);
	if (n == 0)
		fprintf(stderr, "No services found in %s.\n", profefe_client_base_url(app->profefe));
}

/* Runs one request of the get/merge/load family: start is called with the app once its
 * profefe client is made (with arg), then the loop until the request is done, then, with
 * --web, the web UI on the file written. Returns the exit status. */
static int run_on_profefe(void (*start)(struct app *app, void *arg), void *arg)
{
	struct app app;
	int rc;

	app_init(&app);
	if ((rc = new_profefe(&app, query_opt.profefe, query_opt.timeout)) < 0) {
		start(&app, arg);
		ev_run(app.ev, 0);
		rc = app.status;
		/* merge and get profile ID --web: the file they wrote */
		if (webo.on && app.file)
			rc = serve_web((const char *const *)&app.file, 1, rc);
	}
	app_free(&app);
	return rc;
}

static void start_services(struct app *app, void *arg)
{
	(void)arg;
	profefe_services(app->profefe, on_services, app);
}

static int cmd_get_services(int argc, char **argv)
{
	int rc = parse_flags_only("get services takes no arguments", &services_flags,
				  "Usage: kubectl profefe get services [flags]\n\n"
				  "Lists the services profefe stores profiles of.", argc, argv);

	if (rc >= 0)
		return rc;
	return run_on_profefe(start_services, NULL);
}

static int cmd_get_types(int argc, char **argv)
{
	int rc = parse_flags_only("get profile-types takes no arguments", &no_flags,
				  "Usage: kubectl profefe get profile-types\n\n"
				  "Lists the profile types profefe stores (what --profile-type takes). "
				  "allocs\nprofiles are stored as \"other\".", argc, argv);

	if (rc >= 0)
		return rc;
	for (const char *const *t = query_profefe_types(); *t; t++)
		printf("%s\n", *t);
	return 0;
}

/* ---- get profiles --------------------------------------------------------------------------- */

static const flag_spec profiles_specs[] = {
	{"service", 0, NULL, FLAG_STRING, &query_opt.service, NULL, "the service (required)"},
	{"profile-type", 0, NULL, FLAG_STRING, &query_opt.type, NULL,
	 "only this type (see get profile-types; default: every type)"},
	{"from", 0, NULL, FLAG_STRING, &query_opt.from, "24h",
	 "oldest: a duration before now (24h, 1h30m) or an RFC 3339 time"},
	{"to", 0, NULL, FLAG_STRING, &query_opt.to, "0m",
	 "newest: a duration before now or an RFC 3339 time"},
	{"labels", 0, NULL, FLAG_STRING, &query_opt.labels, NULL,
	 "only profiles with these labels: k=v,k2=v2"},
	{"limit", 0, NULL, FLAG_INT, &query_opt.limit, "0", "at most this many per type (0: all)"},
	{"output", 'o', NULL, FLAG_STRING, &mrg.output, NULL,
	 "with an ID: the file to write (default: profile-<id>.pb.gz in the current "
	 "directory)"},
};
static const command_flags profiles_flags = {
	profiles_specs, sizeof(profiles_specs) / sizeof(profiles_specs[0]), SHARED_PROFEFE | SHARED_WEB};

static void on_profiles(const profefe_profile_meta *items, size_t n, const char *error,
			void *arg)
{
	struct app *app = arg;

	if (error) {
		app->status = profefe_failed(app, error);
		return;
	}
	if (n == 0) {
		fprintf(stderr, "No profiles found for service %s.\n", query_opt.service);
		return;
	}
	query_print_profiles(stdout, app->profefe, items, n);
}

static int profiles_query(query_profiles_options *q, char **labels)
{
	char err[512];
	time_t now = time(NULL);

	memset(q, 0, sizeof(*q));
	if (!query_opt.service || !*query_opt.service)
		return usage_error("--service is required (see get services)");
	if (query_opt.type && !query_is_profefe_type(query_opt.type))
		return usage_error("--profile-type: not a profefe type (see get profile-types)");
	if (query_parse_time(query_opt.from, now, &q->from, err, sizeof(err)) != 0 ||
	    query_parse_time(query_opt.to, now, &q->to, err, sizeof(err)) != 0)
		return usage_error(err);
	if (q->to < q->from)
		return usage_error("--to is before --from");
	if (query_labels_parse(query_opt.labels, NULL, labels, err, sizeof(err)) != 0)
		return usage_error(err);
	q->service = query_opt.service;
	q->type = query_opt.type;
	q->labels = *labels;
	q->limit = (int)query_opt.limit;
	return -1;
}

static void start_profiles(struct app *app, void *arg)
{
	query_profiles(app->loop, app->profefe, arg, on_profiles, app);
}

/* merge's and get profile ID's file: kept for --web. */
static void on_written(int status, size_t n, const char *path, void *arg)
{
	struct app *app = arg;

	(void)n;
	app->status = status;
	if (path)
		app->file = xstrdup(path);
}

static void start_get_profile(struct app *app, void *arg)
{
	query_merge_options o = {.output = mrg.output, .timeout_ms = (long)(query_opt.timeout * 1000)};

	query_get_profile(app->loop, app->profefe, arg, &o, on_written, app);
}

/* get profile ID: the flags of a listing are not for it, and the other way round. */
static int by_id_check(int n_ids)
{
	if (n_ids > 1)
		return usage_error("get profile takes one ID (see get profiles)");
	if (n_ids == 1 && query_opt.service)
		return usage_error("get profile: an ID or --service, not both");
	if (n_ids == 0 && mrg.output)
		return usage_error("-o goes with an ID: get profile ID -o FILE");
	if (n_ids == 0 && webo.on)
		return usage_error("--web opens one profile: get profile ID --web, or merge --web");
	return web_flags_check();
}

static int cmd_get_profiles(int argc, char **argv)
{
	query_profiles_options q;
	char *labels = NULL;
	int n_ids = 0;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int rc = parse(&profiles_flags,
		       "Usage: kubectl profefe get profiles --service S [--profile-type T] "
		       "[--from 24h] [--to 0m] [flags]\n"
		       "       kubectl profefe get profile ID [-o FILE] [--web]\n\n"
		       "Lists the stored profiles of a service, oldest first, each with the URL\n"
		       "`go tool pprof` reads it from. With an ID (from that list), writes that\n"
		       "profile to a file instead, and with --web opens it in go tool pprof's web UI.",
		       argc, argv, pos, &n_ids);

	char *id = n_ids > 0 ? pos[0] : NULL; /* one of argv */

	free(pos);
	if (rc < 0)
		rc = by_id_check(n_ids);
	if (rc < 0 && n_ids == 1)
		return run_on_profefe(start_get_profile, id);
	if (rc < 0)
		rc = profiles_query(&q, &labels);
	if (rc >= 0) {
		free(labels);
		return rc;
	}
	rc = run_on_profefe(start_profiles, &q);
	free(labels);
	return rc;
}

static int cmd_get(int argc, char **argv)
{
	static const char usage[] =
		"Usage: kubectl profefe get services|profiles|profile-types [flags]\n"
		"       kubectl profefe get profile ID [-o FILE] [--web]";

	if (argc < 2)
		return usage_error("get what? services, profiles or profile-types");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("%s\n", usage);
		return 0;
	}
	if (!strcmp(argv[1], "services") || !strcmp(argv[1], "service"))
		return cmd_get_services(argc - 1, argv + 1);
	if (!strcmp(argv[1], "profiles") || !strcmp(argv[1], "profile"))
		return cmd_get_profiles(argc - 1, argv + 1);
	if (!strcmp(argv[1], "profile-types") || !strcmp(argv[1], "profile-type"))
		return cmd_get_types(argc - 1, argv + 1);
	fprintf(stderr, "error: unknown: get %s\n%s\n", argv[1], usage);
	return 2;
}

/* ---- merge ---------------------------------------------------------------------------------- */

static const flag_spec merge_specs[] = {
	{"service", 0, NULL, FLAG_STRING, &query_opt.service, NULL, "the service (required)"},
	{"profile-type", 0, NULL, FLAG_STRING, &query_opt.type, NULL,
	 "the type (required): cpu, heap, block, mutex, goroutine, threadcreate, other "
	 "(allocs is stored as other)"},
	{"from", 0, NULL, FLAG_STRING, &query_opt.from, "1h",
	 "oldest: a duration before now (1h, 30m) or an RFC 3339 time"},
	{"to", 0, NULL, FLAG_STRING, &query_opt.to, "0m",
	 "newest: a duration before now or an RFC 3339 time"},
	{"labels", 0, NULL, FLAG_STRING, &query_opt.labels, NULL,
	 "only profiles with these labels: k=v,k2=v2 (delta=true: the deltas alone)"},
	{"output", 'o', NULL, FLAG_STRING, &mrg.output, NULL,
	 "the file to write (default: profile-<type>-<service>-merged-<unix seconds>.pb.gz "
	 "in the current directory)"},
};
static const command_flags merge_flags = {
	merge_specs, sizeof(merge_specs) / sizeof(merge_specs[0]), SHARED_PROFEFE | SHARED_WEB};

static void start_merge(struct app *app, void *arg)
{
	query_merge(app->loop, app->profefe, arg, on_written, app);
}

static int cmd_merge(int argc, char **argv)
{
	query_profiles_options q;
	char *labels = NULL;
	int rc = parse_flags_only(
		"merge takes no arguments (name the service with --service)", &merge_flags,
		"Usage: kubectl profefe merge --service S --profile-type T [--from 1h] "
		"[--to 0m] [--labels k=v,...] [-o FILE] [flags]\n\n"
		"Merges the stored profiles of a service and type in a time range into one\n"
		"pprof file (profefe does the merge), which `go tool pprof` reads, and says\n"
		"how many profiles went into it. Labels are matched here, not by profefe.\n"
		"--web then opens the file in go tool pprof's web UI.",
		argc, argv);

	if (rc < 0)
		rc = web_flags_check();
	if (rc < 0 && (!query_opt.type || !*query_opt.type))
		rc = usage_error("--profile-type is required (see get profile-types)");
	if (rc < 0 && !strcmp(query_opt.type, "allocs"))
		query_opt.type = "other";
	if (rc < 0 && !strcmp(query_opt.type, "trace"))
		rc = usage_error("--profile-type trace: traces cannot be merged");
	if (rc < 0)
		rc = profiles_query(&q, &labels);
	if (rc >= 0) {
		free(labels);
		return rc;
	}
	query_merge_options o = {.service = q.service, .type = q.type, .from = q.from,
				 .to = q.to, .labels = labels, .output = mrg.output,
				 .timeout_ms = (long)(query_opt.timeout * 1000)};
	rc = run_on_profefe(start_merge, &o);
	free(labels);
	return rc;
}

/* ---- load ----------------------------------------------------------------------------------- */

static const flag_spec load_specs[] = {
	{"service", 0, NULL, FLAG_STRING, &query_opt.service, NULL,
	 "the service to store under (required)"},
	{"profile-type", 0, NULL, FLAG_STRING, &query_opt.type, NULL,
	 "the type of every file (default: read from each profile's sample types)"},
	{"labels", 0, NULL, FLAG_STRING, &query_opt.labels, NULL,
	 "labels k=v,k2=v2 (from=kubectl-profefe-load unless set here)"},
};
static const command_flags load_flags = {
	load_specs, sizeof(load_specs) / sizeof(load_specs[0]), SHARED_PROFEFE};

static void on_loaded(int failures, void *arg)
{
	struct app *app = arg;

	app->status = failures ? 1 : 0;
}

struct load_request {
	const char *const *files;
	size_t n;
	query_load_options o;
};

static void start_load(struct app *app, void *arg)
{
	struct load_request *req = arg;
	query_load(app->loop, app->profefe, req->files, req->n, &req->o, on_loaded, app);
}

static int cmd_load(int argc, char **argv)
{
	static const char *const extra[] = {"from", "kubectl-profefe-load", NULL};
	char **files = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc;
	char err[512];
	char *labels = NULL;

	rc = parse(&load_flags,
		   "Usage: kubectl profefe load FILE... --service S [flags]\n\n"
		   "Uploads local pprof files (gzip or not) or Go traces to profefe, each with\n"
		   "the type read from the profile itself unless --profile-type says it.",
		   argc, argv, files, &n);
	if (rc < 0 && (!query_opt.service || !*query_opt.service))
		rc = usage_error("--service is required");
	if (rc < 0 && n == 0)
		rc = usage_error("no file to load");
	if (rc < 0 && query_opt.type && !query_is_profefe_type(query_opt.type) &&
	    strcmp(query_opt.type, "allocs"))
		rc = usage_error("--profile-type: not a profefe type (see get profile-types)");
	if (rc < 0 && query_labels_parse(query_opt.labels, extra, &labels, err, sizeof(err)) != 0)
		rc = usage_error(err);
	if (rc >= 0) {
		free(files);
		return rc;
	}
	struct load_request req = {.files = (const char *const *)files, .n = (size_t)n,
				   .o = {.service = query_opt.service, .type_name = query_opt.type, .labels = labels}};
	rc = run_on_profefe(start_load, &req);
	free(labels);
	free(files);
	return rc;
}

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	/* Failures are reported as one line each by the commands; the library's own log
	 * lines would only repeat them. */
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	if (argc < 2) {
		fprintf(stderr, "%s\n", usage_main);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		printf("%s\n", usage_main);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("%s %s\n", PROG, kprofefe_version());
		return 0;
	}
	if (!strcmp(cmd, "capture"))
		return cmd_capture(argc - 1, argv + 1);
	if (!strcmp(cmd, "get"))
		return cmd_get(argc - 1, argv + 1);
	if (!strcmp(cmd, "load"))
		return cmd_load(argc - 1, argv + 1);
	if (!strcmp(cmd, "merge"))
		return cmd_merge(argc - 1, argv + 1);
	fprintf(stderr, "error: unknown command \"%s\"\n\n%s\n", cmd, usage_main);
	return 2;
}
