/*
 * Supervision and statistics, seen from outside: what sockserv-stat reads
 * from the segment follows what clients do, a killed, stopped or crash-
 * looping worker is put back to work the way issue 5 says, a killed master
 * takes its workers with it, and sockserv-stat's formats, watch mode and
 * error exits behave.  Worker pids and per-connection ownership come from
 * the server's debug log ("accept NAME PEER" lines carry the worker's pid)
 * and from `sockserv-stat --json`.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../minijson.h"

#define OUT_MAX (256 * 1024)
#define ACCEPT_RE "accept long 127\\.0\\.0\\.1:%d$"

/* ------------------------------------------------------------------ */
/* sockserv-stat                                                       */

static int
exited_with(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static uint64_t
closed_sum(const struct mj *v)
{
	const struct mj *c = mj_get(v, "closed");
	uint64_t sum = 0;

	if (c == NULL || c->type != MJ_OBJ)
		IT_FAIL("no \"closed\" object in the JSON");
	for (size_t i = 0; i < c->n; i++)
		sum += c->items[i].u;
	return sum;
}

static uint64_t
closed_as(const struct mj *v, const char *reason)
{
	return it_json_u64(mj_get(v, "closed"), reason);
}

static const struct mj *
totals(const struct mj *root)
{
	const struct mj *t = mj_get(root, "totals");

	if (t == NULL)
		IT_FAIL("no \"totals\" in the JSON");
	return t;
}

/* the entry of worker slot (the current generation's; no reloads here), NULL if none */
static const struct mj *
jworker(const struct mj *root, int slot)
{
	const struct mj *ws = mj_get(root, "workers");

	for (size_t i = 0; ws != NULL && i < ws->n; i++) {
		const struct mj *w = &ws->items[i];
		uint64_t n;

		if (mj_uint(w, "slot", &n) == 0 && n == (uint64_t)slot &&
		    strcmp(mj_str(w, "state") ? mj_str(w, "state") : "", "draining") != 0)
			return w;
	}
	return NULL;
}

static pid_t
worker_pid(struct srv *s, int slot)
{
	struct mj *root = srv_stat_json(s);
	const struct mj *w = jworker(root, slot);
	pid_t pid;

	if (w == NULL)
		IT_FAIL("no worker %d in sockserv-stat --json", slot);
	pid = (pid_t)it_json_u64(w, "pid");
	mj_free(root);
	return pid;
}

/* sum of "connections" over the workers; per worker pid into pids/conns when given */
static uint64_t
conns_by_pid(const struct mj *root, pid_t *pids, uint64_t *conns, int max)
{
	const struct mj *ws = mj_get(root, "workers");
	uint64_t sum = 0;

	for (size_t i = 0; ws != NULL && i < ws->n; i++) {
		uint64_t c = it_json_u64(&ws->items[i], "connections");

		sum += c;
		if (pids != NULL && (int)i < max) {
			pids[i] = (pid_t)it_json_u64(&ws->items[i], "pid");
			conns[i] = c;
		}
	}
	return sum;
}

/*
 * Poll the JSON until the workers' connections add up to want.  A reading
 * that started before the deadline counts, so the cost of running
 * sockserv-stat itself does not eat into the bound.  The milliseconds it
 * took, or -1 (with the last sum in *last).
 */
static int64_t
wait_conns(struct srv *s, uint64_t want, int within_ms, uint64_t *last)
{
	int64_t t0 = it_now_ms();

	for (;;) {
		int64_t started = it_now_ms();
		struct mj *root = srv_stat_json(s);

		*last = conns_by_pid(root, NULL, NULL, 0);
		mj_free(root);
		if (*last == want)
			return started - t0;
		if (started - t0 >= within_ms)
			return -1;
		it_sleep_ms(10);
	}
}

/*
 * Poll the JSON until worker slot runs with a pid other than old: the new
 * pid, with the milliseconds since t0 in *after, or -1 after within_ms.
 */
static pid_t
wait_new_worker(struct srv *s, int slot, pid_t old, int64_t t0, int within_ms, int64_t *after)
{
	for (;;) {
		int64_t started = it_now_ms();
		struct mj *root = srv_stat_json(s);
		const struct mj *w = jworker(root, slot);
		pid_t pid = -1;

		if (w != NULL && (pid_t)it_json_u64(w, "pid") != old && mj_str(w, "state") != NULL &&
		    strcmp(mj_str(w, "state"), "running") == 0)
			pid = (pid_t)it_json_u64(w, "pid");
		mj_free(root);
		if (pid > 0) {
			*after = started - t0;
			return pid;
		}
		if (started - t0 >= within_ms)
			return -1;
		it_sleep_ms(5);
	}
}

/* ------------------------------------------------------------------ */
/* processes and connections                                           */

/*
 * Gone: no such process, or a zombie.  Workers orphaned by a killed master
 * are reparented to the test runner (a subreaper) and only reaped when the
 * test ends, so kill(pid, 0) alone would still find them.
 */
static int
proc_gone(pid_t pid)
{
	char path[64], buf[512], *rp;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, the state follows the last ')' */
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* wait until every pid is gone; ms it took (reading started before the bound counts), or -1 */
static int64_t
wait_gone(const pid_t *pids, int n, int within_ms)
{
	int64_t t0 = it_now_ms();

	for (;;) {
		int64_t started = it_now_ms();
		int left = 0;

		for (int i = 0; i < n; i++)
			left += !proc_gone(pids[i]);
		if (left == 0)
			return started - t0;
		if (started - t0 >= within_ms)
			return -1;
		it_sleep_ms(5);
	}
}

/* connect and prove a worker took the connection with one echoed frame */
static int
open_echoed(struct srv *s)
{
	int fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hello", 5), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hello", 5);
	return fd;
}

/* the pid of the worker that logged accepting the connection from local port, or -1 */
static pid_t
acceptor(struct srv *s, int port, int *nlines)
{
	char **v = srv_log_grep(s, nlines, ACCEPT_RE, port);
	pid_t pid = *nlines > 0 ? it_log_line_pid(v[0]) : -1;

	it_strv_free(v);
	return pid;
}

/*
 * The same, but of the accept lines written before the log had end bytes:
 * the last of them.  Lines after end belong to later connections that
 * reused the port.
 */
static pid_t
acceptor_before(struct srv *s, int port, off_t end, int *nlines)
{
	int nall, nafter;
	char **all = srv_log_grep(s, &nall, ACCEPT_RE, port);
	char **after = it_file_grep(s->log_path, end, &nafter, ACCEPT_RE, port);
	pid_t pid;

	*nlines = nall - nafter;
	pid = *nlines > 0 ? it_log_line_pid(all[*nlines - 1]) : -1;
	it_strv_free(all);
	it_strv_free(after);
	return pid;
}

static struct srv *
start_two_workers(const char *extra)
{
	struct srv_opts o = {
		.workers = 2,
		.extra = extra,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};

	return srv_start(&o);
}

/* ------------------------------------------------------------------ */
/* counts follow the clients                                           */

static void
test_connection_counts_follow_open_and_close(void)
{
	enum { NOPEN = 100, NCLOSE = 40 };
	struct srv *s = start_two_workers(NULL);
	struct mj *root = srv_stat_json(s);
	uint64_t acc0 = it_json_u64(totals(root), "accepted"), closed0 = closed_sum(totals(root));
	uint64_t peer0 = closed_as(totals(root), "peer"), last, conns[8];
	int fds[NOPEN], port[NOPEN], nl, i, k;
	pid_t owner[NOPEN], pids[8];
	int64_t took;

	mj_free(root);
	for (i = 0; i < NOPEN; i++) {
		fds[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(fds[i] >= 0);
		port[i] = cli_local_port(fds[i]);
	}
	took = wait_conns(s, NOPEN, 1000, &last);
	if (took < 0)
		IT_FAIL("1 s after %d connects sockserv-stat counts %llu connections", NOPEN,
		    (unsigned long long)last);

	/* per worker: exactly the connections its log says it accepted */
	IT_ASSERT_INT(srv_log_wait_count(s, NOPEN, IT_IO_TIMEOUT_MS,
	    "accept long 127\\.0\\.0\\.1:[0-9]+$"), >=, NOPEN);
	for (i = 0; i < NOPEN; i++) {
		owner[i] = acceptor(s, port[i], &nl);
		IT_ASSERT_INT(nl, ==, 1);
	}
	root = srv_stat_json(s);
	IT_ASSERT_INT(conns_by_pid(root, pids, conns, 8), ==, NOPEN);
	for (k = 0; k < 2; k++) {
		int held = 0;

		for (i = 0; i < NOPEN; i++)
			held += owner[i] == pids[k];
		IT_ASSERT_INT(conns[k], ==, held);
	}
	mj_free(root);

	for (i = 0; i < NCLOSE; i++)
		close(fds[i]);
	took = wait_conns(s, NOPEN - NCLOSE, 1000, &last);
	if (took < 0)
		IT_FAIL("1 s after closing %d of %d connections sockserv-stat counts %llu",
		    NCLOSE, NOPEN, (unsigned long long)last);
	root = srv_stat_json(s);
	conns_by_pid(root, pids, conns, 8);
	for (k = 0; k < 2; k++) {
		int held = 0;

		for (i = NCLOSE; i < NOPEN; i++)
			held += owner[i] == pids[k];
		IT_ASSERT_INT(conns[k], ==, held);
	}
	/* the totals agree with each other and with what the clients did */
	IT_ASSERT_INT(it_json_u64(totals(root), "accepted"), ==, acc0 + NOPEN);
	IT_ASSERT_INT(closed_sum(totals(root)), ==, closed0 + NCLOSE);
	IT_ASSERT_INT(closed_as(totals(root), "peer"), ==, peer0 + NCLOSE);
	IT_ASSERT_INT(it_json_u64(totals(root), "accepted"), ==,
	    closed_sum(totals(root)) + it_json_u64(totals(root), "connections"));
	for (k = 0; k < 2; k++) {
		const struct mj *w = jworker(root, k);

		IT_ASSERT(w != NULL);
		IT_ASSERT_INT(it_json_u64(w, "accepted"), ==, closed_sum(w) + it_json_u64(w, "connections"));
	}
	mj_free(root);
	for (i = NCLOSE; i < NOPEN; i++)
		close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* kill -9 of a worker under a connect/echo/close loop                 */

#define NLOOPS 2
#define MAX_FAILS 16

struct loop_fail {
	int port;		/* local port, to find who accepted it */
	int stage;		/* 0 connect, 1 send, 2 echo */
	int status;		/* cli status or errno */
	off_t log_end;		/* server log size when the failure was seen */
};

struct loop_result {
	int iterations;
	int ok;
	int ok_after_kill;	/* echoes on connections opened after the kill */
	int refused;
	int nfails;
	struct loop_fail fails[MAX_FAILS];
};

struct loop_shared {
	int stop;
	int64_t kill_ms;	/* set just before the kill, 0 until then */
	struct loop_result r[NLOOPS];
};

static int
loop_connect(const char *addr, int port, int *err)
{
	struct sockaddr_in sa;
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*err = 0;
	if (fd == -1) {
		*err = errno;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	/* a blocking connect with a bound; loopback answers at once anyway */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* a client in its own process: connect, one frame, its echo, close, until told to stop */
static void __attribute__((noreturn))
client_loop(struct loop_shared *sh, int id, const char *addr, int port,
    const char *log_path)
{
	struct loop_result *r = &sh->r[id];

	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		int64_t kill_ms = __atomic_load_n(&sh->kill_ms, __ATOMIC_RELAXED);
		int64_t begun = it_now_ms();
		struct it_frame f;
		char msg[64];
		int err, fd, st, n;
		struct loop_fail fail = { 0, 0, 0, 0 };
		struct stat sb;

		r->iterations++;
		n = snprintf(msg, sizeof(msg), "loop %d round %d", id, r->iterations);
		fd = loop_connect(addr, port, &err);
		if (fd == -1) {
			if (err == ECONNREFUSED)
				r->refused++;
			fail.stage = 0;
			fail.status = err;
		} else {
			fail.port = cli_local_port(fd);
			st = cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)n);
			if (st != CLI_OK) {
				fail.stage = 1;
				fail.status = st;
			} else if ((st = cli_read_frame(fd, &f, IT_IO_TIMEOUT_MS)) != CLI_OK ||
			    f.type != FRAME_DATA || f.len != (uint32_t)n ||
			    memcmp(f.payload, msg, (size_t)n) != 0) {
				fail.stage = 2;
				fail.status = st == CLI_OK ? CLI_DATA : st;
				if (st == CLI_OK)
					it_frame_free(&f);
			} else {
				it_frame_free(&f);
				r->ok++;
				if (kill_ms != 0 && begun > kill_ms)
					r->ok_after_kill++;
				close(fd);
				continue;
			}
			close(fd);
		}
		fail.log_end = stat(log_path, &sb) == 0 ? sb.st_size : 0;
		if (r->nfails < MAX_FAILS)
			r->fails[r->nfails] = fail;
		r->nfails++;
	}
	_exit(0);
}

static void
test_killed_worker_respawns_and_only_its_connections_fail(void)
{
	enum { NHELD = 20 };
	struct srv *s = start_two_workers(NULL);
	struct loop_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int held[NHELD], nl, i, l, on_victim = 0, on_survivor = 0, iterations = 0;
	int ok = 0, ok_after = 0, nfails = 0;
	pid_t owner[NHELD], loops[NLOOPS], victim, survivor, fresh;
	int64_t t_kill, after;
	struct mj *root;
	const struct mj *w;

	IT_ASSERT(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	victim = worker_pid(s, 0);
	survivor = worker_pid(s, 1);
	for (i = 0; i < NHELD; i++) {
		held[i] = open_echoed(s);
		owner[i] = acceptor(s, cli_local_port(held[i]), &nl);
		IT_ASSERT_INT(nl, ==, 1);
		on_victim += owner[i] == victim;
		on_survivor += owner[i] == survivor;
	}
	IT_ASSERT_INT(on_victim + on_survivor, ==, NHELD);
	/* SO_REUSEPORT hashing: all 20 on one worker is a 1 in 500000 chance */
	IT_ASSERT_INT(on_survivor, >, 0);
	IT_ASSERT_INT(on_victim, >, 0);

	fflush(NULL);
	for (l = 0; l < NLOOPS; l++) {
		loops[l] = fork();
		IT_ASSERT(loops[l] != -1);
		if (loops[l] == 0)
			client_loop(sh, l, srv_addr(s, "long"), srv_port(s, "long"),
			    s->log_path);
	}
	it_sleep_ms(300);
	t_kill = it_now_ms();
	__atomic_store_n(&sh->kill_ms, t_kill, __ATOMIC_RELAXED);
	IT_ASSERT(kill(victim, SIGKILL) == 0);
	fresh = wait_new_worker(s, 0, victim, t_kill, 1000, &after);
	if (fresh < 0)
		IT_FAIL("worker 0 not back with a new pid within 1 s of kill -9");
	fprintf(stderr, "    worker 0 back as pid %d after %lld ms\n", (int)fresh,
	    (long long)after);
	it_sleep_ms(700);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	for (l = 0; l < NLOOPS; l++) {
		int st;

		IT_ASSERT(waitpid(loops[l], &st, 0) == loops[l]);
		IT_ASSERT(exited_with(st, 0));
	}

	for (l = 0; l < NLOOPS; l++) {
		struct loop_result *r = &sh->r[l];

		iterations += r->iterations;
		ok += r->ok;
		ok_after += r->ok_after_kill;
		nfails += r->nfails;
		IT_ASSERT_INT(r->refused, ==, 0);
		for (i = 0; i < r->nfails && i < MAX_FAILS; i++) {
			struct loop_fail *f = &r->fails[i];
			pid_t who;

			fprintf(stderr, "    loop %d: connection from port %d failed at stage %d "
			    "(%d)\n", l, f->port, f->stage, f->status);
			/* a connect failure is never acceptable: the queue outlives the worker */
			IT_ASSERT_INT(f->stage, !=, 0);
			/*
			 * Only the killed worker may have accepted it.  No accept line
			 * at all is possible too: the kill can land between accept()
			 * and the log line.  Only lines written before the failure
			 * count: a reset connection leaves no TIME_WAIT, so a later
			 * connection may reuse its port at once.
			 */
			who = acceptor_before(s, f->port, f->log_end, &nl);
			if (nl > 0 && who != victim)
				IT_FAIL("connection from port %d failed but worker pid %d (not "
				    "the killed %d) accepted it", f->port, (int)who, (int)victim);
		}
	}
	fprintf(stderr, "    %d rounds, %d echoed (%d after the kill), %d failed\n",
	    iterations, ok, ok_after, nfails);
	/* at most the one connection each sequential client had in flight */
	IT_ASSERT_INT(nfails, <=, NLOOPS);
	IT_ASSERT_INT(ok + nfails, ==, iterations);
	IT_ASSERT_INT(ok_after, >, 0);

	/* the survivor's connections are still open and served; the victim's ended */
	for (i = 0; i < NHELD; i++) {
		if (owner[i] == survivor) {
			IT_ASSERT_STATUS(cli_send_frame(held[i], FRAME_DATA, "still", 5), CLI_OK);
			IT_EXPECT_FRAME(held[i], FRAME_DATA, "still", 5);
		} else {
			IT_EXPECT_EOF(held[i]);
		}
	}
	IT_ASSERT(srv_log_count(s, "worker 0 \\(pid %d\\) killed by signal 9", (int)victim) == 1);
	IT_ASSERT(worker_pid(s, 1) == survivor);

	root = srv_stat_json(s);
	w = jworker(root, 0);
	IT_ASSERT(w != NULL);
	IT_ASSERT_INT(it_json_u64(w, "restarts"), ==, 1);
	IT_ASSERT_INT(it_json_u64(w, "pid"), ==, fresh);
	/* what the dead worker held was counted closed for "error" when it was reaped */
	IT_ASSERT_INT(closed_as(w, "error"), >=, on_victim);
	IT_ASSERT_INT(it_json_u64(jworker(root, 1), "restarts"), ==, 0);
	mj_free(root);
	for (i = 0; i < NHELD; i++)
		close(held[i]);
	munmap(sh, sizeof(*sh));
}

/* ------------------------------------------------------------------ */
/* a stopped worker is hung                                            */

static void
test_stopped_worker_is_detected_as_hung_and_replaced(void)
{
	struct srv *s = start_two_workers("hung_timeout = 1;");
	pid_t victim = worker_pid(s, 0), other = worker_pid(s, 1), fresh;
	int64_t t_stop, detected, after;
	char line[1024];
	int fd;

	t_stop = it_now_ms();
	IT_ASSERT(kill(victim, SIGSTOP) == 0);
	if (srv_log_wait(s, 10000, line, sizeof(line),
	    "worker 0 \\(pid %d\\) hung: event loop silent for [0-9]+ ms, replacing it",
	    (int)victim) == -1)
		IT_FAIL("no \"hung\" line for the stopped worker %d within 10 s", (int)victim);
	detected = it_now_ms() - t_stop;
	fprintf(stderr, "    %s (seen %lld ms after SIGSTOP)\n", it_log_line_msg(line),
	    (long long)detected);
	/* not before hung_timeout (less the at most one tick old stamp), not much after */
	IT_ASSERT_INT(detected, >=, 800);
	IT_ASSERT_INT(detected, <=, 5000);

	fresh = wait_new_worker(s, 0, victim, it_now_ms(), 3000, &after);
	IT_ASSERT(fresh > 0);
	/* the master SIGKILLed (and reaped) the stopped process */
	if (wait_gone(&victim, 1, 2000) < 0)
		IT_FAIL("the stopped worker %d is still there", (int)victim);
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "hung worker 0 \\(pid %d\\) killed by signal 9",
	    (int)victim) == 0);
	/* the other worker was left alone, and the server serves */
	IT_ASSERT(worker_pid(s, 1) == other);
	fd = open_echoed(s);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* crash loop                                                          */

/* the pid in the k-th (from 1) "worker 0 started" line after the mark */
static pid_t
nth_start(struct srv *s, int k)
{
	char **v;
	pid_t pid = -1;
	int n, p;

	if (srv_log_wait_count(s, k, 10000, "worker 0 started \\(pid [0-9]+\\)") < k)
		IT_FAIL("worker 0 was not started a %d%s time within 10 s", k + 1,
		    k == 1 ? "nd" : k == 2 ? "rd" : "th");
	v = srv_log_grep(s, &n, "worker 0 started \\(pid [0-9]+\\)");
	if (n >= k && sscanf(strstr(it_log_line_msg(v[k - 1]), "(pid "), "(pid %d)", &p) == 1)
		pid = p;
	it_strv_free(v);
	IT_ASSERT(pid > 0);
	return pid;
}

static void
test_worker_killed_in_a_loop_triggers_backoff(void)
{
	enum { KILLS = 7 };
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	pid_t pid = s->workers[0];
	int64_t killed_at[KILLS + 1], started_at[KILLS + 1];
	struct mj *root;
	int k, fd;

	IT_ASSERT(pid > 0);
	for (k = 1; k <= KILLS; k++) {
		killed_at[k] = it_now_ms();
		IT_ASSERT(kill(pid, SIGKILL) == 0);
		pid = nth_start(s, k);
		started_at[k] = it_now_ms();
	}
	/* deaths 1..5 respawn at once; the 6th in 10 s starts the backoff, the 7th doubles it */
	IT_ASSERT(srv_log_count(s, "worker 0 is crashing in a loop") == 2);
	IT_ASSERT(srv_log_count(s, "worker 0 is crashing in a loop \\(6 deaths in 10 s\\): "
	    "respawn in 100 ms") == 1);
	IT_ASSERT(srv_log_count(s, "worker 0 is crashing in a loop \\(7 deaths in 10 s\\): "
	    "respawn in 200 ms") == 1);
	/* a backoff is waited out, never shortened */
	IT_ASSERT_INT(started_at[6] - killed_at[6], >=, 100);
	IT_ASSERT_INT(started_at[7] - killed_at[7], >=, 200);
	fprintf(stderr, "    respawn after the 6th kill %lld ms, after the 7th %lld ms\n",
	    (long long)(started_at[6] - killed_at[6]), (long long)(started_at[7] - killed_at[7]));

	/* and the slot serves again, with every kill counted */
	IT_ASSERT(wait_new_worker(s, 0, 0, it_now_ms(), 5000, &killed_at[0]) == pid);
	fd = open_echoed(s);
	close(fd);
	root = srv_stat_json(s);
	IT_ASSERT_INT(it_json_u64(jworker(root, 0), "restarts"), ==, KILLS);
	IT_ASSERT_INT(it_json_u64(totals(root), "restarts"), ==, KILLS);
	mj_free(root);
}

/* ------------------------------------------------------------------ */
/* a crash-looping slot's clients are served by the others (issue 11 #8) */

#define PACED_CLIENTS 100
#define PACED_PROCS 4
#define PACED_GAP_MS 30		/* 100 clients over 3 s, through the backoff's growth */
#define BASELINE_CLIENTS 20
#define EXTRA_BOUND_MS 300	/* the requirement is 100; a stranded client waits seconds */
#define MAX_KILLS 128
#define PACED_READ_MS 1000	/* well past the bound: a stranded client fails, and soon */

struct paced {
	int64_t took;		/* ms from connect() to the echo, or to the failure */
	int port;		/* local port, to find who accepted it */
	int stage;		/* -1 echoed, 0 connect, 1 send, 2 echo */
	int status;		/* cli status or errno */
	off_t log_end;		/* server log size when the failure was seen */
};

struct paced_shared {
	int64_t t0;
	struct paced c[PACED_CLIENTS];
	/* the killer's */
	int stop;
	int nkilled;
	pid_t killed[MAX_KILLS];
};

/* one client: connect, one frame, its echo within PACED_READ_MS, close; timed */
static void
paced_one(struct paced *p, int id, const char *addr, int port, const char *log_path)
{
	int64_t begun = it_now_ms();
	struct it_frame f;
	struct stat sb;
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "paced client %d", id), err, fd, st;

	p->stage = 0;
	fd = loop_connect(addr, port, &err);
	if (fd == -1) {
		p->status = err;
	} else {
		p->port = cli_local_port(fd);
		p->stage = 1;
		if ((st = cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)n)) == CLI_OK) {
			p->stage = 2;
			st = cli_read_frame(fd, &f, PACED_READ_MS);
			if (st == CLI_OK) {
				if (f.type == FRAME_DATA && f.len == (uint32_t)n &&
				    memcmp(f.payload, msg, (size_t)n) == 0)
					p->stage = -1;
				else
					st = CLI_DATA;
				it_frame_free(&f);
			}
		}
		p->status = st;
		close(fd);
	}
	p->took = it_now_ms() - begun;
	if (p->stage != -1)
		p->log_end = stat(log_path, &sb) == 0 ? sb.st_size : 0;
}

