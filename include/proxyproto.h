/*
 * proxyproto: the PROXY protocol header a load balancer puts before a
 * client's bytes (HAProxy's proxy-protocol.txt, versions 1 and 2), and the
 * list of peers allowed to send one (listener key proxy_trusted).  Pure
 * functions over caller-supplied bytes and strings: no socket, no
 * connection, no config, so the parser is unit tested and fuzzed alone.
 */
#ifndef SOCKSERV_PROXYPROTO_H
#define SOCKSERV_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

/* v1: the longest line the specification allows, CRLF included */
#define PROXYPROTO_V1_MAX 107
/* v2: the 16-byte fixed part */
#define PROXYPROTO_V2_HDR 16
/*
 * The longest header accepted (either version): 16 bytes, the largest
 * address block (AF_UNIX, 216 bytes) and 792 bytes of TLVs, enough for
 * everything HAProxy sends (SSL, authority, unique id of at most 128
 * bytes, CRC, namespace).  A v2 header announcing more is refused as soon
 * as its length field arrives: a connection never buffers more than this
 * before it is established.
 */
#define PROXYPROTO_MAX 1024

enum proxyproto_status {
	PROXYPROTO_NEED_MORE,	/* a valid beginning: wait for more bytes */
	PROXYPROTO_ERROR,	/* not a PROXY header: drop the connection (see err) */
	PROXYPROTO_DONE,	/* a complete header of len bytes */
};

struct proxyproto_hdr {
	size_t len;		/* DONE: header bytes; the client's own bytes follow them */
	uint8_t version;	/* 1 or 2, once known */
	/*
	 * DONE: keep the connection's real address.  v2 LOCAL (a balancer's
	 * health check), v1 UNKNOWN, and v2 PROXY for a family that is not
	 * TCP over IPv4 or IPv6 (UDP, AF_UNIX, UNSPEC), which the
	 * specification lets a receiver treat as UNSPEC.
	 */
	uint8_t local;
	int family;		/* DONE and not local: AF_INET or AF_INET6, else AF_UNSPEC */
	uint8_t src_addr[16];	/* AF_INET: the first 4 bytes; network order */
	uint8_t dst_addr[16];
	uint16_t src_port;	/* host order */
	uint16_t dst_port;
	const char *err;	/* ERROR: a static text saying why, for the log */
};

/*
 * Look at the first len bytes a connection received.  Call again with all
 * the bytes received so far whenever more arrive: every proper prefix of a
 * valid header is NEED_MORE, and an invalid one is ERROR as soon as a byte
 * proves it (a v1 line without CRLF by byte 107, a v2 length over
 * PROXYPROTO_MAX as soon as it is read), so NEED_MORE never holds more than
 * PROXYPROTO_MAX - 1 bytes.  Bytes after the header are not looked at.
 */
enum proxyproto_status proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto_hdr *h);

/* an exact address (prefix 32 or 128) or a CIDR range */
struct proxyproto_net {
	uint8_t addr[16];	/* IPv4 in the first 4 bytes; host bits are zero */
	uint8_t v6;
	uint8_t prefix;		/* 0..32 or 0..128 */
};

/*
 * "10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8": a literal, optionally with
 * a decimal prefix length (no sign, no leading zero, at most the address's
 * bits) whose host bits are all zero.  An IPv4-mapped IPv6 range
 * ("::ffff:10.0.0.0/104") is stored as the IPv4 one.  0, or -1 with *why a
 * static text.
 */
int proxyproto_net_parse(const char *s, struct proxyproto_net *n, const char **why);
/*
 * addr (16 bytes if v6, else 4) is in n.  An IPv4-mapped IPv6 address (an
 * IPv4 client of a dual-stack listener) matches as the IPv4 address.
 */
int proxyproto_net_match(const struct proxyproto_net *n, const uint8_t *addr, int v6);

#endif
