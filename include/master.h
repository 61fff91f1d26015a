/*
 * master: the supervising process.  Binds every listener once per worker
 * slot, creates the stats segment, forks the workers and then sleeps in
 * sigsuspend(): signal handlers only set flags.  It respawns dead workers
 * into their slot with the same sockets (backing off on crash loops),
 * replaces hung ones, reloads the config on SIGHUP and stops on
 * SIGTERM/SIGINT (fast) or SIGQUIT (graceful).
 */
#ifndef SOCKSERV_MASTER_H
#define SOCKSERV_MASTER_H

#include "config.h"

struct master_opts {
	const char *config_path;
	int foreground;
};

/* every listener's handler is registered; else -1 and "FILE:LINE: unknown handler" */
int master_check_handlers(const struct config *cfg, char *err, size_t errlen);

/*
 * Bind, (daemonize unless foreground), fork workers and supervise until
 * stopped.  Start-up errors are logged and return 1 before anything runs.
 * cfg must have passed master_check_handlers() and daemon_check_runtime(),
 * as sockserv -t does.
 * Takes ownership of cfg.  Returns the process exit code.
 */
int master_run(struct config *cfg, const struct master_opts *opts);

#endif
