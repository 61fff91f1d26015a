/*
 * sockserv-bench against a real server (issue 15): what `make bench-1m`
 * relies on, at a size a test can afford.  -S auto / -P auto size the load
 * and say so in the report; the report carries the kernel's memory and the
 * messages the server itself counted (--stats); a failed run names each
 * client process that failed and the first thing that went wrong in it;
 * and the ramp's limit is the one asked for, not a constant.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../minijson.h"

#define BENCH_OUT_MAX 65536

static const char *
bench_prog(void)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/sockserv-bench", it_build_dir());
	if (access(path, X_OK) == -1)
		IT_FAIL("%s is not built", path);
	return path;
}

/* run sockserv-bench with the NULL-terminated arguments; its wait status */
static int
bench_run(char *out, size_t outlen, int timeout_ms, ...)
{
	va_list ap;
	int st;

	va_start(ap, timeout_ms);
	st = it_run_va(bench_prog(), out, outlen, timeout_ms, ap);
	va_end(ap);
	return st;
}

/* the JSON object in out (stdout and stderr together: the line starting with '{') */
static struct mj *
bench_json(const char *out)
{
	static char line[BENCH_OUT_MAX];
	const char *p = out, *nl;
	char err[200];
	struct mj *j;

	while (*p != '{') {
		if ((p = strchr(p, '\n')) == NULL)
			IT_FAIL("no JSON object in:\n%s", out);
		p++;
	}
	nl = strchr(p, '\n');
	snprintf(line, sizeof(line), "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
	if ((j = mj_parse(line, err, sizeof(err))) == NULL)
		IT_FAIL("bad JSON (%s): %s", err, line);
	return j;
}

static double
jnum(const struct mj *j, const char *key)
{
	const struct mj *v = mj_get(j, key);

	if (v == NULL || v->type != MJ_NUM)
		IT_FAIL("no number \"%s\" in the report", key);
	return v->d;
}

static void
test_auto_sizing_kernel_memory_and_server_counts_are_reported(void)
{
	struct srv_opts o = {
		.workers = 2,
		.listeners = { { .name = "b", .extra = "heartbeat_timeout = 30;" } },
	};
	static char out[BENCH_OUT_MAX];
	struct srv *s = srv_start(&o);
	char port[16], pid[32], stats[700];
	struct mj *j;
	int st;

	/* attached option arguments: it_run_va passes at most 14 */
	snprintf(port, sizeof(port), "-p%d", srv_port(s, "b"));
	snprintf(pid, sizeof(pid), "--server=%d", (int)s->pid);
	snprintf(stats, sizeof(stats), "--stats=%s", s->stats_path);
	/* 9 000: three source addresses at 4 000 each at most, one process */
	st = bench_run(out, sizeof(out), 60000, "idle", port, "-c9000", "-i1", "-t2", "-Sauto",
	    "-Pauto", pid, stats, "--json", (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		IT_FAIL("sockserv-bench exited %d:\n%s", WEXITSTATUS(st), out);
	j = bench_json(out);
	IT_ASSERT_INT(jnum(j, "sources"), ==, 3);
	IT_ASSERT_INT(jnum(j, "processes"), ==, 1);
	IT_ASSERT_INT(jnum(j, "connected"), ==, 9000);
	IT_ASSERT_INT(jnum(j, "open_at_end"), ==, 9000);
	/* the default ramp limit for 9 000 is the floor, 60 s */
	IT_ASSERT_INT(jnum(j, "ramp_timeout"), ==, 60);
	/* both ends of every connection are TCP sockets on this machine */
	IT_ASSERT_INT(jnum(j, "tcp_inuse_after"), >=, 18000);
	IT_ASSERT(mj_get(j, "kernel_bytes_per_conn") != NULL);
	IT_ASSERT(mj_get(j, "slab_after_kb") != NULL);
	/*
	 * The server's own count over the 2 s hold: every connection PINGs each
	 * second, so at least one round of 9 000 whatever the scheduling
	 */
	IT_ASSERT_INT(jnum(j, "server_msgs_in"), >=, 9000);
	IT_ASSERT(jnum(j, "server_msgs_in_per_s") > 0);
	mj_free(j);
}

static void
test_failed_run_names_each_process_and_its_first_close(void)
{
	struct srv_opts o = {
		.listeners = { { .name = "b", .extra = "heartbeat_timeout = 1;" } },
	};
	static char out[BENCH_OUT_MAX];
	struct srv *s = srv_start(&o);
	char port[16];
	int st;

	snprintf(port, sizeof(port), "%d", srv_port(s, "b"));
	/* a PING every 10 s against a 1 s heartbeat timeout: the server closes them all */
	st = bench_run(out, sizeof(out), 60000, "idle", "-p", port, "-c", "200", "-i", "10",
	    "-t", "3", "-P", "2", (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st));
	IT_ASSERT_INT(WEXITSTATUS(st), ==, 1);
	IT_ASSERT_STR_HAS(out, "run failed: connections closed by the server");
	IT_ASSERT_STR_HAS(out, "client process 0 (pid ");
	IT_ASSERT_STR_HAS(out, "client process 1 (pid ");
	IT_ASSERT_STR_HAS(out, ", 100 connections): 100 connected, 0 failed, 100 closed by the server");
	IT_ASSERT_STR_HAS(out, "first close by the server after ");
	IT_ASSERT_STR_HAS(out, "ERROR frame");
}

static void
test_refused_connects_are_reported_with_their_error(void)
{
	static char out[BENCH_OUT_MAX];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char port[16];
	int fd, st;

	/* a port bound and closed again: nothing listens there */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	IT_ASSERT(fd >= 0);
	IT_ASSERT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	IT_ASSERT(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	close(fd);
	snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
	st = bench_run(out, sizeof(out), 60000, "idle", "-p", port, "-c", "20", "-t", "1",
	    (char *)NULL);
	IT_ASSERT(st != -1 && WIFEXITED(st));
	IT_ASSERT_INT(WEXITSTATUS(st), ==, 1);
	IT_ASSERT_STR_HAS(out, "client process 0 (pid ");
	IT_ASSERT_STR_HAS(out, "20 failed");
	IT_ASSERT_STR_HAS(out, "first connect failure after ");
	IT_ASSERT_STR_HAS(out, "Connection refused");
}

/*
 * A listener that completes handshakes but never answers: no connection
 * gets its first PONG, so the ramp ends at its limit.  With
 * --ramp-timeout 2 the run is over in seconds, where the old fixed limit
 * kept it 60 s.
 */
static void
test_ramp_ends_at_the_limit_asked_for(void)
{
	static char out[BENCH_OUT_MAX];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char port[16];
	int64_t t0, took;
	struct mj *j;
	int fd, st;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	IT_ASSERT(fd >= 0);
	IT_ASSERT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	IT_ASSERT(listen(fd, 128) == 0);
	IT_ASSERT(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
	t0 = it_now_ms();
	st = bench_run(out, sizeof(out), 50000, "idle", "-p", port, "-c", "20", "-t", "1",
	    "--ramp-timeout", "2", "--json", (char *)NULL);
	took = it_now_ms() - t0;
	IT_ASSERT(st != -1 && WIFEXITED(st));
	j = bench_json(out);
	IT_ASSERT_INT(jnum(j, "ramp_timeout"), ==, 2);
	/* not before the limit; well before the 60 s a fixed limit took */
	IT_ASSERT(jnum(j, "ramp_s") >= 2.0);
	IT_ASSERT_INT(took, <, 30000);
	mj_free(j);
	close(fd);
}

static const struct it_test benchcli_tests[] = {
	{ "test_auto_sizing_kernel_memory_and_server_counts_are_reported",
	    test_auto_sizing_kernel_memory_and_server_counts_are_reported, 90 },
	{ "test_failed_run_names_each_process_and_its_first_close",
	    test_failed_run_names_each_process_and_its_first_close, 90 },
	{ "test_refused_connects_are_reported_with_their_error",
	    test_refused_connects_are_reported_with_their_error, 90 },
	{ "test_ramp_ends_at_the_limit_asked_for", test_ramp_ends_at_the_limit_asked_for, 90 },
	{ NULL, NULL, 0 }
};
IT_SUITE(benchcli, benchcli_tests)
