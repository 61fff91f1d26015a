/*
 * Tests for evloop: every behaviour is checked against both backends (each
 * test is registered once per backend), with real pipes and socketpairs.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"

void test_evloop_register(void);

#define SETSIZE 1024
#define MAXCALLS 64

/* what the callbacks saw */
struct call {
	int fd;
	int mask;
	void *data;
};

static struct call calls[MAXCALLS];
static int ncalls;

static void
reset_calls(void)
{
	memset(calls, 0, sizeof(calls));
	ncalls = 0;
}

static void
record_cb(struct evloop *loop, int fd, int mask, void *data)
{
	(void)loop;
	if (ncalls < MAXCALLS) {
		calls[ncalls].fd = fd;
		calls[ncalls].mask = mask;
		calls[ncalls].data = data;
	}
	ncalls++;
}

static int
count_calls(int fd)
{
	int i, n = 0;

	for (i = 0; i < ncalls && i < MAXCALLS; i++)
		if (calls[i].fd == fd)
			n++;
	return n;
}

static const struct call *
find_call(int fd)
{
	int i;

	for (i = 0; i < ncalls && i < MAXCALLS; i++)
		if (calls[i].fd == fd)
			return &calls[i];
	return NULL;
}

static void
xsocketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sv) == -1) {
		perror("socketpair");
		abort();
	}
}

static void
xpipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("pipe2");
		abort();
	}
}

static void
put_byte(int fd)
{
	char c = 'x';

	CU_ASSERT_FATAL(write(fd, &c, 1) == 1);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct evloop *
make_loop(enum ev_backend b, int setsize)
{
	struct evloop *loop = evloop_create(b, setsize);

	CU_ASSERT_PTR_NOT_NULL_FATAL(loop);
	reset_calls();
	return loop;
}

static void
check_backend_name(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);

	CU_ASSERT_STRING_EQUAL(evloop_backend(loop),
	    b == EVB_EPOLL ? "epoll" : "poll");
	evloop_free(loop);
}

/*
 * The loop's own fd (epoll) must be close-on-exec and must go away with
 * the loop; the poll backend opens none.
 */
static void
check_create_free_fds(enum ev_backend b)
{
	int probe, fd;
	struct evloop *loop;

	/* the lowest free fd number is where a new fd will land */
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(probe >= 0);
	close(probe);
	loop = make_loop(b, SETSIZE);
	fd = fcntl(probe, F_GETFD);
	if (b == EVB_EPOLL) {
		CU_ASSERT(fd != -1 && (fd & FD_CLOEXEC));
	} else {
		CU_ASSERT(fd == -1 && errno == EBADF);
	}
	evloop_free(loop);
	CU_ASSERT(fcntl(probe, F_GETFD) == -1 && errno == EBADF);
	evloop_free(NULL);
}

static void
check_read_ready_passes_data(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int p[2], q[2];
	int mark_p, mark_q;

	xpipe(p);
	xpipe(q);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, &mark_p) == 0);
	CU_ASSERT_FATAL(evloop_add(loop, q[0], EV_READ, record_cb, &mark_q) == 0);
	CU_ASSERT(evloop_mask(loop, p[0]) == EV_READ);
	put_byte(p[1]);

	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT_FATAL(ncalls == 1);
	CU_ASSERT(calls[0].fd == p[0]);
	CU_ASSERT(calls[0].mask == EV_READ);
	CU_ASSERT(calls[0].data == &mark_p);

	/* the other pipe, now written, gets its own data pointer */
	reset_calls();
	put_byte(q[1]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 2);
	CU_ASSERT(count_calls(p[0]) == 1);
	CU_ASSERT(count_calls(q[0]) == 1);
	CU_ASSERT(find_call(q[0]) != NULL && find_call(q[0])->data == &mark_q);

	evloop_free(loop);
	close(p[0]); close(p[1]); close(q[0]); close(q[1]);
}

