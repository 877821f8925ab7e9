/* flags: command-line flags with environment equivalents, defaults and --help. */
#include "kprofefe/flags.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int flags_parse_duration(const char *text, double *seconds)
{
	static const struct { const char *suffix; double scale; } units[] = {
		{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"", 1},
	};
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || errno || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v * units[i].scale > FLAGS_MAX_DURATION_S)
				return -1;
			*seconds = v * units[i].scale;
			return 0;
		}
	}
	return -1;
}

int flags_parse_bytes(const char *text, size_t *bytes)
{
	static const struct { const char *suffix; double scale; } units[] = {
		{"", 1}, {"B", 1},
		{"k", 1e3}, {"K", 1e3}, {"KB", 1e3}, {"Ki", 1024.}, {"KiB", 1024.},
		{"M", 1e6}, {"MB", 1e6}, {"Mi", 1048576.}, {"MiB", 1048576.},
		{"G", 1e9}, {"GB", 1e9}, {"Gi", 1073741824.}, {"GiB", 1073741824.},
	};
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || errno || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			double total = v * units[i].scale;
			if (total > 1e18)
				return -1;
			*bytes = (size_t)total;
			return 0;
		}
	}
	return -1;
}

int flags_parse_bool(const char *text, int *out)
{
	if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no")) {
		*out = 0;
		return 0;
	}
	return -1;
}

static int parse_int(const char *text, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno)
		return -1;
	*out = v;
	return 0;
}

static int parse_number(const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || *end != '\0' || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static const char *kind_expects(enum flag_kind kind)
{
	switch (kind) {
	case FLAG_INT: return "an integer";
	case FLAG_NUMBER: return "a number";
	case FLAG_BOOL: return "true or false";
	case FLAG_DURATION: return "a duration such as 30s, 5m or 1h";
	case FLAG_BYTES: return "a size such as 16Mi or 4096";
	default: return "a value";
	}
}

/* Stores text into the spec's target; where names the source for the message. */
static int assign(const flag_spec *spec, const char *text, const char *where,
		  char *err, size_t errlen)
{
	int rc = 0;
	switch (spec->kind) {
	case FLAG_STRING: *(const char **)spec->target = text; break;
	case FLAG_INT: rc = parse_int(text, spec->target); break;
	case FLAG_NUMBER: rc = parse_number(text, spec->target); break;
	case FLAG_BOOL: rc = flags_parse_bool(text, spec->target); break;
	case FLAG_DURATION: rc = flags_parse_duration(text, spec->target); break;
	case FLAG_BYTES: rc = flags_parse_bytes(text, spec->target); break;
	}
	if (rc != 0)
		snprintf(err, errlen, "%s: \"%s\" is not %s", where, text, kind_expects(spec->kind));
	return rc;
}

static const flag_spec *find_long(const flag_spec *specs, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(specs[i].name) == len && strncmp(specs[i].name, name, len) == 0)
			return &specs[i];
	return NULL;
}

static const flag_spec *find_short(const flag_spec *specs, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (specs[i].short_name && specs[i].short_name == c)
			return &specs[i];
	return NULL;
}

static int apply_defaults_and_env(const flag_spec *specs, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char where[128];
		if (specs[i].default_text) {
			snprintf(where, sizeof(where), "default of --%s", specs[i].name);
			if (assign(&specs[i], specs[i].default_text, where, err, errlen) != 0)
				return -1;
		}
		const char *env = specs[i].env ? getenv(specs[i].env) : NULL;
		if (env && *env) {
			snprintf(where, sizeof(where), "environment variable %s", specs[i].env);
			if (assign(&specs[i], env, where, err, errlen) != 0)
				return -1;
		}
	}
	return 0;
}

/* Handles argv[*i], a flag; may consume the next argument as its value. */
static int parse_one(const flag_spec *specs, size_t n, int argc, char **argv, int *i,
		     char *err, size_t errlen)
{
	const char *arg = argv[*i];
	const flag_spec *spec;
	const char *value = NULL;
	if (arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		spec = find_long(specs, n, name, len);
		value = eq ? eq + 1 : NULL;
	} else {
		spec = arg[2] == '\0' ? find_short(specs, n, arg[1]) : NULL;
	}
	if (!spec) {
		snprintf(err, errlen, "unknown flag %s (see --help)", arg);
		return -1;
	}
	if (!value && spec->kind == FLAG_BOOL) {
		*(int *)spec->target = 1;
		return 0;
	}
	if (!value) {
		if (*i + 1 >= argc) {
			snprintf(err, errlen, "flag %s needs a value", arg);
			return -1;
		}
		value = argv[++*i];
	}
	char where[128];
	snprintf(where, sizeof(where), "flag --%s", spec->name);
	return assign(spec, value, where, err, errlen);
}

int flags_parse(const flag_spec *specs, size_t nspecs, int argc, char **argv,
		char **positional, int *npositional, char *err, size_t errlen)
{
	*npositional = 0;
	if (apply_defaults_and_env(specs, nspecs, err, errlen) != 0)
		return -1;
	int only_positional = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			positional[(*npositional)++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return 1;
		if (parse_one(specs, nspecs, argc, argv, &i, err, errlen) != 0)
			return -1;
	}
	return 0;
}

void flags_usage(FILE *out, const char *usage, const flag_spec *specs, size_t nspecs)
{
	int any_env = 0;
	for (size_t i = 0; i < nspecs; i++)
		any_env |= specs[i].env != NULL;
	/* Only say so where there are variables: the plugin's flags have none. */
	fprintf(out, "%s\n\nFlags%s:\n", usage, any_env ? " (environment variable in brackets)" : "");
	for (size_t i = 0; i < nspecs; i++) {
		const flag_spec *s = &specs[i];
		char names[64];
		if (s->short_name)
			snprintf(names, sizeof(names), "-%c, --%s", s->short_name, s->name);
		else
			snprintf(names, sizeof(names), "    --%s", s->name);
		fprintf(out, "  %-28s %s", names, s->help);
		if (s->default_text && s->default_text[0])
			fprintf(out, " (default %s)", s->default_text);
		if (s->env)
			fprintf(out, " [%s]", s->env);
		fputc('\n', out);
	}
	fputs("  -h, --help                   this help\n", out);
}
