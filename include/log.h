/*
 * log: the one place messages leave the process.  Targets are stderr, syslog
 * or an append-only file; lines carry time, pid and level.  In the spirit of
 * OpenBSD's log.c: log_warn appends strerror(errno), fatal/fatalx exit(1).
 */
#ifndef SOCKSERV_LOG_H
#define SOCKSERV_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/*
 * target: "stderr", "syslog" or a file path; facility: a syslog LOG_* value.
 * A file is opened the way a root daemon must open a path others may
 * reach: every directory on the way belongs to root (or to us) and is
 * writable by nobody else unless it is sticky, the file is not reached
 * through a symbolic link, is a regular file with one link (or a
 * character device such as /dev/null), and a missing one is created
 * (0640) with O_EXCL.  -1 when the file is refused (log_open_error() says
 * why); the previous target is kept then.
 */
int log_init(const char *target, enum log_level level, int facility);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *name, enum log_level *out);
/*
 * Reopen the log file by its path (SIGUSR1, logrotate); no-op for
 * stderr/syslog.  A refused reopen is logged to the file open before,
 * which stays in use: -1.
 */
int log_reopen(void);
/* why the last log_init or log_reopen of a file failed (to follow "PATH: ") */
const char *log_open_error(void);
/*
 * The descriptor of the file target when the last (re)open created it,
 * -1 otherwise: the only log file a root process may hand to another user.
 */
int log_created_fd(void);
/*
 * What log_init would say about path, without creating it: 0 when it
 * would be used (a missing file needs a directory we may write), -1 with
 * the reason in err.
 */
int log_check_file(const char *path, char *err, size_t errlen);
void log_close(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* like log_warnx, with ": strerror(errno)" appended */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
