/*
 * Unit test runner.  Each tests/test_<module>.c provides
 * test_<module>_register(), which adds its CUnit suite.  They are declared
 * weak so that a suite listed here and not linked in is reported by name
 * (and fails the run) instead of a link error, or worse, silence.
 * Exit code: failed assertions/tests plus suites that failed to initialise
 * (CUnit's failure count alone would miss a broken suite init), and 1 for
 * any listed suite that is missing.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITES(X) X(log) X(config) X(proto) X(buffer) X(handler) X(evloop) \
	X(twheel) X(conn) X(stats) X(render) X(daemon) X(bench) \
	X(crashloop) X(fdio) X(escape) X(listener) X(slotctl) X(lockfile) X(linkproto) X(connid) X(backend) \
	X(admission) X(proxyproto) \
	X(upgrade)

#define DECL(m) void test_##m##_register(void) __attribute__((weak));
SUITES(DECL)

int
main(int argc, char **argv)
{
	unsigned int fails, missing = 0;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
#define CALL(m)								\
	if (test_##m##_register != NULL)				\
		test_##m##_register();					\
	else {								\
		fprintf(stderr, "suite %s is listed but not linked in "	\
		    "(no test_%s_register)\n", #m, #m);			\
		missing++;						\
	}
	SUITES(CALL)
	if (argc > 1) {
		/* run one suite by name: test_unit twheel */
		CU_pSuite s = CU_get_suite(argv[1]);
		if (s == NULL) {
			fprintf(stderr, "no suite %s\n", argv[1]);
			return 1;
		}
		CU_basic_set_mode(CU_BRM_VERBOSE);
		CU_basic_run_suite(s);
	} else {
		CU_basic_set_mode(CU_BRM_VERBOSE);
		CU_basic_run_tests();
	}
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
	    CU_get_number_of_tests_failed() + missing;
	CU_cleanup_registry();
	if (missing > 0)
		fprintf(stderr, "%u listed suite%s missing: the run fails\n", missing,
		    missing == 1 ? "" : "s");
	return fails > 0 ? 1 : 0;
}
