/* Unit tests of web: finding go on a PATH, --web-listen, the command text, the message
 * without go, and the child's end: by itself, or stopped by SIGTERM to this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kprofefe/web.h"
#include "kprofefe/xalloc.h"

static char dir[] = "/tmp/test_web.XXXXXX";

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);

	(void)state;
	free(cmd);
	return rc == 0 ? 0 : -1;
}

/* A file in dir with text and mode. Returns its path (caller frees). */
static char *write_file(const char *sub, const char *name, const char *text, mode_t mode)
{
	char *d = xasprintf("%s/%s", dir, sub);
	char *path = xasprintf("%s/%s", d, name);
	FILE *f;

	mkdir(d, 0755);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	free(d);
	return path;
}

static void test_find_program(void **state)
{
	(void)state;
	char *go = write_file("bin2", "go", "#!/bin/sh\n", 0755);
	free(write_file("bin1", "go", "not executable\n", 0644));
	char *d1 = xasprintf("%s/bin1", dir), *d2 = xasprintf("%s/bin2", dir);
	char *path = xasprintf("/nonexistent:%s:%s", d1, d2);

	char *found = web_find_program("go", path);
	assert_non_null(found);
	assert_string_equal(found, go); /* bin1's is not executable */
	free(found);
	assert_null(web_find_program("go", "/nonexistent"));
	assert_null(web_find_program("go", d1));
	assert_null(web_find_program("go", ""));
	free(path);
	free(d1);
	free(d2);
	free(go);
}

static void test_parse_listen(void **state)
{
	char err[256], *host = NULL;
	int port = -1;

	(void)state;
	assert_int_equal(web_parse_listen("localhost:8080", &host, &port, err, sizeof(err)), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 8080);
	free(host);
	assert_int_equal(web_parse_listen(":0", &host, &port, err, sizeof(err)), 0);
	assert_string_equal(host, "localhost"); /* as pprof reads an empty host */
	assert_int_equal(port, 0);
	free(host);
	assert_int_equal(web_parse_listen("[::1]:9000", &host, &port, err, sizeof(err)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 9000);
	free(host);
	assert_int_equal(web_parse_listen("localhost", &host, &port, err, sizeof(err)), -1);
	assert_string_equal(err, "--web-listen \"localhost\": not HOST:PORT (localhost:8080, :8080)");
	assert_int_equal(web_parse_listen("h:70000", &host, &port, err, sizeof(err)), -1);
	assert_string_equal(err, "--web-listen \"h:70000\": the port is not 0..65535");
	assert_int_equal(web_parse_listen("h:", &host, &port, err, sizeof(err)), -1);
	assert_int_equal(web_parse_listen("h:8x", &host, &port, err, sizeof(err)), -1);
}

static void test_command_text(void **state)
{
	const char *files[] = {"/tmp/profile-cpu-a-1.pb.gz", "/tmp/it's here.pb.gz"};
	char *cmd;

	(void)state;
	cmd = web_command_text("localhost:8080", 0, files, 1);
	assert_string_equal(cmd, "go tool pprof -http=localhost:8080 /tmp/profile-cpu-a-1.pb.gz");
	free(cmd);
	cmd = web_command_text("[::1]:1", 1, files, 2);
	assert_string_equal(cmd, "go tool pprof '-http=[::1]:1' -no_browser "
				 "/tmp/profile-cpu-a-1.pb.gz '/tmp/it'\\''s here.pb.gz'");
	free(cmd);
	assert_string_equal(web_result_name(WEB_NO_GO), "no_go");
	assert_string_equal(web_result_name(WEB_STOPPED), "stopped");
	assert_string_equal(web_result_name(WEB_RESULT_COUNT), "unknown");
}

/* Runs web_serve with out and err captured; returns the result, *err_text the err text. */
static enum web_result serve(const char *path, const char *listen, char **err_text)
{
	const char *files[] = {"/tmp/profile-cpu-a-1.pb.gz"};
	char *out_text = NULL;
	size_t out_len = 0, err_len = 0;
	FILE *out = open_memstream(&out_text, &out_len);
	FILE *err = open_memstream(err_text, &err_len);
	web_options o = {.listen = listen, .no_browser = 1, .path = path, .out = out, .err = err};

	assert_non_null(out);
	assert_non_null(err);
	enum web_result r = web_serve(files, 1, &o);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(fclose(err), 0);
	free(out_text);
	return r;
}

static void test_no_go_says_what_to_do(void **state)
{
	char *err = NULL;

	(void)state;
	assert_int_equal(serve("/nonexistent", NULL, &err), WEB_NO_GO);
	assert_string_equal(err, "error: `go` is not on PATH, and go tool pprof's web UI is part of "
				 "Go.\nInstall Go (then run this again), or run where Go is:\n"
				 "  go tool pprof -http=localhost: -no_browser "
				 "/tmp/profile-cpu-a-1.pb.gz\n"
				 "The profile is kept in /tmp/profile-cpu-a-1.pb.gz.\n");
	free(err);
	assert_int_equal(serve("/nonexistent", "nohost", &err), WEB_BAD_LISTEN);
	free(err);
}

/* A stand-in for go that fails at once (as pprof does on a file it cannot read). */
static void test_child_exits_by_itself(void **state)
{
	char *err = NULL;
	char *go = write_file("exit3", "go", "#!/bin/sh\nexit 3\n", 0755);
	char *path = xasprintf("%s/exit3", dir);

	(void)state;
	assert_int_equal(serve(path, "127.0.0.1:0", &err), WEB_EXITED);
	assert_non_null(strstr(err, "error: go tool pprof exited with status 3\n"));
	free(err);
	free(path);
	free(go);
}

/* A stand-in for a go that never answers (the real one is in plugin_web_test): SIGTERM to
 * this process stops it, and nothing of it is left. */
static void test_sigterm_stops_the_child(void **state)
{
	char *pidfile = xasprintf("%s/child.pid", dir);
	char *script = xasprintf("#!/bin/sh\necho $$ > '%s'\nexec sleep 60\n", pidfile);
	char *go = write_file("sleep", "go", script, 0755);
	char *path = xasprintf("%s/sleep", dir);
	char *err = NULL;
	pid_t self = getpid(), killer = fork();

	(void)state;
	assert_true(killer >= 0);
	if (killer == 0) {
		/* once the stand-in has started */
		for (int i = 0; i < 200 && access(pidfile, F_OK) != 0; i++)
			usleep(50000);
		kill(self, SIGTERM);
		_exit(0);
	}
	assert_int_equal(serve(path, "127.0.0.1:0", &err), WEB_STOPPED);
	assert_int_equal(waitpid(killer, NULL, 0), killer);
	FILE *f = fopen(pidfile, "r");
	long pid = 0;
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	assert_int_equal(kill((pid_t)pid, 0), -1); /* reaped, not a zombie */
	assert_int_equal(errno, ESRCH);
	free(err);
	free(path);
	free(go);
	free(script);
	free(pidfile);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_program),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_command_text),
		cmocka_unit_test(test_no_go_says_what_to_do),
		cmocka_unit_test(test_child_exits_by_itself),
		cmocka_unit_test(test_sigterm_stops_the_child),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
