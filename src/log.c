/*
 * log: formatting and delivery of log lines, and opening the log file
 * safely.  One global target per process (master and each worker inherit
 * it across fork).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum target { T_STDERR, T_SYSLOG, T_FILE };

static enum target log_target = T_STDERR;
static enum log_level log_level = LOG_LVL_INFO;
static int log_fd = -1;
static int log_fd_created;	/* the last (re)open created the file */
static char log_path[4096];
static char open_err[512];	/* why the last open of a log file failed */

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

static int __attribute__((format(printf, 3, 4)))
why(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * -1 (the reason in err) when someone other than root or us can replace
 * entries of the directory st describes: an owner of its own, or a group
 * or everyone with write permission.  The sticky bit takes that from
 * everyone but the owner (sshd's and logrotate's rule): they may add
 * names, never move ours.
 */
static int
dir_unsafe(const struct stat *st, const char *dir, char *err, size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return why(err, errlen, "directory %s belongs to uid %ld, not to root",
		    dir, (long)st->st_uid);
	if (st->st_mode & S_ISVTX)
		return 0;
	if (st->st_mode & S_IWOTH)
		return why(err, errlen, "directory %s is writable by everyone and not sticky",
		    dir);
	if ((st->st_mode & S_IWGRP) && st->st_gid != 0)
		return why(err, errlen, "directory %s is writable by group %ld and not sticky",
		    dir, (long)st->st_gid);
	return 0;
}

/*
 * An O_PATH descriptor of the directory holding path, reached from / one
 * component at a time without following a link, each component judged
 * by dir_unsafe.  A symbolic link among the ancestors (/var/run) is
 * resolved first by realpath; a component swapped for a link afterwards
 * stops the walk instead of leading it elsewhere.  base gets the last
 * component.
 */
static int
open_parent(const char *path, char *base, size_t baselen, char *err, size_t errlen)
{
	char dir[PATH_MAX], comp[NAME_MAX + 1], sofar[PATH_MAX], *real;
	const char *slash = strrchr(path, '/'), *p, *end;
	struct stat st;
	int fd, next;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	snprintf(base, baselen, "%s", slash == NULL ? path : slash + 1);
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return why(err, errlen, "names no file");
	if ((real = realpath(dir, NULL)) == NULL)
		return why(err, errlen, "%s", strerror(errno));
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		why(err, errlen, "/: %s", strerror(errno));
		goto fail;
	}
	if (dir_unsafe(&st, "/", err, errlen) == -1)
		goto fail;
	for (p = real + 1; *p != '\0'; p = *end == '/' ? end + 1 : end) {
		end = strchrnul(p, '/');
		snprintf(comp, sizeof(comp), "%.*s", (int)(end - p), p);
		snprintf(sofar, sizeof(sofar), "%.*s", (int)(end - real), real);
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		if (fd == -1 || fstat(fd, &st) == -1) {
			why(err, errlen, "%s: %s", sofar, strerror(errno));
			goto fail;
		}
		if (dir_unsafe(&st, sofar, err, errlen) == -1)
			goto fail;
	}
	free(real);
	return fd;
fail:
	free(real);
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * Open path for appending, as a daemon that may be root must where others
 * may write (sshd's and logrotate's rules): every directory on the way is
 * root's (or ours) and writable by no one else unless sticky; the file
 * itself is never reached through a symbolic link (O_NOFOLLOW), is a
 * regular file with one link or a character device (/dev/null), and is
 * never a FIFO (O_NONBLOCK: opening one would block).  With create, a
 * missing file is created with O_EXCL, so *created = 1 means this very
 * call made it and nobody else can have planted it.  Without create, a
 * missing file is only checked (its directory must be writable by us)
 * and -2 returned.  -1 with the reason in err otherwise, worded to follow
 * "log target PATH: ".
 */
static int
open_log_file(const char *path, int create, int *created, char *err, size_t errlen)
{
	const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	char base[NAME_MAX + 1];
	struct stat st;
	int dfd, fd, tries = 0;

	*created = 0;
	if ((dfd = open_parent(path, base, sizeof(base), err, errlen)) == -1)
		return -1;
	do {
		fd = openat(dfd, base, flags);
		if (fd == -1 && errno == ENOENT && create) {
			fd = openat(dfd, base, flags | O_CREAT | O_EXCL, 0640);
			*created = fd != -1;
		}
		/* EEXIST: it appeared between the two opens; open it as it is */
	} while (fd == -1 && errno == EEXIST && ++tries < 3);
	if (fd == -1 && errno == ENOENT && !create) {
		if (faccessat(dfd, ".", W_OK | X_OK, AT_EACCESS) == -1) {
			why(err, errlen, "cannot create it: %s", strerror(errno));
			close(dfd);
			return -1;
		}
		close(dfd);
		return -2;
	}
	close(dfd);
	if (fd == -1) {
		if (errno == ELOOP)
			return why(err, errlen, "symbolic link, not followed");
		if (errno == ENXIO)
			return why(err, errlen, "a FIFO or socket, not a file");
		return why(err, errlen, "%s", strerror(errno));
	}
	if (fstat(fd, &st) == -1) {
		why(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		why(err, errlen, "not a regular file");
		goto fail;
	}
	/* a hard link planted to someone else's file */
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		why(err, errlen, "%ld hard links", (long)st.st_nlink);
		goto fail;
	}
	if (fcntl(fd, F_SETFL, O_APPEND) == -1) {
		why(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
log_check_file(const char *path, char *err, size_t errlen)
{
	int created, fd = open_log_file(path, 0, &created, err, errlen);

	if (fd == -1)
		return -1;
	if (fd >= 0)
		close(fd);
	return 0;
}

const char *
log_open_error(void)
{
	return open_err;
}

/* make path the open log file; the previous one stays when it cannot be opened */
static int
open_file(const char *path)
{
	int created, fd = open_log_file(path, 1, &created, open_err, sizeof(open_err));

	/* after a refusal nothing is "just created": nothing to hand over */
	log_fd_created = 0;
	if (fd == -1)
		return -1;
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	log_fd_created = created;
	if (path != log_path)
		snprintf(log_path, sizeof(log_path), "%s", path);
	return 0;
}

int
log_init(const char *target, enum log_level level, int facility)
{
	log_level = level;
	if (target != NULL && strcmp(target, "stderr") != 0 && strcmp(target, "syslog") != 0) {
		/* the old target keeps working when the new file is refused */
		if (open_file(target) == -1)
			return -1;
		if (log_target == T_SYSLOG)
			closelog();
		log_target = T_FILE;
		return 0;
	}
	if (log_target == T_SYSLOG)
		closelog();
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	if (target == NULL || strcmp(target, "stderr") == 0) {
		log_target = T_STDERR;
	} else {
		log_target = T_SYSLOG;
		openlog("sockserv", LOG_PID | LOG_NDELAY, facility);
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
	if (open_file(log_path) == 0)
		return 0;
	/* said where it still goes: the file open before */
	log_warnx("log %s not reopened: %s; still writing to the file open before",
	    log_path, open_err);
	return -1;
}

int
log_created_fd(void)
{
	return log_target == T_FILE && log_fd_created ? log_fd : -1;
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

static void __attribute__((format(printf, 3, 0)))
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
		/* a failure has nowhere left to be reported */
		(void)!write(fd, line, (size_t)n);
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
