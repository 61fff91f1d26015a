/*
 * slotctl: the master's one-way control channel to each worker, and the
 * one message it carries: the set of worker slots that have no running
 * worker ("down").  A live worker of the current generation accepts on a
 * down slot's SO_REUSEPORT sockets too, so the clients the kernel keeps
 * hashing to that slot (and those already in its queue) are served while
 * it crash-loops or waits out its respawn backoff.
 *
 * The channel is a pipe whose write end only the master holds: the
 * workers' user can write the stats segment, so nothing that steers a
 * worker may travel there.  Messages are fixed-size and smaller than
 * PIPE_BUF, so every write lands whole; a reader keeps only the latest
 * complete one.  End of file means the master is gone.
 */
#ifndef SOCKSERV_SLOTCTL_H
#define SOCKSERV_SLOTCTL_H

#include <stdint.h>

#include "stats.h"

#define SLOTCTL_WORDS ((STATS_MAX_WORKERS + 63) / 64)

/* bit s of down[s / 64] is set while slot s has no running worker */
struct slotctl_msg {
	uint64_t down[SLOTCTL_WORDS];
};

void slotctl_set(struct slotctl_msg *m, int slot, int down);
int slotctl_is_down(const struct slotctl_msg *m, int slot);
int slotctl_equal(const struct slotctl_msg *a, const struct slotctl_msg *b);

/* master: write one message to the non-blocking fd; 0, or -1 with errno (EAGAIN: full) */
int slotctl_send(int fd, const struct slotctl_msg *m);

/* worker: the bytes of a message that has not fully arrived yet */
struct slotctl_reader {
	struct slotctl_msg part;
	unsigned have;
};

#define SLOTCTL_GOT 1		/* *latest holds a newer message */
#define SLOTCTL_CLOSED 2	/* end of file (or a read error): the master is gone */

/*
 * worker: read all the non-blocking fd holds; the last complete message
 * goes to *latest.  Returns a mask of SLOTCTL_GOT and SLOTCTL_CLOSED (0:
 * nothing new).
 */
int slotctl_read(int fd, struct slotctl_reader *r, struct slotctl_msg *latest);

#endif
