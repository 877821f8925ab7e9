/* Unit tests of buf: growth, NUL termination, consume, detach and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kprofefe/buf.h"

static void test_starts_empty(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	buf_append(&b, "", 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal((char *)b.data, "");
	buf_free(&b);
	assert_null(b.data);
}

static void test_append_grows_and_terminates(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	char expect[10001];
	for (size_t i = 0; i < 10000; i++) {
		char c = (char)('a' + (char)(i % 26));
		buf_append(&b, &c, 1);
		expect[i] = c;
		assert_int_equal(b.len, i + 1);
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], '\0');
	}
	expect[10000] = '\0';
	assert_string_equal((char *)b.data, expect);
	buf_free(&b);
}

static void test_append_binary_keeps_nul_bytes(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	const unsigned char bytes[] = {0, 1, 0, 255, 0};
	buf_append(&b, bytes, sizeof(bytes));
	assert_int_equal(b.len, sizeof(bytes));
	assert_memory_equal(b.data, bytes, sizeof(bytes));
	assert_int_equal(b.data[b.len], 0);
	buf_free(&b);
}

static void test_append_str_and_printf(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	buf_append_str(&b, "pods=");
	buf_printf(&b, "%d/%s", 42, "ns");
	assert_string_equal((char *)b.data, "pods=42/ns");
	assert_int_equal(b.len, strlen("pods=42/ns"));
	buf_printf(&b, "%s", "");
	assert_int_equal(b.len, strlen("pods=42/ns"));
	buf_free(&b);
}

static void test_printf_grows_past_capacity(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	buf_append_str(&b, "x");
	char big[5000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 5; i++)
		buf_printf(&b, "[%s]", big);
	assert_int_equal(b.len, 1 + 5 * (sizeof(big) - 1 + 2));
	assert_int_equal(b.data[0], 'x');
	assert_int_equal(b.data[1], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(strlen((char *)b.data), b.len);
	buf_free(&b);
}

static void test_consume(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	buf_append_str(&b, "line one\nline two\n");
	buf_consume(&b, strlen("line one\n"));
	assert_string_equal((char *)b.data, "line two\n");
	assert_int_equal(b.len, strlen("line two\n"));
	buf_consume(&b, 0);
	assert_string_equal((char *)b.data, "line two\n");
	buf_consume(&b, b.len);
	assert_int_equal(b.len, 0);
	assert_string_equal((char *)b.data, "");
	/* Still usable after being emptied. */
	buf_append_str(&b, "more");
	assert_string_equal((char *)b.data, "more");
	buf_free(&b);
}

static void test_consume_on_empty_buffer(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	buf_consume(&b, 0);
	assert_int_equal(b.len, 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_detach(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	buf_printf(&b, "%s-%d", "abc", 7);
	char *s = buf_detach(&b);
	assert_string_equal(s, "abc-7");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
	/* Detaching a never-used buffer still gives an owned empty string. */
	s = buf_detach(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	/* And the buffer can be reused after a detach. */
	buf_append_str(&b, "again");
	assert_string_equal((char *)b.data, "again");
	buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
	(void)state;
	buf_t b = BUF_INIT;
	buf_append_str(&b, "something long enough");
	size_t cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);
	assert_string_equal((char *)b.data, "");
	buf_append_str(&b, "new");
	assert_string_equal((char *)b.data, "new");
	buf_free(&b);
	buf_free(&b); /* freeing twice is harmless: buf_free leaves it empty */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_empty),
		cmocka_unit_test(test_append_grows_and_terminates),
		cmocka_unit_test(test_append_binary_keeps_nul_bytes),
		cmocka_unit_test(test_append_str_and_printf),
		cmocka_unit_test(test_printf_grows_past_capacity),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_on_empty_buffer),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_reset_keeps_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
