/*
 * evloop: a small readiness loop over file descriptors, in the manner of redis
 * ae.c.  It knows fds, read/write interest and callbacks, nothing else: no
 * connections, no protocols, no timers (the caller passes a wait timeout).
 * Backends: evloop_epoll.c (Linux) and evloop_poll.c (poll(2), portable).
 */
#ifndef SOCKSERV_EVLOOP_H
#define SOCKSERV_EVLOOP_H

/* the readiness backend (config key event_backend) */
enum ev_backend { EVB_EPOLL, EVB_POLL };

#define EV_NONE 0
#define EV_READ 1
#define EV_WRITE 2
/* reported in the mask passed to callbacks, never requested */
#define EV_ERROR 4	/* EPOLLERR/EPOLLHUP/POLLERR/POLLHUP/POLLNVAL */

struct evloop;
typedef void evloop_cb(struct evloop *loop, int fd, int mask, void *data);

/* setsize: fds must be < setsize (use RLIMIT_NOFILE) */
struct evloop *evloop_create(enum ev_backend backend, int setsize);
void evloop_free(struct evloop *loop);
/* register fd with interest mask (may be EV_NONE); fd must not be registered */
int evloop_add(struct evloop *loop, int fd, int mask, evloop_cb *cb, void *data);
/* change interest of a registered fd; cheap when the mask is unchanged */
int evloop_set(struct evloop *loop, int fd, int mask);
int evloop_mask(const struct evloop *loop, int fd);
/* callback and data of a registered fd (for walking every fd at shutdown); -1 if none */
int evloop_get(const struct evloop *loop, int fd, evloop_cb **cb, void **data);
/* one past the highest fd ever registered, bound for such walks */
int evloop_maxfd(const struct evloop *loop);
/* unregister fd (call before close); safe from inside a callback */
void evloop_del(struct evloop *loop, int fd);
/*
 * The same for an fd the caller closes right after and never shared: the
 * epoll backend skips the EPOLL_CTL_DEL syscall, since close() removes it.
 */
void evloop_del_closing(struct evloop *loop, int fd);
/*
 * Wait at most timeout_ms (-1 = forever, 0 = don't block) and run callbacks of
 * ready fds.  Returns the number of fds dispatched, or -1 on error (EINTR is
 * not an error: returns 0).  An fd deleted by an earlier callback in the same
 * round is not dispatched.
 */
int evloop_run_once(struct evloop *loop, int timeout_ms);
const char *evloop_backend(const struct evloop *loop);

/*
 * fn(arg) runs every round right after the wait returns (timeout, EINTR and
 * errors included) and before any callback, so callbacks see a cached clock
 * refreshed after a long sleep.  fn NULL removes it.
 */
typedef void evloop_hook(void *arg);
void evloop_set_aftersleep(struct evloop *loop, evloop_hook *fn, void *arg);

#endif