static void
check_write_ready(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int sv[2];

	xsocketpair(sv);
	CU_ASSERT_FATAL(evloop_add(loop, sv[0], EV_WRITE, record_cb, NULL) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT_FATAL(ncalls == 1);
	CU_ASSERT(calls[0].fd == sv[0]);
	CU_ASSERT(calls[0].mask == EV_WRITE);
	evloop_free(loop);
	close(sv[0]); close(sv[1]);
}

/* an fd ready for both directions but waited on for one hears only of that one */
static void
check_mask_restricted_to_interest(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int sv[2];

	xsocketpair(sv);
	put_byte(sv[1]);	/* sv[0] readable and writable */
	CU_ASSERT_FATAL(evloop_add(loop, sv[0], EV_READ, record_cb, NULL) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].mask == EV_READ);

	reset_calls();
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ | EV_WRITE) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].mask == (EV_READ | EV_WRITE));
	evloop_free(loop);
	close(sv[0]); close(sv[1]);
}

static void
check_nothing_ready_returns_zero(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int p[2], sv[2];

	xpipe(p);
	xsocketpair(sv);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, NULL) == 0);
	CU_ASSERT_FATAL(evloop_add(loop, sv[0], EV_READ, record_cb, NULL) == 0);
	CU_ASSERT(evloop_run_once(loop, 0) == 0);
	CU_ASSERT(ncalls == 0);
	evloop_free(loop);
	close(p[0]); close(p[1]); close(sv[0]); close(sv[1]);
}

static void
check_timeout_respected(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int p[2];
	uint64_t t0, dt;

	/* with nothing registered at all */
	t0 = now_ms();
	CU_ASSERT(evloop_run_once(loop, 50) == 0);
	dt = now_ms() - t0;
	CU_ASSERT(dt >= 45 && dt < 2000);

	/* and with an idle fd */
	xpipe(p);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, NULL) == 0);
	t0 = now_ms();
	CU_ASSERT(evloop_run_once(loop, 50) == 0);
	dt = now_ms() - t0;
	CU_ASSERT(dt >= 45 && dt < 2000);
	CU_ASSERT(ncalls == 0);
	evloop_free(loop);
	close(p[0]); close(p[1]);
}

static void
check_set_mask_stops_and_starts(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int sv[2];
	char c;

	xsocketpair(sv);
	CU_ASSERT_FATAL(evloop_add(loop, sv[0], EV_WRITE, record_cb, NULL) == 0);
	CU_ASSERT(evloop_run_once(loop, 0) == 1);

	/* no interest: silence even though writable */
	reset_calls();
	CU_ASSERT(evloop_set(loop, sv[0], EV_NONE) == 0);
	CU_ASSERT(evloop_mask(loop, sv[0]) == EV_NONE);
	CU_ASSERT(evloop_run_once(loop, 0) == 0);
	CU_ASSERT(ncalls == 0);

	/* read interest, nothing to read yet */
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ) == 0);
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ) == 0);	/* unchanged */
	CU_ASSERT(evloop_mask(loop, sv[0]) == EV_READ);
	CU_ASSERT(evloop_run_once(loop, 0) == 0);
	CU_ASSERT(ncalls == 0);

	put_byte(sv[1]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].mask == EV_READ);

	/* writable again once asked for, alongside read */
	reset_calls();
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ | EV_WRITE) == 0);
	CU_ASSERT(evloop_run_once(loop, 0) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].mask == (EV_READ | EV_WRITE));

	/* drained: write alone remains */
	reset_calls();
	CU_ASSERT(read(sv[0], &c, 1) == 1);
	CU_ASSERT(evloop_run_once(loop, 0) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].mask == EV_WRITE);

	/* and back to read only: silent again */
	reset_calls();
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ) == 0);
	CU_ASSERT(evloop_run_once(loop, 0) == 0);
	CU_ASSERT(ncalls == 0);
	evloop_free(loop);
	close(sv[0]); close(sv[1]);
}

