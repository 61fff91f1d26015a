/*
 * Unit tests for proto: the frame, headers and raw codecs and the ERROR
 * payload.  Streams are fed the way a connection sees them (split at every
 * offset, byte by byte, many messages per buffer), without sockets.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void test_proto_register(void);

#define BIG_LEN 70000

struct tmsg {
	uint8_t type;
	size_t len;
	uint8_t *payload;
	size_t off;		/* where its header starts in the stream */
	size_t size;		/* header + payload */
};

struct tstream {
	uint8_t *bytes;
	size_t len;
	struct tmsg *msgs;
	size_t nmsgs;
};

static void
fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31u + seed * 7u + (i >> 8));
}

/* encode nmsgs messages of the given types and lengths back to back with pc */
static void
stream_build(struct tstream *ts, const struct proto_codec *pc,
    const uint8_t *types, const size_t *lens, size_t nmsgs)
{
	size_t total = 0, hl = proto_header_len(pc), pos = 0;

	for (size_t i = 0; i < nmsgs; i++)
		total += hl + lens[i];
	ts->bytes = malloc(total > 0 ? total : 1);
	ts->msgs = calloc(nmsgs, sizeof(*ts->msgs));
	CU_ASSERT_FATAL(ts->bytes != NULL && ts->msgs != NULL);
	ts->len = total;
	ts->nmsgs = nmsgs;
	for (size_t i = 0; i < nmsgs; i++) {
		struct tmsg *m = &ts->msgs[i];

		m->type = types[i];
		m->len = lens[i];
		m->off = pos;
		CU_ASSERT_EQUAL(proto_header(pc, types[i], lens[i], ts->bytes + pos), hl);
		pos += hl;
		m->payload = ts->bytes + pos;
		fill(m->payload, m->len, (unsigned)i);
		pos += m->len;
		m->size = hl + m->len;
	}
}

static void
stream_free(struct tstream *ts)
{
	free(ts->bytes);
	free(ts->msgs);
	memset(ts, 0, sizeof(*ts));
}

/* a receiver over the stream: bytes [0, avail) have arrived, [start, avail) are unparsed */
struct rx {
	size_t start;
	size_t next;		/* index of the next expected message */
	size_t bad;		/* mismatches seen */
};

static int
msg_matches(const struct tmsg *want, const struct proto_msg *got)
{
	return got->type == want->type && got->len == want->len &&
	    got->consumed == want->size &&
	    (want->len == 0 || memcmp(got->data, want->payload, want->len) == 0);
}

/*
 * Decode everything complete in [start, avail), checking each message
 * against the expected one and the NEED_MORE hint.  Works on the stream in
 * place: copying 70 kB per split offset would make the test quadratic.
 */
static void
rx_feed(struct rx *rx, const struct proto_codec *pc, const struct tstream *ts,
    size_t avail)
{
	struct proto_msg m;

	for (;;) {
		size_t have = avail - rx->start;
		enum proto_status st = proto_decode(pc, ts->bytes + rx->start, have, &m);

		if (st == PROTO_ERROR) {
			rx->bad++;
			return;
		}
		if (st == PROTO_NEED_MORE) {
			size_t hl = proto_header_len(pc);

			if (rx->next >= ts->nmsgs) {
				if (have != 0 || m.need != 0)
					rx->bad++;
				return;
			}
			if (m.need != (have >= hl ? ts->msgs[rx->next].size : 0))
				rx->bad++;
			return;
		}
		if (rx->next >= ts->nmsgs || !msg_matches(&ts->msgs[rx->next], &m)) {
			rx->bad++;
			return;
		}
		rx->start += m.consumed;
		rx->next++;
	}
}

