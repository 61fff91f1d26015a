/*
 * Issue 6, seen from outside: sockserv as a traditional daemon.  Starting
 * without -f returns once the server listens and leaves a pid file; a
 * second start is refused; -s stop, quit, reload and reopen do what their
 * signals promise (a bad reload changes nothing, a good one refuses no
 * connection and drops none, a graceful quit lets a connection finish, a
 * moved log file is reopened), and keep working while the file has a
 * mistake; the daemon keeps no descriptor its starter left open; workers
 * run as the configured user; a fast stop sends frame clients ERROR 7; and
 * the init script drives a server installed with `make install
 * DESTDIR=...`.
 *
 * A daemon leaves the test's process group (setsid), so the runner cannot
 * kill it.  Every test therefore registers each pid file with a guardian:
 * a process in a session of its own that waits for the test process to end,
 * however it ends (assertion, crash, the runner's time limit), and then
 * SIGKILLs whatever sockserv those pid files still name, workers first.
 * The daemon's stderr is /dev/null, so sanitizer reports are sent to files
 * in its directory (log_path) and checked when the test stops it.
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../minijson.h"

#define OUT_MAX (64 * 1024)
#define RUN_TIMEOUT_MS 15000
#define GONE_TIMEOUT_MS 5000

/* ------------------------------------------------------------------ */
/* /proc                                                               */

/* state letter of pid ('R', 'S', 'Z', ...), 0 when there is no such process */
static char
proc_state(pid_t pid, char *comm, size_t commlen)
{
	char path[64], buf[512], *lp, *rp;
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
	lp = strchr(buf, '(');
	rp = strrchr(buf, ')');
	if (lp == NULL || rp == NULL || rp < lp || rp[1] == '\0')
		return 0;
	if (comm != NULL)
		snprintf(comm, commlen, "%.*s", (int)(rp - lp - 1), lp + 1);
	return rp[2];
}

/*
 * A live process, not a zombie: a daemon's master is reparented to the
 * runner, which reaps it only after the test, so a stopped master lingers
 * as a zombie that still answers kill(pid, 0).
 */
static int
proc_alive(pid_t pid)
{
	char st = pid > 0 ? proc_state(pid, NULL, 0) : 0;

	return st != 0 && st != 'Z' && st != 'X';
}

static int
proc_is_sockserv(pid_t pid)
{
	char comm[64] = "";

	return proc_alive(pid) && proc_state(pid, comm, sizeof(comm)) != 0 &&
	    strcmp(comm, "sockserv") == 0;
}

