/*
 * slotctl: the down-slots bitmap and the control pipe's reader, over a
 * real non-blocking pipe.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "slotctl.h"

static void
test_bitmap_sets_and_clears_single_slots(void)
{
	struct slotctl_msg a, b;
	const int slots[] = { 0, 1, 63, 64, 127, STATS_MAX_WORKERS - 1 };

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		slotctl_set(&a, slots[i], 1);
		CU_ASSERT(slotctl_is_down(&a, slots[i]));
		CU_ASSERT(!slotctl_equal(&a, &b));
		/* its neighbours are untouched */
		if (slots[i] > 0 && slots[i] != 1 && slots[i] != 64)
			CU_ASSERT(!slotctl_is_down(&a, slots[i] - 1));
		slotctl_set(&a, slots[i], 0);
		CU_ASSERT(!slotctl_is_down(&a, slots[i]));
		CU_ASSERT(slotctl_equal(&a, &b));
	}
}

static void
nb_pipe(int p[2])
{
	CU_ASSERT_FATAL(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
}

static void
test_reader_keeps_the_latest_of_several_messages(void)
{
	struct slotctl_reader r;
	struct slotctl_msg m, got;
	int p[2];

	nb_pipe(p);
	memset(&r, 0, sizeof(r));
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), 0);
	/* more messages than one read takes: the loop drains them all */
	for (int s = 0; s < 20; s++) {
		memset(&m, 0, sizeof(m));
		slotctl_set(&m, s, 1);
		CU_ASSERT_EQUAL(slotctl_send(p[1], &m), 0);
	}
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), SLOTCTL_GOT);
	CU_ASSERT(slotctl_equal(&got, &m));
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), 0);
	close(p[0]);
	close(p[1]);
}

static void
test_reader_waits_for_the_rest_of_a_split_message(void)
{
	struct slotctl_reader r;
	struct slotctl_msg m, got, before;
	size_t half = sizeof(m) / 2 + 3;
	int p[2];

	nb_pipe(p);
	memset(&r, 0, sizeof(r));
	memset(&m, 0, sizeof(m));
	slotctl_set(&m, 70, 1);
	memset(&got, 0xff, sizeof(got));
	before = got;
	CU_ASSERT_EQUAL(write(p[1], &m, half), (ssize_t)half);
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), 0);
	CU_ASSERT(slotctl_equal(&got, &before));
	CU_ASSERT_EQUAL(write(p[1], (char *)&m + half, sizeof(m) - half),
	    (ssize_t)(sizeof(m) - half));
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), SLOTCTL_GOT);
	CU_ASSERT(slotctl_equal(&got, &m));
	close(p[0]);
	close(p[1]);
}

static void
test_reader_reports_the_writer_gone(void)
{
	struct slotctl_reader r;
	struct slotctl_msg m, got;
	int p[2];

	nb_pipe(p);
	memset(&r, 0, sizeof(r));
	memset(&m, 0, sizeof(m));
	slotctl_set(&m, 3, 1);
	CU_ASSERT_EQUAL(slotctl_send(p[1], &m), 0);
	close(p[1]);
	/* the last message still counts, and the end is seen in the same call */
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), SLOTCTL_GOT | SLOTCTL_CLOSED);
	CU_ASSERT(slotctl_is_down(&got, 3));
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), SLOTCTL_CLOSED);
	close(p[0]);
}

static void
test_send_to_a_full_pipe_fails_with_eagain_and_writes_nothing(void)
{
	struct slotctl_reader r;
	struct slotctl_msg m, got;
	int p[2], n = 0;

	nb_pipe(p);
	memset(&r, 0, sizeof(r));
	memset(&m, 0, sizeof(m));
	while (slotctl_send(p[1], &m) == 0)
		n++;
	CU_ASSERT(errno == EAGAIN);
	CU_ASSERT(n > 0);
	/* only whole messages went in: the reader ends on a boundary */
	CU_ASSERT_EQUAL(slotctl_read(p[0], &r, &got), SLOTCTL_GOT);
	CU_ASSERT_EQUAL(r.have, 0);
	close(p[0]);
	close(p[1]);
}

void test_slotctl_register(void);

void
test_slotctl_register(void)
{
	CU_pSuite s = CU_add_suite("slotctl", NULL, NULL);

	CU_add_test(s, "test_bitmap_sets_and_clears_single_slots",
	    test_bitmap_sets_and_clears_single_slots);
	CU_add_test(s, "test_reader_keeps_the_latest_of_several_messages",
	    test_reader_keeps_the_latest_of_several_messages);
	CU_add_test(s, "test_reader_waits_for_the_rest_of_a_split_message",
	    test_reader_waits_for_the_rest_of_a_split_message);
	CU_add_test(s, "test_reader_reports_the_writer_gone", test_reader_reports_the_writer_gone);
	CU_add_test(s, "test_send_to_a_full_pipe_fails_with_eagain_and_writes_nothing",
	    test_send_to_a_full_pipe_fails_with_eagain_and_writes_nothing);
}
