/*
 * crashloop: the respawn backoff of a worker slot, on made-up clocks.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "crashloop.h"

#define T0 1000000		/* an arbitrary monotonic start */

static void
test_five_deaths_in_the_window_respawn_at_once_the_sixth_waits(void)
{
	struct crashloop cl;
	unsigned recent = 0;
	int i;

	memset(&cl, 0, sizeof(cl));
	for (i = 0; i < CRASHLOOP_LIMIT; i++) {
		CU_ASSERT_EQUAL(crashloop_death(&cl, T0 + (uint64_t)i * 1000, &recent), 0);
		CU_ASSERT_EQUAL(recent, (unsigned)i + 1);
	}
	CU_ASSERT_EQUAL(crashloop_death(&cl, T0 + 9000, &recent), CRASHLOOP_MIN_MS);
	CU_ASSERT_EQUAL(recent, CRASHLOOP_LIMIT + 1);
}

static void
test_deaths_spread_wider_than_the_window_never_back_off(void)
{
	struct crashloop cl;
	unsigned recent = 0;
	int i;

	memset(&cl, 0, sizeof(cl));
	/* one death every 2.5 s: at most 5 fall in any 10 s */
	for (i = 0; i < 100; i++) {
		CU_ASSERT_EQUAL(crashloop_death(&cl, T0 + (uint64_t)i * 2500, &recent), 0);
		CU_ASSERT(recent <= CRASHLOOP_LIMIT);
	}
	CU_ASSERT_EQUAL(cl.backoff_ms, 0);
}

static void
test_backoff_doubles_from_100_ms_to_a_30_s_cap(void)
{
	static const uint32_t want[] = { 100, 200, 400, 800, 1600, 3200, 6400, 12800,
	    25600, 30000, 30000 };
	struct crashloop cl;
	uint64_t now = T0;
	unsigned i;

	memset(&cl, 0, sizeof(cl));
	for (i = 0; i < CRASHLOOP_LIMIT; i++)
		CU_ASSERT_EQUAL(crashloop_death(&cl, now++, NULL), 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t d = crashloop_death(&cl, now, NULL);

		CU_ASSERT_EQUAL(d, want[i]);
		/* the respawned worker dies as soon as it starts */
		now += d;
	}
}

/* the backoff holds when old deaths leave the window: no new burst of quick respawns */
static void
test_a_slot_backing_off_waits_after_every_death(void)
{
	struct crashloop cl;
	uint64_t now = T0;
	unsigned recent = 0;
	int i;

	memset(&cl, 0, sizeof(cl));
	for (i = 0; i < CRASHLOOP_LIMIT; i++)
		CU_ASSERT_EQUAL(crashloop_death(&cl, now++, NULL), 0);
	CU_ASSERT_EQUAL(crashloop_death(&cl, now, NULL), CRASHLOOP_MIN_MS);
	/* 20 s later, 59 s into its run, the respawned worker dies: alone in the window */
	now += 20000;
	CU_ASSERT_EQUAL(crashloop_death(&cl, now, &recent), 2 * CRASHLOOP_MIN_MS);
	CU_ASSERT_EQUAL(recent, 1);
}

static void
test_the_ring_reports_at_most_its_size(void)
{
	struct crashloop cl;
	unsigned recent = 0;
	int i;

	memset(&cl, 0, sizeof(cl));
	for (i = 0; i < 3 * CRASHLOOP_RING; i++)
		(void)!crashloop_death(&cl, T0 + (uint64_t)i, &recent);
	CU_ASSERT_EQUAL(recent, CRASHLOOP_RING);
}

static void
test_a_worker_that_runs_60_s_resets_the_backoff(void)
{
	struct crashloop cl;
	uint64_t now = T0, started;
	unsigned recent = 0;
	int i;

	memset(&cl, 0, sizeof(cl));
	for (i = 0; i < CRASHLOOP_LIMIT + 3; i++)
		now += crashloop_death(&cl, now, NULL) + 1;
	CU_ASSERT_EQUAL(cl.backoff_ms, 4 * CRASHLOOP_MIN_MS);
	started = now;
	/* not yet stable: the backoff stays */
	CU_ASSERT_EQUAL(crashloop_stable(&cl, started, started + CRASHLOOP_STABLE_MS - 1), 0);
	CU_ASSERT_EQUAL(cl.backoff_ms, 4 * CRASHLOOP_MIN_MS);
	/* 60 s up: cleared once, and only reported once */
	CU_ASSERT_EQUAL(crashloop_stable(&cl, started, started + CRASHLOOP_STABLE_MS), 1);
	CU_ASSERT_EQUAL(cl.backoff_ms, 0);
	CU_ASSERT_EQUAL(crashloop_stable(&cl, started, started + 2 * CRASHLOOP_STABLE_MS), 0);
	/* the next death is a first one again: respawned at once */
	now = started + CRASHLOOP_STABLE_MS + 5;
	CU_ASSERT_EQUAL(crashloop_death(&cl, now, &recent), 0);
	CU_ASSERT_EQUAL(recent, 1);
	/* and a new loop starts over at 100 ms, not where the old one stopped */
	for (i = 0; i < CRASHLOOP_LIMIT - 1; i++)
		CU_ASSERT_EQUAL(crashloop_death(&cl, ++now, NULL), 0);
	CU_ASSERT_EQUAL(crashloop_death(&cl, ++now, NULL), CRASHLOOP_MIN_MS);
}

static void
test_a_slot_that_never_backed_off_has_nothing_to_reset(void)
{
	struct crashloop cl;

	memset(&cl, 0, sizeof(cl));
	CU_ASSERT_EQUAL(crashloop_death(&cl, T0, NULL), 0);
	CU_ASSERT_EQUAL(crashloop_stable(&cl, T0, T0 + 10 * CRASHLOOP_STABLE_MS), 0);
}

void test_crashloop_register(void);

void
test_crashloop_register(void)
{
	CU_pSuite s = CU_add_suite("crashloop", NULL, NULL);

	CU_add_test(s, "test_five_deaths_in_the_window_respawn_at_once_the_sixth_waits",
	    test_five_deaths_in_the_window_respawn_at_once_the_sixth_waits);
	CU_add_test(s, "test_deaths_spread_wider_than_the_window_never_back_off",
	    test_deaths_spread_wider_than_the_window_never_back_off);
	CU_add_test(s, "test_backoff_doubles_from_100_ms_to_a_30_s_cap",
	    test_backoff_doubles_from_100_ms_to_a_30_s_cap);
	CU_add_test(s, "test_a_slot_backing_off_waits_after_every_death",
	    test_a_slot_backing_off_waits_after_every_death);
	CU_add_test(s, "test_the_ring_reports_at_most_its_size",
	    test_the_ring_reports_at_most_its_size);
	CU_add_test(s, "test_a_worker_that_runs_60_s_resets_the_backoff",
	    test_a_worker_that_runs_60_s_resets_the_backoff);
	CU_add_test(s, "test_a_slot_that_never_backed_off_has_nothing_to_reset",
	    test_a_slot_that_never_backed_off_has_nothing_to_reset);
}
