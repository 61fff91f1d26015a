/*
 * fdio: the one write-until-the-kernel-refuses loop on a non-blocking
 * socket, shared by the server's connections and the client tools.
 */
#ifndef SOCKSERV_FDIO_H
#define SOCKSERV_FDIO_H

#include <stddef.h>

enum fdio_status {
	FDIO_ERROR = -1,	/* errno says why (never EINTR or EAGAIN; EIO for a 0-byte write) */
	FDIO_DONE = 0,		/* every byte was written */
	FDIO_AGAIN = 1,		/* the kernel would block: the rest is the caller's to keep */
};

/*
 * Write buf[0..len) to the socket fd (MSG_NOSIGNAL: a closed peer is
 * EPIPE, never SIGPIPE) until all of it is written, the kernel would
 * block, or an error.  *done is set to the bytes written, in every case.
 */
enum fdio_status fdio_write(int fd, const void *buf, size_t len, size_t *done);

#endif
