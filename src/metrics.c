/* metrics: the process-wide registry of counters and gauges and its Prometheus text. */
#include "kprofefe/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kprofefe/buf.h"
#include "kprofefe/xalloc.h"

struct series {
	char *labels;   /* rendered: key="value",key2="value2" (may be empty) */
	double value;   /* a histogram's count */
	double sum;     /* histograms */
	double *counts; /* histograms: observations per bucket, the last one +Inf */
	struct series *next;
};

static const metric_def *defs = metrics_defs;
static size_t ndefs = METRIC_COUNT;
/* Each declared metric's series, by id; NULL-terminated lists in creation order. */
static struct series **families;

const char *metrics_name(enum metric_id id)
{
	return (size_t)id < ndefs ? defs[id].name : "";
}

static void append_label_value(buf_t *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			buf_append_str(b, "\\n");
		else
			buf_append(b, v, 1);
	}
}

static char *render_labels(va_list ap)
{
	buf_t b = BUF_INIT;
	const char *key;
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		if (b.len)
			buf_append_str(&b, ",");
		buf_printf(&b, "%s=\"", key);
		append_label_value(&b, value ? value : "");
		buf_append_str(&b, "\"");
	}
	return buf_detach(&b);
}

/* The head of id's series list, or NULL for an id outside the declarations (only a
 * cast can make one): ignored rather than a crash in production. */
static struct series **family_of(enum metric_id id)
{
	if ((size_t)id >= ndefs)
		return NULL;
	if (!families)
		families = xcalloc(ndefs, sizeof(*families));
	return &families[id];
}

static struct series *find_series(enum metric_id id, const char *labels, int create)
{
	struct series **link = family_of(id);
	if (!link)
		return NULL;
	for (; *link; link = &(*link)->next)
		if (strcmp((*link)->labels, labels) == 0)
			return *link;
	if (!create)
		return NULL;
	struct series *s = xcalloc(1, sizeof(*s));
	s->labels = xstrdup(labels);
	if (defs[id].type == METRIC_HISTOGRAM)
		s->counts = xcalloc(defs[id].nbuckets + 1, sizeof(*s->counts));
	*link = s;
	return s;
}

static struct series *series_va(enum metric_id id, int create, va_list ap)
{
	char *labels = render_labels(ap);
	struct series *s = find_series(id, labels, create);
	free(labels);
	return s;
}

void metrics_add(enum metric_id id, double delta, ...)
{
	va_list ap;
	va_start(ap, delta);
	struct series *s = series_va(id, 1, ap);
	va_end(ap);
	if (s && !s->counts)
		s->value += delta;
}

void metrics_set(enum metric_id id, double value, ...)
{
	va_list ap;
	va_start(ap, value);
	struct series *s = series_va(id, 1, ap);
	va_end(ap);
	if (s && !s->counts)
		s->value = value;
}

void metrics_observe(enum metric_id id, double value, ...)
{
	va_list ap;
	va_start(ap, value);
	struct series *s = series_va(id, 1, ap);
	va_end(ap);
	if (!s || !s->counts)
		return;
	size_t i = 0;
	while (i < defs[id].nbuckets && value > defs[id].buckets[i])
		i++;
	s->counts[i]++;
	s->sum += value;
	s->value++;
}

double metrics_get(enum metric_id id, ...)
{
	va_list ap;
	va_start(ap, id);
	struct series *s = series_va(id, 0, ap);
	va_end(ap);
	return s ? s->value : 0;
}

/* A sample value as Prometheus reads it: NaN and +Inf/-Inf spelled its way (printf's
 * "nan" and "inf" are not), and the fewest digits that read back the same value. */
