/*
 * bconn: one client connection of a client process (connect, write, read,
 * close) and the staging buffer that gathers the messages answering one
 * read into one write, as the server does.  What a connection does with
 * the bytes it reads is its mode's (struct bench_mode); the bytes go out
 * through fdio_write() and are framed by proto's header writer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "fdio.h"

/* a load generator that cannot buffer has nothing left to measure */
static void
bconn_append(struct buffer **bp, const void *p, size_t n)
{
	if (buffer_append(bp, p, n) == -1)
		bench_die("out of memory");
}

/*
 * The payload of message seq on connection id: cheap to make and to check,
 * different for every message, so a byte from the wrong place is caught.
 */
void
bench_payload(uint8_t *p, size_t n, uint32_t id, uint64_t seq)
{
	uint64_t x = ((uint64_t)id << 40) ^ seq ^ 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(p + i, &z, n - i < 8 ? n - i : 8);
	}
}

static void
bconn_set_events(struct bench_child *ch, struct bconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.u64 = (uint64_t)(c - ch->c) };

	if (ev == c->events)
		return;
	if (epoll_ctl(ch->ep, EPOLL_CTL_MOD, c->fd, &e) == -1)
		bench_die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

void
bconn_close(struct bench_child *ch, struct bconn *c)
{
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->st == BCONN_OPEN)
		ch->open--;
	c->st = BCONN_DONE;
	c->events = 0;
	buffer_free(&c->rx);
	buffer_free(&c->tx);
}

/* write now, queue what the kernel refuses; -1 when the connection is broken */
int
bconn_write(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	size_t done;

	if (buffer_len(c->tx) > 0) {
		bconn_append(&c->tx, p, n);
		return 0;
	}
	switch (fdio_write(c->fd, p, n, &done)) {
	case FDIO_DONE:
		return 0;
	case FDIO_AGAIN:
		bconn_append(&c->tx, p + done, n - done);
		bconn_set_events(ch, c, EPOLLIN | EPOLLOUT);
		return 0;
	case FDIO_ERROR:
		break;
	}
	return -1;
}

static int
bconn_flush(struct bench_child *ch, struct bconn *c)
{
	if (buffer_len(c->tx) > 0) {
		size_t done;
		enum fdio_status st = fdio_write(c->fd, buffer_head(c->tx), buffer_len(c->tx), &done);

		buffer_consume(&c->tx, done);
		if (st == FDIO_AGAIN)
			return 0;
		if (st == FDIO_ERROR)
			return -1;
	}
	bconn_set_events(ch, c, EPOLLIN);
	return 0;
}

/* queue message number c->sent of c into the staging buffer */
void
bench_stage_message(struct bench_child *ch, struct bconn *c, uint8_t type)
{
	uint8_t hdr[PROTO_HDR_MAX];
	size_t len = (size_t)ch->o->size;
	size_t hlen = proto_header(&ch->codec, type, len, hdr);

	if (hlen > 0)
		bconn_append(&ch->stage, hdr, hlen);
	bench_payload(ch->pat, len, c->id, c->sent);
	bconn_append(&ch->stage, ch->pat, len);
	c->sent++;
}

int
bench_stage_flush(struct bench_child *ch, struct bconn *c)
{
	int rc = 0;

	if (buffer_len(ch->stage) > 0)
		rc = bconn_write(ch, c, buffer_head(ch->stage), buffer_len(ch->stage));
	/* keep the memory: it is refilled on every read */
	buffer_clear(ch->stage);
	return rc;
}

/*
 * The server ended c (EOF, reset or an ERROR frame followed by EOF).  With
 * stamp_closes (idle, silent, timeout known) the lateness of the server's
 * closes is measured.  The close time is the kernel's receive timestamp of
 * the ERROR frame (loopback delivers it while the server's write runs), so
 * the time this process takes to get round to a burst of closes is not
 * counted.
 */
void
bconn_server_closed(struct bench_child *ch, struct bconn *c)
{
	if (!c->closing_seen) {
		c->closing_seen = true;
		if (ch->stamp_closes && c->ready) {
			double due_ns = (double)c->t0 + ch->o->timeout * 1e9;

			ch->late[ch->nlate++] = ((double)ch->event_at - due_ns) / 1e6;
		}
	}
	if (!c->ready && c->st == BCONN_OPEN) {
		/* closed before it was ever usable: a failed connect, not a drop */
		ch->r.connect_failed++;
		if (ch->inflight > 0)
			ch->inflight--;
		ch->settled++;
	} else if (ch->phase != BPH_WAIT_RELEASE) {
		ch->r.server_closed++;
	}
	bconn_close(ch, c);
	if (ch->ops->ended != NULL)
		ch->ops->ended(ch, c);
}

