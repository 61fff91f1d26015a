/*
 * worker: the per-process event loop.  Each round: read the clock once,
 * expire due timers, sleep until the next non-empty wheel tick but at most
 * one tick (the stats loop stamp is promised fresh to a tick even when idle,
 * for the master's hang check and sockserv-stat's loop_age), then dispatch
 * ready sockets.  Signals wake the sleep through a self-pipe: a flag set
 * just before the wait would otherwise wait out the sleep.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "conn.h"
#include "evloop.h"
#include "handler.h"
#include "listener.h"
#include "log.h"
#include "daemon.h"
#include "slotctl.h"
#include "twheel.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 1000	/* out of descriptors: retry accepting after this */

/* a listener as this worker sees it: its own socket, and the accept pause */
struct wlistener {
	struct conn_listener *cl;
	const struct listener_conf *conf;
	struct evloop *loop;
	struct conn_env *env;	/* for the cached clock */
	int fd;			/* a listening socket this worker accepts on (its slot's or an adopted one), -1 once closed */
	int paused;		/* not watched: out of descriptors until resume_ms */
	uint64_t resume_ms;
};

static volatile sig_atomic_t want_stop, want_quit, want_drain, want_reopen;
static int wake_fd[2] = { -1, -1 };	/* signal handler -> event loop */

static void
on_signal(int sig)
{
	int saved = errno;

	/* a full pipe already holds a wake-up; nothing to do then */
	if (wake_fd[1] != -1)
		(void)!write(wake_fd[1], "", 1);
	errno = saved;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		want_stop = 1;
		break;
	case SIGQUIT:
		want_quit = 1;
		break;
	case SIGUSR2:
		want_drain = 1;
		break;
	case SIGUSR1:
		want_reopen = 1;
		break;
	}
}

/*
 * A worker without its handlers would die of the master's drain signal or
 * never notice a stop: a failure here ends it at once, loudly, rather
 * than leaving a process the master cannot steer.
 */
static void
worker_signals(int slot)
{
	static const int caught[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR2, SIGUSR1 };
	static const int ignored[] = { SIGHUP, SIGPIPE };
	static const int dfl[] = { SIGCHLD, SIGALRM };
	struct sigaction sa;
	sigset_t all;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		if (sigaction(caught[i], &sa, NULL) == -1)
			fatal("worker %d: sigaction %d", slot, caught[i]);
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (sigaction(ignored[i], &sa, NULL) == -1)
			fatal("worker %d: sigaction %d", slot, ignored[i]);
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		if (sigaction(dfl[i], &sa, NULL) == -1)
			fatal("worker %d: sigaction %d", slot, dfl[i]);
	/* the master sleeps with these blocked; the worker must see them */
	sigemptyset(&all);
	if (sigprocmask(SIG_SETMASK, &all, NULL) == -1)
		fatal("worker %d: sigprocmask", slot);
}

/* the flags are read at the top of the loop; this only ends the sleep */
static void
wake_cb(struct evloop *loop, int fd, int mask, void *data)
{
	char buf[64];

	(void)loop;
	(void)mask;
	(void)data;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
refresh_now(void *arg)
{
	conn_env_set_now(arg, clock_now_ms());
}

/*
 * Accept pausing, all of it: with no descriptor to take a client with, the
 * listener is unwatched for ACCEPT_PAUSE_MS instead of waking the loop
 * again at once (a spin); accept_resume_due() watches it again.
 */
static void
accept_pause(struct wlistener *l)
{
	static uint64_t last_log;
	uint64_t now = conn_env_now(l->env);
	int accept_err = errno, set_err, failed;

	l->paused = 1;
	l->resume_ms = now + ACCEPT_PAUSE_MS;
	/* still watched, it wakes the loop in vain until the pause ends: logged, no worse */
	failed = evloop_set(l->loop, l->fd, EV_NONE) == -1;
	set_err = errno;
	if (last_log == 0 || now - last_log >= 1000) {
		last_log = now;
		errno = accept_err;
		log_warn("%s: accept paused for 1 s", l->conf->name);
		if (failed) {
			errno = set_err;
			log_warn("%s: cannot unwatch the listener", l->conf->name);
		}
	}
}

/* watch paused listeners whose pause is over; *timeout shrinks to the next resume */
static void
accept_resume_due(struct wlistener *wl, size_t n, uint64_t now, int64_t *timeout)
{
	for (size_t i = 0; i < n; i++) {
		struct wlistener *l = &wl[i];

		if (!l->paused || l->fd == -1)
			continue;
		if (now >= l->resume_ms) {
			if (evloop_set(l->loop, l->fd, EV_READ) == 0) {
				l->paused = 0;
				continue;
			}
			/* stay paused and try again a pause later */
			log_warn("%s: cannot resume accepting", l->conf->name);
			l->resume_ms = now + ACCEPT_PAUSE_MS;
		}
		if ((int64_t)(l->resume_ms - now) < *timeout)
			*timeout = (int64_t)(l->resume_ms - now);
	}
}

/* accept up to a batch of clients on a listener (its evloop callback) */
static void
accept_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct wlistener *l = data;

	(void)loop;
	(void)mask;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				accept_pause(l);
				return;
			}
			log_warn("%s: accept", l->conf->name);
			return;
		}
		listener_tune_accepted(cfd, l->conf);
		conn_accept(l->cl, cfd, (struct sockaddr *)&ss);
	}
}

