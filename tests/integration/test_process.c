/*
 * The foundation's process behaviour: connections spread over the
 * pre-forked workers, one client's trouble stays its own, SIGTERM stops
 * the master and every worker, and `sockserv -t` judges configurations
 * (including the user, group and log file, as a start would) with
 * FILE:LINE messages that name the file as it was given.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int
connect_to(struct srv *s, const char *listener)
{
	int fd = cli_connect(srv_addr(s, listener), srv_port(s, listener));

	IT_ASSERT(fd >= 0);
	return fd;
}

static void
test_connections_spread_over_all_workers(void)
{
	enum { NCONN = 40 };
	struct srv_opts o = {
		.workers = 2,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	int fds[NCONN], per_worker[2] = { 0, 0 }, i, n, w;
	char **lines;

	IT_ASSERT(s->workers[0] > 0 && s->workers[1] > 0);
	IT_ASSERT(s->workers[0] != s->workers[1]);
	for (i = 0; i < NCONN; i++) {
		fds[i] = connect_to(s, "long");
		/* an echo means a worker really took the connection */
		IT_ASSERT_STATUS(cli_send_frame(fds[i], FRAME_DATA, "x", 1), CLI_OK);
		IT_EXPECT_FRAME(fds[i], FRAME_DATA, "x", 1);
	}
	IT_ASSERT_INT(srv_log_wait_count(s, NCONN, IT_IO_TIMEOUT_MS,
	    "accept long 127\\.0\\.0\\.1:[0-9]+$"), ==, NCONN);
	lines = srv_log_grep(s, &n, "accept long 127\\.0\\.0\\.1:[0-9]+$");
	for (i = 0; i < n; i++) {
		pid_t pid = it_log_line_pid(lines[i]);

		for (w = 0; w < 2 && s->workers[w] != pid; w++)
			;
		if (w == 2)
			IT_FAIL("accept line not from a worker the master started "
			    "(%d, %d): %s", (int)s->workers[0], (int)s->workers[1],
			    lines[i]);
		per_worker[w]++;
	}
	it_strv_free(lines);
	IT_ASSERT_INT(per_worker[0], >, 0);
	IT_ASSERT_INT(per_worker[1], >, 0);
	for (i = 0; i < NCONN; i++)
		close(fds[i]);
}

/*
 * One worker, so the clients share an event loop: a protocol offender and
 * a client stuck half-way through a frame, while a good client keeps
 * echoing.
 */