/* the parent pid of pid, -1 if unknown */
static pid_t
proc_ppid(pid_t pid)
{
	char path[64], buf[512], *rp;
	long ppid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((rp = strrchr(buf, ')')) == NULL || sscanf(rp + 2, "%*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* the live children of pid, at most max of them */
static int
proc_children(pid_t pid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while (n < max && (e = readdir(d)) != NULL) {
		char *end;
		long p = strtol(e->d_name, &end, 10);

		if (*end != '\0' || p <= 0)
			continue;
		if (proc_ppid((pid_t)p) == pid && proc_alive((pid_t)p))
			out[n++] = (pid_t)p;
	}
	closedir(d);
	return n;
}

static pid_t
read_pidfile(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return (pid_t)strtol(buf, NULL, 10);
}

/* wait until pid is no longer a live process; 0, or -1 on timeout */
static int
wait_gone(pid_t pid, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	while (proc_alive(pid)) {
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(5);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the guardian                                                        */

static int guard_fd = -1;

static void
guard_kill(pid_t pid)
{
	pid_t kids[SRV_MAX_WORKERS * 4];
	int n, i;

	if (!proc_is_sockserv(pid))
		return;
	/* the workers first: the master would otherwise respawn them */
	kill(pid, SIGSTOP);
	n = proc_children(pid, kids, (int)(sizeof(kids) / sizeof(kids[0])));
	for (i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	kill(pid, SIGKILL);
	kill(pid, SIGCONT);
}

static void __attribute__((noreturn))
guard_main(int fd)
{
	static char buf[64 * 1024];
	size_t len = 0;
	ssize_t r;
	char *line, *save = NULL;

	/* nothing of the test's: no client socket, no pipe to the runner */
	if (dup2(fd, 3) == -1)
		_exit(1);
	syscall(SYS_close_range, 4U, ~0U, 0U);
	fd = 3;
	int nul = open("/dev/null", O_RDWR);
	if (nul != -1) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		close(nul);
	}
	while (len < sizeof(buf) - 1 &&
	    ((r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 ||
	    (r == -1 && errno == EINTR)))
		if (r > 0)
			len += (size_t)r;
	buf[len] = '\0';
	/* the test is over */
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "file ", 5) == 0)
			guard_kill(read_pidfile(line + 5));
		else if (strncmp(line, "pid ", 4) == 0)
			guard_kill((pid_t)strtol(line + 4, NULL, 10));
	}
	_exit(0);
}

static void __attribute__((format(printf, 1, 2)))
guard_say(const char *fmt, ...)
{
	char line[PATH_MAX + 16];
	va_list ap;
	int n;

	if (guard_fd == -1) {
		int p[2];
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) == -1)
			IT_FAIL("pipe: %s", strerror(errno));
		fflush(NULL);
		if ((pid = fork()) == -1)
			IT_FAIL("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[1]);
			/* out of the test's group: the runner's kill must not hit it */
			setsid();
			guard_main(p[0]);
		}
		close(p[0]);
		guard_fd = p[1];
	}
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		IT_FAIL("guardian line too long");
	line[n++] = '\n';
	if (write(guard_fd, line, (size_t)n) != n)
		IT_FAIL("guardian: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */
/* reaping stopped daemons                                             */

/*
 * A stopped daemon's master is reparented to the runner, which reaps it
 * only after the test: until then it is a zombie, and start-stop-daemon
 * takes a zombie for a running process (an init script's stop would wait
 * for it and fail).  Tests that need it gone make the test process the
 * daemons' subreaper and reap exactly the masters they know; other
 * children stay for whoever waits for them (it_run).
 */
#define MAX_REAP 16

static volatile pid_t reap_pids[MAX_REAP];
static volatile sig_atomic_t nreap, reaping;

static void
reap_known(int sig)
{
	int saved = errno;

	(void)sig;
	for (int i = 0; i < nreap; i++)
		if (reap_pids[i] > 0 && waitpid(reap_pids[i], NULL, WNOHANG) == reap_pids[i])
			reap_pids[i] = 0;
	errno = saved;
}

static void
reap_daemons(void)
{
	struct sigaction sa;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		IT_FAIL("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reap_known;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	reaping = 1;
}

/* the guardian kills pid if the test ends first; the reaper reaps it once stopped */
static void
watch_pid(pid_t pid)
{
	sigset_t chld, old;

	guard_say("pid %ld", (long)pid);
	if (!reaping || nreap >= MAX_REAP)
		return;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	reap_pids[nreap] = pid;
	nreap = nreap + 1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* it may have exited before we knew it */
	reap_known(0);
}

/* ------------------------------------------------------------------ */
/* sanitizer reports of daemons                                        */

/* daemons have no stderr: their sanitizer reports go to DIR/asan.PID */
static void
sanitizers_log_to(const char *dir)
{
	const char *names[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS" };
	char val[PATH_MAX + 512];

	for (size_t i = 0; i < 2; i++) {
		const char *old = getenv(names[i]);

		snprintf(val, sizeof(val), "%s%slog_path=%s/%s", old ? old : "",
		    old && *old ? ":" : "", dir, i == 0 ? "asan" : "ubsan");
		setenv(names[i], val, 1);
	}
}

static void
check_sanitizer_logs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "asan.", 5) != 0 && strncmp(e->d_name, "ubsan.", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		it_file_tail(path, 40, "  | ");
		it_report(__FILE__, __LINE__, "sanitizer report from a daemon: %s", path);
	}
	closedir(d);
}

/* ------------------------------------------------------------------ */
/* configurations and servers                                          */

/* listeners in the configuration last written (srv_wait_ready probes each) */
static int cfg_listeners;

struct dcfg {
	int workers;		/* 0 = 1 */
	int nlisteners;		/* listeners of the prepared server written; 0 = 1 */
	const char *top;	/* extra top-level settings */
	const char *lst;	/* extra settings inside every listener */
};

/*
 * The daemon's configuration: like the harness's, but the log is the file
 * s->log_path (a daemon has no stderr), so the srv_log_* helpers and
 * srv_wait_ready read it as usual.  Line numbers: workers 1, event_backend
 * 2, pid_file 3, stats_path 4, log 5, limits 6, top 7 ...
 */
static void
write_cfg(struct srv *s, const struct dcfg *c)
{
	FILE *f = fopen(s->cfg_path, "we");
	int i, nl = c->nlisteners > 0 ? c->nlisteners : 1;

	if (f == NULL)
		IT_FAIL("fopen %s: %s", s->cfg_path, strerror(errno));
	fprintf(f, "workers = %d;\n", c->workers > 0 ? c->workers : 1);
	fprintf(f, "event_backend = \"%s\";\n", it_backend());
	fprintf(f, "pid_file = \"%s\";\n", s->pid_path);
	fprintf(f, "stats_path = \"%s\";\n", s->stats_path);
	fprintf(f, "log = { target = \"%s\"; level = \"debug\"; };\n", s->log_path);
	/* within the 20000-fd limit: no start-up warning about it */
	fprintf(f, "limits = { max_connections = 10000; };\n");
	if (c->top != NULL)
		fprintf(f, "%s\n", c->top);
	fprintf(f, "listeners = (\n");
	for (i = 0; i < nl && i < s->nlisteners; i++) {
		const struct srv_lst *l = &s->listeners[i];

		fprintf(f, "  { name = \"%s\"; address = \"%s\"; port = %d; codec = \"%s\"; "
		    "handler = \"%s\";%s%s }%s\n", l->name, l->address, l->port, l->codec,
		    l->handler, c->lst ? " " : "", c->lst ? c->lst : "",
		    i + 1 < nl ? "," : "");
	}
	fprintf(f, ");\n");
	if (fclose(f) == EOF)
		IT_FAIL("write %s: %s", s->cfg_path, strerror(errno));
	s->nworkers = c->workers > 0 ? c->workers : 1;
	cfg_listeners = i;
}

/* directory, ports and configuration of a daemon with frame listeners long (and added) */
static struct srv *
daemon_prepare(const struct dcfg *c)
{
	struct srv_opts o = {
		.listeners = { { .name = "long" }, { .name = "added" } },
	};
	struct srv *s = srv_prepare(&o);

	sanitizers_log_to(s->dir);
	write_cfg(s, c);
	/* whatever happens to the test, the guardian stops what this pid file names */
	guard_say("file %s", s->pid_path);
	return s;
}

/* run sockserv with the NULL-terminated arguments; the wait status, output in out */
static int
run_sockserv(char *out, size_t outlen, ...)
{
	va_list ap;
	int st;

	va_start(ap, outlen);
	st = it_run_va(it_sockserv_path(), out, outlen, RUN_TIMEOUT_MS, ap);
	va_end(ap);
	return st;
}

static int
exited_with(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* one frame round trip on fd; the test fails if the echo does not come back */
static void
echo_once(int fd, const char *text)
{
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, text, (uint32_t)strlen(text)), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, text, strlen(text));
}

static int
connect_to(struct srv *s, const char *name)
{
	int fd = cli_connect(srv_addr(s, name), srv_port(s, name));

	IT_ASSERT(fd >= 0);
	return fd;
}

/*
 * `sockserv -c CFG` without -f.  The command must have returned 0, the pid
 * file must name a live sockserv in a session of its own, and a client
 * must connect and be served at once: the command returns only once the
 * server listens.  Then wait for every worker as srv_start does.
 */
static void
daemon_start(struct srv *s)
{
	static char out[OUT_MAX];
	int st, fd, all = s->nlisteners, ready;
	pid_t pid;

	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	if (!exited_with(st, 0)) {
		srv_dump_log(s, 40);
		IT_FAIL("sockserv -c %s: %s, output:\n%s", s->cfg_path, it_status_str(st), out);
	}
	fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(fd >= 0);
	pid = read_pidfile(s->pid_path);
	IT_ASSERT_INT(pid, >, 0);
	watch_pid(pid);
	s->pid = pid;
	IT_ASSERT(proc_is_sockserv(pid));
	IT_ASSERT(getsid(pid) != getsid(0));
	echo_once(fd, "served at once");
	close(fd);
	s->nlisteners = cfg_listeners;
	ready = srv_wait_ready(s, SRV_READY_TIMEOUT_MS);
	s->nlisteners = all;
	if (ready == -1) {
		srv_dump_log(s, 40);
		IT_FAIL("daemon not ready");
	}
}

/* `sockserv -c CFG -s stop`; the master and its pid file are gone afterwards */
static void
daemon_stop(struct srv *s)
{
	char out[4096];
	pid_t pid = s->pid;
	int st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "stop", (char *)NULL);

	if (!exited_with(st, 0))
		IT_FAIL("sockserv -s stop: %s, output:\n%s", it_status_str(st), out);
	if (wait_gone(pid, GONE_TIMEOUT_MS) == -1)
		IT_FAIL("master %ld still running %d ms after -s stop", (long)pid,
		    GONE_TIMEOUT_MS);
	/* its last act is removing the files; a moment after the exit they are gone */
	IT_ASSERT(access(s->pid_path, F_OK) == -1 && errno == ENOENT);
	IT_ASSERT(access(s->stats_path, F_OK) == -1 && errno == ENOENT);
	s->pid = -1;
	check_sanitizer_logs(s->dir);
}

/* let user nobody reach files in s->dir (mkdtemp makes 0700 directories) */
static void
open_dir_to_all(struct srv *s)
{
	char buf[sizeof(s->dir)];

	snprintf(buf, sizeof(buf), "%s", s->dir);
	IT_ASSERT(chmod(s->dir, 0711) == 0);
	IT_ASSERT(chmod(dirname(buf), 0711) == 0);
}

/* ------------------------------------------------------------------ */
/* start, refuse, stop                                                 */

static void
test_start_returns_once_listening_and_stop_removes_everything(void)
{
	struct dcfg c = { .workers = 2 };
	struct srv *s = daemon_prepare(&c);
	pid_t kids[8];
	int fd, n;

	daemon_start(s);
	/* the workers are the daemon's children */
	n = proc_children(s->pid, kids, 8);
	IT_ASSERT_INT(n, ==, 2);
	IT_ASSERT(kids[0] == s->workers[0] || kids[0] == s->workers[1]);
	IT_ASSERT(access(s->stats_path, F_OK) == 0);
	fd = connect_to(s, "long");
	echo_once(fd, "hello daemon");
	close(fd);
	daemon_stop(s);
	/* the workers went with it, and nothing listens any more */
	for (int i = 0; i < n; i++)
		IT_ASSERT(wait_gone(kids[i], GONE_TIMEOUT_MS) == 0);
	IT_ASSERT(cli_connect(srv_addr(s, "long"), srv_port(s, "long")) == -1);
}

static void
test_second_start_is_refused_naming_the_running_pid(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	char out[4096], want[64];
	int st, fd;

	daemon_start(s);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)s->pid);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT_INT(read_pidfile(s->pid_path), ==, s->pid);
	/* it gave up before binding: the running server alone has the port */
	IT_ASSERT_INT(srv_log_count(s, "listener long on"), ==, 0);
	fd = connect_to(s, "long");
	echo_once(fd, "still the first one");
	close(fd);
	/* -f refuses the same way */
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-f", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, want);
	daemon_stop(s);
}

static void
test_stale_pid_file_is_replaced(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	char text[32];
	pid_t dead = fork();

	IT_ASSERT(dead != -1);
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	snprintf(text, sizeof(text), "%ld\n", (long)dead);
	IT_ASSERT(it_write_file(s->pid_path, text) == 0);
	daemon_start(s);
	IT_ASSERT(s->pid != dead);
	daemon_stop(s);
}

/*
 * Issue 10: ten `sockserv -c CFG` released at the same instant against one
 * configuration.  Exactly one becomes the server; the nine others exit 1
 * saying "already running (pid N)" with the winner's pid, whatever the
 * order in which they reached the pid file.
 */
#define NSTARTS 10

