/*
 * fdio: writing to non-blocking sockets.
 */
#include "fdio.h"

#include <errno.h>
#include <sys/socket.h>

enum fdio_status
fdio_write(int fd, const void *buf, size_t len, size_t *done)
{
	const char *p = buf;
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		*done = off;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return FDIO_AGAIN;
		/* a 0-byte write leaves errno as it was: never report a stale one */
		if (n == 0)
			errno = EIO;
		return FDIO_ERROR;
	}
	*done = off;
	return FDIO_DONE;
}
