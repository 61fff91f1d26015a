/* linkpeer: the test side of the backend link (see linkpeer.h) */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "linkpeer.h"
#include "linkproto.h"

int
peer_listen(const char *path)
{
	struct sockaddr_un su;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	IT_ASSERT(fd >= 0);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", path);
	unlink(path);
	IT_ASSERT(bind(fd, (struct sockaddr *)&su, sizeof(su)) == 0);
	IT_ASSERT(listen(fd, 64) == 0);
	return fd;
}

void
peer_accept(struct peer *p, int lfd, int timeout_ms)
{
	struct pollfd pf = { .fd = lfd, .events = POLLIN };

	memset(p, 0, sizeof(*p));
	p->auto_ack = 1;
	if (poll(&pf, 1, timeout_ms) != 1)
		IT_FAIL("no link from the worker within %d ms", timeout_ms);
	p->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	IT_ASSERT(p->fd >= 0);
}

void
peer_send(struct peer *p, uint8_t type, uint64_t id, uint32_t seq, const void *data, size_t len)
{
	uint8_t hdr[LINK_HDR_LEN];

	linkproto_header(hdr, type, (uint32_t)len, id, seq);
	IT_ASSERT_STATUS(cli_send_all(p->fd, hdr, sizeof(hdr), IT_IO_TIMEOUT_MS), CLI_OK);
	if (len > 0)
		IT_ASSERT_STATUS(cli_send_all(p->fd, data, len, IT_IO_TIMEOUT_MS), CLI_OK);
}

void
peer_ack(struct peer *p)
{
	uint8_t cnt[8];

	linkproto_put64(cnt, p->processed);
	peer_send(p, LINK_CMD_ACK, 0, 0, cnt, 8);
}

/* the next message, PINGs answered; 0, or -1 on timeout or EOF */
int
peer_next(struct peer *p, struct pmsg *m, int timeout_ms)
{
	int64_t end = it_now_ms() + timeout_ms;

	for (;;) {
		struct link_msg lm;
		const char *why;
		enum link_status st = linkproto_decode(p->buf, p->len, 64 << 20, &lm, &why);

		if (st == LINK_BAD)
			IT_FAIL("the worker sent a broken stream: %s", why);
		if (st == LINK_GOT) {
			m->type = lm.type;
			m->id = lm.id;
			m->seq = lm.seq;
			m->len = lm.len;
			memcpy(m->data, lm.payload, lm.len < sizeof(m->data) ? lm.len : sizeof(m->data) - 1);
			m->data[lm.len < sizeof(m->data) ? lm.len : sizeof(m->data) - 1] = '\0';
			memmove(p->buf, p->buf + lm.consumed, p->len - lm.consumed);
			p->len -= lm.consumed;
			if (m->id != 0)
				p->processed++;
			if (m->type == LINK_ACK && m->len == 8)
				p->last_ack = linkproto_get64(m->data);
			if (m->type == LINK_PING)
				peer_send(p, LINK_PONG, 0, m->seq, NULL, 0);
			if (m->id != 0 && p->auto_ack)
				peer_ack(p);
			return 0;
		}
		if (p->cap - p->len < 65536) {
			p->cap = p->cap ? p->cap * 2 : 131072;
			p->buf = realloc(p->buf, p->cap);
			IT_ASSERT(p->buf != NULL);
		}
		int left = (int)(end - it_now_ms());
		struct pollfd pf = { .fd = p->fd, .events = POLLIN };
		if (left <= 0 || poll(&pf, 1, left) != 1)
			return -1;
		ssize_t n = read(p->fd, p->buf + p->len, p->cap - p->len);
		if (n <= 0)
			return -1;
		p->len += (size_t)n;
	}
}

/* the next message of type (and id, unless 0), skipping others */
void
peer_wait(struct peer *p, uint8_t type, uint64_t id, struct pmsg *m)
{
	int64_t end = it_now_ms() + IT_IO_TIMEOUT_MS;

	while (it_now_ms() < end) {
		if (peer_next(p, m, (int)(end - it_now_ms())) == -1)
			break;
		if (m->type == type && (id == 0 || m->id == id))
			return;
	}
	IT_FAIL("no link message of type %u for id %llu", type, (unsigned long long)id);
}

/* the OPEN of the client whose local port is port */
void
peer_wait_open(struct peer *p, int port, struct pmsg *m)
{
	char suffix[16];
	int64_t end = it_now_ms() + IT_IO_TIMEOUT_MS;

	snprintf(suffix, sizeof(suffix), ":%d", port);
	while (it_now_ms() < end) {
		if (peer_next(p, m, (int)(end - it_now_ms())) == -1)
			break;
		if (m->type == LINK_OPEN) {
			const char *peer = (const char *)m->data + 1 + strlen((const char *)m->data + 1) + 1;
			size_t pl = strlen(peer), sl = strlen(suffix);
			if (pl >= sl && strcmp(peer + pl - sl, suffix) == 0)
				return;
		}
	}
	IT_FAIL("no OPEN for the client on port %d", port);
}

char *
sock_path(void)
{
	char *dir = it_mkdtemp(), *path = malloc(strlen(dir) + 16);

	IT_ASSERT(path != NULL);
	sprintf(path, "%s/app.sock", dir);
	free(dir);
	return path;
}

int
peer_hello_node(struct peer *p)
{
	struct pmsg m;
	const char *line;
	int node = -1;

	IT_ASSERT_INT(peer_next(p, &m, 5000), ==, 0);
	IT_ASSERT_INT(m.type, ==, LINK_HELLO);
	line = strstr((const char *)m.data, "node=");
	if (line == NULL || sscanf(line, "node=%d\n", &node) != 1)
		IT_FAIL("a HELLO without node=: %s", (const char *)m.data);
	return node;
}
