/* Unit tests of empty: the backoff of types that keep coming back empty, the count and
 * the one log line per target and type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kprofefe/empty.h"
#include "kprofefe/log.h"
#include "kprofefe/metrics.h"

/* Which of rounds 1..n fetch, as a string of 'F' (fetched) and '.' (left out), when
 * every fetch comes back empty until round `until` and has samples from then on. */
static void rounds(empty_state *s, int n, int until, char *out)
{
	for (int r = 1; r <= n; r++) {
		int due = empty_due(s);
		out[r - 1] = due ? 'F' : '.';
		if (due)
			empty_seen(s, "ns/pod", PPROF_MUTEX, r < until);
	}
	out[n] = '\0';
}

static void test_backoff(void **state)
{
	empty_state s = {0};
	char got[64];

	(void)state;
	metrics_reset();
	log_setup(fopen("/dev/null", "w"), LOG_LOGFMT, LOG_ERROR);
	/* Empty for good: 3 rounds in a row, then every 2nd, 4th, then every 8th. */
	rounds(&s, 40, 1000, got);
	assert_string_equal(got, "FFF.F...F.......F.......F.......F.......");
	double skipped = metrics_get(METRIC_PROFILES_SKIPPED_TOTAL, "type", "mutex", "reason",
				     "empty", NULL);
	assert_int_equal((int)skipped, 8);
	/* Samples again: the next fetch brings it back to every round. */
	empty_state t = {0};
	rounds(&t, 30, 18, got); /* the first fetch from round 18 on has samples */
	assert_string_equal(got, "FFF.F...F.......F.......FFFFFF");
	metrics_reset();
}

/* Said once per state (a target and type), however many rounds stay empty. */
static void test_said_once(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	empty_state s = {0}, other = {0};

	(void)state;
	metrics_reset();
	log_setup(out, LOG_LOGFMT, LOG_INFO);
	for (int i = 0; i < 5; i++)
		empty_seen(&s, "ns/a", PPROF_BLOCK, 1);
	empty_seen(&s, "ns/a", PPROF_BLOCK, 0);
	empty_seen(&s, "ns/a", PPROF_BLOCK, 1);
	empty_seen(&other, "ns/b", PPROF_BLOCK, 1);
	fflush(out);
	int lines = 0;
	for (char *p = text; (p = strstr(p, "profile has no samples")) != NULL; p++)
		lines++;
	assert_int_equal(lines, 2);
	assert_non_null(strstr(text, "pod=ns/a"));
	assert_non_null(strstr(text, "pod=ns/b"));
	assert_int_equal((int)metrics_get(METRIC_PROFILES_SKIPPED_TOTAL, "type", "block",
					  "reason", "empty", NULL), 7);
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	fclose(out);
	free(text);
	metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_said_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
