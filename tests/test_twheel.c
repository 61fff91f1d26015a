/*
 * twheel tests: a fake clock drives the wheel, so every assertion is exact.
 * The random precision property prints its seed; TWHEEL_SEED=<n> replays it.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "twheel.h"

void test_twheel_register(void);

#define NODE_TIMER(n) \
	((struct timer *)(void *)((char *)(n) - offsetof(struct timer, node)))

struct timer;
typedef void timer_action(struct timer *, void *);

struct timer {
	struct twheel_node node;
	int id;
	int fires;
	uint64_t fired_at;	/* the wheel's boundary for the last fire */
	uint64_t fired_now;	/* the now_ms of the advance that fired it */
	timer_action *action;	/* run from the callback, may be NULL */
};

#define LOG_MAX 64

/* what the simple tests' callback records */
struct firelog {
	struct twheel *w;
	uint64_t now;		/* the now_ms passed to the running advance */
	uint64_t last_at;	/* boundary of the previous fire in this advance */
	int disorder;		/* fires at an earlier boundary than the last */
	int n;
	int id[LOG_MAX];
	uint64_t at[LOG_MAX];
};

static void
timer_init(struct timer *t, int id)
{
	memset(t, 0, sizeof(*t));
	twheel_node_init(&t->node);
	t->id = id;
}

static void
log_cb(struct twheel_node *node, void *arg)
{
	struct firelog *fl = arg;
	struct timer *t = NODE_TIMER(node);

	CU_ASSERT_FALSE(twheel_armed(node));
	t->fires++;
	t->fired_at = twheel_node_due_ms(fl->w, node);
	t->fired_now = fl->now;
	if (t->fired_at < fl->last_at)
		fl->disorder++;
	fl->last_at = t->fired_at;
	if (fl->n < LOG_MAX) {
		fl->id[fl->n] = t->id;
		fl->at[fl->n] = t->fired_at;
	}
	fl->n++;
	if (t->action != NULL)
		t->action(t, fl);
}

static size_t
advance(struct twheel *w, struct firelog *fl, uint64_t now)
{
	fl->now = now;
	fl->last_at = 0;
	return twheel_advance(w, now, log_cb, fl);
}

/* advance 1 ms at a time, so fired_now is the first ms the timer fired at */
static void
advance_by_ms(struct twheel *w, struct firelog *fl, uint64_t from,
    uint64_t to)
{
	uint64_t now;

	for (now = from; now <= to; now++)
		advance(w, fl, now);
}

static void
test_timer_fires_in_first_tick_at_or_after_due(void)
{
	static const uint64_t due[] = { 1001, 1009, 1010, 1011, 1020, 1021 };
	static const uint64_t want[] = { 1010, 1010, 1010, 1020, 1020, 1030 };
	struct timer t[6];
	struct firelog fl = { 0 };
	struct twheel *w;
	size_t i;

	w = twheel_create(10, 8, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	for (i = 0; i < 6; i++) {
		timer_init(&t[i], (int)i);
		twheel_start(w, &t[i].node, due[i]);
		CU_ASSERT_EQUAL(twheel_node_due_ms(w, &t[i].node), want[i]);
	}
	advance_by_ms(w, &fl, 1000, 1040);
	for (i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL(t[i].fires, 1);
		CU_ASSERT_EQUAL(t[i].fired_at, want[i]);
		/* stepping 1 ms at a time: it fired exactly when its boundary came */
		CU_ASSERT_EQUAL(t[i].fired_now, want[i]);
	}
	CU_ASSERT_EQUAL(twheel_count(w), 0);
	twheel_free(w);
}

static void
test_due_in_past_fires_on_next_advance_reaching_next_boundary(void)
{
	struct timer before_origin, at_origin, at_boundary, past_now;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	/* nothing has run yet: tick 0 (the origin) counts as already run */
	timer_init(&before_origin, 1);
	timer_init(&at_origin, 2);
	twheel_start(w, &before_origin.node, 5);
	twheel_start(w, &at_origin.node, 1000);
	CU_ASSERT_EQUAL(twheel_node_due_ms(w, &before_origin.node), 1010);
	CU_ASSERT_EQUAL(twheel_node_due_ms(w, &at_origin.node), 1010);
	CU_ASSERT_EQUAL(advance(w, &fl, 1009), 0);
	CU_ASSERT_EQUAL(advance(w, &fl, 1010), 2);

	/* the wheel has run 1050; the clock is at 1055 */
	CU_ASSERT_EQUAL(advance(w, &fl, 1055), 0);
	timer_init(&at_boundary, 3);
	timer_init(&past_now, 4);
	twheel_start(w, &at_boundary.node, 1050);
	twheel_start(w, &past_now.node, 1052);
	CU_ASSERT_EQUAL(twheel_count(w), 2);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1055), 5);
	CU_ASSERT_EQUAL(advance(w, &fl, 1059), 0);
	CU_ASSERT_EQUAL(at_boundary.fires, 0);
	CU_ASSERT_EQUAL(advance(w, &fl, 1060), 2);
	CU_ASSERT_EQUAL(at_boundary.fires, 1);
	CU_ASSERT_EQUAL(at_boundary.fired_at, 1060);
	CU_ASSERT_EQUAL(past_now.fires, 1);
	CU_ASSERT_EQUAL(past_now.fired_at, 1060);
	twheel_free(w);
}