/* stop accepting: close this worker's copies of the listening sockets (the master keeps its own) */
static void
stop_accepting(struct evloop *loop, struct wlistener *wl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (wl[i].fd == -1)
			continue;
		evloop_del(loop, wl[i].fd);
		close(wl[i].fd);
		wl[i].fd = -1;
	}
}

/*
 * Adoption (issue 11 hole 8).  The kernel hashes new clients over every
 * socket of a SO_REUSEPORT group, and the master keeps a slot's sockets
 * open while the slot waits out a crash loop's respawn backoff (up to
 * 30 s), so that slot's share of clients would wait in its queue.  While
 * the master says a slot is down, this worker watches that slot's sockets
 * too: same accept callback, this worker's own connection limit.  Every
 * worker holds every slot's sockets from the fork on, so adopting is only
 * adding them to the loop.  Each (slot, listener) has its own wlistener:
 * connections keep a pointer to theirs, and an accept paused after
 * EMFILE resumes its own socket.  A draining worker adopts nothing: it is
 * leaving, and a socket it held open would keep a listener a reload
 * removed in the group.
 */
struct adopt {
	int ctl;			/* the master's control pipe, -1 once closed */
	struct slotctl_reader rd;
	struct slotctl_msg down;	/* what the master said last */
	int slot, nslots;
	size_t nl;
	struct wlistener *wl;		/* [s * nl + l]; fd -1 in our own row and once closed */
	unsigned char *on;		/* on[s]: slot s's sockets are in our loop */
	int master_gone;		/* end of file on ctl: stop like a parent-death check */
	int stopped;			/* draining or exiting: adopt nothing any more */
};

/* watch down slots' sockets, stop watching those that are back */
static void
adopt_apply(struct adopt *ad, struct evloop *loop)
{
	for (int s = 0; s < ad->nslots; s++) {
		struct wlistener *row = &ad->wl[(size_t)s * ad->nl];
		int want = s != ad->slot && !ad->stopped && slotctl_is_down(&ad->down, s);

		if (want == ad->on[s])
			continue;
		for (size_t l = 0; l < ad->nl; l++) {
			if (row[l].fd == -1)
				continue;
			if (!want) {
				evloop_del(loop, row[l].fd);
				row[l].paused = 0;
			} else if (evloop_add(loop, row[l].fd, EV_READ, accept_cb, &row[l]) == -1) {
				/* its clients wait for the slot's respawn, as without adoption */
				log_warn("worker %d: watch slot %d's listener %s", ad->slot, s,
				    row[l].conf->name);
			}
		}
		ad->on[s] = (unsigned char)want;
		log_debug("worker %d %s slot %d's clients", ad->slot,
		    want ? "accepting" : "no longer accepting", s);
	}
}

static void
ctl_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct adopt *ad = data;
	int r = slotctl_read(fd, &ad->rd, &ad->down);

	(void)mask;
	if (r & SLOTCTL_GOT)
		adopt_apply(ad, loop);
	if (r & SLOTCTL_CLOSED) {
		/* only the master holds the write end: it is gone */
		evloop_del(loop, fd);
		close(fd);
		ad->ctl = -1;
		ad->master_gone = 1;
	}
}

static void
adopt_init(struct adopt *ad, const struct worker_spec *ws, const struct wlistener *own,
    struct evloop *loop)
{
	size_t nl = ws->cfg->nlisteners;

