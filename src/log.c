/*
 * log: formatting and delivery of log lines.  One global target per process
 * (master and each worker inherit it across fork).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum target { T_STDERR, T_SYSLOG, T_FILE };

static enum target log_target = T_STDERR;
static enum log_level log_level = LOG_LVL_INFO;
static int log_fd = -1;
static char log_path[4096];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static int
open_file(void)
{
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_init(const char *target, enum log_level level, int facility)
{
	log_level = level;
	if (log_target == T_SYSLOG)
		closelog();
	if (target == NULL || strcmp(target, "stderr") == 0) {
		log_target = T_STDERR;
	} else if (strcmp(target, "syslog") == 0) {
		log_target = T_SYSLOG;
		openlog("sockserv", LOG_PID | LOG_NDELAY, facility);
	} else {
		snprintf(log_path, sizeof(log_path), "%s", target);
		if (open_file() == -1)
			return -1;
		log_target = T_FILE;
	}
	return 0;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_reopen(void)
{
	if (log_target != T_FILE)
		return 0;
	return open_file();
}

int
log_file_fd(void)
{
	return log_target == T_FILE ? log_fd : -1;
}

void
log_close(void)
{
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	if (log_target == T_SYSLOG)
		closelog();
	log_target = T_STDERR;
}

static void
vlog(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[2048];
	int saved = errno;
	int n;

	if (lvl < log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (with_errno)
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));

	if (log_target == T_SYSLOG) {
		syslog(prio[lvl], "%s", msg);
	} else {
		char line[2200], ts[40];
		struct timespec now;
		struct tm tm;
		int fd = log_target == T_FILE ? log_fd : STDERR_FILENO;

		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ld [%ld] %s: %s\n", ts,
		    now.tv_nsec / 1000000, (long)getpid(), level_names[lvl], msg);
		if (n > (int)sizeof(line) - 1) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		/* one write per line keeps lines from several processes whole */
		if (write(fd, line, (size_t)n) < 0) {
			/* nowhere left to report it */
		}
	}
	errno = saved;
}

#define LOGFN(name, lvl, err)                    \
	void name(const char *fmt, ...)          \
	{                                        \
		va_list ap;                      \
		va_start(ap, fmt);               \
		vlog(lvl, err, fmt, ap);         \
		va_end(ap);                      \
	}

LOGFN(log_debug, LOG_LVL_DEBUG, 0)
LOGFN(log_info, LOG_LVL_INFO, 0)
LOGFN(log_warnx, LOG_LVL_WARN, 0)
LOGFN(log_warn, LOG_LVL_WARN, 1)
LOGFN(log_error, LOG_LVL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
