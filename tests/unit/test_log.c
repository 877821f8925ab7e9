/* Unit tests of log: logfmt quoting, JSON validity and key order, level filtering, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/log.h"

/* Each test writes into a memory stream; the text is read back after log_event
 * (which flushes every line). */
struct sink {
	FILE *f;
	char *text;
	size_t len;
};

static int sink_open(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));
	s->f = open_memstream(&s->text, &s->len);
	if (!s->f)
		return -1;
	*state = s;
	return 0;
}

static int sink_close(void **state)
{
	struct sink *s = *state;
	log_setup(NULL, LOG_LOGFMT, LOG_INFO);
	fclose(s->f);
	free(s->text);
	free(s);
	return 0;
}

/* The text after "time=<...> " so tests need not know the clock. */
static const char *after_time(const char *line)
{
	assert_memory_equal(line, "time=", 5);
	const char *sp = strchr(line, ' ');
	assert_non_null(sp);
	return sp + 1;
}

static void test_logfmt_plain(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_LOGFMT, LOG_INFO);
	log_event(LOG_INFO, "started", "pods", "3", "node", "kind-worker", NULL);
	assert_string_equal(after_time(s->text),
			    "level=info msg=started pods=3 node=kind-worker\n");
}

static void test_logfmt_time_format(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_LOGFMT, LOG_INFO);
	log_event(LOG_INFO, "x", NULL);
	/* time=2024-01-02T03:04:05.678Z */
	const char *t = s->text + 5;
	assert_int_equal(strcspn(t, " "), strlen("2024-01-02T03:04:05.678Z"));
	assert_int_equal(t[4], '-');
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[19], '.');
	assert_int_equal(t[23], 'Z');
}

static void test_logfmt_quoting(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_LOGFMT, LOG_DEBUG);
	log_event(LOG_WARN, "annotation invalid", "space", "a b", "quote", "say \"hi\"",
		  "eq", "k=v", "nl", "one\ntwo", "empty", "", "null", NULL, "bs", "c:\\x",
		  "tab", "a\tb", "ctl", "\x01", "utf8", "h\xc3\xa9", "bad", "a\xff", NULL);
	assert_string_equal(after_time(s->text),
			    "level=warn msg=\"annotation invalid\" space=\"a b\" "
			    "quote=\"say \\\"hi\\\"\" eq=\"k=v\" nl=\"one\\ntwo\" "
			    "empty=\"\" null=\"\" bs=\"c:\\\\x\" tab=\"a\\tb\" "
			    "ctl=\"\\u0001\" utf8=h\xc3\xa9 bad=\"a\xef\xbf\xbd\"\n");
}

static void test_one_line_per_event(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_LOGFMT, LOG_INFO);
	log_event(LOG_INFO, "first\nsecond", "v", "\r\n", NULL);
	log_event(LOG_ERROR, "third", NULL);
	int lines = 0;
	for (const char *p = s->text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	assert_non_null(strstr(s->text, "msg=\"first\\nsecond\" v=\"\\r\\n\"\n"));
	assert_non_null(strstr(s->text, "level=error msg=third\n"));
}

static void test_level_filtering(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_LOGFMT, LOG_WARN);
	log_event(LOG_DEBUG, "d", NULL);
	log_event(LOG_INFO, "i", NULL);
	assert_int_equal(s->len, 0);
	log_event(LOG_WARN, "w", NULL);
	log_event(LOG_ERROR, "e", NULL);
	assert_non_null(strstr(s->text, "level=warn msg=w\n"));
	assert_non_null(strstr(s->text, "level=error msg=e\n"));
	assert_null(strstr(s->text, "msg=i"));
	assert_false(log_enabled(LOG_DEBUG));
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_WARN));
	assert_true(log_enabled(LOG_ERROR));

	log_setup(s->f, LOG_LOGFMT, LOG_DEBUG);
	assert_true(log_enabled(LOG_DEBUG));
	log_event(LOG_DEBUG, "d", NULL);
	assert_non_null(strstr(s->text, "level=debug msg=d\n"));
}

