/*
 * escape: the printable form of bytes, as the log handler and
 * sockserv-client print it.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "escape.h"

/* in (a literal, NULs and all) escapes to want, and the length says so */
static void
expect_escape(const char *in, size_t len, const char *want)
{
	char out[ESCAPE_SIZE(64)];

	CU_ASSERT_EQUAL(escape_bytes(out, sizeof(out), (const uint8_t *)in, len), strlen(want));
	CU_ASSERT_STRING_EQUAL(out, want);
}

#define EXPECT_ESCAPE(lit, want) expect_escape(lit, sizeof(lit) - 1, want)

static void
test_escape_keeps_printable_ascii(void)
{
	EXPECT_ESCAPE("1This is a test for long conn ~!\"'{}", "1This is a test for long conn ~!\"'{}");
}

static void
test_escape_writes_backslash_and_whitespace_as_c_escapes(void)
{
	EXPECT_ESCAPE("a\\b\nc\rd\te", "a\\\\b\\nc\\rd\\te");
}

static void
test_escape_writes_other_bytes_as_lower_case_hex(void)
{
	/* a log line must not be forged (\0, ESC) nor carry raw UTF-8 or DEL */
	EXPECT_ESCAPE("\x00\x1b[\x7f\xc3\xa9\xff", "\\x00\\x1b[\\x7f\\xc3\\xa9\\xff");
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
