/* query: profefe queries and uploads of local files for the plugin's get and load commands. */
#include "kprofefe/query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kprofefe/buf.h"
#include "kprofefe/kube.h"
#include "kprofefe/xalloc.h"

/* ---- parsing ---------------------------------------------------------------------------- */

static const struct {
	const char *name;
	double seconds;
} duration_units[] = {
	{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
	{"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600},
};

/* Reads one unit at *p; returns its length and its size in seconds, or 0. */
static size_t read_unit(const char *p, double *scale)
{
	size_t best = 0;

	/* Longest match: "ms" before "m". */
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		size_t n = strlen(duration_units[i].name);
		if (n > best && strncmp(p, duration_units[i].name, n) == 0) {
			best = n;
			*scale = duration_units[i].seconds;
		}
	}
	return best;
}

/* Reads a decimal number ("12", "1.5", ".5", "3.") at *p; returns its length, or 0. */
static size_t read_number(const char *p, double *value)
{
	size_t n = 0, digits = 0;
	char *end;

	while (p[n] >= '0' && p[n] <= '9')
		n++, digits++;
	if (p[n] == '.') {
		n++;
		while (p[n] >= '0' && p[n] <= '9')
			n++, digits++;
	}
	if (digits == 0)
		return 0;
	char *copy = xstrndup(p, n);
	*value = strtod(copy, &end);
	free(copy);
	return n;
}

int query_parse_duration(const char *text, double *seconds)
{
	const char *p = text;
	double total = 0;

	if (*p == '+' || *p == '-')
		p++;
	if (strcmp(p, "0") == 0) {
		*seconds = 0;
		return 0;
	}
	if (*p == '\0')
		return -1;
	while (*p) {
		double value, scale;
		size_t n = read_number(p, &value);
		if (n == 0)
			return -1;
		p += n;
		n = read_unit(p, &scale);
		if (n == 0)
			return -1;
		p += n;
		total += value * scale;
	}
	*seconds = total;
	return 0;
}

int query_parse_time(const char *text, time_t now, time_t *out, char *err, size_t errlen)
{
	double seconds;

	if (query_parse_duration(text, &seconds) == 0) {
		/* checked before the cast: a double beyond time_t's range is undefined */
		if (!(seconds <= (double)now)) {
			snprintf(err, errlen, "\"%s\" reaches back before 1970-01-01", text);
			return -1;
		}
		*out = now - (time_t)seconds;
		return 0;
	}
	if (kube_parse_rfc3339(text, out) == 0)
		return 0;
	snprintf(err, errlen, "\"%s\" is neither a duration (24h, 30m, 1h30m) nor an RFC 3339 "
		 "time (2024-05-01T10:00:00Z)", text);
	return -1;
}

static char *trim(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return xstrndup(s, n);
}

static void strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static int has_key(char **kv, size_t n, const char *key)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		if (strcmp(kv[i], key) == 0)
			return 1;
	return 0;
}

int query_labels_parse(const char *text, const char *const *extra, char **encoded, char *err,
		       size_t errlen)
{
	char **kv = NULL;
	size_t n = 0;
	const char *p = text ? text : "";
	int rc = 0;

	while (*p) {
		size_t len = strcspn(p, ",");
		char *item = trim(p, len);
		char *eq = strchr(item, '=');
		p += len + (p[len] == ',');
		if (*item == '\0') {
			free(item);
			continue;
		}
		if (!eq || eq == item) {
			snprintf(err, errlen, "label \"%s\" is not key=value", item);
			free(item);
			rc = -1;
			break;
		}
		*eq = '\0';
		strv_push(&kv, &n, trim(item, strlen(item)));
		strv_push(&kv, &n, trim(eq + 1, strlen(eq + 1)));
		free(item);
	}
	for (const char *const *e = extra; rc == 0 && e && e[0] && e[1]; e += 2) {
		if (has_key(kv, n, e[0]))
			continue;
		strv_push(&kv, &n, xstrdup(e[0]));
		strv_push(&kv, &n, xstrdup(e[1]));
	}
	if (rc == 0)
		*encoded = profefe_labels_encode((const char *const *)kv);
	profefe_strv_free(kv);
	return rc;
}

