/* pprof: profile types, their endpoints, and checking and reading pprof bodies. */
#ifndef KPROFEFE_PPROF_H
#define KPROFEFE_PPROF_H

#include <stddef.h>
#include <stdint.h>

/* ---- types ------------------------------------------------------------------------- */

/* The profiles Go's net/http/pprof serves. The order is the bit order of a mask. */
enum pprof_type {
	PPROF_CPU,
	PPROF_HEAP,
	PPROF_ALLOCS,
	PPROF_GOROUTINE,
	PPROF_MUTEX,
	PPROF_BLOCK,
	PPROF_THREADCREATE,
	PPROF_TRACE,
	PPROF_TYPE_COUNT
};

/* The bit of type t in a mask of types. */
#define PPROF_BIT(t) (1u << (unsigned)(t))
/* What is scraped when nothing else is configured: cpu, heap, goroutine, mutex, block,
 * threadcreate (allocs duplicates heap, trace is large and not pprof). */
#define PPROF_DEFAULT_TYPES                                                            \
	(PPROF_BIT(PPROF_CPU) | PPROF_BIT(PPROF_HEAP) | PPROF_BIT(PPROF_GOROUTINE) |      \
	 PPROF_BIT(PPROF_MUTEX) | PPROF_BIT(PPROF_BLOCK) | PPROF_BIT(PPROF_THREADCREATE))
#define PPROF_ALL_TYPES ((1u << PPROF_TYPE_COUNT) - 1u)

/* "cpu", "heap", "allocs", ...: static; "unknown" for a value out of range. */
const char *pprof_type_name(enum pprof_type t);
/* The type named name (exact, lowercase). Returns 0, or -1 when unknown. */
int pprof_type_parse(const char *name, enum pprof_type *out);

/*
 * The type profefe stores the profile under (static string). profefe has no "allocs":
 * allocs is mapped to "other", not "heap". An allocs profile holds the same four sample
 * types as heap (only its default sample type differs), so storing it as "heap" would
 * give two heap profiles per pod and scrape, and a heap merge over a time range would
 * count every allocation twice. Query allocs as type=other; heap already carries
 * alloc_objects/alloc_space.
 */
const char *pprof_profefe_type(enum pprof_type t);

/*
 * The endpoint below the pprof path, without a leading '/': "profile?seconds=N" (cpu),
 * "trace?seconds=N" (trace), else the type's name. seconds is used for cpu and trace
 * only (values below 1 become 1). The caller frees the result.
 */
char *pprof_endpoint(enum pprof_type t, int seconds);

/*
 * Non-zero for the types whose values add up since the process started: allocs, block
 * and mutex. Go's net/http/pprof answers these with the difference over a window when
 * asked with ?seconds=N (heap too, but a heap delta loses the in-use snapshot that
 * makes a heap profile useful, so heap is not counted here).
 */
int pprof_type_is_cumulative(enum pprof_type t);

/* How the cumulative types are asked for (the values of profefe.com/delta and --delta). */
enum pprof_delta {
	PPROF_DELTA_OFF,        /* "false": the totals since the process started ("allocs") */
	PPROF_DELTA_SECONDS,    /* "true": net/http/pprof's delta over N seconds
	                           ("allocs?seconds=N"), answered after the N seconds */
	PPROF_DELTA_GODELTAPROF /* "godeltaprof": godeltaprof's "delta_heap" (allocs),
	                           "delta_block", "delta_mutex", answered at once with the
	                           change since the previous call to it, by anyone */
};
#define PPROF_DELTA_COUNT 3

/* "false", "true", "godeltaprof" (static); "unknown" out of range. */
const char *pprof_delta_name(enum pprof_delta d);
/* The mode named s (exactly one of the names above). Returns 0, or -1 when unknown. */
int pprof_delta_parse(const char *s, enum pprof_delta *out);

/* As pprof_endpoint, but a cumulative type asks for its delta the way d says:
 * "allocs?seconds=N" or "delta_heap". Other types, and PPROF_DELTA_OFF: pprof_endpoint.
 * The caller frees the result. */
char *pprof_delta_endpoint(enum pprof_type t, enum pprof_delta d, int seconds);
/* Non-zero when that endpoint answers only after its seconds: cpu and trace, and the
 * cumulative types with PPROF_DELTA_SECONDS. */
int pprof_endpoint_waits(enum pprof_type t, enum pprof_delta d);