static void
test_bad_clients_do_not_disturb_a_good_one(void)
{
	enum { ROUNDS = 300 };
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	struct it_buf half = { NULL, 0, 0 };
	char payload[100], msg[32];
	int good = connect_to(s, "long"), stuck = -1, bad, i, n;

	memset(payload, 'h', sizeof(payload));
	frame_append(&half, FRAME_DATA, payload, sizeof(payload));
	for (i = 0; i < ROUNDS; i++) {
		if (i == 100) {
			stuck = connect_to(s, "long");
			/* the header and half the payload, then nothing */
			IT_ASSERT_STATUS(cli_send_all(stuck, half.data, FRAME_HDR_LEN + 50,
			    IT_IO_TIMEOUT_MS), CLI_OK);
		}
		if (i == 150) {
			bad = connect_to(s, "long");
			IT_ASSERT_STATUS(cli_send_all(bad, "GET / HTTP/1.0\r\n\r\n", 18,
			    IT_IO_TIMEOUT_MS), CLI_OK);
			IT_EXPECT_ERROR_EOF(bad, PERR_BAD_MAGIC);
			close(bad);
		}
		n = snprintf(msg, sizeof(msg), "message %d", i);
		IT_ASSERT_STATUS(cli_send_frame(good, FRAME_DATA, msg, (uint32_t)n), CLI_OK);
		IT_EXPECT_FRAME(good, FRAME_DATA, msg, (size_t)n);
	}
	/* the stuck client was left alone, and its frame still completes */
	IT_EXPECT_SILENCE(stuck, 100);
	IT_ASSERT_STATUS(cli_send_all(stuck, half.data + FRAME_HDR_LEN + 50, 50,
	    IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(stuck, FRAME_DATA, payload, sizeof(payload));
	it_buf_free(&half);
	close(stuck);
	close(good);
}

static void
test_sigterm_stops_master_and_every_worker(void)
{
	struct srv_opts o = {
		.workers = 2,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	pid_t workers[2] = { s->workers[0], s->workers[1] };
	int fd = connect_to(s, "long"), st, i;

	/* a connected client must not hold the server up */
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hi", 2), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hi", 2);
	st = srv_stop(s, SIGTERM, 2000);
	if (st == -1)
		IT_FAIL("master still running 2 s after SIGTERM");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		IT_FAIL("master ended with %s after SIGTERM", it_status_str(st));
	for (i = 0; i < 2; i++) {
		IT_ASSERT(workers[i] > 0);
		if (kill(workers[i], 0) == 0 || errno != ESRCH)
			IT_FAIL("worker pid %d is still there after the master exited",
			    (int)workers[i]);
	}
	close(fd);
}

/* ------------------------------------------------------------------ */
/* sockserv -t                                                          */

/*
 * A small valid config, one setting per line so errors have a line to
 * point at.  Line numbers are 1-based; tests replace whole lines.
 */
static const char *const good_lines[] = {
	"workers = 1;",					/* 1 */
	"event_backend = \"epoll\";",			/* 2 */
	"pid_file = \"%D/sockserv.pid\";",		/* 3 */
	"stats_path = \"%D/sockserv.shm\";",		/* 4 */
	"log = { target = \"stderr\"; level = \"debug\"; };",	/* 5 */
	"limits = { max_connections = 100000; max_frame = 1048576; };",	/* 6 */
	"listeners = (",				/* 7 */
	"  { name = \"long\";",				/* 8 */
	"    address = \"127.0.0.1\";",			/* 9 */
	"    port = 7000;",				/* 10 */
	"    codec = \"frame\";",			/* 11 */
	"    handler = \"echo\"; },",			/* 12 */
	"  { name = \"compat\"; address = \"127.0.0.1\"; port = 7002;",	/* 13 */
	"    codec = \"headers\"; handler = \"echo\"; magic = \"testHeader\"; }",	/* 14 */
	");",						/* 15 */
};
#define NGOOD (int)(sizeof(good_lines) / sizeof(good_lines[0]))

/* write the config with line `line` replaced by `text` (0: none); its path */
static char *
write_config(const char *dir, int line, const char *text)
{
	static char path[1024];
	char buf[8192];
	size_t off = 0;
	int i;

	for (i = 0; i < NGOOD; i++) {
		const char *l = i + 1 == line ? text : good_lines[i];
		const char *d = strstr(l, "%D");

		/* %D stands for the directory */
		if (d != NULL)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%.*s%s%s\n",
			    (int)(d - l), l, dir, d + 2);
		else
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s\n", l);
		IT_ASSERT(off < sizeof(buf));
	}
	snprintf(path, sizeof(path), "%s/sockserv.cfg", dir);
	IT_ASSERT(it_write_file(path, buf) == 0);
	return path;
}

static int
check_config(const char *path, char *out, size_t outlen)
{
	char *argv[] = { (char *)it_sockserv_path(), (char *)"-c", (char *)path,
	    (char *)"-t", NULL };
	int st = it_run(argv, out, outlen, 10000);

	IT_ASSERT(st != -1);
	return st;
}

static void
test_check_accepts_a_good_config(void)
{
	char *dir = it_mkdtemp(), out[4096], pidfile[1024];
	const char *path = write_config(dir, 0, NULL);
	int st = check_config(path, out, sizeof(out));

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		IT_FAIL("sockserv -t on a good config: %s, output:\n%s",
		    it_status_str(st), out);
	/* exactly that, on one line: scripts compare it */
	if (strcmp(out, "configuration ok\n") != 0)
		IT_FAIL("sockserv -t printed \"%s\", not \"configuration ok\\n\"", out);
	/* a check starts nothing */
	snprintf(pidfile, sizeof(pidfile), "%s/sockserv.pid", dir);
	IT_ASSERT(access(pidfile, F_OK) == -1);
	free(dir);
}

/* replace line `line` with text: exit 1 and "PATH:LINE:" in the output */
static void
check_rejects(int line, const char *text)
{
	char *dir = it_mkdtemp(), out[4096], want[1200];
	const char *path = write_config(dir, line, text);
	int st = check_config(path, out, sizeof(out));

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
		IT_FAIL("sockserv -t with line %d \"%s\": %s (expected exit 1), "
		    "output:\n%s", line, text, it_status_str(st), out);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT(strstr(out, "configuration ok") == NULL);
	free(dir);
}

static void
test_check_rejects_unknown_key_at_its_line(void)
{
	check_rejects(2, "colour = \"blue\";");
}

static void
test_check_rejects_port_70000_at_its_line(void)
{
	check_rejects(10, "    port = 70000;");
}

static void
test_check_rejects_unknown_codec_at_its_line(void)
{
	check_rejects(11, "    codec = \"morse\";");
}

static void
test_check_rejects_unknown_handler_at_its_line(void)
{
	check_rejects(12, "    handler = \"nosuch\"; },");
}

static void
test_check_rejects_bad_syntax_at_its_line(void)
{
	check_rejects(6, "limits = { max_connections = ; };");
}

/*
 * What only the machine can judge, a user that does not exist and a log
 * file that cannot be opened, fails the check as it would fail the start,
 * and the message names the file as it was given: run from its directory
 * as plain "sockserv.cfg".
 */
static void
check_rejects_relative(int line, const char *text, const char *message)
{
	char *dir = it_mkdtemp(), out[4096], want[1200];
	int st;

	write_config(dir, line, text);
	/* this test's own process: the directory change ends with it */
	IT_ASSERT(chdir(dir) == 0);
	st = check_config("sockserv.cfg", out, sizeof(out));

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
		IT_FAIL("sockserv -t with line %d \"%s\": %s (expected exit 1), "
		    "output:\n%s", line, text, it_status_str(st), out);
	snprintf(want, sizeof(want), "sockserv.cfg:%d: %s\n", line, message);
	if (strcmp(out, want) != 0)
		IT_FAIL("sockserv -t printed \"%s\", expected \"%s\"", out, want);
	free(dir);
}

static void
test_check_rejects_unknown_user_at_its_line(void)
{
	check_rejects_relative(2, "user = \"no-such-user-sockserv\";",
	    "unknown user 'no-such-user-sockserv'");
}

static void
test_check_rejects_unknown_group_at_its_line(void)
{
	check_rejects_relative(2, "group = \"no-such-group-sockserv\";",
	    "unknown group 'no-such-group-sockserv'");
}

static void
test_check_rejects_a_log_file_that_cannot_be_opened(void)
{
	char want[256];

	snprintf(want, sizeof(want), "log target /nonexistent/dir/x.log: %s",
	    strerror(ENOENT));
	check_rejects_relative(5, "log = { target = \"/nonexistent/dir/x.log\"; };", want);
}

static const struct it_test process_tests[] = {
	{ "test_connections_spread_over_all_workers",
	    test_connections_spread_over_all_workers, 0 },
	{ "test_bad_clients_do_not_disturb_a_good_one",
	    test_bad_clients_do_not_disturb_a_good_one, 0 },
	{ "test_sigterm_stops_master_and_every_worker",
	    test_sigterm_stops_master_and_every_worker, 0 },
	{ "test_check_accepts_a_good_config", test_check_accepts_a_good_config, 0 },
	{ "test_check_rejects_unknown_key_at_its_line",
	    test_check_rejects_unknown_key_at_its_line, 0 },
	{ "test_check_rejects_port_70000_at_its_line",
	    test_check_rejects_port_70000_at_its_line, 0 },
	{ "test_check_rejects_unknown_codec_at_its_line",
	    test_check_rejects_unknown_codec_at_its_line, 0 },
	{ "test_check_rejects_unknown_handler_at_its_line",
	    test_check_rejects_unknown_handler_at_its_line, 0 },
	{ "test_check_rejects_bad_syntax_at_its_line",
	    test_check_rejects_bad_syntax_at_its_line, 0 },
	{ "test_check_rejects_unknown_user_at_its_line",
	    test_check_rejects_unknown_user_at_its_line, 0 },
	{ "test_check_rejects_unknown_group_at_its_line",
	    test_check_rejects_unknown_group_at_its_line, 0 },
	{ "test_check_rejects_a_log_file_that_cannot_be_opened",
	    test_check_rejects_a_log_file_that_cannot_be_opened, 0 },
	{ NULL, NULL, 0 }
};

IT_SUITE(process, process_tests)
