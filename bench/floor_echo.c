/*
 * floor_echo: the floor sockserv's cost per message is measured against.
 * A bare single-process epoll echo server with sockserv's frame format and
 * sockserv's I/O pattern -- read into one shared 64 KiB buffer, decode every
 * complete frame, gather the replies, one write per read, TCP_NODELAY on
 * accepted sockets -- and nothing else: no timers, statistics, handlers,
 * logging or supervision.  What it spends per message is the syscall and
 * kernel cost any server pays on this machine, so sockserv / floor_echo is
 * the overhead sockserv adds.
 *
 *	floor_echo [-h host] -p port [--raw]
 *
 * -p 0 picks a free port.  Once listening it prints "listening on ADDR:PORT"
 * on stdout (flushed), for scripts.  SIGTERM or SIGINT ends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR_LEN 8
#define MAX_FRAME (1024 * 1024)	/* sockserv's default max_frame */
#define MAX_OUTPUT (4 * 1024 * 1024)	/* stop reading above this much unsent output */
#define RBUF_SIZE (64 * 1024)
#define BATCH 1024		/* epoll_wait batch, as sockserv's evloop */

enum { T_DATA = 1, T_PING = 2, T_PONG = 3, T_ERROR = 4, T_CLOSE = 5 };

/* a byte string that exists only while it holds something */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};

struct conn {
	int fd;
	int paused;		/* not reading: too much unsent output */
	uint32_t events;	/* what epoll watches for it now */
	struct bytes in;	/* a partial frame */
	struct bytes out;	/* what the kernel did not take */
};

