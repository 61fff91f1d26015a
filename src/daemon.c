/*
 * daemon: detaching, pid file (a lockfile), fd limit and privilege drop, and the
 * start-up messages that must reach the terminal of the start command.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "log.h"

static int ready_fd = -1;
static int startup_echo;

int
daemon_detach(void)
{
	int pfd[2];
	pid_t pid;
	char status;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0) {
		/* the original process: report how start-up went, then leave */
		close(pfd[1]);
		ssize_t n;
		do
			n = read(pfd[0], &status, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 ? status : 1);
	}
	close(pfd[0]);
	ready_fd = pfd[1];
	if (setsid() == -1)
		return -1;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0)
		_exit(0);	/* the session leader goes: we can never get a terminal */
	if (chdir("/") == -1)
		return -1;
	umask(027);
	return 0;
}

void
daemon_ready(int status)
{
	char s = (char)status;
	int fd;

	startup_echo = 0;
	if (ready_fd == -1)
		return;
	/* a failure means the parent is gone: nobody to tell */
	(void)!write(ready_fd, &s, 1);
	close(ready_fd);
	ready_fd = -1;
	if (status != 0)
		return;
	fd = open("/dev/null", O_RDWR);
	if (fd != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

void
daemon_startup_echo(int on)
{
	startup_echo = on;
}

static void __attribute__((format(printf, 2, 0)))
startup_msg(int error, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (error)
		log_error("%s", msg);
	else
		log_warnx("%s", msg);
	if (startup_echo)
		fprintf(stderr, "sockserv: %s\n", msg);
}

void
daemon_startup_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	startup_msg(1, fmt, ap);
	va_end(ap);
}

void
daemon_startup_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	startup_msg(0, fmt, ap);
	va_end(ap);
}

/*
 * The pid file is the master's lock (lockfile.h): the master creates it
 * before it binds anything and holds an exclusive flock on it until it
 * exits.  "Running" means "someone holds the lock"; the pid inside is only
 * read once that is known.
 */

/* how long a reader waits for a locked file's pid to appear (a master between lock and write) */
#define PIDFILE_WAIT_MS 2000
#define PIDFILE_STEP_MS 10

/* the pid in fd's file: digits and a newline, so a half-written one never counts; 0 if none */
static pid_t
pid_in(int fd)
{
	char buf[32], *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || *end != '\n' || pid <= 0 || pid != (pid_t)pid)
		return 0;
	return (pid_t)pid;
}

pid_t
daemon_pidfile_read(const char *path)
{
	struct timespec step = { 0, PIDFILE_STEP_MS * 1000000L };

	for (int waited = 0;; waited += PIDFILE_STEP_MS) {
		int fd, held = lockfile_held(path, &fd);
		pid_t pid;

		if (held <= 0)
			return held;
		pid = pid_in(fd);
		/*
		 * Held, but trusted only once it names a process that exists in
		 * a file still at path: a starting master has not written its
		 * pid yet, and one taking over a stale file holds that file's
		 * lock (old pid inside) for the moment it takes to unlink it.
		 */
		if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) && lockfile_is_at(fd, path)) {
			close(fd);
			return pid;
		}
		close(fd);
		if (waited >= PIDFILE_WAIT_MS) {
			errno = EAGAIN;
			return -1;
		}
		nanosleep(&step, NULL);
	}
}

