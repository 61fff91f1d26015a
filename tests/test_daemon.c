/*
 * daemon tests: the pid file's rules (the lock decides: a holder blocks and
 * is named, whatever pid or name a file without a holder shows; a zombie
 * holds nothing; a reader waits for a starting master's pid; a planted
 * link is never written through; only our own file is removed), the
 * double fork and its status pipe, the fd limit and the privilege drop.
 * A "running server" is this process or a forked child holding the lock
 * (fakeproc.h), so no real server runs here.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "fakeproc.h"

void test_daemon_register(void);

static char dir[64];
static char pidpath[128];

static int
suite_init(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_daemon.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(pidpath, sizeof(pidpath), "%s/sockserv.pid", dir);
	return 0;
}

static int
suite_clean(void)
{
	unlink(pidpath);
	return rmdir(dir);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void
read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

static long
read_pid(const char *path)
{
	char buf[32];

	read_text(path, buf, sizeof(buf));
	return strtol(buf, NULL, 10);
}

static void
pid_write_text(pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	write_text(pidpath, buf);
}

/* the pid file locked and written by this process, as a master does */
static int
lock_and_write(void)
{
	char err[256] = "";
	int fd = daemon_pidfile_lock(pidpath, err, sizeof(err));

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(daemon_pidfile_write(fd, pidpath, err, sizeof(err)) == 0);
	return fd;
}

/* a child holding the pid file's lock (inherited), with our pid written in the file */
static pid_t
child_holding_lock(void)
{
	int fd = lock_and_write();
	pid_t pid = fakeproc_start("holder");

	CU_ASSERT_FATAL(pid > 0);
	close(fd);	/* the child's copy keeps the lock */
	return pid;
}

static void
test_pidfile_read_names_the_lock_holder(void)
{
	int fd = lock_and_write();

	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), getpid());
	daemon_pidfile_remove(pidpath, fd);
	CU_ASSERT_EQUAL(access(pidpath, F_OK), -1);
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
}

static void
test_pidfile_without_a_lock_holder_is_stale_whatever_it_names(void)
{
	/* a live process, even one called sockserv, is no server without the lock */
	pid_t pid = fakeproc_start("sockserv");

	CU_ASSERT_FATAL(pid > 0);
	pid_write_text(pid);
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	pid_write_text(getpid());
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	fakeproc_end(pid);
	unlink(pidpath);
}

static void
test_pidfile_lock_dies_with_its_holder_even_as_a_zombie(void)
{
	pid_t pid = child_holding_lock();
	int fd;
	char err[256];

	/* the child holds it; the file names us (written before the fork) */
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), getpid());
	/* not reaped: a zombie has closed its descriptors, so the lock is gone */
	CU_ASSERT_EQUAL_FATAL(fakeproc_kill_to_zombie(pid, 1000), 0);
	CU_ASSERT_EQUAL(kill(pid, 0), 0);
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	fd = daemon_pidfile_lock(pidpath, err, sizeof(err));
	CU_ASSERT(fd >= 0);
	waitpid(pid, NULL, 0);
	daemon_pidfile_remove(pidpath, fd);
}

static void
test_pidfile_read_of_missing_or_unlocked_garbage_is_0(void)
{
	unlink(pidpath);
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	write_text(pidpath, "");
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	write_text(pidpath, "hello\n");
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	write_text(pidpath, "-5\n");
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), 0);
	unlink(pidpath);
}

static void
test_pidfile_lock_refuses_a_running_server_naming_it(void)
{
	pid_t pid = child_holding_lock();
	char err[256] = "", want[64];

	CU_ASSERT_EQUAL(daemon_pidfile_lock(pidpath, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)getpid());
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, pidpath));
	/* the file is left alone, and still held */
	CU_ASSERT_EQUAL(read_pid(pidpath), getpid());
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), getpid());
	fakeproc_end(pid);
	unlink(pidpath);
}

/* the lock is held before the pid is written (a master detaching in between): readers wait */
static void
test_pidfile_read_waits_for_a_starting_masters_pid(void)
{
	char err[256] = "", buf[32];
	int fd = daemon_pidfile_lock(pidpath, err, sizeof(err)), n;
	pid_t me = getpid(), pid;
	struct timespec a, b;

	CU_ASSERT_FATAL(fd >= 0);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)me);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		usleep(300 * 1000);
		/* half a line first: a reader must not take "12" of "12345" */
		(void)!pwrite(fd, buf, 2, 0);
		usleep(100 * 1000);
		(void)!pwrite(fd, buf, (size_t)n, 0);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), me);
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* it waited for the whole line */
	CU_ASSERT((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 350);
	waitpid(pid, NULL, 0);
	daemon_pidfile_remove(pidpath, fd);
}