static const char *const profefe_types[] = {"cpu",       "heap",         "block", "mutex",
					    "goroutine", "threadcreate", "other", "trace",
					    NULL};

const char *const *query_profefe_types(void)
{
	return profefe_types;
}

int query_is_profefe_type(const char *name)
{
	for (const char *const *t = profefe_types; *t; t++)
		if (strcmp(*t, name) == 0)
			return 1;
	return 0;
}

/* ---- errors -------------------------------------------------------------------------------- */

void query_print_profefe_error(FILE *err, const profefe_client *c, const char *error)
{
	const char *base = profefe_client_base_url(c);

	if (profefe_client_failure(c) != HTTP_FAIL_CONNECT) {
		fprintf(err, "error: profefe %s: %s\n", base, error);
		return;
	}
	fprintf(err, "error: profefe is not reachable at %s (%s): port-forward its Service (%s) "
		"or give its URL with --profefe-hostport or PROFEFE_URL\n", base, error,
		QUERY_PORT_FORWARD);
}

/* ---- runs ----------------------------------------------------------------------------------- */

/* One request of a run: a type's listing, or a file's upload. */
struct part {
	query_run *run;
	profefe_request *req;
	char *name;          /* the type, or the file */
	enum pprof_type type; /* a file's */
	unsigned char *data; /* a file's body, held during its upload */
	size_t len;
	int empty;           /* a file's profile has no samples */
};

struct query_run {
	loop_t *loop;
	profefe_client *c;
	struct part *parts;
	size_t n_parts, pending;
	/* listing */
	char **want_labels;  /* decoded; matched here, not by profefe */
	int limit;           /* per type, applied after the label match */
	query_profiles_fn profiles_done;
	profefe_profile_meta *items;
	size_t n_items;
	char **errors;       /* distinct, in the order they came */
	size_t n_errors;
	int transport_failed; /* one of errors is a request that got no response */
	/* loading */
	query_load_fn load_done;
	FILE *out, *err;
	int failures;
	ev_timer finish;
	void *arg;
};

static char *strv_join(char *const *v, const char *sep)
{
	buf_t b = BUF_INIT;

	for (size_t i = 0; v[i]; i++)
		buf_printf(&b, "%s%s", i ? sep : "", v[i]);
	return buf_detach(&b);
}

/* Keeps one of equal messages, and one transport failure (curl's words differ in their
 * timings): with profefe down, every type's request fails alike. */
static void add_error(query_run *run, const char *error)
{
	if (profefe_client_failure(run->c) != HTTP_FAIL_NONE) {
		if (run->transport_failed)
			return;
		run->transport_failed = 1;
	}
	for (size_t i = 0; i < run->n_errors; i++)
		if (strcmp(run->errors[i], error) == 0)
			return;
	strv_push(&run->errors, &run->n_errors, xstrdup(error));
}

static void run_free(query_run *run)
{
	for (size_t i = 0; i < run->n_parts; i++) {
		profefe_cancel(run->parts[i].req);
		free(run->parts[i].name);
		free(run->parts[i].data);
	}
	free(run->parts);
	profefe_strv_free(run->want_labels);
	profefe_metas_free(run->items, run->n_items);
	profefe_strv_free(run->errors);
	ev_timer_stop(loop_ev(run->loop), &run->finish);
	free(run);
}

void query_cancel(query_run *run)
{
	if (run)
		run_free(run);
}

static void on_finish(struct ev_loop *ev, ev_timer *w, int revents)
{
	query_run *run = w->data;

	(void)revents;
	ev_timer_stop(ev, w);
	if (run->profiles_done) {
		char *errors = run->n_errors ? strv_join(run->errors, "; ") : NULL;
		run->profiles_done(run->items, run->n_items, errors, run->arg);
		free(errors);
	} else
		run->load_done(run->failures, run->arg);
	run_free(run);
}

