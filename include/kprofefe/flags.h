/* flags: command-line flags with environment equivalents, defaults and --help. */
#ifndef KPROFEFE_FLAGS_H
#define KPROFEFE_FLAGS_H

#include <stddef.h>
#include <stdio.h>

enum flag_kind {
	FLAG_STRING,   /* const char ** : borrowed from argv, environ or the default */
	FLAG_INT,      /* long * */
	FLAG_NUMBER,   /* double *: "2.5" */
	FLAG_BOOL,     /* int * : "--flag", "--flag=true|false", env 1/0/true/false */
	FLAG_DURATION, /* double * seconds: "30s", "5m", "1h", "250ms", or plain seconds */
	FLAG_BYTES     /* size_t * : "512Mi", "16MiB", "1G", "4096" */
};

typedef struct flag_spec {
	const char *name;         /* long name without dashes: "node-name" */
	char short_name;          /* 'n' for -n, or 0 */
	const char *env;          /* "NODE_NAME", or NULL when there is none */
	enum flag_kind kind;
	void *target;             /* where the value goes, typed by kind */
	const char *default_text; /* applied before env and argv; shown in --help; NULL: none */
	const char *help;
} flag_spec;

/*
 * Applies defaults, then the environment, then argv (later wins). Arguments that
 * are not flags are left in positional (argv pointers, borrowed; *npositional
 * counts them; the array must hold argc entries). "--" ends the flags. Returns 0,
 * 1 when --help was asked for, or -1 with a message naming the flag or variable.
 */
int flags_parse(const flag_spec *specs, size_t nspecs, int argc, char **argv,
		char **positional, int *npositional, char *err, size_t errlen);

/* Writes every flag with its env equivalent and default. */
void flags_usage(FILE *out, const char *usage, const flag_spec *specs, size_t nspecs);

/* The parsers flags_parse uses, for values that come from elsewhere (annotations).
 * A duration is at most FLAGS_MAX_DURATION_S seconds, so that it converts to
 * milliseconds in a long and to nanoseconds in an int64_t. */
#define FLAGS_MAX_DURATION_S 1e9
int flags_parse_duration(const char *text, double *seconds);
int flags_parse_bytes(const char *text, size_t *bytes);
/* true/1/yes or false/0/no (case-insensitive words): *out 1 or 0. Returns 0, or -1. */
int flags_parse_bool(const char *text, int *out);

#endif
