/*
 * linkproto: encoding and decoding the backend link's messages.
 */
#include "linkproto.h"

uint32_t
linkproto_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void
linkproto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint64_t
linkproto_get64(const uint8_t *p)
{
	return (uint64_t)linkproto_get32(p) << 32 | linkproto_get32(p + 4);
}

void
linkproto_put64(uint8_t *p, uint64_t v)
{
	linkproto_put32(p, (uint32_t)(v >> 32));
	linkproto_put32(p + 4, (uint32_t)v);
}

uint16_t
linkproto_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void
linkproto_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
linkproto_header(uint8_t hdr[LINK_HDR_LEN], uint8_t type, uint32_t len, uint64_t id,
    uint32_t seq)
{
	hdr[0] = LINK_MAGIC0;
	hdr[1] = LINK_MAGIC1;
	hdr[2] = LINK_VERSION;
	hdr[3] = type;
	linkproto_put32(hdr + 4, len);
	linkproto_put64(hdr + 8, id);
	linkproto_put32(hdr + 16, seq);
}

enum link_status
linkproto_decode(const uint8_t *buf, size_t len, uint32_t max_payload, struct link_msg *m,
    const char **why)
{
	uint32_t plen;

	/* judge each header byte as soon as it is there: a peer speaking another protocol is dropped at once */
	if ((len > 0 && buf[0] != LINK_MAGIC0) || (len > 1 && buf[1] != LINK_MAGIC1)) {
		*why = "bad magic";
		return LINK_BAD;
	}
	if (len > 2 && buf[2] != LINK_VERSION) {
		*why = "unsupported version";
		return LINK_BAD;
	}
	if (len < 8)
		return LINK_NEED_MORE;
	plen = linkproto_get32(buf + 4);
	if (plen > max_payload) {
		*why = "message too large";
		return LINK_BAD;
	}
	if (len < LINK_HDR_LEN || len - LINK_HDR_LEN < plen)
		return LINK_NEED_MORE;
	m->type = buf[3];
	m->len = plen;
	m->id = linkproto_get64(buf + 8);
	m->seq = linkproto_get32(buf + 16);
	m->payload = buf + LINK_HDR_LEN;
	m->consumed = LINK_HDR_LEN + (size_t)plen;
	return LINK_GOT;
}
