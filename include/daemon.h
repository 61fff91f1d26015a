/*
 * daemon: what makes sockserv a traditional Unix daemon: detaching from the
 * terminal, the pid file, the file-descriptor limit and dropping root.
 */
#ifndef SOCKSERV_DAEMON_H
#define SOCKSERV_DAEMON_H

#include <sys/types.h>

#include "config.h"

/*
 * fork, setsid, fork, chdir /, umask 027.  The first parent waits until
 * the daemon calls daemon_ready() and exits with its status, so start-up
 * errors still reach the terminal and the exit code.
 */
int daemon_detach(void);
/* tell the waiting parent that start-up went well (0) or failed; then stdio goes to /dev/null */
void daemon_ready(int status);

/*
 * Write our pid to path.  -1 with err filled when a live sockserv already
 * owns it; a stale file is replaced.
 */
int daemon_pidfile_write(const char *path, char *err, size_t errlen);
void daemon_pidfile_remove(const char *path);
/* the pid recorded in path if that process is alive, else 0 */
pid_t daemon_pidfile_read(const char *path);

/* soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit */
long daemon_raise_nofile(void);
/* uid/gid of cfg->user/group (or our own when unset); -1 on unknown names */
int daemon_lookup_user(const struct config *cfg, uid_t *uid, gid_t *gid);
/* setgroups, setgid, setuid to cfg->user/group, verified; no-op when unset or not root */
int daemon_drop_privileges(const struct config *cfg);

#endif