/* client proc's share of the paced clients, client i starting at t0 + i * gap */
static void __attribute__((noreturn))
paced_clients(struct paced_shared *sh, int proc, const char *addr, int port,
    const char *log_path)
{
	for (int i = proc; i < PACED_CLIENTS; i += PACED_PROCS) {
		int64_t at = sh->t0 + (int64_t)i * PACED_GAP_MS, now = it_now_ms();

		if (at > now)
			it_sleep_ms((int)(at - now));
		paced_one(&sh->c[i], i, addr, port, log_path);
	}
	_exit(0);
}

static void
record_kill(struct paced_shared *sh, pid_t pid)
{
	if (kill(pid, SIGKILL) == 0 && sh->nkilled < MAX_KILLS)
		sh->killed[sh->nkilled++] = pid;
}

/*
 * A crash loop from outside: SIGKILL pid, then every worker of slot the
 * moment the master logs starting it (the log from offset from on),
 * until told to stop.
 */
static void __attribute__((noreturn))
killer_loop(struct paced_shared *sh, const char *log_path, off_t from, int slot, pid_t pid)
{
	static char buf[65536];
	char want[64];
	size_t have = 0;
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		_exit(1);
	snprintf(want, sizeof(want), "worker %d started (pid ", slot);
	record_kill(sh, pid);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		ssize_t n = pread(fd, buf + have, sizeof(buf) - 1 - have, from);
		char *line, *nl;

		if (n <= 0) {
			usleep(500);
			continue;
		}
		from += n;
		have += (size_t)n;
		buf[have] = '\0';
		for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			char *p;

			*nl = '\0';
			if ((p = strstr(line, want)) != NULL)
				record_kill(sh, (pid_t)atoi(p + strlen(want)));
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0;	/* no line is that long: drop the garbage */
	}
	_exit(0);
}

