/*
 * evloop: the generic half of the event loop.  Owns the per-fd table
 * (interest mask, callback, data, registration generation), argument
 * checking and dispatch; the kernel interface lives in a backend
 * (evloop_epoll.c, evloop_poll.c) behind struct evloop_ops.
 *
 * Stale events: a backend reports a batch of ready fds before any callback
 * runs, and a callback may delete, close and even re-create (same number)
 * an fd that is further down the batch.  Every fd slot carries a generation
 * bumped on add and on del; the batch records the generation it saw, and a
 * mismatch at dispatch time means the event belongs to a registration that
 * no longer exists.  Re-checking only the mask (as ae.c does) would hand the
 * old fd's readiness to the new one.
 */
#include "evloop.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "evloop_impl.h"

#define EV_INTEREST (EV_READ | EV_WRITE)

/* Kept at 24 bytes: the table has one entry per possible fd. */
struct evloop_fd {
	evloop_cb *cb;
	void *data;
	uint32_t gen;		/* bumped on add and del; see the top comment */
	uint8_t mask;		/* interest: EV_READ | EV_WRITE, or EV_NONE */
	uint8_t registered;
};

_Static_assert(sizeof(struct evloop_fd) <= 24, "evloop_fd must stay small");

struct evloop *
evloop_create(enum ev_backend backend, int setsize)
{
	struct evloop *loop;

	if (setsize <= 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return NULL;
	switch (backend) {
	case EVB_EPOLL:
		loop->ops = &evloop_epoll_ops;
		break;
	case EVB_POLL:
		loop->ops = &evloop_poll_ops;
		break;
	default:
		free(loop);
		errno = EINVAL;
		return NULL;
	}
	loop->setsize = setsize;
	/*
	 * calloc of a large table comes from fresh zero pages: slots for fd
	 * numbers never used cost no memory until touched.
	 */
	if ((loop->fds = calloc((size_t)setsize, sizeof(*loop->fds))) == NULL) {
		free(loop);
		return NULL;
	}
	if (loop->ops->init(loop) == -1) {
		int saved = errno;

		free(loop->fds);
		free(loop);
		errno = saved;
		return NULL;
	}
	return loop;
}

void
evloop_free(struct evloop *loop)
{
	if (loop == NULL)
		return;
	loop->ops->free(loop);
	free(loop->fds);
	free(loop);
}

static int
check_fd(const struct evloop *loop, int fd)
{
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fd >= loop->setsize) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

int
evloop_add(struct evloop *loop, int fd, int mask, evloop_cb *cb, void *data)
{
	struct evloop_fd *e;

	if (check_fd(loop, fd) == -1)
		return -1;
	if ((mask & ~EV_INTEREST) != 0 || cb == NULL) {
		errno = EINVAL;
		return -1;
	}
	e = &loop->fds[fd];
	if (e->registered) {
		errno = EEXIST;
		return -1;
	}
	if (mask != EV_NONE && loop->ops->set(loop, fd, EV_NONE, mask) == -1)
		return -1;
	e->cb = cb;
	e->data = data;
	e->mask = (uint8_t)mask;
	e->registered = 1;
	e->gen++;
	if (fd >= loop->maxfd)
		loop->maxfd = fd + 1;
	return 0;
}

int
evloop_set(struct evloop *loop, int fd, int mask)
{
	struct evloop_fd *e;

	if (check_fd(loop, fd) == -1)
		return -1;
	if ((mask & ~EV_INTEREST) != 0) {
		errno = EINVAL;
		return -1;
	}
	e = &loop->fds[fd];
	if (!e->registered) {
		errno = ENOENT;
		return -1;
	}
	if (e->mask == mask)
		return 0;
	if (loop->ops->set(loop, fd, e->mask, mask) == -1)
		return -1;
	e->mask = (uint8_t)mask;
	return 0;
}

int
evloop_mask(const struct evloop *loop, int fd)
{
	if (fd < 0 || fd >= loop->setsize || !loop->fds[fd].registered)
		return EV_NONE;
	return loop->fds[fd].mask;
}

static void
evloop_unregister(struct evloop *loop, int fd, int closing)
{
	struct evloop_fd *e;

	if (fd < 0 || fd >= loop->setsize)
		return;
	e = &loop->fds[fd];
	if (!e->registered)
		return;
	/*
	 * A failure here (the caller closed the fd first: EBADF) leaves nothing
	 * behind: the kernel drops a closed fd from epoll by itself.
	 */
	if (e->mask != EV_NONE && !(closing && loop->ops->close_forgets))
		(void)loop->ops->set(loop, fd, e->mask, EV_NONE);
	e->cb = NULL;
	e->data = NULL;
	e->mask = EV_NONE;
	e->registered = 0;
	e->gen++;
}

void
evloop_del(struct evloop *loop, int fd)
{
	evloop_unregister(loop, fd, 0);
}

void
evloop_del_closing(struct evloop *loop, int fd)
{
	evloop_unregister(loop, fd, 1);
}

int
evloop_run_once(struct evloop *loop, int timeout_ms)
{
	int n, i, dispatched = 0;

	n = loop->ops->wait(loop, timeout_ms);
	if (loop->aftersleep != NULL) {
		int saved = errno;

		loop->aftersleep(loop->aftersleep_arg);
		errno = saved;
	}
	if (n == -1)
		return errno == EINTR ? 0 : -1;
	/* stamp the whole batch before the first callback can change anything */
	for (i = 0; i < n; i++)
		loop->fired[i].gen = loop->fds[loop->fired[i].fd].gen;

	for (i = 0; i < n; i++) {
		const struct evloop_fired *f = &loop->fired[i];
		struct evloop_fd *e = &loop->fds[f->fd];
		int mask = f->mask;

		if (!e->registered || e->gen != f->gen || e->mask == EV_NONE)
			continue;
		/*
		 * On error or hang-up also report the directions being waited
		 * for: the caller's read() or write() then sees the EOF or the
		 * error, and a caller that only looks at EV_READ/EV_WRITE does
		 * not spin on an fd it never services.
		 */
		if (mask & EV_ERROR)
			mask |= e->mask;
		/* an earlier callback may have narrowed the interest */
		mask &= e->mask | EV_ERROR;
		if (mask == EV_NONE)
			continue;
		e->cb(loop, f->fd, mask, e->data);
		dispatched++;
	}
	return dispatched;
}

const char *
evloop_backend(const struct evloop *loop)
{
	return loop->ops->name;
}

void
evloop_set_aftersleep(struct evloop *loop, evloop_hook *fn, void *arg)
{
	loop->aftersleep = fn;
	loop->aftersleep_arg = arg;
}

int
evloop_maxfd(const struct evloop *loop)
{
	return loop->maxfd;
}

int
evloop_get(const struct evloop *loop, int fd, evloop_cb **cb, void **data)
{
	const struct evloop_fd *e;

	if (fd < 0 || fd >= loop->setsize || !loop->fds[fd].registered)
		return -1;
	e = &loop->fds[fd];
	if (cb != NULL)
		*cb = e->cb;
	if (data != NULL)
		*data = e->data;
	return 0;
}