static volatile sig_atomic_t stop;
static int raw;
static int epfd;
static uint8_t rbuf[RBUF_SIZE];
static struct bytes stage;	/* replies gathered during one read */

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "floor_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
bytes_append(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void
bytes_consume(struct bytes *b, size_t n)
{
	if (n >= b->len) {
		free(b->p);
		memset(b, 0, sizeof(*b));
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void
conn_free(struct conn *c)
{
	close(c->fd);	/* the kernel drops it from the epoll set */
	free(c->in.p);
	free(c->out.p);
	free(c);
}

/* keep epoll's interest in step; a syscall only when it changes, as in sockserv */
static int
conn_interest(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (!c->paused && c->out.len > MAX_OUTPUT)
		c->paused = 1;
	else if (c->paused && c->out.len <= MAX_OUTPUT / 2)
		c->paused = 0;
	ev.events = (c->paused ? 0 : EPOLLIN) | (c->out.len ? EPOLLOUT : 0);
	if (ev.events == c->events)
		return 0;
	c->events = ev.events;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* write what is pending; -1 when the connection is broken */
static int
conn_flush(struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = write(c->fd, c->out.p, c->out.len);

		if (n > 0) {
			bytes_consume(&c->out, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 && errno == EAGAIN ? 0 : -1;
	}
	return 0;
}

/* gather one reply in the staging buffer */
static void
reply(uint8_t type, const uint8_t *payload, uint32_t len)
{
	uint8_t hdr[HDR_LEN] = { 'S', 'S', 1, type,
	    (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };

	if (bytes_append(&stage, hdr, HDR_LEN) == -1 ||
	    bytes_append(&stage, payload, len) == -1) {
		fprintf(stderr, "floor_echo: out of memory\n");
		exit(1);
	}
}

/* decode every complete frame of p[0..n) into replies; bytes used, or -1 to close */
static ssize_t
decode(const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (raw) {
		if (bytes_append(&stage, p, n) == -1)
			return -1;
		return (ssize_t)n;
	}
	while (n - off >= HDR_LEN) {
		const uint8_t *h = p + off;
		uint32_t len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
		    (uint32_t)h[6] << 8 | h[7];

		if (h[0] != 'S' || h[1] != 'S' || h[2] != 1 || len > MAX_FRAME)
			return -1;
		if (n - off - HDR_LEN < len)
			break;
		switch (h[3]) {
		case T_DATA:
			reply(T_DATA, h + HDR_LEN, len);
			break;
		case T_PING:
			reply(T_PONG, h + HDR_LEN, len);
			break;
		case T_CLOSE:
			return -1;
		default:
			break;
		}
		off += HDR_LEN + len;
	}
	return (ssize_t)off;
}

/* one read, every complete frame answered with one write; -1 to close */
static int
conn_read(struct conn *c)
{
	ssize_t n, used;
	int rc = 0;

	do
		n = read(c->fd, rbuf, sizeof(rbuf));
	while (n == -1 && errno == EINTR);
	if (n == 0)
		return -1;
	if (n == -1)
		return errno == EAGAIN ? 0 : -1;
	stage.len = 0;
	if (c->in.len > 0) {
		if (bytes_append(&c->in, rbuf, (size_t)n) == -1)
			return -1;
		used = decode(c->in.p, c->in.len);
		if (used > 0)
			bytes_consume(&c->in, (size_t)used);
	} else {
		used = decode(rbuf, (size_t)n);
		if (used >= 0 && used < n && bytes_append(&c->in, rbuf + used, (size_t)(n - used)) == -1)
			return -1;
	}
	if (used == -1)
		rc = -1;
	if (stage.len > 0) {
		if (c->out.len > 0) {
			/* in order behind what is still queued */
			if (bytes_append(&c->out, stage.p, stage.len) == -1)
				return -1;
		} else {
			size_t off = 0;

			while (off < stage.len) {
				ssize_t w = write(c->fd, stage.p + off, stage.len - off);

				if (w > 0) {
					off += (size_t)w;
				} else if (w == -1 && errno == EINTR) {
					continue;
				} else if (w == -1 && errno == EAGAIN) {
					if (bytes_append(&c->out, stage.p + off, stage.len - off) == -1)
						return -1;
					break;
				} else {
					return -1;
				}
			}
		}
	}
	if (stage.cap > 4 * RBUF_SIZE) {
		free(stage.p);
		memset(&stage, 0, sizeof(stage));
	}
	return rc;
}

static void
accept_all(int lfd)
{
	for (;;) {
		struct epoll_event ev;
		struct conn *c;
		int fd, on = 1;

		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("floor_echo: accept");
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			perror("floor_echo: epoll_ctl");
			close(fd);
			free(c);
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: floor_echo [-h host] -p port [--raw]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, '?' },
		{ NULL, 0, NULL, 0 }
	};
	static struct epoll_event events[BATCH];
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct epoll_event lev;
	struct sigaction sa;
	const char *host = "127.0.0.1";
	long port = -1;
	char *end;
	int ch, lfd, on = 1;

	while ((ch = getopt_long(argc, argv, "h:p:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 0 || port > 65535)
				usage();
			break;
		case 'r':
			raw = 1;
			break;
		default:
			usage();
		}
	}
	if (port < 0 || optind != argc)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "floor_echo: %s: not an IPv4 address\n", host);
		return 2;
	}
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("bind");
	if (listen(lfd, 4096) == -1)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1)
		die("getsockname");
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	lev.events = EPOLLIN;
	lev.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) == -1)
		die("epoll_ctl");
	printf("listening on %s:%u\n", host, ntohs(sin.sin_port));
	fflush(stdout);

	while (!stop) {
		int n = epoll_wait(epfd, events, BATCH, -1);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			uint32_t re = events[i].events;
			int dead = 0;

			if (c == NULL) {
				accept_all(lfd);
				continue;
			}
			if ((re & EPOLLOUT) && conn_flush(c) == -1)
				dead = 1;
			if (!dead && (re & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->paused &&
			    conn_read(c) == -1)
				dead = 1;
			if (!dead && (re & (EPOLLERR | EPOLLHUP)) && c->paused)
				dead = 1;
			if (!dead && conn_interest(c) == -1)
				dead = 1;
			if (dead)
				conn_free(c);
		}
	}
	return 0;
}