static void
test_ten_starts_at_once_one_runs_nine_refused(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	pid_t kids[NSTARTS];
	int go[2], st[NSTARTS], won = -1, refused = 0, fd;
	char outpath[NSTARTS][PATH_MAX], want[64];
	int64_t deadline;

	IT_ASSERT(pipe(go) == 0);
	fflush(NULL);
	for (int i = 0; i < NSTARTS; i++) {
		snprintf(outpath[i], sizeof(outpath[i]), "%s/start.%d.out", s->dir, i);
		kids[i] = fork();
		IT_ASSERT(kids[i] != -1);
		if (kids[i] == 0) {
			char b;
			int out = open(outpath[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

			close(go[1]);
			if (out == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
				_exit(100);
			/* every one waits here until the pipe closes: one release for all */
			(void)!read(go[0], &b, 1);
			execl(it_sockserv_path(), it_sockserv_path(), "-c", s->cfg_path,
			    (char *)NULL);
			_exit(101);
		}
	}
	close(go[0]);
	close(go[1]);
	deadline = it_now_ms() + 30000;
	for (int i = 0; i < NSTARTS; i++) {
		pid_t r;

		while ((r = waitpid(kids[i], &st[i], WNOHANG)) == 0 && it_now_ms() < deadline)
			it_sleep_ms(10);
		if (r != kids[i])
			IT_FAIL("start %d (pid %ld) still running after 30 s", i, (long)kids[i]);
	}
	s->pid = read_pidfile(s->pid_path);
	IT_ASSERT_INT(s->pid, >, 0);
	watch_pid(s->pid);
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)s->pid);
	for (int i = 0; i < NSTARTS; i++) {
		static char out[OUT_MAX];
		int ofd = open(outpath[i], O_RDONLY);
		ssize_t n = ofd == -1 ? -1 : read(ofd, out, sizeof(out) - 1);

		if (ofd != -1)
			close(ofd);
		out[n > 0 ? n : 0] = '\0';
		if (exited_with(st[i], 0)) {
			if (won != -1)
				IT_FAIL("starts %d and %d both succeeded", won, i);
			won = i;
		} else if (exited_with(st[i], 1)) {
			refused++;
			IT_ASSERT_STR_HAS(out, want);
		} else {
			IT_FAIL("start %d: %s, output:\n%s", i, it_status_str(st[i]), out);
		}
	}
	IT_ASSERT_INT(won, !=, -1);
	IT_ASSERT_INT(refused, ==, NSTARTS - 1);
	/* one server bound the port: one "listener long on" line in the shared log */
	IT_ASSERT_INT(srv_log_count(s, "listener long on"), ==, 1);
	IT_ASSERT(proc_is_sockserv(s->pid));
	fd = connect_to(s, "long");
	echo_once(fd, "the one that won");
	close(fd);
	daemon_stop(s);
}

/*
 * The lock decides, not what the file says: held by a "master" that has not
 * written its pid yet (an empty file), then naming a live process that is
 * not called sockserv (the old /proc name check took both for no server,
 * and two servers ran).  Once the lock is dropped the start goes through.
 */
static void
test_start_is_refused_while_another_holds_the_pid_file_lock(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	char out[4096], text[32], want[64];
	int fd, st;

	fd = open(s->pid_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	IT_ASSERT(fd != -1);
	IT_ASSERT(flock(fd, LOCK_EX) == 0);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, "already running");
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	IT_ASSERT(pwrite(fd, text, strlen(text), 0) == (ssize_t)strlen(text));
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)getpid());
	IT_ASSERT_STR_HAS(out, want);
	/* refused before binding */
	IT_ASSERT(cli_connect(srv_addr(s, "long"), srv_port(s, "long")) == -1);
	IT_ASSERT_INT(srv_log_count(s, "listener long on"), ==, 0);
	close(fd);
	daemon_start(s);
	daemon_stop(s);
}

/*
 * -s signals only the process that holds the pid file's lock.  A stale
 * file naming a live sockserv (its pid recycled by another server, which
 * the old /proc name check took for ours) signals nobody, and a start
 * takes that file over.
 */
static void
test_signal_option_judges_by_the_lock_not_the_pid(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	struct srv *other = daemon_prepare(&c);
	char out[4096], text[32];
	int st;

	/* another live server, named by a stale copy of our pid file */
	other->pid = 0;
	daemon_start(other);
	snprintf(text, sizeof(text), "%ld\n", (long)other->pid);
	IT_ASSERT(it_write_file(s->pid_path, text) == 0);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "stop", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, "no process holds its lock");
	IT_ASSERT(proc_is_sockserv(other->pid));
	/* and a start takes that stale file over */
	daemon_start(s);
	IT_ASSERT(s->pid != other->pid);
	daemon_stop(s);
	daemon_stop(other);
}

static void
test_signal_option_without_a_server_exits_1_with_a_message(void)
{
	static const char *const sigs[] = { "stop", "quit", "reload", "reopen" };
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	char out[4096], text[32];
	pid_t other;
	int st;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", sigs[i],
		    (char *)NULL);
		IT_ASSERT(exited_with(st, 1));
		IT_ASSERT_STR_HAS(out, "not running");
		IT_ASSERT_STR_HAS(out, s->pid_path);
	}
	/* a pid file naming a process that is not sockserv is no server either */
	other = fork();
	IT_ASSERT(other != -1);
	if (other == 0) {
		pause();
		_exit(0);
	}
	snprintf(text, sizeof(text), "%ld\n", (long)other);
	IT_ASSERT(it_write_file(s->pid_path, text) == 0);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "stop", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, "names no live sockserv");
	/* and it was not signalled */
	IT_ASSERT(proc_alive(other));
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "restart", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, "stop, quit, reload, reopen or upgrade");
	check_sanitizer_logs(s->dir);
}

/*
 * A pid file that cannot be created (here: its directory is a regular
 * file) is reported on the terminal and in the log with status 1, and
 * nothing is left running or listening.  (The lock is taken before the
 * sockets are bound and before the daemon forks.)
 */
static void
test_start_failure_on_the_pid_file_reaches_the_terminal(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	char out[4096], blocker[sizeof(s->dir) + 16];
	int st;

	snprintf(blocker, sizeof(blocker), "%s/not-a-dir", s->dir);
	IT_ASSERT(it_write_file(blocker, "") == 0);
	snprintf(s->pid_path, sizeof(s->pid_path), "%s/sockserv.pid", blocker);
	guard_say("file %s", s->pid_path);
	write_cfg(s, &c);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, s->pid_path);
	IT_ASSERT_STR_HAS(out, "Not a directory");
	/* logged too */
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "error: .*not-a-dir/sockserv.pid") == 0);
	IT_ASSERT(access(s->stats_path, F_OK) == -1);
	/* the listening sockets went with it */
	IT_ASSERT(cli_connect(srv_addr(s, "long"), srv_port(s, "long")) == -1);
	check_sanitizer_logs(s->dir);
}

/* a port bound without SO_REUSEPORT: the error is on the terminal before any fork */
static void
test_start_failure_to_bind_is_reported_with_status_1(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	struct sockaddr_in sin;
	char out[4096];
	int fd, st, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_ASSERT(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)srv_port(s, "long"));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 1) == -1)
		IT_SKIP("port %d taken meanwhile: %s", srv_port(s, "long"), strerror(errno));
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, "cannot listen");
	IT_ASSERT(access(s->pid_path, F_OK) == -1);
	close(fd);
	check_sanitizer_logs(s->dir);
}

/* ------------------------------------------------------------------ */
/* reload                                                              */

static void
test_reload_with_a_bad_config_keeps_serving_and_logs_the_line(void)
{
	struct dcfg c = { .workers = 2 };
	struct dcfg bad = { .workers = 2, .top = "bogus_key = 1;" };
	struct srv *s = daemon_prepare(&c);
	char out[4096], want[sizeof(s->cfg_path) + 8];
	int a, b, st;
	pid_t w0, w1;

	daemon_start(s);
	w0 = s->workers[0];
	w1 = s->workers[1];
	a = connect_to(s, "long");
	echo_once(a, "before");
	write_cfg(s, &bad);
	snprintf(want, sizeof(want), "%s:7:", s->cfg_path);
	/*
	 * -s reload asks anyway (the server is the judge and logs the
	 * verdict), but says on the terminal and in its status that nothing
	 * changes.
	 */
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "reload", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT_STR_HAS(out, "keeps its current configuration");
	if (srv_log_wait(s, 5000, NULL, 0,
	    "error: reload failed, keeping the running configuration: %s:7: ", s->cfg_path) == -1) {
		srv_dump_log(s, 20);
		IT_FAIL("no \"reload failed ... %s\" line after -s reload", want);
	}
	/* a plain SIGHUP (kill -HUP, systemctl reload) gets the same answer */
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	if (srv_log_wait_count(s, 2, 5000,
	    "error: reload failed, keeping the running configuration: %s:7: ", s->cfg_path) != 2) {
		srv_dump_log(s, 20);
		IT_FAIL("no second \"reload failed ... %s\" line after kill -HUP", want);
	}
	/* nothing changed: the same workers, the old connection, new ones */
	echo_once(a, "after");
	b = connect_to(s, "long");
	echo_once(b, "new one");
	IT_ASSERT(proc_alive(w0) && proc_alive(w1));
	IT_ASSERT_INT(srv_log_count(s, "reload done"), ==, 0);
	IT_ASSERT_INT(srv_log_count(s, "worker [0-9]+ started"), ==, 0);
	close(a);
	close(b);
	/* the bad file still names the pid file */
	daemon_stop(s);
}

/* append a line to the configuration; its line number */
static int
append_cfg_line(struct srv *s, const char *text)
{
	FILE *f = fopen(s->cfg_path, "re+");
	int ch, lines = 0;

	if (f == NULL)
		IT_FAIL("fopen %s: %s", s->cfg_path, strerror(errno));
	while ((ch = getc(f)) != EOF)
		lines += ch == '\n';
	fprintf(f, "%s\n", text);
	if (fclose(f) == EOF)
		IT_FAIL("write %s: %s", s->cfg_path, strerror(errno));
	return lines + 1;
}