static void
test_advance_backwards_or_before_origin_fires_nothing(void)
{
	struct timer t;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	timer_init(&t, 1);
	twheel_start(w, &t.node, 1020);
	CU_ASSERT_EQUAL(advance(w, &fl, 0), 0);
	CU_ASSERT_EQUAL(advance(w, &fl, 999), 0);
	CU_ASSERT_EQUAL(advance(w, &fl, 1020), 1);
	CU_ASSERT_EQUAL(advance(w, &fl, 1020), 0);
	CU_ASSERT_EQUAL(advance(w, &fl, 1005), 0);
	CU_ASSERT_EQUAL(t.fires, 1);
	/* after a backwards step, a new timer still fires at its own boundary */
	twheel_start(w, &t.node, 1031);
	CU_ASSERT_EQUAL(advance(w, &fl, 1039), 0);
	CU_ASSERT_EQUAL(advance(w, &fl, 1040), 1);
	CU_ASSERT_EQUAL(t.fires, 2);
	CU_ASSERT_EQUAL(t.fired_at, 1040);
	twheel_free(w);
}

static void
test_restarted_timer_never_fires_for_old_time(void)
{
	struct timer later, same_bucket, earlier;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	timer_init(&later, 1);
	timer_init(&same_bucket, 2);
	timer_init(&earlier, 3);
	twheel_start(w, &later.node, 50);
	twheel_start(w, &same_bucket.node, 50);
	twheel_start(w, &earlier.node, 150);
	twheel_start(w, &later.node, 150);
	/* 130 is tick 13, bucket 5 like tick 5: it must be skipped at 50 */
	twheel_start(w, &same_bucket.node, 130);
	twheel_start(w, &earlier.node, 30);
	CU_ASSERT_EQUAL(twheel_count(w), 3);

	advance_by_ms(w, &fl, 0, 200);
	CU_ASSERT_EQUAL(later.fires, 1);
	CU_ASSERT_EQUAL(later.fired_now, 150);
	CU_ASSERT_EQUAL(same_bucket.fires, 1);
	CU_ASSERT_EQUAL(same_bucket.fired_now, 130);
	CU_ASSERT_EQUAL(earlier.fires, 1);
	CU_ASSERT_EQUAL(earlier.fired_now, 30);
	CU_ASSERT_EQUAL(fl.n, 3);
	twheel_free(w);
}

static void
test_stopped_timer_never_fires(void)
{
	struct timer t, never, keep;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	timer_init(&t, 1);
	timer_init(&never, 2);
	timer_init(&keep, 3);
	/* stopping a node that was never armed is harmless */
	twheel_stop(w, &never.node);
	CU_ASSERT_EQUAL(twheel_count(w), 0);

	twheel_start(w, &t.node, 40);
	twheel_start(w, &keep.node, 40);
	CU_ASSERT_TRUE(twheel_armed(&t.node));
	twheel_stop(w, &t.node);
	CU_ASSERT_FALSE(twheel_armed(&t.node));
	twheel_stop(w, &t.node);
	CU_ASSERT_EQUAL(twheel_count(w), 1);
	advance_by_ms(w, &fl, 0, 500);
	CU_ASSERT_EQUAL(t.fires, 0);
	CU_ASSERT_EQUAL(never.fires, 0);
	CU_ASSERT_EQUAL(keep.fires, 1);
	CU_ASSERT_EQUAL(twheel_count(w), 0);
	twheel_free(w);
}

