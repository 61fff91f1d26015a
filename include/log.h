/*
 * log: the one place messages leave the process.  Targets are stderr, syslog
 * or an append-only file; lines carry time, pid and level.  In the spirit of
 * OpenBSD's log.c: log_warn appends strerror(errno), fatal/fatalx exit(1).
 */
#ifndef SOCKSERV_LOG_H
#define SOCKSERV_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* target: "stderr", "syslog" or a file path; facility: a syslog LOG_* value */
int log_init(const char *target, enum log_level level, int facility);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *name, enum log_level *out);
/* reopen the log file (SIGUSR1, logrotate); no-op for stderr/syslog */
int log_reopen(void);
/* the file descriptor of a file target, -1 otherwise (for fchown after setup) */
int log_file_fd(void);
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