static int
killed_by_us(const struct paced_shared *sh, pid_t pid)
{
	for (int i = 0; i < sh->nkilled && i < MAX_KILLS; i++)
		if (sh->killed[i] == pid)
			return 1;
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
test_crash_looping_slot_strands_no_client(void)
{
	struct srv *s = start_two_workers(NULL);
	struct paced_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t base[BASELINE_CLIENTS], took[PACED_CLIENTS], typical, bound;
	pid_t procs[PACED_PROCS], killer, w0 = worker_pid(s, 0);
	int i, st, nfails = 0, over100 = 0, slow = -1;

	IT_ASSERT(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	/* the usual connect + echo, with both workers up */
	for (i = 0; i < BASELINE_CLIENTS; i++) {
		paced_one(&sh->c[0], i, srv_addr(s, "long"), srv_port(s, "long"), s->log_path);
		IT_ASSERT_INT(sh->c[0].stage, ==, -1);
		base[i] = sh->c[0].took;
	}
	qsort(base, BASELINE_CLIENTS, sizeof(base[0]), cmp_i64);
	typical = base[BASELINE_CLIENTS / 2];
	bound = typical + EXTRA_BOUND_MS;
	memset(sh, 0, sizeof(*sh));

	fflush(NULL);
	killer = fork();
	IT_ASSERT(killer != -1);
	if (killer == 0)
		killer_loop(sh, s->log_path, srv_log_mark(s), 1, worker_pid(s, 1));
	/* into the backoff first: five deaths respawn at once, the sixth waits */
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "worker 1 is crashing in a loop") == 0);
	sh->t0 = it_now_ms() + 20;
	for (i = 0; i < PACED_PROCS; i++) {
		procs[i] = fork();
		IT_ASSERT(procs[i] != -1);
		if (procs[i] == 0)
			paced_clients(sh, i, srv_addr(s, "long"), srv_port(s, "long"), s->log_path);
	}
	for (i = 0; i < PACED_PROCS; i++) {
		IT_ASSERT(waitpid(procs[i], &st, 0) == procs[i]);
		IT_ASSERT(exited_with(st, 0));
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	IT_ASSERT(waitpid(killer, &st, 0) == killer);
	IT_ASSERT(exited_with(st, 0));

	for (i = 0; i < PACED_CLIENTS; i++) {
		took[i] = sh->c[i].took;
		over100 += took[i] > typical + 100;
		nfails += sh->c[i].stage != -1;
		if (slow == -1 && took[i] > bound)
			slow = i;
	}
	qsort(took, PACED_CLIENTS, sizeof(took[0]), cmp_i64);
	fprintf(stderr, "    usual %lld ms; under the crash loop (%d kills): median %lld, "
	    "95th %lld, max %lld ms; %d over usual + 100 ms, %d failed\n",
	    (long long)typical, sh->nkilled, (long long)took[PACED_CLIENTS / 2],
	    (long long)took[PACED_CLIENTS * 95 / 100], (long long)took[PACED_CLIENTS - 1],
	    over100, nfails);
	if (slow != -1)
		IT_FAIL("client %d (port %d) took %lld ms (%s), the usual is %lld ms: it waited "
		    "for the crash-looping slot", slow, sh->c[slow].port,
		    (long long)sh->c[slow].took, sh->c[slow].stage == -1 ? "echoed" : "failed",
		    (long long)typical);
	for (i = 0; i < PACED_CLIENTS; i++) {
		struct paced *p = &sh->c[i];
		pid_t who;
		int nl;

		if (p->stage == 0)
			IT_FAIL("client %d could not connect (%s) after %lld ms", i,
			    strerror(p->status), (long long)p->took);
		if (p->stage == -1)
			continue;
		/* lost with a worker that was killed holding it: the crash, not a stranding */
		who = acceptor_before(s, p->port, p->log_end, &nl);
		if (nl == 0 || !killed_by_us(sh, who))
			IT_FAIL("client %d (port %d) failed at stage %d (%s), accepted by pid %d, "
			    "which was not killed", i, p->port, p->stage, cli_status_name(p->status),
			    (int)who);
	}
	/* the requirement itself, with room for a rare scheduling hiccup on a busy machine */
	IT_ASSERT_INT(over100, <=, 2);
	IT_ASSERT_INT(nfails, <=, PACED_CLIENTS / 10);
	/* the slot really was down for long stretches: backoffs of 400 ms and more */
	IT_ASSERT_INT(srv_log_count(s, "worker 1 is crashing in a loop .*respawn in "
	    "([4-9][0-9]{2}|[0-9]{4,}) ms"), >=, 2);
	IT_ASSERT_INT(srv_log_count(s, "\\[%d\\] debug: worker 0 accepting slot 1's clients",
	    (int)w0), >=, 1);
	IT_ASSERT(worker_pid(s, 0) == w0);
	munmap(sh, sizeof(*sh));
}

/*
 * Adoption is for a slot whose worker died: at start every slot's worker
 * starts at once, and workers adopting each other's sockets then let the
 * first awake take every early client (seen: 20 of 20 on one worker).
 */
static void
test_workers_adopt_nothing_at_start(void)
{
	struct srv *s = start_two_workers(NULL);

	/* past the respawn overlap (one master tick) and then some */
	it_sleep_ms(400);
	s->mark = 0;	/* the whole log, start-up included */
	IT_ASSERT_INT(srv_log_count(s, "accepting slot [0-9]+'s clients"), ==, 0);
}

static void
test_adopting_worker_lets_go_when_the_slot_is_back(void)
{
	enum { NCLI = 16 };
	struct srv *s = start_two_workers(NULL);
	pid_t w0 = worker_pid(s, 0), victim = worker_pid(s, 1), back;
	int fds[NCLI], served[NCLI], i, nl, unserved = 0;
	char msg[32];
	int64_t after;

	/* past the start-up overlap, when each worker watches the other's slot */
	it_sleep_ms(300);
	srv_log_mark(s);
	IT_ASSERT(kill(victim, SIGKILL) == 0);
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "\\[%d\\] debug: worker 0 accepting slot 1's "
	    "clients", (int)w0) == 0);
	back = wait_new_worker(s, 1, victim, it_now_ms(), 5000, &after);
	IT_ASSERT(back > 0);
	IT_ASSERT(srv_log_wait(s, 2000, NULL, 0, "\\[%d\\] debug: worker 0 no longer accepting "
	    "slot 1's clients", (int)w0) == 0);

	/*
	 * With slot 1's worker stopped (alive, so its slot is not down), the
	 * clients hashed to its socket must wait for it: worker 0 no longer
	 * watches that socket.
	 */
	IT_ASSERT(kill(back, SIGSTOP) == 0);
	for (i = 0; i < NCLI; i++) {
		fds[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(fds[i] >= 0);
		snprintf(msg, sizeof(msg), "c%d", i);
		IT_ASSERT_STATUS(cli_send_frame(fds[i], FRAME_DATA, msg, (uint32_t)strlen(msg)),
		    CLI_OK);
	}
	it_sleep_ms(300);
	for (i = 0; i < NCLI; i++) {
		struct it_frame f;
		int st = cli_read_frame(fds[i], &f, 20);

		served[i] = st == CLI_OK;
		if (st == CLI_OK)
			it_frame_free(&f);
		else
			IT_ASSERT_STATUS(st, CLI_TIMEOUT);
		unserved += !served[i];
		if (served[i])
			IT_ASSERT_INT(acceptor(s, cli_local_port(fds[i]), &nl), ==, w0);
	}
	kill(back, SIGCONT);
	fprintf(stderr, "    %d of %d clients waited for the stopped slot 1 worker\n", unserved,
	    NCLI);
	/* all 16 hashed to slot 0 is a 1 in 65536 chance */
	IT_ASSERT_INT(unserved, >, 0);
	for (i = 0; i < NCLI; i++) {
		if (served[i])
			continue;
		snprintf(msg, sizeof(msg), "c%d", i);
		IT_EXPECT_FRAME(fds[i], FRAME_DATA, msg, strlen(msg));
		IT_ASSERT_INT(acceptor(s, cli_local_port(fds[i]), &nl), ==, back);
	}
	for (i = 0; i < NCLI; i++)
		close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* master death                                                        */

/* SIGKILL the master (and reap it) but leave its workers alone */
static void
kill_master_only(struct srv *s)
{
	int st;

	IT_ASSERT(kill(s->pid, SIGKILL) == 0);
	IT_ASSERT(waitpid(s->pid, &st, 0) == s->pid);
	s->status = st;
	s->pid = -1;
}

static void
test_master_sigkill_leaves_no_worker_running(void)
{
	struct srv *s = start_two_workers(NULL);
	pid_t w[2] = { worker_pid(s, 0), worker_pid(s, 1) };
	int held = open_echoed(s), fd, st;
	struct it_frame f;
	int64_t took;

	kill_master_only(s);
	took = wait_gone(w, 2, 2000);
	if (took < 0)
		IT_FAIL("workers %d/%d: %s/%s 2 s after the master was killed", (int)w[0],
		    (int)w[1], proc_gone(w[0]) ? "gone" : "still running",
		    proc_gone(w[1]) ? "gone" : "still running");
	fprintf(stderr, "    both workers gone %lld ms after the master\n", (long long)took);
	/* the client's connection ended ("shutting down" first, as at any fast stop) */
	st = cli_read_frame(held, &f, IT_IO_TIMEOUT_MS);
	if (st == CLI_OK) {
		IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
		IT_ASSERT_INT(frame_error_code(&f), ==, PERR_SHUTTING_DOWN);
		it_frame_free(&f);
		IT_EXPECT_EOF(held);
	} else {
		IT_ASSERT(st == CLI_EOF || st == CLI_RESET);
	}
	/* and nobody holds the port any more */
	fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(fd == -1);
	close(held);
}

/* ------------------------------------------------------------------ */
/* the counters match a client's traffic, across respawns              */

/* a refused client's ERROR frame is counted like any other output */
static void
test_server_full_refusal_is_counted_in_the_totals(void)
{
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_connections = 1;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	struct mj *root = srv_stat_json(s);
	const struct mj *t = totals(root);
	uint64_t mout0 = it_json_u64(t, "messages_out"), bout0 = it_json_u64(t, "bytes_out");
	uint64_t full0 = closed_as(t, "server_full"), last;
	struct it_frame f;
	int a, c, i;

	mj_free(root);
	/* the probe connection of srv_start must be gone before a counts as the one */
	IT_ASSERT(wait_conns(s, 0, 5000, &last) >= 0);
	a = open_echoed(s);
	c = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(c >= 0);
	IT_ASSERT_STATUS(cli_read_frame(c, &f, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
	IT_ASSERT_INT(frame_error_code(&f), ==, PERR_SERVER_FULL);
	IT_EXPECT_EOF(c);
	close(c);

	/* the worker counts the refusal just after its close(), which we saw */
	for (i = 0;; i++) {
		root = srv_stat_json(s);
		t = totals(root);
		if (closed_as(t, "server_full") > full0 || i == 500)
			break;
		mj_free(root);
		it_sleep_ms(10);
	}
	IT_ASSERT_INT(closed_as(t, "server_full"), ==, full0 + 1);
	/* the echo of "hello", then the ERROR frame */
	IT_ASSERT_INT(it_json_u64(t, "messages_out"), ==, mout0 + 2);
	IT_ASSERT_INT(it_json_u64(t, "bytes_out"), ==, bout0 + FRAME_HDR_LEN + 5 + FRAME_HDR_LEN + f.len);
	it_frame_free(&f);
	mj_free(root);
	close(a);
}

static void
test_totals_match_client_traffic_and_survive_kills(void)
{
	enum { NCONN = 10, NMSG = 5 };
	struct srv *s = start_two_workers(NULL);
	struct mj *root = srv_stat_json(s);
	const struct mj *t = totals(root);
	uint64_t acc0 = it_json_u64(t, "accepted"), closed0 = closed_sum(t), min0 = it_json_u64(t, "messages_in");
	uint64_t mout0 = it_json_u64(t, "messages_out"), bin0 = it_json_u64(t, "bytes_in");
	uint64_t bout0 = it_json_u64(t, "bytes_out"), bytes = 0, last;
	char payload[256];
	int64_t after;
	int i, j;
	pid_t p;

	mj_free(root);
	memset(payload, 'p', sizeof(payload));
	for (i = 0; i < NCONN; i++) {
		int fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));

		IT_ASSERT(fd >= 0);
		for (j = 0; j < NMSG; j++) {
			uint32_t len = (uint32_t)(i * 17 + j * 3 + 1);

			IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, payload, len), CLI_OK);
			IT_EXPECT_FRAME(fd, FRAME_DATA, payload, len);
			bytes += FRAME_HDR_LEN + len;
		}
		close(fd);
	}
	/* the closes are counted once the workers have seen them */
	IT_ASSERT(wait_conns(s, 0, 5000, &last) >= 0);

	root = srv_stat_json(s);
	t = totals(root);
	IT_ASSERT_INT(it_json_u64(t, "accepted"), ==, acc0 + NCONN);
	IT_ASSERT_INT(closed_sum(t), ==, closed0 + NCONN);
	IT_ASSERT_INT(it_json_u64(t, "messages_in"), ==, min0 + NCONN * NMSG);
	IT_ASSERT_INT(it_json_u64(t, "messages_out"), ==, mout0 + NCONN * NMSG);
	IT_ASSERT_INT(it_json_u64(t, "bytes_in"), ==, bin0 + bytes);
	IT_ASSERT_INT(it_json_u64(t, "bytes_out"), ==, bout0 + bytes);
	IT_ASSERT_INT(it_json_u64(t, "restarts"), ==, 0);
	mj_free(root);

	/* three kills: worker 1 twice, worker 0 once */
	p = worker_pid(s, 1);
	IT_ASSERT(kill(p, SIGKILL) == 0);
	p = wait_new_worker(s, 1, p, it_now_ms(), 5000, &after);
	IT_ASSERT(p > 0);
	IT_ASSERT(kill(p, SIGKILL) == 0);
	IT_ASSERT(wait_new_worker(s, 1, p, it_now_ms(), 5000, &after) > 0);
	p = worker_pid(s, 0);
	IT_ASSERT(kill(p, SIGKILL) == 0);
	IT_ASSERT(wait_new_worker(s, 0, p, it_now_ms(), 5000, &after) > 0);

	root = srv_stat_json(s);
	t = totals(root);
	IT_ASSERT_INT(it_json_u64(t, "restarts"), ==, 3);
	IT_ASSERT_INT(it_json_u64(jworker(root, 0), "restarts"), ==, 1);
	IT_ASSERT_INT(it_json_u64(jworker(root, 1), "restarts"), ==, 2);
	/* lifetime totals keep what the dead processes counted */
	IT_ASSERT_INT(it_json_u64(t, "messages_in"), ==, min0 + NCONN * NMSG);
	IT_ASSERT_INT(it_json_u64(t, "bytes_in"), ==, bin0 + bytes);
	IT_ASSERT_INT(it_json_u64(t, "bytes_out"), ==, bout0 + bytes);
	IT_ASSERT_INT(it_json_u64(t, "accepted"), ==, acc0 + NCONN);
	/* nothing was open, so nothing was lost as "error" */
	IT_ASSERT_INT(closed_as(t, "error"), ==, 0);
	/* ... while the new processes start from zero */
	for (i = 0; i < 2; i++) {
		const struct mj *tw = mj_get(jworker(root, i), "this_worker");

		IT_ASSERT(tw != NULL);
		IT_ASSERT_INT(it_json_u64(tw, "messages_in"), ==, 0);
		IT_ASSERT_INT(it_json_u64(tw, "accepted"), ==, 0);
	}
	mj_free(root);
}