static void
test_timers_beyond_one_revolution_fire_on_time(void)
{
	/* tick 10, 8 slots: a revolution is 80 ms; all of these use bucket 1 */
	static const uint64_t due[] = { 5, 85, 165, 805, 80005 };
	static const uint64_t want[] = { 10, 90, 170, 810, 80010 };
	struct timer t[5];
	struct firelog fl = { 0 };
	struct twheel *w;
	size_t i;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	for (i = 0; i < 5; i++) {
		timer_init(&t[i], (int)i);
		twheel_start(w, &t[i].node, due[i]);
	}
	advance_by_ms(w, &fl, 0, 80100);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(t[i].fires, 1);
		CU_ASSERT_EQUAL(t[i].fired_at, want[i]);
		CU_ASSERT_EQUAL(t[i].fired_now, want[i]);
	}
	CU_ASSERT_EQUAL(fl.n, 5);
	twheel_free(w);
}

static void
test_same_tick_timers_fire_in_start_order(void)
{
	struct timer t[5];
	struct firelog fl = { 0 };
	struct twheel *w;
	int i;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	for (i = 0; i < 5; i++) {
		timer_init(&t[i], i);
		twheel_start(w, &t[i].node, 21 + (uint64_t)i);	/* all tick 3 */
	}
	CU_ASSERT_EQUAL(advance(w, &fl, 30), 5);
	CU_ASSERT_EQUAL_FATAL(fl.n, 5);
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(fl.id[i], i);

	/* also when a jump of many revolutions collects them with others */
	fl.n = 0;
	for (i = 0; i < 5; i++) {
		twheel_start(w, &t[4 - i].node, 1000);
		if (i == 2)
			twheel_start(w, &t[i].node, 985);	/* earlier tick */
	}
	CU_ASSERT_EQUAL(advance(w, &fl, 5000), 5);
	CU_ASSERT_EQUAL_FATAL(fl.n, 5);
	CU_ASSERT_EQUAL(fl.id[0], 2);
	CU_ASSERT_EQUAL(fl.id[1], 4);
	CU_ASSERT_EQUAL(fl.id[2], 3);
	CU_ASSERT_EQUAL(fl.id[3], 1);
	CU_ASSERT_EQUAL(fl.id[4], 0);
	twheel_free(w);
}

static void
test_next_timeout_is_next_nonempty_tick(void)
{
	struct timer near, far, wrap;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	timer_init(&near, 1);
	timer_init(&far, 2);
	timer_init(&wrap, 3);
	twheel_start(w, &near.node, 1035);	/* boundary 1040 */
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1000), 40);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1012), 28);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1040), 0);
	/* not advanced yet, the clock already past the boundary */
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1047), 0);

	twheel_start(w, &far.node, 1060);	/* tick 6 */
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1000), 40);
	twheel_stop(w, &near.node);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1000), 60);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1031), 29);

	/*
	 * 3 revolutions + 1 tick out (tick 25, bucket 1): the wheel wakes when
	 * bucket 1 comes round at tick 1, then finds nothing due there
	 */
	twheel_stop(w, &far.node);
	twheel_start(w, &wrap.node, 1250);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1000), 10);
	CU_ASSERT_EQUAL(advance(w, &fl, 1010), 0);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1010), 80);
	CU_ASSERT_EQUAL(advance(w, &fl, 1170), 0);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1170), 80);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1175), 75);
	CU_ASSERT_EQUAL(advance(w, &fl, 1249), 0);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1249), 1);
	CU_ASSERT_EQUAL(advance(w, &fl, 1250), 1);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 1250), -1);
	twheel_free(w);
}

