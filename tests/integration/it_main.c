/*
 * Integration test runner: turns the suites the test files registered with
 * IT_SUITE into CUnit suites and runs them in basic (verbose) mode; each
 * test body runs in its own process group (harness.c).
 *
 *   test_integration              every suite
 *   test_integration NAME         the suite NAME, or every test called NAME
 *   test_integration SUITE:TEST   one test
 *
 * Exit code: failures plus suites that failed to initialise (CUnit's
 * failure count alone misses a broken suite), capped so it cannot wrap to 0.
 *
 * The last line gives the wall time of the run: CUnit's "Elapsed time"
 * is the runner's CPU time (clock()), and the runner mostly waits for
 * the forked tests, so it said 1.4 s for a 114 s run.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_EXIT 100

/* run what NAME (or SUITE:TEST) names; -1 if nothing has that name */
static int
run_named(const char *arg)
{
	char suite[256];
	const char *test = arg, *colon = strchr(arg, ':');
	const struct it_suite *is;
	const struct it_test *t;
	int found = 0;

	suite[0] = '\0';
	if (colon != NULL) {
		snprintf(suite, sizeof(suite), "%.*s", (int)(colon - arg), arg);
		test = colon + 1;
	} else if (CU_get_suite(arg) != NULL) {
		CU_basic_run_suite(CU_get_suite(arg));
		return 0;
	}
	for (is = it_suites(); is != NULL; is = is->next) {
		if (suite[0] != '\0' && strcmp(suite, is->name) != 0)
			continue;
		for (t = is->tests; t->name != NULL; t++) {
			CU_pSuite cs;

			if (strcmp(t->name, test) != 0)
				continue;
			cs = CU_get_suite(is->name);
			CU_basic_run_test(cs, CU_get_test(cs, t->name));
			found = 1;
		}
	}
	return found ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const struct it_suite *is;
	const struct it_test *t;
	unsigned int fails, ran;
	int64_t start = it_now_ms();

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [SUITE | TEST | SUITE:TEST]\n", argv[0]);
		return 1;
	}
	if (it_runner_init() == -1)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	for (is = it_suites(); is != NULL; is = is->next) {
		CU_pSuite cs = CU_add_suite(is->name, NULL, NULL);

		if (cs == NULL) {
			fprintf(stderr, "suite %s: %s\n", is->name, CU_get_error_msg());
			CU_cleanup_registry();
			return 1;
		}
		for (t = is->tests; t->name != NULL; t++) {
			if (CU_add_test(cs, t->name, it_cu_run) == NULL) {
				fprintf(stderr, "test %s: %s\n", t->name, CU_get_error_msg());
				CU_cleanup_registry();
				return 1;
			}
		}
	}
	printf("sockserv integration tests: %s, event_backend %s\n",
	    it_sockserv_path(), it_backend());
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (argc == 2) {
		if (run_named(argv[1]) == -1) {
			fprintf(stderr, "no suite or test named %s\n", argv[1]);
			CU_cleanup_registry();
			return 1;
		}
	} else
		CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	printf("integration: %u tests, %u failed, wall time %.1f s\n", ran, fails,
	    (double)(it_now_ms() - start) / 1000.0);
	return fails > MAX_EXIT ? MAX_EXIT : (int)fails;
}
