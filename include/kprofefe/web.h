/* web: go tool pprof's web UI on local profile files, served by a child process that
 * the plugin waits for and stops when it is told to stop (Ctrl-C, SIGTERM, SIGHUP). */
#ifndef KPROFEFE_WEB_H
#define KPROFEFE_WEB_H

#include <stddef.h>
#include <stdio.h>

/* Port 0: a free port, chosen here so that the URL can be printed. */
#define WEB_DEFAULT_LISTEN "localhost:0"
/* How long the child has between SIGTERM and SIGKILL. */
#define WEB_STOP_GRACE_S 5

typedef struct web_options {
	const char *listen; /* HOST:PORT ([v6]:PORT) for -http; NULL: WEB_DEFAULT_LISTEN; an
	                       empty HOST is localhost, as for pprof */
	int no_browser;     /* serve only (pprof's -no_browser), e.g. from a remote shell */
	const char *path;   /* the PATH to find `go` in; NULL: $PATH */
	FILE *out;          /* the URL, once it answers; NULL: stdout */
	FILE *err;          /* the command run, failures and what to do; NULL: stderr */
} web_options;

enum web_result {
	WEB_STOPPED,    /* served until this process was told to stop; the child is gone */
	WEB_EXITED,     /* pprof ended by itself (a file it cannot read, the port taken) */
	WEB_NO_GO,      /* no `go` on PATH: err says what to do instead */
	WEB_BAD_LISTEN, /* listen is not HOST:PORT, or no free port there */
	WEB_SPAWN_FAILED,
	WEB_RESULT_COUNT
};

/* "stopped", "exited", "no_go", "bad_listen", "spawn_failed". */
const char *web_result_name(enum web_result r);

/* The absolute path of an executable file named name in path (':'-separated; an empty
 * entry is the current directory). Caller frees; NULL when there is none. */
char *web_find_program(const char *name, const char *path);

/* Splits listen into host (copied, "localhost" when empty; without brackets) and port.
 * Returns 0, or -1 with a message in err. */
int web_parse_listen(const char *listen, char **host, int *port, char *err, size_t errlen);

/* Non-zero when pprof can open a browser here: macOS, or $BROWSER, $DISPLAY or
 * $WAYLAND_DISPLAY set. Without, the URL is printed only. */
int web_browser_possible(void);

/* The shell command a user runs elsewhere to serve files: go tool pprof -http=LISTEN
 * [-no_browser] FILE... (files quoted when needed). Caller frees. */
char *web_command_text(const char *listen, int no_browser, const char *const *files,
		       size_t n);

/*
 * Serves files (borrowed; read by pprof) with `go tool pprof -http=HOST:PORT`, the child
 * in a process group of its own with stdin from /dev/null. Prints the command on err,
 * and the URL on out once the port answers. Blocks until the child ends, or until
 * SIGINT, SIGTERM or SIGHUP reach this process: then the child's group gets SIGTERM,
 * and SIGKILL after WEB_STOP_GRACE_S (or a second signal). Those signals and SIGCHLD are
 * blocked during the call and the mask restored after it. Without `go` on PATH, err
 * says to install Go, or to run the command printed where Go is, or to use the files.
 */
enum web_result web_serve(const char *const *files, size_t n, const web_options *opt);

#endif
