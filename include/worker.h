/*
 * worker: one pre-forked worker process.  It owns its event loop, its timing
 * wheel and its connections, accepts on its slot's own SO_REUSEPORT sockets
 * (and on those of slots the master reports down, see slotctl.h) and writes
 * only its own stats slot.
 */
#ifndef SOCKSERV_WORKER_H
#define SOCKSERV_WORKER_H

#include <sys/types.h>

#include "admission.h"
#include "config.h"
#include "stats.h"

struct worker_spec {
	int slot;
	const struct config *cfg;
	const int *fds;			/* one listening socket per cfg->listeners[i] */
	/*
	 * Every slot's sockets, all_fds[s * nlisteners + l] (fds is this
	 * slot's row): the worker accepts on slot s's too while the master
	 * says s is down.
	 */
	const int *all_fds;
	int nslots;
	int ctl_fd;			/* read end of the master's control pipe (slotctl.h) */
	struct stats_slot *stats;
	pid_t master_pid;
	uint64_t max_conns;		/* this worker's share of max_connections */
	int phys;			/* its physical stats slot (connection ids) */
	uint64_t id_start;		/* first connection id counter (connid.h) */
	uint64_t master_started;	/* master start, Unix seconds (the link's HELLO) */
	struct admission *adm;		/* the whole-server limits, confined to this worker's row */
};

/* runs the worker until it is told to stop; never returns */
void worker_main(const struct worker_spec *ws) __attribute__((noreturn));

#endif