static void
test_next_timeout_scans_across_bitmap_words(void)
{
	struct timer t;
	struct twheel *w;

	/* 256 slots: bucket 200 lives in the fourth bitmap word */
	w = twheel_create(1, 256, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	timer_init(&t, 1);
	twheel_start(w, &t.node, 200);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 0), 200);
	/* wrapping: tick 300 is bucket 44, reached after the wheel passes 255 */
	CU_ASSERT_EQUAL(twheel_advance(w, 250, log_cb,
	    &(struct firelog){ .w = w, .now = 250 }), 1);
	twheel_start(w, &t.node, 300);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 250), 50);
	twheel_free(w);
}

static void
test_empty_wheel_next_timeout_is_minus_one(void)
{
	struct timer t;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 0), -1);
	timer_init(&t, 1);
	twheel_start(w, &t.node, 30);
	twheel_stop(w, &t.node);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 0), -1);
	twheel_start(w, &t.node, 30);
	CU_ASSERT_EQUAL(advance(w, &fl, 30), 1);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 30), -1);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 100000), -1);
	twheel_free(w);
}

static void
test_count_tracks_armed_timers(void)
{
	struct timer t[3];
	struct firelog fl = { 0 };
	struct twheel *w;
	int i;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	CU_ASSERT_EQUAL(twheel_count(w), 0);
	for (i = 0; i < 3; i++) {
		timer_init(&t[i], i);
		twheel_start(w, &t[i].node, 10 * (uint64_t)(i + 1));
	}
	CU_ASSERT_EQUAL(twheel_count(w), 3);
	twheel_start(w, &t[0].node, 500);	/* restart: still one timer */
	CU_ASSERT_EQUAL(twheel_count(w), 3);
	twheel_stop(w, &t[1].node);
	CU_ASSERT_EQUAL(twheel_count(w), 2);
	advance(w, &fl, 30);
	CU_ASSERT_EQUAL(twheel_count(w), 1);
	advance(w, &fl, 500);
	CU_ASSERT_EQUAL(twheel_count(w), 0);
	twheel_free(w);
}

