/*
 * evloop_poll: the poll(2) backend.  Owns a dense pollfd array holding only
 * fds with some interest, and an fd -> array index map so add, del and set
 * are O(1): deleting moves the last entry into the hole.  Entry order is
 * therefore arbitrary, which is fine: poll reports by entry, not by order.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "evloop_impl.h"

#define POLL_MIN_CAP 64

struct poll_state {
	struct pollfd *pfds;
	int npfd;
	int cap;
	int *idx;	/* fd -> index in pfds; valid only while fd is in pfds */
	int cursor;	/* where the next scan starts; see pl_wait */
};

static int
pl_init(struct evloop *loop)
{
	struct poll_state *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -1;
	/* calloc: untouched pages of a large map cost nothing */
	if ((st->idx = calloc((size_t)loop->setsize, sizeof(*st->idx))) == NULL) {
		free(st);
		return -1;
	}
	loop->be = st;
	return 0;
}

static void
pl_free(struct evloop *loop)
{
	struct poll_state *st = loop->be;

	free(st->pfds);
	free(st->idx);
	free(st);
	loop->be = NULL;
}

static short
pl_events(int mask)
{
	short ev = 0;

	if (mask & EV_READ)
		ev |= POLLIN;
	if (mask & EV_WRITE)
		ev |= POLLOUT;
	return ev;
}

static int
pl_set(struct evloop *loop, int fd, int oldmask, int newmask)
{
	struct poll_state *st = loop->be;
	int i, last;

	if (oldmask == EV_NONE) {
		if (st->npfd == st->cap) {
			/* fds are < setsize, so the array never needs more */
			int ncap = st->cap == 0 ? POLL_MIN_CAP : st->cap * 2;
			struct pollfd *np;

			if (ncap > loop->setsize)
				ncap = loop->setsize;
			np = realloc(st->pfds, (size_t)ncap * sizeof(*np));
			if (np == NULL)
				return -1;
			st->pfds = np;
			st->cap = ncap;
		}
		i = st->npfd++;
		st->pfds[i].fd = fd;
		st->pfds[i].events = pl_events(newmask);
		st->pfds[i].revents = 0;
		st->idx[fd] = i;
	} else if (newmask == EV_NONE) {
		i = st->idx[fd];
		last = --st->npfd;
		if (i != last) {
			st->pfds[i] = st->pfds[last];
			st->idx[st->pfds[i].fd] = i;
		}
	} else {
		st->pfds[st->idx[fd]].events = pl_events(newmask);
	}
	return 0;
}

static int
pl_wait(struct evloop *loop, int timeout_ms)
{
	struct poll_state *st = loop->be;
	int ready, n = 0, k, i, start;

	if ((ready = poll(st->pfds, (nfds_t)st->npfd, timeout_ms)) <= 0)
		return ready;
	/*
	 * More ready fds than one batch holds: the rest stay ready (level
	 * triggered) and the next scan starts after the last one taken, so the
	 * fds at the front of the array cannot starve those behind them.
	 */
	start = st->cursor < st->npfd ? st->cursor : 0;
	i = start;
	for (k = 0; k < st->npfd && n < ready && n < EVLOOP_BATCH; k++) {
		short re;
		int mask = 0;

		i = start + k;
		if (i >= st->npfd)
			i -= st->npfd;
		if ((re = st->pfds[i].revents) == 0)
			continue;
		if (re & POLLIN)
			mask |= EV_READ;
		if (re & POLLOUT)
			mask |= EV_WRITE;
		if (re & (POLLERR | POLLHUP | POLLNVAL))
			mask |= EV_ERROR;
		loop->fired[n].fd = st->pfds[i].fd;
		loop->fired[n].mask = mask;
		n++;
	}
	st->cursor = i + 1;
	return n;
}

const struct evloop_ops evloop_poll_ops = {
	.name = "poll",
	.init = pl_init,
	.free = pl_free,
	.set = pl_set,
	.wait = pl_wait,
};
