/*
 * buffer: on-demand allocation, growth, compaction and freeing when drained.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "alloc.h"
#include "buffer.h"

/*
 * The unit tests' allocation-failure switch (see alloc.h): defined once for
 * the whole test program, here beside the module that allocates most.
 */
long sockserv_alloc_fail;

static void
test_buffer_exists_only_while_data_is_pending(void)
{
	struct buffer *b = NULL;

	CU_ASSERT_EQUAL(buffer_len(b), 0);
	CU_ASSERT_EQUAL(buffer_append(&b, "hello", 5), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(buffer_len(b), 5);
	buffer_consume(&b, 2);
	CU_ASSERT_EQUAL(buffer_len(b), 3);
	CU_ASSERT_EQUAL(memcmp(buffer_head(b), "llo", 3), 0);
	buffer_consume(&b, 3);
	CU_ASSERT_PTR_NULL(b);
}

static void
test_buffer_grows_and_keeps_order(void)
{
	struct buffer *b = NULL;
	uint8_t chunk[1000], out[100000];
	size_t total = 0;

	for (int i = 0; i < 100; i++) {
		memset(chunk, i, sizeof(chunk));
		CU_ASSERT_EQUAL_FATAL(buffer_append(&b, chunk, sizeof(chunk)), 0);
		total += sizeof(chunk);
		if (i % 10 == 9) {
			/* consume from the front as a writer would */
			memcpy(out, buffer_head(b), 500);
			CU_ASSERT_EQUAL(out[0], buffer_head(b)[0]);
			buffer_consume(&b, 500);
			total -= 500;
		}
	}
	CU_ASSERT_EQUAL(buffer_len(b), total);
	/* the last byte is the last chunk's */
	CU_ASSERT_EQUAL(buffer_head(b)[buffer_len(b) - 1], 99);
	buffer_free(&b);
	CU_ASSERT_PTR_NULL(b);
}

static void
test_reserve_compacts_before_growing(void)
{
	struct buffer *b = NULL;
	size_t cap;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buffer_reserve(&b, 1024));
	cap = b->cap;
	memset(buffer_tail(b), 'a', cap);
	buffer_commit(b, cap);
	buffer_consume(&b, cap - 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buffer_reserve(&b, cap - 20));
	/* room came from moving the 10 bytes to the front, not from realloc */
	CU_ASSERT_EQUAL(b->cap, cap);
	CU_ASSERT_EQUAL(b->off, 0);
	CU_ASSERT_EQUAL(b->len, 10);
	CU_ASSERT(buffer_space(b) >= cap - 20);
	buffer_free(&b);
}

static void
test_clear_keeps_memory_and_commit_adds_read_bytes(void)
{
	struct buffer *b = NULL;
	size_t cap;

	buffer_clear(b);	/* no buffer: nothing to do */
	CU_ASSERT_EQUAL_FATAL(buffer_append(&b, "abcdef", 6), 0);
	buffer_consume(&b, 2);
	cap = b->cap;
	buffer_clear(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(buffer_len(b), 0);
	CU_ASSERT_EQUAL(buffer_space(b), cap);
	memcpy(buffer_tail(b), "xyz", 3);
	buffer_commit(b, 3);
	CU_ASSERT_EQUAL(buffer_len(b), 3);
	CU_ASSERT(memcmp(buffer_head(b), "xyz", 3) == 0);
	buffer_free(&b);
}

/* the footprint a reservation will have is the one it gets: budgets check before they grow */
static void
test_reserve_footprint_predicts_growth(void)
{
	struct buffer *b = NULL;
	size_t more[] = { 10, 600, 600, 5000, 1, 100000 };

	CU_ASSERT_EQUAL(buffer_footprint(b), 0);
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		size_t want = buffer_reserve_footprint(b, more[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(buffer_reserve(&b, more[i]));
		CU_ASSERT_EQUAL(buffer_footprint(b), want);
		memset(buffer_tail(b), 'f', more[i]);
		buffer_commit(b, more[i]);
	}
	/* doubling, not exact fit: a buffer filled bit by bit is not copied per byte */
	CU_ASSERT(b->cap >= 2 * 600);
	buffer_free(&b);
}

static void
test_failed_growth_keeps_the_data(void)
{
	struct buffer *b = NULL;

	CU_ASSERT_EQUAL_FATAL(buffer_append(&b, "keep", 4), 0);
	sockserv_alloc_fail = 1;
	CU_ASSERT_EQUAL(buffer_append(&b, NULL, 1 << 20), -1);
	sockserv_alloc_fail = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(buffer_len(b), 4);
	CU_ASSERT(memcmp(buffer_head(b), "keep", 4) == 0);
	buffer_free(&b);
	sockserv_alloc_fail = 1;
	CU_ASSERT_EQUAL(buffer_append(&b, "x", 1), -1);
	sockserv_alloc_fail = 0;
	CU_ASSERT_PTR_NULL(b);
}

void test_buffer_register(void);

void
test_buffer_register(void)
{
	CU_pSuite s = CU_add_suite("buffer", NULL, NULL);

	CU_add_test(s, "test_buffer_exists_only_while_data_is_pending",
	    test_buffer_exists_only_while_data_is_pending);
	CU_add_test(s, "test_buffer_grows_and_keeps_order", test_buffer_grows_and_keeps_order);
	CU_add_test(s, "test_reserve_compacts_before_growing", test_reserve_compacts_before_growing);
	CU_add_test(s, "test_clear_keeps_memory_and_commit_adds_read_bytes",
	    test_clear_keeps_memory_and_commit_adds_read_bytes);
	CU_add_test(s, "test_reserve_footprint_predicts_growth", test_reserve_footprint_predicts_growth);
	CU_add_test(s, "test_failed_growth_keeps_the_data", test_failed_growth_keeps_the_data);
}
