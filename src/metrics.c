/* metrics: the process-wide registry of counters and gauges and its Prometheus text. */
#include "kprofefe/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/buf.h"
#include "kprofefe/xalloc.h"

struct series {
	char *labels; /* rendered: key="value",key2="value2" (may be empty) */
	double value;
	struct series *next;
};

struct family {
	const char *name;
	const char *type;
	const char *help;
	struct series *series;
	struct family *next;
};

static struct family *families;
static struct family *families_tail;

static struct family *find_family(const char *name)
{
	for (struct family *f = families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

void metrics_register(const char *name, const char *type, const char *help)
{
	if (find_family(name))
		return;
	struct family *f = xcalloc(1, sizeof(*f));
	f->name = name;
	f->type = type;
	f->help = help;
	/* Kept in registration order, so /metrics reads in the order code declared. */
	if (families_tail)
		families_tail->next = f;
	else
		families = f;
	families_tail = f;
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

static struct family *must_find(const char *name)
{
	struct family *f = find_family(name);
	if (!f) {
		fprintf(stderr, "kprofefe: bug: metric %s used before metrics_register\n", name);
		abort();
	}
	return f;
}

static struct series *find_series(struct family *f, const char *labels, int create)
{
	struct series **link = &f->series;
	for (; *link; link = &(*link)->next)
		if (strcmp((*link)->labels, labels) == 0)
			return *link;
	if (!create)
		return NULL;
	struct series *s = xcalloc(1, sizeof(*s));
	s->labels = xstrdup(labels);
	*link = s;
	return s;
}

void metrics_add(const char *name, double delta, ...)
{
	struct family *f = must_find(name);
	va_list ap;
	va_start(ap, delta);
	char *labels = render_labels(ap);
	va_end(ap);
	find_series(f, labels, 1)->value += delta;
	free(labels);
}

void metrics_set(const char *name, double value, ...)
{
	struct family *f = must_find(name);
	va_list ap;
	va_start(ap, value);
	char *labels = render_labels(ap);
	va_end(ap);
	find_series(f, labels, 1)->value = value;
	free(labels);
}

double metrics_get(const char *name, ...)
{
	struct family *f = find_family(name);
	if (!f)
		return 0;
	va_list ap;
	va_start(ap, name);
	char *labels = render_labels(ap);
	va_end(ap);
	struct series *s = find_series(f, labels, 0);
	free(labels);
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

char *metrics_render(void)
{
	buf_t b = BUF_INIT;
	for (struct family *f = families; f; f = f->next) {
		buf_printf(&b, "# HELP %s ", f->name);
		append_help(&b, f->help);
		buf_printf(&b, "\n# TYPE %s %s\n", f->name, f->type);
		for (struct series *s = f->series; s; s = s->next) {
			if (s->labels[0])
				buf_printf(&b, "%s{%s} ", f->name, s->labels);
			else
				buf_printf(&b, "%s ", f->name);
			append_value(&b, s->value);
			buf_append_str(&b, "\n");
		}
	}
	return buf_detach(&b);
}

void metrics_reset(void)
{
	while (families) {
		struct family *f = families;
		families = f->next;
		while (f->series) {
			struct series *s = f->series;
			f->series = s->next;
			free(s->labels);
			free(s);
		}
		free(f);
	}
	families_tail = NULL;
}
