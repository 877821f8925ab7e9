/* query: the plugin's profefe side: times given as durations or RFC 3339, label lists,
 * profiles listed across types and printed as a table, and local pprof files loaded
 * into profefe with their type read from the profile itself. */
#ifndef KPROFEFE_QUERY_H
#define KPROFEFE_QUERY_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "kprofefe/pprof.h"
#include "kprofefe/profefe.h"

/* Largest local file `load` reads. */
#define QUERY_MAX_FILE_BYTES ((size_t)256 << 20)

/* ---- parsing ---------------------------------------------------------------------------- */

/*
 * Go's time.ParseDuration syntax: a sequence of decimal numbers, each with a unit (ns,
 * us, µs, ms, s, m, h): "24h", "1h30m", "1.5h", "250ms", "0m"; "0" alone. A leading
 * '+' or '-' is allowed and ignored (both "-24h" and "24h" mean 24 hours ago where a
 * time is meant). Returns 0 with *seconds set, or -1.
 */
int query_parse_duration(const char *text, double *seconds);

/* A time as `get profiles --from/--to` take it: a duration meaning now minus that, or
 * RFC 3339 ("2024-05-01T10:00:00Z"). Returns 0, or -1 with a message in err. */
int query_parse_time(const char *text, time_t now, time_t *out, char *err, size_t errlen);

/* "k=v,k2=v2" (blanks around items ignored; a value may be empty, a key may not) into
 * profefe's encoded form (see profefe_labels_encode). text NULL or "": "". extra is a
 * NULL-terminated key, value... list added for keys text does not set (may be NULL).
 * Returns 0 with *encoded set (caller frees), or -1 with a message in err. */
int query_labels_parse(const char *text, const char *const *extra, char **encoded, char *err,
		       size_t errlen);

/* profefe's profile types, in the order `get profile-types` prints them: cpu, heap,
 * block, mutex, goroutine, threadcreate, other, trace. NULL-terminated, static. */
const char *const *query_profefe_types(void);
/* Non-zero when name is one of them. */
int query_is_profefe_type(const char *name);

/* ---- errors -------------------------------------------------------------------------------- */

/* The port-forward that reaches the profefe of daemonset/examples/profefe (and the
 * chart's notes) from a laptop. */
#define QUERY_PORT_FORWARD "kubectl -n profefe port-forward svc/profefe 10100"

/* Prints one line on err for a failed profefe request: "error: profefe URL: error", or,
 * when c could not connect to profefe (profefe_client_failure), that profefe is not
 * reachable at its URL, and what to do: port-forward its Service (QUERY_PORT_FORWARD),
 * or give its URL with --profefe-hostport or PROFEFE_URL. */
void query_print_profefe_error(FILE *err, const profefe_client *c, const char *error);

/* ---- listing -------------------------------------------------------------------------------- */

typedef struct query_profiles_options {
	const char *service; /* required */
	const char *type;    /* a profefe type, or NULL for every type */
	time_t from, to;
	const char *labels;  /* encoded, or NULL */
	int limit;           /* per type; 0: none */
} query_profiles_options;

/*
 * Labels are matched here, not by profefe: each type is asked by service, type and time
 * only, and the profiles that carry every label of opt->labels are kept (limit counts
 * those). profefe's badger index answers a labels= query by joining the label's list of
 * profiles with the type's list by profile id while both are sorted by creation time,
 * so a profile that reached it out of time order (a CPU profile, which carries the
 * earliest time and arrives last; a spooled one) is missing from the answer.
 */

/* Non-zero when m carries every key=value of labels (encoded, as query_labels_parse
 * gives them; NULL or "": every profile matches). Equal keys and values, byte for
 * byte; m's other labels do not matter. For listings and merges that filter by label. */
int query_labels_match(const profefe_profile_meta *m, const char *labels);

/* to as sent to profefe: one second later (0 stays 0). profefe compares the
 * nanosecond creation time with the whole second given, so the second `to` names is
 * included whole. */
time_t query_inclusive_to(time_t to);

/* items sorted oldest first (ties by id); error NULL on success, else every failed
 * type's message joined with "; ". Everything lives only during the call. */
typedef void (*query_profiles_fn)(const profefe_profile_meta *items, size_t n,
				  const char *error, void *arg);

typedef struct query_run query_run;

/* Asks profefe for the profiles of every type asked (in parallel). c and loop (c's)
 * are borrowed until done; opt for the call only (strings copied). done is called once,
 * from the loop, unless query_cancel comes first; the run frees itself after done
 * returns. */
