/*
 * Unit tests for connid: the id layout, block reservation stored before
 * use, the carry-over from a dead process's slot to its successor, and the
 * clamping of what a (less privileged) worker wrote back.
 */
#include <CUnit/CUnit.h>
#include <stdint.h>

#include "connid.h"

void test_connid_register(void);

static void
test_ids_carry_node_slot_and_counter(void)
{
	struct connid_alloc a;
	uint64_t hw = 0, id;

	connid_init(&a, 0xbeef, 3, 0, &hw);
	id = connid_next(&a);
	CU_ASSERT_EQUAL(id >> 48, 0xbeef);
	CU_ASSERT_EQUAL((id >> 40) & 0xff, 3);
	CU_ASSERT_EQUAL(id & (CONNID_COUNTER_END - 1), CONNID_FIRST);
	/* node 0, slot 0 never gives id 0 (the link's own id) */
	connid_init(&a, 0, 0, 0, &hw);
	CU_ASSERT_NOT_EQUAL(connid_next(&a), 0);
}

static void
test_block_is_reserved_before_its_first_id(void)
{
	struct connid_alloc a;
	uint64_t hw = 0, prev = 0, id;

	connid_init(&a, 1, 0, 1, &hw);
	CU_ASSERT_EQUAL(hw, 0);	/* nothing used, nothing reserved */
	id = connid_next(&a);
	CU_ASSERT_EQUAL(hw, 1 + CONNID_BLOCK);
	CU_ASSERT((id & (CONNID_COUNTER_END - 1)) < hw);
	for (uint64_t i = 1; i < CONNID_BLOCK; i++) {
		prev = id;
		id = connid_next(&a);
		CU_ASSERT_FATAL(id == prev + 1);
	}
	CU_ASSERT_EQUAL(hw, 1 + CONNID_BLOCK);	/* one store per block */
	id = connid_next(&a);
	CU_ASSERT_EQUAL(hw, 1 + 2 * CONNID_BLOCK);
	CU_ASSERT((id & (CONNID_COUNTER_END - 1)) < hw);
}

static void
test_successor_starts_past_everything_its_predecessor_reserved(void)
{
	struct connid_alloc a, b;
	uint64_t hw = 0, own = 0, last = 0, first, start;

	/* the first process of the slot, as the master starts it */
	start = connid_carry(own, hw);
	own = start;
	connid_init(&a, 2, 5, start, &hw);
	for (int i = 0; i < 70000; i++)
		last = connid_next(&a);
	/* it dies; the master starts the next one from the slot's mark */
	start = connid_carry(own, hw);
	own = start;
	connid_init(&b, 2, 5, start, &hw);
	first = connid_next(&b);
	CU_ASSERT(first > last);
	/* b reserved a block for its one id: the next starts past that block */
	start = connid_carry(own, hw);
	CU_ASSERT(start > (first & (CONNID_COUNTER_END - 1)));
	/* a process that died before using an id hands on the same start */
	own = start;
	connid_init(&a, 2, 5, start, &hw);
	CU_ASSERT_EQUAL(connid_carry(own, hw), own);
}

static void
test_read_back_is_clamped(void)
{
	struct connid_alloc a;
	uint64_t hw;

	/* a worker that lowered its mark cannot make ids repeat */
	CU_ASSERT_EQUAL(connid_carry(500000, 3), 500000);
	CU_ASSERT_EQUAL(connid_carry(0, 0), CONNID_FIRST);
	/* one that raised it past the end only spends its own slot's ids */
	CU_ASSERT_EQUAL(connid_carry(10, UINT64_MAX), CONNID_COUNTER_END);
	hw = 0;
	connid_init(&a, 1, 1, CONNID_COUNTER_END, &hw);
	CU_ASSERT_EQUAL(connid_next(&a), 0);
	/* the last counters are handed out, then none */
	connid_init(&a, 1, 1, CONNID_COUNTER_END - 2, &hw);
	CU_ASSERT_NOT_EQUAL(connid_next(&a), 0);
	CU_ASSERT_NOT_EQUAL(connid_next(&a), 0);
	CU_ASSERT_EQUAL(hw, CONNID_COUNTER_END);
	CU_ASSERT_EQUAL(connid_next(&a), 0);
	CU_ASSERT_EQUAL(connid_next(&a), 0);
}

void
test_connid_register(void)
{
	CU_pSuite s = CU_add_suite("connid", NULL, NULL);

	if (s == NULL)
		return;
	CU_add_test(s, "test_ids_carry_node_slot_and_counter", test_ids_carry_node_slot_and_counter);
	CU_add_test(s, "test_block_is_reserved_before_its_first_id",
	    test_block_is_reserved_before_its_first_id);
	CU_add_test(s, "test_successor_starts_past_everything_its_predecessor_reserved",
	    test_successor_starts_past_everything_its_predecessor_reserved);
	CU_add_test(s, "test_read_back_is_clamped", test_read_back_is_clamped);
}