/* the peer of a socketpair goes away: the reader must hear of it */
static void
check_hangup_delivered(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int sv[2];
	char c;

	xsocketpair(sv);
	CU_ASSERT_FATAL(evloop_add(loop, sv[0], EV_READ, record_cb, NULL) == 0);
	close(sv[1]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT_FATAL(ncalls == 1);
	CU_ASSERT(calls[0].mask & EV_READ);
	CU_ASSERT((calls[0].mask & ~(EV_READ | EV_ERROR)) == 0);
	CU_ASSERT(read(sv[0], &c, 1) == 0);
	evloop_free(loop);
	close(sv[0]);
}

/*
 * Error on a write-only waiter: a pipe whose reader is gone.  EV_ERROR is
 * reported with EV_WRITE (the interest) and without EV_READ (not asked for).
 */
static void
check_error_reported_with_interest(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int p[2];
	struct sigaction sa, old;

	xpipe(p);
	CU_ASSERT_FATAL(evloop_add(loop, p[1], EV_WRITE, record_cb, NULL) == 0);
	close(p[0]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT_FATAL(ncalls == 1);
	CU_ASSERT(calls[0].mask == (EV_WRITE | EV_ERROR));

	/* and the write the caller then tries sees the error */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old);
	CU_ASSERT(write(p[1], "x", 1) == -1 && errno == EPIPE);
	sigaction(SIGPIPE, &old, NULL);

	/* the read end of a pipe whose writer closed: read sees EOF */
	evloop_del(loop, p[1]);
	close(p[1]);
	reset_calls();
	xpipe(p);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, NULL) == 0);
	close(p[1]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT_FATAL(ncalls == 1);
	CU_ASSERT(calls[0].mask == (EV_READ | EV_ERROR));
	evloop_free(loop);
	close(p[0]);
}

/*
 * An fd registered with no interest is not watched at all, not even for
 * hang-up (a level-triggered loop would spin on it); asking for read
 * later brings the hang-up.
 */
static void
check_none_interest_is_silent(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int sv[2];

	xsocketpair(sv);
	CU_ASSERT_FATAL(evloop_add(loop, sv[0], EV_NONE, record_cb, NULL) == 0);
	CU_ASSERT(evloop_mask(loop, sv[0]) == EV_NONE);
	close(sv[1]);
	CU_ASSERT(evloop_run_once(loop, 0) == 0);
	CU_ASSERT(ncalls == 0);
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ncalls == 1 && (calls[0].mask & EV_READ));
	evloop_free(loop);
	close(sv[0]);
}

/* two ready fds; the first one dispatched deletes the other */
struct pair_ctx {
	int fd[2];
	int mode;	/* what the first callback does to the other fd */
	int first;	/* fd of the first callback, -1 before */
	int calls;
	int newfd;	/* the fd that took over the other's number, or -1 */
	int new_calls;
	int other_mask;	/* PAIR_NARROW: what the other fd's callback saw */
};

enum { PAIR_DEL, PAIR_DEL_CLOSE_REUSE, PAIR_SET_NONE, PAIR_NARROW };

static void
new_fd_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct pair_ctx *ctx = data;

	(void)loop;
	(void)fd;
	(void)mask;
	ctx->new_calls++;
}

static void
pair_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct pair_ctx *ctx = data;
	int other, sv[2];

	ctx->calls++;
	if (ctx->first != -1) {
		if (fd != ctx->first)
			ctx->other_mask = mask;
		return;
	}
	ctx->first = fd;
	other = fd == ctx->fd[0] ? ctx->fd[1] : ctx->fd[0];
	switch (ctx->mode) {
	case PAIR_DEL:
		evloop_del(loop, other);
		break;
	case PAIR_SET_NONE:
		CU_ASSERT(evloop_set(loop, other, EV_NONE) == 0);
		break;
	case PAIR_NARROW:
		CU_ASSERT(evloop_set(loop, other, EV_WRITE) == 0);
		break;
	case PAIR_DEL_CLOSE_REUSE:
		/*
		 * Close the other fd and put a fresh, idle socket at its
		 * number: the old "readable" event must not reach it.
		 */
		xsocketpair(sv);	/* first, so it cannot take the number */
		evloop_del(loop, other);
		close(other);
		CU_ASSERT_FATAL(dup3(sv[0], other, O_CLOEXEC) == other);
		close(sv[0]);
		ctx->newfd = other;
		CU_ASSERT(evloop_add(loop, other, EV_READ, new_fd_cb, ctx) == 0);
		/* keep the peer so the new fd is neither readable nor hung up */
		ctx->fd[ctx->fd[0] == other ? 0 : 1] = sv[1];
		break;
	}
}

