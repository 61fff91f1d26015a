/*
 * daemon: detaching, pid file, fd limit and privilege drop, and the
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
#include <unistd.h>

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
	if (write(ready_fd, &s, 1) < 0) {
		/* the parent is gone; nobody to tell */
	}
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

static void
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
 * A zombie still answers kill(pid, 0), and a daemon's zombie can linger
 * when its reaper is slow (a container's pid 1, a subreaper), so the
 * state in /proc decides.  The name check keeps a recycled pid from
 * passing for a server.
 */
int
daemon_pid_is_sockserv(pid_t pid)
{
	char path[64], st[512], *lp, *rp;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 1;	/* no /proc: trust kill() */
	n = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (n <= 0)
		return 0;	/* it went away meanwhile */
	st[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may itself hold parentheses */
	lp = strchr(st, '(');
	rp = strrchr(st, ')');
	if (lp == NULL || rp == NULL || rp < lp || rp[1] != ' ')
		return 0;
	if (rp[2] == 'Z' || rp[2] == 'X')
		return 0;
	*rp = '\0';
	return strncmp(lp + 1, "sockserv", 8) == 0;
}

pid_t
daemon_pidfile_read(const char *path)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 0 || !daemon_pid_is_sockserv((pid_t)pid))
		return 0;
	return (pid_t)pid;
}

int
daemon_pidfile_write(const char *path, char *err, size_t errlen)
{
	char buf[32], tmp[CONFIG_PATH_MAX + 16];
	pid_t other = daemon_pidfile_read(path);
	int fd, n;

	if (other != 0 && other != getpid()) {
		snprintf(err, errlen, "%s: sockserv is already running (pid %ld)", path, (long)other);
		return -1;
	}
	/* write a temp file and rename it, so readers never see a half-written pid */
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	/* readable by all, like other daemons' pid files, whatever the umask */
	(void)fchmod(fd, 0644);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n || close(fd) == -1 || rename(tmp, path) == -1) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

void
daemon_pidfile_remove(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* only our own: a newer server may have replaced it */
	if (n > 0) {
		buf[n] = '\0';
		if (strtol(buf, NULL, 10) == (long)getpid())
			unlink(path);
	}
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
