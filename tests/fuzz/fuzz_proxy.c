/*
 * fuzz_proxy: proxyproto_parse() fed the way conn.c feeds it (every byte
 * received so far, again after each read), and proxyproto_net_parse() /
 * proxyproto_net_match() on arbitrary proxy_trusted entries.
 *
 * Checked for the header, besides ASan/UBSan (which see every read past
 * the given length, the buffer being copied to an exact-size allocation):
 *   - the verdict is consistent across prefixes: NEED_MORE up to some
 *     length, then DONE or ERROR for every longer input, and a DONE
 *     header's length and fields do not change with the bytes after it;
 *   - nothing is ever NEED_MORE at PROXYPROTO_MAX bytes or more, a DONE
 *     header is at most PROXYPROTO_MAX bytes (107 for v1), and it is
 *     NEED_MORE one byte short of its length;
 *   - a DONE header says what its bytes say, checked by writing it again:
 *     a v1 TCP4 line is reprinted from the parsed fields and must equal
 *     the input byte for byte (the format admits one spelling), a TCP6
 *     line's addresses are parsed again with inet_pton, a v2 header's
 *     fields are read back from their fixed offsets;
 *   - ERROR always comes with a reason.
 * For a trusted entry: one that parses matches its own address, and the
 * address with its first host bit flipped, not the one with its last
 * prefix bit flipped; its canonical spelling parses to the same range.
 *
 * Input layout:
 *   [0]  low bit 0: the rest is a connection's first bytes;
 *        low bit 1: the rest is a proxy_trusted entry (up to its first NUL)
 *   rest the bytes
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_proxy: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* more than any header: every verdict is reached within this many bytes */
#define SCAN_MAX (PROXYPROTO_MAX + 64)

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int
same_hdr(const struct proxyproto_hdr *a, const struct proxyproto_hdr *b)
{
	return a->len == b->len && a->version == b->version && a->local == b->local &&
	    a->family == b->family && memcmp(a->src_addr, b->src_addr, 16) == 0 &&
	    memcmp(a->dst_addr, b->dst_addr, 16) == 0 && a->src_port == b->src_port &&
	    a->dst_port == b->dst_port;
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* a DONE header's fields against its bytes */
static void
check_done(const uint8_t *buf, const struct proxyproto_hdr *h)
{
	CHECK(h->len > 0 && h->len <= PROXYPROTO_MAX);
	CHECK(h->local ? h->family == AF_UNSPEC :
	    (h->family == AF_INET || h->family == AF_INET6));
	if (h->version == 1) {
		char line[PROXYPROTO_V1_MAX + 1];

		CHECK(h->len <= PROXYPROTO_V1_MAX);
		CHECK(memcmp(buf, "PROXY ", 6) == 0);
		CHECK(buf[h->len - 2] == '\r' && buf[h->len - 1] == '\n');
		if (h->local) {
			CHECK(memcmp(buf + 6, "UNKNOWN", 7) == 0);
			return;
		}
		if (h->family == AF_INET) {
			const uint8_t *s = h->src_addr, *d = h->dst_addr;
			int n = snprintf(line, sizeof(line),
			    "PROXY TCP4 %u.%u.%u.%u %u.%u.%u.%u %u %u\r\n",
			    s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3],
			    h->src_port, h->dst_port);
			CHECK((size_t)n == h->len && memcmp(line, buf, h->len) == 0);
		} else {
			char f[4][PROXYPROTO_V1_MAX];
			uint8_t a[16];
			unsigned sp, dp;

			memcpy(line, buf, h->len);
			line[h->len - 2] = '\0';
			CHECK(sscanf(line, "PROXY TCP6 %106s %106s %106s %106s", f[0], f[1],
			    f[2], f[3]) == 4);
			CHECK(inet_pton(AF_INET6, f[0], a) == 1 && memcmp(a, h->src_addr, 16) == 0);
			CHECK(inet_pton(AF_INET6, f[1], a) == 1 && memcmp(a, h->dst_addr, 16) == 0);
			CHECK(sscanf(f[2], "%u", &sp) == 1 && sp == h->src_port);
			CHECK(sscanf(f[3], "%u", &dp) == 1 && dp == h->dst_port);
		}
		return;
	}
	CHECK(h->version == 2);
	CHECK(h->len >= 16 && memcmp(buf, v2_sig, 12) == 0 && (buf[12] >> 4) == 2);
	CHECK(h->len == 16u + be16(buf + 14));
	if (h->local)
		return;
	CHECK(buf[12] == 0x21);
	if (h->family == AF_INET) {
		CHECK(buf[13] == 0x11 && h->len >= 28);
		CHECK(memcmp(h->src_addr, buf + 16, 4) == 0 && memcmp(h->dst_addr, buf + 20, 4) == 0);
		CHECK(h->src_port == be16(buf + 24) && h->dst_port == be16(buf + 26));
	} else {
		CHECK(buf[13] == 0x21 && h->len >= 52);
		CHECK(memcmp(h->src_addr, buf + 16, 16) == 0 && memcmp(h->dst_addr, buf + 32, 16) == 0);
		CHECK(h->src_port == be16(buf + 48) && h->dst_port == be16(buf + 50));
	}
}

