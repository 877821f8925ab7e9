/* web: `go tool pprof -http` as a child process: found, spawned, waited for, stopped. */
#include "kprofefe/web.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kprofefe/buf.h"
#include "kprofefe/xalloc.h"

extern char **environ;

#define POLL_STARTING_MS 100 /* how often the port is tried until it answers */
#define POLL_SERVING_S 1     /* a missed SIGCHLD is noticed this late at most */

static const char *const result_names[WEB_RESULT_COUNT] = {
	[WEB_STOPPED] = "stopped",       [WEB_EXITED] = "exited",
	[WEB_NO_GO] = "no_go",           [WEB_BAD_LISTEN] = "bad_listen",
	[WEB_SPAWN_FAILED] = "spawn_failed",
};

const char *web_result_name(enum web_result r)
{
	return (unsigned)r < WEB_RESULT_COUNT ? result_names[r] : "unknown";
}

/* ---- finding go, the address, the browser ------------------------------------------------- */

char *web_find_program(const char *name, const char *path)
{
	const char *p = path ? path : "";

	for (;;) {
		size_t len = strcspn(p, ":");
		char *file = len ? xasprintf("%.*s/%s", (int)len, p, name) : xasprintf("./%s", name);
		struct stat st;
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0) {
			if (file[0] == '/')
				return file;
			char *cwd = getcwd(NULL, 0);
			char *abs = cwd ? xasprintf("%s/%s", cwd, file) : NULL;
			free(cwd);
			free(file);
			return abs;
		}
		free(file);
		if (p[len] == '\0')
			return NULL;
		p += len + 1;
	}
}

int web_parse_listen(const char *listen, char **host, int *port, char *err, size_t errlen)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hlen;
	char *end;

	if (!colon) {
		snprintf(err, errlen, "--web-listen \"%s\": not HOST:PORT (localhost:8080, :8080)",
			 listen);
		return -1;
	}
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
		h++, hlen -= 2;
	errno = 0;
	long v = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || v < 0 || v > 65535) {
		snprintf(err, errlen, "--web-listen \"%s\": the port is not 0..65535", listen);
		return -1;
	}
	*host = hlen ? xstrndup(h, hlen) : xstrdup("localhost");
	*port = (int)v;
	return 0;
}

int web_browser_possible(void)
{
#ifdef __APPLE__
	return 1;
#else
	static const char *const vars[] = {"BROWSER", "DISPLAY", "WAYLAND_DISPLAY"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return 1;
	}
	return 0;
#endif
}

/* ---- the command -------------------------------------------------------------------------- */

/* s as one shell word: as is when it has nothing the shell reads, else in '...'. */
static void append_word(buf_t *b, const char *s)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "-_./:=+,@%") == strlen(s)) {
		buf_append_str(b, s);
		return;
	}
	buf_append_str(b, "'");
	for (const char *p = s; *p; p++)
		if (*p == '\'')
			buf_append_str(b, "'\\''");
		else
			buf_append(b, p, 1);
	buf_append_str(b, "'");
}

char *web_command_text(const char *listen, int no_browser, const char *const *files,
		       size_t n)
{
	buf_t b = BUF_INIT;
	char *http = xasprintf("-http=%s", listen);

	buf_append_str(&b, "go tool pprof ");
	append_word(&b, http);
	if (no_browser)
		buf_append_str(&b, " -no_browser");
	for (size_t i = 0; i < n; i++) {
		buf_append_str(&b, " ");
		append_word(&b, files[i]);
	}
	free(http);
	return buf_detach(&b);
}

/* ---- ports -------------------------------------------------------------------------------- */

/* Connects to host:port (port as text) and closes: 1 when something listens there. With
 * bind_instead, binds a new socket there and returns the port it got (for port 0), or -1. */
static int probe(const char *host, const char *port, int bind_instead)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = bind_instead ? AI_PASSIVE : 0};
	struct addrinfo *res = NULL;
	int result = bind_instead ? -1 : 0;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return result;
	for (struct addrinfo *a = res; a && result <= 0; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (!bind_instead) {
			result = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
		} else if (bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
				char serv[NI_MAXSERV];
				if (getnameinfo((struct sockaddr *)&ss, len, NULL, 0, serv,
						sizeof(serv), NI_NUMERICSERV) == 0)
					result = atoi(serv);
			}
		}
		close(fd);
		if (bind_instead)
			break; /* pprof listens on the first address too */
	}
	freeaddrinfo(res);
	return result;
}

