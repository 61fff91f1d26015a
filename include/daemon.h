/*
 * daemon: what makes sockserv a traditional Unix daemon: detaching from the
 * terminal, the pid file, the file-descriptor limit and dropping root.
 */
#ifndef SOCKSERV_DAEMON_H
#define SOCKSERV_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * fork, setsid, fork, chdir /, umask 027.  The first parent waits until
 * the daemon calls daemon_ready() and exits with its status, so start-up
 * errors still reach the terminal and the exit code.
 */
int daemon_detach(void);
/*
 * Tell the waiting parent that start-up went well (0) or failed; on
 * success stdio goes to /dev/null.  Call it before forking anything that
 * outlives start-up: a child would keep the terminal's stdio (a shell
 * pipeline reading the start command's output would never see EOF) and
 * the parent's pipe open.  Ends the start-up echo (daemon_startup_echo).
 */
void daemon_ready(int status);

/*
 * Start-up messages.  Once the log is a file or syslog, the operator who
 * typed the start command would see nothing of why it failed; with the
 * echo on, daemon_startup_error/warn also print "sockserv: MSG" on stderr
 * (still the terminal until daemon_ready).  Both always log the message.
 */
void daemon_startup_echo(int on);
void daemon_startup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void daemon_startup_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The pid file is the master's lock, held from before it binds until it
 * exits (lockfile.h).  daemon_pidfile_lock creates path afresh (a stale
 * file is replaced, a symlink refused) and returns the descriptor holding
 * the lock; -1 with err filled, "PATH: sockserv is already running (pid
 * N)" when a live server holds it.  Workers must not keep the descriptor.
 */
int daemon_pidfile_lock(const char *path, char *err, size_t errlen);
/* our pid into the locked file (after daemon_detach: the pid that stays); -1 with err */
int daemon_pidfile_write(int fd, const char *path, char *err, size_t errlen);
/* at exit: remove path if it is still our file, and drop the lock */
void daemon_pidfile_remove(const char *path, int fd);
/*
 * The pid of the server holding path's lock; 0 when none does (no file or
 * a stale one); -1 with errno when it cannot be told (EAGAIN: locked, but
 * no pid appeared within 2 s).
 */
pid_t daemon_pidfile_read(const char *path);

/* soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit */
long daemon_raise_nofile(void);
/* uid/gid of cfg->user/group (or our own when unset); -1 on unknown names */
int daemon_lookup_user(const struct config *cfg, uid_t *uid, gid_t *gid);
/* setgroups, setgid, setuid to cfg->user/group, verified; no-op when unset or not root */
int daemon_drop_privileges(const struct config *cfg);

/*
 * What config_load cannot judge because it depends on the machine: user
 * and group must exist, and a log file target must open for appending (it
 * is created if missing, as the server would).  -1 with "FILE:LINE:
 * message" in err (FILE as the user gave it) when the server would refuse
 * to start or reload with cfg.
 */
int daemon_check_runtime(const struct config *cfg, char *err, size_t errlen);

/*
 * Close every descriptor above stderr.  A daemon must not keep what its
 * starter happened to leave open: a pipe held by the master and its
 * workers would keep a caller that waits for EOF waiting forever.  Call it
 * first thing, before anything of our own is open.
 */
void daemon_close_inherited(void);
/*
 * The same but for keep[] (a binary upgrade's sockets and ready pipe,
 * upgrade.h).  Needs close_range (Linux 5.9): without it nothing is
 * closed but the hand-over keeps working.
 */
void daemon_close_inherited_except(const int *keep, size_t n);

#endif
