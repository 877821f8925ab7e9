/* query_merge: `kubectl profefe merge`: the profiles of a service, type, time range and
 * labels, merged by profefe into one pprof file; and `get profile ID`, one stored
 * profile into a file the same way. */
#include "kprofefe/query.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kprofefe/buf.h"
#include "kprofefe/capture.h"
#include "kprofefe/xalloc.h"

#define MAX_NAME_ATTEMPTS 1000

struct query_merge_run {
	loop_t *loop;
	profefe_client *c;
	char *service, *type, *labels, *output, *dir;
	char *id;     /* get profile ID; NULL for a merge */
	char *path;   /* the file written */
	time_t from, to, now;
	long timeout_ms;
	FILE *out, *err;
	profefe_request *req;
	size_t n;
	ev_timer finish;
	int status;
	query_merge_fn done;
	void *arg;
};

char *query_merge_file_name(const char *dir, const char *type, const char *service,
			    time_t when)
{
	char *svc = xstrdup(service);
	for (char *p = svc; *p; p++)
		if (*p == '/')
			*p = '_';
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	char *name = xasprintf("%.*s%sprofile-%s-%s-merged-%lld.pb.gz", (int)n, dir,
			       n == 1 && dir[0] == '/' ? "" : "/", type, svc, (long long)when);
	free(svc);
	return name;
}

