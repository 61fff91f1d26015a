/*
 * Admission control shared by every worker: limits.max_conns_per_ip and a
 * listener's accept_rate are whole-server figures (one table, one bucket
 * in shared memory), refused clients get ERROR 6 naming the limit and are
 * counted as limit_ip / limit_rate, the warn lines are rate-limited, a
 * dead worker's counts go with it, and a full table admits (fail open).
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../minijson.h"

/* a number the run reports (refusals, overflow): in the test output, and in a failure's note */
#define SAY(...)							\
	do {								\
		it_note(__VA_ARGS__);					\
		fprintf(stderr, "\n    admission: ");			\
		fprintf(stderr, __VA_ARGS__);				\
		fprintf(stderr, "\n    ");					\
	} while (0)

static uint64_t
closed_as(struct srv *s, const char *reason)
{
	struct mj *root = srv_stat_json(s);
	uint64_t n = it_json_u64(mj_get(mj_get(root, "totals"), "closed"), reason);

	mj_free(root);
	return n;
}

/* the sum over workers of sockserv_closed_total{...,reason="REASON"} in --prometheus */
static uint64_t
prom_closed(struct srv *s, const char *reason)
{
	static char out[1 << 16];
	char pat[96];
	uint64_t sum = 0;
	int st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--prometheus", (char *)NULL);

	IT_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(pat, sizeof(pat), ",reason=\"%s\"} ", reason);
	for (char *p = strstr(out, "sockserv_closed_total{"); p != NULL;
	    p = strstr(p + 1, "sockserv_closed_total{")) {
		char *eol = strchr(p, '\n'), *m = strstr(p, pat);
		if (m != NULL && (eol == NULL || m < eol))
			sum += strtoull(m + strlen(pat), NULL, 10);
	}
	return sum;
}

/* accepted = closed + open, over the whole server, once the numbers settle */
static void
expect_invariant(struct srv *s)
{
	uint64_t acc = 0, closed = 0, conns = 0;

	for (int i = 0; i < 50; i++) {
		struct mj *root = srv_stat_json(s);
		const struct mj *t = mj_get(root, "totals"), *c = mj_get(t, "closed");

		acc = it_json_u64(t, "accepted");
		conns = it_json_u64(t, "connections");
		closed = 0;
		for (size_t k = 0; c != NULL && k < c->n; k++)
			closed += c->items[k].u;
		mj_free(root);
		if (acc == closed + conns)
			break;
		it_sleep_ms(100);
	}
	it_note("accepted %llu = closed %llu + connections %llu", (unsigned long long)acc,
	    (unsigned long long)closed, (unsigned long long)conns);
	IT_ASSERT_INT(acc, ==, closed + conns);
}

/*
 * 1 when the server keeps fd open (nothing arrives within ms, and an echo
 * then works), 0 when it sends ERROR 6 with text want and closes.
 */
static int
admitted(int fd, const char *want, int ms)
{
	struct it_frame f;
	int st = cli_read_frame(fd, &f, ms);

	if (st == CLI_TIMEOUT) {
		IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hi", 2), CLI_OK);
		IT_EXPECT_FRAME(fd, FRAME_DATA, "hi", 2);
		return 1;
	}
	IT_ASSERT_STATUS(st, CLI_OK);
	IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
	IT_ASSERT_INT(frame_error_code(&f), ==, 6);
	IT_ASSERT_INT(f.len, ==, 2 + strlen(want));
	IT_ASSERT(memcmp(f.payload + 2, want, strlen(want)) == 0);
	it_frame_free(&f);
	IT_ASSERT(cli_wait_eof(fd, IT_IO_TIMEOUT_MS) != CLI_DATA);
	return 0;
}

/* the pid that logged the accept (or the close, for a rate refusal) of local port port */
static pid_t
pid_of_port(struct srv *s, const char *what, int port)
{
	char **v;
	int n;
	pid_t pid = -1;

	v = srv_log_grep(s, &n, "%s f 127\\.0\\.0\\.[0-9]+:%d( |$)", what, port);
	if (n > 0)
		pid = it_log_line_pid(v[0]);
	it_strv_free(v);
	return pid;
}