static void
run_pair(enum ev_backend b, int mode)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	struct pair_ctx ctx = { .mode = mode, .first = -1, .newfd = -1 };
	int a[2], c[2], survivor;

	xsocketpair(a);
	xsocketpair(c);
	ctx.fd[0] = a[0];
	ctx.fd[1] = c[0];
	put_byte(a[1]);
	put_byte(c[1]);
	CU_ASSERT_FATAL(evloop_add(loop, a[0], EV_READ, pair_cb, &ctx) == 0);
	CU_ASSERT_FATAL(evloop_add(loop, c[0], EV_READ, pair_cb, &ctx) == 0);
	/* both readable before the wait, so both are in one round's batch */
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ctx.calls == 1);
	CU_ASSERT(ctx.new_calls == 0);
	CU_ASSERT_FATAL(ctx.first == a[0] || ctx.first == c[0]);
	survivor = ctx.first;

	/* next round: the survivor is still readable, the other is gone */
	CU_ASSERT(evloop_run_once(loop, 0) == 1);
	CU_ASSERT(ctx.calls == 2);
	CU_ASSERT(ctx.new_calls == 0);

	if (mode == PAIR_DEL_CLOSE_REUSE) {
		/* the new fd works once it really has something to read */
		int peer = ctx.fd[0] == survivor ? ctx.fd[1] : ctx.fd[0];

		CU_ASSERT(evloop_mask(loop, ctx.newfd) == EV_READ);
		put_byte(peer);
		CU_ASSERT(evloop_run_once(loop, 1000) == 2);
		CU_ASSERT(ctx.new_calls == 1);
		evloop_del(loop, ctx.newfd);
		close(ctx.newfd);
		close(peer);
	}
	evloop_free(loop);
	close(a[1]);
	close(c[1]);
	if (mode != PAIR_DEL_CLOSE_REUSE || survivor == a[0])
		close(a[0]);
	if (mode != PAIR_DEL_CLOSE_REUSE || survivor == c[0])
		close(c[0]);
}

static void
check_callback_deletes_other_ready_fd(enum ev_backend b)
{
	run_pair(b, PAIR_DEL);
}

static void
check_callback_clears_interest_of_other_fd(enum ev_backend b)
{
	run_pair(b, PAIR_SET_NONE);
}

static void
check_reused_fd_number_misses_old_event(enum ev_backend b)
{
	run_pair(b, PAIR_DEL_CLOSE_REUSE);
}

/*
 * A callback narrows another ready fd's interest to write: that fd, still
 * readable, is dispatched in the same round for write only.
 */
static void
check_callback_narrows_other_fd(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	struct pair_ctx ctx = { .mode = PAIR_NARROW, .first = -1, .newfd = -1 };
	int a[2], c[2];

	xsocketpair(a);
	xsocketpair(c);
	ctx.fd[0] = a[0];
	ctx.fd[1] = c[0];
	put_byte(a[1]);
	put_byte(c[1]);
	CU_ASSERT_FATAL(evloop_add(loop, a[0], EV_READ | EV_WRITE, pair_cb,
	    &ctx) == 0);
	CU_ASSERT_FATAL(evloop_add(loop, c[0], EV_READ | EV_WRITE, pair_cb,
	    &ctx) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 2);
	CU_ASSERT(ctx.calls == 2);
	CU_ASSERT(ctx.other_mask == EV_WRITE);
	evloop_free(loop);
	close(a[0]); close(a[1]); close(c[0]); close(c[1]);
}

/* a callback that deletes and closes its own fd, then reuses the number */
struct self_ctx {
	int calls;
	int new_calls;
	int peer;	/* keeps the new fd from hanging up */
};

static void
self_new_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct self_ctx *ctx = data;

	(void)loop;
	(void)fd;
	(void)mask;
	ctx->new_calls++;
}

static void
self_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct self_ctx *ctx = data;
	int sv[2];

	(void)mask;
	ctx->calls++;
	xsocketpair(sv);	/* first, so it cannot take the number */
	evloop_del(loop, fd);
	close(fd);
	CU_ASSERT_FATAL(dup3(sv[0], fd, O_CLOEXEC) == fd);
	close(sv[0]);
	ctx->peer = sv[1];
	CU_ASSERT(evloop_add(loop, fd, EV_READ, self_new_cb, ctx) == 0);
}

static void
check_self_delete_close_reuse(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	struct self_ctx ctx = { 0 };
	int sv[2], fd;

	xsocketpair(sv);
	fd = sv[0];
	put_byte(sv[1]);
	close(sv[1]);	/* readable and hung up: EV_READ|EV_ERROR pending */
	CU_ASSERT_FATAL(evloop_add(loop, fd, EV_READ, self_cb, &ctx) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ctx.calls == 1);
	CU_ASSERT(ctx.new_calls == 0);
	/* the new occupant of the number is idle: nothing for it */
	CU_ASSERT(evloop_run_once(loop, 0) == 0);
	CU_ASSERT(ctx.calls == 1);
	CU_ASSERT(ctx.new_calls == 0);
	put_byte(ctx.peer);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ctx.new_calls == 1);
	evloop_free(loop);
	close(fd);
	close(ctx.peer);
}