/*
 * The operator edits the file, makes a mistake, and then wants the logs
 * reopened or the server stopped: those must still work (a warning names
 * the mistake), and so must sockserv-stat -c.  A reload is refused by the
 * server, which keeps serving.  Only a file libconfig cannot parse at all
 * names no pid file; then nothing is signalled.
 */
static void
test_signals_work_while_the_config_file_is_broken(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	static char out[OUT_MAX];
	char warn[sizeof(s->cfg_path) + 64];
	int line, st, fd;

	daemon_start(s);
	fd = connect_to(s, "long");
	echo_once(fd, "before the edit");
	line = append_cfg_line(s, "junk = 1;");
	snprintf(warn, sizeof(warn), "warning: %s:%d: unknown key 'junk'", s->cfg_path, line);

	srv_log_mark(s);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "reopen", (char *)NULL);
	if (!exited_with(st, 0))
		IT_FAIL("sockserv -s reopen: %s, output:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, warn);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "info: log reopened") == 0);

	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--json", (char *)NULL);
	if (!exited_with(st, 0))
		IT_FAIL("sockserv-stat -c: %s, output:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, warn);
	IT_ASSERT_STR_HAS(out, "\"config_generation\":1");

	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "reload", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	IT_ASSERT_STR_HAS(out, warn);
	IT_ASSERT_STR_HAS(out, "keeps its current configuration");
	if (srv_log_wait(s, 5000, NULL, 0, "error: reload failed, keeping the running "
	    "configuration: %s:%d: unknown key 'junk'", s->cfg_path, line) == -1) {
		srv_dump_log(s, 20);
		IT_FAIL("no \"reload failed\" line naming %s:%d", s->cfg_path, line);
	}
	echo_once(fd, "after the refused reload");
	IT_ASSERT_INT(srv_log_count(s, "reload done"), ==, 0);

	/* a syntax error hides the pid file: an error, and the server is untouched */
	line = append_cfg_line(s, "more junk");
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "stop", (char *)NULL);
	IT_ASSERT(exited_with(st, 1));
	snprintf(warn, sizeof(warn), "%s:%d: ", s->cfg_path, line);
	IT_ASSERT_STR_HAS(out, warn);
	IT_ASSERT_STR_HAS(out, "nothing was signalled");
	IT_ASSERT(proc_alive(s->pid));
	echo_once(fd, "still served");
	close(fd);

	/* back to the mistake libconfig can parse: stop works */
	write_cfg(s, &c);
	append_cfg_line(s, "junk = 1;");
	daemon_stop(s);
}

/*
 * A pipe the starter left open without close-on-exec (a shell's command
 * substitution, a supervisor's status pipe) must not stay open in the
 * daemon: whoever reads it waits for EOF, and would wait for as long as
 * the server runs.
 */
static void
test_daemon_closes_descriptors_its_starter_left_open(void)
{
	struct dcfg c = { .workers = 2 };
	struct srv *s = daemon_prepare(&c);
	pid_t procs[1 + SRV_MAX_WORKERS];
	struct pollfd pfd;
	struct stat sb;
	char want[64], link[256], path[PATH_MAX];
	int p[2], nprocs = 0, r;
	char byte;

	/* after daemon_prepare: the guardian it forks must not hold the pipe */
	IT_ASSERT(pipe(p) == 0);
	IT_ASSERT(fstat(p[0], &sb) == 0);
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)sb.st_ino);
	daemon_start(s);
	close(p[1]);

	procs[nprocs++] = s->pid;
	for (int i = 0; i < s->nworkers; i++)
		procs[nprocs++] = s->workers[i];
	for (int i = 0; i < nprocs; i++) {
		char dpath[64];
		DIR *d;
		struct dirent *e;

		snprintf(dpath, sizeof(dpath), "/proc/%ld/fd", (long)procs[i]);
		IT_ASSERT((d = opendir(dpath)) != NULL);
		while ((e = readdir(d)) != NULL) {
			ssize_t n;

			snprintf(path, sizeof(path), "%s/%s", dpath, e->d_name);
			if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want) == 0)
				IT_FAIL("%s %ld holds the starter's %s as fd %s",
				    i == 0 ? "master" : "worker", (long)procs[i], want,
				    e->d_name);
		}
		closedir(d);
	}
	/* the starter has exited, so the read end sees EOF at once */
	pfd.fd = p[0];
	pfd.events = POLLIN;
	pfd.revents = 0;
	IT_ASSERT_INT(poll(&pfd, 1, 5000), ==, 1);
	r = (int)read(p[0], &byte, 1);
	IT_ASSERT_INT(r, ==, 0);
	close(p[0]);
	daemon_stop(s);
}

struct loop_result {
	int connects;
	int refused;
	int failed;
	char first_error[200];
};

/*
 * A client that connects, gets one echo and closes, again and again until
 * ctl is closed; it reports through res.  Runs in a child of the test.
 */
static void __attribute__((noreturn))
connect_loop(const char *addr, int port, int ctl, int res)
{
	struct loop_result r;
	struct pollfd p = { ctl, POLLIN, 0 };

	memset(&r, 0, sizeof(r));
	while (poll(&p, 1, 0) == 0) {
		struct sockaddr_in sin;
		struct it_frame f;
		char msg[32];
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), st;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &sin.sin_addr);
		r.connects++;
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			if (errno == ECONNREFUSED)
				r.refused++;
			else
				r.failed++;
			if (r.first_error[0] == '\0')
				snprintf(r.first_error, sizeof(r.first_error), "connect #%d: %s",
				    r.connects, strerror(errno));
			close(fd);
			continue;
		}
		snprintf(msg, sizeof(msg), "loop %d", r.connects);
		st = cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)strlen(msg));
		if (st == CLI_OK)
			st = cli_read_frame(fd, &f, IT_IO_TIMEOUT_MS);
		if (st == CLI_OK) {
			if (f.type != FRAME_DATA || f.len != strlen(msg) ||
			    memcmp(f.payload, msg, f.len) != 0)
				st = CLI_DATA;
			it_frame_free(&f);
		}
		if (st != CLI_OK) {
			r.failed++;
			if (r.first_error[0] == '\0')
				snprintf(r.first_error, sizeof(r.first_error), "echo #%d: %s",
				    r.connects, cli_status_name(st));
		}
		close(fd);
	}
	if (write(res, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	_exit(0);
}

/*
 * 2 -> 3 workers, a shorter heartbeat and a new listener, while a client
 * connects in a loop: no attempt is refused or fails, the connection made
 * before the reload keeps echoing on its old worker, new connections get
 * the new heartbeat, the new listener answers, and the statistics show
 * generation 2 with three workers running it.
 */
static void
test_reload_to_three_workers_refuses_nothing_and_drops_nothing(void)
{
	struct dcfg c = { .workers = 2, .lst = "heartbeat_timeout = 30;" };
	struct dcfg c2 = { .workers = 3, .nlisteners = 2, .lst = "heartbeat_timeout = 2;" };
	struct srv *s = daemon_prepare(&c);
	struct loop_result r;
	struct it_frame f;
	struct mj *root;
	const struct mj *workers;
	uint64_t gen = 0, v;
	char out[4096];
	int ctl[2], res[2], e, n, st, running_new = 0;
	int64_t t0, waited;
	pid_t loop;

	daemon_start(s);
	e = connect_to(s, "long");
	echo_once(e, "established before the reload");

	IT_ASSERT(pipe2(ctl, O_CLOEXEC) == 0 && pipe2(res, O_CLOEXEC) == 0);
	fflush(NULL);
	loop = fork();
	IT_ASSERT(loop != -1);
	if (loop == 0) {
		close(ctl[1]);
		close(res[0]);
		connect_loop(srv_addr(s, "long"), srv_port(s, "long"), ctl[0], res[1]);
	}
	close(ctl[0]);
	close(res[1]);
	it_sleep_ms(300);

	write_cfg(s, &c2);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "reload", (char *)NULL);
	IT_ASSERT(exited_with(st, 0));
	if (srv_log_wait(s, 10000, NULL, 0,
	    "reload done: generation 2, 3 workers, 2 draining") == -1) {
		srv_dump_log(s, 30);
		IT_FAIL("no \"reload done: generation 2, 3 workers, 2 draining\" line");
	}
	IT_ASSERT(srv_log_wait(s, 10000, NULL, 0, "worker 2 running") == 0);
	/* the established connection lives on while the loop keeps going */
	for (int i = 0; i < 5; i++) {
		echo_once(e, "still here");
		it_sleep_ms(100);
	}
	close(ctl[1]);
	IT_ASSERT(read(res[0], &r, sizeof(r)) == (ssize_t)sizeof(r));
	waitpid(loop, NULL, 0);
	if (r.refused != 0 || r.failed != 0)
		IT_FAIL("%d of %d connection attempts refused and %d failed during the "
		    "reload; first: %s", r.refused, r.connects, r.failed, r.first_error);
	IT_ASSERT_INT(r.connects, >=, 10);

	/* the new listener is bound and served */
	n = connect_to(s, "added");
	echo_once(n, "new listener");
	close(n);

	/* a new connection gets the new 2 s heartbeat */
	n = connect_to(s, "long");
	echo_once(n, "one message, then silence");
	t0 = it_now_ms();
	IT_ASSERT_STATUS(cli_read_frame(n, &f, 10000), CLI_OK);
	waited = it_now_ms() - t0;
	IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
	IT_ASSERT_INT(frame_error_code(&f), ==, 5);
	IT_ASSERT_STR_HAS((const char *)f.payload + 2, "heartbeat timeout after 2 s");
	IT_ASSERT_INT(waited, >=, 1500);
	IT_ASSERT_INT(waited, <, 8000);
	it_frame_free(&f);
	close(n);

	/* the old one (30 s heartbeat, draining worker) is still served */
	echo_once(e, "old worker, old heartbeat");

	root = srv_stat_json(s);
	IT_ASSERT(mj_uint(root, "config_generation", &gen) == 0);
	IT_ASSERT_INT(gen, ==, 2);
	IT_ASSERT(mj_uint(root, "workers_configured", &v) == 0);
	IT_ASSERT_INT(v, ==, 3);
	workers = mj_get(root, "workers");
	IT_ASSERT(workers != NULL && workers->type == MJ_ARR);
	for (size_t i = 0; i < workers->n; i++) {
		const struct mj *w = mj_at(workers, i);
		const char *state = mj_str(w, "state");

		if (mj_uint(w, "config_generation", &v) == 0 && v == 2 && state != NULL &&
		    strcmp(state, "running") == 0)
			running_new++;
	}
	IT_ASSERT_INT(running_new, ==, 3);
	mj_free(root);
	close(e);
	daemon_stop(s);
}

