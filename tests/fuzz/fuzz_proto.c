/*
 * fuzz_proto: proto_decode() for the three codecs, fed the way conn.c feeds
 * it (decode what is buffered, drop what a message consumed, keep the rest
 * and append the next read), each verdict compared with ref_decode() below.
 *
 * ref_decode() is written to be checked by eye, not to be fast: every codec
 * is a list of header bytes, each either fixed (or refused with its error
 * code) or free, followed by a 32-bit big-endian length.  It shares no code
 * with proto.c, so a mistake in either shows up as a mismatch and abort().
 * proto_error_payload() gets the same treatment (check_error_payload()).
 *
 * Input layout (all of it is fuzzed; see tests/fuzz/mkcorpus.py):
 *   [0]     codec: 0 frame, 1 raw, 2 headers (mod 3)
 *   [1]     max_frame: < 0x80 the value itself, else MAX_FRAME_TABLE[b & 15]
 *   [2]     headers magic: 0 "Headers", 1 "testHeader", else 1 + b % 16 bytes
 *           taken from the input right after the chunk table
 *   [3]     n, then n chunk sizes of one byte each: the stream arrives in
 *           pieces of those sizes (0 = a read that brought nothing new, so
 *           the decoder sees the same bytes twice), the rest in one piece
 *   rest    the client's byte stream
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_proto: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static const uint64_t MAX_FRAME_TABLE[16] = {
	0, 1, 7, 8, 255, 256, 4095, 4096, 65535, 65536, 1048576,
	0x7fffffffu, 0xfffffffeu, 0xffffffffu, 0x100000000ull, UINT64_MAX,
};

/* the ERROR texts the wire promises, by code (README "Wire protocols") */
static const char *
ref_errtext(enum proto_err e)
{
	switch (e) {
	case PERR_BAD_MAGIC: return "bad magic";
	case PERR_BAD_VERSION: return "unsupported version";
	case PERR_UNKNOWN_TYPE: return "unknown frame type";
	case PERR_TOO_LARGE: return "frame too large";
	default: return "";
	}
}

struct ref_verdict {
	enum proto_status status;
	uint8_t type;
	size_t data_off;	/* MSG: payload offset in the input */
	size_t len;
	size_t consumed;
	size_t need;
	enum proto_err err;
};

/*
 * One header byte's rule: expected value (or any), and the error a
 * different byte gets.  Frame type is the one range rule.
 */
enum rule_kind { R_EXACT, R_TYPE, R_ANY };
struct hdr_rule {
	enum rule_kind kind;
	uint8_t value;
	enum proto_err err;
};

static struct ref_verdict
ref_decode(enum codec codec, const uint8_t *magic, size_t magic_len,
    uint64_t max_frame, const uint8_t *buf, size_t len)
{
	struct ref_verdict v = { .status = PROTO_NEED_MORE };
	struct hdr_rule rules[PROTO_HDR_MAX];
	size_t nrules = 0, i;
	uint64_t plen;

	if (codec == CODEC_RAW) {
		if (len > 0) {
			v.status = PROTO_MSG;
			v.type = FRAME_DATA;
			v.len = v.consumed = len;
		}
		return v;
	}
	if (codec == CODEC_FRAME) {
		rules[nrules++] = (struct hdr_rule){ R_EXACT, 'S', PERR_BAD_MAGIC };
		rules[nrules++] = (struct hdr_rule){ R_EXACT, 'S', PERR_BAD_MAGIC };
		rules[nrules++] = (struct hdr_rule){ R_EXACT, 1, PERR_BAD_VERSION };
		rules[nrules++] = (struct hdr_rule){ R_TYPE, 0, PERR_UNKNOWN_TYPE };
	} else {
		for (i = 0; i < magic_len; i++)
			rules[nrules++] = (struct hdr_rule){ R_EXACT, magic[i], PERR_BAD_MAGIC };
	}
	for (i = 0; i < 4; i++)
		rules[nrules++] = (struct hdr_rule){ R_ANY, 0, PERR_NONE };

	/* each byte that has arrived is judged, in order */
	for (i = 0; i < nrules && i < len; i++) {
		int ok = rules[i].kind == R_ANY ||
		    (rules[i].kind == R_EXACT && buf[i] == rules[i].value) ||
		    (rules[i].kind == R_TYPE && buf[i] >= 1 && buf[i] <= 5);
		if (!ok) {
			v.status = PROTO_ERROR;
			v.err = rules[i].err;
			return v;
		}
	}
	if (len < nrules)
		return v;	/* header incomplete: need unknown (0) */
	plen = 0;
	for (i = nrules - 4; i < nrules; i++)
		plen = plen * 256 + buf[i];
	if (plen > max_frame) {
		v.status = PROTO_ERROR;
		v.err = PERR_TOO_LARGE;
		return v;
	}
	if (len - nrules < plen) {
		v.need = nrules + plen;
		return v;
	}
	v.status = PROTO_MSG;
	v.type = codec == CODEC_FRAME ? buf[3] : FRAME_DATA;
	v.data_off = nrules;
	v.len = plen;
	v.consumed = nrules + plen;
	return v;
}

