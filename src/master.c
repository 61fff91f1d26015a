/*
 * master: binds, forks and supervises the workers.  nginx's model: signal
 * handlers only set flags; the loop sleeps in sigsuspend() with every
 * signal it handles blocked otherwise, and a 100 ms interval timer wakes it
 * for the hang check, delayed respawns and the periodic stats line.
 *
 * Worker slots: slot i of the current configuration owns one listening
 * socket per listener (fds[i][l]) for as long as the master lives, so a
 * respawned worker accepts from the very queue its predecessor left.
 * Every worker holds every slot's sockets, and while a slot has no running
 * worker the others accept on its sockets too, told over a control pipe
 * per worker (tell_down_slots): the kernel keeps hashing clients to the
 * slot's socket, and a crash loop's backoff would strand them.
 * Each worker process writes one physical stats slot; a respawn reuses its
 * slot's, a reload gives the new generation fresh ones while the old
 * workers drain in theirs.  Which physical slot is whose lives in the
 * master's own memory (ws[], old[], phys_busy[]): the segment is written
 * by less privileged processes, so nothing read back from it is ever used
 * as a count, an index or a state to act on.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "admission.h"
#include "clock.h"
#include "connid.h"
#include "crashloop.h"
#include "daemon.h"
#include "handler.h"
#include "listener.h"
#include "lockfile.h"
#include "log.h"
#include "slotctl.h"
#include "stats.h"
#include "upgrade.h"
#include "worker.h"

#define TICK_MS 100
#define STOP_GRACE_MS 1500	/* fast stop: SIGKILL what is left after this */
/*
 * A respawned slot stays "down" (adopted by the others) this long after
 * its fork, so they let go of its queue only once the new worker can be
 * in its loop; two workers accepting from one queue for a moment costs
 * nothing (the loser gets EAGAIN).
 */
#define ADOPT_OVERLAP_MS TICK_MS
/*
 * An upgrade's new master starts its connection id counters this far above
 * the highest the old master had reserved: room for what the old workers
 * still reserve before they drain (2^28 connections per worker in the
 * ready wait), and for 4096 upgrades in the 2^40 counters.
 */
#define UPGRADE_ID_MARGIN (1ULL << 28)

/* the binary upgrade as the old master sees it (upgrade.h) */
enum up_state {
	UP_NONE,	/* no upgrade under way */
	UP_STARTING,	/* new master started, not ready yet: we serve as before */
	UP_ABORTING,	/* it was not ready in time: stopped, waiting for its death */
	UP_HANDED,	/* it serves; our workers drain and we exit after them */
};

struct wslot {
	pid_t pid;			/* 0 while no process */
	int phys;			/* its stats slot */
	uint64_t started_ms;
	uint64_t respawn_at;		/* pending respawn time, 0 = none */
	struct crashloop crash;		/* its respawn backoff */
	int hung;			/* killed by us for hanging */
	int ctl;			/* write end of its control pipe; valid while pid != 0 */
	int ctl_stale;			/* it has not been told the current down set yet */
	int replaces_dead;		/* its process replaces one that died (not a start or reload) */
};

struct old_worker {
	pid_t pid;
	int phys;
	int slot;
	int hung;			/* killed by us for hanging while draining */
	int ctl;			/* write end of its control pipe: closed when it is reaped */
	uint64_t cut_at;		/* drain_timeout: its connections are cut then (0 = never) */
	int cut;			/* told to cut them */
};

struct master {
	struct config *cfg;
	const struct master_opts *opts;
	int *fds;			/* fds[slot * nlisteners + l] */
	struct stats_seg seg;
	/* the per-address table and buckets (a row per physical stats slot) */
	struct admission adm;
	struct wslot ws[STATS_MAX_WORKERS];
	/*
	 * Previous generations, draining.  Each holds a physical slot of its
	 * own until it is reaped, so there can never be more than slots.
	 */
	struct old_worker old[STATS_MAX_WORKERS];
	size_t nold;
	/* physical stats slot p belongs to a current worker, a draining one or an orphan */
	uint8_t phys_busy[STATS_MAX_WORKERS];
	/*
	 * Per physical slot, the connection id counter its next process
	 * starts at: our own copy, raised from what a process reserved
	 * (connid_carry) before its slot is handed on or wiped.
	 */
	uint64_t id_next[STATS_MAX_WORKERS];
	uint64_t generation;
	uint64_t last_stats_ms;
	uid_t uid;
	gid_t gid;
	int stopping;			/* 0, 1 fast, 2 graceful */
	uint64_t stop_deadline;
	struct slotctl_msg down;	/* the down slots the workers were last told of */
	int pid_fd;			/* the pid file's lock, -1 before we hold it */
	/* where our pid file and segment are: the configured names, or .oldbin during an upgrade */
	char pid_name[CONFIG_PATH_MAX + sizeof(UPGRADE_SUFFIX)];
	char stats_name[CONFIG_PATH_MAX + sizeof(UPGRADE_SUFFIX)];
	/* and the admission table's file beside the segment, renamed with it */
	char adm_name[CONFIG_PATH_MAX + sizeof(ADM_PATH_SUFFIX) + sizeof(UPGRADE_SUFFIX)];
	enum up_state up_state;
	pid_t up_pid;			/* the new master while up_state != UP_NONE */
	int up_rd;			/* its ready pipe, -1 once read or closed */
	uint64_t up_deadline;
};

static volatile sig_atomic_t sig_chld, sig_term, sig_quit, sig_hup, sig_usr1, sig_usr2, sig_alrm;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD: sig_chld = 1; break;
	case SIGTERM:
	case SIGINT: sig_term = 1; break;
	case SIGQUIT: sig_quit = 1; break;
	case SIGHUP: sig_hup = 1; break;
	case SIGUSR1: sig_usr1 = 1; break;
	case SIGUSR2: sig_usr2 = 1; break;
	case SIGALRM: sig_alrm = 1; break;
	}
}

/*
 * SIGUSR2 is the master's "upgrade" and the workers' "drain" signal: a child
 * forked an instant before a reload holds it blocked until its own handler
 * is in place instead of acting on the master's.
 */
static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
    SIGALRM };

/*
 * Without its handlers the master would die of the first SIGHUP or SIGUSR1
 * an operator sends, or sleep through its workers' deaths; without the
 * timer it would never look for hung workers.  Any failure stops the
 * start, loudly.
 */
