/*
 * slotctl: the down-slots message on the master-to-worker control pipe.
 */
#include "slotctl.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

/* a write of at most PIPE_BUF bytes is atomic: a reader never sees half of one */
_Static_assert(sizeof(struct slotctl_msg) <= PIPE_BUF, "slotctl message must fit PIPE_BUF");

void
slotctl_set(struct slotctl_msg *m, int slot, int down)
{
	uint64_t bit = (uint64_t)1 << (slot % 64);

	if (down)
		m->down[slot / 64] |= bit;
	else
		m->down[slot / 64] &= ~bit;
}

int
slotctl_is_down(const struct slotctl_msg *m, int slot)
{
	return (m->down[slot / 64] >> (slot % 64)) & 1;
}

int
slotctl_equal(const struct slotctl_msg *a, const struct slotctl_msg *b)
{
	return memcmp(a->down, b->down, sizeof(a->down)) == 0;
}

int
slotctl_send(int fd, const struct slotctl_msg *m)
{
	ssize_t n;

	do
		n = write(fd, m, sizeof(*m));
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)sizeof(*m))
		return 0;
	if (n >= 0)
		errno = EIO;	/* cannot happen on a pipe (atomic write), but never half a message */
	return -1;
}

int
slotctl_read(int fd, struct slotctl_reader *r, struct slotctl_msg *latest)
{
	int res = 0;

	for (;;) {
		/* a few messages per read; the loop drains the rest */
		unsigned char buf[8 * sizeof(struct slotctl_msg)];
		ssize_t n = read(fd, buf, sizeof(buf));
		size_t off = 0;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return res;
		if (n <= 0)
			return res | SLOTCTL_CLOSED;
		while (off < (size_t)n) {
			size_t want = sizeof(r->part) - r->have, take = (size_t)n - off;

			if (take > want)
				take = want;
			memcpy((unsigned char *)&r->part + r->have, buf + off, take);
			r->have += (unsigned)take;
			off += take;
			if (r->have == sizeof(r->part)) {
				*latest = r->part;
				r->have = 0;
				res |= SLOTCTL_GOT;
			}
		}
	}
}
