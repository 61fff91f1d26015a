/*
 * linkproto: the byte layout of the backend link (sockserv-backend(7)), a
 * pure codec like proto: no sockets, no loop, so the worker's link, the
 * tests, the fuzzer and the C example backend share one decoder.
 *
 *   offset size  field
 *   0      2     magic "SB" (0x53 0x42)
 *   2      1     version, 1
 *   3      1     type
 *   4      4     payload length, u32 big-endian
 *   8      8     connection id, u64 big-endian (0: about the link itself)
 *   16     4     seq, u32 big-endian (0 where unused)
 *   20     n     payload
 */
#ifndef SOCKSERV_LINKPROTO_H
#define SOCKSERV_LINKPROTO_H

#include <stddef.h>
#include <stdint.h>

#define LINK_MAGIC0 0x53
#define LINK_MAGIC1 0x42
#define LINK_VERSION 1
#define LINK_HDR_LEN 20
#define LINK_TOPIC_MAX 255

enum link_type {
	/* sockserv -> application */
	LINK_HELLO = 1,		/* id 0; "key=value\n" lines */
	LINK_OPEN = 2,		/* u8 flags + listener name + 0x00 + "ADDR:PORT"; seq = last SEND applied */
	LINK_MSG = 3,		/* one client message; seq = its number on the connection, from 1 */
	LINK_CLOSE = 4,		/* u16 ERROR code (0 = none) + reason name */
	LINK_GONE = 5,		/* empty; seq = the command's seq */
	LINK_ACK = 6,		/* id 0; u64 messages with an id received this link session */
	LINK_PING = 7,		/* either way, id 0 */
	LINK_PONG = 8,		/* either way, id 0 */
	/* application -> sockserv */
	LINK_SEND = 16,		/* deliver payload as one message; seq increases per connection */
	LINK_CMD_CLOSE = 17,	/* empty = graceful; u16 code + text = that ERROR, then close */
	LINK_SUB = 18,		/* payload = topic (1..255 bytes) */
	LINK_UNSUB = 19,	/* payload = topic */
	LINK_PUBLISH = 20,	/* id 0; u8 topic length + topic + message */
	LINK_CMD_ACK = 21,	/* id 0; u64 messages with an id processed this link session */
};

#define LINK_OPEN_RESENT 0x01	/* OPEN flag: announced on an earlier link session */

struct link_msg {
	uint8_t type;
	uint64_t id;
	uint32_t seq;
	const uint8_t *payload;	/* points into the input buffer */
	uint32_t len;
	size_t consumed;	/* LINK_HDR_LEN + len */
};

enum link_status {
	LINK_NEED_MORE,		/* no complete message yet */
	LINK_GOT,		/* one message decoded into *m */
	LINK_BAD,		/* the stream is broken (*why says how): drop the link */
};

/*
 * Decode at most one message from buf[0..len).  A payload longer than
 * max_payload, a bad magic or version is LINK_BAD as soon as the header
 * shows it; the type is not judged here (the receiver knows which it
 * takes).  m->payload points into buf.
 */
enum link_status linkproto_decode(const uint8_t *buf, size_t len, uint32_t max_payload,
    struct link_msg *m, const char **why);

/* write the 20-byte header of a message into hdr */
void linkproto_header(uint8_t hdr[LINK_HDR_LEN], uint8_t type, uint32_t len, uint64_t id,
    uint32_t seq);

/* u64/u32/u16 big-endian helpers for header and payload fields (ACK counts, CLOSE codes) */
uint64_t linkproto_get64(const uint8_t *p);
uint32_t linkproto_get32(const uint8_t *p);
void linkproto_put32(uint8_t *p, uint32_t v);
void linkproto_put64(uint8_t *p, uint64_t v);
uint16_t linkproto_get16(const uint8_t *p);
void linkproto_put16(uint8_t *p, uint16_t v);

#endif