static void
fuzz_header(const uint8_t *data, size_t size)
{
	size_t n = size < SCAN_MAX ? size : SCAN_MAX;
	enum proxyproto_status first = PROXYPROTO_NEED_MORE;
	struct proxyproto_hdr h, done;
	size_t decided = 0;

	memset(&done, 0, sizeof(done));
	/* each prefix in its own exact-size copy: ASan sees any read past it */
	for (size_t len = 0; len <= n; len++) {
		uint8_t *buf = malloc(len ? len : 1);
		enum proxyproto_status st;

		CHECK(buf != NULL);
		memcpy(buf, data, len);
		st = proxyproto_parse(buf, len, &h);
		if (st == PROXYPROTO_NEED_MORE) {
			/* once decided, more bytes never undecide it */
			CHECK(first == PROXYPROTO_NEED_MORE);
			CHECK(len < PROXYPROTO_MAX);
		} else if (first == PROXYPROTO_NEED_MORE) {
			first = st;
			decided = len;
			if (st == PROXYPROTO_DONE) {
				/* decided by its last byte, not later */
				CHECK(h.len == len);
				check_done(buf, &h);
				done = h;
			} else {
				CHECK(h.err != NULL && h.err[0] != '\0');
			}
		} else {
			/* the bytes after the header change nothing */
			CHECK(st == first);
			if (st == PROXYPROTO_DONE)
				CHECK(same_hdr(&h, &done));
			else
				CHECK(h.err != NULL);
		}
		free(buf);
	}
	/* the whole input was looked at: a verdict was due within the bound */
	if (n >= PROXYPROTO_MAX)
		CHECK(first != PROXYPROTO_NEED_MORE && decided <= PROXYPROTO_MAX);
}

static void
fuzz_trusted(const uint8_t *data, size_t size)
{
	char s[256], again[INET6_ADDRSTRLEN + 8];
	struct proxyproto_net net, net2;
	const char *why = NULL;
	uint8_t a[16];
	unsigned bits;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	if (proxyproto_net_parse(s, &net, &why) != 0) {
		CHECK(why != NULL && why[0] != '\0');
		return;
	}
	bits = net.v6 ? 128 : 32;
	CHECK(net.prefix <= bits);
	/* its own address is in it, with or without the host bits */
	memcpy(a, net.addr, 16);
	CHECK(proxyproto_net_match(&net, a, net.v6));
	if (net.prefix < bits) {
		a[net.prefix / 8] ^= (uint8_t)(0x80 >> (net.prefix % 8));
		/* unless that made it IPv4-mapped: such an address matches as IPv4 */
		CHECK(proxyproto_net_match(&net, a, net.v6) ||
		    (net.v6 && memcmp(a, v4mapped, sizeof(v4mapped)) == 0));
		a[net.prefix / 8] ^= (uint8_t)(0x80 >> (net.prefix % 8));
	}
	if (net.prefix > 0) {
		/* the last bit of the prefix flipped: out */
		unsigned b = net.prefix - 1u;
		a[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
		CHECK(!proxyproto_net_match(&net, a, net.v6));
	}
	/* the canonical spelling parses to the same range */
	CHECK(inet_ntop(net.v6 ? AF_INET6 : AF_INET, net.addr, again, INET6_ADDRSTRLEN) != NULL);
	snprintf(again + strlen(again), sizeof(again) - strlen(again), "/%u", net.prefix);
	CHECK(proxyproto_net_parse(again, &net2, &why) == 0);
	CHECK(net2.v6 == net.v6 && net2.prefix == net.prefix &&
	    memcmp(net2.addr, net.addr, 16) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return -1;
	if (data[0] & 1)
		fuzz_trusted(data + 1, size - 1);
	else
		fuzz_header(data + 1, size - 1);
	return 0;
}