/* Parses the one JSON line in text and checks its keys and string values, in order. */
static void check_json(const char *text, const char *const *pairs, size_t npairs)
{
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_ptr_equal(strchr(text, '\n') + 1, text + strlen(text)); /* one line */
	char err[256];
	yajl_val root = yajl_tree_parse(text, err, sizeof(err));
	if (!root)
		fail_msg("not JSON (%s): %s", err, text);
	assert_true(YAJL_IS_OBJECT(root));
	assert_int_equal(root->u.object.len, npairs + 1);
	assert_string_equal(root->u.object.keys[0], "time");
	assert_true(YAJL_IS_STRING(root->u.object.values[0]));
	for (size_t i = 0; i < npairs; i++) {
		assert_string_equal(root->u.object.keys[i + 1], pairs[2 * i]);
		yajl_val v = root->u.object.values[i + 1];
		assert_true(YAJL_IS_STRING(v));
		assert_string_equal(YAJL_GET_STRING(v), pairs[2 * i + 1]);
	}
	yajl_tree_free(root);
}

static void test_json_valid_and_ordered(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_JSON, LOG_INFO);
	log_event(LOG_ERROR, "upload \"failed\"", "pod", "ns/name", "error", "a=b c\nd\\e\t\x01",
		  "empty", "", "null", NULL, "utf8", "h\xc3\xa9", NULL);
	const char *const want[] = {"level", "error", "msg", "upload \"failed\"",
				    "pod", "ns/name", "error", "a=b c\nd\\e\t\x01",
				    "empty", "", "null", "", "utf8", "h\xc3\xa9"};
	check_json(s->text, want, sizeof(want) / sizeof(want[0]) / 2);
}

static void test_json_no_pairs(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_JSON, LOG_DEBUG);
	log_event(LOG_DEBUG, "", NULL);
	const char *const want[] = {"level", "debug", "msg", ""};
	check_json(s->text, want, 2);
}

/* Values come from peers (error bodies, annotations): bytes that are not UTF-8
 * must not make the line invalid JSON. */
static void test_json_invalid_utf8(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_JSON, LOG_INFO);
	log_event(LOG_INFO, "m", "bad", "a\xff\xc3(b\xe2\x82", "overlong", "\xc0\xaf",
		  "surrogate", "\xed\xa0\x80", "ok", "\xe2\x82\xac\xf0\x9f\x98\x80", NULL);
	const char *const want[] = {"level", "info", "msg", "m",
				    "bad", "a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd",
				    "overlong", "\xef\xbf\xbd\xef\xbf\xbd",
				    "surrogate", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
				    "ok", "\xe2\x82\xac\xf0\x9f\x98\x80"};
	check_json(s->text, want, sizeof(want) / sizeof(want[0]) / 2);
}

static void test_json_level_filtering(void **state)
{
	struct sink *s = *state;
	log_setup(s->f, LOG_JSON, LOG_ERROR);
	log_event(LOG_WARN, "w", NULL);
	assert_int_equal(s->len, 0);
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("info"), LOG_INFO);
	assert_int_equal(log_level_parse("warn"), LOG_WARN);
	assert_int_equal(log_level_parse("error"), LOG_ERROR);
	assert_int_equal(log_level_parse("INFO"), -1);
	assert_int_equal(log_level_parse("warning"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_format_parse("logfmt"), LOG_LOGFMT);
	assert_int_equal(log_format_parse("json"), LOG_JSON);
	assert_int_equal(log_format_parse("text"), -1);
	assert_int_equal(log_format_parse(""), -1);
}

static void test_tmpfile_output(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	assert_non_null(f);
	log_setup(f, LOG_LOGFMT, LOG_INFO);
	log_event(LOG_INFO, "to a file", NULL);
	log_setup(NULL, LOG_LOGFMT, LOG_INFO);
	rewind(f);
	char line[256];
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(after_time(line), "level=info msg=\"to a file\"\n");
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_logfmt_plain, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_logfmt_time_format, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_logfmt_quoting, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_one_line_per_event, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_level_filtering, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_json_valid_and_ordered, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_json_no_pairs, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_json_invalid_utf8, sink_open, sink_close),
		cmocka_unit_test_setup_teardown(test_json_level_filtering, sink_open, sink_close),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_tmpfile_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
