/*
 * upgrade: the binary upgrade (sockserv -s upgrade, SIGUSR2), nginx's way.
 *
 * The old master runs the binary found at the path it was started from
 * (made absolute at start, so the file installed there since is what
 * runs), with the same arguments (-c made absolute at start: the daemon
 * has chdir'd to /), in the directory it was started in (relative paths
 * in the configuration keep their meaning), as its own child.  It hands over every listening
 * socket it holds and a pipe, named in the environment:
 *
 *   SOCKSERV_LISTEN_FDS=3,4,5,6   the listening sockets, any order
 *   SOCKSERV_UPGRADE_FD=7         write end of the ready pipe
 *   SOCKSERV_UPGRADE_IDS=N        connection id counters start at N
 *
 * The new master trusts none of it: a descriptor is used only if it is a
 * listening SO_REUSEPORT TCP socket bound to exactly a configured
 * listener's address and port (listener_matches), and it is the very
 * socket (the same queue) the old workers accepted from, so no connection
 * attempt meets a closed queue.  A listener no inherited socket matches is
 * bound afresh; inherited sockets nothing matches are closed.  The new
 * master writes one byte on the pipe once every worker of its own is
 * running; only then do the old workers stop accepting and drain.
 *
 * Meanwhile the old master's pid file and stats segment are renamed
 * PATH.oldbin, so the new master creates its own at the configured names;
 * if the upgrade fails they get their names back.
 */
#ifndef SOCKSERV_UPGRADE_H
#define SOCKSERV_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define UPGRADE_READY_MS 10000	/* the new master must be ready within this */
#define UPGRADE_SUFFIX ".oldbin"

/* ---- in the new master (main, then master_run) ---- */

/*
 * First thing in main: read and unset the variables above.  -1 with a
 * message in err when one is malformed (not a plain list of descriptors
 * above 2): the start fails then rather than guess.
 */
int upgrade_take_env(char *err, size_t errlen);
/* the descriptors named in the environment, for daemon_close_inherited_except */
size_t upgrade_inherited_fds(int *out, size_t max);
/* 1 when started by an upgrade (SOCKSERV_LISTEN_FDS was set) */
int upgrade_inherited(void);
/* an inherited socket of lc's endpoint (taken: the caller owns it), or -1 */
int upgrade_take_listener(const struct listener_conf *lc);
/* close (and log) the inherited sockets no listener took; checks the ready pipe */
void upgrade_drop_unused(void);
/* where connection id counters start: above any the old master handed out */
uint64_t upgrade_id_floor(void);
/*
 * At start: the ready pipe is kept only if our parent
 * is the master holding PID_FILE.oldbin (else logged and closed).
 */
void upgrade_check_parent(const char *pid_file);
/* 1 while an old master waits for our ready byte */
int upgrade_ready_pending(void);
/* tell the old master our workers run (once) */
void upgrade_send_ready(void);
/* in a new worker: close the ready pipe without a word */
void upgrade_forget(void);

/* ---- the command (main, at start) ---- */

/*
 * Remember the command line to run on an upgrade: argv[0] made absolute
 * (searched in PATH when it has no slash), argv[c_index] with the -c value
 * that starts at c_off replaced by abs_config (c_index -1: no -c given).
 * -1 with err when the binary's path cannot be told.
 */
int upgrade_set_command(int argc, char *const argv[], int c_index, size_t c_off,
    const char *abs_config, char *err, size_t errlen);
/* the binary an upgrade runs ("" before upgrade_set_command) */
const char *upgrade_binary(void);
/* its argv, NULL-terminated (NULL before upgrade_set_command) */
char *const *upgrade_command(void);

/* ---- in the old master ---- */

/*
 * fork and exec the binary with fds (kept open across the exec) and a
 * ready pipe; its read end, non-blocking, goes to *ready_rd.  The child's
 * pid, or -1 with err.
 */
pid_t upgrade_spawn(const int *fds, size_t n, uint64_t id_floor, int *ready_rd, char *err,
    size_t errlen);
/* 1 the new master said ready, 0 nothing yet, -1 it closed the pipe without a word */
int upgrade_read_ready(int rd);
/* path + UPGRADE_SUFFIX into out; -1 if it does not fit */
int upgrade_oldbin_name(const char *path, char *out, size_t len);
/*
 * Give from's file the name to, without replacing a file someone holds
 * the lock of (lockfile.h): a stale file at to (a new master that was
 * killed) is replaced, a live one is not (-1, errno EEXIST).  fd is our
 * lock on the file: nothing is renamed unless it is still at from.
 */
int upgrade_rename(int fd, const char *from, const char *to);

#endif