/* a callback adds a ready fd: it is served by the next round at the latest */
struct add_ctx {
	int fd;		/* to add from the callback */
	int added;
	int add_calls;
};

static void
added_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct add_ctx *ctx = data;
	char c;

	(void)loop;
	(void)mask;
	ctx->add_calls++;
	CU_ASSERT(read(fd, &c, 1) == 1);
}

static void
adder_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct add_ctx *ctx = data;
	char c;

	(void)mask;
	CU_ASSERT(read(fd, &c, 1) == 1);
	if (!ctx->added) {
		CU_ASSERT(evloop_add(loop, ctx->fd, EV_READ, added_cb, ctx) == 0);
		ctx->added = 1;
	}
}

static void
check_callback_adds_fd(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	struct add_ctx ctx = { 0 };
	int p[2], q[2], rounds;

	xpipe(p);
	xpipe(q);
	ctx.fd = q[0];
	put_byte(p[1]);
	put_byte(q[1]);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, adder_cb, &ctx) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) >= 1);
	CU_ASSERT(ctx.added == 1);
	for (rounds = 0; rounds < 5 && ctx.add_calls == 0; rounds++)
		evloop_run_once(loop, 1000);
	CU_ASSERT(ctx.add_calls == 1);
	CU_ASSERT(evloop_mask(loop, q[0]) == EV_READ);
	evloop_free(loop);
	close(p[0]); close(p[1]); close(q[0]); close(q[1]);
}

/*
 * Many fds, more than one batch: every one is dispatched, each exactly
 * once (the callback drains it), within a few rounds.
 */
#define MANY 1500

struct many_ctx {
	int *hits;	/* indexed by fd */
	int total;
};

static void
many_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct many_ctx *ctx = data;
	char c;

	(void)loop;
	if (mask == EV_READ && read(fd, &c, 1) == 1)
		ctx->hits[fd]++;
	ctx->total++;
}

static void
count_cb(struct evloop *loop, int fd, int mask, void *data)
{
	int *hits = data;

	(void)loop;
	(void)mask;
	hits[fd]++;
}

static void
check_many_fds(enum ev_backend b)
{
	struct rlimit rl;
	struct evloop *loop;
	struct many_ctx ctx = { 0 };
	int (*sv)[2], i, rounds, setsize, ok;

	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 2 * MANY + 64) {
		/* cannot open the fds here; say so rather than pass silently */
		CU_FAIL("RLIMIT_NOFILE too low for the many-fds test");
		return;
	}
	setsize = rl.rlim_cur > 100000 ? 100000 : (int)rl.rlim_cur;
	loop = make_loop(b, setsize);
	sv = calloc(MANY, sizeof(*sv));
	ctx.hits = calloc((size_t)setsize, sizeof(*ctx.hits));
	CU_ASSERT_FATAL(sv != NULL && ctx.hits != NULL);
	for (i = 0; i < MANY; i++) {
		xsocketpair(sv[i]);
		CU_ASSERT_FATAL(evloop_add(loop, sv[i][0], EV_READ, many_cb,
		    &ctx) == 0);
		put_byte(sv[i][1]);
	}
	for (rounds = 0; rounds < 20 && ctx.total < MANY; rounds++)
		CU_ASSERT(evloop_run_once(loop, 1000) > 0);
	CU_ASSERT(ctx.total == MANY);
	CU_ASSERT(rounds >= 2);	/* MANY exceeds one batch of 1024 */
	ok = 1;
	for (i = 0; i < MANY; i++)
		if (ctx.hits[sv[i][0]] != 1)
			ok = 0;
	CU_ASSERT(ok);
	CU_ASSERT(evloop_run_once(loop, 0) == 0);

	/* delete every other one (swap-delete in the poll array) and re-check */
	for (i = 0; i < MANY; i += 2) {
		evloop_del(loop, sv[i][0]);
		put_byte(sv[i][1]);
		put_byte(sv[i + 1][1]);
	}
	ctx.total = 0;
	for (rounds = 0; rounds < 20 && ctx.total < MANY / 2; rounds++)
		CU_ASSERT(evloop_run_once(loop, 1000) > 0);
	CU_ASSERT(ctx.total == MANY / 2);
	ok = 1;
	for (i = 0; i < MANY; i++)
		if (ctx.hits[sv[i][0]] != (i % 2 == 0 ? 1 : 2))
			ok = 0;
	CU_ASSERT(ok);

	evloop_free(loop);
	for (i = 0; i < MANY; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	free(sv);
	free(ctx.hits);
}