/*
 * Parses a comma-separated list of type names ("cpu, heap,goroutine"; blanks around
 * names ignored, duplicates allowed) into a mask of PPROF_BIT()s. An empty list or an
 * empty or unknown name is an error: returns -1 with a message in err naming it
 * (`unknown profile type "foo" (known: cpu, heap, ...)`); 0 on success.
 */
int pprof_types_parse(const char *list, unsigned *mask, char *err, size_t errlen);
/* The names in mask joined with ',' in enum order ("" for none). Caller frees. */
char *pprof_types_format(unsigned mask);

/* ---- bodies ------------------------------------------------------------------------ */

/* What a response body turned out to be. */
enum pprof_body_kind {
	PPROF_BODY_INVALID,  /* not a profile of the asked type; see the reason */
	PPROF_BODY_GZIP,     /* gzip-compressed pprof protobuf (what Go sends) */
	PPROF_BODY_PROTOBUF, /* an uncompressed pprof protobuf */
	PPROF_BODY_TRACE     /* a Go execution trace ("go 1.NN trace\0...") */
};

/* Inflated size allowed when the caller passes max_inflated 0: 64 times the compressed
 * size, but at least PPROF_MIN_INFLATE_CAP and never above PPROF_MAX_INFLATE_CAP. */
#define PPROF_MIN_INFLATE_CAP ((size_t)1 << 20)
#define PPROF_MAX_INFLATE_CAP ((size_t)512 << 20)

/* Why a body is not a profile of the asked type; pprof_reason_name gives the label. */
enum pprof_reason {
	PPROF_REASON_NONE,
	PPROF_REASON_EMPTY,
	PPROF_REASON_HTML,
	PPROF_REASON_TEXT,
	PPROF_REASON_NOT_GZIP_OR_PROTOBUF,
	PPROF_REASON_CORRUPT_GZIP,
	PPROF_REASON_NOT_PROFILE,      /* gzip fine, contents not a Profile */
	PPROF_REASON_TOO_LARGE,        /* inflated size over the cap */
	PPROF_REASON_NOT_TRACE,        /* a trace was asked for */
	PPROF_REASON_UNEXPECTED_TRACE  /* a trace for another type */
};

/* "empty", "html", ... (the enum's names lowercased), "" for NONE: static. */
const char *pprof_reason_name(enum pprof_reason r);

/*
 * Classifies body (borrowed) as a response to a request for type t. A gzip body is
 * really inflated (at most max_inflated bytes, 0: the default cap above) and the result
 * must be a pprof Profile (the protobuf wire format walked to the end, with a string
 * table whose first entry is ""). A Go trace is accepted for t == PPROF_TRACE only, and
 * PPROF_TRACE accepts nothing else. On PPROF_BODY_INVALID *reason (may be NULL) says
 * why (enum pprof_reason); on success it is PPROF_REASON_NONE.
 */
enum pprof_body_kind pprof_body_check(enum pprof_type t, const unsigned char *body,
				      size_t len, size_t max_inflated, enum pprof_reason *reason);

/* What checking a Profile body found out on the way (all 0 for a trace). */
typedef struct pprof_body_facts {
	size_t n_samples;       /* 0: an empty profile (profefe refuses those) */
	int64_t time_nanos;     /* 0 when absent */
	int64_t duration_nanos; /* 0 when absent: a delta profile has it set */
} pprof_body_facts;

/*
 * pprof_body_check that also fills *facts (may be NULL) for a profile. A gzip body is
 * inflated in small steps and walked as it comes, never held inflated: checking a body
 * costs a few KiB whatever it inflates to (the cap bounds the time it takes).
 */
enum pprof_body_kind pprof_body_inspect(enum pprof_type t, const unsigned char *body,
					size_t len, size_t max_inflated, pprof_body_facts *facts,
					enum pprof_reason *reason);

/*
 * pprof_body_check, then the bytes to store or upload: the gzip body or trace copied,
 * or the uncompressed protobuf gzipped. On success *out is a new buffer the caller frees
 * with free() and *out_len its size; on PPROF_BODY_INVALID *out is NULL.
 */
enum pprof_body_kind pprof_body_prepare(enum pprof_type t, const unsigned char *body,
					size_t len, size_t max_inflated, unsigned char **out,
					size_t *out_len, enum pprof_reason *reason);