/* ------------------------------------------------------------------ */
/* stopping                                                            */

static void
test_graceful_quit_lets_an_active_connection_finish(void)
{
	struct dcfg c = { .workers = 2, .top = "shutdown_timeout = 30;" };
	struct srv *s = daemon_prepare(&c);
	char out[4096];
	int a, st, fd = -1, refused = 0;
	int64_t deadline;

	daemon_start(s);
	a = connect_to(s, "long");
	echo_once(a, "before quit");
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "quit", (char *)NULL);
	IT_ASSERT(exited_with(st, 0));
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "draining 1 connections") == 0);
	/* no new clients: they are refused, not left waiting in a queue */
	deadline = it_now_ms() + 5000;
	while (!refused && it_now_ms() < deadline) {
		fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		if (fd == -1)
			refused = 1;
		else
			close(fd);
		it_sleep_ms(20);
	}
	IT_ASSERT(refused);
	/* the active one goes on talking for a while */
	for (int i = 0; i < 10; i++) {
		echo_once(a, "still talking");
		it_sleep_ms(100);
	}
	IT_ASSERT(proc_alive(s->pid));
	IT_ASSERT(access(s->pid_path, F_OK) == 0);
	/* it ends by itself; then the server goes, well before shutdown_timeout */
	close(a);
	IT_ASSERT(wait_gone(s->pid, 10000) == 0);
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "close long .* reason peer") == 0);
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "info: exiting") == 0);
	IT_ASSERT(access(s->pid_path, F_OK) == -1);
	s->pid = -1;
	check_sanitizer_logs(s->dir);
}

static void
test_fast_stop_sends_error_7_and_master_exits_within_2s(void)
{
	enum { NCLI = 4 };
	struct dcfg c = { .workers = 2 };
	struct srv *s = daemon_prepare(&c);
	int fds[NCLI];
	int64_t t0, took;

	daemon_start(s);
	for (int i = 0; i < NCLI; i++) {
		fds[i] = connect_to(s, "long");
		echo_once(fds[i], "held");
	}
	t0 = it_now_ms();
	IT_ASSERT(kill(s->pid, SIGTERM) == 0);
	for (int i = 0; i < NCLI; i++) {
		struct it_frame f;

		IT_ASSERT_STATUS(cli_read_frame(fds[i], &f, IT_IO_TIMEOUT_MS), CLI_OK);
		IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
		IT_ASSERT_INT(frame_error_code(&f), ==, 7);
		IT_ASSERT_STR_HAS((const char *)f.payload + 2, "shutting down");
		it_frame_free(&f);
		IT_ASSERT_INT(cli_wait_eof(fds[i], IT_IO_TIMEOUT_MS), ==, CLI_EOF);
		close(fds[i]);
	}
	IT_ASSERT(wait_gone(s->pid, 10000) == 0);
	took = it_now_ms() - t0;
	IT_ASSERT_INT(took, <=, 2000);
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "info: exiting") == 0);
	IT_ASSERT(access(s->pid_path, F_OK) == -1);
	s->pid = -1;
	check_sanitizer_logs(s->dir);
}

/* ------------------------------------------------------------------ */
/* log file and privileges                                             */

/*
 * logrotate's way: move the file, -s reopen, and the master's and the
 * workers' next lines land in a new file at the old path.  As root the
 * workers run as nobody, so the new file must be theirs to reopen.
 */
static void
test_reopen_after_moving_the_log_writes_a_new_file(void)
{
	struct dcfg c = { .workers = 2, .top = geteuid() == 0 && getpwnam("nobody") ?
	    "user = \"nobody\";" : NULL };
	struct srv *s = daemon_prepare(&c);
	char moved[sizeof(s->log_path) + 8], out[4096], line[1024];
	char **v;
	int fd, port = 0, n, st, seen[2] = { 0, 0 };
	int64_t deadline;
	pid_t who;

	if (c.top != NULL)
		open_dir_to_all(s);
	daemon_start(s);
	snprintf(moved, sizeof(moved), "%s.1", s->log_path);
	IT_ASSERT(rename(s->log_path, moved) == 0);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, "-s", "reopen", (char *)NULL);
	IT_ASSERT(exited_with(st, 0));
	/* the new file appears with the master's line in it */
	s->mark = 0;
	if (it_file_wait(s->log_path, 0, 5000, NULL, 0, "info: log reopened") == -1)
		IT_FAIL("no \"log reopened\" line in a new %s", s->log_path);
	IT_ASSERT(it_file_wait(moved, 0, 1000, NULL, 0, "log reopened") == -1);
	/*
	 * Every worker's lines: they reopen on the USR1 the master sends after
	 * its own reopen.  Connections land on either worker, so connect until
	 * both have logged an accept in the new file.
	 */
	deadline = it_now_ms() + 10000;
	while (!(seen[0] && seen[1]) && it_now_ms() < deadline) {
		fd = connect_to(s, "long");
		port = cli_local_port(fd);
		echo_once(fd, "after reopen");
		close(fd);
		if (srv_log_wait(s, 1000, line, sizeof(line), "accept long 127\\.0\\.0\\.1:%d$",
		    port) == -1)
			continue;
		who = it_log_line_pid(line);
		for (int i = 0; i < 2; i++)
			seen[i] |= who == s->workers[i];
	}
	if (!(seen[0] && seen[1])) {
		it_file_tail(moved, 20, "  old| ");
		IT_FAIL("worker %ld%s and %ld%s in the new %s", (long)s->workers[0],
		    seen[0] ? " logged" : " did not log", (long)s->workers[1],
		    seen[1] ? " logged" : " did not log", s->log_path);
	}
	/* and nothing of theirs went to the moved file after that */
	v = it_file_grep(moved, 0, &n, "accept long 127\\.0\\.0\\.1:%d$", port);
	it_strv_free(v);
	IT_ASSERT_INT(n, ==, 0);
	if (c.top != NULL) {
		struct stat sb;

		IT_ASSERT(stat(s->log_path, &sb) == 0);
		IT_ASSERT_INT(sb.st_uid, ==, getpwnam("nobody")->pw_uid);
	}
	daemon_stop(s);
}