static void
test_create_rejects_bad_geometry(void)
{
	struct twheel *w;

	errno = 0;
	CU_ASSERT_PTR_NULL(twheel_create(0, 8, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(twheel_create(10, 0, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(twheel_create(10, 6, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	w = twheel_create(10, 1, 0);
	CU_ASSERT_PTR_NOT_NULL(w);
	CU_ASSERT_EQUAL(w != NULL ? twheel_tick_ms(w) : 0, 10);
	twheel_free(w);
	twheel_free(NULL);
}

static void
test_one_slot_wheel_still_fires_on_time(void)
{
	struct timer t[3];
	struct firelog fl = { 0 };
	struct twheel *w;
	int i;

	w = twheel_create(5, 1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	for (i = 0; i < 3; i++) {
		timer_init(&t[i], i);
		twheel_start(w, &t[i].node, 7 + 10 * (uint64_t)i);
	}
	CU_ASSERT_EQUAL(twheel_next_timeout(w, 0), 5);
	advance_by_ms(w, &fl, 0, 40);
	CU_ASSERT_EQUAL(t[0].fired_now, 10);
	CU_ASSERT_EQUAL(t[1].fired_now, 20);
	CU_ASSERT_EQUAL(t[2].fired_now, 30);
	CU_ASSERT_EQUAL(fl.n, 3);
	twheel_free(w);
}

static void
test_free_disarms_nodes(void)
{
	struct timer t[2];
	struct twheel *w;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	timer_init(&t[0], 0);
	timer_init(&t[1], 1);
	twheel_start(w, &t[0].node, 10);
	twheel_start(w, &t[1].node, 10000);
	twheel_free(w);
	CU_ASSERT_FALSE(twheel_armed(&t[0].node));
	CU_ASSERT_FALSE(twheel_armed(&t[1].node));
}

/* the cast of test_callback_may_rearm_and_stop_others */
static struct timer *ra, *rb, *rc, *rd, *rf, *rg;

static void
action_a(struct timer *t, void *arg)
{
	struct firelog *fl = arg;

	if (t->fires != 1)
		return;
	twheel_stop(fl->w, &rb->node);		/* waiting in the same batch */
	twheel_start(fl->w, &rc->node, 200);	/* same batch, moved away */
	twheel_stop(fl->w, &rf->node);		/* due later in this advance */
	twheel_start(fl->w, &rg->node, 55);	/* new, due in this advance */
	twheel_start(fl->w, &t->node, 70);	/* itself */
}

static void
test_callback_may_rearm_and_stop_others(void)
{
	struct timer t[7];
	struct firelog fl = { 0 };
	struct twheel *w;
	int i;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	for (i = 0; i < 7; i++)
		timer_init(&t[i], 'A' + i);
	ra = &t[0]; rb = &t[1]; rc = &t[2]; rd = &t[3]; rf = &t[5]; rg = &t[6];
	ra->action = action_a;
	twheel_start(w, &ra->node, 50);
	twheel_start(w, &rb->node, 50);
	twheel_start(w, &rc->node, 50);
	twheel_start(w, &rd->node, 50);
	twheel_start(w, &t[4].node, 130);	/* E: same bucket, next revolution */
	twheel_start(w, &rf->node, 60);

	/* 8 ticks, one revolution: the wheel stands at each tick in turn */
	CU_ASSERT_EQUAL(advance(w, &fl, 80), 4);
	CU_ASSERT_EQUAL_FATAL(fl.n, 4);
	CU_ASSERT_EQUAL(fl.id[0], 'A');
	CU_ASSERT_EQUAL(fl.at[0], 50);
	CU_ASSERT_EQUAL(fl.id[1], 'D');
	CU_ASSERT_EQUAL(fl.at[1], 50);
	CU_ASSERT_EQUAL(fl.id[2], 'G');
	CU_ASSERT_EQUAL(fl.at[2], 60);
	CU_ASSERT_EQUAL(fl.id[3], 'A');
	CU_ASSERT_EQUAL(fl.at[3], 70);
	CU_ASSERT_EQUAL(twheel_count(w), 2);	/* C and E */
	CU_ASSERT_FALSE(twheel_armed(&rb->node));
	CU_ASSERT_FALSE(twheel_armed(&rf->node));

	CU_ASSERT_EQUAL(advance(w, &fl, 300), 2);
	CU_ASSERT_EQUAL_FATAL(fl.n, 6);
	CU_ASSERT_EQUAL(fl.id[4], 'E');
	CU_ASSERT_EQUAL(fl.at[4], 130);
	CU_ASSERT_EQUAL(fl.id[5], 'C');
	CU_ASSERT_EQUAL(fl.at[5], 200);
	CU_ASSERT_EQUAL(rb->fires + rf->fires, 0);
	CU_ASSERT_EQUAL(twheel_count(w), 0);
	twheel_free(w);
}

/* re-arms itself "now" (a due time the wheel has already run) three times */
static void
action_rearm_past(struct timer *t, void *arg)
{
	struct firelog *fl = arg;

	if (t->fires < 4)
		twheel_start(fl->w, &t->node, t->fired_at);
}

static void
test_timer_rearmed_for_run_tick_fires_at_next_tick(void)
{
	struct timer t;
	struct firelog fl = { 0 };
	struct twheel *w;

	w = twheel_create(10, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	timer_init(&t, 1);
	t.action = action_rearm_past;
	twheel_start(w, &t.node, 10);
	CU_ASSERT_EQUAL(advance(w, &fl, 80), 4);
	CU_ASSERT_EQUAL_FATAL(fl.n, 4);
	CU_ASSERT_EQUAL(fl.at[0], 10);
	CU_ASSERT_EQUAL(fl.at[1], 20);
	CU_ASSERT_EQUAL(fl.at[2], 30);
	CU_ASSERT_EQUAL(fl.at[3], 40);
	twheel_free(w);
}

#define JUMP_N 1000

static void
test_large_time_jump_fires_everything_once(void)
{
	static struct timer t[JUMP_N];
	struct firelog fl = { 0 };
	struct twheel *w;
	uint64_t huge = UINT64_C(1) << 50, due;
	int i, late = 0;
	size_t fired;

	/* 1 ms ticks, 8 slots: a jump to 2^50 is 2^47 revolutions */
	w = twheel_create(1, 8, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	fl.w = w;
	for (i = 0; i < JUMP_N; i++) {
		timer_init(&t[i], i);
		/* spread over 250 revolutions, in a scrambled order */
		due = 1 + (uint64_t)((i * 7919) % JUMP_N) * 2;
		if (i % 10 == 0) {
			due = huge + 10 + (uint64_t)i;	/* stays armed */
			late++;
		}
		twheel_start(w, &t[i].node, due);
	}
	fired = advance(w, &fl, huge);
	CU_ASSERT_EQUAL(fired, (size_t)(JUMP_N - late));
	CU_ASSERT_EQUAL(twheel_count(w), (size_t)late);
	for (i = 0; i < JUMP_N; i++)
		CU_ASSERT_EQUAL(t[i].fires, i % 10 == 0 ? 0 : 1);
	/* fired in due order although the buckets were not visited in it */
	CU_ASSERT_EQUAL(fl.disorder, 0);

	/* the rest fire at their boundaries, after the jump as before */
	fl.n = 0;
	CU_ASSERT_EQUAL(advance(w, &fl, huge + 9), 0);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, huge + 9), 1);
	advance_by_ms(w, &fl, huge + 10, huge + JUMP_N + 10);
	for (i = 0; i < JUMP_N; i += 10) {
		CU_ASSERT_EQUAL(t[i].fires, 1);
		CU_ASSERT_EQUAL(t[i].fired_now, huge + 10 + (uint64_t)i);
	}
	CU_ASSERT_EQUAL(twheel_count(w), 0);
	CU_ASSERT_EQUAL(twheel_next_timeout(w, huge + JUMP_N + 10), -1);
	twheel_free(w);
}

/*
 * The precision property.  Timers are started, restarted and stopped at
 * random (also from callbacks), and the fake clock moves in random small
 * and large steps.  Every arming must fire exactly once, at the first
 * boundary at or after its current due time, during the advance whose
 * interval (previous now, now] holds that boundary; a stopped or restarted
 * arming never fires.
 */

#define PROP_N 3000
#define PROP_STEPS 4000
#define PROP_ERRMAX 5

struct ptimer {
	struct twheel_node node;
	uint64_t due;		/* current due time; meaningful when armed */
	int armed;		/* what the test believes */
	unsigned long fires;
};

struct prop {
	struct twheel *w;
	struct ptimer *t;
	uint64_t origin, tick, rev;
	uint64_t prev_now, now;
	uint64_t last_at;	/* boundary of the previous fire in this advance */
	uint64_t rng;
	unsigned long armings, fires, errors;
};

static uint64_t
rng_next(uint64_t *s)
{
	/* splitmix64: small, good enough to scatter timers, reproducible */
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* uniform-enough in [lo, hi] */
static uint64_t
rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(s) % (hi - lo + 1);
}

static void
prop_error(struct prop *p, const char *what, size_t i, uint64_t a,
    uint64_t b)
{
	if (p->errors++ < PROP_ERRMAX)
		fprintf(stderr, "\ntwheel property (tick %" PRIu64 "): timer %zu: "
		    "%s (%" PRIu64 ", %" PRIu64 ") prev_now %" PRIu64
		    " now %" PRIu64 "\n", p->tick, i, what, a, b, p->prev_now,
		    p->now);
}

static uint64_t
prop_boundary(const struct prop *p, uint64_t due)
{
	uint64_t d = due - p->origin;

	return p->origin + (d + p->tick - 1) / p->tick * p->tick;
}

static void
prop_arm(struct prop *p, size_t i, uint64_t due)
{
	struct ptimer *t = &p->t[i];

	twheel_start(p->w, &t->node, due);
	t->due = due;
	t->armed = 1;
	p->armings++;
}

static void
prop_stop(struct prop *p, size_t i)
{
	twheel_stop(p->w, &p->t[i].node);
	p->t[i].armed = 0;
}

/* a timeout reaching several revolutions out */
static uint64_t
prop_timeout(struct prop *p)
{
	return rng_range(&p->rng, 1, 4 * p->rev);
}

static void
prop_cb(struct twheel_node *node, void *arg)
{
	struct prop *p = arg;
	struct ptimer *t = (struct ptimer *)(void *)node;
	size_t i = (size_t)(t - p->t), j;
	uint64_t at = twheel_node_due_ms(p->w, node), want;

	p->fires++;
	t->fires++;
	if (!t->armed) {
		prop_error(p, "fired while stopped or already fired", i, at, 0);
		return;
	}
	t->armed = 0;
	want = prop_boundary(p, t->due);
	if (at != want)
		prop_error(p, "fired at wrong boundary (at, want)", i, at, want);
	if (!(at >= t->due && at - p->tick < t->due))
		prop_error(p, "boundary not first at/after due (at, due)", i,
		    at, t->due);
	if (!(p->prev_now < want && want <= p->now))
		prop_error(p, "fired in wrong advance (at, want)", i, at, want);
	if (at < p->last_at)
		prop_error(p, "fired out of order (at, previous)", i, at,
		    p->last_at);
	p->last_at = at;

	/* sometimes act on the wheel from inside the callback */
	switch (rng_next(&p->rng) % 8) {
	case 0:
		prop_arm(p, i, p->now + prop_timeout(p));
		break;
	case 1:
		j = rng_next(&p->rng) % PROP_N;
		if (j != i && p->t[j].armed)
			prop_stop(p, j);
		break;
	case 2:
		j = rng_next(&p->rng) % PROP_N;
		if (j != i)
			prop_arm(p, j, p->now + prop_timeout(p));
		break;
	default:
		break;
	}
}

static void
prop_check_armed(struct prop *p)
{
	size_t i, armed = 0;

	for (i = 0; i < PROP_N; i++) {
		if (twheel_armed(&p->t[i].node) != p->t[i].armed)
			prop_error(p, "armed state differs (wheel, test)", i,
			    (uint64_t)twheel_armed(&p->t[i].node),
			    (uint64_t)p->t[i].armed);
		if (!p->t[i].armed)
			continue;
		armed++;
		/* its boundary has been reached: the advance lost it */
		if (prop_boundary(p, p->t[i].due) <= p->now)
			prop_error(p, "missed (boundary, due)", i,
			    prop_boundary(p, p->t[i].due), p->t[i].due);
	}
	if (twheel_count(p->w) != armed)
		prop_error(p, "count differs (wheel, test)", 0,
		    (uint64_t)twheel_count(p->w), (uint64_t)armed);
}

static void
prop_advance(struct prop *p, uint64_t now)
{
	int64_t nt;

	/* the wheel never asks to be woken after something it would fire */
	nt = twheel_next_timeout(p->w, p->now);
	if (twheel_count(p->w) > 0) {
		uint64_t first = UINT64_MAX, b;
		size_t i;

		for (i = 0; i < PROP_N; i++) {
			if (p->t[i].armed &&
			    (b = prop_boundary(p, p->t[i].due)) < first)
				first = b;
		}
		if (nt < 0 || p->now + (uint64_t)nt > first)
			prop_error(p, "next_timeout late (wake, first)", 0,
			    p->now + (uint64_t)nt, first);
	} else if (nt != -1)
		prop_error(p, "next_timeout on empty wheel", 0, (uint64_t)nt, 0);

	p->prev_now = p->now;
	p->now = now;
	p->last_at = 0;
	twheel_advance(p->w, now, prop_cb, p);
	prop_check_armed(p);
}

static void
prop_run(uint32_t tick, uint32_t slots, uint64_t seed)
{
	struct prop p;
	uint64_t step, r;
	size_t i;
	int s;

	memset(&p, 0, sizeof(p));
	p.rng = seed;
	p.tick = tick;
	p.rev = (uint64_t)tick * slots;
	p.origin = rng_range(&p.rng, 0, 1000000);
	p.now = p.prev_now = p.origin;
	p.t = calloc(PROP_N, sizeof(*p.t));
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.t);
	p.w = twheel_create(tick, slots, p.origin);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.w);
	for (i = 0; i < PROP_N; i++) {
		twheel_node_init(&p.t[i].node);
		prop_arm(&p, i, p.now + prop_timeout(&p));
	}

	for (s = 0; s < PROP_STEPS; s++) {
		/* a few random starts, restarts and stops per step */
		for (i = 0; i < 8; i++) {
			size_t j = rng_next(&p.rng) % PROP_N;

			r = rng_next(&p.rng) % 4;
			if (r == 0 && p.t[j].armed)
				prop_stop(&p, j);
			else
				prop_arm(&p, j, p.now + prop_timeout(&p));
		}
		r = rng_next(&p.rng) % 100;
		if (r < 85)
			step = rng_range(&p.rng, 0, 2 * p.tick);
		else if (r < 97)
			step = rng_range(&p.rng, p.tick, p.rev);
		else
			step = rng_range(&p.rng, p.rev, 3 * p.rev);	/* jumps */
		prop_advance(&p, p.now + step);
	}
	/*
	 * drain: only callbacks arm now, fewer than one timer per fire on
	 * average, so the wheel empties
	 */
	for (s = 0; s < 64 && twheel_count(p.w) > 0; s++)
		prop_advance(&p, p.now + rng_range(&p.rng, 1, 2 * p.rev));
	while (twheel_count(p.w) > 0 && s++ < 100000)
		prop_advance(&p, p.now + 5 * p.rev);

	CU_ASSERT_EQUAL(twheel_count(p.w), 0);
	/* every arming that was not stopped or restarted fired, once */
	CU_ASSERT_TRUE(p.fires > PROP_N);
	CU_ASSERT_EQUAL(p.errors, 0);
	if (p.errors != 0)
		fprintf(stderr, "twheel property failed: tick %u slots %u "
		    "seed %" PRIu64 " errors %lu\n", tick, slots, seed, p.errors);
	twheel_free(p.w);
	free(p.t);
}

static void
test_random_timers_fire_once_in_first_tick_at_or_after_due(void)
{
	static const uint32_t geom[][2] = {
		{ 1, 8 }, { 100, 512 }, { 7, 64 }, { 3, 1 }, { 2, 4096 },
	};
	const char *env = getenv("TWHEEL_SEED");
	uint64_t seed;
	size_t g;

	if (env != NULL)
		seed = strtoull(env, NULL, 0);
	else
		seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	printf("\n    twheel property seed %" PRIu64
	    " (TWHEEL_SEED=%" PRIu64 " to replay) ", seed, seed);
	fflush(stdout);
	for (g = 0; g < sizeof(geom) / sizeof(geom[0]); g++)
		prop_run(geom[g][0], geom[g][1], seed + g);
}

/*
 * Every allocation of twheel_create failing in turn: NULL with ENOMEM,
 * never a crash (a failed bitmap used to make it walk bucket heads that
 * were zeroed, not yet lists).
 */
static void
test_create_survives_each_allocation_failing(void)
{
	for (long k = 1; k <= 3; k++) {
		struct twheel *w;

		errno = 0;
		sockserv_alloc_fail = k;
		w = twheel_create(100, 64, 0);
		sockserv_alloc_fail = 0;
		CU_ASSERT_PTR_NULL(w);
		CU_ASSERT_EQUAL(errno, ENOMEM);
		twheel_free(w);
	}
	/* and the next one works */
	sockserv_alloc_fail = 4;
	{
		struct twheel *w = twheel_create(100, 64, 0);
		CU_ASSERT_PTR_NOT_NULL(w);
		twheel_free(w);
	}
	sockserv_alloc_fail = 0;
}

#define ADD(f) CU_add_test(s, #f, f)

void
test_twheel_register(void)
{
	CU_pSuite s;

	if ((s = CU_add_suite("twheel", NULL, NULL)) == NULL)
		return;
	ADD(test_timer_fires_in_first_tick_at_or_after_due);
	ADD(test_due_in_past_fires_on_next_advance_reaching_next_boundary);
	ADD(test_advance_backwards_or_before_origin_fires_nothing);
	ADD(test_restarted_timer_never_fires_for_old_time);
	ADD(test_stopped_timer_never_fires);
	ADD(test_timers_beyond_one_revolution_fire_on_time);
	ADD(test_same_tick_timers_fire_in_start_order);
	ADD(test_next_timeout_is_next_nonempty_tick);
	ADD(test_next_timeout_scans_across_bitmap_words);
	ADD(test_empty_wheel_next_timeout_is_minus_one);
	ADD(test_count_tracks_armed_timers);
	ADD(test_create_rejects_bad_geometry);
	ADD(test_one_slot_wheel_still_fires_on_time);
	ADD(test_free_disarms_nodes);
	ADD(test_callback_may_rearm_and_stop_others);
	ADD(test_timer_rearmed_for_run_tick_fires_at_next_tick);
	ADD(test_large_time_jump_fires_everything_once);
	ADD(test_random_timers_fire_once_in_first_tick_at_or_after_due);
	ADD(test_create_survives_each_allocation_failing);
}
