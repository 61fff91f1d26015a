/*
 * Issue 11, the process side attacked: what the workers' user (nobody) can
 * do to the root master through the log file, and what the workers carry
 * with them.
 *   - A link planted at the log's name, in a directory nobody may write:
 *     start (and -t) refuses the directory; in a sticky one the link is
 *     not followed at start, on SIGUSR1 reopen or on SIGHUP reload, and
 *     the root file it names is neither written nor chowned.  A log file
 *     the master did not create is not handed to nobody.
 *   - The master SIGKILLed with user set: every worker is gone within
 *     100 ms (PR_SET_PDEATHSIG after the privilege drop).
 *   - Workers run with NoNewPrivs, and neither master nor workers of a
 *     foreground (-f) server keep a descriptor their starter left open.
 *   - A signal set-up call that fails (made to fail by a seccomp filter)
 *     stops the master's start, or the worker, with the reason, instead of
 *     leaving a process that cannot be steered.
 * Each test also checks that a well-behaved client is served.  The parts
 * that need root and the user nobody say why they skip elsewhere.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define VICTIM_TEXT "root's secret\n"
#define RUN_TIMEOUT_MS 10000

/* a root-owned 0600 file in a root-only directory: what a planted link aims at */
static void
make_victim(char *path, size_t len)
{
	char *dir = it_mkdtemp();
	int fd;

	snprintf(path, len, "%s/victim", dir);
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	IT_ASSERT(fd != -1);
	IT_ASSERT(write(fd, VICTIM_TEXT, strlen(VICTIM_TEXT)) == (ssize_t)strlen(VICTIM_TEXT));
	close(fd);
}

static void
assert_victim_untouched(const char *path)
{
	char buf[256];
	struct stat sb;
	ssize_t n;
	int fd;

	IT_ASSERT(stat(path, &sb) == 0);
	if (sb.st_uid != 0 || (sb.st_mode & 07777) != 0600)
		IT_FAIL("%s is now uid %ld mode %04o: it was root's, 0600", path,
		    (long)sb.st_uid, (unsigned)(sb.st_mode & 07777));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	IT_ASSERT(fd != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	IT_ASSERT(n >= 0);
	buf[n] = '\0';
	if (strcmp(buf, VICTIM_TEXT) != 0)
		IT_FAIL("%s was written: it holds \"%.200s\"", path, buf);
}

/* what nobody would do: a link named like the log, owned by nobody */
static void
plant_link(const char *victim, const char *at, uid_t uid, gid_t gid)
{
	IT_ASSERT(symlink(victim, at) == 0);
	IT_ASSERT(lchown(at, uid, gid) == 0);
}

/* one frame echoed by the server: the well-behaved client */
static void
echo_once(struct srv *s, const char *text)
{
	int fd = cli_connect(srv_addr(s, "t"), srv_port(s, "t"));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, text, (uint32_t)strlen(text)), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, text, strlen(text));
	close(fd);
}

/* sockserv ARGS... (NULL-terminated); its wait status, output in out */
static int
run_sockserv(char *out, size_t outlen, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = { (char *)it_sockserv_path(), (char *)a1, (char *)a2, (char *)a3, NULL };

	return it_run(argv, out, outlen, RUN_TIMEOUT_MS);
}

static int
exited_1(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1;
}

/* the workers reopen by path as nobody: let them through the test's directories */
static void
let_nobody_through(const struct srv *s)
{
	char buf[sizeof(s->dir)];

	snprintf(buf, sizeof(buf), "%s", s->dir);
	IT_ASSERT(chmod(dirname(buf), 0711) == 0);
}

/*
 * The log's directory belongs to nobody, and nobody planted a link to a
 * root file at the log's name: -t and the start refuse the directory, and
 * the root file is neither written nor chowned.  Once the directory is
 * root's again, the server starts and serves.
 */