static void
test_workers_drop_privileges_to_the_configured_user(void)
{
	struct dcfg c = { .workers = 2, .top = "user = \"nobody\";" };
	struct srv *s;
	struct stat sb;
	char line[256], want[64];
	uid_t uid;
	gid_t gid;
	int fd, n;

	it_need_root_and_nobody(&uid, &gid);
	s = daemon_prepare(&c);
	daemon_start(s);
	for (int i = 0; i < 2; i++) {
		pid_t w = s->workers[i];

		IT_ASSERT(proc_ppid(w) == s->pid);
		IT_ASSERT(it_proc_status_line(w, "Uid", line, sizeof(line)) == 0);
		snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
		if (strcmp(line, want) != 0)
			IT_FAIL("worker %ld Uid:%s, expected nobody (%u) everywhere", (long)w,
			    line, uid);
		IT_ASSERT(it_proc_status_line(w, "Gid", line, sizeof(line)) == 0);
		snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u\n", gid, gid, gid, gid);
		if (strcmp(line, want) != 0)
			IT_FAIL("worker %ld Gid:%s, expected %u everywhere", (long)w, line, gid);
		/* setgroups: the one group, none of root's left */
		IT_ASSERT(it_proc_status_line(w, "Groups", line, sizeof(line)) == 0);
		snprintf(want, sizeof(want), "%u", gid);
		if (strcmp(strtok(line, " \t\n"), want) != 0 || strtok(NULL, " \t\n") != NULL)
			IT_FAIL("worker %ld Groups: not just %u", (long)w, gid);
	}
	/* the master stays root: it must bind again on reload */
	IT_ASSERT(it_proc_status_line(s->pid, "Uid", line, sizeof(line)) == 0);
	IT_ASSERT(strncmp(line, "\t0\t", 3) == 0);
	/*
	 * The segment is the master's (root), readable by all: workers write
	 * their slot through the mapping they inherit, never through the file.
	 */
	IT_ASSERT(stat(s->stats_path, &sb) == 0);
	IT_ASSERT_INT(sb.st_uid, ==, 0);
	IT_ASSERT_INT(sb.st_mode & 07777, ==, 0644);
	IT_ASSERT(stat(s->log_path, &sb) == 0);
	IT_ASSERT_INT(sb.st_uid, ==, uid);
	/* no warning about root workers, and they serve */
	it_strv_free(it_file_grep(s->log_path, 0, &n, "workers run as root"));
	IT_ASSERT_INT(n, ==, 0);
	fd = connect_to(s, "long");
	echo_once(fd, "served by nobody");
	close(fd);
	daemon_stop(s);
}

/*
 * pid_file and stats_path in a directory that does not exist yet (as
 * /run/sockserv after a boot): the daemon creates it 0755 despite its umask
 * 027, the pid file is 0644, and the workers' user can run sockserv-stat.
 */
static void
test_created_run_directory_lets_the_workers_user_read_stats(void)
{
	struct dcfg c = { .workers = 1, .top = "user = \"nobody\";" };
	const char *prog = it_stat_prog();
	char rundir[PATH_MAX];
	struct srv *s;
	struct stat sb;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int st;

	it_need_root_and_nobody(&uid, &gid);
	s = daemon_prepare(&c);
	open_dir_to_all(s);
	snprintf(rundir, sizeof(rundir), "%s/run", s->dir);
	snprintf(s->pid_path, sizeof(s->pid_path), "%s/run/sockserv.pid", s->dir);
	snprintf(s->stats_path, sizeof(s->stats_path), "%s/run/sockserv.shm", s->dir);
	write_cfg(s, &c);
	guard_say("file %s", s->pid_path);
	daemon_start(s);

	IT_ASSERT(stat(rundir, &sb) == 0);
	IT_ASSERT_INT(sb.st_mode & 07777, ==, 0755);
	IT_ASSERT(stat(s->pid_path, &sb) == 0);
	IT_ASSERT_INT(sb.st_mode & 07777, ==, 0644);

	fflush(NULL);
	pid = fork();
	IT_ASSERT(pid != -1);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null == -1 || dup2(null, 1) == -1 || dup2(null, 2) == -1 ||
		    setgroups(0, NULL) == -1 || setgid(gid) == -1 || setuid(uid) == -1)
			_exit(100);
		execl(prog, prog, "-s", s->stats_path, (char *)NULL);
		_exit(101);
	}
	IT_ASSERT(waitpid(pid, &st, 0) == pid);
	if (!exited_with(st, 0))
		IT_FAIL("sockserv-stat -s %s as nobody: %s", s->stats_path, it_status_str(st));
	daemon_stop(s);
}

static void
test_root_workers_are_allowed_with_a_warning(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s;
	char out[4096];
	int st, fd;

	if (geteuid() != 0)
		IT_SKIP("the warning is about root (CI runs as root)");
	s = daemon_prepare(&c);
	st = run_sockserv(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	IT_ASSERT(exited_with(st, 0));
	s->pid = read_pidfile(s->pid_path);
	watch_pid(s->pid);
	/* on the terminal of the start command and in the log */
	IT_ASSERT_STR_HAS(out, "workers run as root");
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "warn: workers run as root") == 0);
	fd = connect_to(s, "long");
	echo_once(fd, "root worker");
	close(fd);
	daemon_stop(s);
}

/* ------------------------------------------------------------------ */
/* make install and the init script                                    */

/* the source tree: the nearest directory above the build directory with a Makefile */
static const char *
source_dir(void)
{
	static char dir[PATH_MAX];
	char probe[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "%s", it_build_dir());
	for (;;) {
		char *slash = strrchr(dir, '/');

		if (slash == NULL || slash == dir)
			IT_FAIL("no source tree (Makefile, init/sockserv) above %s",
			    it_build_dir());
		*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/init/sockserv", dir);
		if (access(probe, R_OK) == 0) {
			snprintf(probe, sizeof(probe), "%s/Makefile", dir);
			if (access(probe, R_OK) == 0)
				return dir;
		}
	}
}

/*
 * `make install` (or uninstall) into destdir from the programs already
 * built: -o keeps make from rebuilding them (the build may be a sanitizer
 * one that a plain make would overwrite).
 */
static void
make_target(const char *target, const char *destdir)
{
	static char out[OUT_MAX];
	char build[PATH_MAX + 16], dest[PATH_MAX + 16];
	char o[4][PATH_MAX + 32];
	const char *progs[] = { "sockserv", "sockserv-client", "sockserv-stat", "sockserv-bench" };
	char *argv[24];
	int n = 0, st;

	argv[n++] = (char *)"/usr/bin/env";
	argv[n++] = (char *)"-u";
	argv[n++] = (char *)"MAKEFLAGS";
	argv[n++] = (char *)"-u";
	argv[n++] = (char *)"MAKELEVEL";
	argv[n++] = (char *)"-u";
	argv[n++] = (char *)"MFLAGS";
	argv[n++] = (char *)"make";
	argv[n++] = (char *)"--no-print-directory";
	argv[n++] = (char *)"-C";
	argv[n++] = (char *)source_dir();
	snprintf(build, sizeof(build), "BUILD=%s", it_build_dir());
	argv[n++] = build;
	snprintf(dest, sizeof(dest), "DESTDIR=%s", destdir);
	argv[n++] = dest;
	for (int i = 0; i < 4; i++) {
		argv[n++] = (char *)"-o";
		snprintf(o[i], sizeof(o[i]), "%s/%s", it_build_dir(), progs[i]);
		argv[n++] = o[i];
	}
	argv[n++] = (char *)target;
	argv[n] = NULL;
	st = it_run(argv, out, sizeof(out), 60000);
	if (!exited_with(st, 0))
		IT_FAIL("make %s DESTDIR=%s: %s, output:\n%s", target, destdir,
		    it_status_str(st), out);
}

static int
file_mode(const char *dir, const char *rel, mode_t *mode)
{
	char path[PATH_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "%s%s", dir, rel);
	if (stat(path, &sb) == -1) {
		it_note("%s: %s", path, strerror(errno));
		return -1;
	}
	*mode = sb.st_mode & 07777;
	return 0;
}

static void
test_make_install_lays_out_the_files_and_uninstall_removes_them(void)
{
	static const struct { const char *path; mode_t mode; } files[] = {
		{ "/usr/local/sbin/sockserv", 0755 },
		{ "/usr/local/bin/sockserv-client", 0755 },
		{ "/usr/local/etc/sockserv/sockserv.cfg", 0644 },
		{ "/etc/init.d/sockserv", 0755 },
		{ "/etc/default/sockserv", 0644 },
		{ "/lib/systemd/system/sockserv.service", 0644 },
		{ "/usr/local/share/man/man8/sockserv.8", 0644 },
		{ "/usr/local/share/man/man5/sockserv.cfg.5", 0644 },
		{ "/usr/local/share/man/man1/sockserv-client.1", 0644 },
	};
	const char *dest = it_mkdtemp();
	char cfg[PATH_MAX], out[4096], path[PATH_MAX + 32];
	char *argv[] = { path, (char *)"-t", (char *)"-c", cfg, NULL };
	char **v;
	mode_t mode;
	int n, st;

	make_target("install", dest);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (file_mode(dest, files[i].path, &mode) == -1)
			IT_FAIL("make install did not install %s", files[i].path);
		if (mode != files[i].mode)
			IT_FAIL("%s has mode %o, expected %o", files[i].path, mode,
			    files[i].mode);
	}
	/* the installed config is the daemon variant, and valid */
	snprintf(cfg, sizeof(cfg), "%s/usr/local/etc/sockserv/sockserv.cfg", dest);
	snprintf(path, sizeof(path), "%s/usr/local/sbin/sockserv", dest);
	st = it_run(argv, out, sizeof(out), RUN_TIMEOUT_MS);
	if (!exited_with(st, 0))
		IT_FAIL("the installed config does not check: %s", out);
	v = it_file_grep(cfg, 0, &n, "^pid_file = \"/run/sockserv/sockserv.pid\";|"
	    "^stats_path = \"/run/sockserv/sockserv.shm\";|^user = \"nobody\";|"
	    "^[[:space:]]*target = \"syslog\";");
	it_strv_free(v);
	IT_ASSERT_INT(n, ==, 4);
	/* the installed programs look for that file by default */
	argv[1] = (char *)"-h";
	argv[2] = NULL;
	st = it_run(argv, out, sizeof(out), RUN_TIMEOUT_MS);
	IT_ASSERT(exited_with(st, 0));
	IT_ASSERT_STR_HAS(out, "/usr/local/etc/sockserv/sockserv.cfg");
	/* the init script knows where the binary went */
	snprintf(path, sizeof(path), "%s/etc/init.d/sockserv", dest);
	v = it_file_grep(path, 0, &n, "^DAEMON=\\$\\{DAEMON:-/usr/local/sbin/sockserv\\}$");
	it_strv_free(v);
	IT_ASSERT_INT(n, ==, 1);

	/* an edited config survives a second install and the uninstall */
	IT_ASSERT(it_write_file(cfg, "# edited by the administrator\n") == 0);
	make_target("install", dest);
	v = it_file_grep(cfg, 0, &n, "edited by the administrator");
	it_strv_free(v);
	IT_ASSERT_INT(n, ==, 1);
	snprintf(path, sizeof(path), "%s.new", cfg);
	IT_ASSERT(access(path, F_OK) == 0);

	make_target("uninstall", dest);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int gone = file_mode(dest, files[i].path, &mode) == -1;

		if (strcmp(files[i].path, "/usr/local/etc/sockserv/sockserv.cfg") == 0)
			IT_ASSERT(!gone);
		else if (!gone)
			IT_FAIL("make uninstall left %s", files[i].path);
	}
	IT_ASSERT(access(path, F_OK) == -1);
	free((void *)(uintptr_t)dest);
}

