/*
 * buffer: on-demand allocation, growth, compaction and freeing when drained.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "buffer.h"

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
	b->len = cap;
	buffer_consume(&b, cap - 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buffer_reserve(&b, cap - 20));
	/* room came from moving the 10 bytes to the front, not from realloc */
	CU_ASSERT_EQUAL(b->cap, cap);
	CU_ASSERT_EQUAL(b->off, 0);
	CU_ASSERT_EQUAL(b->len, 10);
	CU_ASSERT(buffer_space(b) >= cap - 20);
	buffer_free(&b);
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
}
