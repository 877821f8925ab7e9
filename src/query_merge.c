/* query_merge: `kubectl profefe merge`: the profiles of a service, type, time range and
 * labels, merged by profefe into one pprof file. */
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

static void run_free(query_merge_run *run)
{
	profefe_cancel(run->req);
	ev_timer_stop(loop_ev(run->loop), &run->finish);
	free(run->service);
	free(run->type);
	free(run->labels);
	free(run->output);
	free(run->dir);
	free(run);
}

static void on_finish(struct ev_loop *ev, ev_timer *w, int revents)
{
	query_merge_run *run = w->data;

	(void)revents;
	ev_timer_stop(ev, w);
	run->done(run->status, run->n, run->arg);
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
	char *base = query_merge_file_name(run->dir, run->type, run->service, run->now);
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
	fprintf(run->err, "merged %zu profile%s of service %s, type %s\ngo tool pprof %s\n",
		run->n, run->n == 1 ? "" : "s", run->service, run->type, path);
	free(path);
	finish(run, 0);
}

static void on_merged(const http_response *resp, void *arg)
{
	query_merge_run *run = arg;

	run->req = NULL;
	if (!resp->ok) {
		char *why = xasprintf("merge of %zu profiles: %s", run->n,
				      resp->error ? resp->error : "failed");
		query_print_profefe_error(run->err, run->c, why);
		free(why);
		finish(run, 1);
		return;
	}
	if (resp->status != 200) {
		fprintf(run->err, "error: profefe %s: merge of %zu profiles: HTTP %ld: %.200s\n",
			profefe_client_base_url(run->c), run->n, resp->status,
			(const char *)resp->body);
		finish(run, 1);
		return;
	}
	/* pprof is gzip (what profefe's merge writes) or, for one profile, as stored. */
	if (resp->body_len < 2 || resp->body[0] != 0x1f || resp->body[1] != 0x8b) {
		if (!pprof_is_profile(resp->body, resp->body_len)) {
			fprintf(run->err, "error: profefe %s: the merge is not a pprof profile\n",
				profefe_client_base_url(run->c));
			finish(run, 1);
			return;
		}
	}
	save(run, resp->body, resp->body_len);
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
	http_options ho = {.max_body_bytes = QUERY_MAX_FILE_BYTES, .timeout_ms = run->timeout_ms};
	run->req = profefe_get(run->c, url, &ho, on_merged, run);
	free(url);
}

query_merge_run *query_merge(loop_t *loop, profefe_client *c, const query_merge_options *opt,
			     query_merge_fn done, void *arg)
{
	query_merge_run *run = xcalloc(1, sizeof(*run));

	run->loop = loop;
	run->c = c;
	run->service = xstrdup(opt->service);
	run->type = xstrdup(opt->type);
	run->labels = opt->labels ? xstrdup(opt->labels) : NULL;
	run->output = opt->output ? xstrdup(opt->output) : NULL;
	run->dir = xstrdup(opt->dir ? opt->dir : ".");
	run->from = opt->from;
	run->to = opt->to;
	run->now = opt->now ? opt->now : time(NULL);
	run->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 300000L;
	run->out = opt->out ? opt->out : stdout;
	run->err = opt->err ? opt->err : stderr;
	run->done = done;
	run->arg = arg;
	ev_timer_init(&run->finish, on_finish, 0., 0.);
	run->finish.data = run;
	profefe_query q = {.service = run->service, .type = run->type, .from = run->from,
			   .to = run->to};
	run->req = profefe_profiles(c, &q, on_listed, run);
	return run;
}

void query_merge_cancel(query_merge_run *run)
{
	if (run)
		run_free(run);
}
