/* test_data: reads the real profiles under tests/data/pprof for the unit tests (include
 * after cmocka.h). */
#ifndef KPROFEFE_TEST_DATA_H
#define KPROFEFE_TEST_DATA_H

#include <stdio.h>
#include <stdlib.h>

typedef struct test_file {
	unsigned char *data; /* malloc'ed, one NUL byte past len; the test frees it */
	size_t len;
} test_file;

/* Reads $KPROFEFE_TEST_DATA/pprof/<name> (tests/data when unset); fails the test when
 * the file cannot be read. */
static inline test_file test_data_load(const char *name)
{
	const char *dir = getenv("KPROFEFE_TEST_DATA");
	char path[1024];
	snprintf(path, sizeof(path), "%s/pprof/%s", dir ? dir : "tests/data", name);
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	long n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	test_file f = {malloc((size_t)n + 1), (size_t)n};
	assert_non_null(f.data);
	assert_int_equal(fread(f.data, 1, f.len, fp), f.len);
	f.data[f.len] = '\0';
	fclose(fp);
	return f;
}

#endif
