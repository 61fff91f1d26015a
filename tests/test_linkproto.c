/*
 * linkproto: the backend link's framing, byte for byte as sockserv-backend(7)
 * shows it.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "linkproto.h"

static void
test_header_is_the_documented_bytes(void)
{
	uint8_t hdr[LINK_HDR_LEN];
	static const uint8_t want[LINK_HDR_LEN] = {
		0x53, 0x42, 0x01, 0x03, 0x00, 0x00, 0x00, 0x05,
		0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
		0x00, 0x00, 0x00, 0x07,
	};

	linkproto_header(hdr, LINK_MSG, 5, (1ULL << 48) | 42, 7);
	CU_ASSERT(memcmp(hdr, want, sizeof(want)) == 0);
}

static void
test_decode_waits_for_the_whole_message_then_gives_every_field(void)
{
	uint8_t buf[LINK_HDR_LEN + 5];
	struct link_msg m;
	const char *why = NULL;

	linkproto_header(buf, LINK_SEND, 5, 0x0102030405060708ULL, 0xfffffffe);
	memcpy(buf + LINK_HDR_LEN, "hello", 5);
	for (size_t cut = 0; cut < sizeof(buf); cut++)
		CU_ASSERT_EQUAL(linkproto_decode(buf, cut, 1024, &m, &why), LINK_NEED_MORE);
	CU_ASSERT_EQUAL_FATAL(linkproto_decode(buf, sizeof(buf), 1024, &m, &why), LINK_GOT);
	CU_ASSERT_EQUAL(m.type, LINK_SEND);
	CU_ASSERT_EQUAL(m.id, 0x0102030405060708ULL);
	CU_ASSERT_EQUAL(m.seq, 0xfffffffe);
	CU_ASSERT_EQUAL(m.len, 5);
	CU_ASSERT(memcmp(m.payload, "hello", 5) == 0);
	CU_ASSERT_EQUAL(m.consumed, sizeof(buf));
}

static void
test_decode_refuses_bad_magic_version_and_size_from_the_header_alone(void)
{
	uint8_t buf[LINK_HDR_LEN];
	struct link_msg m;
	const char *why = NULL;

	linkproto_header(buf, LINK_MSG, 2000, 1, 1);
	CU_ASSERT_EQUAL(linkproto_decode(buf, 8, 1024, &m, &why), LINK_BAD);
	CU_ASSERT_STRING_EQUAL(why, "message too large");
	CU_ASSERT_EQUAL(linkproto_decode(buf, 8, 2000, &m, &why), LINK_NEED_MORE);
	buf[1] = 'S';
	CU_ASSERT_EQUAL(linkproto_decode(buf, 2, 2000, &m, &why), LINK_BAD);
	CU_ASSERT_STRING_EQUAL(why, "bad magic");
	buf[1] = LINK_MAGIC1;
	buf[2] = 2;
	CU_ASSERT_EQUAL(linkproto_decode(buf, 3, 2000, &m, &why), LINK_BAD);
	CU_ASSERT_STRING_EQUAL(why, "unsupported version");
}

static void
test_payload_integers_are_big_endian(void)
{
	uint8_t b[8];

	linkproto_put64(b, 0x1122334455667788ULL);
	CU_ASSERT(b[0] == 0x11 && b[7] == 0x88);
	CU_ASSERT_EQUAL(linkproto_get64(b), 0x1122334455667788ULL);
	linkproto_put16(b, 0xabcd);
	CU_ASSERT(b[0] == 0xab && b[1] == 0xcd);
	CU_ASSERT_EQUAL(linkproto_get16(b), 0xabcd);
}

void test_linkproto_register(void);

void
test_linkproto_register(void)
{
	CU_pSuite s = CU_add_suite("linkproto", NULL, NULL);

	CU_add_test(s, "test_header_is_the_documented_bytes", test_header_is_the_documented_bytes);
	CU_add_test(s, "test_decode_waits_for_the_whole_message_then_gives_every_field",
	    test_decode_waits_for_the_whole_message_then_gives_every_field);
	CU_add_test(s, "test_decode_refuses_bad_magic_version_and_size_from_the_header_alone",
	    test_decode_refuses_bad_magic_version_and_size_from_the_header_alone);
	CU_add_test(s, "test_payload_integers_are_big_endian", test_payload_integers_are_big_endian);
}