/*
 * More fds stay ready than one batch holds and nobody drains them: the
 * ones behind the first batch must still get their turn next round.
 */
static void
check_busy_fds_do_not_starve_others(enum ev_backend b)
{
	struct rlimit rl;
	struct evloop *loop;
	int (*sv)[2], *hits, i, setsize, ok;

	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 2 * MANY + 64) {
		CU_FAIL("RLIMIT_NOFILE too low for the starvation test");
		return;
	}
	setsize = rl.rlim_cur > 100000 ? 100000 : (int)rl.rlim_cur;
	loop = make_loop(b, setsize);
	sv = calloc(MANY, sizeof(*sv));
	hits = calloc((size_t)setsize, sizeof(*hits));
	CU_ASSERT_FATAL(sv != NULL && hits != NULL);
	for (i = 0; i < MANY; i++) {
		xsocketpair(sv[i]);
		CU_ASSERT_FATAL(evloop_add(loop, sv[i][0], EV_READ, count_cb,
		    hits) == 0);
		put_byte(sv[i][1]);
	}
	/* two full batches cover MANY fds when each round resumes fairly */
	CU_ASSERT(evloop_run_once(loop, 1000) > 0);
	CU_ASSERT(evloop_run_once(loop, 1000) > 0);
	ok = 1;
	for (i = 0; i < MANY; i++)
		if (hits[sv[i][0]] == 0)
			ok = 0;
	CU_ASSERT(ok);
	evloop_free(loop);
	for (i = 0; i < MANY; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	free(sv);
	free(hits);
}

/* the highest fd a loop accepts is setsize - 1 */
static void
check_fd_at_setsize_minus_one(enum ev_backend b)
{
	struct rlimit rl;
	struct evloop *loop;
	int sv[2], top, setsize;

	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	setsize = rl.rlim_cur > 100000 ? 100000 : (int)rl.rlim_cur;
	top = setsize - 1;
	loop = make_loop(b, setsize);
	xsocketpair(sv);
	CU_ASSERT_FATAL(dup3(sv[0], top, O_CLOEXEC) == top);
	close(sv[0]);
	CU_ASSERT_FATAL(evloop_add(loop, top, EV_READ, record_cb, &rl) == 0);
	put_byte(sv[1]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].fd == top && calls[0].data == &rl);
	evloop_del(loop, top);
	evloop_free(loop);
	close(top);
	close(sv[1]);
}

static void
check_bad_arguments_fail_cleanly(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, 64);
	int sv[2], big;

	xsocketpair(sv);
	/* an open fd numbered at setsize */
	big = fcntl(sv[0], F_DUPFD_CLOEXEC, 64);
	CU_ASSERT_FATAL(big >= 64);
	errno = 0;
	CU_ASSERT(evloop_add(loop, big, EV_READ, record_cb, NULL) == -1);
	CU_ASSERT(errno == ERANGE || errno == EINVAL);
	CU_ASSERT(evloop_set(loop, big, EV_READ) == -1);
	CU_ASSERT(evloop_mask(loop, big) == EV_NONE);
	evloop_del(loop, big);	/* harmless */
	CU_ASSERT(evloop_add(loop, -1, EV_READ, record_cb, NULL) == -1);
	CU_ASSERT(evloop_mask(loop, -1) == EV_NONE);

	/* EV_ERROR is reported, never requested */
	errno = 0;
	CU_ASSERT(evloop_add(loop, sv[0], EV_READ | EV_ERROR, record_cb,
	    NULL) == -1 && errno == EINVAL);
	CU_ASSERT(evloop_add(loop, sv[0], EV_READ, NULL, NULL) == -1);
	/* not registered yet */
	errno = 0;
	CU_ASSERT(evloop_set(loop, sv[0], EV_READ) == -1 && errno == ENOENT);

	CU_ASSERT(evloop_add(loop, sv[0], EV_READ, record_cb, NULL) == 0);
	errno = 0;
	CU_ASSERT(evloop_add(loop, sv[0], EV_WRITE, record_cb, NULL) == -1 &&
	    errno == EEXIST);
	CU_ASSERT(evloop_mask(loop, sv[0]) == EV_READ);	/* unchanged */
	errno = 0;
	CU_ASSERT(evloop_set(loop, sv[0], 8) == -1 && errno == EINVAL);
	evloop_del(loop, sv[0]);
	evloop_del(loop, sv[0]);	/* twice is harmless */
	CU_ASSERT(evloop_mask(loop, sv[0]) == EV_NONE);
	/* and it can come back */
	CU_ASSERT(evloop_add(loop, sv[0], EV_WRITE, record_cb, NULL) == 0);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(ncalls == 1 && calls[0].mask == EV_WRITE);

	evloop_free(loop);
	close(big);
	close(sv[0]);
	close(sv[1]);

	errno = 0;
	CU_ASSERT(evloop_create(b, 0) == NULL && errno == EINVAL);
}