/* "<dir>/profile-<id>.pb.gz", the id's '/' made '_'. */
static char *profile_file_name(const char *dir, const char *id)
{
	char *safe = xstrdup(id);
	for (char *p = safe; *p; p++)
		if (*p == '/')
			*p = '_';
	char *name = xasprintf("%s%sprofile-%s.pb.gz", dir,
			       dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", safe);
	free(safe);
	return name;
}

static void run_free(query_merge_run *run)
{
	profefe_cancel(run->req);
	ev_timer_stop(loop_ev(run->loop), &run->finish);
	free(run->service);
	free(run->type);
	free(run->labels);
	free(run->output);
	free(run->dir);
	free(run->id);
	free(run->path);
	free(run);
}

static void on_finish(struct ev_loop *ev, ev_timer *w, int revents)
{
	query_merge_run *run = w->data;

	(void)revents;
	ev_timer_stop(ev, w);
	run->done(run->status, run->n, run->status == 0 ? run->path : NULL, run->arg);
	run_free(run);
}

/* Ends the run from a timer of its own, never from inside profefe's callback. */
static void finish(query_merge_run *run, int status)
{
	run->status = status;
	ev_timer_start(loop_ev(run->loop), &run->finish);
}

/* Opens the output: -o replaces; the default name never does (a -N suffix instead).
 * *path gets the name opened (caller frees). */
static int open_output(query_merge_run *run, char **path)
{
	if (run->output) {
		*path = xstrdup(run->output);
		return open(*path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	char *base = run->id ? profile_file_name(run->dir, run->id)
			     : query_merge_file_name(run->dir, run->type, run->service, run->now);
	base[strlen(base) - strlen(".pb.gz")] = '\0';
	for (int i = 0; i < MAX_NAME_ATTEMPTS; i++) {
		*path = i ? xasprintf("%s-%d.pb.gz", base, i) : xasprintf("%s.pb.gz", base);
		int fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST) {
			free(base);
			return fd;
		}
		free(*path);
	}
	*path = base;
	errno = EEXIST;
	return -1;
}

static void save(query_merge_run *run, const unsigned char *data, size_t len)
{
	char *path = NULL;
	int fd = open_output(run, &path);

	if (fd < 0 || capture_write_all(fd, data, len) != 0 || close(fd) != 0) {
		fprintf(run->err, "error: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			unlink(path);
		free(path);
		finish(run, 1);
		return;
	}
	fprintf(run->out, "%s\n", path);
	fflush(run->out);
	if (run->id)
		fprintf(run->err, "profile %s of profefe %s\ngo tool pprof %s\n", run->id,
			profefe_client_base_url(run->c), path);
	else
		fprintf(run->err, "merged %zu profile%s of service %s, type %s\ngo tool pprof %s\n",
			run->n, run->n == 1 ? "" : "s", run->service, run->type, path);
	run->path = path;
	finish(run, 0);
}

/* "merge of N profiles", or "profile ID", for messages. Caller frees. */
static char *request_name(const query_merge_run *run)
{
	return run->id ? xasprintf("profile %s", run->id)
		       : xasprintf("merge of %zu profiles", run->n);
}

static void on_merged(const http_response *resp, void *arg)
{
	query_merge_run *run = arg;

	run->req = NULL;
	if (!resp->ok) {
		char *what = request_name(run);
		char *why = xasprintf("%s: %s", what, resp->error ? resp->error : "failed");
		free(what);
		query_print_profefe_error(run->err, run->c, why);
		free(why);
		finish(run, 1);
		return;
	}
	if (resp->status != 200) {
		char *what = request_name(run);
		fprintf(run->err, "error: profefe %s: %s: HTTP %ld: %.200s\n",
			profefe_client_base_url(run->c), what, resp->status,
			(const char *)resp->body);
		free(what);
		finish(run, 1);
		return;
	}
	/* pprof is gzip (what profefe's merge writes) or, for one profile, as stored. */
	if (resp->body_len < 2 || resp->body[0] != 0x1f || resp->body[1] != 0x8b) {
		if (!pprof_is_profile(resp->body, resp->body_len)) {
			char *what = request_name(run);
			fprintf(run->err, "error: profefe %s: %s: not a pprof profile\n",
				profefe_client_base_url(run->c), what);
			free(what);
			finish(run, 1);
			return;
		}
	}
	save(run, resp->body, resp->body_len);
}

static void get_url(query_merge_run *run, const char *url)
{
	http_options ho = {.max_body_bytes = QUERY_MAX_FILE_BYTES, .timeout_ms = run->timeout_ms};
	run->req = profefe_get(run->c, url, &ho, on_merged, run);
}

/* <base>/api/0/profiles/<id>+<id>... */
static char *ids_url(const query_merge_run *run, const profefe_profile_meta *items, size_t n,
		     const char *labels)
{
	buf_t b = BUF_INIT;
	char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!query_labels_match(&items[i], labels))
			continue;
		if (!first) {
			first = profefe_profile_url(run->c, items[i].id);
			buf_append_str(&b, first);
		} else {
			char *id = http_escape(items[i].id);
			buf_printf(&b, "+%s", id);
			free(id);
		}
	}
	free(first);
	return buf_detach(&b);
}

static void on_listed(const profefe_profile_meta *items, size_t n, const char *error, void *arg)
{
	query_merge_run *run = arg;
	char from[20], to[20];

	run->req = NULL;
	if (error) {
		query_print_profefe_error(run->err, run->c, error);
		finish(run, 1);
		return;
	}
	for (size_t i = 0; i < n; i++)
		run->n += (size_t)query_labels_match(&items[i], run->labels);
	if (run->n == 0) {
		profefe_format_time(run->from, from);
		profefe_format_time(run->to, to);
		fprintf(run->err, "error: no %s profiles of service %s%s%s from %sZ to %sZ: nothing "
			"to merge\n", run->type, run->service, run->labels && *run->labels ?
			" with labels " : "", run->labels ? run->labels : "", from, to);
		finish(run, 1);
		return;
	}
	char *url = ids_url(run, items, n, run->labels);
	get_url(run, url);
	free(url);
}

static query_merge_run *run_new(loop_t *loop, profefe_client *c, const query_merge_options *opt,
				query_merge_fn done, void *arg)
{
	query_merge_run *run = xcalloc(1, sizeof(*run));

	run->loop = loop;
	run->c = c;
	run->output = opt->output ? xstrdup(opt->output) : NULL;
	run->dir = xstrdup(opt->dir ? opt->dir : ".");
	run->now = opt->now ? opt->now : time(NULL);
	run->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 300000L;
	run->out = opt->out ? opt->out : stdout;
	run->err = opt->err ? opt->err : stderr;
	run->done = done;
	run->arg = arg;
	ev_timer_init(&run->finish, on_finish, 0., 0.);
	run->finish.data = run;
	return run;
}

query_merge_run *query_merge(loop_t *loop, profefe_client *c, const query_merge_options *opt,
			     query_merge_fn done, void *arg)
{
	query_merge_run *run = run_new(loop, c, opt, done, arg);

	run->service = xstrdup(opt->service);
	run->type = xstrdup(opt->type);
	run->labels = opt->labels ? xstrdup(opt->labels) : NULL;
	run->from = opt->from;
	run->to = opt->to;
	profefe_query q = {.service = run->service, .type = run->type, .from = run->from,
			   .to = run->to};
	run->req = profefe_profiles(c, &q, on_listed, run);
	return run;
}

query_merge_run *query_get_profile(loop_t *loop, profefe_client *c, const char *id,
				   const query_merge_options *opt, query_merge_fn done, void *arg)
{
	query_merge_run *run = run_new(loop, c, opt, done, arg);
	char *url = profefe_profile_url(c, id);

	run->id = xstrdup(id);
	run->n = 1;
	get_url(run, url);
	free(url);
	return run;
}

void query_merge_cancel(query_merge_run *run)
{
	if (run)
		run_free(run);
}
