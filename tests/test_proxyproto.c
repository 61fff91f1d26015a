/*
 * proxyproto: the PROXY protocol header (v1 and v2) as a balancer sends
 * it, every way it can be broken or cut, and the proxy_trusted ranges.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

static const uint8_t SIG[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static enum proxyproto_status
parse(const void *buf, size_t len, struct proxyproto_hdr *h)
{
	return proxyproto_parse(buf, len, h);
}

static enum proxyproto_status
parse_str(const char *s, struct proxyproto_hdr *h)
{
	return proxyproto_parse((const uint8_t *)s, strlen(s), h);
}

/* every proper prefix of buf[0..len) waits for more; all of it gives want */
static void
expect_prefixes_need_more(const uint8_t *buf, size_t len, enum proxyproto_status want)
{
	struct proxyproto_hdr h;

	for (size_t i = 0; i < len; i++) {
		if (parse(buf, i, &h) != PROXYPROTO_NEED_MORE) {
			CU_FAIL("a prefix of a header was not NEED_MORE");
			fprintf(stderr, "prefix of %zu of %zu bytes: not NEED_MORE (%s)\n", i, len,
			    h.err ? h.err : "");
			return;
		}
	}
	CU_ASSERT_EQUAL(parse(buf, len, &h), want);
}

static void
expect_error(const char *line)
{
	struct proxyproto_hdr h;

	if (parse_str(line, &h) != PROXYPROTO_ERROR) {
		CU_FAIL("a malformed v1 line was accepted");
		fprintf(stderr, "accepted: %s\n", line);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(h.err);
}

/* v2: the 16 fixed bytes and the given block into out; returns the length */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *block, size_t blen)
{
	memcpy(out, SIG, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, block, blen);
	return 16 + blen;
}

static size_t
v2_inet(uint8_t *out, const char *src, const char *dst, uint16_t sp, uint16_t dp,
    const void *tlvs, size_t tlen)
{
	uint8_t b[12 + 1024];

	inet_pton(AF_INET, src, b);
	inet_pton(AF_INET, dst, b + 4);
	b[8] = (uint8_t)(sp >> 8);
	b[9] = (uint8_t)sp;
	b[10] = (uint8_t)(dp >> 8);
	b[11] = (uint8_t)dp;
	if (tlen > 0)
		memcpy(b + 12, tlvs, tlen);
	return v2(out, 0x21, 0x11, b, 12 + tlen);
}

/* ---- v1 ---- */