/* the after-sleep hook runs once per round, before the first callback */
static int hook_runs;
static int hook_calls_seen;	/* ncalls when the hook last ran */

static void
hook_fn(void *arg)
{
	CU_ASSERT(arg == &hook_runs);
	hook_runs++;
	hook_calls_seen = ncalls;
}

static void
check_aftersleep_hook_runs_before_callbacks(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int p[2];
	uint64_t t0, dt;

	xpipe(p);
	hook_runs = 0;
	hook_calls_seen = -1;
	evloop_set_aftersleep(loop, hook_fn, &hook_runs);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, NULL) == 0);
	/* a round that times out still ran the hook, after the sleep */
	t0 = now_ms();
	CU_ASSERT(evloop_run_once(loop, 30) == 0);
	dt = now_ms() - t0;
	CU_ASSERT(hook_runs == 1);
	CU_ASSERT(dt >= 25);
	put_byte(p[1]);
	CU_ASSERT(evloop_run_once(loop, 1000) == 1);
	CU_ASSERT(hook_runs == 2);
	CU_ASSERT(hook_calls_seen == 0);	/* ran before the callback */
	CU_ASSERT(ncalls == 1);
	/* removed: no more runs */
	evloop_set_aftersleep(loop, NULL, NULL);
	CU_ASSERT(evloop_run_once(loop, 0) == 1);
	CU_ASSERT(hook_runs == 2);
	evloop_free(loop);
	close(p[0]); close(p[1]);
}

/* walking every registered fd: evloop_maxfd bounds them, evloop_get finds them */
static void
check_get_and_maxfd_walk(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int p[2], q[2], fd, found, mark;
	evloop_cb *cb;
	void *data;

	CU_ASSERT(evloop_maxfd(loop) == 0);
	xpipe(p);
	xpipe(q);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, &mark) == 0);
	CU_ASSERT_FATAL(evloop_add(loop, q[1], EV_NONE, record_cb, &found) == 0);
	CU_ASSERT(evloop_maxfd(loop) > p[0] && evloop_maxfd(loop) > q[1]);
	CU_ASSERT(evloop_maxfd(loop) <= SETSIZE);

	cb = NULL;
	data = NULL;
	CU_ASSERT(evloop_get(loop, p[0], &cb, &data) == 0);
	CU_ASSERT(cb == record_cb && data == &mark);
	CU_ASSERT(evloop_get(loop, q[1], &cb, &data) == 0 && data == &found);
	CU_ASSERT(evloop_get(loop, p[1], &cb, &data) == -1);
	CU_ASSERT(evloop_get(loop, -1, &cb, &data) == -1);
	CU_ASSERT(evloop_get(loop, SETSIZE, &cb, &data) == -1);

	found = 0;
	for (fd = 0; fd < evloop_maxfd(loop); fd++)
		if (evloop_get(loop, fd, NULL, NULL) == 0)
			found++;
	CU_ASSERT(found == 2);

	evloop_del(loop, q[1]);
	CU_ASSERT(evloop_get(loop, q[1], &cb, &data) == -1);
	CU_ASSERT(evloop_maxfd(loop) > p[0]);
	evloop_free(loop);
	close(p[0]); close(p[1]); close(q[0]); close(q[1]);
}

static volatile sig_atomic_t got_alarm;

static void
on_alarm(int sig)
{
	(void)sig;
	got_alarm = 1;
}