/* proto_decode() on an exact-size heap copy, so ASan sees any read past len */
static enum proto_status
decode_checked(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    struct ref_verdict *out)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	struct proto_msg m;
	struct ref_verdict want;
	enum proto_status st;

	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, buf, len);
	/* garbage in *msg first: the decoder promises to reset it */
	memset(&m, 0xa5, sizeof(m));
	st = proto_decode(pc, copy, len, &m);
	want = ref_decode(pc->codec, pc->magic, pc->magic_len, pc->max_frame, buf, len);

	CHECK(st == want.status);
	CHECK(m.errtext != NULL);
	switch (st) {
	case PROTO_MSG:
		CHECK(m.type == want.type);
		CHECK(m.len == want.len);
		CHECK(m.consumed == want.consumed);
		CHECK(m.consumed <= len && m.consumed > 0);
		CHECK(m.data == copy + want.data_off);
		CHECK(memcmp(m.data, buf + want.data_off, m.len) == 0);
		CHECK(m.err == PERR_NONE);
		break;
	case PROTO_NEED_MORE:
		CHECK(m.need == want.need);
		CHECK(m.need == 0 || m.need > len);
		CHECK(m.consumed == 0 && m.len == 0);
		CHECK(m.err == PERR_NONE);
		break;
	case PROTO_ERROR:
		CHECK(m.err == want.err);
		CHECK(strcmp(m.errtext, ref_errtext(want.err)) == 0);
		CHECK(m.consumed == 0);
		break;
	}
	free(copy);
	*out = want;
	return st;
}

struct stream {
	uint8_t *pend;		/* bytes received, not yet consumed */
	size_t npend;
	size_t consumed;	/* stream offset of pend[0] */
	int dead;		/* a protocol error ended the "connection" */
	/* every message decoded, as (offset in stream, consumed, type, len) */
	size_t nmsg;
	size_t msg_off[4096];
	size_t msg_consumed[4096];
};

/*
 * Deliver one piece: append it, then decode and consume messages until the
 * decoder wants more or refuses the stream, as conn_process() does.
 */
static void
stream_feed(struct stream *s, const struct proto_codec *pc, const uint8_t *stream,
    const uint8_t *piece, size_t n)
{
	struct ref_verdict v;

	if (s->dead)
		return;
	if (n > 0) {
		uint8_t *p = realloc(s->pend, s->npend + n);
		CHECK(p != NULL);
		s->pend = p;
		memcpy(s->pend + s->npend, piece, n);
		s->npend += n;
	}
	for (;;) {
		enum proto_status st = decode_checked(pc, s->pend, s->npend, &v);
		if (st == PROTO_NEED_MORE)
			return;
		if (st == PROTO_ERROR) {
			s->dead = 1;
			return;
		}
		/* what the message used re-encodes to exactly those stream bytes */
		if (pc->codec != CODEC_RAW) {
			uint8_t hdr[PROTO_HDR_MAX];
			size_t hl = proto_header(pc, v.type, v.len, hdr);
			CHECK(hl == proto_header_len(pc));
			CHECK(hl == v.data_off);
			CHECK(memcmp(hdr, stream + s->consumed, hl) == 0);
		}
		if (s->nmsg < sizeof(s->msg_off) / sizeof(s->msg_off[0])) {
			s->msg_off[s->nmsg] = s->consumed;
			s->msg_consumed[s->nmsg] = v.consumed;
		}
		s->nmsg++;
		s->consumed += v.consumed;
		s->npend -= v.consumed;
		memmove(s->pend, s->pend + v.consumed, s->npend);
	}
}

