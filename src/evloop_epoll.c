/*
 * evloop_epoll: the Linux backend.  Owns the epoll fd and the array
 * epoll_wait fills, one fixed batch reused every round.  Level-triggered,
 * so an fd left unserviced (or cut off by the batch size) is simply
 * reported again next round.  The epoll fd is per process: create the loop
 * after fork, since a forked copy shares its interest list with the parent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "evloop_impl.h"

struct ep_state {
	int epfd;
	struct epoll_event events[EVLOOP_BATCH];
};

static int
ep_init(struct evloop *loop)
{
	struct ep_state *st;

	if ((st = malloc(sizeof(*st))) == NULL)
		return -1;
	if ((st->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		int saved = errno;

		free(st);
		errno = saved;
		return -1;
	}
	loop->be = st;
	return 0;
}

static void
ep_free(struct evloop *loop)
{
	struct ep_state *st = loop->be;

	close(st->epfd);
	free(st);
	loop->be = NULL;
}

static int
ep_set(struct evloop *loop, int fd, int oldmask, int newmask)
{
	struct ep_state *st = loop->be;
	struct epoll_event ev = { 0 };
	int op;

	if (oldmask == EV_NONE)
		op = EPOLL_CTL_ADD;
	else if (newmask == EV_NONE)
		op = EPOLL_CTL_DEL;
	else
		op = EPOLL_CTL_MOD;
	if (newmask & EV_READ)
		ev.events |= EPOLLIN;
	if (newmask & EV_WRITE)
		ev.events |= EPOLLOUT;
	ev.data.fd = fd;
	/* DEL ignores ev, but kernels before 2.6.9 want it non-NULL */
	return epoll_ctl(st->epfd, op, fd, &ev);
}

static int
ep_wait(struct evloop *loop, int timeout_ms)
{
	struct ep_state *st = loop->be;
	int n, i;

	if ((n = epoll_wait(st->epfd, st->events, EVLOOP_BATCH, timeout_ms)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		uint32_t re = st->events[i].events;
		int mask = 0;

		if (re & EPOLLIN)
			mask |= EV_READ;
		if (re & EPOLLOUT)
			mask |= EV_WRITE;
		if (re & (EPOLLERR | EPOLLHUP))
			mask |= EV_ERROR;
		loop->fired[i].fd = st->events[i].data.fd;
		loop->fired[i].mask = mask;
	}
	return n;
}

const struct evloop_ops evloop_epoll_ops = {
	.name = "epoll",
	.init = ep_init,
	.free = ep_free,
	.set = ep_set,
	.wait = ep_wait,
	.close_forgets = 1,
};