	memset(ad, 0, sizeof(*ad));
	ad->ctl = ws->ctl_fd;
	ad->slot = ws->slot;
	ad->nslots = ws->nslots;
	ad->nl = nl;
	ad->wl = calloc((size_t)ws->nslots * nl, sizeof(*ad->wl));
	ad->on = calloc((size_t)ws->nslots, 1);
	if (ad->wl == NULL || ad->on == NULL)
		fatalx("worker %d: out of memory", ws->slot);
	for (int s = 0; s < ws->nslots; s++) {
		for (size_t l = 0; l < nl; l++) {
			struct wlistener *w = &ad->wl[(size_t)s * nl + l];
			*w = own[l];
			w->fd = s == ws->slot ? -1 : ws->all_fds[(size_t)s * nl + l];
			w->paused = 0;
		}
	}
	if (evloop_add(loop, ad->ctl, EV_READ, ctl_cb, ad) == -1)
		fatal("worker %d: watch the control pipe", ws->slot);
}

/* the paused adopted listeners of the slots being adopted */
static void
adopt_resume(struct adopt *ad, uint64_t now, int64_t *timeout)
{
	for (int s = 0; s < ad->nslots; s++)
		if (ad->on[s])
			accept_resume_due(&ad->wl[(size_t)s * ad->nl], ad->nl, now, timeout);
}

/* draining or exiting: drop adopted slots and close every other slot's sockets */
static void
adopt_stop(struct adopt *ad, struct evloop *loop)
{
	ad->stopped = 1;
	adopt_apply(ad, loop);
	for (size_t i = 0; i < (size_t)ad->nslots * ad->nl; i++) {
		if (ad->wl[i].fd != -1) {
			close(ad->wl[i].fd);
			ad->wl[i].fd = -1;
		}
	}
}

static void
adopt_free(struct adopt *ad, struct evloop *loop)
{
	adopt_stop(ad, loop);
	if (ad->ctl != -1) {
		evloop_del(loop, ad->ctl);
		close(ad->ctl);
		ad->ctl = -1;
	}
	free(ad->wl);
	free(ad->on);
}