/* the sum of N over log lines "PREFIX N connections" */
static long
logged_sum(struct srv *s, const char *prefix, int *nlines)
{
	char **v;
	long sum = 0;

	v = srv_log_grep(s, nlines, "%s [0-9]+ connections", prefix);
	for (int i = 0; i < *nlines; i++) {
		const char *p = strstr(v[i], prefix);
		sum += strtol(p + strlen(prefix) + 1, NULL, 10);
	}
	it_strv_free(v);
	return sum;
}

#define TWO_WORKERS(limits_)						\
	{ .workers = 2, .limits = (limits_),				\
	  .listeners = { { .name = "f", .codec = "frame", .handler = "echo", \
	    .extra = "heartbeat_timeout = 60;" } } }

static void
test_max_conns_per_ip_is_server_wide_and_refuses_with_error_6(void)
{
	enum { TRIES = 8, LIMIT = 3 };
	struct srv_opts o = TWO_WORKERS("max_conns_per_ip = 3;");
	struct srv *s = srv_start(&o);
	int fds[TRIES], is_ok[TRIES], ok = 0, refused = 0, other, again = -1;
	pid_t pids[TRIES];
	int distinct = 0;

	/* more tries than the limit, hashed over both workers' sockets */
	for (int i = 0; i < TRIES; i++) {
		fds[i] = cli_connect_from("127.0.0.2", srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fds[i] >= 0);
		is_ok[i] = admitted(fds[i], "too many connections from 127.0.0.2", 300);
		ok += is_ok[i];
		refused += !is_ok[i];
	}
	for (int i = 0; i < TRIES; i++) {
		pids[i] = pid_of_port(s, "accept", cli_local_port(fds[i]));
		IT_ASSERT(pids[i] > 0);
		distinct += pids[i] != pids[0];
	}
	SAY("127.0.0.2: %d admitted, %d refused, %d of %d on another worker than the first",
	    ok, refused, distinct, TRIES);
	/* one worker counting for itself would admit up to 3 each */
	IT_ASSERT(distinct > 0);
	IT_ASSERT_INT(ok, ==, LIMIT);
	IT_ASSERT_INT(refused, ==, TRIES - LIMIT);

	/* another address is not affected */
	other = cli_connect_from("127.0.0.3", srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(other >= 0);
	IT_ASSERT(admitted(other, "", 300) == 1);

	/* closing one of the three lets a new one in */
	for (int i = 0; i < TRIES; i++) {
		if (is_ok[i]) {
			close(fds[i]);
			fds[i] = -1;
			break;
		}
	}
	for (int t = 0; t < 40 && again == -1; t++) {
		int fd = cli_connect_from("127.0.0.2", srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fd >= 0);
		if (admitted(fd, "too many connections from 127.0.0.2", 200))
			again = fd;
		else
			close(fd);
	}
	IT_ASSERT(again != -1);

	IT_ASSERT_INT(closed_as(s, "limit_ip"), >=, TRIES - LIMIT);
	IT_ASSERT_INT(prom_closed(s, "limit_ip"), ==, closed_as(s, "limit_ip"));
	expect_invariant(s);
	/* the refusals are logged at warn, per worker at most once a second */
	it_sleep_ms(1200);
	{
		int n = 0;
		long sum = logged_sum(s, "limit_ip: refused", &n);
		SAY("%d limit_ip lines count %ld refusals; stats say %llu", n, sum,
		    (unsigned long long)closed_as(s, "limit_ip"));
		IT_ASSERT_INT(sum, ==, (long)closed_as(s, "limit_ip"));
		IT_ASSERT(n >= 1 && n <= 2 * 4);
	}
	for (int i = 0; i < TRIES; i++)
		if (fds[i] != -1)
			close(fds[i]);
	close(other);
	close(again);
	srv_stop(s, SIGTERM, 5000);
}

static void
test_accept_rate_is_one_bucket_for_the_whole_server(void)
{
	enum { N = 20, RATE = 5 };
	struct srv_opts o = {
		.workers = 2,
		.listeners = { { .name = "f", .codec = "frame", .handler = "echo",
		    .extra = "heartbeat_timeout = 60; accept_rate = 5; accept_burst = 5;" } },
	};
	struct srv *s = srv_start(&o);
	int fds[N], ok = 0, refused = 0, nlines = 0;
	pid_t first = -1;
	int other_worker = 0;
	int64_t t0, t1;
	long sum;

	/* the start-up probe took a token: a second refills the bucket */
	it_sleep_ms(1100);
	t0 = it_now_ms();
	for (int i = 0; i < N; i++) {
		fds[i] = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fds[i] >= 0);
	}
	t1 = it_now_ms();
	for (int i = 0; i < N; i++) {
		pid_t p;

		if (admitted(fds[i], "accept rate exceeded", 300))
			ok++;
		else
			refused++;
		p = pid_of_port(s, "accept", cli_local_port(fds[i]));
		if (p <= 0)
			p = pid_of_port(s, "close", cli_local_port(fds[i]));
		if (first == -1)
			first = p;
		other_worker += p > 0 && p != first;
	}
	SAY("burst of %d connects in %lld ms at accept_rate %d burst %d: %d admitted, "
	    "%d refused; %d served by another worker than the first", N, (long long)(t1 - t0),
	    RATE, RATE, ok, refused, other_worker);
	IT_ASSERT(other_worker > 0);
	/* the burst, plus what refilled while the connects went on; a bucket per worker would double it */
	IT_ASSERT_INT(ok, >=, RATE);
	IT_ASSERT_INT(ok, <=, RATE + (t1 - t0) * RATE / 1000 + 1);
	IT_ASSERT_INT(closed_as(s, "limit_rate"), ==, refused);
	IT_ASSERT_INT(prom_closed(s, "limit_rate"), ==, refused);
	expect_invariant(s);
	it_sleep_ms(1200);
	sum = logged_sum(s, "limit_rate: refused", &nlines);
	SAY("%d limit_rate warn lines count %ld refusals", nlines, sum);
	IT_ASSERT_INT(sum, ==, refused);
	/* at most one line a second per worker: two workers, about two seconds */
	IT_ASSERT(nlines >= 1 && nlines <= 2 * 3);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	srv_stop(s, SIGTERM, 5000);
}

