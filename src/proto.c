/*
 * proto: the wire codecs.  Owns the byte layout of the three codecs (frame,
 * raw, headers) and the ERROR payload; everything here is a pure function
 * over caller-supplied bytes, so the connection code, the client and the
 * tests share one decoder and it can be tested without sockets.
 */
#include "proto.h"

#include <string.h>

#define HDRS_LEN_SIZE 4

static const char *const err_text[] = {
	[PERR_NONE] = "",
	[PERR_BAD_MAGIC] = "bad magic",
	[PERR_BAD_VERSION] = "unsupported version",
	[PERR_UNKNOWN_TYPE] = "unknown frame type",
	[PERR_TOO_LARGE] = "frame too large",
};

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static enum proto_status
fail(struct proto_msg *msg, enum proto_err err)
{
	msg->err = err;
	msg->errtext = err_text[err];
	return PROTO_ERROR;
}

/*
 * Common tail of the two length-prefixed codecs: hdrlen bytes of header are
 * known good and plen is the announced payload length.
 */
static enum proto_status
decode_payload(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    size_t hdrlen, uint32_t plen, uint8_t type, struct proto_msg *msg)
{
	if (plen > pc->max_frame)
		return fail(msg, PERR_TOO_LARGE);
	/* hdrlen <= 20 and plen < 2^32: no overflow in a 64-bit sum */
	if ((uint64_t)len < (uint64_t)hdrlen + plen) {
		msg->need = hdrlen + (size_t)plen;
		return PROTO_NEED_MORE;
	}
	msg->type = type;
	msg->data = buf + hdrlen;
	msg->len = plen;
	msg->consumed = hdrlen + (size_t)plen;
	return PROTO_MSG;
}

static enum proto_status
decode_frame(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    struct proto_msg *msg)
{
	/* each byte is judged as soon as it is there, so garbage is refused at once */
	if (len >= 1 && buf[0] != FRAME_MAGIC0)
		return fail(msg, PERR_BAD_MAGIC);
	if (len >= 2 && buf[1] != FRAME_MAGIC1)
		return fail(msg, PERR_BAD_MAGIC);
	if (len >= 3 && buf[2] != FRAME_VERSION)
		return fail(msg, PERR_BAD_VERSION);
	if (len >= 4 && !pc->any_type && (buf[3] < FRAME_DATA || buf[3] > FRAME_CLOSE))
		return fail(msg, PERR_UNKNOWN_TYPE);
	if (len < FRAME_HDR_LEN)
		return PROTO_NEED_MORE;
	return decode_payload(pc, buf, len, FRAME_HDR_LEN, get_be32(buf + 4), buf[3], msg);
}

static enum proto_status
decode_headers(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    struct proto_msg *msg)
{
	size_t i, n = len < pc->magic_len ? len : pc->magic_len;

	for (i = 0; i < n; i++) {
		if (buf[i] != pc->magic[i])
			return fail(msg, PERR_BAD_MAGIC);
	}
	if (len < pc->magic_len + HDRS_LEN_SIZE)
		return PROTO_NEED_MORE;
	return decode_payload(pc, buf, len, pc->magic_len + HDRS_LEN_SIZE,
	    get_be32(buf + pc->magic_len), FRAME_DATA, msg);
}

enum proto_status
proto_decode(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    struct proto_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->errtext = err_text[PERR_NONE];
	switch (pc->codec) {
	case CODEC_FRAME:
		return decode_frame(pc, buf, len, msg);
	case CODEC_HEADERS:
		return decode_headers(pc, buf, len, msg);
	case CODEC_RAW:
		break;
	}
	if (len == 0)
		return PROTO_NEED_MORE;
	msg->type = FRAME_DATA;
	msg->data = buf;
	msg->len = len;
	msg->consumed = len;
	return PROTO_MSG;
}

void
proto_frame_header(uint8_t hdr[FRAME_HDR_LEN], uint8_t type, uint32_t len)
{
	hdr[0] = FRAME_MAGIC0;
	hdr[1] = FRAME_MAGIC1;
	hdr[2] = FRAME_VERSION;
	hdr[3] = type;
	put_be32(hdr + 4, len);
}

size_t
proto_header_len(const struct proto_codec *pc)
{
	switch (pc->codec) {
	case CODEC_FRAME:
		return FRAME_HDR_LEN;
	case CODEC_HEADERS:
		return pc->magic_len + HDRS_LEN_SIZE;
	case CODEC_RAW:
		break;
	}
	return 0;
}

size_t
proto_header(const struct proto_codec *pc, uint8_t type, size_t len, uint8_t *hdr)
{
	switch (pc->codec) {
	case CODEC_FRAME:
		proto_frame_header(hdr, type, (uint32_t)len);
		return FRAME_HDR_LEN;
	case CODEC_HEADERS:
		if (pc->magic_len > 0)
			memcpy(hdr, pc->magic, pc->magic_len);
		put_be32(hdr + pc->magic_len, (uint32_t)len);
		return pc->magic_len + HDRS_LEN_SIZE;
	case CODEC_RAW:
		break;
	}
	return 0;
}

size_t
proto_error_payload(uint8_t *out, size_t outlen, uint16_t code, const char *text)
{
	size_t tlen = text != NULL ? strlen(text) : 0;

	if (outlen < 2)
		return 0;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (tlen > outlen - 2) {
		tlen = outlen - 2;
		/* the peer is promised UTF-8: do not cut a sequence in half */
		while (tlen > 0 && ((unsigned char)text[tlen] & 0xc0) == 0x80)
			tlen--;
	}
	if (tlen > 0)
		memcpy(out + 2, text, tlen);
	return 2 + tlen;
}