/* ------------------------------------------------------------------ */
/* sockserv-stat's outputs and exits                                   */

/* the value of the Prometheus sample line "series value", -1 if absent */
static double
prom_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return -1;
}

static void
test_stat_prometheus_has_the_metrics(void)
{
	static char out[OUT_MAX];
	struct srv *s = start_two_workers(NULL);
	pid_t w0 = worker_pid(s, 0), w1 = worker_pid(s, 1);
	struct mj *root;
	uint64_t last;
	char series[160];
	double acc = 0;
	int fd = open_echoed(s), st;

	close(fd);
	IT_ASSERT(wait_conns(s, 0, 5000, &last) >= 0);
	root = srv_stat_json(s);
	st = it_stat_run(out, sizeof(out), "-s", s->stats_path, "--prometheus", (char *)NULL);
	if (!exited_with(st, 0))
		IT_FAIL("sockserv-stat --prometheus: %s:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "# TYPE sockserv_accepted_total counter\n");
	IT_ASSERT_STR_HAS(out, "# TYPE sockserv_closed_total counter\n");
	IT_ASSERT_STR_HAS(out, "# TYPE sockserv_connections gauge\n");
	IT_ASSERT_STR_HAS(out, "# TYPE sockserv_worker_loop_age_seconds gauge\n");
	IT_ASSERT_STR_HAS(out, "# HELP sockserv_messages_in_total ");
	IT_ASSERT(prom_value(out, "sockserv_worker_up{worker=\"0\"}") == 1);
	IT_ASSERT(prom_value(out, "sockserv_worker_up{worker=\"1\"}") == 1);
	snprintf(series, sizeof(series),
	    "sockserv_worker_state{worker=\"0\",pid=\"%d\",state=\"running\"}", (int)w0);
	IT_ASSERT(prom_value(out, series) == 1);
	snprintf(series, sizeof(series),
	    "sockserv_worker_loop_age_seconds{worker=\"1\",pid=\"%d\"}", (int)w1);
	IT_ASSERT(prom_value(out, series) >= 0);
	/* the same numbers as the JSON */
	for (int k = 0; k < 2; k++) {
		snprintf(series, sizeof(series), "sockserv_accepted_total{worker=\"%d\"}", k);
		IT_ASSERT(prom_value(out, series) == (double)it_json_u64(jworker(root, k), "accepted"));
		acc += prom_value(out, series);
		snprintf(series, sizeof(series),
		    "sockserv_closed_total{worker=\"%d\",reason=\"peer\"}", k);
		IT_ASSERT(prom_value(out, series) == (double)closed_as(jworker(root, k), "peer"));
	}
	IT_ASSERT(acc == (double)it_json_u64(totals(root), "accepted"));
	IT_ASSERT(prom_value(out, "sockserv_messages_in_total{worker=\"0\"}") +
	    prom_value(out, "sockserv_messages_in_total{worker=\"1\"}") ==
	    (double)it_json_u64(totals(root), "messages_in"));
	IT_ASSERT(it_json_u64(totals(root), "messages_in") >= 1);
	mj_free(root);
}

static void
test_stat_table_shows_each_worker_and_a_total(void)
{
	static char out[OUT_MAX];
	struct srv *s = start_two_workers(NULL);
	pid_t w0 = worker_pid(s, 0), w1 = worker_pid(s, 1);
	char want[64];
	int fd = open_echoed(s), st;

	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	if (!exited_with(st, 0))
		IT_FAIL("sockserv-stat: %s:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "slot");
	IT_ASSERT_STR_HAS(out, "hb_close");
	IT_ASSERT_STR_HAS(out, "loop_age");
	IT_ASSERT_STR_HAS(out, "2 workers configured");
	snprintf(want, sizeof(want), " %d  running ", (int)w0);
	IT_ASSERT_STR_HAS(out, want);
	snprintf(want, sizeof(want), " %d  running ", (int)w1);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT_STR_HAS(out, "\ntotal ");
	close(fd);
}

static void
test_stat_works_while_master_is_stopped(void)
{
	struct srv *s = start_two_workers(NULL);
	struct mj *root;

	IT_ASSERT(kill(s->pid, SIGSTOP) == 0);
	root = srv_stat_json(s);
	IT_ASSERT_INT(it_json_u64(root, "master_pid"), ==, s->pid);
	IT_ASSERT(jworker(root, 0) != NULL && jworker(root, 1) != NULL);
	IT_ASSERT_STR_HAS(mj_str(jworker(root, 1), "state"), "running");
	mj_free(root);
	IT_ASSERT(kill(s->pid, SIGCONT) == 0);
}

static void
test_stat_reports_missing_segment(void)
{
	static char out[OUT_MAX];
	const char *dir = it_mkdtemp();
	char path[1024];
	int st;

	snprintf(path, sizeof(path), "%s/nothing.shm", dir);
	st = it_stat_run(out, sizeof(out), "-s", path, (char *)NULL);
	if (!exited_with(st, 1))
		IT_FAIL("sockserv-stat on a missing segment: %s:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, path);
	IT_ASSERT_STR_HAS(out, strerror(ENOENT));
}

static void
test_stat_reports_missing_segment_after_clean_stop(void)
{
	static char out[OUT_MAX];
	struct srv *s = start_two_workers(NULL);
	int st = srv_stop(s, SIGTERM, 5000);

	IT_ASSERT(exited_with(st, 0));
	/* a clean exit removes the file */
	IT_ASSERT(access(s->stats_path, F_OK) == -1);
	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--json", (char *)NULL);
	if (!exited_with(st, 1))
		IT_FAIL("sockserv-stat after a clean stop: %s:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, s->stats_path);
	IT_ASSERT_STR_HAS(out, strerror(ENOENT));
}

static void
test_stat_reports_stale_segment_after_master_sigkill(void)
{
	static char out[OUT_MAX];
	struct srv *s = start_two_workers(NULL);
	pid_t w[2] = { worker_pid(s, 0), worker_pid(s, 1) };
	pid_t master = s->pid;
	char want[64];
	int st;

	kill_master_only(s);
	IT_ASSERT(wait_gone(w, 2, 2000) >= 0);
	/* nobody removed the file: it names a dead master now */
	IT_ASSERT(access(s->stats_path, F_OK) == 0);
	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, (char *)NULL);
	if (!exited_with(st, 1))
		IT_FAIL("sockserv-stat on a stale segment: %s:\n%s", it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "stale");
	snprintf(want, sizeof(want), "master pid %d is not running", (int)master);
	IT_ASSERT_STR_HAS(out, want);
	/* nothing but the message: no table of dead numbers */
	IT_ASSERT(strstr(out, "total") == NULL);
}

static void
test_stat_reports_config_error_with_its_line(void)
{
	static char out[OUT_MAX];
	const char *dir = it_mkdtemp();
	char path[1024], want[1100];
	int st;

	snprintf(path, sizeof(path), "%s/bad.cfg", dir);
	IT_ASSERT(it_write_file(path, "workers = 1;\nstats_path = 42;\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;"
	    " codec = \"frame\"; handler = \"echo\"; } );\n") == 0);
	st = it_stat_run(out, sizeof(out), "-c", path, (char *)NULL);
	if (!exited_with(st, 1))
		IT_FAIL("sockserv-stat -c with a bad config: %s:\n%s", it_status_str(st), out);
	snprintf(want, sizeof(want), "%s:2: ", path);
	IT_ASSERT_STR_HAS(out, want);
}

/* start sockserv-stat ARGS in the background with stdout+stderr into path */
static pid_t
stat_spawn(const char *path, char *const args[])
{
	char *argv[16];
	int n = 0;
	pid_t pid;

	argv[n++] = (char *)it_stat_prog();
	while (n < 15 && args[n - 1] != NULL) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	IT_ASSERT(pid != -1);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* wait for pid within ms; its status, or -1 */
static int
wait_exit(pid_t pid, int ms)
{
	int64_t deadline = it_now_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(5);
	}
}

static int
count_lines(const char *path)
{
	char **v = it_file_grep(path, 0, &(int){ 0 }, "^\\{\"master_pid\":");
	int n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	it_strv_free(v);
	return n;
}

static void
test_stat_watch_repeats_until_sigterm(void)
{
	struct srv *s = start_two_workers(NULL);
	const char *dir = it_mkdtemp();
	char path[1024], err[200];
	char *args[] = { (char *)"-c", s->cfg_path, (char *)"--json", (char *)"-w",
	    (char *)"0.2", NULL };
	char **v;
	int64_t t0 = it_now_ms();
	pid_t pid;
	int n, st;

	snprintf(path, sizeof(path), "%s/watch.out", dir);
	pid = stat_spawn(path, args);
	while (count_lines(path) < 4 && it_now_ms() - t0 < 10000)
		it_sleep_ms(20);
	IT_ASSERT_INT(count_lines(path), >=, 4);
	IT_ASSERT(kill(pid, SIGTERM) == 0);
	st = wait_exit(pid, 2000);
	if (!exited_with(st, 0))
		IT_FAIL("sockserv-stat -w after SIGTERM: %s", it_status_str(st));
	/* one JSON object per line, every one of them complete */
	v = it_file_grep(path, 0, &n, ".");
	IT_ASSERT_INT(n, >=, 4);
	for (int i = 0; i < n; i++) {
		struct mj *root = mj_parse(v[i], err, sizeof(err));

		if (root == NULL)
			IT_FAIL("line %d of the watch output is not JSON (%s): %s", i + 1, err, v[i]);
		IT_ASSERT(jworker(root, 1) != NULL);
		mj_free(root);
	}
	it_strv_free(v);
}

static void
test_stat_watch_exits_1_when_the_server_goes_away(void)
{
	struct srv *s = start_two_workers(NULL);
	const char *dir = it_mkdtemp();
	char path[1024];
	char *args[] = { (char *)"-c", s->cfg_path, (char *)"-w", (char *)"0.1", NULL };
	int64_t t0 = it_now_ms();
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "%s/watch.out", dir);
	pid = stat_spawn(path, args);
	while (it_file_wait(path, 0, 100, NULL, 0, "^total") == -1 && it_now_ms() - t0 < 10000)
		;
	IT_ASSERT(srv_stop(s, SIGTERM, 5000) != -1);
	st = wait_exit(pid, 3000);
	if (!exited_with(st, 1))
		IT_FAIL("sockserv-stat -w once the server stopped: %s", it_status_str(st));
	IT_ASSERT(it_file_wait(path, 0, 0, NULL, 0, "sockserv-stat: .*sockserv\\.shm") == 0);
}

static const struct it_test supervise_tests[] = {
	{ "test_connection_counts_follow_open_and_close",
	    test_connection_counts_follow_open_and_close, 0 },
	{ "test_killed_worker_respawns_and_only_its_connections_fail",
	    test_killed_worker_respawns_and_only_its_connections_fail, 0 },
	{ "test_stopped_worker_is_detected_as_hung_and_replaced",
	    test_stopped_worker_is_detected_as_hung_and_replaced, 0 },
	{ "test_worker_killed_in_a_loop_triggers_backoff",
	    test_worker_killed_in_a_loop_triggers_backoff, 0 },
	{ "test_crash_looping_slot_strands_no_client",
	    test_crash_looping_slot_strands_no_client, 0 },
	{ "test_workers_adopt_nothing_at_start", test_workers_adopt_nothing_at_start, 0 },
	{ "test_adopting_worker_lets_go_when_the_slot_is_back",
	    test_adopting_worker_lets_go_when_the_slot_is_back, 0 },
	{ "test_master_sigkill_leaves_no_worker_running",
	    test_master_sigkill_leaves_no_worker_running, 0 },
	{ "test_server_full_refusal_is_counted_in_the_totals",
	    test_server_full_refusal_is_counted_in_the_totals, 0 },
	{ "test_totals_match_client_traffic_and_survive_kills",
	    test_totals_match_client_traffic_and_survive_kills, 0 },
	{ "test_stat_prometheus_has_the_metrics", test_stat_prometheus_has_the_metrics, 0 },
	{ "test_stat_table_shows_each_worker_and_a_total",
	    test_stat_table_shows_each_worker_and_a_total, 0 },
	{ "test_stat_works_while_master_is_stopped", test_stat_works_while_master_is_stopped, 0 },
	{ "test_stat_reports_missing_segment", test_stat_reports_missing_segment, 0 },
	{ "test_stat_reports_missing_segment_after_clean_stop",
	    test_stat_reports_missing_segment_after_clean_stop, 0 },
	{ "test_stat_reports_stale_segment_after_master_sigkill",
	    test_stat_reports_stale_segment_after_master_sigkill, 0 },
	{ "test_stat_reports_config_error_with_its_line",
	    test_stat_reports_config_error_with_its_line, 0 },
	{ "test_stat_watch_repeats_until_sigterm", test_stat_watch_repeats_until_sigterm, 0 },
	{ "test_stat_watch_exits_1_when_the_server_goes_away",
	    test_stat_watch_exits_1_when_the_server_goes_away, 0 },
	{ NULL, NULL, 0 }
};

IT_SUITE(supervise, supervise_tests)