static void
test_v1_tcp4_gives_the_client_address(void)
{
	const char *hdr = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	struct proxyproto_hdr h;
	uint8_t a[4];

	CU_ASSERT_EQUAL(parse_str(hdr, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, strlen(hdr));
	CU_ASSERT_EQUAL(h.version, 1);
	CU_ASSERT_EQUAL(h.local, 0);
	CU_ASSERT_EQUAL(h.family, AF_INET);
	inet_pton(AF_INET, "192.168.0.1", a);
	CU_ASSERT_EQUAL(memcmp(h.src_addr, a, 4), 0);
	inet_pton(AF_INET, "192.168.0.11", a);
	CU_ASSERT_EQUAL(memcmp(h.dst_addr, a, 4), 0);
	CU_ASSERT_EQUAL(h.src_port, 56324);
	CU_ASSERT_EQUAL(h.dst_port, 443);
}

static void
test_v1_tcp6_gives_the_client_address(void)
{
	const char *hdr = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	struct proxyproto_hdr h;
	uint8_t a[16];

	CU_ASSERT_EQUAL(parse_str(hdr, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, strlen(hdr));
	CU_ASSERT_EQUAL(h.family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::1", a);
	CU_ASSERT_EQUAL(memcmp(h.src_addr, a, 16), 0);
	inet_pton(AF_INET6, "::1", a);
	CU_ASSERT_EQUAL(memcmp(h.dst_addr, a, 16), 0);
	CU_ASSERT_EQUAL(h.src_port, 65535);
	CU_ASSERT_EQUAL(h.dst_port, 0);
}

static void
test_v1_bytes_after_the_header_are_not_part_of_it(void)
{
	const char *hdr = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
	char buf[128];
	struct proxyproto_hdr h;

	/* a frame, and bytes that would be bad inside a header (CR, LF, NUL) */
	snprintf(buf, sizeof(buf), "%sSS\x01\x01\r\n", hdr);
	CU_ASSERT_EQUAL(parse(buf, strlen(buf) + 1, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, strlen(hdr));
}

static void
test_v1_unknown_keeps_the_real_address_whatever_follows(void)
{
	struct proxyproto_hdr h;
	const char *longest = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

	CU_ASSERT_EQUAL(parse_str("PROXY UNKNOWN\r\n", &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, 15);
	CU_ASSERT_EQUAL(h.local, 1);
	CU_ASSERT_EQUAL(h.family, AF_UNSPEC);
	/* "the receiver must ignore anything presented before the CRLF" */
	CU_ASSERT_EQUAL(parse_str("PROXY UNKNOWN junk 999.1 x y z\r\n", &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.local, 1);
	/* the specification's worst case: 107 bytes */
	CU_ASSERT_EQUAL(strlen(longest), PROXYPROTO_V1_MAX);
	CU_ASSERT_EQUAL(parse_str(longest, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, PROXYPROTO_V1_MAX);
	expect_error("PROXY UNKNOWNX\r\n");
}

static void
test_v1_every_prefix_needs_more(void)
{
	const char *hdrs[] = {
		"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::1 1 2\r\n",
		"PROXY UNKNOWN\r\n",
	};

	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		expect_prefixes_need_more((const uint8_t *)hdrs[i], strlen(hdrs[i]),
		    PROXYPROTO_DONE);
}

static void
test_v1_without_crlf_in_107_bytes_is_an_error(void)
{
	char buf[200];
	struct proxyproto_hdr h;

	/* no CR by byte 106: the CRLF could only end past byte 107 */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	CU_ASSERT_EQUAL(parse(buf, PROXYPROTO_V1_MAX - 2, &h), PROXYPROTO_NEED_MORE);
	CU_ASSERT_EQUAL(parse(buf, PROXYPROTO_V1_MAX - 1, &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse(buf, sizeof(buf), &h), PROXYPROTO_ERROR);
	/* a CRLF ending at byte 108 is one byte too far */
	buf[PROXYPROTO_V1_MAX - 1] = '\r';
	buf[PROXYPROTO_V1_MAX] = '\n';
	CU_ASSERT_EQUAL(parse(buf, PROXYPROTO_V1_MAX + 1, &h), PROXYPROTO_ERROR);
	/* ending at byte 107 is fine */
	buf[PROXYPROTO_V1_MAX - 2] = '\r';
	buf[PROXYPROTO_V1_MAX - 1] = '\n';
	CU_ASSERT_EQUAL(parse(buf, PROXYPROTO_V1_MAX - 1, &h), PROXYPROTO_NEED_MORE);
	CU_ASSERT_EQUAL(parse(buf, PROXYPROTO_V1_MAX, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, PROXYPROTO_V1_MAX);
}

static void
test_v1_line_ends_only_with_crlf(void)
{
	struct proxyproto_hdr h;

	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx");
	expect_error("PROXY UNKNOWN\n\r\n");
	expect_error("PROXY UNKNOWN a\rb\r\n");
	/* a CR that is the last byte so far waits for its LF */
	CU_ASSERT_EQUAL(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", &h), PROXYPROTO_NEED_MORE);
}

static void
test_v1_bad_signature_is_an_error_at_once(void)
{
	struct proxyproto_hdr h;

	CU_ASSERT_EQUAL(parse_str("PROXX", &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse_str("PR0", &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse_str("PROXY\t", &h), PROXYPROTO_ERROR);
	expect_error("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_error("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	/* neither 'P' nor CR: not a PROXY header (a client speaking directly) */
	CU_ASSERT_EQUAL(parse_str("SS", &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse_str("GET / HTTP/1.0\r\n", &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse("", 0, &h), PROXYPROTO_NEED_MORE);
}

static void
test_v1_fields_are_exactly_four_single_spaced(void)
{
	expect_error("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4\r\n");
	expect_error("PROXY TCP4 \r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
	expect_error("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");
	expect_error("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n");
}

static void
test_v1_bad_addresses_are_errors(void)
{
	/* octal-looking, out of range, short, long, signs, the wrong family, a NUL */
	expect_error("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.00 1 2\r\n");
	expect_error("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 +1.2.3.4 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 1.2.3.1234 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP4 ::1 5.6.7.8 1 2\r\n");
	expect_error("PROXY TCP6 1.2.3.4 ::1 1 2\r\n");
	expect_error("PROXY TCP6 ::1 1.2.3.4 1 2\r\n");
	expect_error("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n");
	expect_error("PROXY TCP6 ::g ::1 1 2\r\n");
	expect_error("PROXY TCP6 1::2::3 ::1 1 2\r\n");

	struct proxyproto_hdr h;
	char nul[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
	nul[13] = '\0';
	CU_ASSERT_EQUAL(parse(nul, sizeof(nul) - 1, &h), PROXYPROTO_ERROR);
}

static void
test_v1_bad_ports_are_errors(void)
{
	struct proxyproto_hdr h;

	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n");
	expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n");
	CU_ASSERT_EQUAL(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n", &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.src_port, 0);
	CU_ASSERT_EQUAL(h.dst_port, 65535);
}

/* ---- v2 ---- */

static void
test_v2_inet_gives_the_client_address(void)
{
	uint8_t buf[64];
	size_t n = v2_inet(buf, "203.0.113.7", "10.0.0.1", 40000, 7000, NULL, 0);
	struct proxyproto_hdr h;
	uint8_t a[4];

	CU_ASSERT_EQUAL(n, 28);
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, 28);
	CU_ASSERT_EQUAL(h.version, 2);
	CU_ASSERT_EQUAL(h.local, 0);
	CU_ASSERT_EQUAL(h.family, AF_INET);
	inet_pton(AF_INET, "203.0.113.7", a);
	CU_ASSERT_EQUAL(memcmp(h.src_addr, a, 4), 0);
	inet_pton(AF_INET, "10.0.0.1", a);
	CU_ASSERT_EQUAL(memcmp(h.dst_addr, a, 4), 0);
	CU_ASSERT_EQUAL(h.src_port, 40000);
	CU_ASSERT_EQUAL(h.dst_port, 7000);
	expect_prefixes_need_more(buf, n, PROXYPROTO_DONE);
}

static void
test_v2_inet6_gives_the_client_address(void)
{
	uint8_t block[36], buf[64];
	struct proxyproto_hdr h;
	size_t n;

	inet_pton(AF_INET6, "2001:db8::42", block);
	inet_pton(AF_INET6, "fd00::1", block + 16);
	memcpy(block + 32, "\x12\x34\x00\x50", 4);
	n = v2(buf, 0x21, 0x21, block, sizeof(block));
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, 52);
	CU_ASSERT_EQUAL(h.family, AF_INET6);
	CU_ASSERT_EQUAL(memcmp(h.src_addr, block, 16), 0);
	CU_ASSERT_EQUAL(memcmp(h.dst_addr, block + 16, 16), 0);
	CU_ASSERT_EQUAL(h.src_port, 0x1234);
	CU_ASSERT_EQUAL(h.dst_port, 80);
	expect_prefixes_need_more(buf, n, PROXYPROTO_DONE);
}

static void
test_v2_tlvs_are_skipped_within_the_length(void)
{
	/* NOOP (3 bytes of value), UNIQUE_ID (empty), AUTHORITY "example" */
	static const uint8_t tlvs[] = {
		0x04, 0x00, 0x03, 1, 2, 3,
		0x05, 0x00, 0x00,
		0x02, 0x00, 0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
	};
	uint8_t buf[128];
	size_t n = v2_inet(buf, "1.2.3.4", "5.6.7.8", 1, 2, tlvs, sizeof(tlvs));
	struct proxyproto_hdr h;

	/* and the client's first frame right behind */
	memcpy(buf + n, "SS\x01\x01\x00\x00\x00\x00", 8);
	CU_ASSERT_EQUAL(parse(buf, n + 8, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, n);
	CU_ASSERT_EQUAL(h.src_port, 1);
	expect_prefixes_need_more(buf, n, PROXYPROTO_DONE);
}

static void
test_v2_tlv_past_the_length_is_an_error(void)
{
	static const uint8_t over[] = { 0x04, 0x00, 0x04, 1, 2, 3 };	/* says 4, has 3 */
	static const uint8_t cut[] = { 0x04, 0x00, 0x00, 0x04, 0x00 };	/* a 2-byte TLV head */
	uint8_t buf[128];
	struct proxyproto_hdr h;
	size_t n;

	n = v2_inet(buf, "1.2.3.4", "5.6.7.8", 1, 2, over, sizeof(over));
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_ERROR);
	n = v2_inet(buf, "1.2.3.4", "5.6.7.8", 1, 2, cut, sizeof(cut));
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_ERROR);
}

static void
test_v2_local_is_accepted_whatever_its_address_block(void)
{
	static const uint8_t junk[] = "any bytes at all: \xff\x00\r\n";
	uint8_t buf[64];
	struct proxyproto_hdr h;
	size_t n;

	/* HAProxy's health check: LOCAL, UNSPEC, no block */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, 16);
	CU_ASSERT_EQUAL(h.local, 1);
	CU_ASSERT_EQUAL(h.family, AF_UNSPEC);
	/* a block that is neither addresses nor TLVs, and a family byte that is no family */
	n = v2(buf, 0x20, 0xff, junk, sizeof(junk));
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, 16 + sizeof(junk));
	CU_ASSERT_EQUAL(h.local, 1);
	expect_prefixes_need_more(buf, n, PROXYPROTO_DONE);
	/* an INET block too short for addresses: ignored all the same */
	n = v2(buf, 0x20, 0x11, junk, 3);
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.local, 1);
}

static void
test_v2_proxy_of_other_families_keeps_the_real_address(void)
{
	uint8_t block[216 + 8], buf[300];
	struct proxyproto_hdr h;
	size_t n;

	memset(block, 0x41, sizeof(block));
	/* UNSPEC with or without a block, UDP over IPv4 and IPv6, AF_UNIX stream and dgram */
	static const struct { uint8_t fam; size_t len; } ok[] = {
		{ 0x00, 0 }, { 0x00, 7 }, { 0x10, 0 }, { 0x01, 5 }, { 0x12, 12 }, { 0x22, 36 },
		{ 0x31, 216 }, { 0x32, 216 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = v2(buf, 0x21, ok[i].fam, block, ok[i].len);
		CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
		CU_ASSERT_EQUAL(h.len, n);
		CU_ASSERT_EQUAL(h.local, 1);
		CU_ASSERT_EQUAL(h.family, AF_UNSPEC);
	}
}

static void
test_v2_bad_signature_is_an_error_at_that_byte(void)
{
	uint8_t buf[64];
	size_t n = v2_inet(buf, "1.2.3.4", "5.6.7.8", 1, 2, NULL, 0);
	struct proxyproto_hdr h;

	for (size_t i = 1; i < 12; i++) {
		uint8_t bad[64];

		memcpy(bad, buf, n);
		bad[i] ^= 0x20;
		CU_ASSERT_EQUAL(parse(bad, i, &h), PROXYPROTO_NEED_MORE);
		CU_ASSERT_EQUAL(parse(bad, i + 1, &h), PROXYPROTO_ERROR);
		CU_ASSERT_EQUAL(parse(bad, n, &h), PROXYPROTO_ERROR);
	}
}

static void
test_v2_bad_version_or_command_is_an_error(void)
{
	static const uint8_t bad[] = { 0x11, 0x01, 0x31, 0xf1, 0x00, 0x22, 0x2f };
	uint8_t buf[64];
	struct proxyproto_hdr h;

	for (size_t i = 0; i < sizeof(bad); i++) {
		size_t n = v2_inet(buf, "1.2.3.4", "5.6.7.8", 1, 2, NULL, 0);

		buf[12] = bad[i];
		/* known bad as soon as byte 13 arrives */
		CU_ASSERT_EQUAL(parse(buf, 13, &h), PROXYPROTO_ERROR);
		CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_ERROR);
	}
}

static void
test_v2_bad_family_is_an_error(void)
{
	/* address family above AF_UNIX, transport above DGRAM */
	static const uint8_t bad[] = { 0x41, 0xf1, 0x13, 0x1f, 0x03 };
	uint8_t block[216], buf[300];
	struct proxyproto_hdr h;

	memset(block, 0, sizeof(block));
	for (size_t i = 0; i < sizeof(bad); i++) {
		size_t n = v2(buf, 0x21, bad[i], block, sizeof(block));

		CU_ASSERT_EQUAL(parse(buf, 14, &h), PROXYPROTO_ERROR);
		CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_ERROR);
	}
}

static void
test_v2_length_short_of_the_addresses_is_an_error(void)
{
	uint8_t block[216], buf[300];
	struct proxyproto_hdr h;

	memset(block, 0, sizeof(block));
	CU_ASSERT_EQUAL(parse(buf, v2(buf, 0x21, 0x11, block, 11), &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse(buf, v2(buf, 0x21, 0x11, block, 0), &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse(buf, v2(buf, 0x21, 0x21, block, 35), &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse(buf, v2(buf, 0x21, 0x12, block, 11), &h), PROXYPROTO_ERROR);
	CU_ASSERT_EQUAL(parse(buf, v2(buf, 0x21, 0x31, block, 215), &h), PROXYPROTO_ERROR);
	/* known as soon as the length is read */
	v2(buf, 0x21, 0x21, block, 35);
	CU_ASSERT_EQUAL(parse(buf, 16, &h), PROXYPROTO_ERROR);
}

static void
test_v2_length_over_the_bound_is_an_error_at_once(void)
{
	static uint8_t buf[PROXYPROTO_MAX + 64], tlv[PROXYPROTO_MAX];
	struct proxyproto_hdr h;
	size_t tl = PROXYPROTO_MAX - 16 - 12, n;

	/* the longest accepted: one NOOP TLV filling the rest */
	memset(tlv, 0, sizeof(tlv));
	tlv[0] = 0x04;
	tlv[1] = (uint8_t)((tl - 3) >> 8);
	tlv[2] = (uint8_t)(tl - 3);
	n = v2_inet(buf, "1.2.3.4", "5.6.7.8", 1, 2, tlv, tl);
	CU_ASSERT_EQUAL(n, PROXYPROTO_MAX);
	CU_ASSERT_EQUAL(parse(buf, n - 1, &h), PROXYPROTO_NEED_MORE);
	CU_ASSERT_EQUAL(parse(buf, n, &h), PROXYPROTO_DONE);
	CU_ASSERT_EQUAL(h.len, PROXYPROTO_MAX);
	/* one byte more, refused from its 16 fixed bytes */
	buf[15]++;
	CU_ASSERT_EQUAL(parse(buf, 16, &h), PROXYPROTO_ERROR);
	/* the largest the field can say, LOCAL or not */
	buf[14] = buf[15] = 0xff;
	CU_ASSERT_EQUAL(parse(buf, 16, &h), PROXYPROTO_ERROR);
	buf[12] = 0x20;
	CU_ASSERT_EQUAL(parse(buf, 16, &h), PROXYPROTO_ERROR);
}

static void
test_v2_every_prefix_of_a_long_header_needs_more(void)
{
	uint8_t block[200], buf[300];
	size_t n;

	memset(block, 0x5a, sizeof(block));
	n = v2(buf, 0x20, 0x00, block, sizeof(block));
	expect_prefixes_need_more(buf, n, PROXYPROTO_DONE);
}

/* ---- proxy_trusted ---- */

static struct proxyproto_net
net(const char *s)
{
	struct proxyproto_net n;
	const char *why = NULL;

	CU_ASSERT_EQUAL(proxyproto_net_parse(s, &n, &why), 0);
	if (why != NULL)
		fprintf(stderr, "%s: %s\n", s, why);
	return n;
}

static int
match(const char *range, const char *addr)
{
	struct proxyproto_net n = net(range);
	uint8_t a[16];

	if (inet_pton(AF_INET, addr, a) == 1)
		return proxyproto_net_match(&n, a, 0);
	CU_ASSERT_FATAL(inet_pton(AF_INET6, addr, a) == 1);
	return proxyproto_net_match(&n, a, 1);
}

static void
test_trusted_entries_parse(void)
{
	struct proxyproto_net n;

	n = net("127.0.0.1");
	CU_ASSERT_EQUAL(n.v6, 0);
	CU_ASSERT_EQUAL(n.prefix, 32);
	n = net("10.0.0.0/8");
	CU_ASSERT_EQUAL(n.prefix, 8);
	CU_ASSERT_EQUAL(n.addr[0], 10);
	n = net("::1");
	CU_ASSERT_EQUAL(n.v6, 1);
	CU_ASSERT_EQUAL(n.prefix, 128);
	n = net("fd00::/8");
	CU_ASSERT_EQUAL(n.prefix, 8);
	n = net("0.0.0.0/0");
	CU_ASSERT_EQUAL(n.prefix, 0);
	n = net("::/0");
	CU_ASSERT_EQUAL(n.prefix, 0);
	/* an IPv4-mapped range is kept as the IPv4 one */
	n = net("::ffff:10.0.0.0/104");
	CU_ASSERT_EQUAL(n.v6, 0);
	CU_ASSERT_EQUAL(n.prefix, 8);
}

static void
test_trusted_bad_entries_are_refused(void)
{
	static const char *const bad[] = {
		"", "10.0.0", "010.0.0.1", "10.0.0.256", "1.2.3.4 ", " 1.2.3.4", "host.example",
		"10.0.0.0/", "/8", "10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/+8",
		"10.0.0.0/8/8", "10.0.0.0/8 ", "10.0.0.1/8", "fd00::1/8", "::/129", "::/1000",
		"1:2:3:4:5:6:7:8:9", "fd00::/", "*", "localhost", "1.2.3.4/32x",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proxyproto_net n;
		const char *why = NULL;

		if (proxyproto_net_parse(bad[i], &n, &why) != -1) {
			CU_FAIL("a bad proxy_trusted entry was accepted");
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		} else {
			CU_ASSERT_PTR_NOT_NULL(why);
		}
	}
}

static void
test_trusted_match_by_prefix(void)
{
	CU_ASSERT_TRUE(match("127.0.0.1", "127.0.0.1"));
	CU_ASSERT_FALSE(match("127.0.0.1", "127.0.0.2"));
	CU_ASSERT_TRUE(match("10.0.0.0/8", "10.255.1.2"));
	CU_ASSERT_FALSE(match("10.0.0.0/8", "11.0.0.0"));
	CU_ASSERT_FALSE(match("10.0.0.0/8", "9.255.255.255"));
	/* a prefix inside a byte */
	CU_ASSERT_TRUE(match("10.16.0.0/12", "10.31.255.255"));
	CU_ASSERT_FALSE(match("10.16.0.0/12", "10.32.0.0"));
	CU_ASSERT_FALSE(match("10.16.0.0/12", "10.15.255.255"));
	CU_ASSERT_TRUE(match("0.0.0.0/0", "192.0.2.1"));
	CU_ASSERT_TRUE(match("::1", "::1"));
	CU_ASSERT_FALSE(match("::1", "::2"));
	CU_ASSERT_TRUE(match("fd00::/8", "fd12:3456::1"));
	CU_ASSERT_FALSE(match("fd00::/8", "fe00::1"));
	CU_ASSERT_TRUE(match("2001:db8::/33", "2001:db8:7fff::1"));
	CU_ASSERT_FALSE(match("2001:db8::/33", "2001:db8:8000::1"));
}

static void
test_trusted_families_do_not_mix_but_mapped_ipv4_is_ipv4(void)
{
	CU_ASSERT_FALSE(match("0.0.0.0/0", "::1"));
	CU_ASSERT_FALSE(match("::/0", "127.0.0.1"));
	/* an IPv4 client of a dual-stack ("*") listener */
	CU_ASSERT_TRUE(match("127.0.0.1", "::ffff:127.0.0.1"));
	CU_ASSERT_TRUE(match("10.0.0.0/8", "::ffff:10.1.2.3"));
	CU_ASSERT_FALSE(match("10.0.0.0/8", "::ffff:11.1.2.3"));
	CU_ASSERT_FALSE(match("::/0", "::ffff:10.1.2.3"));
	CU_ASSERT_TRUE(match("::ffff:10.0.0.0/104", "10.9.9.9"));
}

void test_proxyproto_register(void);

void
test_proxyproto_register(void)
{
	CU_pSuite s = CU_add_suite("proxyproto", NULL, NULL);

#define T(f) CU_add_test(s, #f, f)
	T(test_v1_tcp4_gives_the_client_address);
	T(test_v1_tcp6_gives_the_client_address);
	T(test_v1_bytes_after_the_header_are_not_part_of_it);
	T(test_v1_unknown_keeps_the_real_address_whatever_follows);
	T(test_v1_every_prefix_needs_more);
	T(test_v1_without_crlf_in_107_bytes_is_an_error);
	T(test_v1_line_ends_only_with_crlf);
	T(test_v1_bad_signature_is_an_error_at_once);
	T(test_v1_fields_are_exactly_four_single_spaced);
	T(test_v1_bad_addresses_are_errors);
	T(test_v1_bad_ports_are_errors);
	T(test_v2_inet_gives_the_client_address);
	T(test_v2_inet6_gives_the_client_address);
	T(test_v2_tlvs_are_skipped_within_the_length);
	T(test_v2_tlv_past_the_length_is_an_error);
	T(test_v2_local_is_accepted_whatever_its_address_block);
	T(test_v2_proxy_of_other_families_keeps_the_real_address);
	T(test_v2_bad_signature_is_an_error_at_that_byte);
	T(test_v2_bad_version_or_command_is_an_error);
	T(test_v2_bad_family_is_an_error);
	T(test_v2_length_short_of_the_addresses_is_an_error);
	T(test_v2_length_over_the_bound_is_an_error_at_once);
	T(test_v2_every_prefix_of_a_long_header_needs_more);
	T(test_trusted_entries_parse);
	T(test_trusted_bad_entries_are_refused);
	T(test_trusted_match_by_prefix);
	T(test_trusted_families_do_not_mix_but_mapped_ipv4_is_ipv4);
#undef T
}