static void
test_dead_worker_releases_the_counts_it_held(void)
{
	enum { LIMIT = 6 };
	struct srv_opts o = TWO_WORKERS("max_conns_per_ip = 6;");
	struct srv *s = srv_start(&o);
	int fds[LIMIT], extra[LIMIT], held = 0, more = 0, fd;
	pid_t pids[LIMIT], victim;

	for (int i = 0; i < LIMIT; i++) {
		fds[i] = cli_connect_from("127.0.0.4", srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fds[i] >= 0);
		IT_ASSERT(admitted(fds[i], "", 300) == 1);
		pids[i] = pid_of_port(s, "accept", cli_local_port(fds[i]));
	}
	fd = cli_connect_from("127.0.0.4", srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(admitted(fd, "too many connections from 127.0.0.4", 300) == 0);
	close(fd);
	/* the worker holding fewer of them, when they are spread: only its share comes back */
	victim = pids[0];
	for (int i = 0; i < LIMIT; i++)
		held += pids[i] == victim;
	for (int i = 0; i < LIMIT && held > LIMIT / 2; i++) {
		if (pids[i] != victim) {
			victim = pids[i];
			held = LIMIT - held;
		}
	}
	srv_log_mark(s);
	IT_ASSERT(kill(victim, SIGKILL) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "worker [0-9]+ started") == 0);
	/* its clients lost their connections with it */
	for (int i = 0; i < LIMIT; i++)
		if (pids[i] == victim)
			IT_ASSERT(cli_wait_eof(fds[i], IT_IO_TIMEOUT_MS) != CLI_DATA);
	/* exactly what it held is free again: up to the limit, not one more */
	for (int i = 0; i < LIMIT; i++) {
		extra[i] = cli_connect_from("127.0.0.4", srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(extra[i] >= 0);
		if (admitted(extra[i], "too many connections from 127.0.0.4", 300))
			more++;
		else
			break;
	}
	SAY("killed worker %ld held %d of 127.0.0.4's %d; %d admitted after the respawn",
	    (long)victim, held, LIMIT, more);
	IT_ASSERT_INT(more, ==, held);
	expect_invariant(s);
	srv_stop(s, SIGTERM, 5000);
	for (int i = 0; i < LIMIT; i++)
		close(fds[i]);
}

static void
test_top_ips_lists_the_addresses_holding_the_most(void)
{
	struct srv_opts o = TWO_WORKERS("max_conns_per_ip = 10;");
	struct srv *s = srv_start(&o);
	int a[3], b, st;
	char out[8192], err[256];
	struct mj *root;
	const struct mj *top;

	for (int i = 0; i < 3; i++) {
		a[i] = cli_connect_from("127.0.0.2", srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(a[i] >= 0 && admitted(a[i], "", 200) == 1);
	}
	b = cli_connect_from("127.0.0.3", srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(b >= 0 && admitted(b, "", 200) == 1);

	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--top-ips", "1", (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	it_note("sockserv-stat --top-ips 1:\n%s", out);
	{
		regex_t re;
		IT_ASSERT(regcomp(&re, "\n127\\.0\\.0\\.2 +3\n", REG_EXTENDED) == 0);
		IT_ASSERT(regexec(&re, out, 0, NULL, 0) == 0);
		regfree(&re);
	}
	IT_ASSERT(strstr(out, "127.0.0.3") == NULL);
	IT_ASSERT_STR_HAS(out, "2 addresses hold 4 connections");

	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--top-ips", "5", "--json",
	    (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	root = mj_parse(out, err, sizeof(err));
	IT_ASSERT(root != NULL);
	top = mj_get(root, "top_ips");
	IT_ASSERT(top != NULL && top->n == 2);
	IT_ASSERT(strcmp(mj_str(mj_at(top, 0), "address"), "127.0.0.2") == 0);
	IT_ASSERT_INT(it_json_u64(mj_at(top, 0), "connections"), ==, 3);
	IT_ASSERT(strcmp(mj_str(mj_at(top, 1), "address"), "127.0.0.3") == 0);
	IT_ASSERT_INT(it_json_u64(mj_at(top, 1), "connections"), ==, 1);
	IT_ASSERT_INT(it_json_u64(root, "ip_table_size"), ==, 65536);
	mj_free(root);

	/* the counts follow the closes */
	close(a[0]);
	close(a[1]);
	for (int t = 0; t < 50; t++) {
		st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--top-ips", "5", "--json",
		    (char *)NULL);
		if (strstr(out, "{\"address\":\"127.0.0.2\",\"connections\":1}") != NULL)
			break;
		it_sleep_ms(100);
	}
	IT_ASSERT_STR_HAS(out, "{\"address\":\"127.0.0.2\",\"connections\":1}");
	close(a[2]);
	close(b);
	srv_stop(s, SIGTERM, 5000);
}

static void
test_full_table_admits_and_counts_the_overflow(void)
{
	enum { NADDR = 31, TABLE = 16 };
	struct srv_opts o = TWO_WORKERS("max_conns_per_ip = 1; ip_table_size = 16;");
	struct srv *s = srv_start(&o);
	int fds[NADDR], st, n = 0;
	char out[8192], err[256], src[32];
	struct mj *root;

	for (int i = 0; i < NADDR; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 10 + i);
		fds[i] = cli_connect_from(src, srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fds[i] >= 0);
		/* every one admitted: a table with no room fails open */
		IT_ASSERT(admitted(fds[i], "", 200) == 1);
	}
	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--top-ips", "100", "--json",
	    (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	root = mj_parse(out, err, sizeof(err));
	IT_ASSERT(root != NULL);
	SAY("%d addresses, table of %d: %llu counted, %llu admitted uncounted", NADDR, TABLE,
	    (unsigned long long)it_json_u64(root, "addresses"), (unsigned long long)it_json_u64(root, "overflow"));
	IT_ASSERT_INT(it_json_u64(root, "ip_table_size"), ==, TABLE);
	IT_ASSERT_INT(it_json_u64(root, "addresses"), ==, TABLE);
	IT_ASSERT_INT(it_json_u64(root, "overflow"), ==, NADDR - TABLE);
	mj_free(root);
	IT_ASSERT(srv_log_wait(s, 3000, NULL, 0, "ip table full: admitted [0-9]+ connections "
	    "uncounted") == 0);
	it_sleep_ms(1200);
	{
		long sum = logged_sum(s, "ip table full: admitted", &n);
		IT_ASSERT_INT(sum, ==, NADDR - TABLE);
	}
	expect_invariant(s);
	for (int i = 0; i < NADDR; i++)
		close(fds[i]);
	srv_stop(s, SIGTERM, 5000);
}

static void
test_reload_keeps_the_table_and_its_counts(void)
{
	struct srv_opts o = TWO_WORKERS("max_conns_per_ip = 2; ip_table_size = 64;");
	struct srv *s = srv_start(&o);
	int a = cli_connect_from("127.0.0.5", srv_addr(s, "f"), srv_port(s, "f"));
	int b = cli_connect_from("127.0.0.5", srv_addr(s, "f"), srv_port(s, "f")), c, st;
	char out[4096];

	IT_ASSERT(a >= 0 && b >= 0);
	IT_ASSERT(admitted(a, "", 200) == 1 && admitted(b, "", 200) == 1);
	srv_cfg_replace(s, "ip_table_size = 64;", "ip_table_size = 128;");
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "limits.ip_table_size changes need a "
	    "restart; keeping 64 entries") == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "reload done: generation 2") == 0);
	/* the draining workers' two connections still count against the new ones */
	c = cli_connect_from("127.0.0.5", srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(c >= 0);
	IT_ASSERT(admitted(c, "too many connections from 127.0.0.5", 500) == 0);
	close(c);
	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--top-ips", "3", "--json",
	    (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	IT_ASSERT_STR_HAS(out, "\"ip_table_size\":64");
	IT_ASSERT_STR_HAS(out, "{\"address\":\"127.0.0.5\",\"connections\":2}");
	/* once an old worker's client leaves, its place is free for the new workers */
	close(a);
	c = -1;
	for (int t = 0; t < 40 && c == -1; t++) {
		int fd = cli_connect_from("127.0.0.5", srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fd >= 0);
		if (admitted(fd, "too many connections from 127.0.0.5", 200))
			c = fd;
		else
			close(fd);
	}
	IT_ASSERT(c != -1);
	close(b);
	close(c);
	srv_stop(s, SIGTERM, 5000);
}

/* an IPv6 client is counted per /64, and the refusal names the /64 */
static void
test_ipv6_clients_are_counted_per_64(void)
{
	struct srv_opts o = {
		.workers = 2, .limits = "max_conns_per_ip = 2;",
		.listeners = { { .name = "f", .address = "::1", .codec = "frame",
		    .handler = "echo", .extra = "heartbeat_timeout = 60;" } },
	};
	struct srv *s;
	int c[3];

	c[0] = socket(AF_INET6, SOCK_STREAM, 0);
	if (c[0] == -1)
		IT_SKIP("no IPv6 here");
	close(c[0]);
	s = srv_start(&o);
	/*
	 * One at a time: connected together, two workers may accept them in
	 * any order and any one of the three would be the refused one.
	 */
	for (int i = 0; i < 3; i++) {
		c[i] = cli_connect("::1", srv_port(s, "f"));
		IT_ASSERT(c[i] >= 0);
		if (i < 2)
			IT_ASSERT(admitted(c[i], "", 200) == 1);
	}
	IT_ASSERT(admitted(c[2], "too many connections from ::/64", 300) == 0);
	IT_ASSERT_INT(closed_as(s, "limit_ip"), ==, 1);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	srv_stop(s, SIGTERM, 5000);
}

/*
 * What a compromised worker could do: scribble over the whole table and
 * every bucket.  The master then subtracts a dead worker's row over that
 * garbage, and sockserv-stat reads it: neither crashes nor hangs, and the
 * workers keep serving.
 */
static void
test_garbage_in_the_shared_table_crashes_nobody(void)
{
	struct srv_opts o = {
		.workers = 2, .limits = "max_conns_per_ip = 3; ip_table_size = 1024;",
		.listeners = { { .name = "f", .codec = "frame", .handler = "echo",
		    .extra = "heartbeat_timeout = 60; accept_rate = 1000;" } },
	};
	struct srv *s = srv_start(&o);
	char path[700], out[1 << 16];
	unsigned char junk[4096];
	unsigned seed = 7;
	int fd, st, c[6];
	off_t size;

	for (int i = 0; i < 6; i++) {
		c[i] = cli_connect_from(i % 2 ? "127.0.0.6" : "127.0.0.7", srv_addr(s, "f"),
		    srv_port(s, "f"));
		IT_ASSERT(c[i] >= 0 && admitted(c[i], "", 200) == 1);
	}
	snprintf(path, sizeof(path), "%s.admission", s->stats_path);
	fd = open(path, O_RDWR);
	IT_ASSERT(fd >= 0);
	size = lseek(fd, 0, SEEK_END);
	IT_ASSERT(size > 64);
	/* everything after the magic, version, size and master pid: entries and buckets */
	for (off_t at = 24; at < size; at += (off_t)sizeof(junk)) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)rand_r(&seed);
		IT_ASSERT(pwrite(fd, junk, (size_t)(size - at) < sizeof(junk) ?
		    (size_t)(size - at) : sizeof(junk), at) > 0);
	}
	close(fd);
	/* a worker's death makes the master walk the garbage */
	srv_log_mark(s);
	IT_ASSERT(kill(s->workers[0], SIGKILL) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "worker [0-9]+ started") == 0);
	IT_ASSERT(kill(s->pid, 0) == 0);
	st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--top-ips", "20", (char *)NULL);
	SAY("sockserv-stat --top-ips on a scribbled table: %s", it_status_str(st));
	/* garbage keys and counts are shown as what they are: numbers */
	IT_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	IT_ASSERT_STR_HAS(out, "table of 1024 entries");
	/* new clients are still decided (admitted or refused), never left hanging */
	for (int i = 0; i < 10; i++) {
		int fd2 = cli_connect_from("127.0.0.8", srv_addr(s, "f"), srv_port(s, "f"));
		struct it_frame f;
		IT_ASSERT(fd2 >= 0);
		st = cli_read_frame(fd2, &f, 300);
		if (st == CLI_OK)
			it_frame_free(&f);
		IT_ASSERT(st == CLI_TIMEOUT || st == CLI_OK);
		close(fd2);
	}
	IT_ASSERT(kill(s->pid, 0) == 0);
	for (int i = 0; i < 6; i++)
		close(c[i]);
	IT_ASSERT(srv_stop(s, SIGTERM, 5000) != -1);
}

static const struct it_test admission_tests[] = {
	{ "test_max_conns_per_ip_is_server_wide_and_refuses_with_error_6",
	    test_max_conns_per_ip_is_server_wide_and_refuses_with_error_6, 0 },
	{ "test_accept_rate_is_one_bucket_for_the_whole_server",
	    test_accept_rate_is_one_bucket_for_the_whole_server, 0 },
	{ "test_dead_worker_releases_the_counts_it_held",
	    test_dead_worker_releases_the_counts_it_held, 0 },
	{ "test_top_ips_lists_the_addresses_holding_the_most",
	    test_top_ips_lists_the_addresses_holding_the_most, 0 },
	{ "test_full_table_admits_and_counts_the_overflow",
	    test_full_table_admits_and_counts_the_overflow, 0 },
	{ "test_reload_keeps_the_table_and_its_counts",
	    test_reload_keeps_the_table_and_its_counts, 0 },
	{ "test_ipv6_clients_are_counted_per_64", test_ipv6_clients_are_counted_per_64, 0 },
	{ "test_garbage_in_the_shared_table_crashes_nobody",
	    test_garbage_in_the_shared_table_crashes_nobody, 0 },
	{ NULL, NULL, 0 },
};

IT_SUITE(admission, admission_tests)