static query_run *run_new(loop_t *loop, profefe_client *c, size_t n_parts, void *arg)
{
	query_run *run = xcalloc(1, sizeof(*run));

	run->loop = loop;
	run->c = c;
	run->parts = xcalloc(n_parts ? n_parts : 1, sizeof(*run->parts));
	run->arg = arg;
	ev_timer_init(&run->finish, on_finish, 0., 0.);
	run->finish.data = run;
	return run;
}

/* done always comes from the run's own timer, never from inside a profefe callback. */
static void part_finished(query_run *run)
{
	if (--run->pending == 0)
		ev_timer_start(loop_ev(run->loop), &run->finish);
}

/* ---- listing -------------------------------------------------------------------------------- */

static void meta_copy(profefe_profile_meta *dst, const profefe_profile_meta *src)
{
	dst->id = xstrdup(src->id);
	dst->type = xstrdup(src->type);
	dst->service = xstrdup(src->service);
	dst->created_at = xstrdup(src->created_at);
	size_t n = 0;
	while (src->labels && src->labels[n])
		n++;
	dst->labels = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		dst->labels[i] = xstrdup(src->labels[i]);
}

static const char *meta_label(const profefe_profile_meta *m, const char *key)
{
	for (char **l = m->labels; l && l[0] && l[1]; l += 2)
		if (strcmp(l[0], key) == 0)
			return l[1];
	return NULL;
}

/* Whether m carries every key=value of want (decoded, NULL-terminated; NULL: all). */
static int labels_include(const profefe_profile_meta *m, char *const *want)
{
	for (char *const *w = want; w && w[0] && w[1]; w += 2) {
		const char *v = meta_label(m, w[0]);
		if (!v || strcmp(v, w[1]) != 0)
			return 0;
	}
	return 1;
}

int query_labels_match(const profefe_profile_meta *m, const char *labels)
{
	char **want = profefe_labels_decode(labels);
	int ok = labels_include(m, want);

	profefe_strv_free(want);
	return ok;
}

static void on_profiles(const profefe_profile_meta *items, size_t n, const char *error,
			void *arg)
{
	struct part *part = arg;
	query_run *run = part->run;

	part->req = NULL;
	if (error) {
		add_error(run, error);
	} else if (n > 0) {
		run->items = xrealloc(run->items, (run->n_items + n) * sizeof(*run->items));
		size_t kept = 0;
		for (size_t i = 0; i < n && (run->limit <= 0 || (int)kept < run->limit); i++) {
			if (!labels_include(&items[i], run->want_labels))
				continue;
			meta_copy(&run->items[run->n_items++], &items[i]);
			kept++;
		}
	}
	part_finished(run);
}

/* Oldest first; profefe writes RFC 3339, which may carry fractions or offsets. */
static int by_time(const void *a, const void *b)
{
	const profefe_profile_meta *x = a, *y = b;
	time_t tx = 0, ty = 0;
	int px = kube_parse_rfc3339(x->created_at, &tx), py = kube_parse_rfc3339(y->created_at, &ty);

	if (px == 0 && py == 0 && tx != ty)
		return tx < ty ? -1 : 1;
	if (px != 0 || py != 0) {
		int c = strcmp(x->created_at, y->created_at);
		if (c != 0)
			return c;
	}
	return strcmp(x->id, y->id);
}

static void sort_finish(struct ev_loop *ev, ev_timer *w, int revents)
{
	query_run *run = w->data;

	if (run->n_items > 1)
		qsort(run->items, run->n_items, sizeof(*run->items), by_time);
	on_finish(ev, w, revents);
}

time_t query_inclusive_to(time_t to)
{
	return to ? to + 1 : 0;
}

