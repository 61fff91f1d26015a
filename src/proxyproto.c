/*
 * proxyproto: the PROXY protocol header (versions 1 and 2) and the
 * proxy_trusted address ranges.  The parser is stateless: it is handed
 * every byte received so far and re-reads them (at most PROXYPROTO_MAX),
 * which keeps the connection's state to the bytes themselves.  It rejects
 * a header at the first byte that cannot belong to a valid one: the peer
 * learns of its mistake at once, and nothing bad is ever buffered.
 */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "linkproto.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof(v1_sig) - 1)

/* v2 byte 13: high nibble version, low nibble command */
#define V2_VERSION 0x20
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
/* v2 byte 14: high nibble address family, low nibble transport */
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET 0x1
#define V2_AF_INET6 0x2
#define V2_AF_UNIX 0x3
#define V2_TP_UNSPEC 0x0
#define V2_TP_STREAM 0x1
#define V2_TP_DGRAM 0x2
#define V2_TLV_HDR 3	/* type, 16-bit length */

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static enum proxyproto_status
fail(struct proxyproto_hdr *h, const char *why)
{
	h->err = why;
	return PROXYPROTO_ERROR;
}

/* n decimal digits at s: 1..maxdigits of them, no leading zero but "0" itself; -1 if not */
static long
decimal(const char *s, size_t n, size_t maxdigits)
{
	long v = 0;

	if (n == 0 || n > maxdigits || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * Exactly four decimal numbers 0..255 separated by single dots, without
 * leading zeros (the specification's rule, against octal confusion), in
 * the n bytes at s.  inet_pton's leniency varies between libcs: not used.
 */
static int
parse_v4(const char *s, size_t n, uint8_t out[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start;
		long v;

		if (part > 0) {
			if (i >= n || s[i] != '.')
				return -1;
			i++;
		}
		start = i;
		while (i < n && s[i] != '.')
			i++;
		if ((v = decimal(s + start, i - start, 3)) < 0 || v > 255)
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == n ? 0 : -1;
}

/* an IPv6 literal in the n bytes at s */
static int
parse_v6(const char *s, size_t n, uint8_t out[16])
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp) || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
}

/* ---- version 1: "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n" ---- */

/* the n bytes of line after "PROXY " and before CRLF */
static enum proxyproto_status
v1_line(const char *line, size_t n, struct proxyproto_hdr *h)
{
	const char *f[4];
	size_t flen[4], i, k;
	long sport, dport;
	int v6;

	/* UNKNOWN: the rest of the line is to be ignored, whatever it is */
	if (n >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (n == 7 || line[7] == ' ')) {
		h->local = 1;
		return PROXYPROTO_DONE;
	}
	if (n < 5 || (memcmp(line, "TCP4 ", 5) != 0 && memcmp(line, "TCP6 ", 5) != 0))
		return fail(h, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	v6 = line[3] == '6';
	/* exactly four fields, each separated by exactly one space */
	for (i = 5, k = 0; k < 4; k++) {
		f[k] = line + i;
		while (i < n && line[i] != ' ')
			i++;
		flen[k] = (size_t)(line + i - f[k]);
		if (flen[k] == 0)
			return fail(h, "v1: empty field (two spaces, or a missing one)");
		if (k < 3) {
			if (i == n)
				return fail(h, "v1: fewer than four address fields");
			i++;
		}
	}
	if (i != n)
		return fail(h, "v1: more than four address fields");
	if (v6 ? parse_v6(f[0], flen[0], h->src_addr) == -1 :
	    parse_v4(f[0], flen[0], h->src_addr) == -1)
		return fail(h, "v1: bad source address");
	if (v6 ? parse_v6(f[1], flen[1], h->dst_addr) == -1 :
	    parse_v4(f[1], flen[1], h->dst_addr) == -1)
		return fail(h, "v1: bad destination address");
	if ((sport = decimal(f[2], flen[2], 5)) < 0 || sport > 65535)
		return fail(h, "v1: bad source port");
	if ((dport = decimal(f[3], flen[3], 5)) < 0 || dport > 65535)
		return fail(h, "v1: bad destination port");
	h->family = v6 ? AF_INET6 : AF_INET;
	h->src_port = (uint16_t)sport;
	h->dst_port = (uint16_t)dport;
	return PROXYPROTO_DONE;
}

static enum proxyproto_status
parse_v1(const uint8_t *buf, size_t len, struct proxyproto_hdr *h)
{
	if (memcmp(buf, v1_sig, len < V1_SIG_LEN ? len : V1_SIG_LEN) != 0)
		return fail(h, "v1: line does not start with \"PROXY \"");
	/* the CR of a line of at most PROXYPROTO_V1_MAX bytes is before its last byte */
	for (size_t i = V1_SIG_LEN; i < len && i < PROXYPROTO_V1_MAX - 1; i++) {
		if (buf[i] == '\n')
			return fail(h, "v1: LF without CR");
		if (buf[i] != '\r')
			continue;
		if (i + 1 == len)
			return PROXYPROTO_NEED_MORE;
		if (buf[i + 1] != '\n')
			return fail(h, "v1: CR without LF");
		h->len = i + 2;
		return v1_line((const char *)buf + V1_SIG_LEN, i - V1_SIG_LEN, h);
	}
	if (len >= PROXYPROTO_V1_MAX - 1)
		return fail(h, "v1: no CRLF within 107 bytes");
	return PROXYPROTO_NEED_MORE;
}

/* ---- version 2: 16 fixed bytes, the address block, TLVs ---- */

/* the TLVs in buf[off, end) are whole: none runs past the header */
static int
v2_tlvs_ok(const uint8_t *buf, size_t off, size_t end)
{
	while (off < end) {
		size_t vlen;

		if (end - off < V2_TLV_HDR)
			return 0;
		vlen = linkproto_get16(buf + off + 1);
		if (end - off - V2_TLV_HDR < vlen)
			return 0;
		off += V2_TLV_HDR + vlen;
	}
	return 1;
}

static enum proxyproto_status
parse_v2(const uint8_t *buf, size_t len, struct proxyproto_hdr *h)
{
	size_t addrlen = 0, total;
	uint8_t cmd, af, tp;

	if (memcmp(buf, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig)) != 0)
		return fail(h, "v2: bad signature");
	if (len <= 12)
		return PROXYPROTO_NEED_MORE;
	if ((buf[12] & 0xf0) != V2_VERSION)
		return fail(h, "v2: version is not 2");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(h, "v2: command is neither LOCAL nor PROXY");
	if (len <= 13)
		return PROXYPROTO_NEED_MORE;
	/* LOCAL: "the family is ignored", as is the whole address block */
	af = buf[13] >> 4;
	tp = buf[13] & 0x0f;
	if (cmd == V2_CMD_PROXY) {
		if (af > V2_AF_UNIX || tp > V2_TP_DGRAM)
			return fail(h, "v2: unknown address family or transport");
		if (af != V2_AF_UNSPEC && tp != V2_TP_UNSPEC)
			addrlen = af == V2_AF_INET ? 12 : af == V2_AF_INET6 ? 36 : 216;
	}
	if (len < PROXYPROTO_V2_HDR)
		return PROXYPROTO_NEED_MORE;
	total = PROXYPROTO_V2_HDR + linkproto_get16(buf + 14);
	if (total > PROXYPROTO_MAX)
		return fail(h, "v2: header longer than 1024 bytes");
	if (total - PROXYPROTO_V2_HDR < addrlen)
		return fail(h, "v2: length shorter than the family's address block");
	if (len < total)
		return PROXYPROTO_NEED_MORE;
	h->len = total;
	if (cmd == V2_CMD_LOCAL || addrlen == 0) {
		/* a health check, or a PROXY "for an unknown or unspecified protocol" */
		h->local = 1;
		return PROXYPROTO_DONE;
	}
	if (!v2_tlvs_ok(buf, PROXYPROTO_V2_HDR + addrlen, total))
		return fail(h, "v2: a TLV runs past the header");
	if (tp != V2_TP_STREAM || af == V2_AF_UNIX) {
		/* valid, but not a TCP client's: the specification's fallback to UNSPEC */
		h->local = 1;
		return PROXYPROTO_DONE;
	}
	if (af == V2_AF_INET) {
		h->family = AF_INET;
		memcpy(h->src_addr, buf + 16, 4);
		memcpy(h->dst_addr, buf + 20, 4);
		h->src_port = linkproto_get16(buf + 24);
		h->dst_port = linkproto_get16(buf + 26);
	} else {
		h->family = AF_INET6;
		memcpy(h->src_addr, buf + 16, 16);
		memcpy(h->dst_addr, buf + 32, 16);
		h->src_port = linkproto_get16(buf + 48);
		h->dst_port = linkproto_get16(buf + 50);
	}
	return PROXYPROTO_DONE;
}

enum proxyproto_status
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->family = AF_UNSPEC;
	if (len == 0)
		return PROXYPROTO_NEED_MORE;
	/* the first byte tells the version: 'P' or CR */
	if (buf[0] == (uint8_t)v1_sig[0]) {
		h->version = 1;
		return parse_v1(buf, len, h);
	}
	if (buf[0] == v2_sig[0]) {
		h->version = 2;
		return parse_v2(buf, len, h);
	}
	return fail(h, "no PROXY protocol header");
}

/* ---- proxy_trusted ---- */

int
proxyproto_net_parse(const char *s, struct proxyproto_net *n, const char **why)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned bits;
	long prefix;

	memset(n, 0, sizeof(*n));
	if (parse_v4(s, alen, n->addr) == 0) {
		bits = 32;
	} else if (memchr(s, ':', alen) != NULL && parse_v6(s, alen, n->addr) == 0) {
		n->v6 = 1;
		bits = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	if (slash == NULL)
		prefix = bits;
	else if ((prefix = decimal(slash + 1, strlen(slash + 1), 3)) < 0 || prefix > (long)bits) {
		*why = n->v6 ? "the prefix length must be a decimal 0..128" :
		    "the prefix length must be a decimal 0..32";
		return -1;
	}
	n->prefix = (uint8_t)prefix;
	for (unsigned b = n->prefix; b < bits; b++)
		if (n->addr[b / 8] & (0x80 >> (b % 8))) {
			*why = "address bits set beyond the prefix length";
			return -1;
		}
	if (n->v6 && n->prefix >= 96 && memcmp(n->addr, v4mapped, sizeof(v4mapped)) == 0) {
		/* the form an IPv4 client of a dual-stack listener has: keep one form */
		memmove(n->addr, n->addr + 12, 4);
		memset(n->addr + 4, 0, 12);
		n->v6 = 0;
		n->prefix -= 96;
	}
	return 0;
}

int
proxyproto_net_match(const struct proxyproto_net *n, const uint8_t *addr, int v6)
{
	size_t whole = n->prefix / 8;
	unsigned rest = n->prefix % 8;

	if (v6 && memcmp(addr, v4mapped, sizeof(v4mapped)) == 0) {
		addr += sizeof(v4mapped);
		v6 = 0;
	}
	if (!v6 != !n->v6)
		return 0;
	if (memcmp(addr, n->addr, whole) != 0)
		return 0;
	return rest == 0 || ((addr[whole] ^ n->addr[whole]) & (0xff00 >> rest) & 0xff) == 0;
}
