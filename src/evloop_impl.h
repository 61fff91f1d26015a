/*
 * evloop_impl: the contract between the generic loop (evloop.c) and its
 * backends (evloop_epoll.c, evloop_poll.c).  Private to those three files;
 * nothing else includes it.
 *
 * The generic part owns the per-fd table (interest, callback, data) and the
 * dispatch; a backend only keeps the kernel's view of the interest in step
 * and reports what is ready.  A backend never sees an fd with EV_NONE
 * interest: going to EV_NONE removes it, because both epoll and poll report
 * hang-up and error even for an empty interest set, and a level-triggered
 * loop would then spin on an fd nobody is waiting for.
 */
#ifndef SOCKSERV_EVLOOP_IMPL_H
#define SOCKSERV_EVLOOP_IMPL_H

#include <stdint.h>

#include "evloop.h"

/* most fds reported by one backend wait; the size of the fired array */
#define EVLOOP_BATCH 1024

/* one ready fd, as the backend reports it */
struct evloop_fired {
	int fd;
	int mask;	/* EV_READ, EV_WRITE, EV_ERROR as seen by the kernel */
	uint32_t gen;	/* the fd's registration generation when it was reported */
};

struct evloop_ops {
	const char *name;
	/* allocate the backend state in loop->be; -1 with errno on failure */
	int (*init)(struct evloop *loop);
	void (*free)(struct evloop *loop);
	/*
	 * Move fd from interest oldmask to newmask (they differ).  EV_NONE on
	 * either side means "not in the backend": add or remove it.
	 */
	int (*set)(struct evloop *loop, int fd, int oldmask, int newmask);
	/*
	 * Wait at most timeout_ms and fill loop->fired[0..n) with fd and mask;
	 * returns n (at most EVLOOP_BATCH), or -1 with errno (EINTR included).
	 */
	int (*wait)(struct evloop *loop, int timeout_ms);
	/* closing an fd takes it out of the backend by itself (epoll: the fd is never dup'd) */
	int close_forgets;
};

struct evloop_fd;

struct evloop {
	const struct evloop_ops *ops;
	void *be;			/* backend state */
	struct evloop_fd *fds;		/* indexed by fd, setsize entries */
	int setsize;
	int maxfd;			/* high-water mark: registered fds < maxfd */
	evloop_hook *aftersleep;
	void *aftersleep_arg;
	struct evloop_fired fired[EVLOOP_BATCH];
};

extern const struct evloop_ops evloop_epoll_ops;
extern const struct evloop_ops evloop_poll_ops;

#endif