query_run *query_profiles(loop_t *loop, profefe_client *c, const query_profiles_options *opt,
			  query_profiles_fn done, void *arg)
{
	const char *const *types = query_profefe_types();
	size_t n = 0;

	while (types[n])
		n++;
	query_run *run = run_new(loop, c, n, arg);
	run->profiles_done = done;
	run->want_labels = profefe_labels_decode(opt->labels);
	run->limit = opt->limit;
	ev_set_cb(&run->finish, sort_finish);
	for (size_t i = 0; i < n; i++) {
		if (opt->type && strcmp(opt->type, types[i]) != 0)
			continue;
		struct part *part = &run->parts[run->n_parts++];
		part->run = run;
		part->name = xstrdup(types[i]);
	}
	if (run->n_parts == 0) {
		char *e = xasprintf("unknown profile type \"%s\" (see get profile-types)", opt->type);
		add_error(run, e);
		free(e);
		ev_timer_start(loop_ev(loop), &run->finish);
		return run;
	}
	run->pending = run->n_parts;
	for (size_t i = 0; i < run->n_parts; i++) {
		/* Labels are matched here, and the limit applied after them (see query.h). */
		int filtered = run->want_labels[0] != NULL;
		profefe_query q = {.service = opt->service, .type = run->parts[i].name,
				   .from = opt->from, .to = query_inclusive_to(opt->to),
				   .limit = filtered ? 0 : opt->limit};
		run->parts[i].req = profefe_profiles(c, &q, on_profiles, &run->parts[i]);
	}
	return run;
}

static char *labels_text(char **labels)
{
	buf_t b = BUF_INIT;

	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2)
		buf_printf(&b, "%s%s=%s", b.len ? "," : "", labels[i], labels[i + 1]);
	return b.data ? buf_detach(&b) : xstrdup("");
}

static size_t max_len(size_t a, const char *s)
{
	size_t n = strlen(s);
	return n > a ? n : a;
}

void query_print_profiles(FILE *out, const profefe_client *c, const profefe_profile_meta *items,
			  size_t n)
{
	char **labels = xcalloc(n + 1, sizeof(char *));
	size_t w_id = 2, w_type = 4, w_service = 7, w_created = 10, w_labels = 6;

	for (size_t i = 0; i < n; i++) {
		labels[i] = labels_text(items[i].labels);
		w_id = max_len(w_id, items[i].id);
		w_type = max_len(w_type, items[i].type);
		w_service = max_len(w_service, items[i].service);
		w_created = max_len(w_created, items[i].created_at);
		w_labels = max_len(w_labels, labels[i]);
	}
	fprintf(out, "%-*s   %-*s   %-*s   %-*s   %-*s   %s\n", (int)w_id, "ID", (int)w_type,
		"TYPE", (int)w_service, "SERVICE", (int)w_created, "CREATED_AT", (int)w_labels,
		"LABELS", "URL");
	for (size_t i = 0; i < n; i++) {
		char *url = profefe_profile_url(c, items[i].id);
		fprintf(out, "%-*s   %-*s   %-*s   %-*s   %-*s   %s\n", (int)w_id, items[i].id,
			(int)w_type, items[i].type, (int)w_service, items[i].service,
			(int)w_created, items[i].created_at, (int)w_labels, labels[i], url);
		free(url);
		free(labels[i]);
	}
	free(labels);
}

/* ---- loading ---------------------------------------------------------------------------------- */

static int read_file(const char *path, unsigned char **data, size_t *len, char *err,
		     size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	buf_t b = BUF_INIT;
	unsigned char chunk[65536];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", path);
		fclose(f);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b.len + n > QUERY_MAX_FILE_BYTES) {
			snprintf(err, errlen, "%s: larger than %zu MiB", path,
				 QUERY_MAX_FILE_BYTES >> 20);
			buf_free(&b);
			fclose(f);
			return -1;
		}
		buf_append(&b, chunk, n);
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		buf_free(&b);
		fclose(f);
		return -1;
	}
	fclose(f);
	*len = b.len;
	*data = b.data ? b.data : xcalloc(1, 1);
	return 0;
}

/* A type name as load takes it: a profefe type, or one of pprof's ("allocs"). */
static int type_from_name(const char *name, enum pprof_type *out)
{
	if (strcmp(name, "other") == 0) {
		*out = PPROF_ALLOCS;
		return 0;
	}
	return pprof_type_parse(name, out);
}

/* The file's type: the one named (checked against the file), else the one read. */
static int decide_type(const char *path, const pprof_info *info, const char *type_name,
		       enum pprof_type *type, char *err, size_t errlen)
{
	char why[512];