static void
test_pidfile_read_gives_up_on_a_lock_holder_that_writes_no_pid(void)
{
	char err[256] = "";
	int fd = daemon_pidfile_lock(pidpath, err, sizeof(err));

	CU_ASSERT_FATAL(fd >= 0);
	errno = 0;
	CU_ASSERT_EQUAL(daemon_pidfile_read(pidpath), -1);
	CU_ASSERT_EQUAL(errno, EAGAIN);
	/* and a second start is refused all the same: the lock decides */
	CU_ASSERT_EQUAL(daemon_pidfile_lock(pidpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already running"));
	daemon_pidfile_remove(pidpath, fd);
}

static void
test_pidfile_lock_replaces_a_stale_file_without_writing_through_it(void)
{
	char err[256] = "", victim[160], text[64];
	struct stat sb, vb;
	mode_t old;
	int fd;

	/* the stale file is a second name of a file that is not ours to write */
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_text(victim, "precious\n");
	CU_ASSERT_FATAL(link(victim, pidpath) == 0);
	/* the daemon's umask: the pid file is still readable by all */
	old = umask(027);
	fd = daemon_pidfile_lock(pidpath, err, sizeof(err));
	umask(old);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(daemon_pidfile_write(fd, pidpath, err, sizeof(err)), 0);
	read_text(victim, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "precious\n");
	CU_ASSERT_EQUAL(stat(victim, &vb), 0);
	CU_ASSERT_EQUAL(vb.st_nlink, 1);
	CU_ASSERT_EQUAL(read_pid(pidpath), getpid());
	CU_ASSERT_EQUAL(stat(pidpath, &sb), 0);
	CU_ASSERT(sb.st_ino != vb.st_ino);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0644);
	CU_ASSERT_EQUAL(sb.st_size, snprintf(text, sizeof(text), "%ld\n", (long)getpid()));
	daemon_pidfile_remove(pidpath, fd);
	unlink(victim);
}

static void
test_pidfile_lock_refuses_a_symlink_and_leaves_its_target_alone(void)
{
	char err[256] = "", victim[160], text[64];

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_text(victim, "precious\n");
	CU_ASSERT_FATAL(symlink(victim, pidpath) == 0);
	CU_ASSERT_EQUAL(daemon_pidfile_lock(pidpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, pidpath));
	read_text(victim, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "precious\n");
	/* a dangling one too: O_CREAT must not create its target */
	unlink(victim);
	CU_ASSERT_EQUAL(daemon_pidfile_lock(pidpath, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(access(victim, F_OK), -1);
	unlink(pidpath);
}

static void
test_pidfile_lock_reports_an_unwritable_directory(void)
{
	char err[256] = "";

	CU_ASSERT_EQUAL(daemon_pidfile_lock("/nonexistent-dir/x.pid", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "pid file /nonexistent-dir/x.pid:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
}

static void
test_pidfile_remove_removes_only_our_own(void)
{
	char other[160];
	int fd = lock_and_write();

	/* a newer server's file took the name meanwhile: it survives our exit */
	snprintf(other, sizeof(other), "%s/other", dir);
	write_text(other, "12345\n");
	CU_ASSERT_FATAL(rename(other, pidpath) == 0);
	daemon_pidfile_remove(pidpath, fd);
	CU_ASSERT_EQUAL(read_pid(pidpath), 12345);
	unlink(pidpath);
	fd = lock_and_write();
	daemon_pidfile_remove(pidpath, fd);
	CU_ASSERT_EQUAL(access(pidpath, F_OK), -1);
}

static void
test_raise_nofile_lifts_soft_to_hard(void)
{
	struct rlimit rl, before;
	long n;

	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &before) == 0);
	rl = before;
	if (rl.rlim_max > 64)
		rl.rlim_cur = 64;
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	n = daemon_raise_nofile();
	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CU_ASSERT_EQUAL(rl.rlim_cur, rl.rlim_max);
	if (rl.rlim_max != RLIM_INFINITY)
		CU_ASSERT_EQUAL(n, (long)rl.rlim_max);
	setrlimit(RLIMIT_NOFILE, &before);
}

static void
test_lookup_user_resolves_names_and_rejects_unknown_ones(void)
{
	struct config cfg;
	struct passwd *pw = getpwnam("nobody");
	/* copies: getpwnam's storage is reused by the lookups below */
	int have_nobody = pw != NULL;
	uid_t uid, nobody = have_nobody ? pw->pw_uid : 0;
	gid_t gid, nogroup = have_nobody ? pw->pw_gid : 0;
	enum log_level level = log_get_level();

	/* the unknown names are logged as errors: expected, so out of sight */
	log_init("/dev/null", level, 0);
	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_EQUAL(daemon_lookup_user(&cfg, &uid, &gid), 0);
	CU_ASSERT_EQUAL(uid, geteuid());
	CU_ASSERT_EQUAL(gid, getegid());
	snprintf(cfg.user, sizeof(cfg.user), "root");
	CU_ASSERT_EQUAL(daemon_lookup_user(&cfg, &uid, &gid), 0);
	CU_ASSERT_EQUAL(uid, 0);
	CU_ASSERT_EQUAL(gid, 0);
	if (have_nobody) {
		snprintf(cfg.user, sizeof(cfg.user), "nobody");
		CU_ASSERT_EQUAL(daemon_lookup_user(&cfg, &uid, &gid), 0);
		CU_ASSERT_EQUAL(uid, nobody);
		CU_ASSERT_EQUAL(gid, nogroup);
		/* a group overrides the user's primary group */
		snprintf(cfg.group, sizeof(cfg.group), "root");
		CU_ASSERT_EQUAL(daemon_lookup_user(&cfg, &uid, &gid), 0);
		CU_ASSERT_EQUAL(uid, nobody);
		CU_ASSERT_EQUAL(gid, 0);
	}
	snprintf(cfg.user, sizeof(cfg.user), "no-such-user-sockserv");
	cfg.group[0] = '\0';
	CU_ASSERT_EQUAL(daemon_lookup_user(&cfg, &uid, &gid), -1);
	snprintf(cfg.user, sizeof(cfg.user), "root");
	snprintf(cfg.group, sizeof(cfg.group), "no-such-group-sockserv");
	CU_ASSERT_EQUAL(daemon_lookup_user(&cfg, &uid, &gid), -1);
	log_close();
	log_init("stderr", level, 0);
}

/* in a child, as root: drop to nobody; report what stuck through the exit code */
static void
test_drop_privileges_to_nobody_sticks(void)
{
	struct passwd *pw = getpwnam("nobody");
	uid_t nobody;
	gid_t nogroup;
	pid_t pid;
	int st;

	if (geteuid() != 0 || pw == NULL) {
		fprintf(stderr, "(skipped: needs root and a user nobody) ");
		return;
	}
	nobody = pw->pw_uid;
	nogroup = pw->pw_gid;
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		struct config cfg;
		gid_t groups[8];

		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.user, sizeof(cfg.user), "nobody");
		if (daemon_drop_privileges(&cfg) != 0)
			_exit(1);
		if (getuid() != nobody || geteuid() != nobody)
			_exit(2);
		if (getgid() != nogroup || getegid() != nogroup)
			_exit(3);
		if (getgroups(8, groups) != 1 || groups[0] != nogroup)
			_exit(4);
		if (setuid(0) != -1)
			_exit(5);
		_exit(0);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

static void
test_drop_privileges_without_user_changes_nothing(void)
{
	struct config cfg;
	uid_t uid = getuid();

	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_EQUAL(daemon_drop_privileges(&cfg), 0);
	CU_ASSERT_EQUAL(getuid(), uid);
}

struct detach_report {
	pid_t pid;
	pid_t sid;
	pid_t pgid;
	mode_t umask;
	char cwd[64];
};

/*
 * The caller of daemon_detach() exits with the status the daemon passes to
 * daemon_ready(); the daemon is in a new session it does not lead, in /,
 * with umask 027.
 */
static void
test_detach_reports_status_and_leaves_the_session(void)
{
	struct detach_report r;
	int p[2], st;
	pid_t pid;
	ssize_t n;

	memset(&r, 0, sizeof(r));
	CU_ASSERT_FATAL(pipe(p) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		close(p[0]);
		if (daemon_detach() == -1)
			_exit(99);
		/* the daemon */
		r.pid = getpid();
		r.sid = getsid(0);
		r.pgid = getpgrp();
		r.umask = umask(027);
		if (getcwd(r.cwd, sizeof(r.cwd)) == NULL)
			r.cwd[0] = '\0';
		if (write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
		close(p[1]);
		daemon_ready(7);
		_exit(0);
	}
	close(p[1]);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 7);
	n = read(p[0], &r, sizeof(r));
	close(p[0]);
	CU_ASSERT_EQUAL_FATAL(n, (ssize_t)sizeof(r));
	CU_ASSERT(r.pid != pid);
	CU_ASSERT(r.sid != getsid(0));
	/* not the session leader: it can never get a controlling terminal */
	CU_ASSERT(r.sid != r.pid);
	CU_ASSERT_EQUAL(r.umask, 027);
	CU_ASSERT_STRING_EQUAL(r.cwd, "/");
}

/* a daemon that dies before daemon_ready() makes the start fail, not hang */
static void
test_detach_reports_failure_when_the_daemon_dies_first(void)
{
	pid_t pid = fork();
	int st;

	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		if (daemon_detach() == -1)
			_exit(99);
		_exit(0);	/* never calls daemon_ready */
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 1);
}

/*
 * Load text as dir/rt.cfg, named "rt.cfg" from inside dir, so messages
 * show whether they use the path as given or the absolute one.
 */
static int
load_relative(const char *text, struct config *cfg)
{
	char path[128], cwd[4096], err[512];
	int rv;

	snprintf(path, sizeof(path), "%s/rt.cfg", dir);
	write_text(path, text);
	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_FATAL(chdir(dir) == 0);
	rv = config_load("rt.cfg", cfg, err, sizeof(err));
	CU_ASSERT_FATAL(chdir(cwd) == 0);
	unlink(path);
	if (rv == -1)
		fprintf(stderr, "\n  %s\n", err);
	return rv;
}

#define RT_LISTENER "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000; } );\n"

static void
test_check_runtime_blames_unknown_user_and_group_at_their_lines(void)
{
	struct config cfg;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(load_relative(
	    "workers = 1;\n"
	    "user = \"no-such-user-sockserv\";\n"
	    RT_LISTENER, &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "rt.cfg:2: unknown user 'no-such-user-sockserv'");
	config_free(&cfg);

	CU_ASSERT_EQUAL_FATAL(load_relative(
	    "user = \"root\";\n"
	    "workers = 1;\n"
	    "\n"
	    "group = \"no-such-group-sockserv\";\n"
	    RT_LISTENER, &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "rt.cfg:4: unknown group 'no-such-group-sockserv'");
	config_free(&cfg);

	/* names that exist pass */
	CU_ASSERT_EQUAL_FATAL(load_relative(
	    "user = \"root\";\n"
	    "group = \"root\";\n"
	    RT_LISTENER, &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);
}

static void
test_check_runtime_blames_a_log_file_that_cannot_be_opened(void)
{
	struct config cfg;
	char err[512], text[512], logpath[128], want[512];
	struct stat sb;

	CU_ASSERT_EQUAL_FATAL(load_relative(
	    "workers = 1;\n"
	    "log = {\n"
	    "  level = \"info\";\n"
	    "  target = \"/nonexistent/dir/x.log\";\n"
	    "};\n"
	    RT_LISTENER, &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "rt.cfg:4: log target /nonexistent/dir/x.log: %s",
	    strerror(ENOENT));
	CU_ASSERT_STRING_EQUAL(err, want);
	config_free(&cfg);

	/* a directory is no log file either */
	snprintf(text, sizeof(text), "log = { target = \"%s\"; };\n" RT_LISTENER, dir);
	CU_ASSERT_EQUAL_FATAL(load_relative(text, &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "rt.cfg:1: log target %s: %s", dir, strerror(EISDIR));
	CU_ASSERT_STRING_EQUAL(err, want);
	config_free(&cfg);

	/*
	 * one that could be created is not: the server creates it, and only
	 * a file it created itself goes to the workers' user
	 */
	snprintf(logpath, sizeof(logpath), "%s/new.log", dir);
	snprintf(text, sizeof(text), "log = { target = \"%s\"; };\n" RT_LISTENER, logpath);
	CU_ASSERT_EQUAL_FATAL(load_relative(text, &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), 0);
	CU_ASSERT(stat(logpath, &sb) == -1 && errno == ENOENT);
	config_free(&cfg);

	/* stderr and syslog are no files */
	CU_ASSERT_EQUAL_FATAL(load_relative("log = { target = \"syslog\"; };\n" RT_LISTENER,
	    &cfg), 0);
	CU_ASSERT_EQUAL(daemon_check_runtime(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);
}

/* fd is open (1) or closed (0) */
static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/*
 * In a child: descriptors left open by a caller, without close-on-exec and
 * at any number, are closed; stdin, stdout and stderr stay as they were.
 */
static void
test_close_inherited_closes_everything_above_stderr(void)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		int p[2], std[3], high;

		for (int i = 0; i < 3; i++)
			std[i] = fd_open(i);
		if (pipe(p) == -1)
			_exit(10);
		high = dup2(p[1], 900);
		if (high != 900)
			_exit(11);
		daemon_close_inherited();
		if (fd_open(p[0]) || fd_open(p[1]) || fd_open(high))
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (fd_open(i) != std[i])
				_exit(2);
		_exit(0);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

void
test_daemon_register(void)
{
	CU_pSuite s = CU_add_suite("daemon", suite_init, suite_clean);

	if (s == NULL)
		return;
	CU_add_test(s, "test_pidfile_read_names_the_lock_holder",
	    test_pidfile_read_names_the_lock_holder);
	CU_add_test(s, "test_pidfile_without_a_lock_holder_is_stale_whatever_it_names",
	    test_pidfile_without_a_lock_holder_is_stale_whatever_it_names);
	CU_add_test(s, "test_pidfile_lock_dies_with_its_holder_even_as_a_zombie",
	    test_pidfile_lock_dies_with_its_holder_even_as_a_zombie);
	CU_add_test(s, "test_pidfile_read_of_missing_or_unlocked_garbage_is_0",
	    test_pidfile_read_of_missing_or_unlocked_garbage_is_0);
	CU_add_test(s, "test_pidfile_lock_refuses_a_running_server_naming_it",
	    test_pidfile_lock_refuses_a_running_server_naming_it);
	CU_add_test(s, "test_pidfile_read_waits_for_a_starting_masters_pid",
	    test_pidfile_read_waits_for_a_starting_masters_pid);
	CU_add_test(s, "test_pidfile_read_gives_up_on_a_lock_holder_that_writes_no_pid",
	    test_pidfile_read_gives_up_on_a_lock_holder_that_writes_no_pid);
	CU_add_test(s, "test_pidfile_lock_replaces_a_stale_file_without_writing_through_it",
	    test_pidfile_lock_replaces_a_stale_file_without_writing_through_it);
	CU_add_test(s, "test_pidfile_lock_refuses_a_symlink_and_leaves_its_target_alone",
	    test_pidfile_lock_refuses_a_symlink_and_leaves_its_target_alone);
	CU_add_test(s, "test_pidfile_lock_reports_an_unwritable_directory",
	    test_pidfile_lock_reports_an_unwritable_directory);
	CU_add_test(s, "test_pidfile_remove_removes_only_our_own",
	    test_pidfile_remove_removes_only_our_own);
	CU_add_test(s, "test_raise_nofile_lifts_soft_to_hard", test_raise_nofile_lifts_soft_to_hard);
	CU_add_test(s, "test_lookup_user_resolves_names_and_rejects_unknown_ones",
	    test_lookup_user_resolves_names_and_rejects_unknown_ones);
	CU_add_test(s, "test_drop_privileges_to_nobody_sticks",
	    test_drop_privileges_to_nobody_sticks);
	CU_add_test(s, "test_drop_privileges_without_user_changes_nothing",
	    test_drop_privileges_without_user_changes_nothing);
	CU_add_test(s, "test_detach_reports_status_and_leaves_the_session",
	    test_detach_reports_status_and_leaves_the_session);
	CU_add_test(s, "test_detach_reports_failure_when_the_daemon_dies_first",
	    test_detach_reports_failure_when_the_daemon_dies_first);
	CU_add_test(s, "test_check_runtime_blames_unknown_user_and_group_at_their_lines",
	    test_check_runtime_blames_unknown_user_and_group_at_their_lines);
	CU_add_test(s, "test_check_runtime_blames_a_log_file_that_cannot_be_opened",
	    test_check_runtime_blames_a_log_file_that_cannot_be_opened);
	CU_add_test(s, "test_close_inherited_closes_everything_above_stderr",
	    test_close_inherited_closes_everything_above_stderr);
}
