/* Unit tests of budget: taking within the limit, admission that leaves room, peaks, NULL as unlimited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kprofefe/budget.h"
#include "kprofefe/metrics.h"

static void test_take_within_limit(void **state)
{
	(void)state;
	budget_t *b = budget_new(100);
	assert_int_equal(budget_take(b, 60), 0);
	assert_int_equal(budget_take(b, 41), -1);
	assert_int_equal(budget_used(b), 60);
	assert_int_equal(budget_take(b, 40), 0);
	assert_int_equal(budget_take(b, 1), -1);
	budget_give(b, 100);
	assert_int_equal(budget_used(b), 0);
	assert_int_equal(budget_peak(b), 100);
	assert_int_equal(budget_take(b, (size_t)-1), -1);
	budget_free(b);
}

/* Admission stops while keep bytes would not stay free; plain takes may still use them. */
static void test_take_leaving_keeps_room(void **state)
{
	(void)state;
	budget_t *b = budget_new(100);
	assert_int_equal(budget_take_leaving(b, 30, 25), 0);
	assert_int_equal(budget_take_leaving(b, 45, 25), 0);
	assert_int_equal(budget_take_leaving(b, 1, 25), -1);
	assert_int_equal(budget_used(b), 75);
	assert_int_equal(budget_take(b, 25), 0);
	budget_give(b, 25);
	assert_int_equal(budget_take_leaving(b, 1, 101), -1);
	assert_int_equal(budget_take_leaving(b, (size_t)-1, 25), -1);
	assert_int_equal(budget_used(b), 75);
	budget_free(b);
}

static void test_force_passes_the_limit(void **state)
{
	(void)state;
	budget_t *b = budget_new(10);
	budget_force(b, 15);
	assert_int_equal(budget_used(b), 15);
	assert_int_equal(budget_take(b, 1), -1);
	assert_int_equal(budget_take_leaving(b, 1, 0), -1);
	budget_give(b, 15);
	assert_int_equal(budget_peak(b), 15);
	budget_free(b);
}

static void test_unlimited_and_null(void **state)
{
	(void)state;
	budget_t *b = budget_new(0);
	assert_int_equal(budget_take(b, (size_t)1 << 40), 0);
	assert_int_equal(budget_take_leaving(b, 1, (size_t)1 << 40), 0);
	assert_int_equal(budget_limit(b), 0);
	budget_free(b);
	assert_int_equal(budget_take(NULL, 5), 0);
	assert_int_equal(budget_take_leaving(NULL, 5, 5), 0);
	budget_give(NULL, 5);
	assert_int_equal(budget_used(NULL), 0);
}

/* Giving back more than was taken is a bug: a Debug build aborts on it, a release build
 * counts the excess and goes on at zero. Checked in a child. */
static void test_over_give_is_a_bug(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		budget_t *b = budget_new(10);
		if (budget_take(b, 5) != 0)
			_exit(3);
		budget_give(b, 8);
		int ok = budget_used(b) == 0 &&
			 metrics_get(METRIC_MEMORY_BUDGET_ERRORS_TOTAL, NULL) == 3;
		_exit(ok ? 0 : 4);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
#ifdef NDEBUG
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
#else
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_within_limit),
		cmocka_unit_test(test_take_leaving_keeps_room),
		cmocka_unit_test(test_force_passes_the_limit),
		cmocka_unit_test(test_unlimited_and_null),
		cmocka_unit_test(test_over_give_is_a_bug),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
