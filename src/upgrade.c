/*
 * upgrade: the binary upgrade's command line, environment and hand-over
 * (see upgrade.h for the protocol).
 */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connid.h"
#include "daemon.h"
#include "listener.h"
#include "lockfile.h"
#include "log.h"

#define ENV_FDS "SOCKSERV_LISTEN_FDS"
#define ENV_READY "SOCKSERV_UPGRADE_FD"
#define ENV_IDS "SOCKSERV_UPGRADE_IDS"
/* more than any configuration holds (256 workers times a few listeners) */
#define MAX_INHERITED 4096
/* a hostile floor must leave the counters room to work with */
#define MAX_ID_FLOOR (CONNID_COUNTER_END / 2)
/* ready byte */
#define READY_BYTE 'R'

static int inherited[MAX_INHERITED];	/* -1 once taken or closed */
static size_t ninherited, ntaken;
static int from_upgrade;
static int ready_fd = -1;
static uint64_t id_floor;

static char self_path[PATH_MAX];
static char **self_argv;
/* the cwd we were started in: relative paths in the configuration are resolved against it */
static char self_cwd[PATH_MAX];

/* a decimal number in [lo, hi] (hi below 10^18) that is all of s, else -1 */
static long long
parse_num(const char *s, size_t len, long long lo, long long hi)
{
	long long v = 0;

	/* 18 digits cannot overflow: no need to trust the length */
	if (len == 0 || len > 18)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

int
upgrade_take_env(char *err, size_t errlen)
{
	const char *fds = getenv(ENV_FDS), *rd = getenv(ENV_READY), *ids = getenv(ENV_IDS);
	int rc = -1;

	ninherited = 0;
	from_upgrade = 0;
	ready_fd = -1;
	id_floor = 0;
	if (fds != NULL) {
		const char *p = fds;

		from_upgrade = 1;
		for (;;) {
			size_t len = strcspn(p, ",");
			long long fd = parse_num(p, len, 3, INT_MAX);

			if (fd == -1 || ninherited == MAX_INHERITED) {
				snprintf(err, errlen, "%s=\"%.64s\": expected descriptors above 2 "
				    "separated by commas", ENV_FDS, fds);
				goto out;
			}
			for (size_t i = 0; i < ninherited; i++) {
				if (inherited[i] == fd) {
					snprintf(err, errlen, "%s: descriptor %lld named twice",
					    ENV_FDS, fd);
					goto out;
				}
			}
			inherited[ninherited++] = (int)fd;
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
	}
	if (rd != NULL && fds != NULL) {
		long long fd = parse_num(rd, strlen(rd), 3, INT_MAX);

		for (size_t i = 0; fd != -1 && i < ninherited; i++)
			if (inherited[i] == fd)
				fd = -1;
		if (fd == -1) {
			snprintf(err, errlen, "%s=\"%.32s\": expected a descriptor above 2 "
			    "that is not a listening socket", ENV_READY, rd);
			goto out;
		}
		ready_fd = (int)fd;
	}
	if (ids != NULL && fds != NULL) {
		long long v = parse_num(ids, strlen(ids), 0, (long long)MAX_ID_FLOOR);

		if (v == -1) {
			snprintf(err, errlen, "%s=\"%.32s\": expected a number up to %llu",
			    ENV_IDS, ids, (unsigned long long)MAX_ID_FLOOR);
			goto out;
		}
		id_floor = (uint64_t)v;
	}
	rc = 0;
out:
	/* never passed on: not to our workers, not to a later upgrade's child */
	unsetenv(ENV_FDS);
	unsetenv(ENV_READY);
	unsetenv(ENV_IDS);
	if (rc == -1) {
		ninherited = 0;
		ready_fd = -1;
		from_upgrade = 0;
	}
	return rc;
}

size_t
upgrade_inherited_fds(int *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ninherited && n < max; i++)
		out[n++] = inherited[i];
	if (ready_fd != -1 && n < max)
		out[n++] = ready_fd;
	return n;
}

int
upgrade_inherited(void)
{
	return from_upgrade;
}

int
upgrade_take_listener(const struct listener_conf *lc)
{
	for (size_t i = 0; i < ninherited; i++) {
		int fd = inherited[i];

		if (fd != -1 && listener_matches(fd, lc)) {
			inherited[i] = -1;
			ntaken++;
			/* ours now: not to be passed on by accident (an upgrade re-clears it) */
			if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
				log_warn("%s: descriptor %d", ENV_FDS, fd);
			return fd;
		}
	}
	return -1;
}

void
upgrade_drop_unused(void)
{
	struct stat st;
	size_t dropped = 0;
	int fl;

	for (size_t i = 0; i < ninherited; i++) {
		if (inherited[i] == -1)
			continue;
		dropped++;
		log_warnx("%s: descriptor %d is no listening socket of this configuration: "
		    "closed", ENV_FDS, inherited[i]);
		close(inherited[i]);
		inherited[i] = -1;
	}
	if (from_upgrade)
		log_info("upgrade: %zu inherited listening sockets taken over, %zu closed", ntaken,
		    dropped);
	ninherited = 0;
	/* the ready pipe must be the write end of a pipe: nothing else gets our byte */
	if (ready_fd != -1 && (fstat(ready_fd, &st) == -1 || !S_ISFIFO(st.st_mode) ||
	    (fl = fcntl(ready_fd, F_GETFL)) == -1 || (fl & O_ACCMODE) != O_WRONLY)) {
		log_warnx("%s: descriptor %d is not the write end of a pipe: ignored",
		    ENV_READY, ready_fd);
		ready_fd = -1;
	}
	if (ready_fd != -1 && fcntl(ready_fd, F_SETFD, FD_CLOEXEC) == -1)
		log_warn("%s: descriptor %d", ENV_READY, ready_fd);
}

uint64_t
upgrade_id_floor(void)
{
	return id_floor;
}

void
upgrade_check_parent(const char *pid_file)
{
	char oldbin[CONFIG_PATH_MAX + sizeof(UPGRADE_SUFFIX)];
	pid_t parent = getppid(), holder;

	if (ready_fd == -1) {
		log_info("upgrade: started with inherited sockets, no old master to tell");
		return;
	}
	/* our byte goes only to the parent that holds the renamed pid file: an old master */
	holder = upgrade_oldbin_name(pid_file, oldbin, sizeof(oldbin)) == 0 ?
	    daemon_pidfile_read(oldbin) : 0;
	if (holder != parent) {
		log_warnx("%s: our parent (pid %ld) is not the master holding %s: ignored",
		    ENV_READY, (long)parent, oldbin);
		upgrade_forget();
		return;
	}
	log_info("upgrade: started by the master with pid %ld", (long)parent);
}

int
upgrade_ready_pending(void)
{
	return ready_fd != -1;
}

void
upgrade_send_ready(void)
{
	char b = READY_BYTE;

	if (ready_fd == -1)
		return;
	/* EPIPE: the old master is gone (SIGPIPE is ignored); nothing to tell */
	if (write(ready_fd, &b, 1) != 1)
		log_warn("upgrade: telling the old master we are ready");
	else
		log_info("upgrade: workers running, the old master may stop accepting");
	close(ready_fd);
	ready_fd = -1;
}

void
upgrade_forget(void)
{
	if (ready_fd != -1)
		close(ready_fd);
	ready_fd = -1;
}

/* ---- the command ---- */

/* dir + "/" + name, made absolute against the cwd; -1 if it does not fit */
static int
join_abs(const char *dir, const char *name, char *out, size_t len)
{
	char cwd[PATH_MAX];
	int n;

	if (dir[0] == '/')
		n = snprintf(out, len, "%s/%s", dir, name);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	else if (dir[0] == '\0')
		n = snprintf(out, len, "%s/%s", cwd, name);
	else
		n = snprintf(out, len, "%s/%s/%s", cwd, dir, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * The path we were started from, absolute but with its symbolic links
 * kept: after "ln -sf sockserv-2.0 /usr/sbin/sockserv" the link is what
 * an upgrade must follow, where /proc/self/exe names the old file.
 */
static int
resolve_self(const char *argv0, char *out, size_t len)
{
	const char *path;
	ssize_t n;

	if (argv0[0] == '/') {
		if (strlen(argv0) >= len)
			return -1;
		memcpy(out, argv0, strlen(argv0) + 1);
		return 0;
	}
	if (strchr(argv0, '/') != NULL) {
		while (argv0[0] == '.' && argv0[1] == '/')
			argv0 += 2;
		return join_abs("", argv0, out, len);
	}
	/* found through PATH, as execvp found it */
	path = getenv("PATH");
	for (const char *p = path; p != NULL && *p != '\0';) {
		size_t dl = strcspn(p, ":");
		char dir[PATH_MAX];
		struct stat st;

		if (dl < sizeof(dir)) {
			memcpy(dir, p, dl);
			dir[dl] = '\0';
			if (join_abs(dl == 0 ? "." : dir, argv0, out, len) == 0 &&
			    stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
				return 0;
		}
		p += dl;
		if (*p == ':')
			p++;
	}
	n = readlink("/proc/self/exe", out, len - 1);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int
upgrade_set_command(int argc, char *const argv[], int c_index, size_t c_off,
    const char *abs_config, char *err, size_t errlen)
{
	if (argc < 1 || resolve_self(argv[0], self_path, sizeof(self_path)) == -1) {
		snprintf(err, errlen, "cannot tell the path of the sockserv binary (%s)",
		    argc < 1 ? "no argv[0]" : argv[0]);
		self_path[0] = '\0';
		return -1;
	}
	if (getcwd(self_cwd, sizeof(self_cwd)) == NULL) {
		snprintf(err, errlen, "getcwd: %s", strerror(errno));
		self_path[0] = '\0';
		return -1;
	}
	if (self_argv != NULL) {
		/* set again (tests): the old copy goes */
		for (int i = 1; self_argv[i] != NULL; i++)
			free(self_argv[i]);
		free(self_argv);
	}
	self_argv = calloc((size_t)argc + 1, sizeof(*self_argv));
	if (self_argv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	self_argv[0] = self_path;
	for (int i = 1; i < argc; i++) {
		if (i == c_index && c_off <= strlen(argv[i])) {
			/* "-c FILE" or "-cFILE": the option part, then the absolute path */
			size_t n = c_off + strlen(abs_config) + 1;

			if ((self_argv[i] = malloc(n)) != NULL)
				snprintf(self_argv[i], n, "%.*s%s", (int)c_off, argv[i], abs_config);
		} else {
			self_argv[i] = strdup(argv[i]);
		}
		if (self_argv[i] == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

const char *
upgrade_binary(void)
{
	return self_path;
}

char *const *
upgrade_command(void)
{
	return self_argv;
}

/* ---- the old master ---- */

pid_t
upgrade_spawn(const int *fds, size_t n, uint64_t floor, int *ready_rd, char *err,
    size_t errlen)
{
	char *list, ready[32], ids[40];
	int p[2];
	size_t off = 0;
	pid_t pid;

	if (self_argv == NULL) {
		snprintf(err, errlen, "no command to run");
		return -1;
	}
	if ((list = malloc(n * 12 + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	list[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, 13, "%s%d", i ? "," : "", fds[i]);
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(list);
		return -1;
	}
	snprintf(ready, sizeof(ready), "%d", p[1]);
	snprintf(ids, sizeof(ids), "%llu", (unsigned long long)floor);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* the sockets and the pipe's write end cross the exec; nothing else of ours does */
		for (size_t i = 0; i < n; i++)
			(void)!fcntl(fds[i], F_SETFD, 0);
		(void)!fcntl(p[1], F_SETFD, 0);
		if (setenv(ENV_FDS, list, 1) == -1 || setenv(ENV_READY, ready, 1) == -1 ||
		    setenv(ENV_IDS, ids, 1) == -1)
			_exit(126);
		/* what a shell would give it: the master runs with its signals blocked */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* the daemon is in /: the configuration's relative paths must mean what they did */
		if (chdir(self_cwd) == -1) {
			log_warn("upgrade: chdir %s", self_cwd);
			_exit(126);
		}
		execv(self_path, self_argv);
		log_warn("upgrade: exec %s", self_path);
		_exit(127);
	}
	free(list);
	close(p[1]);
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		return -1;
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		log_warn("upgrade: ready pipe");
	*ready_rd = p[0];
	return pid;
}

int
upgrade_read_ready(int rd)
{
	char b;
	ssize_t r = read(rd, &b, 1);

	if (r == 1)
		return b == READY_BYTE ? 1 : -1;
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

int
upgrade_oldbin_name(const char *path, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", path, UPGRADE_SUFFIX);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
upgrade_rename(int fd, const char *from, const char *to)
{
	if (!lockfile_is_at(fd, from)) {
		errno = ENOENT;
		return -1;
	}
	for (int tries = 0; tries < 3; tries++) {
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
		/* a file nobody holds is stale (a killed master's): it goes */
		if (lockfile_held(to, NULL) != 0) {
			errno = EEXIST;
			return -1;
		}
		if (unlink(to) == -1 && errno != ENOENT)
			return -1;
	}
	errno = EEXIST;
	return -1;
}