/* ---- the child ---------------------------------------------------------------------------- */

enum web_state {
	STATE_STARTING, /* spawned; the port does not answer yet */
	STATE_SERVING,  /* the URL printed */
	STATE_STOPPING, /* SIGTERM sent to the child's group */
	STATE_KILLED,   /* SIGKILL sent */
	STATE_DONE      /* the child reaped */
};

struct child {
	pid_t pid;
	enum web_state state;
	char *host, *url;
	char port[8];
	struct timespec stop_deadline;
	int status;     /* waitpid's */
	int stop_asked; /* this process got SIGINT, SIGTERM or SIGHUP */
	FILE *out, *err;
};

static void set_state(struct child *c, enum web_state s)
{
	switch (s) {
	case STATE_SERVING:
		fprintf(c->out, "%s\n", c->url);
		fflush(c->out);
		fprintf(c->err, "Serving go tool pprof's web UI on %s (Ctrl-C stops it)\n", c->url);
		break;
	case STATE_STOPPING:
		if (kill(-c->pid, SIGTERM) != 0 && errno != ESRCH)
			fprintf(c->err, "error: cannot stop go tool pprof (pid %d): %s\n",
				(int)c->pid, strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &c->stop_deadline);
		c->stop_deadline.tv_sec += WEB_STOP_GRACE_S;
		break;
	case STATE_KILLED:
		if (kill(-c->pid, SIGKILL) != 0 && errno != ESRCH)
			fprintf(c->err, "error: cannot kill go tool pprof (pid %d): %s\n",
				(int)c->pid, strerror(errno));
		break;
	case STATE_STARTING:
	case STATE_DONE:
		break;
	}
	c->state = s;
}

static int spawn(struct child *c, const char *go, char *const argv[], const sigset_t *reset)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int rc;

	sigemptyset(&none);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	/* A group of its own, so that a stop reaches pprof behind `go tool` too; all signals
	 * unblocked and at their defaults, whatever this process does with them. */
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							  POSIX_SPAWN_SETSIGDEF)) == 0 &&
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&attr, reset)) == 0)
		rc = posix_spawn(&c->pid, go, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Reaps the child if it ended: 1 when it did. */
static int reap(struct child *c)
{
	pid_t r;

	do
		r = waitpid(c->pid, &c->status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == c->pid || (r < 0 && errno == ECHILD)) {
		/* the rest of its group (pprof behind `go tool`) goes with it */
		if (kill(-c->pid, SIGKILL) != 0 && errno != ESRCH)
			fprintf(c->err, "error: cannot kill go tool pprof's group %d: %s\n",
				(int)c->pid, strerror(errno));
		return 1;
	}
	return 0;
}

static struct timespec wait_time(const struct child *c)
{
	struct timespec now, t = {.tv_sec = POLL_SERVING_S};

	if (c->state == STATE_STARTING) {
		t.tv_sec = 0;
		t.tv_nsec = POLL_STARTING_MS * 1000000L;
	} else if (c->state == STATE_STOPPING) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (c->stop_deadline.tv_sec - now.tv_sec) * 1000L +
			  (c->stop_deadline.tv_nsec - now.tv_nsec) / 1000000L;
		ms = ms < 1 ? 1 : ms > 1000 ? 1000 : ms;
		t.tv_sec = ms / 1000;
		t.tv_nsec = (ms % 1000) * 1000000L;
	}
	return t;
}

static int past_deadline(const struct child *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > c->stop_deadline.tv_sec ||
	       (now.tv_sec == c->stop_deadline.tv_sec && now.tv_nsec >= c->stop_deadline.tv_nsec);
}

/* Waits for signals, the port and the child until the child is reaped. */
static void supervise(struct child *c, const sigset_t *set)
{
	while (c->state != STATE_DONE) {
		struct timespec t = wait_time(c);
		int sig = sigtimedwait(set, NULL, &t);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			c->stop_asked = 1;
			set_state(c, c->state == STATE_STOPPING ? STATE_KILLED : STATE_STOPPING);
		}
		if (reap(c)) {
			set_state(c, STATE_DONE);
			return;
		}
		if (c->state == STATE_STARTING && probe(c->host, c->port, 0) == 1)
			set_state(c, STATE_SERVING);
		else if (c->state == STATE_STOPPING && past_deadline(c))
			set_state(c, STATE_KILLED);
	}
}

/* ---- serve -------------------------------------------------------------------------------- */