void
worker_main(const struct worker_spec *ws)
{
	const struct config *cfg = ws->cfg;
	struct conn_env_params ep;
	struct conn_env *env;
	struct evloop *loop;
	struct twheel *wheel;
	struct wlistener *wl;
	struct backend_links *links;
	struct backend_params bp;
	struct adopt ad;
	struct rlimit rl;
	uint64_t now, quit_deadline = 0, last_parent_check = 0;
	int draining = 0;
	int setsize;

	if (pipe2(wake_fd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("worker %d: pipe", ws->slot);
	worker_signals(ws->slot);
	if (daemon_drop_privileges(cfg) == -1)
		fatalx("worker %d: cannot drop privileges", ws->slot);
	/*
	 * After the drop, never before: a change of credentials clears the
	 * parent-death signal, and a worker outliving its master keeps
	 * accepting on the port.  Then look at the parent once: a master that
	 * died before the request was made sends nothing.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("worker %d: PR_SET_PDEATHSIG", ws->slot);
	if (getppid() != ws->master_pid)
		_exit(0);
	/* nothing this worker runs may gain privileges (setuid binaries, file capabilities) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("worker %d: PR_SET_NO_NEW_PRIVS", ws->slot);

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 1024 * 1024)
		setsize = 1024 * 1024;
	else
		setsize = (int)rl.rlim_cur;
	loop = evloop_create(cfg->backend, setsize);
	if (loop == NULL)
		fatal("worker %d: event loop", ws->slot);
	wheel = twheel_create(cfg->tick_ms, cfg->slots, clock_now_ms());
	if (wheel == NULL)
		fatalx("worker %d: out of memory", ws->slot);
	memset(&ep, 0, sizeof(ep));
	ep.loop = loop;
	ep.wheel = wheel;
	ep.stats = ws->stats;
	ep.epoch_ms = now = clock_now_ms();
	ep.max_output = cfg->max_output;
	ep.max_conns = ws->max_conns;
	ep.max_buffer_memory = cfg->max_buffer_memory;
	ws->adm->max_per_ip = cfg->max_conns_per_ip;
	ep.adm = ws->adm;
	if ((env = conn_env_create(&ep)) == NULL)
		fatalx("worker %d: out of memory", ws->slot);
	evloop_set_aftersleep(loop, refresh_now, env);
	if (evloop_add(loop, wake_fd[0], EV_READ, wake_cb, NULL) == -1)
		fatal("worker %d: watch the wake-up pipe", ws->slot);

	memset(&bp, 0, sizeof(bp));
	bp.cfg = cfg;
	bp.loop = loop;
	bp.stats = ws->stats;
	bp.slot = ws->slot;
	bp.phys = ws->phys;
	bp.id_start = ws->id_start;
	bp.id_reserved = &ws->stats->id_reserved;
	bp.master_pid = ws->master_pid;
	bp.master_started = ws->master_started;
	bp.now_ms = now;
	if ((links = backend_links_create(&bp)) == NULL)
		fatalx("worker %d: out of memory", ws->slot);

	wl = calloc(cfg->nlisteners, sizeof(*wl));
	if (wl == NULL)
		fatalx("worker %d: out of memory", ws->slot);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *lc = &cfg->listeners[i];
		wl[i].cl = conn_listener_create(env, lc, handler_find(lc->handler), cfg->max_frame);
		if (wl[i].cl == NULL)
			fatalx("worker %d: out of memory", ws->slot);
		conn_listener_set_ctx(wl[i].cl, backend_listener_ctx(links, lc));
		conn_listener_set_index(wl[i].cl, (unsigned)i);
		wl[i].conf = lc;
		wl[i].loop = loop;
		wl[i].env = env;
		wl[i].fd = ws->fds[i];
		if (evloop_add(loop, wl[i].fd, EV_READ, accept_cb, &wl[i]) == -1)
			fatal("worker %d: watch listener %s", ws->slot, lc->name);
	}
	adopt_init(&ad, ws, wl, loop);

	stats_set(&ws->stats->started_ms, now);
	stats_set(&ws->stats->loop_ms, now);
	__atomic_store_n(&ws->stats->state, WS_RUNNING, __ATOMIC_RELAXED);
	log_info("worker %d running", ws->slot);

	for (;;) {
		int64_t timeout;

		now = clock_now_ms();
		conn_env_set_now(env, now);
		stats_set(&ws->stats->loop_ms, now);
		conn_env_expire(env);
		admission_log_flush(ws->adm, now);

		if (want_stop)
			break;
		if (want_reopen) {
			want_reopen = 0;
			log_reopen();
		}
		if ((want_quit || want_drain) && !draining) {
			/* no new clients; existing ones end by themselves or by their timeouts */
			draining = 1;
			__atomic_store_n(&ws->stats->state, WS_DRAINING, __ATOMIC_RELAXED);
			stop_accepting(loop, wl, cfg->nlisteners);
			adopt_stop(&ad, loop);
			log_info("worker %d draining %llu connections", ws->slot,
			    (unsigned long long)conn_env_count(env));
		}
		/* a graceful stop has a cut-off; a reload's drain (SIGUSR2 alone) has none */
		if (want_quit && quit_deadline == 0)
			quit_deadline = now + cfg->shutdown_timeout_ms;
		if (draining && (conn_env_count(env) == 0 ||
		    (quit_deadline != 0 && now >= quit_deadline)))
			break;
		if (ad.master_gone)
			break;
		if (now - last_parent_check >= 1000) {
			last_parent_check = now;
			if (getppid() != ws->master_pid)
				break;
		}

		timeout = twheel_next_timeout(wheel, now);
		if (timeout < 0 || timeout > cfg->tick_ms)
			timeout = cfg->tick_ms;
		if (quit_deadline != 0 && (int64_t)(quit_deadline - now) < timeout)
			timeout = (int64_t)(quit_deadline - now);
		accept_resume_due(wl, cfg->nlisteners, now, &timeout);
		adopt_resume(&ad, now, &timeout);
		/* the events of the round go out in one write per link */
		backend_round(links, conn_env_now(env), &timeout);
		if (evloop_run_once(loop, (int)timeout) == -1 && errno != EINTR)
			fatal("worker %d: event loop", ws->slot);
	}

	stop_accepting(loop, wl, cfg->nlisteners);
	adopt_stop(&ad, loop);
	if (conn_env_count(env) != 0)
		/* a drain cut off (drain_timeout, shutdown_timeout) or a fast stop: how many */
		log_info("worker %d cutting %llu connections (%s)", ws->slot,
		    (unsigned long long)conn_env_count(env), want_quit ? "shutdown_timeout" :
		    draining ? "drain cut off" : "stop");
	conn_env_shutdown(env);
	backend_links_free(links);
	log_info("worker %d exiting", ws->slot);
	__atomic_store_n(&ws->stats->state, WS_EXITED, __ATOMIC_RELAXED);
	/* freed so leak checkers see a clean exit and real leaks stand out */
	adopt_free(&ad, loop);
	for (size_t i = 0; i < cfg->nlisteners; i++)
		conn_listener_free(wl[i].cl);
	free(wl);
	conn_env_free(env);
	twheel_free(wheel);
	evloop_free(loop);
	exit(0);
}