void
bconn_connect_failed(struct bench_child *ch, struct bconn *c)
{
	ch->r.connect_failed++;
	if (ch->ops->ramps) {
		if (ch->inflight > 0)
			ch->inflight--;
		ch->settled++;
	}
	bconn_close(ch, c);
}

/* keep the first failure of its kind: the per-process report says what and when */
void
bench_note_fail(struct bench_child *ch, struct bench_fail *f, const char *what, int err)
{
	if (f->what[0] != '\0')
		return;
	f->at_s = (double)(ch->now - ch->t_start) / 1e9;
	f->err = err;
	snprintf(f->what, sizeof(f->what), "%s", what);
}

/* start a connect; -1 (connection left BCONN_DONE) when it failed at once */
int
bconn_start(struct bench_child *ch, struct bconn *c)
{
	const struct bench_opts *o = ch->o;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(o->port),
	    .sin_addr = o->addr };
	struct epoll_event e;
	int fd, on = 1;

	c->rx = c->tx = NULL;
	c->ready = c->closing_seen = false;
	c->t0 = ch->now;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		bench_note_fail(ch, &ch->r.first_fail, "socket", errno);
		c->fd = -1;
		c->st = BCONN_DONE;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (ch->stamp_closes)
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
	if (o->sources > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		/* the port is chosen at connect, per destination: more than 28k per address */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
		src.sin_addr.s_addr = htonl(0x7f000001u + c->id % (uint32_t)o->sources);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			bench_note_fail(ch, &ch->r.first_fail, "bind", errno);
			close(fd);
			c->fd = -1;
			c->st = BCONN_DONE;
			return -1;
		}
	}
	c->fd = fd;
	c->st = BCONN_CONNECTING;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 && errno != EINPROGRESS) {
		bench_note_fail(ch, &ch->r.first_fail, "connect", errno);
		close(fd);
		c->fd = -1;
		c->st = BCONN_DONE;
		return -1;
	}
	e.events = c->events = EPOLLOUT;
	e.data.u64 = (uint64_t)(c - ch->c);
	if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &e) == -1)
		bench_die("epoll_ctl: %s", strerror(errno));
	return 0;
}

/* read, and when the socket asked for it, take the kernel's receive timestamp */
static ssize_t
bconn_read_stamped(struct bench_child *ch, struct bconn *c)
{
	char cbuf[CMSG_SPACE(sizeof(struct timespec))];
	struct iovec iov = { .iov_base = ch->rbuf, .iov_len = BENCH_RBUF_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	if (!ch->stamp_closes)
		return read(c->fd, ch->rbuf, BENCH_RBUF_SIZE);
	if ((n = recvmsg(c->fd, &mh, 0)) <= 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			uint64_t real, at;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
			at = real - ch->real_off;
			/* a stamp from the future or far past is a clock step: ignore it */
			if (at <= ch->now && ch->now - at < 60000000000ULL)
				ch->event_at = at;
		}
	}
	return n;
}

static void
bconn_connected(struct bench_child *ch, struct bconn *c)
{
	c->st = BCONN_OPEN;
	ch->open++;
	ch->r.connected++;
	bconn_set_events(ch, c, EPOLLIN);
	ch->ops->connected(ch, c);
}

static void
bconn_readable(struct bench_child *ch, struct bconn *c)
{
	ssize_t n, used;
	const uint8_t *p;
	size_t len;

	do
		n = bconn_read_stamped(ch, c);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		bench_note_fail(ch, &ch->r.first_close, n == 0 ? "EOF" : "read", n == 0 ? 0 : errno);
		ch->ops->eof(ch, c);
		return;
	}
	/* a read continuing a message kept from the last one goes after it */
	if (buffer_len(c->rx) > 0) {
		bconn_append(&c->rx, ch->rbuf, (size_t)n);
		p = buffer_head(c->rx);
		len = buffer_len(c->rx);
	} else {
		p = ch->rbuf;
		len = (size_t)n;
	}
	used = ch->ops->input(ch, c, p, len);
	if (used < 0)
		return;
	if (buffer_len(c->rx) > 0)
		buffer_consume(&c->rx, (size_t)used);
	else if ((size_t)used < len)
		bconn_append(&c->rx, p + used, len - (size_t)used);
}

void
bconn_event(struct bench_child *ch, struct bconn *c, uint32_t ev)
{
	if (c->st == BCONN_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
			bench_note_fail(ch, &ch->r.first_fail, "connect (async)", err);
			bconn_connect_failed(ch, c);
			if (ch->ops->ended != NULL)
				ch->ops->ended(ch, c);
			return;
		}
		bconn_connected(ch, c);
		return;
	}
	if (c->st != BCONN_OPEN)
		return;
	if ((ev & EPOLLOUT) && bconn_flush(ch, c) == -1) {
		bench_note_fail(ch, &ch->r.first_close, "write", errno);
		bconn_server_closed(ch, c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		bconn_readable(ch, c);
}