static void tell_no_go(FILE *err, const web_options *opt, const char *listen,
		       const char *const *files, size_t n)
{
	/* pprof takes an empty port for a free one (and prints it); port 0 it prints as 0 */
	size_t len = strlen(listen);
	char *addr = len >= 2 && strcmp(listen + len - 2, ":0") == 0 ? xstrndup(listen, len - 1)
								      : xstrdup(listen);
	char *cmd = web_command_text(addr, opt->no_browser, files, n);

	free(addr);
	fprintf(err, "error: `go` is not on PATH, and go tool pprof's web UI is part of Go.\n"
		"Install Go (then run this again), or run where Go is:\n  %s\n", cmd);
	for (size_t i = 0; i < n; i++)
		fprintf(err, "The profile is kept in %s.\n", files[i]);
	free(cmd);
}

static enum web_result run_child(struct child *c, const char *go, const char *listen,
				 int no_browser, const char *const *files, size_t n)
{
	sigset_t set, old;
	char **argv = xcalloc(n + 6, sizeof(char *));
	size_t a = 0;
	enum web_result result = WEB_EXITED;

	argv[a++] = xstrdup("go");
	argv[a++] = xstrdup("tool");
	argv[a++] = xstrdup("pprof");
	argv[a++] = xasprintf("-http=%s", listen);
	if (no_browser)
		argv[a++] = xstrdup("-no_browser");
	for (size_t i = 0; i < n; i++)
		argv[a++] = xstrdup(files[i]);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGPIPE);
	/* Blocked before the spawn, so that no stop is lost between it and the wait. */
	if (sigprocmask(SIG_BLOCK, &set, &old) != 0) {
		fprintf(c->err, "error: sigprocmask: %s\n", strerror(errno));
		result = WEB_SPAWN_FAILED;
	} else {
		int rc = spawn(c, go, argv, &set);
		if (rc != 0) {
			fprintf(c->err, "error: cannot run %s: %s\n", go, strerror(rc));
			result = WEB_SPAWN_FAILED;
		} else {
			sigdelset(&set, SIGPIPE);
			supervise(c, &set);
			result = c->stop_asked ? WEB_STOPPED : WEB_EXITED;
		}
		if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
			fprintf(c->err, "error: sigprocmask: %s\n", strerror(errno));
	}
	for (size_t i = 0; i < a; i++)
		free(argv[i]);
	free(argv);
	return result;
}

static void report_exit(const struct child *c)
{
	if (WIFEXITED(c->status))
		fprintf(c->err, "error: go tool pprof exited with status %d\n",
			WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		fprintf(c->err, "error: go tool pprof was killed by signal %d\n",
			WTERMSIG(c->status));
}

enum web_result web_serve(const char *const *files, size_t n, const web_options *opt)
{
	struct child c = {.out = opt->out ? opt->out : stdout, .err = opt->err ? opt->err : stderr};
	const char *listen = opt->listen ? opt->listen : WEB_DEFAULT_LISTEN;
	char err[256], *go, *addr;
	int port, no_browser = opt->no_browser || !web_browser_possible();
	enum web_result result;

	if (web_parse_listen(listen, &c.host, &port, err, sizeof(err)) != 0) {
		fprintf(c.err, "error: %s\n", err);
		return WEB_BAD_LISTEN;
	}
	if (!(go = web_find_program("go", opt->path ? opt->path : getenv("PATH")))) {
		tell_no_go(c.err, opt, listen, files, n);
		free(c.host);
		return WEB_NO_GO;
	}
	if (port == 0 && (port = probe(c.host, "0", 1)) <= 0) {
		fprintf(c.err, "error: --web-listen %s: no free port on %s\n", listen, c.host);
		free(c.host);
		free(go);
		return WEB_BAD_LISTEN;
	}
	snprintf(c.port, sizeof(c.port), "%d", port);
	addr = strchr(c.host, ':') ? xasprintf("[%s]:%d", c.host, port)
				   : xasprintf("%s:%d", c.host, port);
	c.url = xasprintf("http://%s/", addr);
	char *cmd = web_command_text(addr, no_browser, files, n);
	fprintf(c.err, "%s%s\n", cmd, no_browser && !opt->no_browser
				      ? "   (no display here: open the URL in a browser)" : "");
	free(cmd);
	result = run_child(&c, go, addr, no_browser, files, n);
	if (result == WEB_EXITED)
		report_exit(&c);
	free(addr);
	free(c.url);
	free(c.host);
	free(go);
	return result;
}
