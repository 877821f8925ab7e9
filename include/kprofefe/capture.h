/* capture: `kubectl profefe capture`: pods chosen by name or by listing, each annotated,
 * Running pod's profiles fetched in parallel (through the API server's pod proxy, or
 * directly from the pod IP), then written as files or pushed to profefe. */
#ifndef KPROFEFE_CAPTURE_H
#define KPROFEFE_CAPTURE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "kprofefe/kube.h"
#include "kprofefe/pod.h"
#include "kprofefe/pprof.h"
#include "kprofefe/profefe.h"

#define CAPTURE_DEFAULT_CPU_SECONDS 30 /* as kube-profefe's capture */
#define CAPTURE_MAX_CPU_SECONDS 3600
#define CAPTURE_DEFAULT_TIMEOUT_MS 30000L
#define CAPTURE_DEFAULT_DIR "/tmp"

typedef struct capture_options {
	/* Which pods. With names: exactly those, in ns; each one that cannot be captured
	 * (missing, not annotated, not Running, bad annotation) is a failure named on err.
	 * Without names: every pod of ns (every namespace with all_namespaces) matching
	 * selector that is annotated profefe.com/enable: "true" and Running; the others are
	 * not chosen, and choosing none at all is a failure. */
	const char *ns;           /* required unless all_namespaces */
	int all_namespaces;       /* not with names */
	const char *const *names; /* borrowed; n_names of them */
	size_t n_names;
	const char *selector;     /* label selector, or NULL; not with names */

	/* What. The command line wins over the pod's annotations, which win over defaults. */
	unsigned types;   /* mask of PPROF_BIT(); 0: profefe.com/profiles, else
	                     PPROF_DEFAULT_TYPES */
	int cpu_seconds;  /* 0: profefe.com/cpu-seconds, else CAPTURE_DEFAULT_CPU_SECONDS */
	int default_port; /* 0: POD_DEFAULT_PORT, when profefe.com/port is not set */
	int delta;        /* allocs, block and mutex as deltas over cpu_seconds (pushed
	                     with delta=true); 0: the pod's profefe.com/delta ("godeltaprof"
	                     taken as "true": its state is the collector's), else
	                     cumulative (delta=false) */

	/* A named pod without profefe.com/enable is captured too; these override its
	 * annotations (every pod's, when set). */
	int port;             /* 0: profefe.com/port, else default_port */
	const char *path;     /* NULL: profefe.com/path, else POD_DEFAULT_PATH; checked */
	const char *scheme;   /* NULL: profefe.com/scheme, else http; "http" or "https" */
	/* https pods: through the proxy the API server dials them (and does not verify
	 * their certificates); with direct, verified against pod_tls's CA (or not, with its
	 * insecure), with its credential sets. NULL: the system store, no credentials. */
	const pod_tls_options *pod_tls;

	/* How. */
	int direct;       /* from the pod IPs (inside the cluster network; no credentials go
	                     to pods); default: the API server's pod proxy, with the
	                     kubeconfig's credentials going to the API server only */
	long timeout_ms;  /* each request; a CPU profile or trace may take its seconds plus
	                     this; 0: CAPTURE_DEFAULT_TIMEOUT_MS */

	/* Where: files in output_dir, or profefe when set (borrowed). */
	const char *output_dir;   /* NULL or "": CAPTURE_DEFAULT_DIR */
	profefe_client *profefe;

	/* Reporting. out gets one line per profile captured (its file path, or its profefe
	 * URL), at the end, grouped by pod; err one line per failure ("error: pod NS/NAME:
	 * why") as it happens, then a summary line and the `go tool pprof` command for the
	 * first CPU profile. progress, when set, is a terminal for a status line (counts,
	 * CPU countdown, a wait for a busy CPU profiler); with progress_items each finished
	 * profile is also listed there. All borrowed; out/err NULL: stdout/stderr. */
	FILE *out;
	FILE *err;
	FILE *progress;
	int progress_items;

	time_t now; /* the time in file names; 0: time(NULL) when the capture starts */
} capture_options;

typedef struct capture_summary {
	int pods;     /* pods whose profiles were fetched */
	int profiles; /* profiles written or pushed */
	int busy_waits; /* CPU profiles (or traces) that had to wait for a busy profiler */
	int failures; /* pods that could not be captured + profiles that failed */
} capture_summary;

/* Called once from the loop when everything has finished. s lives during the call. */
typedef void (*capture_done_fn)(const capture_summary *s, void *arg);

typedef struct capture_run capture_run;

/*
 * A CPU profile (or trace) the pod is already taking for someone else (the collector,
 * another capture) is retried every CAPTURE_BUSY_RETRY_S seconds until the profiler is
 * free, for at most timeout_ms in all.
 */
#define CAPTURE_BUSY_RETRY_S 1.0

/*
 * Starts a capture on kc's loop. A missing output_dir is created (as mkdir -p would),
 * which err is told. kc and opt are borrowed until done (opt's strings too).
 * done is called exactly once, from the loop, unless capture_cancel comes first; the
 * run frees itself after done returns. Returns NULL with a message in err when the
 * options contradict each other (names with a selector or all_namespaces, no
 * namespace, cpu_seconds out of range).
 */
capture_run *capture_start(kube_client *kc, const capture_options *opt, capture_done_fn done,
			   void *arg, char *err, size_t errlen);
/* Stops everything still running and frees run; done is not called. NULL is a no-op. */
void capture_cancel(capture_run *run);

/* ---- exposed for tests ------------------------------------------------------------------ */

enum capture_choice {
	CAPTURE_TAKE, /* *out is set */
	CAPTURE_SKIP, /* a listed pod not chosen (not annotated, not Running): nothing said */
	CAPTURE_FAIL  /* why says why, in words, without the pod's name */
};

/*
 * Decides about pod (borrowed): named says the user named it. TAKE gives a target (free
 * with pod_target_free) with opt's types and cpu_seconds applied. A listed pod that is
 * annotated but has a bad annotation fails; a named pod fails for every reason.
 */
enum capture_choice capture_choose(const kube_pod *pod, const capture_options *opt, int named,
				   pod_target **out, char *why, size_t whylen);

/* "<dir>/profile-<type>-<pod>-<when>.pb.gz" (a trace: ".out" instead of ".pb.gz");
 * attempt > 0 adds "-<attempt>" before the extension. Caller frees. */
char *capture_file_name(const char *dir, enum pprof_type t, const char *pod, time_t when,
			int attempt);

/* Writes data to a new file named as above, never replacing one: on a name taken it
 * tries attempt 1, 2... Returns the path (caller frees), or NULL with a message. */
/* Writes all of data to fd, going on after EINTR: 0, or -1 with errno set. For every
 * profile file the plugin writes (capture and merge). */
int capture_write_all(int fd, const unsigned char *data, size_t len);

char *capture_write_file(const char *dir, enum pprof_type t, const char *pod, time_t when,
			 const unsigned char *data, size_t len, char *err, size_t errlen);

#endif