/* a signal interrupting the wait is not an error */
static void
check_eintr_returns_zero(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	struct sigaction sa, old;
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } }, off = { 0 };
	int p[2], r;
	uint64_t t0, dt;

	xpipe(p);
	CU_ASSERT_FATAL(evloop_add(loop, p[0], EV_READ, record_cb, NULL) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	CU_ASSERT_FATAL(sigaction(SIGALRM, &sa, &old) == 0);
	got_alarm = 0;
	/* repeating, so a tick landing before the wait starts is no matter */
	CU_ASSERT_FATAL(setitimer(ITIMER_REAL, &it, NULL) == 0);
	t0 = now_ms();
	r = evloop_run_once(loop, 10000);
	dt = now_ms() - t0;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	CU_ASSERT(r == 0);
	CU_ASSERT(got_alarm == 1);
	CU_ASSERT(dt < 9000);
	CU_ASSERT(ncalls == 0);
	evloop_free(loop);
	close(p[0]); close(p[1]);
}

/*
 * evloop_del_closing: the fd is forgotten at once (no stale event for it),
 * and a new fd that gets its number is watched afresh, on either backend.
 */
static void
check_del_closing_forgets_and_number_is_reusable(enum ev_backend b)
{
	struct evloop *loop = make_loop(b, SETSIZE);
	int sv[2], nv[2], fd;
	int tag_old, tag_new;

	xsocketpair(sv);
	fd = sv[0];
	CU_ASSERT_EQUAL_FATAL(evloop_add(loop, fd, EV_READ, record_cb, &tag_old), 0);
	put_byte(sv[1]);
	evloop_del_closing(loop, fd);
	close(fd);
	CU_ASSERT_EQUAL(evloop_mask(loop, fd), EV_NONE);
	CU_ASSERT_EQUAL(evloop_run_once(loop, 0), 0);
	CU_ASSERT_EQUAL(ncalls, 0);

	/* the lowest free number is the one just closed */
	xsocketpair(nv);
	CU_ASSERT_EQUAL_FATAL(nv[0], fd);
	CU_ASSERT_EQUAL_FATAL(evloop_add(loop, nv[0], EV_READ, record_cb, &tag_new), 0);
	put_byte(nv[1]);
	CU_ASSERT_EQUAL(evloop_run_once(loop, 1000), 1);
	CU_ASSERT_EQUAL_FATAL(ncalls, 1);
	CU_ASSERT_PTR_EQUAL(calls[0].data, &tag_new);
	evloop_free(loop);
	close(sv[1]);
	close(nv[0]);
	close(nv[1]);
}

#define BOTH(name)                                                   \
	static void name##_epoll(void) { check_##name(EVB_EPOLL); }  \
	static void name##_poll(void) { check_##name(EVB_POLL); }

#define TESTS(X)                                  \
	X(backend_name)                           \
	X(create_free_fds)                        \
	X(read_ready_passes_data)                 \
	X(write_ready)                            \
	X(mask_restricted_to_interest)            \
	X(nothing_ready_returns_zero)             \
	X(timeout_respected)                      \
	X(set_mask_stops_and_starts)              \
	X(hangup_delivered)                       \
	X(error_reported_with_interest)           \
	X(none_interest_is_silent)                \
	X(callback_deletes_other_ready_fd)        \
	X(callback_clears_interest_of_other_fd)   \
	X(reused_fd_number_misses_old_event)      \
	X(callback_narrows_other_fd)              \
	X(self_delete_close_reuse)                \
	X(callback_adds_fd)                       \
	X(many_fds)                               \
	X(busy_fds_do_not_starve_others)          \
	X(fd_at_setsize_minus_one)                \
	X(bad_arguments_fail_cleanly)             \
	X(eintr_returns_zero)                     \
	X(aftersleep_hook_runs_before_callbacks)  \
	X(get_and_maxfd_walk)                     \
	X(del_closing_forgets_and_number_is_reusable)

TESTS(BOTH)

void
test_evloop_register(void)
{
	CU_pSuite s = CU_add_suite("evloop", NULL, NULL);

	if (s == NULL)
		return;
#define ADD(name)                                                        \
	CU_add_test(s, "epoll: " #name, name##_epoll);                   \
	CU_add_test(s, "poll: " #name, name##_poll);
	TESTS(ADD)
#undef ADD
}
