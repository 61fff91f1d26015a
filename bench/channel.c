/*
 * channel: the one socket between the parent and a client process.  The
 * parent writes single-byte commands on it, the child writes records back.
 * It is an AF_UNIX socket pair rather than two pipes so that its writes go
 * through fdio_write(), the loop every other socket write uses; a record
 * may be larger than the socket buffer, so a write that would block waits
 * for room (as a blocking pipe write did) and then goes on.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "fdio.h"

int
bench_channel_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

/* write all n bytes, waiting for room; -1 when the other side is gone */
int
bench_channel_write(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		size_t done;

		switch (fdio_write(fd, b, n, &done)) {
		case FDIO_DONE:
			return 0;
		case FDIO_ERROR:
			return -1;
		case FDIO_AGAIN:
			break;
		}
		b += done;
		n -= done;
		/* a peer that is gone wakes this with POLLHUP/POLLERR: the next write says EPIPE */
		while (poll(&pfd, 1, -1) == -1)
			if (errno != EINTR)
				return -1;
	}
}

/* read exactly n bytes before the monotonic deadline; -1 on EOF, error or time */
int
bench_channel_read(int fd, void *p, size_t n, double deadline)
{
	uint8_t *b = p;

	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - bench_mono_s();
		ssize_t r;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		r = read(fd, b, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}