query_run *query_profiles(loop_t *loop, profefe_client *c, const query_profiles_options *opt,
			  query_profiles_fn done, void *arg);
void query_cancel(query_run *run);

/* The table: ID TYPE SERVICE CREATED_AT LABELS URL, a header line and one line per
 * profile, columns aligned; URL is the profile's profefe URL (go tool pprof reads it). */
void query_print_profiles(FILE *out, const profefe_client *c, const profefe_profile_meta *items,
			  size_t n);

/* ---- loading ---------------------------------------------------------------------------------- */

/*
 * Reads the pprof (gzip or not) or Go trace file path and decides its type: type_name
 * when given (a profefe type, or "allocs" for "other"; it must fit the file: a trace
 * only as "trace"), else the type read from its sample and period types
 * (pprof_infer_type). *data gets the body to upload (gzip for pprof), *len its size,
 * *type the pprof type (profefe's is pprof_profefe_type of it). Returns 0, or -1 with
 * a message in err naming the file ("x.txt: not a pprof profile or Go trace: ...").
 */
int query_load_file(const char *path, const char *type_name, unsigned char **data,
		    size_t *len, enum pprof_type *type, char *err, size_t errlen);

typedef struct query_load_options {
	const char *service;   /* required */
	const char *type_name; /* NULL: read from each profile */
	const char *labels;    /* encoded labels for every upload; NULL: none */
	FILE *out;             /* "FILE: TYPE URL" per file loaded; NULL: stdout */
	FILE *err;             /* "error: FILE: why" per failure; NULL: stderr */
} query_load_options;

/* Called once: how many files could not be loaded. */
typedef void (*query_load_fn)(int failures, void *arg);

/* Reads every file (names borrowed for the call) and uploads them in parallel. done as
 * for query_profiles (also when no file could be read). */
query_run *query_load(loop_t *loop, profefe_client *c, const char *const *files, size_t n,
		      const query_load_options *opt, query_load_fn done, void *arg);

/* ---- merging (kubectl profefe merge) ------------------------------------------------------------ */

/* Labels are matched by query_labels_match (above). */

/* "<dir>/profile-<type>-<service>-merged-<when>.pb.gz", the merge's default file name in
 * capture's style (the service's '/' become '_'). Caller frees. */
char *query_merge_file_name(const char *dir, const char *type, const char *service,
			    time_t when);

typedef struct query_merge_options {
	const char *service; /* required */
	const char *type;    /* a profefe type other than trace */
	time_t from, to;
	const char *labels;  /* encoded (query_labels_parse), or NULL */
	const char *output;  /* the file to write (replaced if it exists); NULL: a new file
	                        named by query_merge_file_name in dir */
	const char *dir;     /* with output NULL; NULL: "." */
	time_t now;          /* the time in the default name; 0: time(NULL) */
	long timeout_ms;     /* of the merge request (profefe reads every profile); 0: 300 s */
	FILE *out;           /* the file's path; NULL: stdout */
	FILE *err;           /* how many profiles went in, or why nothing was written;
	                        NULL: stderr */
} query_merge_options;

/* Called once: 0 when the file was written, 1 otherwise; n profiles went into it; path is
 * the file's (NULL when none was written; lives during the call). */
typedef void (*query_merge_fn)(int status, size_t n, const char *path, void *arg);

typedef struct query_merge_run query_merge_run;

/*
 * Lists the profiles of service and type between from and to (never with profefe's
 * labels= filter: its label index misses profiles that reached it out of time order),
 * keeps those whose labels match, and has profefe merge exactly those: GET
 * /api/0/profiles/<id>+<id>... (profefe merges the profiles a '+'-joined id list
 * names; one id is that profile as stored). The merged pprof is written to the file.
 * c and loop are borrowed until done; opt for the call only. done is called once, from
 * the loop, unless query_merge_cancel comes first; the run frees itself after done.
 */
query_merge_run *query_merge(loop_t *loop, profefe_client *c, const query_merge_options *opt,
			     query_merge_fn done, void *arg);
void query_merge_cancel(query_merge_run *run);

/*
 * `get profile ID`: the stored profile id (GET /api/0/profiles/<id>, as profefe stores
 * it) into a file: opt's output, else a new "<dir>/profile-<id>.pb.gz" (the id's '/'
 * made '_'; a -N suffix rather than replacing a file); opt's timeout_ms, out and err as
 * for a merge, the rest unused. done as for query_merge, with n 1. Cancel with
 * query_merge_cancel.
 */
query_merge_run *query_get_profile(loop_t *loop, profefe_client *c, const char *id,
				   const query_merge_options *opt, query_merge_fn done, void *arg);

#endif
