/*
 * proto: the wire codecs, pure functions over bytes (no sockets, no loop).
 *
 * frame:   "SS" (0x53 0x53), version 1, type, u32 BE length, payload.
 * raw:     whatever bytes arrived are one message.
 * headers: a constant magic (1..16 bytes), u32 BE length, payload
 *          (the Go "Socket Server" series' part-2 protocol).
 */
#ifndef SOCKSERV_PROTO_H
#define SOCKSERV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the codec a listener speaks (config key codec) */
enum codec { CODEC_FRAME, CODEC_RAW, CODEC_HEADERS };

#define FRAME_MAGIC0 0x53
#define FRAME_MAGIC1 0x53
#define FRAME_VERSION 1
#define FRAME_HDR_LEN 8
/* longest headers-codec magic, and so the longest header any codec writes */
#define PROTO_MAGIC_MAX 16
#define PROTO_HDR_MAX (PROTO_MAGIC_MAX + 4)

enum frame_type {
	FRAME_DATA = 1,
	FRAME_PING = 2,
	FRAME_PONG = 3,
	FRAME_ERROR = 4,
	FRAME_CLOSE = 5,
};

/* ERROR frame codes */
enum proto_err {
	PERR_NONE = 0,
	PERR_BAD_MAGIC = 1,
	PERR_BAD_VERSION = 2,
	PERR_UNKNOWN_TYPE = 3,
	PERR_TOO_LARGE = 4,
	PERR_TIMEOUT = 5,
	PERR_SERVER_FULL = 6,
	PERR_SHUTTING_DOWN = 7,
	PERR_BACKEND_UNAVAILABLE = 8,	/* the listener's backend link is down (on_down refuse/close) */
};

enum proto_status {
	PROTO_NEED_MORE,	/* no complete message yet; see msg.need */
	PROTO_MSG,		/* one message decoded; see msg */
	PROTO_ERROR,		/* protocol broken; see msg.err / msg.errtext */
};

struct proto_codec {
	enum codec codec;
	uint64_t max_frame;		/* largest payload accepted (inclusive); raw ignores it */
	const unsigned char *magic;	/* headers codec */
	size_t magic_len;
	/*
	 * frame codec: pass frames of any type byte to the caller instead of
	 * failing with PERR_UNKNOWN_TYPE.  A measuring client (sockserv-bench)
	 * counts an undefined type as a wrong frame and reads on, where the
	 * server must refuse the stream.
	 */
	bool any_type;
};

struct proto_msg {
	uint8_t type;		/* FRAME_* (DATA for raw/headers) */
	const uint8_t *data;	/* payload, points into the input buffer */
	size_t len;
	size_t consumed;	/* bytes of input this message used */
	size_t need;		/* NEED_MORE: total bytes of the pending message when known, else 0 */
	enum proto_err err;	/* PROTO_ERROR */
	const char *errtext;	/* PROTO_ERROR: static text for the ERROR frame */
};

/*
 * Decode at most one message from buf[0..len).  Raw consumes everything (len > 0).
 * Header fields are checked as soon as they arrive, so a bad magic is seen on
 * its first byte and an oversized length before any payload.  *msg is reset on
 * every call; msg->data points into buf, so it is valid only as long as buf.
 */
enum proto_status proto_decode(const struct proto_codec *pc, const uint8_t *buf,
    size_t len, struct proto_msg *msg);

/*
 * the header (frame: 8 bytes; headers: magic_len + 4; raw: none) for a payload
 * of len (<= UINT32_MAX, the caller's check); returns its size
 */
size_t proto_header(const struct proto_codec *pc, uint8_t type, size_t len, uint8_t *hdr);
size_t proto_header_len(const struct proto_codec *pc);

/* write a frame header for (type, len) into hdr[8] */
void proto_frame_header(uint8_t hdr[FRAME_HDR_LEN], uint8_t type, uint32_t len);
/*
 * build an ERROR payload (u16 BE code + text) into out; returns its length
 * (<= outlen; the text is cut, on a UTF-8 boundary, to fit; 0 if outlen < 2)
 */
size_t proto_error_payload(uint8_t *out, size_t outlen, uint16_t code, const char *text);

#endif