static int
master_signals(void)
{
	struct sigaction sa;
	sigset_t block;
	struct itimerval it;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaddset(&block, handled[i]);
	if (sigprocmask(SIG_BLOCK, &block, NULL) == -1) {
		daemon_startup_error("sigprocmask: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_mask = block;
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
		if (sigaction(handled[i], &sa, NULL) == -1) {
			daemon_startup_error("sigaction %d: %s", handled[i], strerror(errno));
			return -1;
		}
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1) {
		daemon_startup_error("sigaction SIGPIPE: %s", strerror(errno));
		return -1;
	}
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = TICK_MS * 1000;
	it.it_value.tv_usec = TICK_MS * 1000;
	if (setitimer(ITIMER_REAL, &it, NULL) == -1) {
		daemon_startup_error("setitimer: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int *
slot_fds(struct master *m, int slot)
{
	return &m->fds[(size_t)slot * m->cfg->nlisteners];
}

/*
 * Sockets for cfg: a dup of the old configuration's socket of the same slot
 * and endpoint when there is one (a reload hands the socket over, so no
 * connection attempt is refused), a newly bound one otherwise.  The old
 * table is left untouched: the caller closes it once the new one is in use.
 * Returns the table, or NULL with err filled.
 */
static int *
open_sockets(const struct config *cfg, const struct config *oldcfg, const int *oldfds,
    char *err, size_t errlen)
{
	size_t nl = cfg->nlisteners, n = (size_t)cfg->workers * nl;
	int *fds = malloc(n * sizeof(int));

	if (fds == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (int s = 0; s < cfg->workers; s++) {
		for (size_t l = 0; l < nl; l++) {
			const struct listener_conf *lc = &cfg->listeners[l];
			int fd = -1;

			for (size_t o = 0; oldcfg != NULL && s < oldcfg->workers &&
			    o < oldcfg->nlisteners; o++) {
				if (listener_same_endpoint(lc, &oldcfg->listeners[o])) {
					fd = fcntl(oldfds[(size_t)s * oldcfg->nlisteners + o],
					    F_DUPFD_CLOEXEC, 0);
					/* the codec may have changed: options follow the new settings */
					if (fd != -1 && listener_tune(fd, lc) == -1) {
						close(fd);
						fd = -1;
					}
					if (fd == -1)
						snprintf(err, errlen, "%s: %s", lc->name, strerror(errno));
					/* once set, the kernel keeps a listening socket's size (listener_tune) */
					if (fd != -1 && s == 0 && lc->rcvbuf == 0 &&
					    oldcfg->listeners[o].rcvbuf != 0)
						log_warnx("%s: rcvbuf removed: its listening sockets keep "
						    "%d bytes until sockserv restarts", lc->name,
						    oldcfg->listeners[o].rcvbuf);
					break;
				}
			}
			/* a binary upgrade hands over the old master's very sockets (upgrade.h) */
			if (fd == -1 && err[0] == '\0' && oldcfg == NULL &&
			    (fd = upgrade_take_listener(lc)) != -1 && listener_tune(fd, lc) == -1) {
				snprintf(err, errlen, "%s: %s", lc->name, strerror(errno));
				close(fd);
				fd = -1;
			}
			if (fd == -1 && err[0] == '\0')
				fd = listener_open(lc, cfg->backlog, err, errlen);
			if (fd == -1) {
				for (size_t i = 0; i < n; i++)
					if (fds[i] != -1)
						close(fds[i]);
				free(fds);
				return NULL;
			}
			fds[(size_t)s * nl + l] = fd;
		}
	}
	return fds;
}

static void
close_sockets(int *fds, size_t n)
{
	for (size_t i = 0; fds != NULL && i < n; i++)
		if (fds[i] != -1)
			close(fds[i]);
	free(fds);
}

/* a free physical stats slot, taken for the caller; -1 when there is none */
static int
take_phys(struct master *m)
{
	for (uint32_t p = 0; p < m->seg.nslots; p++) {
		if (!m->phys_busy[p]) {
			m->phys_busy[p] = 1;
			return (int)p;
		}
	}
	return -1;
}

/* stats slots a reload could give to new workers */
static int
free_slots(const struct master *m)
{
	int n = 0;

	for (uint32_t p = 0; p < m->seg.nslots; p++)
		n += !m->phys_busy[p];
	return n;
}

/*
 * In a new worker: close every control pipe write end the master holds,
 * its own included.  A worker holding another's would keep it from seeing
 * end of file when the master dies, and could tell it what to adopt.
 */
static void
close_ctl_writers(struct master *m, int own)
{
	for (int s = 0; s < m->cfg->workers; s++)
		if (m->ws[s].pid != 0)
			close(m->ws[s].ctl);
	for (size_t i = 0; i < m->nold; i++)
		close(m->old[i].ctl);
	close(own);
}

/*
 * In a new worker, before it runs: the files that make the master the
 * master are not the worker's to hold (a worker outliving a killed master
 * must not keep a new one from starting), and of the segment it keeps its
 * own slot's page only.
 */
static void
child_let_go(struct master *m, int phys)
{
	close(m->pid_fd);
	close(m->seg.fd);
	if (m->up_rd != -1)
		close(m->up_rd);
	upgrade_forget();	/* a worker must not tell an old master we are ready */
	stats_confine(&m->seg, (uint32_t)phys);
	admission_confine(&m->adm, (uint32_t)phys);
}

/* take in the ids the processes of physical slot phys reserved, before the slot is reused or wiped */
static uint64_t
ids_collect(struct master *m, int phys)
{
	struct stats_slot *st = stats_slot_at(&m->seg, (uint32_t)phys);

	m->id_next[phys] = connid_carry(m->id_next[phys], stats_get(&st->id_reserved));
	return m->id_next[phys];
}

static void
spawn(struct master *m, int slot)
{
	struct wslot *w = &m->ws[slot];
	struct stats_slot *st = stats_slot_at(&m->seg, (uint32_t)w->phys);
	struct worker_spec spec;
	uint64_t share, id_start, started;
	pid_t pid, master = getpid();
	int ctl[2] = { -1, -1 };

	/* exact shares, so the whole server never holds more than max_connections */
	share = m->cfg->max_connections / (uint64_t)m->cfg->workers +
	    ((uint64_t)slot < m->cfg->max_connections % (uint64_t)m->cfg->workers);
	id_start = ids_collect(m, w->phys);
	stats_set(&st->id_reserved, id_start);
	/* read before the fork: the child unmaps the header (child_let_go) */
	started = m->seg.hdr->start_time;
	st->worker = (uint32_t)slot;
	st->config_generation = m->generation;
	stats_set(&st->generation, stats_get(&st->generation) + 1);
	stats_set(&st->loop_ms, 0);
	stats_set(&st->started_ms, clock_now_ms());
	__atomic_store_n(&st->state, WS_STARTING, __ATOMIC_RELAXED);
	if (pipe2(ctl, O_NONBLOCK | O_CLOEXEC) == -1)
		pid = -1;
	else if ((pid = fork()) == -1) {
		close(ctl[0]);
		close(ctl[1]);
	}
	if (pid == -1) {
		log_warn("worker %d: %s", slot, ctl[0] == -1 ? "control pipe" : "fork");
		w->respawn_at = clock_now_ms() + 1000;
		__atomic_store_n(&st->state, WS_EXITED, __ATOMIC_RELAXED);
		return;
	}
	if (pid == 0) {
		child_let_go(m, w->phys);
		spec.slot = slot;
		spec.cfg = m->cfg;
		spec.stats = st;
		/* taken before the fork: a master dying in between must not make
		 * its successor parent (init, a subreaper) pass for the master */
		spec.master_pid = master;
		spec.max_conns = share;
		spec.phys = w->phys;
		spec.id_start = id_start;
		spec.master_started = started;
		spec.adm = &m->adm;
		/* every slot's sockets: the other slots' are adopted while they are down */
		spec.all_fds = m->fds;
		spec.nslots = m->cfg->workers;
		spec.ctl_fd = ctl[0];
		close_ctl_writers(m, ctl[1]);
		__atomic_store_n(&st->pid, (int32_t)getpid(), __ATOMIC_RELAXED);
		spec.fds = slot_fds(m, slot);
		worker_main(&spec);
	}
	close(ctl[0]);
	w->ctl = ctl[1];
	w->ctl_stale = 1;	/* it starts knowing of no down slot */
	w->pid = pid;
	w->started_ms = clock_now_ms();
	w->respawn_at = 0;
	w->hung = 0;
	__atomic_store_n(&st->pid, (int32_t)pid, __ATOMIC_RELAXED);
	log_info("worker %d started (pid %ld)", slot, (long)pid);
}

/*
 * Have SIGALRM come in ms if that is sooner than the next tick, so a
 * delayed respawn happens when its log line said, not up to a tick later.
 */
static void
wake_in(uint32_t ms)
{
	struct itimerval it;

	if (getitimer(ITIMER_REAL, &it) == -1)
		return;
	if ((uint64_t)it.it_value.tv_sec * 1000 + (uint64_t)it.it_value.tv_usec / 1000 <= ms)
		return;
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000 + 1;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* a slot's worker died: respawn at once, or later when it keeps dying */
static void
schedule_respawn(struct master *m, int slot)
{
	struct wslot *w = &m->ws[slot];
	uint64_t now = clock_now_ms();
	unsigned recent = 0;
	uint32_t delay = crashloop_death(&w->crash, now, &recent);

	if (delay != 0) {
		w->respawn_at = now + delay;
		wake_in(delay);
		if (recent > CRASHLOOP_LIMIT)
			log_warnx("worker %d is crashing in a loop (%u%s deaths in %d s): "
			    "respawn in %u ms", slot, recent,
			    recent >= CRASHLOOP_RING ? "+" : "", CRASHLOOP_WINDOW_MS / 1000, delay);
		else
			log_warnx("worker %d is crashing in a loop (died again before "
			    "running %d s): respawn in %u ms", slot,
			    CRASHLOOP_STABLE_MS / 1000, delay);
	} else {
		/*
		 * Now, not at the next tick: until a worker is back, clients
		 * wait in its slot's accept queue (up to 100 ms otherwise).
		 */
		spawn(m, slot);
	}
}

static void
log_exit(const char *what, int slot, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warnx("%s %d (pid %ld) killed by signal %d", what, slot, (long)pid,
		    WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_warnx("%s %d (pid %ld) exited with status %d", what, slot, (long)pid,
		    WEXITSTATUS(status));
	else
		log_info("%s %d (pid %ld) exited with status 0", what, slot, (long)pid);
}

/* the totals of a process gone for good live on in the slot that succeeds it; phys is free then */
static void
merge_into_heir(struct master *m, int slot, int phys)
{
	int heir = slot < m->cfg->workers ? slot : 0;

	(void)ids_collect(m, phys);	/* the merge wipes the slot */
	stats_slot_merge(stats_slot_at(&m->seg, (uint32_t)m->ws[heir].phys),
	    stats_slot_at(&m->seg, (uint32_t)phys));
	m->phys_busy[phys] = 0;
}

static void upgrade_failed(struct master *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void upgrade_resume(struct master *m);

/* the new master of an upgrade died */
static void
reap_new_master(struct master *m, int status)
{
	char how[64];

	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	if (m->up_state == UP_HANDED) {
		/* its workers die with it: we still hold every listening socket, so we serve again */
		log_error("upgrade: the new master (pid %ld) %s after taking over", (long)m->up_pid,
		    how);
		m->up_pid = 0;
		if (!m->stopping)
			upgrade_resume(m);
		return;
	}
	if (m->up_state == UP_ABORTING)
		upgrade_failed(m, "the new master (pid %ld) was not ready within %d s (it %s)",
		    (long)m->up_pid, UPGRADE_READY_MS / 1000, how);
	else
		upgrade_failed(m, "the new master (pid %ld) %s before it was ready",
		    (long)m->up_pid, how);
}

static void
reap(struct master *m)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int found = 0;

		if (m->up_state != UP_NONE && m->up_pid == pid) {
			reap_new_master(m, status);
			continue;
		}
		for (int s = 0; s < m->cfg->workers && !found; s++) {
			struct wslot *w = &m->ws[s];
			struct stats_slot *st;
			if (w->pid != pid)
				continue;
			found = 1;
			st = stats_slot_at(&m->seg, (uint32_t)w->phys);
			log_exit(w->hung ? "hung worker" : "worker", s, pid, status);
			stats_slot_retire(st);
			/* its connections are gone: so are their counts (before any respawn) */
			admission_row_gone(&m->adm, (uint32_t)w->phys);
			__atomic_store_n(&st->state, WS_EXITED, __ATOMIC_RELAXED);
			close(w->ctl);
			w->pid = 0;
			w->replaces_dead = 1;
			if (!m->stopping && m->up_state != UP_HANDED) {
				stats_set(&st->restarts, stats_get(&st->restarts) + 1);
				schedule_respawn(m, s);
			}
		}
		for (size_t i = 0; i < m->nold && !found; i++) {
			if (m->old[i].pid != pid)
				continue;
			found = 1;
			log_exit("old worker", m->old[i].slot, pid, status);
			admission_row_gone(&m->adm, (uint32_t)m->old[i].phys);
			close(m->old[i].ctl);
			if (m->up_state == UP_HANDED)
				/* no heir: the segment goes with us, renamed .oldbin */
				m->phys_busy[m->old[i].phys] = 0;
			else
				merge_into_heir(m, m->old[i].slot, m->old[i].phys);
			m->old[i] = m->old[--m->nold];
		}
	}
}

/* how long past hung_timeout the loop of the worker in st has been silent, 0 if it is not */
static uint64_t
silent_ms(const struct master *m, const struct stats_slot *st, uint64_t started, uint64_t now)
{
	uint64_t stamp = stats_get(&st->loop_ms);

	if (stamp == 0)
		stamp = started;	/* not in its loop yet: count from the fork */
	return now > stamp && now - stamp > m->cfg->hung_timeout_ms ? now - stamp : 0;
}

/* hung workers, due respawns, backoff reset, periodic stats line */
static void
supervise(struct master *m)
{
	uint64_t now = clock_now_ms(), quiet;

	for (size_t i = 0; i < m->nold; i++) {
		struct old_worker *o = &m->old[i];
		struct stats_slot *st = stats_slot_at(&m->seg, (uint32_t)o->phys);
		if (!o->hung && (quiet = silent_ms(m, st, stats_get(&st->started_ms), now)) != 0) {
			log_warnx("old worker %d (pid %ld) hung while draining: event loop "
			    "silent for %llu ms, killing it", o->slot, (long)o->pid,
			    (unsigned long long)quiet);
			o->hung = 1;
			kill(o->pid, SIGKILL);
		}
		/* quit (SIGQUIT) has its own bound, shutdown_timeout, in the workers */
		if (!m->stopping && o->cut_at != 0 && !o->cut && now >= o->cut_at) {
			/* the count is the worker's own (data): for the log only */
			log_warnx("old worker %d (pid %ld) still holds %llu connections at the end of "
			    "drain_timeout: cutting them", o->slot, (long)o->pid,
			    (unsigned long long)stats_get(&st->connections));
			o->cut = 1;
			kill(o->pid, SIGTERM);
		}
	}

	for (int s = 0; s < m->cfg->workers; s++) {
		struct wslot *w = &m->ws[s];
		struct stats_slot *st = stats_slot_at(&m->seg, (uint32_t)w->phys);
		if (w->pid == 0) {
			if (!m->stopping && w->respawn_at != 0 && now >= w->respawn_at)
				spawn(m, s);
			continue;
		}
		if (!w->hung && (quiet = silent_ms(m, st, w->started_ms, now)) != 0) {
			log_warnx("worker %d (pid %ld) hung: event loop silent for %llu ms, "
			    "replacing it", s, (long)w->pid, (unsigned long long)quiet);
			w->hung = 1;
			kill(w->pid, SIGKILL);
		}
		if (crashloop_stable(&w->crash, w->started_ms, now))
			log_info("worker %d stable for %d s: crash backoff reset", s,
			    CRASHLOOP_STABLE_MS / 1000);
	}
	if (m->cfg->stats_interval_s != 0 &&
	    now - m->last_stats_ms >= (uint64_t)m->cfg->stats_interval_s * 1000) {
		struct stats_counters t, one;
		uint64_t conns = 0, closed = 0;
		memset(&t, 0, sizeof(t));
		m->last_stats_ms = now;
		for (uint32_t p = 0; p < m->seg.nslots; p++) {
			struct stats_slot *st = stats_slot_at(&m->seg, p);
			if (!m->phys_busy[p])
				continue;
			stats_slot_lifetime(st, &one);
			conns += stats_get(&st->connections);
			t.accepted += one.accepted;
			for (int r = 0; r < CLOSE_NREASONS; r++)
				closed += one.closed[r];
			t.messages_in += one.messages_in;
			t.messages_out += one.messages_out;
		}
		log_info("stats: %llu connections, %llu accepted, %llu closed, "
		    "%llu messages in, %llu out", (unsigned long long)conns,
		    (unsigned long long)t.accepted, (unsigned long long)closed,
		    (unsigned long long)t.messages_in, (unsigned long long)t.messages_out);
	}
}

/*
 * Issue 11 hole 8: tell the live workers which slots have no running
 * worker, so they accept those slots' clients instead of leaving them in
 * the slot's queue through a crash loop's backoff.  Only the master
 * writes these pipes (the stats segment, which the workers' user can
 * write, never steers a worker).  Called at every wake-up of the master
 * loop: deaths, respawns, a reload and the end of ADOPT_OVERLAP_MS all
 * change the set.  A worker whose pipe is full (not reading: hung, soon
 * replaced) is told again at the next wake-up.
 */
static void
tell_down_slots(struct master *m)
{
	struct slotctl_msg down;
	uint64_t now = clock_now_ms();

	memset(&down, 0, sizeof(down));
	for (int s = 0; s < m->cfg->workers; s++)
		/*
		 * The overlap is for a respawn only: at start and after a reload
		 * every slot's worker starts at once, and adopting each other's
		 * sockets then would only blur which worker serves which queue.
		 */
		slotctl_set(&down, s, m->ws[s].pid == 0 || (m->ws[s].replaces_dead &&
		    now - m->ws[s].started_ms < ADOPT_OVERLAP_MS));
	if (!slotctl_equal(&down, &m->down)) {
		m->down = down;
		for (int s = 0; s < m->cfg->workers; s++)
			m->ws[s].ctl_stale = 1;
	}
	for (int s = 0; s < m->cfg->workers; s++) {
		struct wslot *w = &m->ws[s];

		/* EPIPE: it died and is reaped soon; EAGAIN: retried next time */
		if (w->pid != 0 && w->ctl_stale && slotctl_send(w->ctl, &m->down) == 0)
			w->ctl_stale = 0;
	}
}

static int
live_workers(const struct master *m)
{
	int n = (int)m->nold;

	for (int s = 0; s < m->cfg->workers; s++)
		n += m->ws[s].pid != 0;
	return n;
}

static void
signal_all(struct master *m, int sig)
{
	for (int s = 0; s < m->cfg->workers; s++)
		if (m->ws[s].pid != 0)
			kill(m->ws[s].pid, sig);
	for (size_t i = 0; i < m->nold; i++)
		kill(m->old[i].pid, sig);
}

int
master_check_handlers(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		if (handler_find(cfg->listeners[i].handler) == NULL) {
			/* a long path may be cut: the message is still the right one */
			(void)!snprintf(err, errlen, "%s:%d: unknown handler '%s'", cfg->display_path,
			    cfg->listeners[i].handler_line, cfg->listeners[i].handler);
			return -1;
		}
	}
	return 0;
}

static void
announce_listeners(struct master *m)
{
	char ep[160];

	for (size_t l = 0; l < m->cfg->nlisteners; l++) {
		const struct listener_conf *lc = &m->cfg->listeners[l];
		log_info("listener %s on %s (%s, %s)", lc->name,
		    listener_hostport_str(lc->address, listener_port(slot_fds(m, 0)[l]), ep, sizeof(ep)),
		    config_codec_name(lc->codec), lc->handler);
	}
}

/*
 * Open (or, on SIGUSR1, reopen) the log; a refusal is logged here, to the
 * target still in use.  Workers that dropped root reopen the file by its
 * path after us, so a file this very open created (log_init's O_EXCL: no
 * one can have planted it) is handed to their user.  Never one that was
 * there before: a link or a file planted by that user would otherwise
 * give it whatever root file the path led to.
 */
static int
open_log(const struct master *m, int reopen)
{
	const char *target = m->cfg->log_target;
	int fd;

	/* a daemon has no stderr: its stderr lines go to syslog instead */
	if (!m->opts->foreground && strcmp(target, "stderr") == 0)
		target = "syslog";
	if (reopen) {
		if (log_reopen() == -1)
			return -1;	/* logged by log_reopen */
	} else if (log_init(target, m->cfg->log_level, m->cfg->log_facility) == -1) {
		log_error("log target %s: %s", target, log_open_error());
		return -1;
	}
	fd = log_created_fd();
	if (fd != -1 && geteuid() == 0 && m->uid != 0 && fchown(fd, m->uid, m->gid) == -1)
		log_warn("chown %s", m->cfg->log_target);
	return 0;
}

/* logged, and shown on the terminal while starting */
static void
warn_root_workers(const struct config *cfg)
{
	if (cfg->user[0] == '\0' && geteuid() == 0)
		daemon_startup_warn("workers run as root: set user in %s to drop privileges",
		    cfg->path);
}

/*
 * SIGHUP: a new configuration.  An invalid one is logged and changes
 * nothing.  A valid one gets new workers; the old ones drain (SIGUSR2): they
 * stop accepting and leave when their last connection has ended by itself or
 * by its own timeouts, with no cut-off, so a reload drops no connection.
 */
static void
reload(struct master *m)
{
	struct config *ncfg = calloc(1, sizeof(*ncfg));
	char err[1024] = "";
	int *nfds;
	uid_t uid;
	gid_t gid;
	int orphan[STATS_MAX_WORKERS], oldworkers = m->cfg->workers;

	for (int s = 0; s < oldworkers; s++)
		orphan[s] = -1;
	if (m->up_state != UP_NONE) {
		log_error("reload refused: a binary upgrade is under way (new master pid %ld)",
		    (long)m->up_pid);
		free(ncfg);
		return;
	}
	log_info("reloading %s", m->cfg->display_path);
	if (ncfg == NULL)
		return;
	if (config_load(m->cfg->path, ncfg, err, sizeof(err)) == -1)
		goto fail;
	/* messages keep naming the file the way the operator gave it */
	snprintf(ncfg->display_path, sizeof(ncfg->display_path), "%s", m->cfg->display_path);
	if (master_check_handlers(ncfg, err, sizeof(err)) == -1 ||
	    daemon_check_runtime(ncfg, err, sizeof(err)) == -1 ||
	    daemon_lookup_user(ncfg, &uid, &gid) == -1)
		goto fail;
	if (free_slots(m) < ncfg->workers) {
		/* never run out half-way: the old sockets would be gone with the master */
		snprintf(err, sizeof(err), "%d workers need %d free stats slots and %d are free "
		    "(%zu old workers still draining)", ncfg->workers, ncfg->workers,
		    free_slots(m), m->nold);
		goto fail;
	}
	/*
	 * The pid file and the stats segment are the running server's
	 * identity: tools and the init script find it there, and cleanup()
	 * must remove the files this process created, not new names.
	 */
	if (strcmp(ncfg->pid_file, m->cfg->pid_file) != 0 ||
	    strcmp(ncfg->stats_path, m->cfg->stats_path) != 0) {
		log_warnx("reload: pid_file and stats_path changes need a restart; "
		    "keeping %s and %s", m->cfg->pid_file, m->cfg->stats_path);
		snprintf(ncfg->pid_file, sizeof(ncfg->pid_file), "%s", m->cfg->pid_file);
		snprintf(ncfg->stats_path, sizeof(ncfg->stats_path), "%s", m->cfg->stats_path);
	}
	/*
	 * The table is shared with the draining workers and holds their
	 * counts: resizing it would lose them.  Kept, like stats_path.
	 */
	if (ncfg->ip_table_size != m->cfg->ip_table_size) {
		log_warnx("reload: limits.ip_table_size changes need a restart; keeping %u "
		    "entries", m->cfg->ip_table_size);
		ncfg->ip_table_size = m->cfg->ip_table_size;
	}
	nfds = open_sockets(ncfg, m->cfg, m->fds, err, sizeof(err));
	if (nfds == NULL)
		goto fail;
	/*
	 * The running workers become the old generation and drain.  old[]
	 * cannot overflow: each entry holds one of the nslots physical slots.
	 */
	for (int s = 0; s < m->cfg->workers; s++) {
		struct wslot *w = &m->ws[s];
		if (w->pid != 0) {
			/* the bound the operator just set: the new file's */
			m->old[m->nold++] = (struct old_worker){ .pid = w->pid, .phys = w->phys,
			    .slot = s, .ctl = w->ctl, .cut_at = ncfg->drain_timeout_ms == 0 ? 0 :
			    clock_now_ms() + ncfg->drain_timeout_ms };
			__atomic_store_n(&stats_slot_at(&m->seg, (uint32_t)w->phys)->state,
			    WS_DRAINING, __ATOMIC_RELAXED);
			kill(w->pid, SIGUSR2);
		} else {
			/* no process (awaiting respawn): its totals go to the new slot below */
			orphan[s] = w->phys;
		}
		memset(w, 0, sizeof(*w));
		w->phys = -1;
	}
	close_sockets(m->fds, (size_t)m->cfg->workers * m->cfg->nlisteners);
	config_free(m->cfg);
	free(m->cfg);
	m->cfg = ncfg;
	m->fds = nfds;
	m->uid = uid;
	m->gid = gid;
	m->generation++;
	/* listener indexes may mean other listeners now: every bucket starts full */
	admission_reset_rates(&m->adm);
	(void)!open_log(m, 0);	/* a refused file is logged; the old target stays */
	warn_root_workers(m->cfg);
	for (int s = 0; s < m->cfg->workers; s++) {
		m->ws[s].phys = take_phys(m);	/* there are enough: checked above */
		(void)ids_collect(m, m->ws[s].phys);
		memset(stats_slot_at(&m->seg, (uint32_t)m->ws[s].phys), 0,
		    sizeof(struct stats_slot));
	}
	for (int s = 0; s < oldworkers; s++)
		if (orphan[s] != -1)
			merge_into_heir(m, s, orphan[s]);
	__atomic_store_n(&m->seg.hdr->nworkers, (uint32_t)m->cfg->workers, __ATOMIC_RELAXED);
	__atomic_store_n(&m->seg.hdr->config_generation, m->generation, __ATOMIC_RELAXED);
	announce_listeners(m);
	for (int s = 0; s < m->cfg->workers; s++)
		spawn(m, s);
	log_info("reload done: generation %llu, %d workers, %zu draining",
	    (unsigned long long)m->generation, m->cfg->workers, m->nold);
	return;
fail:
	log_error("reload failed, keeping the running configuration: %s", err);
	config_free(ncfg);
	free(ncfg);
}

/* ---- binary upgrade (SIGUSR2), the old master's side; upgrade.h has the protocol ---- */

/* our pid file and segment get back the configured names they gave to the new master */
static void
upgrade_restore_names(struct master *m)
{
	char path[sizeof(m->adm_name)];

	if (strcmp(m->pid_name, m->cfg->pid_file) != 0) {
		if (upgrade_rename(m->pid_fd, m->pid_name, m->cfg->pid_file) == 0)
			snprintf(m->pid_name, sizeof(m->pid_name), "%s", m->cfg->pid_file);
		else
			log_warn("upgrade: cannot give %s its name %s back", m->pid_name,
			    m->cfg->pid_file);
	}
	if (strcmp(m->stats_name, m->cfg->stats_path) != 0) {
		if (upgrade_rename(m->seg.fd, m->stats_name, m->cfg->stats_path) == 0)
			snprintf(m->stats_name, sizeof(m->stats_name), "%s", m->cfg->stats_path);
		else
			log_warn("upgrade: cannot give %s its name %s back", m->stats_name,
			    m->cfg->stats_path);
	}
	if (m->adm.fd != -1 && admission_path(m->cfg->stats_path, path, sizeof(path)) == 0 &&
	    strcmp(m->adm_name, path) != 0) {
		if (upgrade_rename(m->adm.fd, m->adm_name, path) == 0)
			snprintf(m->adm_name, sizeof(m->adm_name), "%s", path);
		else
			log_warn("upgrade: cannot give %s its name %s back", m->adm_name, path);
	}
}

static void
upgrade_failed(struct master *m, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (m->up_rd != -1)
		close(m->up_rd);
	m->up_rd = -1;
	m->up_pid = 0;
	m->up_state = UP_NONE;
	upgrade_restore_names(m);
	log_error("upgrade failed: %s; still serving (pid %ld, %s)", why, (long)getpid(),
	    m->pid_name);
}

/*
 * The new master died after taking over: new workers on the sockets we kept
 * (ours drain on), and our file names back.  Like a reload, they need free
 * stats slots; without them we only drain, and say so.
 */
static void
upgrade_resume(struct master *m)
{
	if (free_slots(m) < m->cfg->workers) {
		log_error("upgrade: cannot serve again: %d workers need %d free stats slots and "
		    "%d are free; the old workers drain and this master exits", m->cfg->workers,
		    m->cfg->workers, free_slots(m));
		return;
	}
	m->up_state = UP_NONE;
	upgrade_restore_names(m);
	for (int s = 0; s < m->cfg->workers; s++) {
		memset(&m->ws[s], 0, sizeof(m->ws[s]));
		m->ws[s].phys = take_phys(m);	/* there are enough: checked above */
		(void)ids_collect(m, m->ws[s].phys);
		memset(stats_slot_at(&m->seg, (uint32_t)m->ws[s].phys), 0,
		    sizeof(struct stats_slot));
	}
	for (int s = 0; s < m->cfg->workers; s++)
		spawn(m, s);
	log_warnx("upgrade: serving again (pid %ld, %s) with %d new workers, draining %zu old",
	    (long)getpid(), m->pid_name, m->cfg->workers, m->nold);
}

/* where the new master's connection ids start: above every id we reserved, with room */
static uint64_t
upgrade_ids(struct master *m)
{
	uint64_t top = CONNID_FIRST;

	for (uint32_t p = 0; p < m->seg.nslots; p++) {
		if (!m->phys_busy[p])
			continue;
		if (ids_collect(m, (int)p) > top)
			top = m->id_next[p];
	}
	top += UPGRADE_ID_MARGIN;
	return top < CONNID_COUNTER_END / 2 ? top : CONNID_COUNTER_END / 2;
}

static void
upgrade_begin(struct master *m)
{
	char pid_old[sizeof(m->pid_name)], stats_old[sizeof(m->stats_name)], err[256] = "";
	char adm_old[sizeof(m->adm_name)];
	size_t n = (size_t)m->cfg->workers * m->cfg->nlisteners;
	pid_t pid;
	int rd = -1;

	if (m->up_state != UP_NONE) {
		log_warnx("upgrade: ignored, %s (new master pid %ld)", m->up_state == UP_HANDED ?
		    "this master has handed over and drains" : "an upgrade is under way",
		    (long)m->up_pid);
		return;
	}
	log_info("upgrade: starting %s", upgrade_binary()[0] != '\0' ? upgrade_binary() : "?");
	if (upgrade_binary()[0] == '\0') {
		log_error("upgrade refused: the path of the binary was not known at start");
		return;
	}
	if (upgrade_oldbin_name(m->cfg->pid_file, pid_old, sizeof(pid_old)) == -1 ||
	    upgrade_oldbin_name(m->cfg->stats_path, stats_old, sizeof(stats_old)) == -1) {
		log_error("upgrade refused: %s or %s is too long a name", m->cfg->pid_file,
		    m->cfg->stats_path);
		return;
	}
	/* one at a time, as nginx: the names are taken while the previous master lives */
	if (lockfile_held(pid_old, NULL) == 1) {
		log_error("upgrade refused: the previous master still runs (it holds %s); it "
		    "exits once its workers have drained (drain_timeout bounds that)", pid_old);
		return;
	}
	if (upgrade_rename(m->pid_fd, m->cfg->pid_file, pid_old) == -1) {
		log_warn("upgrade refused: rename %s to %s", m->cfg->pid_file, pid_old);
		return;
	}
	snprintf(m->pid_name, sizeof(m->pid_name), "%s", pid_old);
	if (upgrade_rename(m->seg.fd, m->cfg->stats_path, stats_old) == -1) {
		log_warn("upgrade refused: rename %s to %s", m->cfg->stats_path, stats_old);
		upgrade_restore_names(m);
		return;
	}
	snprintf(m->stats_name, sizeof(m->stats_name), "%s", stats_old);
	/* the new master creates its own admission table at the configured name */
	if (upgrade_oldbin_name(m->adm_name, adm_old, sizeof(adm_old)) == -1 ||
	    upgrade_rename(m->adm.fd, m->adm_name, adm_old) == -1) {
		log_warn("upgrade refused: rename %s to %s.oldbin", m->adm_name, m->adm_name);
		upgrade_restore_names(m);
		return;
	}
	snprintf(m->adm_name, sizeof(m->adm_name), "%s", adm_old);
	pid = upgrade_spawn(m->fds, n, upgrade_ids(m), &rd, err, sizeof(err));
	if (pid == -1) {
		upgrade_failed(m, "%s", err);
		return;
	}
	m->up_pid = pid;
	m->up_rd = rd;
	m->up_state = UP_STARTING;
	m->up_deadline = clock_now_ms() + UPGRADE_READY_MS;
	log_info("upgrade: new master started (pid %ld) with %zu listening sockets; we serve "
	    "until its workers run (at most %d s); pid file now %s", (long)pid, n,
	    UPGRADE_READY_MS / 1000, m->pid_name);
}

/* the new master serves: our workers stop accepting and drain, then we exit */
static void
upgrade_handover(struct master *m)
{
	uint64_t now = clock_now_ms();
	int n = 0;

	close(m->up_rd);
	m->up_rd = -1;
	m->up_state = UP_HANDED;
	for (int s = 0; s < m->cfg->workers; s++) {
		struct wslot *w = &m->ws[s];

		w->respawn_at = 0;
		if (w->pid == 0)
			continue;
		/* old[] has room: each entry holds one of the physical slots */
		m->old[m->nold++] = (struct old_worker){ .pid = w->pid, .phys = w->phys,
		    .slot = s, .ctl = w->ctl, .cut_at = m->cfg->drain_timeout_ms == 0 ? 0 :
		    now + m->cfg->drain_timeout_ms };
		__atomic_store_n(&stats_slot_at(&m->seg, (uint32_t)w->phys)->state,
		    WS_DRAINING, __ATOMIC_RELAXED);
		kill(w->pid, SIGUSR2);
		w->pid = 0;
		n++;
	}
	if (m->cfg->drain_timeout_ms != 0)
		log_info("upgrade: the new master (pid %ld) serves; %d workers stop accepting and "
		    "drain (at most %u ms, drain_timeout), then this master exits", (long)m->up_pid,
		    n, m->cfg->drain_timeout_ms);
	else
		log_info("upgrade: the new master (pid %ld) serves; %d workers stop accepting and "
		    "drain, then this master exits", (long)m->up_pid, n);
}

/* at each wake-up while an upgrade is under way */
static void
upgrade_poll(struct master *m)
{
	uint64_t now = clock_now_ms();
	int r;

	if (m->up_state == UP_STARTING) {
		r = m->up_rd == -1 ? 0 : upgrade_read_ready(m->up_rd);
		if (r == 1) {
			upgrade_handover(m);
			return;
		}
		if (r == -1) {
			/* closed without a word: it is dying (reap says how) or is no sockserv of ours */
			close(m->up_rd);
			m->up_rd = -1;
		}
		if (now >= m->up_deadline) {
			log_warnx("upgrade: the new master (pid %ld) is not ready after %d s: "
			    "stopping it", (long)m->up_pid, UPGRADE_READY_MS / 1000);
			kill(m->up_pid, SIGTERM);
			m->up_state = UP_ABORTING;
			m->up_deadline = now + STOP_GRACE_MS + 1000;
		}
	} else if (m->up_state == UP_ABORTING && now >= m->up_deadline) {
		log_warnx("upgrade: the new master (pid %ld) did not stop: killing it",
		    (long)m->up_pid);
		kill(m->up_pid, SIGKILL);
		m->up_deadline = UINT64_MAX;
	}
}

/* the new master's side: every worker of ours is in its loop */
static int
workers_all_running(const struct master *m)
{
	for (int s = 0; s < m->cfg->workers; s++) {
		const struct stats_slot *st;

		if (m->ws[s].pid == 0)
			return 0;
		st = stats_slot_at(&m->seg, (uint32_t)m->ws[s].phys);
		/* only a worker's own claim, but a false one costs nothing: the sockets are ours too */
		if (__atomic_load_n(&st->state, __ATOMIC_RELAXED) != WS_RUNNING)
			return 0;
	}
	return 1;
}

static void
make_parent_dir(const char *path)
{
	char dir[CONFIG_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	/*
	 * /run is a tmpfs: /run/sockserv is gone after every boot.  0755
	 * whatever the umask (027 once detached): workers and sockserv-stat
	 * run as the configured user and must reach the segment inside.
	 */
	if (mkdir(dir, 0755) == 0) {
		(void)!chmod(dir, 0755);
		log_info("created %s", dir);
	}
}

/*
 * The per-address table and the buckets, beside the stats segment, for
 * the master's whole life: a reload keeps them (and so the counts of the
 * connections the old workers still hold).
 */
static int
open_admission(struct master *m, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + sizeof(ADM_PATH_SUFFIX)];

	if (admission_path(m->cfg->stats_path, path, sizeof(path)) == -1) {
		/* cannot happen: path has room for the longest stats_path and the suffix */
		snprintf(err, errlen, "stats_path too long for its admission table");
		return -1;
	}
	m->adm.fd = -1;
	snprintf(m->adm_name, sizeof(m->adm_name), "%s", path);
	return admission_create(&m->adm, path, m->cfg->ip_table_size, STATS_MAX_WORKERS, err,
	    errlen);
}

static void
cleanup(struct master *m)
{
	/* each file only if we hold its lock: a failed start leaves a running server's alone */
	if (m->pid_fd != -1)
		daemon_pidfile_remove(m->pid_name, m->pid_fd);
	m->pid_fd = -1;
	/* by the name it has now: the configured one, or .oldbin after handing over */
	if (m->adm.hdr != NULL)
		admission_destroy(&m->adm, m->adm_name);
	if (m->seg.hdr != NULL)
		stats_destroy(&m->seg, m->stats_name);
	close_sockets(m->fds, (size_t)m->cfg->workers * m->cfg->nlisteners);
	m->fds = NULL;
}

int
master_run(struct config *cfg, const struct master_opts *opts)
{
	static struct master master;
	struct master *m = &master;
	char err[1024] = "";
	long nofile, spare;
	sigset_t empty;

	m->cfg = cfg;
	m->opts = opts;
	m->generation = 1;
	m->pid_fd = -1;
	m->seg.fd = -1;
	m->adm.fd = -1;
	m->up_rd = -1;
	snprintf(m->pid_name, sizeof(m->pid_name), "%s", cfg->pid_file);
	snprintf(m->stats_name, sizeof(m->stats_name), "%s", cfg->stats_path);
	/* an upgrade's new master: ids above the old master's (upgrade.h) */
	for (int p = 0; p < STATS_MAX_WORKERS; p++)
		m->id_next[p] = upgrade_id_floor();
	if (daemon_lookup_user(cfg, &m->uid, &m->gid) == -1)
		return 1;
	/* the log first, so that the start-up warnings are in it too */
	if (open_log(m, 0) == -1)
		return 1;
	daemon_startup_echo(!opts->foreground || strcmp(cfg->log_target, "stderr") != 0);
	/*
	 * Both locks before binding: with SO_REUSEPORT a second server would
	 * bind the same ports without a complaint and take a share of the
	 * connections.  Held from here until we exit (daemon_detach's forks
	 * inherit them), so no timing lets two servers past this point.
	 */
	make_parent_dir(cfg->pid_file);
	make_parent_dir(cfg->stats_path);
	if ((m->pid_fd = daemon_pidfile_lock(cfg->pid_file, err, sizeof(err))) == -1) {
		daemon_startup_error("%s", err);
		return 1;
	}
	if (stats_create(&m->seg, cfg->stats_path, STATS_MAX_WORKERS, err, sizeof(err)) == -1) {
		daemon_startup_error("%s", err);
		goto fail;
	}
	if (open_admission(m, err, sizeof(err)) == -1) {
		daemon_startup_error("%s", err);
		goto fail;
	}
	nofile = daemon_raise_nofile();
	/* besides its clients a worker holds every slot's listening sockets (adoption) */
	spare = 64 + (long)cfg->workers * (long)cfg->nlisteners;
	if (nofile > 0 && cfg->max_connections / (uint64_t)cfg->workers + (uint64_t)spare >
	    (uint64_t)nofile)
		daemon_startup_warn("max_connections %llu over %d workers needs %llu descriptors "
		    "per worker but the limit is %ld: each worker holds at most ~%ld",
		    (unsigned long long)cfg->max_connections, cfg->workers,
		    (unsigned long long)(cfg->max_connections / (uint64_t)cfg->workers), nofile,
		    nofile > spare ? nofile - spare : 0);
	if (cfg->max_connections < (uint64_t)cfg->workers)
		daemon_startup_warn("max_connections %llu is less than the %d workers: %llu of "
		    "them refuse every client", (unsigned long long)cfg->max_connections,
		    cfg->workers, (unsigned long long)cfg->workers - cfg->max_connections);
	m->fds = open_sockets(cfg, NULL, NULL, err, sizeof(err));
	upgrade_drop_unused();
	if (m->fds == NULL) {
		daemon_startup_error("cannot listen: %s", err);
		goto fail;
	}
	if (upgrade_inherited())
		upgrade_check_parent(cfg->pid_file);
	warn_root_workers(cfg);
	/*
	 * An upgrade's new master stays the old one's child (nginx's way): the
	 * old master is a daemon already, and a detach would hide our death
	 * from it before we are ready.
	 */
	if (!opts->foreground && !upgrade_inherited() && daemon_detach() == -1) {
		daemon_startup_error("cannot become a daemon: %s", strerror(errno));
		goto fail;
	}
	/* the old master ran us in its start directory (upgrade.h); a daemon lives in / */
	if (!opts->foreground && upgrade_inherited() && chdir("/") == -1) {
		daemon_startup_error("chdir /: %s", strerror(errno));
		goto fail;
	}
	/* handlers before the pid is in the file: a signal sent by its pid must not kill us */
	if (master_signals() == -1)
		goto fail;
	/* the pid that stays, now that the forks of daemon_detach are behind us */
	if (daemon_pidfile_write(m->pid_fd, cfg->pid_file, err, sizeof(err)) == -1) {
		daemon_startup_error("%s", err);
		goto fail;
	}
	m->seg.hdr->master_pid = (int32_t)getpid();
	m->seg.hdr->nworkers = (uint32_t)cfg->workers;
	m->seg.hdr->config_generation = m->generation;
	announce_listeners(m);
	/*
	 * Ready once every listener is bound and listening: connections queue
	 * in the kernel until the workers accept them.  Before the first fork,
	 * because the workers must not inherit the terminal or the pipe the
	 * first parent waits on.
	 */
	daemon_ready(0);
	for (int s = 0; s < cfg->workers; s++) {
		m->ws[s].phys = take_phys(m);	/* s: every slot is free at start */
		spawn(m, s);
	}
	m->last_stats_ms = clock_now_ms();

	sigemptyset(&empty);
	for (;;) {
		sigsuspend(&empty);
		if (sig_chld) {
			sig_chld = 0;
			reap(m);
		}
		if (sig_term && m->stopping != 1) {
			sig_term = 0;
			log_info("stopping (fast)");
			if (m->up_state == UP_STARTING || m->up_state == UP_ABORTING)
				kill(m->up_pid, SIGTERM);
			m->stopping = 1;
			m->stop_deadline = clock_now_ms() + STOP_GRACE_MS;
			signal_all(m, SIGTERM);
		}
		if (sig_quit && !m->stopping) {
			sig_quit = 0;
			log_info("stopping gracefully (at most %u s)",
			    m->cfg->shutdown_timeout_ms / 1000);
			if (m->up_state == UP_STARTING || m->up_state == UP_ABORTING)
				kill(m->up_pid, SIGTERM);
			m->stopping = 2;
			m->stop_deadline = clock_now_ms() + m->cfg->shutdown_timeout_ms + STOP_GRACE_MS;
			signal_all(m, SIGQUIT);
		}
		if (m->stopping && m->fds != NULL) {
			/*
			 * The workers close their copies as they stop; with ours
			 * gone too, new clients are refused at once instead of
			 * waiting in a queue nobody will accept from.
			 */
			close_sockets(m->fds, (size_t)m->cfg->workers * m->cfg->nlisteners);
			m->fds = NULL;
		}
		if (sig_hup) {
			sig_hup = 0;
			if (!m->stopping)
				reload(m);
		}
		if (sig_usr2) {
			sig_usr2 = 0;
			if (!m->stopping)
				upgrade_begin(m);
		}
		if (m->up_state != UP_NONE && !m->stopping)
			upgrade_poll(m);
		if (upgrade_ready_pending() && !m->stopping && workers_all_running(m))
			upgrade_send_ready();
		if (sig_usr1) {
			sig_usr1 = 0;
			if (open_log(m, 1) == 0)
				log_info("log reopened");
			signal_all(m, SIGUSR1);
		}
		if (sig_alrm) {
			sig_alrm = 0;
			supervise(m);
		}
		if (!m->stopping && m->up_state != UP_HANDED)
			tell_down_slots(m);
		if (m->up_state == UP_HANDED && !m->stopping && live_workers(m) == 0) {
			log_info("upgrade: every old worker has drained");
			break;
		}
		if (m->stopping) {
			if (live_workers(m) == 0)
				break;
			if (clock_now_ms() >= m->stop_deadline) {
				log_warnx("%d workers still running: killing them", live_workers(m));
				signal_all(m, SIGKILL);
				while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
					;
				break;
			}
		}
	}
	log_info("exiting");
	cleanup(m);
	config_free(m->cfg);
	return 0;

fail:
	daemon_ready(1);
	cleanup(m);
	return 1;
}
