/*
 * echo_backend: the smallest application behind sockserv (sockserv-backend(7)),
 * in C with include/linkproto.h.  It listens, accepts the workers' links
 * and answers every MSG with a SEND of the same bytes numbered by the MSG's
 * seq (so a MSG replayed after a restart makes a reply sockserv drops as a
 * duplicate), ACKs what it processed once per read, and answers PING.
 *
 *   echo_backend [-v] unix:/PATH | IPV4:PORT
 *
 * -v prints one line per message received to stdout (the tests read it):
 *   HELLO worker=W pid=P | OPEN ID FLAGS SEQ LISTENER PEER | MSG ID SEQ LEN |
 *   CLOSE ID CODE REASON | GONE ID SEQ
 * It runs until killed.  Single-threaded, poll(2), no allocation per message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "linkproto.h"

#define MAX_LINKS 256
#define MAX_PAYLOAD (16 * 1024 * 1024)

struct link {
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_cap;
	uint64_t processed;	/* id'd messages this session */
	uint64_t acked;
};

static int verbose;

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
reserve(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 65536;
	if ((*p = realloc(*p, *cap)) == NULL)
		die("realloc");
}

static void
put(struct link *l, uint8_t type, uint64_t id, uint32_t seq, const void *p, size_t len)
{
	reserve(&l->out, &l->out_cap, l->out_len + LINK_HDR_LEN + len);
	linkproto_header(l->out + l->out_len, type, (uint32_t)len, id, seq);
	if (len > 0)
		memcpy(l->out + l->out_len + LINK_HDR_LEN, p, len);
	l->out_len += LINK_HDR_LEN + len;
}

/* -1: drop this link */
static int
handle(struct link *l, const struct link_msg *m)
{
	if (m->id != 0)
		l->processed++;
	switch (m->type) {
	case LINK_HELLO:
		if (verbose)
			printf("HELLO %.*s\n", (int)m->len, (const char *)m->payload);
		break;
	case LINK_OPEN:
		if (verbose) {
			const char *name = (const char *)m->payload + 1;
			size_t nl = m->len > 1 ? strnlen(name, m->len - 1) : 0;
			printf("OPEN %llu %u %u %.*s %.*s\n", (unsigned long long)m->id,
			    m->len ? m->payload[0] : 0, m->seq, (int)nl, name,
			    (int)(m->len > nl + 2 ? m->len - nl - 2 : 0), name + nl + 1);
		}
		break;
	case LINK_MSG:
		if (verbose)
			printf("MSG %llu %u %u\n", (unsigned long long)m->id, m->seq, m->len);
		put(l, LINK_SEND, m->id, m->seq, m->payload, m->len);
		break;
	case LINK_CLOSE:
		if (verbose)
			printf("CLOSE %llu %u %.*s\n", (unsigned long long)m->id,
			    m->len >= 2 ? linkproto_get16(m->payload) : 0,
			    (int)(m->len >= 2 ? m->len - 2 : 0), (const char *)m->payload + 2);
		break;
	case LINK_GONE:
		if (verbose)
			printf("GONE %llu %u\n", (unsigned long long)m->id, m->seq);
		break;
	case LINK_ACK:
		break;
	case LINK_PING:
		put(l, LINK_PONG, 0, m->seq, m->payload, m->len);
		break;
	case LINK_PONG:
		break;
	default:
		fprintf(stderr, "echo_backend: unexpected type %u\n", m->type);
		return -1;
	}
	return 0;
}

static int
link_read(struct link *l)
{
	struct link_msg m;
	const char *why;
	size_t off = 0;
	ssize_t n;

	reserve(&l->in, &l->in_cap, l->in_len + 65536);
	n = read(l->fd, l->in + l->in_len, l->in_cap - l->in_len);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n == -1)
		return 0;
	l->in_len += (size_t)n;
	for (;;) {
		enum link_status st = linkproto_decode(l->in + off, l->in_len - off, MAX_PAYLOAD,
		    &m, &why);
		if (st == LINK_NEED_MORE)
			break;
		if (st == LINK_BAD) {
			fprintf(stderr, "echo_backend: bad stream: %s\n", why);
			return -1;
		}
		if (handle(l, &m) == -1)
			return -1;
		off += m.consumed;
	}
	memmove(l->in, l->in + off, l->in_len - off);
	l->in_len -= off;
	/* one ACK per read, after the replies it covers */
	if (l->processed != l->acked) {
		uint8_t cnt[8];
		linkproto_put64(cnt, l->processed);
		put(l, LINK_CMD_ACK, 0, 0, cnt, 8);
		l->acked = l->processed;
	}
	if (verbose)
		fflush(stdout);
	return 0;
}

static int
link_flush(struct link *l)
{
	while (l->out_len > 0) {
		ssize_t n = write(l->fd, l->out, l->out_len);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		memmove(l->out, l->out + n, l->out_len - (size_t)n);
		l->out_len -= (size_t)n;
	}
	return 0;
}

static int
listen_on(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		if (strlen(addr + 5) >= sizeof(su->sun_path))
			die("unix path too long");
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, addr + 5);
		unlink(su->sun_path);
		sl = sizeof(*su);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		char host[64];
		const char *colon = strrchr(addr, ':');
		if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
			die("address: unix:/PATH or IPV4:PORT");
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			die("address: bad IPv4 literal");
		sl = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1)
		die("bind");
	if (listen(fd, 128) == -1)
		die("listen");
	return fd;
}

int
main(int argc, char **argv)
{
	static struct link links[MAX_LINKS];
	struct pollfd pfd[MAX_LINKS + 1];
	int nlinks = 0, lfd, opt;

	while ((opt = getopt(argc, argv, "v")) != -1) {
		if (opt != 'v') {
			fprintf(stderr, "usage: echo_backend [-v] unix:/PATH | IPV4:PORT\n");
			return 2;
		}
		verbose = 1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: echo_backend [-v] unix:/PATH | IPV4:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(argv[optind]);
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < nlinks; i++)
			pfd[i + 1] = (struct pollfd){ .fd = links[i].fd,
			    .events = POLLIN | (links[i].out_len ? POLLOUT : 0) };
		if (poll(pfd, (nfds_t)nlinks + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = nlinks - 1; i >= 0; i--) {
			struct link *l = &links[i];
			int bad = 0;

			if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				bad = link_read(l) == -1;
			if (!bad)
				bad = link_flush(l) == -1;
			if (bad) {
				close(l->fd);
				free(l->in);
				free(l->out);
				links[i] = links[--nlinks];
				memset(&links[nlinks], 0, sizeof(links[nlinks]));
			}
		}
		if (pfd[0].revents & POLLIN) {
			int fd;
			while (nlinks < MAX_LINKS &&
			    (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				memset(&links[nlinks], 0, sizeof(links[nlinks]));
				links[nlinks++].fd = fd;
			}
		}
	}
}
