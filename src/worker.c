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
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "evloop.h"
#include "handler.h"
#include "log.h"
#include "daemon.h"
#include "twheel.h"

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
	struct conn_env *env = arg;

	env->now_ms = clock_now_ms();
}

/* stop accepting: close this worker's copies of the listening sockets (the master keeps its own) */
static void
stop_accepting(struct conn_env *env, struct wlistener *wl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (wl[i].fd == -1)
			continue;
		evloop_del(env->loop, wl[i].fd);
		close(wl[i].fd);
		wl[i].fd = -1;
	}
}

static void
close_all(struct conn_env *env)
{
	int max = evloop_maxfd(env->loop);

	for (int fd = 0; fd < max; fd++) {
		evloop_cb *cb;
		void *data;
		if (evloop_get(env->loop, fd, &cb, &data) == 0 && conn_is_conn_cb(cb))
			conn_shutdown(data);
	}
}

void
worker_main(const struct worker_spec *ws)
{
	const struct config *cfg = ws->cfg;
	struct conn_env env;
	struct evloop *loop;
	struct twheel *wheel;
	struct wlistener *wl;
	struct rlimit rl;
	uint64_t quit_deadline = 0, last_parent_check = 0;
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
	conn_env_init(&env, loop, wheel, ws->stats, cfg->max_output, ws->max_conns);
	evloop_set_aftersleep(loop, refresh_now, &env);
	if (evloop_add(loop, wake_fd[0], EV_READ, wake_cb, NULL) == -1)
		fatal("worker %d: watch the wake-up pipe", ws->slot);

	wl = calloc(cfg->nlisteners, sizeof(*wl));
	if (wl == NULL)
		fatalx("worker %d: out of memory", ws->slot);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *lc = &cfg->listeners[i];
		wl[i].conf = lc;
		wl[i].handler = handler_find(lc->handler);
		wl[i].codec.codec = lc->codec;
		wl[i].codec.max_frame = cfg->max_frame;
		wl[i].codec.magic = lc->magic;
		wl[i].codec.magic_len = lc->magic_len;
		wl[i].env = &env;
		wl[i].fd = ws->fds[i];
		if (evloop_add(loop, wl[i].fd, EV_READ, conn_accept_cb, &wl[i]) == -1)
			fatal("worker %d: watch listener %s", ws->slot, lc->name);
	}

	stats_set(&ws->stats->started_ms, env.now_ms);
	stats_set(&ws->stats->loop_ms, env.now_ms);
	__atomic_store_n(&ws->stats->state, WS_RUNNING, __ATOMIC_RELAXED);
	log_info("worker %d running", ws->slot);

	for (;;) {
		int64_t timeout;

		env.now_ms = clock_now_ms();
		stats_set(&ws->stats->loop_ms, env.now_ms);
		twheel_advance(wheel, env.now_ms, conn_timer_cb, &env);

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
			stop_accepting(&env, wl, cfg->nlisteners);
			log_info("worker %d draining %llu connections", ws->slot,
			    (unsigned long long)env.nconns);
		}
		/* a graceful stop has a cut-off; a reload's drain (SIGUSR2 alone) has none */
		if (want_quit && quit_deadline == 0)
			quit_deadline = env.now_ms + cfg->shutdown_timeout_ms;
		if (draining && (env.nconns == 0 ||
		    (quit_deadline != 0 && env.now_ms >= quit_deadline)))
			break;
		if (env.now_ms - last_parent_check >= 1000) {
			last_parent_check = env.now_ms;
			if (getppid() != ws->master_pid)
				break;
		}

		timeout = twheel_next_timeout(wheel, env.now_ms);
		if (timeout < 0 || timeout > cfg->tick_ms)
			timeout = cfg->tick_ms;
		if (quit_deadline != 0 && (int64_t)(quit_deadline - env.now_ms) < timeout)
			timeout = (int64_t)(quit_deadline - env.now_ms);
		for (size_t i = 0; i < cfg->nlisteners; i++) {
			if (!wl[i].paused || wl[i].fd == -1)
				continue;
			if (env.now_ms >= wl[i].resume_ms) {
				wl[i].paused = 0;
				evloop_set(loop, wl[i].fd, EV_READ);
			} else if ((int64_t)(wl[i].resume_ms - env.now_ms) < timeout) {
				timeout = (int64_t)(wl[i].resume_ms - env.now_ms);
			}
		}
		if (evloop_run_once(loop, (int)timeout) == -1 && errno != EINTR)
			fatal("worker %d: event loop", ws->slot);
	}

	stop_accepting(&env, wl, cfg->nlisteners);
	close_all(&env);
	log_info("worker %d exiting", ws->slot);
	__atomic_store_n(&ws->stats->state, WS_EXITED, __ATOMIC_RELAXED);
	/* freed so leak checkers see a clean exit and real leaks stand out */
	free(wl);
	conn_env_free(&env);
	twheel_free(wheel);
	evloop_free(loop);
	exit(0);
}