struct init_env {
	char dest[PATH_MAX];
	char script[PATH_MAX + 32];
};

/* env for the init script: the installed binary, the test's config and pid file */
static void
init_setup(struct init_env *ie, struct srv *s, const char *lsb)
{
	const char *dest = it_mkdtemp();
	char daemon_path[PATH_MAX + 32], defaults[PATH_MAX + 32];

	if (access("/sbin/start-stop-daemon", X_OK) == -1 &&
	    access("/usr/sbin/start-stop-daemon", X_OK) == -1)
		IT_SKIP("no start-stop-daemon (Debian's dpkg package)");
	snprintf(ie->dest, sizeof(ie->dest), "%s", dest);
	free((void *)(uintptr_t)dest);
	make_target("install", ie->dest);
	snprintf(ie->script, sizeof(ie->script), "%s/etc/init.d/sockserv", ie->dest);
	snprintf(daemon_path, sizeof(daemon_path), "%s/usr/local/sbin/sockserv", ie->dest);
	snprintf(defaults, sizeof(defaults), "%s/etc/default/sockserv", ie->dest);
	setenv("DAEMON", daemon_path, 1);
	setenv("CONF", s->cfg_path, 1);
	setenv("PIDFILE", s->pid_path, 1);
	setenv("DEFAULTS", defaults, 1);
	if (lsb != NULL)
		setenv("LSB_FUNCTIONS", lsb, 1);
	else
		unsetenv("LSB_FUNCTIONS");
}

/* sh SCRIPT action: its exit code (the test fails if it did not exit) */
static int
init_run(const struct init_env *ie, const char *action, char *out, size_t outlen)
{
	char *argv[] = { (char *)"/bin/sh", (char *)ie->script, (char *)action, NULL };
	int st = it_run(argv, out, outlen, 30000);

	if (st == -1 || !WIFEXITED(st))
		IT_FAIL("%s %s: %s, output:\n%s", ie->script, action, it_status_str(st), out);
	return WEXITSTATUS(st);
}

/*
 * The init script's upgrade: the installed binary takes over (new pid in
 * the pid file, the old master gone, no .oldbin left), then one that
 * passes -t but fails at start leaves the running server and its pid
 * file alone, with exit 1.
 */
static void
init_script_upgrade(const struct init_env *ie, struct srv *s)
{
	char out[8192], bin[PATH_MAX + 64], tmp[PATH_MAX + 128], oldbin[700], cmd[5 * PATH_MAX];
	pid_t first = s->pid;
	int fd, rc;

	snprintf(oldbin, sizeof(oldbin), "%s.oldbin", s->pid_path);
	srv_log_mark(s);
	rc = init_run(ie, "upgrade", out, sizeof(out));
	if (rc != 0)
		IT_FAIL("init script upgrade: exit %d, output:\n%s", rc, out);
	IT_ASSERT(wait_gone(first, GONE_TIMEOUT_MS) == 0);
	s->pid = read_pidfile(s->pid_path);
	watch_pid(s->pid);
	IT_ASSERT(s->pid != first && proc_is_sockserv(s->pid));
	IT_ASSERT(access(oldbin, F_OK) == -1);
	fd = connect_to(s, "long");
	echo_once(fd, "after the upgrade");
	close(fd);

	/* a binary that says the config is fine but cannot start */
	snprintf(bin, sizeof(bin), "%s/usr/local/sbin/sockserv", ie->dest);
	snprintf(tmp, sizeof(tmp), "%s.broken", bin);
	IT_ASSERT(it_write_file(tmp, "#!/bin/sh\ncase \" $* \" in *\" -t \"*) exit 0 ;; esac\n"
	    "exit 1\n") == 0);
	IT_ASSERT(chmod(tmp, 0755) == 0);
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s.good' && mv '%s' '%s'", bin, bin, tmp, bin);
	IT_ASSERT(system(cmd) == 0);
	first = s->pid;
	rc = init_run(ie, "upgrade", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 1);
	IT_ASSERT_STR_HAS(out, "the upgrade failed");
	IT_ASSERT_INT(read_pidfile(s->pid_path), ==, first);
	IT_ASSERT(access(oldbin, F_OK) == -1);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "upgrade failed: the new master \\(pid [0-9]+\\) "
	    "exited with status 1 before it was ready; still serving") == 0);
	fd = connect_to(s, "long");
	echo_once(fd, "after the failed upgrade");
	close(fd);
	snprintf(cmd, sizeof(cmd), "mv '%s.good' '%s'", bin, bin);
	IT_ASSERT(system(cmd) == 0);
}