static void
test_log_in_a_directory_the_workers_user_owns_is_refused(void)
{
	struct srv_opts o = {
		.log_to_file = 1,
		.extra = "user = \"nobody\";",
		.listeners = { { .name = "t" } },
	};
	char victim[PATH_MAX], out[8192];
	struct srv *s;
	uid_t uid;
	gid_t gid;
	int st;

	it_need_root_and_nobody(&uid, &gid);
	s = srv_prepare(&o);
	make_victim(victim, sizeof(victim));
	IT_ASSERT(chown(s->dir, uid, gid) == 0);
	IT_ASSERT(chmod(s->dir, 0755) == 0);
	plant_link(victim, s->log_path, uid, gid);

	st = run_sockserv(out, sizeof(out), "-t", "-c", s->cfg_path);
	if (!exited_1(st))
		IT_FAIL("sockserv -t: %s, expected exit 1; output:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, s->cfg_path);
	IT_ASSERT_STR_HAS(out, "log target ");
	IT_ASSERT_STR_HAS(out, ": directory ");
	IT_ASSERT_STR_HAS(out, "belongs to uid");
	st = run_sockserv(out, sizeof(out), "-f", "-c", s->cfg_path);
	if (!exited_1(st))
		IT_FAIL("sockserv -f: %s, expected exit 1; output:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "belongs to uid");
	assert_victim_untouched(victim);

	/* the same server with a directory of root's starts and serves */
	IT_ASSERT(unlink(s->log_path) == 0);
	IT_ASSERT(chown(s->dir, 0, 0) == 0);
	IT_ASSERT(chmod(s->dir, 0700) == 0);
	IT_ASSERT(srv_launch(s) == 0);
	if (srv_wait_ready(s, SRV_READY_TIMEOUT_MS) == -1)
		IT_FAIL("server not ready once the directory is root's");
	echo_once(s, "served");
	assert_victim_untouched(victim);
}

/*
 * A sticky directory nobody may write (group nogroup, 1770: the kernel's
 * protected_symlinks covers only world-writable ones, so the server alone
 * must refuse the link).  A link at the log's name is not followed at
 * start, nor on SIGUSR1 after logrotate moved the file away, nor on SIGHUP;
 * the server keeps writing to the file it had and keeps serving.  The log
 * file that was there before the start stays root's.
 */
static void
test_log_link_in_a_sticky_directory_is_never_followed(void)
{
	struct srv_opts o = {
		.workers = 2,
		.log_to_file = 1,
		.extra = "user = \"nobody\";",
		.listeners = { { .name = "t" } },
	};
	char victim[PATH_MAX], moved[700], out[8192], line[1024];
	struct srv *s;
	struct stat sb;
	uid_t uid;
	gid_t gid;
	int st, n, port, fd;
	char **v;

	it_need_root_and_nobody(&uid, &gid);
	s = srv_prepare(&o);
	make_victim(victim, sizeof(victim));
	let_nobody_through(s);
	IT_ASSERT(chown(s->dir, 0, gid) == 0);
	IT_ASSERT(chmod(s->dir, 01770) == 0);
	plant_link(victim, s->log_path, uid, gid);

	st = run_sockserv(out, sizeof(out), "-t", "-c", s->cfg_path);
	if (!exited_1(st))
		IT_FAIL("sockserv -t: %s, expected exit 1; output:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "symbolic link, not followed");
	st = run_sockserv(out, sizeof(out), "-f", "-c", s->cfg_path);
	if (!exited_1(st))
		IT_FAIL("sockserv -f: %s, expected exit 1; output:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "symbolic link, not followed");
	assert_victim_untouched(victim);

	/* started on a log file it did not create (the harness opens it first) */
	IT_ASSERT(unlink(s->log_path) == 0);
	IT_ASSERT(srv_launch(s) == 0);
	if (srv_wait_ready(s, SRV_READY_TIMEOUT_MS) == -1)
		IT_FAIL("server not ready in a sticky log directory");
	echo_once(s, "before");
	IT_ASSERT(stat(s->log_path, &sb) == 0);
	if (sb.st_uid != 0)
		IT_FAIL("the log file the master did not create was chowned to uid %ld",
		    (long)sb.st_uid);

	/* logrotate moves it; nobody plants a link before the reopen */
	snprintf(moved, sizeof(moved), "%s.1", s->log_path);
	IT_ASSERT(rename(s->log_path, moved) == 0);
	plant_link(victim, s->log_path, uid, gid);
	IT_ASSERT(kill(s->pid, SIGUSR1) == 0);
	/* the master, then each worker (they reopen after it), says so in the old file */
	n = 0;
	for (int64_t end = it_now_ms() + 5000; n < 3 && it_now_ms() < end; it_sleep_ms(20)) {
		v = it_file_grep(moved, 0, &n, "warn: log %s not reopened: .*symbolic link",
		    s->log_path);
		it_strv_free(v);
	}
	if (n < 3) {
		it_file_tail(moved, 20, "  log| ");
		IT_FAIL("%d of 3 processes (master, 2 workers) logged the refused reopen", n);
	}
	IT_ASSERT(it_file_wait(moved, 0, 100, NULL, 0, "info: log reopened") == -1);
	assert_victim_untouched(victim);
	/* still served, and still logged, to the old file */
	fd = cli_connect(srv_addr(s, "t"), srv_port(s, "t"));
	IT_ASSERT(fd >= 0);
	port = cli_local_port(fd);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "after", 5), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "after", 5);
	close(fd);
	if (it_file_wait(moved, 0, 5000, line, sizeof(line), "accept t 127\\.0\\.0\\.1:%d$",
	    port) == -1)
		IT_FAIL("no accept line for port %d in %s after the refused reopen", port, moved);

	/* a reload checks the log target like -t: refused, nothing changes */
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	if (it_file_wait(moved, 0, 5000, line, sizeof(line), "reload failed.*symbolic link") == -1)
		IT_FAIL("no \"reload failed ... symbolic link\" line in %s", moved);
	echo_once(s, "after the reload");
	assert_victim_untouched(victim);
}

/* 1 while pid exists and is not a zombie */
static int
alive(pid_t pid)
{
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/*
 * The master SIGKILLed with user set: the privilege drop used to clear the
 * parent-death signal, and the workers noticed only at their next
 * once-a-second look at getppid(), accepting clients meanwhile.
 */
static void
test_master_sigkill_takes_every_worker_within_100ms(void)
{
	struct srv_opts o = {
		.workers = 3,
		.extra = "user = \"nobody\";",
		.listeners = { { .name = "t" } },
	};
	struct srv *s;
	pid_t w[3];
	int64_t t0, last = 0;
	uid_t uid;
	gid_t gid;
	int left, fd;

	it_need_root_and_nobody(&uid, &gid);
	s = srv_start(&o);
	echo_once(s, "served by nobody");
	for (int i = 0; i < 3; i++) {
		char line[128];

		w[i] = s->workers[i];
		IT_ASSERT(w[i] > 0 && alive(w[i]));
		IT_ASSERT(it_proc_status_line(w[i], "Uid", line, sizeof(line)) == 0);
		IT_ASSERT(strtol(line, NULL, 10) == (long)uid);
	}
	t0 = it_now_ms();
	IT_ASSERT(kill(s->pid, SIGKILL) == 0);
	do {
		left = 0;
		for (int i = 0; i < 3; i++)
			left += alive(w[i]);
		if (left > 0)
			it_sleep_ms(2);
		last = it_now_ms() - t0;
	} while (left > 0 && last < 2000);
	if (left > 0 || last > 100)
		IT_FAIL("%d of 3 workers still alive %lld ms after the master's SIGKILL "
		    "(at most 100 ms)", left, (long long)last);
	/* and nobody accepts on the port any more */
	fd = cli_connect(srv_addr(s, "t"), srv_port(s, "t"));
	IT_ASSERT(fd == -1);
}

/* "NoNewPrivs:\t1": nothing a worker runs can gain privileges */
static void
test_workers_run_with_no_new_privs(void)
{
	struct srv_opts o = {
		.workers = 2,
		.extra = geteuid() == 0 && getpwnam("nobody") ? "user = \"nobody\";" : NULL,
		.listeners = { { .name = "t" } },
	};
	struct srv *s = srv_start(&o);
	char line[64];

	echo_once(s, "no new privs");
	for (int i = 0; i < 2; i++) {
		IT_ASSERT(it_proc_status_line(s->workers[i], "NoNewPrivs", line, sizeof(line)) == 0);
		if (strtol(line, NULL, 10) != 1)
			IT_FAIL("worker %ld NoNewPrivs:%s", (long)s->workers[i], line);
	}
}

/* descriptors of pid that are the pipe with inode ino: their count */
static int
holds_pipe(pid_t pid, ino_t ino)
{
	char dir[64], path[384], target[128], want[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)ino);
	if ((d = opendir(dir)) == NULL)
		IT_FAIL("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, want) == 0;
	}
	closedir(d);
	return n;
}

/*
 * A foreground server started while its starter holds a pipe open (no
 * close-on-exec, at a low and a high number): neither the master nor any
 * worker keeps it, so the starter's reader sees EOF and the workers'
 * user gets nothing of the starter's.
 */
static void
test_foreground_server_keeps_no_descriptor_of_its_starter(void)
{
	struct srv_opts o = {
		.workers = 2,
		.extra = geteuid() == 0 && getpwnam("nobody") ? "user = \"nobody\";" : NULL,
		.listeners = { { .name = "t" } },
	};
	struct srv *s;
	struct stat sb;
	int p[2], high, n;
	char c;

	IT_ASSERT(pipe(p) == 0);
	high = dup2(p[1], 200);
	IT_ASSERT(high == 200);
	IT_ASSERT(fstat(p[0], &sb) == 0);
	s = srv_start(&o);
	/* the test's own copies, so only the server's could keep the pipe open */
	close(p[1]);
	close(high);
	echo_once(s, "no inherited fds");
	n = holds_pipe(s->pid, sb.st_ino);
	if (n != 0)
		IT_FAIL("the master holds %d descriptors of its starter's pipe", n);
	for (int i = 0; i < 2; i++) {
		n = holds_pipe(s->workers[i], sb.st_ino);
		if (n != 0)
			IT_FAIL("worker %ld holds %d descriptors of its starter's pipe",
			    (long)s->workers[i], n);
	}
	/* so the reader sees EOF (not a wait for ever) */
	{
		struct pollfd pfd = { p[0], POLLIN, 0 };

		IT_ASSERT(poll(&pfd, 1, 2000) == 1);
		IT_ASSERT(read(p[0], &c, 1) == 0);
	}
	close(p[0]);
}

/* ------------------------------------------------------------------ */
/* failing signal set-up, injected with seccomp                        */

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

enum inject { FAIL_SETITIMER, FAIL_SETMASK };

#ifdef NATIVE_AUDIT_ARCH
/*
 * In the child about to exec the server: setitimer, or rt_sigprocmask
 * with SIG_SETMASK (only the worker's set-up uses it; the master blocks
 * with SIG_BLOCK), fails with EPERM from now on.
 */
static int
install_filter(enum inject what)
{
	struct sock_filter setitimer_prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setitimer, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_filter setmask_prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigprocmask, 0, 3),
		/* the low half of args[0] (little-endian): how */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIG_SETMASK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog;

	if (what == FAIL_SETITIMER) {
		prog.len = (unsigned short)(sizeof(setitimer_prog) / sizeof(setitimer_prog[0]));
		prog.filter = setitimer_prog;
	} else {
		prog.len = (unsigned short)(sizeof(setmask_prog) / sizeof(setmask_prog[0]));
		prog.filter = setmask_prog;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#endif

/* `sockserv -f -c CFG` of s under the filter, its output in s->log_path */
static pid_t
launch_with_fault(struct srv *s, enum inject what)
{
#ifdef NATIVE_AUDIT_ARCH
	char *argv[] = { (char *)it_sockserv_path(), (char *)"-f", (char *)"-c", s->cfg_path,
	    NULL };
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1)
		IT_FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		sigset_t none;

		/* what a shell would give it, before the filter forbids it */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(126);
		if (install_filter(what) == -1) {
			dprintf(2, "seccomp: %s\n", strerror(errno));
			_exit(125);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	s->pid = pid;
	return pid;
#else
	(void)s;
	(void)what;
	IT_SKIP("no seccomp filter written for this architecture");
#endif
}

/* the master cannot arm its supervision timer: the start fails, saying why */
static void
test_master_start_fails_when_its_timer_cannot_be_set(void)
{
	struct srv_opts o = { .listeners = { { .name = "t" } } };
	struct srv *s = srv_prepare(&o);
	pid_t pid = launch_with_fault(s, FAIL_SETITIMER);
	int64_t deadline = it_now_ms() + 10000;
	int st = 0;
	pid_t r;

	while ((r = waitpid(pid, &st, WNOHANG)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(10);
	if (r != pid) {
		it_file_tail(s->log_path, 10, "  | ");
		IT_FAIL("sockserv still running 10 s after setitimer failed");
	}
	s->pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1) {
		it_file_tail(s->log_path, 10, "  | ");
		IT_FAIL("sockserv: %s, expected exit 1", it_status_str(st));
	}
	IT_ASSERT(it_file_wait(s->log_path, 0, 100, NULL, 0,
	    "setitimer: Operation not permitted") == 0);
}

/* a worker that cannot unblock its signals would never hear a stop: it exits with the reason */
static void
test_worker_exits_when_its_signal_mask_cannot_be_set(void)
{
	struct srv_opts o = { .listeners = { { .name = "t" } } };
	struct srv *s = srv_prepare(&o);
	char line[512];

	launch_with_fault(s, FAIL_SETMASK);
	if (it_file_wait(s->log_path, 0, 10000, line, sizeof(line),
	    "worker 0: sigprocmask: Operation not permitted") == -1) {
		it_file_tail(s->log_path, 20, "  | ");
		IT_FAIL("no worker said its sigprocmask failed");
	}
	IT_ASSERT(it_file_wait(s->log_path, 0, 5000, NULL, 0,
	    "worker 0 \\(pid [0-9]+\\) exited with status 1") == 0);
	/* it never got as far as running */
	IT_ASSERT(it_file_wait(s->log_path, 0, 100, NULL, 0, "worker 0 running") == -1);
}

static const struct it_test hostile_proc_tests[] = {
	{ "test_log_in_a_directory_the_workers_user_owns_is_refused",
	    test_log_in_a_directory_the_workers_user_owns_is_refused, 0 },
	{ "test_log_link_in_a_sticky_directory_is_never_followed",
	    test_log_link_in_a_sticky_directory_is_never_followed, 0 },
	{ "test_master_sigkill_takes_every_worker_within_100ms",
	    test_master_sigkill_takes_every_worker_within_100ms, 0 },
	{ "test_workers_run_with_no_new_privs", test_workers_run_with_no_new_privs, 0 },
	{ "test_foreground_server_keeps_no_descriptor_of_its_starter",
	    test_foreground_server_keeps_no_descriptor_of_its_starter, 0 },
	{ "test_master_start_fails_when_its_timer_cannot_be_set",
	    test_master_start_fails_when_its_timer_cannot_be_set, 0 },
	{ "test_worker_exits_when_its_signal_mask_cannot_be_set",
	    test_worker_exits_when_its_signal_mask_cannot_be_set, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(hostile_proc, hostile_proc_tests)