/*
 * proto_error_payload() with the stream as the text and data[1] as the room:
 * the code big-endian, then the longest prefix of the text that fits and
 * does not end inside a UTF-8 sequence (the next byte is no continuation).
 */
static void
check_error_payload(uint8_t room, uint16_t code, const uint8_t *text, size_t len)
{
	char *t = malloc(len + 1);
	uint8_t *out = malloc(room > 0 ? room : 1);
	size_t n, tlen, want;

	CHECK(t != NULL && out != NULL);
	memcpy(t, text, len);
	t[len] = '\0';
	tlen = strlen(t);
	n = proto_error_payload(out, room, code, t);
	if (room < 2) {
		CHECK(n == 0);
	} else {
		want = tlen <= (size_t)room - 2 ? tlen : (size_t)room - 2;
		while (want < tlen && want > 0 && ((unsigned char)t[want] & 0xc0) == 0x80)
			want--;
		CHECK(n == 2 + want);
		CHECK(out[0] == code >> 8 && out[1] == (code & 0xff));
		CHECK(memcmp(out + 2, t, want) == 0);
	}
	free(t);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t m_headers[] = "Headers", m_test[] = "testHeader";
	static struct stream piecewise, whole;
	struct proto_codec pc;
	const uint8_t *chunks, *stream;
	size_t nchunks, nstream, off, i;

	if (size < 4)
		return -1;
	memset(&pc, 0, sizeof(pc));
	pc.codec = data[0] % 3 == 0 ? CODEC_FRAME : data[0] % 3 == 1 ? CODEC_RAW : CODEC_HEADERS;
	pc.max_frame = data[1] < 0x80 ? data[1] : MAX_FRAME_TABLE[data[1] & 15];
	nchunks = data[3];
	if (nchunks > size - 4)
		nchunks = size - 4;
	chunks = data + 4;
	off = 4 + nchunks;
	if (data[2] == 0) {
		pc.magic = m_headers;
		pc.magic_len = sizeof(m_headers) - 1;
	} else if (data[2] == 1) {
		pc.magic = m_test;
		pc.magic_len = sizeof(m_test) - 1;
	} else {
		pc.magic_len = 1 + data[2] % PROTO_MAGIC_MAX;
		if (pc.magic_len > size - off)
			return -1;
		pc.magic = data + off;
		off += pc.magic_len;
	}
	stream = data + off;
	nstream = size - off;
	check_error_payload(data[1], (uint16_t)(data[0] << 8 | data[2]), stream, nstream);

	free(piecewise.pend);
	free(whole.pend);
	memset(&piecewise, 0, sizeof(piecewise));
	memset(&whole, 0, sizeof(whole));

	/* in pieces, as reads deliver it */
	off = 0;
	for (i = 0; i < nchunks && off < nstream; i++) {
		size_t n = chunks[i] < nstream - off ? chunks[i] : nstream - off;
		stream_feed(&piecewise, &pc, stream, stream + off, n);
		off += n;
	}
	if (off < nstream)
		stream_feed(&piecewise, &pc, stream, stream + off, nstream - off);

	/* and all at once: where the reads fell must not change the messages */
	stream_feed(&whole, &pc, stream, stream, nstream);
	CHECK(piecewise.dead == whole.dead);
	if (pc.codec == CODEC_RAW) {
		/* raw: every byte is delivered, however the reads fell */
		CHECK(piecewise.consumed == nstream && whole.consumed == nstream);
		CHECK(whole.nmsg == (nstream > 0));
	} else {
		CHECK(piecewise.nmsg == whole.nmsg);
		CHECK(piecewise.consumed == whole.consumed);
		for (i = 0; i < whole.nmsg && i < sizeof(whole.msg_off) / sizeof(whole.msg_off[0]); i++) {
			CHECK(piecewise.msg_off[i] == whole.msg_off[i]);
			CHECK(piecewise.msg_consumed[i] == whole.msg_consumed[i]);
		}
	}
	return 0;
}
