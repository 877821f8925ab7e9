/* Unit tests of flags: defaults, environment, argv precedence, kinds, errors, usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kprofefe/flags.h"

static const char *name;
static long count;
static int verbose;
static double interval;
static double rate;
static size_t limit;

/* The copies of the last argv parsed: string flags and positionals point into it. */
static char *held[16];

static void release_held(void)
{
	for (size_t i = 0; i < 16; i++) {
		free(held[i]);
		held[i] = NULL;
	}
}

static const flag_spec specs[] = {
	{"name", 'n', "TEST_FLAGS_NAME", FLAG_STRING, &name, "default-name", "a name"},
	{"count", 0, "TEST_FLAGS_COUNT", FLAG_INT, &count, "3", "a count"},
	{"verbose", 'v', "TEST_FLAGS_VERBOSE", FLAG_BOOL, &verbose, "false", "talk more"},
	{"interval", 0, "TEST_FLAGS_INTERVAL", FLAG_DURATION, &interval, "60s", "a period"},
	{"rate", 0, NULL, FLAG_NUMBER, &rate, "2.5", "a rate"},
	{"limit", 0, "TEST_FLAGS_LIMIT", FLAG_BYTES, &limit, "16Mi", "a size"},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static int clear_env(void **state)
{
	(void)state;
	unsetenv("TEST_FLAGS_NAME");
	unsetenv("TEST_FLAGS_COUNT");
	unsetenv("TEST_FLAGS_VERBOSE");
	unsetenv("TEST_FLAGS_INTERVAL");
	unsetenv("TEST_FLAGS_LIMIT");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	release_held();
	return 0;
}

/* Parses a NULL-terminated argument list (argv[0] included), from copies, as
 * flags_parse wants the mutable strings main() gets. */
static int parse(const char *const *args, char **positional, int *npositional, char *err,
		 size_t errlen)
{
	release_held();
	int argc = 0;
	for (; args[argc]; argc++)
		held[argc] = strdup(args[argc]);
	return flags_parse(specs, NSPECS, argc, held, positional, npositional, err, errlen);
}

static void test_defaults_apply(void **state)
{
	(void)state;
	const char *argv[] = {"prog", NULL};
	char *pos[2];
	int npos = -1;
	char err[256] = "";
	assert_int_equal(parse(argv, pos, &npos, err, sizeof(err)), 0);
	assert_string_equal(name, "default-name");
	assert_int_equal(count, 3);
	assert_int_equal(verbose, 0);
	assert_true(interval == 60.0);
	assert_true(rate == 2.5);
	assert_int_equal(limit, 16u << 20);
	assert_int_equal(npos, 0);
}

static void test_env_overrides_default_and_argv_overrides_env(void **state)
{
	(void)state;
	setenv("TEST_FLAGS_NAME", "from-env", 1);
	setenv("TEST_FLAGS_COUNT", "7", 1);
	setenv("TEST_FLAGS_VERBOSE", "true", 1);
	const char *argv[] = {"prog", "--name", "from-argv", NULL};
	char *pos[4];
	int npos;
	char err[256] = "";
	assert_int_equal(parse(argv, pos, &npos, err, sizeof(err)), 0);
	assert_string_equal(name, "from-argv");
	assert_int_equal(count, 7);
	assert_int_equal(verbose, 1);
}

static void test_forms_of_flags_and_positionals(void **state)
{
	(void)state;
	const char *argv[] = {"prog", "pod-a", "--count=9", "-n", "short", "-v", "pod-b",
			"--interval", "250ms", "--", "--not-a-flag", NULL};
	char *pos[12];
	int npos;
	char err[256] = "";
	assert_int_equal(parse(argv, pos, &npos, err, sizeof(err)), 0);
	assert_int_equal(count, 9);
	assert_string_equal(name, "short");
	assert_int_equal(verbose, 1);
	assert_true(interval > 0.2499 && interval < 0.2501);
	assert_int_equal(npos, 3);
	assert_string_equal(pos[0], "pod-a");
	assert_string_equal(pos[1], "pod-b");
	assert_string_equal(pos[2], "--not-a-flag");
}

static void test_bool_with_value(void **state)
{
	(void)state;
	const char *argv[] = {"prog", "--verbose=false", NULL};
	char *pos[2];
	int npos;
	char err[256] = "";
	setenv("TEST_FLAGS_VERBOSE", "1", 1);
	assert_int_equal(parse(argv, pos, &npos, err, sizeof(err)), 0);
	assert_int_equal(verbose, 0);
}

static void test_help(void **state)
{
	(void)state;
	const char *argv[] = {"prog", "--count", "1", "--help", NULL};
	char *pos[5];
	int npos;
	char err[256] = "";
	assert_int_equal(parse(argv, pos, &npos, err, sizeof(err)), 1);
}

/* Each bad input gets -1 and a message naming the flag or variable and the value. */
static void expect_error(const char *const *argv, const char *want1, const char *want2)
{
	char *pos[8];
	int npos;
	char err[256] = "";
	assert_int_equal(parse(argv, pos, &npos, err, sizeof(err)), -1);
	if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
		fail_msg("error \"%s\" does not name \"%s\"/\"%s\"", err, want1, want2 ? want2 : "");
}

static void test_errors_name_what_was_wrong(void **state)
{
	(void)state;
	const char *unknown[] = {"prog", "--nope", NULL};
	expect_error(unknown, "unknown flag --nope", NULL);
	const char *missing[] = {"prog", "--count", NULL};
	expect_error(missing, "--count needs a value", NULL);
	const char *bad_int[] = {"prog", "--count", "12x", NULL};
	expect_error(bad_int, "--count", "\"12x\" is not an integer");
	const char *bad_dur[] = {"prog", "--interval=5 parsecs", NULL};
	expect_error(bad_dur, "--interval", "duration");
	const char *bad_bytes[] = {"prog", "--limit", "lots", NULL};
	expect_error(bad_bytes, "--limit", "\"lots\"");
	const char *bad_num[] = {"prog", "--rate", "fast", NULL};
	expect_error(bad_num, "--rate", "not a number");
	const char *bad_bool[] = {"prog", "--verbose=maybe", NULL};
	expect_error(bad_bool, "--verbose", "true or false");
	setenv("TEST_FLAGS_COUNT", "many", 1);
	const char *plain[] = {"prog", NULL};
	expect_error(plain, "environment variable TEST_FLAGS_COUNT", "\"many\"");
}

static void test_duration_and_bytes_parsers(void **state)
{
	(void)state;
	double d;
	assert_int_equal(flags_parse_duration("90", &d), 0);
	assert_true(d == 90);
	assert_int_equal(flags_parse_duration("1.5m", &d), 0);
	assert_true(d == 90);
	assert_int_equal(flags_parse_duration("24h", &d), 0);
	assert_true(d == 86400);
	assert_int_equal(flags_parse_duration("-1s", &d), -1);
	assert_int_equal(flags_parse_duration("", &d), -1);
	assert_int_equal(flags_parse_duration("1d", &d), -1);
	/* beyond what converts to nanoseconds in an int64_t (casting would be undefined) */
	assert_int_equal(flags_parse_duration("1e300h", &d), -1);
	assert_int_equal(flags_parse_duration("277778h", &d), -1);
	assert_int_equal(flags_parse_duration("277777h", &d), 0);
	size_t b;
	assert_int_equal(flags_parse_bytes("4096", &b), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(flags_parse_bytes("512Mi", &b), 0);
	assert_int_equal(b, 512u << 20);
	assert_int_equal(flags_parse_bytes("1GB", &b), 0);
	assert_int_equal(b, 1000000000u);
	assert_int_equal(flags_parse_bytes("2KiB", &b), 0);
	assert_int_equal(b, 2048);
	assert_int_equal(flags_parse_bytes("1e30", &b), -1);
	assert_int_equal(flags_parse_bytes("10 MB", &b), -1);
}

static void test_usage_lists_flags_defaults_and_env(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	flags_usage(out, "Usage: prog", specs, NSPECS);
	fclose(out);
	assert_non_null(strstr(text, "Usage: prog"));
	assert_non_null(strstr(text, "-n, --name"));
	assert_non_null(strstr(text, "(default default-name) [TEST_FLAGS_NAME]"));
	assert_non_null(strstr(text, "--interval"));
	assert_non_null(strstr(text, "(default 60s) [TEST_FLAGS_INTERVAL]"));
	assert_non_null(strstr(text, "--rate"));
	assert_null(strstr(text, "[(null)]"));
	assert_non_null(strstr(text, "Flags (environment variable in brackets):"));
	free(text);

	/* Flags without variables (the plugin's): the header does not promise any. */
	static const flag_spec plain[] = {
		{"output", 'o', NULL, FLAG_STRING, NULL, NULL, "the file"},
	};
	out = open_memstream(&text, &len);
	flags_usage(out, "Usage: plain", plain, 1);
	fclose(out);
	assert_non_null(strstr(text, "\n\nFlags:\n  -o, --output"));
	assert_null(strstr(text, "environment"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_apply, clear_env),
		cmocka_unit_test_setup(test_env_overrides_default_and_argv_overrides_env, clear_env),
		cmocka_unit_test_setup(test_forms_of_flags_and_positionals, clear_env),
		cmocka_unit_test_setup(test_bool_with_value, clear_env),
		cmocka_unit_test_setup(test_help, clear_env),
		cmocka_unit_test_setup(test_errors_name_what_was_wrong, clear_env),
		cmocka_unit_test_setup(test_duration_and_bytes_parsers, clear_env),
		cmocka_unit_test_setup(test_usage_lists_flags_defaults_and_env, clear_env),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
