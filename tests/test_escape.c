/*
 * escape: the printable form of bytes, as the log handler and
 * sockserv-client print it.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "escape.h"

#define ESC(out, s) escape_bytes(out, sizeof(out), (const uint8_t *)(s), sizeof(s) - 1)

static void
test_escape_keeps_printable_ascii(void)
{
	char out[ESCAPE_SIZE(64)];

	CU_ASSERT_EQUAL(ESC(out, "1This is a test for long conn ~!\"'{}"), 36);
	CU_ASSERT_STRING_EQUAL(out, "1This is a test for long conn ~!\"'{}");
}

static void
test_escape_writes_backslash_and_whitespace_as_c_escapes(void)
{
	char out[ESCAPE_SIZE(16)];

	CU_ASSERT_EQUAL(ESC(out, "a\\b\nc\rd\te"), 13);
	CU_ASSERT_STRING_EQUAL(out, "a\\\\b\\nc\\rd\\te");
}

static void
test_escape_writes_other_bytes_as_lower_case_hex(void)
{
	char out[ESCAPE_SIZE(8)];

	/* a log line must not be forged (\0, ESC) nor carry raw UTF-8 or DEL */
	CU_ASSERT_EQUAL(ESC(out, "\x00\x1b[\x7f\xc3\xa9\xff"), 25);
	CU_ASSERT_STRING_EQUAL(out, "\\x00\\x1b[\\x7f\\xc3\\xa9\\xff");
}

static void
test_escape_of_nothing_is_the_empty_string(void)
{
	char out[4] = "xyz";

	CU_ASSERT_EQUAL(escape_bytes(out, sizeof(out), NULL, 0), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
}

static void
test_escape_size_holds_the_worst_case(void)
{
	uint8_t in[100];
	char out[ESCAPE_SIZE(sizeof(in))];

	memset(in, 0x80, sizeof(in));
	CU_ASSERT_EQUAL(escape_bytes(out, sizeof(out), in, sizeof(in)), sizeof(out) - 1);
	CU_ASSERT_EQUAL(strlen(out), sizeof(out) - 1);
}

static void
test_escape_never_cuts_a_byte_in_half(void)
{
	char out[8];

	/* "ab\\xff" leaves room for 1 more character: "\\xfe" is left out whole */
	CU_ASSERT_EQUAL(escape_bytes(out, sizeof(out), (const uint8_t *)"ab\xff\xfe", 4), 6);
	CU_ASSERT_STRING_EQUAL(out, "ab\\xff");
	/* one byte of room: only printable bytes still fit */
	CU_ASSERT_EQUAL(escape_bytes(out, 2, (const uint8_t *)"\n", 1), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(escape_bytes(out, 2, (const uint8_t *)"zz", 2), 1);
	CU_ASSERT_STRING_EQUAL(out, "z");
	CU_ASSERT_EQUAL(escape_bytes(out, 1, (const uint8_t *)"z", 1), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
}

void test_escape_register(void);

void
test_escape_register(void)
{
	CU_pSuite s = CU_add_suite("escape", NULL, NULL);

	CU_add_test(s, "test_escape_keeps_printable_ascii", test_escape_keeps_printable_ascii);
	CU_add_test(s, "test_escape_writes_backslash_and_whitespace_as_c_escapes",
	    test_escape_writes_backslash_and_whitespace_as_c_escapes);
	CU_add_test(s, "test_escape_writes_other_bytes_as_lower_case_hex",
	    test_escape_writes_other_bytes_as_lower_case_hex);
	CU_add_test(s, "test_escape_of_nothing_is_the_empty_string",
	    test_escape_of_nothing_is_the_empty_string);
	CU_add_test(s, "test_escape_size_holds_the_worst_case",
	    test_escape_size_holds_the_worst_case);
	CU_add_test(s, "test_escape_never_cuts_a_byte_in_half",
	    test_escape_never_cuts_a_byte_in_half);
}