static void
init_script_cycle(const char *lsb)
{
	struct dcfg c = { .workers = 1 };
	struct dcfg c2 = { .workers = 2 };
	struct dcfg bad = { .workers = 1, .top = "bogus_key = 1;" };
	struct srv *s = daemon_prepare(&c);
	struct init_env ie;
	char out[8192], exe[PATH_MAX], link[PATH_MAX + 32], want[PATH_MAX + 16];
	ssize_t n;
	int fd, rc;
	pid_t first;

	init_setup(&ie, s, lsb);
	reap_daemons();

	/* not running yet */
	rc = init_run(&ie, "status", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 3);

	/* a bad config: start refuses with the FILE:LINE message */
	write_cfg(s, &bad);
	rc = init_run(&ie, "start", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 1);
	snprintf(want, sizeof(want), "%s:7:", s->cfg_path);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT(access(s->pid_path, F_OK) == -1);

	write_cfg(s, &c);
	rc = init_run(&ie, "start", out, sizeof(out));
	if (rc != 0)
		IT_FAIL("init script start: exit %d, output:\n%s", rc, out);
	/* listening when start returns */
	fd = connect_to(s, "long");
	s->pid = read_pidfile(s->pid_path);
	watch_pid(s->pid);
	IT_ASSERT(proc_is_sockserv(s->pid));
	echo_once(fd, "started by the init script");
	close(fd);
	/* it is the installed binary that runs */
	snprintf(link, sizeof(link), "/proc/%ld/exe", (long)s->pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	IT_ASSERT(n > 0);
	exe[n] = '\0';
	IT_ASSERT_STR_HAS(exe, ie.dest);

	rc = init_run(&ie, "status", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 0);
	IT_ASSERT_STR_HAS(out, "running");
	/* start again: already running is success, and the same server stays */
	rc = init_run(&ie, "start", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 0);
	IT_ASSERT_INT(read_pidfile(s->pid_path), ==, s->pid);

	/* reload with a good config: a new generation with 2 workers */
	srv_log_mark(s);
	write_cfg(s, &c2);
	rc = init_run(&ie, "reload", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 0);
	IT_ASSERT(srv_log_wait(s, 10000, NULL, 0, "reload done: generation 2, 2 workers") == 0);
	/* reload with a bad one: refused before the server hears of it */
	srv_log_mark(s);
	write_cfg(s, &bad);
	rc = init_run(&ie, "force-reload", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 1);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT_INT(srv_log_count(s, "reloading"), ==, 0);
	write_cfg(s, &c2);
	fd = connect_to(s, "long");
	echo_once(fd, "after the reloads");
	close(fd);
	init_script_upgrade(&ie, s);

	/* restart: a new master, serving */
	first = s->pid;
	rc = init_run(&ie, "restart", out, sizeof(out));
	if (rc != 0)
		IT_FAIL("init script restart: exit %d, output:\n%s", rc, out);
	IT_ASSERT(wait_gone(first, GONE_TIMEOUT_MS) == 0);
	s->pid = read_pidfile(s->pid_path);
	watch_pid(s->pid);
	IT_ASSERT(s->pid != first && proc_is_sockserv(s->pid));
	fd = connect_to(s, "long");
	echo_once(fd, "after restart");
	close(fd);

	rc = init_run(&ie, "stop", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 0);
	IT_ASSERT(wait_gone(s->pid, GONE_TIMEOUT_MS) == 0);
	IT_ASSERT(access(s->pid_path, F_OK) == -1);
	rc = init_run(&ie, "status", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 3);
	/* stopping a stopped server is fine; reloading it is not */
	rc = init_run(&ie, "stop", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 0);
	rc = init_run(&ie, "reload", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 7);

	/* a pid file left by a dead server: LSB status 1 */
	IT_ASSERT(it_write_file(s->pid_path, "999999999\n") == 0);
	rc = init_run(&ie, "status", out, sizeof(out));
	IT_ASSERT_INT(rc, ==, 1);
	unlink(s->pid_path);
	rc = init_run(&ie, "bogus", out, sizeof(out));
	IT_ASSERT_INT(rc, !=, 0);
	IT_ASSERT_STR_HAS(out, "Usage:");
	s->pid = -1;
	check_sanitizer_logs(s->dir);
}

static void
test_init_script_start_status_reload_restart_stop(void)
{
	if (access("/lib/lsb/init-functions", R_OK) == -1)
		IT_SKIP("no /lib/lsb/init-functions (the fallback test covers the script)");
	init_script_cycle("/lib/lsb/init-functions");
}

static void
test_init_script_works_without_lsb_functions(void)
{
	init_script_cycle("/nonexistent/init-functions");
}

/*
 * A binary upgrade of a daemon started with a relative -c whose pid file,
 * segment and log are relative too: the daemon has chdir'd to /, so the
 * new master must get -c made absolute and run in the start directory,
 * or it would create (and serve from) /sockserv.pid.  It ends in /, not
 * detached again (the old master's child until that exits).
 */
static void
test_upgrade_of_a_daemon_started_with_relative_paths(void)
{
	struct dcfg c = { .workers = 1 };
	struct srv *s = daemon_prepare(&c);
	char text[1024], out[4096], cwd[PATH_MAX], link[64], where[PATH_MAX];
	char *argv[] = { (char *)it_sockserv_path(), (char *)"-c", (char *)"sockserv.cfg", NULL };
	pid_t first, second;
	ssize_t n;
	int fd, st;

	snprintf(text, sizeof(text), "workers = 1;\nevent_backend = \"%s\";\n"
	    "pid_file = \"sockserv.pid\";\nstats_path = \"sockserv.shm\";\n"
	    "log = { target = \"server.log\"; level = \"debug\"; };\n"
	    "limits = { max_connections = 10000; };\n"
	    "listeners = ( { name = \"long\"; address = \"%s\"; port = %d; codec = \"frame\"; } );\n",
	    it_backend(), srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(it_write_file(s->cfg_path, text) == 0);
	reap_daemons();
	IT_ASSERT(getcwd(cwd, sizeof(cwd)) != NULL);
	IT_ASSERT(chdir(s->dir) == 0);
	st = it_run(argv, out, sizeof(out), RUN_TIMEOUT_MS);
	IT_ASSERT(chdir(cwd) == 0);
	if (!exited_with(st, 0))
		IT_FAIL("start: %s, output:\n%s", it_status_str(st), out);
	first = read_pidfile(s->pid_path);
	IT_ASSERT(first > 0);
	watch_pid(first);
	s->pid = first;
	s->nlisteners = 1;	/* the file above has "long" only */
	IT_ASSERT(srv_wait_ready(s, SRV_READY_TIMEOUT_MS) == 0);
	srv_log_mark(s);
	IT_ASSERT(kill(first, SIGUSR2) == 0);
	IT_ASSERT(srv_log_wait(s, 15000, NULL, 0, "upgrade: the new master \\(pid [0-9]+\\) "
	    "serves") == 0);
	IT_ASSERT(wait_gone(first, GONE_TIMEOUT_MS) == 0);
	second = read_pidfile(s->pid_path);
	IT_ASSERT(second > 0 && second != first);
	watch_pid(second);
	s->pid = second;
	IT_ASSERT(proc_is_sockserv(second));
	IT_ASSERT(access("/sockserv.pid", F_OK) == -1);
	snprintf(link, sizeof(link), "/proc/%ld/cwd", (long)second);
	n = readlink(link, where, sizeof(where) - 1);
	IT_ASSERT(n > 0);
	where[n] = '\0';
	IT_ASSERT(strcmp(where, "/") == 0);
	fd = connect_to(s, "long");
	echo_once(fd, "served by the upgraded daemon");
	close(fd);
	IT_ASSERT(kill(second, SIGTERM) == 0);
	IT_ASSERT(wait_gone(second, GONE_TIMEOUT_MS) == 0);
	IT_ASSERT(access(s->pid_path, F_OK) == -1);
	s->pid = -1;
	check_sanitizer_logs(s->dir);
}

static const struct it_test daemon_tests[] = {
	{ "test_start_returns_once_listening_and_stop_removes_everything",
	    test_start_returns_once_listening_and_stop_removes_everything, 0 },
	{ "test_second_start_is_refused_naming_the_running_pid",
	    test_second_start_is_refused_naming_the_running_pid, 0 },
	{ "test_stale_pid_file_is_replaced", test_stale_pid_file_is_replaced, 0 },
	{ "test_signal_option_without_a_server_exits_1_with_a_message",
	    test_signal_option_without_a_server_exits_1_with_a_message, 0 },
	{ "test_start_failure_on_the_pid_file_reaches_the_terminal",
	    test_start_failure_on_the_pid_file_reaches_the_terminal, 0 },
	{ "test_ten_starts_at_once_one_runs_nine_refused",
	    test_ten_starts_at_once_one_runs_nine_refused, 60 },
	{ "test_start_is_refused_while_another_holds_the_pid_file_lock",
	    test_start_is_refused_while_another_holds_the_pid_file_lock, 0 },
	{ "test_signal_option_judges_by_the_lock_not_the_pid",
	    test_signal_option_judges_by_the_lock_not_the_pid, 0 },
	{ "test_start_failure_to_bind_is_reported_with_status_1",
	    test_start_failure_to_bind_is_reported_with_status_1, 0 },
	{ "test_reload_with_a_bad_config_keeps_serving_and_logs_the_line",
	    test_reload_with_a_bad_config_keeps_serving_and_logs_the_line, 0 },
	{ "test_signals_work_while_the_config_file_is_broken",
	    test_signals_work_while_the_config_file_is_broken, 0 },
	{ "test_daemon_closes_descriptors_its_starter_left_open",
	    test_daemon_closes_descriptors_its_starter_left_open, 0 },
	{ "test_reload_to_three_workers_refuses_nothing_and_drops_nothing",
	    test_reload_to_three_workers_refuses_nothing_and_drops_nothing, 0 },
	{ "test_graceful_quit_lets_an_active_connection_finish",
	    test_graceful_quit_lets_an_active_connection_finish, 0 },
	{ "test_fast_stop_sends_error_7_and_master_exits_within_2s",
	    test_fast_stop_sends_error_7_and_master_exits_within_2s, 0 },
	{ "test_reopen_after_moving_the_log_writes_a_new_file",
	    test_reopen_after_moving_the_log_writes_a_new_file, 0 },
	{ "test_workers_drop_privileges_to_the_configured_user",
	    test_workers_drop_privileges_to_the_configured_user, 0 },
	{ "test_created_run_directory_lets_the_workers_user_read_stats",
	    test_created_run_directory_lets_the_workers_user_read_stats, 0 },
	{ "test_root_workers_are_allowed_with_a_warning",
	    test_root_workers_are_allowed_with_a_warning, 0 },
	{ "test_make_install_lays_out_the_files_and_uninstall_removes_them",
	    test_make_install_lays_out_the_files_and_uninstall_removes_them, 120 },
	{ "test_upgrade_of_a_daemon_started_with_relative_paths",
	    test_upgrade_of_a_daemon_started_with_relative_paths, 0 },
	{ "test_init_script_start_status_reload_restart_stop",
	    test_init_script_start_status_reload_restart_stop, 120 },
	{ "test_init_script_works_without_lsb_functions",
	    test_init_script_works_without_lsb_functions, 120 },
	{ NULL, NULL, 0 }
};
IT_SUITE(daemon, daemon_tests)