int
daemon_pidfile_lock(const char *path, char *err, size_t errlen)
{
	int fd;

	switch (lockfile_acquire(path, 0644, &fd)) {
	case LOCKFILE_OK:
		return fd;
	case LOCKFILE_BUSY: {
		pid_t other = daemon_pidfile_read(path);

		if (other > 0)
			snprintf(err, errlen, "%s: sockserv is already running (pid %ld)", path,
			    (long)other);
		else
			snprintf(err, errlen, "%s: sockserv is already running (its pid is not "
			    "readable yet)", path);
		return -1;
	}
	default:
		snprintf(err, errlen, "cannot write pid file %s: %s", path,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return -1;
	}
}

int
daemon_pidfile_write(int fd, const char *path, char *err, size_t errlen)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	/* in place, under the lock: readers wait for the newline */
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void
daemon_pidfile_remove(const char *path, int fd)
{
	lockfile_release(path, fd);
}

long
daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

enum ids_result { IDS_OK, IDS_NO_USER, IDS_NO_GROUP };

/* the configured user's uid and gid (the group's if one is set), ours by default */
static enum ids_result
resolve_ids(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	*uid = geteuid();
	*gid = getegid();
	if (cfg->user[0] != '\0') {
		struct passwd *pw = getpwnam(cfg->user);
		if (pw == NULL)
			return IDS_NO_USER;
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (cfg->group[0] != '\0') {
		struct group *gr = getgrnam(cfg->group);
		if (gr == NULL)
			return IDS_NO_GROUP;
		*gid = gr->gr_gid;
	}
	return IDS_OK;
}

int
daemon_lookup_user(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	switch (resolve_ids(cfg, uid, gid)) {
	case IDS_NO_USER:
		log_error("unknown user '%s'", cfg->user);
		return -1;
	case IDS_NO_GROUP:
		log_error("unknown group '%s'", cfg->group);
		return -1;
	default:
		return 0;
	}
}

/* "FILE:LINE: " or "FILE: " when line is 0 (a default) */
static void __attribute__((format(printf, 5, 6)))
runtime_err(const struct config *cfg, int line, char *err, size_t errlen,
    const char *fmt, ...)
{
	char msg[CONFIG_PATH_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", cfg->display_path, line, msg);
	else
		snprintf(err, errlen, "%s: %s", cfg->display_path, msg);
}

int
daemon_check_runtime(const struct config *cfg, char *err, size_t errlen)
{
	char why[CONFIG_PATH_MAX + 128];
	uid_t uid;
	gid_t gid;

	switch (resolve_ids(cfg, &uid, &gid)) {
	case IDS_NO_USER:
		runtime_err(cfg, cfg->user_line, err, errlen, "unknown user '%s'", cfg->user);
		return -1;
	case IDS_NO_GROUP:
		runtime_err(cfg, cfg->group_line, err, errlen, "unknown group '%s'",
		    cfg->group);
		return -1;
	default:
		break;
	}
	if (strcmp(cfg->log_target, "stderr") == 0 || strcmp(cfg->log_target, "syslog") == 0)
		return 0;
	/*
	 * log.c's own checks (directories, links, file type), without
	 * creating the file: a file -t made would belong to root, and the
	 * server hands the workers' user only a log file it created itself.
	 */
	if (log_check_file(cfg->log_target, why, sizeof(why)) == -1) {
		runtime_err(cfg, cfg->log_target_line, err, errlen, "log target %s: %s",
		    cfg->log_target, why);
		return -1;
	}
	return 0;
}

void
daemon_close_inherited(void)
{
	struct rlimit rl;
	long max;

	if (close_range(3, ~0U, 0) == 0)
		return;
	/* kernels before 5.9: every possible descriptor, one by one */
	max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ?
	    (long)rl.rlim_max : sysconf(_SC_OPEN_MAX);
	if (max <= 0 || max > 1048576)
		max = 1048576;
	for (long fd = 3; fd < max; fd++)
		close((int)fd);
}

int
daemon_drop_privileges(const struct config *cfg)
{
	uid_t uid;
	gid_t gid;

	if (cfg->user[0] == '\0' && cfg->group[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		log_debug("not root: keeping our own user");
		return 0;
	}
	if (daemon_lookup_user(cfg, &uid, &gid) == -1)
		return -1;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 || setuid(uid) == -1) {
		log_warn("dropping privileges to %s", cfg->user);
		return -1;
	}
	/* verify: a process that can get root back has not dropped anything */
	if (uid != 0 && (setuid(0) != -1 || geteuid() != uid || getegid() != gid)) {
		log_error("privilege drop to %s did not stick", cfg->user);
		return -1;
	}
	return 0;
}

static int
int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

void
daemon_close_inherited_except(const int *keep, size_t n)
{
	unsigned int from = 3;
	int *sorted;

	if (n == 0) {
		daemon_close_inherited();
		return;
	}
	if ((sorted = malloc(n * sizeof(*sorted))) == NULL)
		return;	/* only a start-up leak: better than closing the hand-over */
	memcpy(sorted, keep, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), int_cmp);
	/* the gaps between the kept ones */
	for (size_t i = 0; i < n; i++) {
		if (sorted[i] < 3)
			continue;
		if ((unsigned int)sorted[i] > from)
			close_range(from, (unsigned int)sorted[i] - 1, 0);
		from = (unsigned int)sorted[i] + 1;
	}
	close_range(from, ~0U, 0);
	free(sorted);
}