static void append_value(buf_t *b, double v)
{
	if (isnan(v)) {
		buf_append_str(b, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	char text[32];
	snprintf(text, sizeof(text), "%.15g", v);
	if (strtod(text, NULL) != v)
		snprintf(text, sizeof(text), "%.17g", v);
	buf_append_str(b, text);
}

/* HELP text may hold anything but must stay on its line: escape \ and newline. */
static void append_help(buf_t *b, const char *help)
{
	for (; *help; help++) {
		if (*help == '\\')
			buf_append_str(b, "\\\\");
		else if (*help == '\n')
			buf_append_str(b, "\\n");
		else
			buf_append(b, help, 1);
	}
}

static void append_sample(buf_t *b, const char *name, const char *suffix, const char *labels,
			  const char *extra, double v)
{
	buf_printf(b, "%s%s", name, suffix);
	if (labels[0] || extra)
		buf_printf(b, "{%s%s%s}", labels, labels[0] && extra ? "," : "", extra ? extra : "");
	buf_append_str(b, " ");
	append_value(b, v);
	buf_append_str(b, "\n");
}

static void append_histogram(buf_t *b, const metric_def *d, const struct series *s)
{
	double cumulative = 0;
	char le[64];
	for (size_t i = 0; i <= d->nbuckets; i++) {
		cumulative += s->counts[i];
		if (i < d->nbuckets)
			snprintf(le, sizeof(le), "le=\"%.15g\"", d->buckets[i]);
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		append_sample(b, d->name, "_bucket", s->labels, le, cumulative);
	}
	append_sample(b, d->name, "_sum", s->labels, NULL, s->sum);
	append_sample(b, d->name, "_count", s->labels, NULL, s->value);
}

static const char *const type_names[] = {
	[METRIC_COUNTER] = "counter",
	[METRIC_GAUGE] = "gauge",
	[METRIC_HISTOGRAM] = "histogram",
};

char *metrics_render(void)
{
	buf_t b = BUF_INIT;
	for (size_t id = 0; id < ndefs; id++) {
		const metric_def *d = &defs[id];
		buf_printf(&b, "# HELP %s ", d->name);
		append_help(&b, d->help);
		buf_printf(&b, "\n# TYPE %s %s\n", d->name, type_names[d->type]);
		for (struct series *s = families ? families[id] : NULL; s; s = s->next) {
			if (s->counts)
				append_histogram(&b, d, s);
			else
				append_sample(&b, d->name, "", s->labels, NULL, s->value);
		}
	}
	return buf_detach(&b);
}

void metrics_reset(void)
{
	for (size_t id = 0; families && id < ndefs; id++) {
		while (families[id]) {
			struct series *s = families[id];
			families[id] = s->next;
			free(s->labels);
			free(s->counts);
			free(s);
		}
	}
	free(families);
	families = NULL;
}

void metrics_use_defs(const metric_def *d, size_t n)
{
	metrics_reset();
	defs = d ? d : metrics_defs;
	ndefs = d ? n : METRIC_COUNT;
}

/* /proc/self/stat's fields after the command (which may hold spaces and parentheses):
 * utime is the 14th field, stime the 15th, starttime the 22nd, rss the 24th. */
static int read_self_stat(double *cpu_s, double *start_ticks, double *rss_pages)
{
	char text[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return -1;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *p = strrchr(text, ')');
	if (!p)
		return -1;
	unsigned long long utime, stime, start;
	long rss;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			  "%*d %*d %llu %*u %ld", &utime, &stime, &start, &rss) != 4)
		return -1;
	double hz = (double)sysconf(_SC_CLK_TCK);
	*cpu_s = (double)(utime + stime) / hz;
	*start_ticks = (double)start / hz;
	*rss_pages = (double)rss;
	return 0;
}

static double boot_time(void)
{
	char line[256];
	double btime = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lf", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

void metrics_update_process(void)
{
	double cpu, start, rss;
	if (read_self_stat(&cpu, &start, &rss) != 0)
		return;
	metrics_set(METRIC_PROCESS_CPU_SECONDS_TOTAL, cpu, NULL);
	metrics_set(METRIC_PROCESS_RESIDENT_MEMORY_BYTES, rss * (double)sysconf(_SC_PAGESIZE),
		    NULL);
	metrics_set(METRIC_PROCESS_START_TIME_SECONDS, boot_time() + start, NULL);
}