static void
check_split_in_two(const struct proto_codec *pc, const struct tstream *ts)
{
	size_t bad = 0;

	for (size_t off = 0; off <= ts->len; off++) {
		struct rx rx = { 0, 0, 0 };

		rx_feed(&rx, pc, ts, off);
		rx_feed(&rx, pc, ts, ts->len);
		if (rx.bad != 0 || rx.next != ts->nmsgs || rx.start != ts->len)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void
check_byte_by_byte(const struct proto_codec *pc, const struct tstream *ts)
{
	struct rx rx = { 0, 0, 0 };

	for (size_t avail = 0; avail <= ts->len; avail++)
		rx_feed(&rx, pc, ts, avail);
	CU_ASSERT_EQUAL(rx.bad, 0);
	CU_ASSERT_EQUAL(rx.next, ts->nmsgs);
	CU_ASSERT_EQUAL(rx.start, ts->len);
}

/* the whole stream in one buffer: one message per call, consumed walks it */
static void
check_all_in_one_buffer(const struct proto_codec *pc, const struct tstream *ts)
{
	struct proto_msg m;
	size_t pos = 0;

	for (size_t i = 0; i < ts->nmsgs; i++) {
		CU_ASSERT_EQUAL_FATAL(proto_decode(pc, ts->bytes + pos, ts->len - pos, &m),
		    PROTO_MSG);
		CU_ASSERT_EQUAL(m.consumed, ts->msgs[i].size);
		CU_ASSERT_PTR_EQUAL(m.data, ts->bytes + pos + proto_header_len(pc));
		CU_ASSERT(msg_matches(&ts->msgs[i], &m));
		pos += m.consumed;
	}
	CU_ASSERT_EQUAL(pos, ts->len);
	CU_ASSERT_EQUAL(proto_decode(pc, ts->bytes + pos, 0, &m), PROTO_NEED_MORE);
	CU_ASSERT_EQUAL(m.need, 0);
}

/*
 * Every prefix copied into an allocation of exactly its size, so ASan
 * catches a decoder that peeks past len.
 */
static void
check_prefixes_exact_alloc(const struct proto_codec *pc, const struct tstream *ts)
{
	size_t bad = 0;

	for (size_t plen = 0; plen <= ts->len; plen++) {
		uint8_t *copy = plen > 0 ? malloc(plen) : NULL;
		struct tstream view = *ts;
		struct rx rx = { 0, 0, 0 };

		if (plen > 0) {
			CU_ASSERT_FATAL(copy != NULL);
			memcpy(copy, ts->bytes, plen);
		}
		/* expected payloads stay in the original: compared, never decoded */
		view.bytes = copy;
		rx_feed(&rx, pc, &view, plen);
		if (rx.bad != 0)
			bad++;
		/* exactly the messages wholly inside the prefix were decoded */
		for (size_t i = 0; i < ts->nmsgs; i++) {
			int inside = ts->msgs[i].off + ts->msgs[i].size <= plen;

			if (inside != (i < rx.next))
				bad++;
		}
		free(copy);
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* ---- frame codec ---- */

static const struct proto_codec frame_pc = { .codec = CODEC_FRAME, .max_frame = 100000 };

static const uint8_t frame_types[] = {
	FRAME_DATA, FRAME_PING, FRAME_PONG, FRAME_DATA, FRAME_ERROR,
	FRAME_CLOSE, FRAME_DATA, FRAME_PING, FRAME_DATA,
};
static const size_t frame_lens[] = { 5, 0, 3, BIG_LEN, 19, 0, 1, 7, 0 };
#define NFRAMES (sizeof(frame_lens) / sizeof(frame_lens[0]))

/* the same kinds of frames without the big one, for the quadratic tests */
static const uint8_t small_types[] = {
	FRAME_DATA, FRAME_PING, FRAME_PONG, FRAME_ERROR, FRAME_CLOSE, FRAME_DATA,
};
static const size_t small_lens[] = { 5, 0, 3, 19, 0, 300 };
#define NSMALL (sizeof(small_lens) / sizeof(small_lens[0]))

static void
test_frame_stream_split_in_two_at_every_offset_yields_same_messages(void)
{
	struct tstream ts;

	stream_build(&ts, &frame_pc, frame_types, frame_lens, NFRAMES);
	check_split_in_two(&frame_pc, &ts);
	stream_free(&ts);
}

static void
test_frame_stream_fed_byte_by_byte_yields_same_messages(void)
{
	struct tstream ts;

	stream_build(&ts, &frame_pc, frame_types, frame_lens, NFRAMES);
	check_byte_by_byte(&frame_pc, &ts);
	stream_free(&ts);
}

static void
test_frame_many_in_one_buffer_decode_one_by_one_with_consumed(void)
{
	struct tstream ts;

	stream_build(&ts, &frame_pc, frame_types, frame_lens, NFRAMES);
	check_all_in_one_buffer(&frame_pc, &ts);
	stream_free(&ts);
}

static void
test_frame_prefixes_never_read_past_buffer_and_need_is_exact(void)
{
	struct tstream ts;

	stream_build(&ts, &frame_pc, small_types, small_lens, NSMALL);
	check_prefixes_exact_alloc(&frame_pc, &ts);
	stream_free(&ts);
}

static void
test_frame_need_is_zero_until_header_complete_then_full_size(void)
{
	uint8_t buf[FRAME_HDR_LEN + 10];
	struct proto_msg m;

	proto_frame_header(buf, FRAME_DATA, 10);
	for (size_t n = 0; n < FRAME_HDR_LEN; n++) {
		CU_ASSERT_EQUAL(proto_decode(&frame_pc, buf, n, &m), PROTO_NEED_MORE);
		CU_ASSERT_EQUAL(m.need, 0);
	}
	for (size_t n = FRAME_HDR_LEN; n < sizeof(buf); n++) {
		CU_ASSERT_EQUAL(proto_decode(&frame_pc, buf, n, &m), PROTO_NEED_MORE);
		CU_ASSERT_EQUAL(m.need, FRAME_HDR_LEN + 10);
	}
	CU_ASSERT_EQUAL(proto_decode(&frame_pc, buf, sizeof(buf), &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.need, 0);
}

static void
expect_error(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    enum proto_err err, const char *text)
{
	struct proto_msg m;

	CU_ASSERT_EQUAL(proto_decode(pc, buf, len, &m), PROTO_ERROR);
	CU_ASSERT_EQUAL(m.err, err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m.errtext);
	CU_ASSERT_STRING_EQUAL(m.errtext, text);
}

static void
test_frame_bad_first_byte_is_bad_magic_with_one_byte_buffered(void)
{
	static const uint8_t b[] = { 0x47 };	/* 'G', as in "GET / HTTP/1.1" */

	expect_error(&frame_pc, b, 1, PERR_BAD_MAGIC, "bad magic");
}

static void
test_frame_bad_second_byte_is_bad_magic_with_two_bytes_buffered(void)
{
	static const uint8_t b[] = { 0x53, 0x54 };
	struct proto_msg m;

	CU_ASSERT_EQUAL(proto_decode(&frame_pc, b, 1, &m), PROTO_NEED_MORE);
	expect_error(&frame_pc, b, 2, PERR_BAD_MAGIC, "bad magic");
}

static void
test_frame_version_other_than_1_is_unsupported_version(void)
{
	static const uint8_t v0[] = { 0x53, 0x53, 0 };
	static const uint8_t v2[] = { 0x53, 0x53, 2, FRAME_DATA, 0, 0, 0, 0 };

	expect_error(&frame_pc, v0, sizeof(v0), PERR_BAD_VERSION, "unsupported version");
	expect_error(&frame_pc, v2, sizeof(v2), PERR_BAD_VERSION, "unsupported version");
}

static void
test_frame_types_0_and_6_are_unknown_on_the_fourth_byte(void)
{
	static const uint8_t t0[] = { 0x53, 0x53, 1, 0 };
	static const uint8_t t6[] = { 0x53, 0x53, 1, 6 };

	expect_error(&frame_pc, t0, sizeof(t0), PERR_UNKNOWN_TYPE, "unknown frame type");
	expect_error(&frame_pc, t6, sizeof(t6), PERR_UNKNOWN_TYPE, "unknown frame type");
}

static void
test_frame_any_type_mode_passes_undefined_types_whole(void)
{
	const struct proto_codec pc = { .codec = CODEC_FRAME, .max_frame = UINT32_MAX,
	    .any_type = true };
	static const uint8_t types[] = { 0, 6, 0xff };
	uint8_t buf[FRAME_HDR_LEN + 3];
	struct proto_msg m;

	for (size_t i = 0; i < sizeof(types); i++) {
		proto_frame_header(buf, types[i], 3);
		memcpy(buf + FRAME_HDR_LEN, "abc", 3);
		/* the verdict waits for the whole frame, as for a defined type */
		CU_ASSERT_EQUAL(proto_decode(&pc, buf, 4, &m), PROTO_NEED_MORE);
		CU_ASSERT_EQUAL(proto_decode(&pc, buf, sizeof(buf) - 1, &m), PROTO_NEED_MORE);
		CU_ASSERT_EQUAL(m.need, sizeof(buf));
		CU_ASSERT_EQUAL_FATAL(proto_decode(&pc, buf, sizeof(buf), &m), PROTO_MSG);
		CU_ASSERT_EQUAL(m.type, types[i]);
		CU_ASSERT_EQUAL(m.len, 3);
		CU_ASSERT_EQUAL(m.consumed, sizeof(buf));
		CU_ASSERT_EQUAL(memcmp(m.data, "abc", 3), 0);
	}
	/* the mode changes the type check only: magic and version are still judged */
	buf[2] = 2;
	expect_error(&pc, buf, sizeof(buf), PERR_BAD_VERSION, "unsupported version");
	buf[0] = 0x47;
	expect_error(&pc, buf, 1, PERR_BAD_MAGIC, "bad magic");
	/* and the default still refuses an undefined type on its fourth byte */
	proto_frame_header(buf, 6, 3);
	expect_error(&frame_pc, buf, 4, PERR_UNKNOWN_TYPE, "unknown frame type");
}

static void
test_frame_all_five_types_decode_including_error_and_close(void)
{
	uint8_t buf[FRAME_HDR_LEN + 2];
	struct proto_msg m;

	for (uint8_t t = FRAME_DATA; t <= FRAME_CLOSE; t++) {
		proto_frame_header(buf, t, 2);
		buf[8] = 'o';
		buf[9] = 'k';
		CU_ASSERT_EQUAL(proto_decode(&frame_pc, buf, sizeof(buf), &m), PROTO_MSG);
		CU_ASSERT_EQUAL(m.type, t);
		CU_ASSERT_EQUAL(m.len, 2);
		CU_ASSERT_EQUAL(m.consumed, sizeof(buf));
	}
}

static void
test_frame_length_max_frame_accepted_max_frame_plus_one_rejected_before_payload(void)
{
	const struct proto_codec pc = { .codec = CODEC_FRAME, .max_frame = 1000 };
	uint8_t *buf = calloc(1, FRAME_HDR_LEN + 1001);
	struct proto_msg m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	proto_frame_header(buf, FRAME_DATA, 1001);
	/* only the 8 header bytes: the verdict must not wait for the payload */
	expect_error(&pc, buf, FRAME_HDR_LEN, PERR_TOO_LARGE, "frame too large");
	expect_error(&pc, buf, FRAME_HDR_LEN + 1001, PERR_TOO_LARGE, "frame too large");

	proto_frame_header(buf, FRAME_DATA, 1000);
	CU_ASSERT_EQUAL(proto_decode(&pc, buf, FRAME_HDR_LEN, &m), PROTO_NEED_MORE);
	CU_ASSERT_EQUAL(m.need, FRAME_HDR_LEN + 1000);
	CU_ASSERT_EQUAL(proto_decode(&pc, buf, FRAME_HDR_LEN + 1000, &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.len, 1000);
	free(buf);
}

static void
test_frame_length_is_big_endian_up_to_u32_max(void)
{
	const struct proto_codec pc = { .codec = CODEC_FRAME, .max_frame = UINT32_MAX };
	uint8_t hdr[FRAME_HDR_LEN];
	struct proto_msg m;

	proto_frame_header(hdr, FRAME_PING, 0x01020304);
	CU_ASSERT_EQUAL(hdr[0], 0x53);
	CU_ASSERT_EQUAL(hdr[1], 0x53);
	CU_ASSERT_EQUAL(hdr[2], 1);
	CU_ASSERT_EQUAL(hdr[3], FRAME_PING);
	CU_ASSERT_EQUAL(hdr[4], 0x01);
	CU_ASSERT_EQUAL(hdr[5], 0x02);
	CU_ASSERT_EQUAL(hdr[6], 0x03);
	CU_ASSERT_EQUAL(hdr[7], 0x04);
	CU_ASSERT_EQUAL(proto_decode(&pc, hdr, sizeof(hdr), &m), PROTO_NEED_MORE);
	CU_ASSERT_EQUAL(m.need, FRAME_HDR_LEN + 0x01020304);

	proto_frame_header(hdr, FRAME_DATA, UINT32_MAX);
	CU_ASSERT_EQUAL(proto_decode(&pc, hdr, sizeof(hdr), &m), PROTO_NEED_MORE);
	CU_ASSERT_EQUAL(m.need, (size_t)FRAME_HDR_LEN + UINT32_MAX);
}

static void
test_frame_error_after_valid_frame_is_reported_on_the_next_call(void)
{
	uint8_t buf[FRAME_HDR_LEN + 3 + 1];
	struct proto_msg m;

	proto_frame_header(buf, FRAME_DATA, 3);
	memcpy(buf + FRAME_HDR_LEN, "abc", 3);
	buf[FRAME_HDR_LEN + 3] = 0x00;
	CU_ASSERT_EQUAL(proto_decode(&frame_pc, buf, sizeof(buf), &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.consumed, FRAME_HDR_LEN + 3);
	expect_error(&frame_pc, buf + m.consumed, sizeof(buf) - m.consumed,
	    PERR_BAD_MAGIC, "bad magic");
}

static void
test_proto_header_writes_frame_header_and_reports_its_size(void)
{
	uint8_t a[FRAME_HDR_LEN], b[FRAME_HDR_LEN];

	CU_ASSERT_EQUAL(proto_header_len(&frame_pc), FRAME_HDR_LEN);
	CU_ASSERT_EQUAL(proto_header(&frame_pc, FRAME_PONG, 77, a), FRAME_HDR_LEN);
	proto_frame_header(b, FRAME_PONG, 77);
	CU_ASSERT_EQUAL(memcmp(a, b, FRAME_HDR_LEN), 0);
}

/* ---- ERROR payload ---- */

static void
test_error_payload_is_be16_code_then_text(void)
{
	uint8_t out[64];
	size_t n = proto_error_payload(out, sizeof(out), PERR_TIMEOUT,
	    "heartbeat timeout after 3 s");

	CU_ASSERT_EQUAL(n, 2 + strlen("heartbeat timeout after 3 s"));
	CU_ASSERT_EQUAL(out[0], 0);
	CU_ASSERT_EQUAL(out[1], 5);
	CU_ASSERT_EQUAL(memcmp(out + 2, "heartbeat timeout after 3 s", n - 2), 0);

	n = proto_error_payload(out, sizeof(out), 0x1234, "");
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(out[0], 0x12);
	CU_ASSERT_EQUAL(out[1], 0x34);
}

static void
test_error_payload_cuts_text_to_fit_without_splitting_utf8(void)
{
	uint8_t out[8];

	memset(out, 0xee, sizeof(out));
	CU_ASSERT_EQUAL(proto_error_payload(out, 6, 1, "abcdef"), 6);
	CU_ASSERT_EQUAL(memcmp(out + 2, "abcd", 4), 0);
	CU_ASSERT_EQUAL(out[6], 0xee);	/* nothing written past outlen */

	/* "ab" + U+00E9 (2 bytes): 5 bytes of room would split the é */
	CU_ASSERT_EQUAL(proto_error_payload(out, 5, 1, "ab\xc3\xa9"), 4);
	CU_ASSERT_EQUAL(proto_error_payload(out, 6, 1, "ab\xc3\xa9"), 6);
	CU_ASSERT_EQUAL(out[5], 0xa9);

	CU_ASSERT_EQUAL(proto_error_payload(out, 1, 1, "x"), 0);
	CU_ASSERT_EQUAL(proto_error_payload(out, 2, 1, "x"), 2);
}

static void
test_error_frame_built_from_payload_decodes_to_code_and_text(void)
{
	uint8_t buf[FRAME_HDR_LEN + 64];
	struct proto_msg m;
	size_t n;

	n = proto_error_payload(buf + FRAME_HDR_LEN, 64, PERR_SERVER_FULL, "server full");
	proto_frame_header(buf, FRAME_ERROR, (uint32_t)n);
	CU_ASSERT_EQUAL(proto_decode(&frame_pc, buf, FRAME_HDR_LEN + n, &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.type, FRAME_ERROR);
	CU_ASSERT_EQUAL(m.len, n);
	CU_ASSERT_EQUAL((m.data[0] << 8 | m.data[1]), PERR_SERVER_FULL);
	CU_ASSERT_EQUAL(memcmp(m.data + 2, "server full", 11), 0);
}

/* ---- headers codec ---- */

static const uint8_t hdr_types[] = {
	FRAME_DATA, FRAME_DATA, FRAME_DATA, FRAME_DATA, FRAME_DATA, FRAME_DATA,
};
static const size_t hdr_lens[] = { 29, 0, 300, BIG_LEN, 1, 30 };
static const size_t hdr_small_lens[] = { 29, 0, 300, 1, 30 };
#define NHDR (sizeof(hdr_lens) / sizeof(hdr_lens[0]))
#define NHDR_SMALL (sizeof(hdr_small_lens) / sizeof(hdr_small_lens[0]))

static struct proto_codec
headers_pc(const char *magic, uint64_t max_frame)
{
	struct proto_codec pc = { .codec = CODEC_HEADERS, .max_frame = max_frame,
	    .magic = (const unsigned char *)magic, .magic_len = strlen(magic) };

	return pc;
}

static void
run_headers_stream_tests(const char *magic)
{
	struct proto_codec pc = headers_pc(magic, 100000);
	struct tstream ts;

	stream_build(&ts, &pc, hdr_types, hdr_lens, NHDR);
	CU_ASSERT_EQUAL(memcmp(ts.bytes, magic, strlen(magic)), 0);
	check_split_in_two(&pc, &ts);
	check_byte_by_byte(&pc, &ts);
	stream_free(&ts);

	stream_build(&ts, &pc, hdr_types, hdr_small_lens, NHDR_SMALL);
	check_prefixes_exact_alloc(&pc, &ts);
	stream_free(&ts);
}

static void
test_headers_magic_Headers_split_at_every_offset_yields_same_messages(void)
{
	run_headers_stream_tests("Headers");
}

static void
test_headers_magic_testHeader_split_at_every_offset_yields_same_messages(void)
{
	run_headers_stream_tests("testHeader");
}

static void
test_headers_several_in_one_buffer_decode_one_by_one_with_consumed(void)
{
	const char *magics[] = { "Headers", "testHeader" };

	for (size_t k = 0; k < 2; k++) {
		struct proto_codec pc = headers_pc(magics[k], 100000);
		struct tstream ts;

		stream_build(&ts, &pc, hdr_types, hdr_lens, NHDR);
		check_all_in_one_buffer(&pc, &ts);
		stream_free(&ts);
	}
}

static void
test_headers_header_is_magic_then_be32_length(void)
{
	struct proto_codec pc = headers_pc("Headers", 100000);
	uint8_t hdr[32];

	CU_ASSERT_EQUAL(proto_header_len(&pc), 11);
	CU_ASSERT_EQUAL(proto_header(&pc, FRAME_DATA, 0x0a0b0c, hdr), 11);
	CU_ASSERT_EQUAL(memcmp(hdr, "Headers", 7), 0);
	CU_ASSERT_EQUAL(hdr[7], 0x00);
	CU_ASSERT_EQUAL(hdr[8], 0x0a);
	CU_ASSERT_EQUAL(hdr[9], 0x0b);
	CU_ASSERT_EQUAL(hdr[10], 0x0c);
}

static void
test_headers_bad_magic_is_seen_on_the_first_wrong_byte(void)
{
	const char *magics[] = { "Headers", "testHeader" };

	for (size_t k = 0; k < 2; k++) {
		struct proto_codec pc = headers_pc(magics[k], 100000);
		uint8_t buf[32];
		struct proto_msg m;

		for (size_t i = 0; i < pc.magic_len; i++) {
			memcpy(buf, pc.magic, pc.magic_len);
			/* the correct prefix is only incomplete */
			CU_ASSERT_EQUAL(proto_decode(&pc, buf, i, &m), PROTO_NEED_MORE);
			buf[i] ^= 0x20;
			expect_error(&pc, buf, i + 1, PERR_BAD_MAGIC, "bad magic");
		}
	}
}

static void
test_headers_length_over_max_frame_is_too_large_before_payload(void)
{
	struct proto_codec pc = headers_pc("testHeader", 100);
	uint8_t hdr[32];
	struct proto_msg m;
	size_t hl;

	hl = proto_header(&pc, FRAME_DATA, 101, hdr);
	expect_error(&pc, hdr, hl, PERR_TOO_LARGE, "frame too large");
	for (size_t n = 0; n < hl; n++)
		CU_ASSERT_EQUAL(proto_decode(&pc, hdr, n, &m), PROTO_NEED_MORE);

	hl = proto_header(&pc, FRAME_DATA, 100, hdr);
	CU_ASSERT_EQUAL(proto_decode(&pc, hdr, hl, &m), PROTO_NEED_MORE);
	CU_ASSERT_EQUAL(m.need, hl + 100);
}

static void
test_headers_zero_length_payload_is_a_message(void)
{
	struct proto_codec pc = headers_pc("Headers", 100);
	uint8_t hdr[32];
	struct proto_msg m;
	size_t hl = proto_header(&pc, FRAME_DATA, 0, hdr);

	CU_ASSERT_EQUAL(proto_decode(&pc, hdr, hl, &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.type, FRAME_DATA);
	CU_ASSERT_EQUAL(m.len, 0);
	CU_ASSERT_EQUAL(m.consumed, hl);
}

/* ---- raw codec ---- */

static void
test_raw_any_bytes_are_one_data_message_consumed_entirely(void)
{
	const struct proto_codec pc = { .codec = CODEC_RAW, .max_frame = 4 };
	static const uint8_t b[] = "SS\x01\x07 not a frame, longer than max_frame";
	struct proto_msg m;

	CU_ASSERT_EQUAL(proto_decode(&pc, b, sizeof(b) - 1, &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.type, FRAME_DATA);
	CU_ASSERT_PTR_EQUAL(m.data, b);
	CU_ASSERT_EQUAL(m.len, sizeof(b) - 1);
	CU_ASSERT_EQUAL(m.consumed, sizeof(b) - 1);

	CU_ASSERT_EQUAL(proto_decode(&pc, b, 1, &m), PROTO_MSG);
	CU_ASSERT_EQUAL(m.len, 1);
}

static void
test_raw_empty_input_needs_more_and_has_no_header(void)
{
	const struct proto_codec pc = { .codec = CODEC_RAW, .max_frame = 100 };
	uint8_t hdr[FRAME_HDR_LEN] = { 0 };
	struct proto_msg m;

	CU_ASSERT_EQUAL(proto_decode(&pc, hdr, 0, &m), PROTO_NEED_MORE);
	CU_ASSERT_EQUAL(m.need, 0);
	CU_ASSERT_EQUAL(proto_header_len(&pc), 0);
	CU_ASSERT_EQUAL(proto_header(&pc, FRAME_DATA, 5, hdr), 0);
}

void
test_proto_register(void)
{
	CU_pSuite s = CU_add_suite("proto", NULL, NULL);

	if (s == NULL)
		return;
#define T(f) CU_add_test(s, #f, f)
	T(test_frame_stream_split_in_two_at_every_offset_yields_same_messages);
	T(test_frame_stream_fed_byte_by_byte_yields_same_messages);
	T(test_frame_many_in_one_buffer_decode_one_by_one_with_consumed);
	T(test_frame_prefixes_never_read_past_buffer_and_need_is_exact);
	T(test_frame_need_is_zero_until_header_complete_then_full_size);
	T(test_frame_bad_first_byte_is_bad_magic_with_one_byte_buffered);
	T(test_frame_bad_second_byte_is_bad_magic_with_two_bytes_buffered);
	T(test_frame_version_other_than_1_is_unsupported_version);
	T(test_frame_types_0_and_6_are_unknown_on_the_fourth_byte);
	T(test_frame_any_type_mode_passes_undefined_types_whole);
	T(test_frame_all_five_types_decode_including_error_and_close);
	T(test_frame_length_max_frame_accepted_max_frame_plus_one_rejected_before_payload);
	T(test_frame_length_is_big_endian_up_to_u32_max);
	T(test_frame_error_after_valid_frame_is_reported_on_the_next_call);
	T(test_proto_header_writes_frame_header_and_reports_its_size);
	T(test_error_payload_is_be16_code_then_text);
	T(test_error_payload_cuts_text_to_fit_without_splitting_utf8);
	T(test_error_frame_built_from_payload_decodes_to_code_and_text);
	T(test_headers_magic_Headers_split_at_every_offset_yields_same_messages);
	T(test_headers_magic_testHeader_split_at_every_offset_yields_same_messages);
	T(test_headers_several_in_one_buffer_decode_one_by_one_with_consumed);
	T(test_headers_header_is_magic_then_be32_length);
	T(test_headers_bad_magic_is_seen_on_the_first_wrong_byte);
	T(test_headers_length_over_max_frame_is_too_large_before_payload);
	T(test_headers_zero_length_payload_is_a_message);
	T(test_raw_any_bytes_are_one_data_message_consumed_entirely);
	T(test_raw_empty_input_needs_more_and_has_no_header);
#undef T
}