/*
 * pprof_body_prepare, also counting the profile's samples: *samples (may be NULL) gets
 * how many Sample messages the profile holds, 1 for a trace (it has none to count). A
 * profile with 0 is valid (go tool pprof reads it), but profefe refuses it ("profile is
 * empty: no samples"): a mutex or block profile of a process that never enabled them.
 */
enum pprof_body_kind pprof_body_prepare_counted(enum pprof_type t, const unsigned char *body,
						size_t len, size_t max_inflated, unsigned char **out,
						size_t *out_len, enum pprof_reason *reason, size_t *samples);

/* The samples of a pprof body (gzip or uncompressed, inflated as pprof_body_check does):
 * 0 for an empty profile, or -1 when body is not a pprof profile (a trace included). */
long pprof_count_samples(const unsigned char *body, size_t len, size_t max_inflated);

/* Non-zero when data starts like a Go execution trace. */
int pprof_is_trace(const unsigned char *data, size_t len);
/* Non-zero when data (uncompressed) is a plausible pprof Profile, as described above. */
int pprof_is_profile(const unsigned char *data, size_t len);

/* gzip-compresses data (gzip wrapper, zlib). *out: new buffer the caller frees. Returns
 * 0, or -1 on a zlib error. */
int pprof_gzip(const unsigned char *data, size_t len, unsigned char **out, size_t *out_len);
/* Inflates gzip data (one or more members) of at most max_out bytes (0: the default
 * cap). *out: new buffer the caller frees (NUL-terminated for convenience, not counted).
 * Returns 0, or -1 with *reason PPROF_REASON_CORRUPT_GZIP or PPROF_REASON_TOO_LARGE. */
int pprof_gunzip(const unsigned char *data, size_t len, size_t max_out, unsigned char **out,
		 size_t *out_len, enum pprof_reason *reason);

/* ---- reading a profile (kubectl profefe load) ------------------------------------------ */

typedef struct pprof_value_type {
	char *type; /* owned; "" when absent */
	char *unit;
} pprof_value_type;

typedef struct pprof_info {
	int is_trace;         /* a Go trace: nothing below is set but trace_version */
	char *trace_version;  /* "1.26" for a trace, else NULL; owned */
	int64_t time_nanos;   /* 0 when absent */
	int64_t duration_nanos;
	pprof_value_type *sample_types; /* owned array */
	size_t n_sample_types;
	pprof_value_type period_type;   /* type/unit "" when absent */
	int64_t period;
	char *default_sample_type;      /* owned; "" when absent */
	size_t n_samples;
	/* Contention profiles: samples whose innermost frame is an unlock (Go records
	 * mutex contention at Unlock) and samples whose innermost frame is something else
	 * (blocking calls: chanrecv, Lock, Wait, select...). Unsymbolized: neither. */
	size_t n_unlock_leaves;
	size_t n_other_leaves;
} pprof_info;

/*
 * Reads data (borrowed): gzip pprof, uncompressed pprof or a Go trace. Returns 0 with
 * *info filled (free with pprof_info_clear), or -1 with a message in err that says what
 * the file is not and why.
 */
int pprof_read_info(const unsigned char *data, size_t len, pprof_info *info, char *err,
		    size_t errlen);
void pprof_info_clear(pprof_info *info);

/* The samples of a pprof body (gzip or uncompressed, checked as pprof_body_inspect does,
 * in a stream): 0 for an empty profile (valid, and go tool pprof reads it, but profefe
 * refuses it: "profile is empty: no samples"), or -1 when body is not a pprof profile
 * (a trace included). */
long pprof_count_samples(const unsigned char *body, size_t len, size_t max_inflated);

/*
 * Which type a profile is, from its sample and period types:
 *   cpu: samples/count + cpu/nanoseconds; heap: alloc_objects.../inuse_space (also an
 *   allocs profile: the data are the same, so "heap"); goroutine/count; threadcreate/
 *   count; a trace: trace.
 * Mutex and block profiles carry identical metadata (contentions/count, delay/
 * nanoseconds, period type contentions/count): they are told apart by the innermost
 * frame of the samples, an unlock for mutex (sync.(*Mutex).Unlock, runtime.unlock...)
 * and a blocking call for block. When that is not conclusive (no samples, no symbols,
 * or a mix) it fails with a message asking for --profile-type. Returns 0 or -1 with a
 * message in err.
 */
int pprof_infer_type(const pprof_info *info, enum pprof_type *out, char *err, size_t errlen);

#endif