	if (type_name) {
		if (type_from_name(type_name, type) != 0) {
			snprintf(err, errlen, "unknown profile type \"%s\" (see get profile-types)",
				 type_name);
			return -1;
		}
		if ((*type == PPROF_TRACE) != (info->is_trace != 0)) {
			snprintf(err, errlen, "%s: %s, not a %s", path,
				 info->is_trace ? "a Go execution trace" : "a pprof profile",
				 info->is_trace ? "pprof profile" : "Go execution trace");
			return -1;
		}
		return 0;
	}
	if (pprof_infer_type(info, type, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

int query_load_file(const char *path, const char *type_name, unsigned char **data,
		    size_t *len, enum pprof_type *type, char *err, size_t errlen)
{
	unsigned char *raw;
	size_t raw_len;
	pprof_info info;
	char why[512];
	enum pprof_reason reason;
	int rc;

	*data = NULL;
	*len = 0;
	if (read_file(path, &raw, &raw_len, err, errlen) != 0)
		return -1;
	if (pprof_read_info(raw, raw_len, &info, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		free(raw);
		return -1;
	}
	rc = decide_type(path, &info, type_name, type, err, errlen);
	pprof_info_clear(&info);
	if (rc == 0 && pprof_body_prepare(*type, raw, raw_len, 0, data, len, &reason) ==
			       PPROF_BODY_INVALID) {
		snprintf(err, errlen, "%s: not a valid %s profile (%s)", path,
			 pprof_type_name(*type), pprof_reason_name(reason));
		rc = -1;
	}
	free(raw);
	return rc;
}

/* Why profefe did not store a file: its status and text, and for an empty profile
 * (which profefe refuses) that this is the reason. */
static void report_refusal(query_run *run, const struct part *part,
			   const profefe_upload_result *res)
{
	const char *base = profefe_client_base_url(run->c);
	const char *why = res->message ? res->message : "no reason given";

	if (res->outcome == PROFEFE_REJECTED)
		fprintf(run->err, "error: %s: profefe %s refused it: %s%s\n", part->name, base, why,
			part->empty ? " (the profile has no samples: profefe stores only profiles "
				      "with samples)" : "");
	else
		fprintf(run->err, "error: %s: upload to profefe %s failed: %s\n", part->name, base,
			why);
}

static void on_uploaded(const profefe_upload_result *res, void *arg)
{
	struct part *part = arg;
	query_run *run = part->run;

	part->req = NULL;
	free(part->data);
	part->data = NULL;
	if (res->outcome == PROFEFE_OK) {
		char *url = res->id ? profefe_profile_url(run->c, res->id)
				    : xstrdup("(profefe sent no id)");
		fprintf(run->out, "%s: %s %s\n", part->name, pprof_profefe_type(part->type), url);
		fflush(run->out);
		free(url);
	} else {
		run->failures++;
		report_refusal(run, part, res);
	}
	part_finished(run);
}

query_run *query_load(loop_t *loop, profefe_client *c, const char *const *files, size_t n,
		      const query_load_options *opt, query_load_fn done, void *arg)
{
	query_run *run = run_new(loop, c, n, arg);
	char err[1024];

	run->load_done = done;
	run->out = opt->out ? opt->out : stdout;
	run->err = opt->err ? opt->err : stderr;
	for (size_t i = 0; i < n; i++) {
		struct part *part = &run->parts[run->n_parts];
		if (query_load_file(files[i], opt->type_name, &part->data, &part->len, &part->type,
				    err, sizeof(err)) != 0) {
			run->failures++;
			fprintf(run->err, "error: %s\n", err);
			continue;
		}
		part->run = run;
		part->name = xstrdup(files[i]);
		part->empty = pprof_count_samples(part->data, part->len, 0) == 0;
		run->n_parts++;
	}
	/* One extra count, dropped below, so that no upload finishing early ends the run
	 * before every upload started; with no uploads at all this finishes it. */
	run->pending = run->n_parts + 1;
	for (size_t i = 0; i < run->n_parts; i++) {
		struct part *part = &run->parts[i];
		part->req = profefe_upload(c, opt->service, pprof_profefe_type(part->type),
					   opt->labels, part->data, part->len, on_uploaded, part);
	}
	part_finished(run);
	return run;
}
