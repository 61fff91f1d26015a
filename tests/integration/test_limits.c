/*
 * Resource limits: a worker out of file descriptors pauses accepting
 * instead of spinning, logs it at most once a second, and takes clients
 * again once descriptors are free; half-sent frames cost the memory of
 * what arrived, and limits.max_buffer_memory bounds them all together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

/* utime + stime of pid in clock ticks, -1 if unreadable */
static long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

static void
test_worker_out_of_descriptors_pauses_accept_without_spinning(void)
{
	enum { LIMIT = 48, NCONN = 80 };
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	struct rlimit rl, orig;
	int fds[NCONN], echoed = 0, i, extra;
	long before, after;
	pid_t w = s->workers[0];

	/* shrink the running worker's soft descriptor limit from outside */
	IT_ASSERT(prlimit(w, RLIMIT_NOFILE, NULL, &orig) == 0);
	rl.rlim_cur = LIMIT;
	rl.rlim_max = orig.rlim_max;
	if (prlimit(w, RLIMIT_NOFILE, &rl, NULL) == -1)
		IT_SKIP("prlimit on the worker: %s", strerror(errno));
	for (i = 0; i < NCONN; i++) {
		fds[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(fds[i] >= 0);	/* the kernel completes the handshake into the backlog */
	}
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "long: accept paused for 1 s") == 0);

	/* paused, not spinning: over 2 s the worker uses a small part of a CPU */
	before = cpu_ticks(w);
	it_sleep_ms(2000);
	after = cpu_ticks(w);
	IT_ASSERT(before >= 0 && after >= 0);
	IT_ASSERT_INT(after - before, <, sysconf(_SC_CLK_TCK) / 2);
	/* and says so at most once a second */
	IT_ASSERT_INT(srv_log_count(s, "accept paused"), <=, 4);

	/* the clients it took are served */
	for (i = 0; i < NCONN; i++) {
		struct it_frame f;
		if (cli_send_frame(fds[i], FRAME_DATA, "x", 1) != CLI_OK)
			continue;
		if (cli_read_frame(fds[i], &f, 200) == CLI_OK) {
			echoed++;
			it_frame_free(&f);
		}
	}
	IT_ASSERT_INT(echoed, >, 0);
	IT_ASSERT_INT(echoed, <, NCONN);

	/* free descriptors: the waiting clients are taken within the pause */
	for (i = 0; i < NCONN; i++)
		close(fds[i]);
	IT_ASSERT(prlimit(w, RLIMIT_NOFILE, &orig, NULL) == 0);
	extra = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(extra >= 0);
	IT_ASSERT_STATUS(cli_send_frame(extra, FRAME_DATA, "again", 5), CLI_OK);
	IT_EXPECT_FRAME(extra, FRAME_DATA, "again", 5);
	close(extra);
}

/*
 * A client that sends without ever reading: once its unsent echoes pass
 * max_output the server stops reading it (its own writes back up), and the
 * other clients of the same worker keep being answered.
 */
static void
test_client_that_never_reads_is_throttled_and_others_are_served(void)
{
	enum { FRAME = 16384, NFRAMES = 2048 };	/* 32 MiB offered */
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_output = 65536;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo",
		    .extra = "write_timeout = 60; heartbeat_timeout = 60;" } },
	};
	struct srv *s = srv_start(&o);
	struct it_buf flood = { NULL, 0, 0 };
	static uint8_t payload[FRAME];
	int hog, good, st;

	memset(payload, 'h', sizeof(payload));
	for (int i = 0; i < NFRAMES; i++)
		frame_append(&flood, FRAME_DATA, payload, FRAME);
	hog = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	good = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(hog >= 0 && good >= 0);

	/* 32 MiB cannot go in: the server stopped reading, so the send times out */
	st = cli_send_all(hog, flood.data, flood.len, 3000);
	IT_ASSERT_STATUS(st, CLI_TIMEOUT);

	for (int i = 0; i < 20; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "ping %d", i);
		IT_ASSERT_STATUS(cli_send_frame(good, FRAME_DATA, msg, (uint32_t)n), CLI_OK);
		IT_EXPECT_FRAME(good, FRAME_DATA, msg, (uint32_t)n);
	}
	/* the hog was throttled, not dropped */
	IT_ASSERT_INT(srv_log_count(s, "close long .* reason"), ==, 0);
	it_buf_free(&flood);
	close(hog);
	close(good);
}

/* a kB field of /proc/PID/status (VmRSS, VmSize) in bytes; the test fails if unreadable */
static long long
proc_kb(pid_t pid, const char *field)
{
	char line[128];
	long long kb;

	IT_ASSERT(it_proc_status_line(pid, field, line, sizeof(line)) == 0);
	IT_ASSERT(sscanf(line, "%lld", &kb) == 1);
	return kb * 1024;
}

/* an echo round trip on fd, asserted */
static void
expect_echo(int fd, int i)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "still here %d", i);

	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)n), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, msg, (uint32_t)n);
}

/*
 * 300 clients each announce a max_frame (1 MiB) frame and send 100 bytes
 * of it.  The worker used to reserve the announced megabyte for each: 300 MB
 * of address space.  It holds what arrived, so its size barely moves.
 */
static void
test_announced_frames_cost_only_the_bytes_that_arrived(void)
{
	enum { NCONN = 300, SENT = 100 };
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_frame = 1048576;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	pid_t w = s->workers[0];
	uint8_t buf[FRAME_HDR_LEN + SENT];
	long long rss0, vsz0, rss1, vsz1;
	int fds[NCONN], good, i;

	good = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(good >= 0);
	expect_echo(good, 0);
	rss0 = proc_kb(w, "VmRSS");
	vsz0 = proc_kb(w, "VmSize");
	memset(buf, 'p', sizeof(buf));
	proto_frame_header(buf, FRAME_DATA, 1048576);
	/* in two pieces: the second is read into the frame's own buffer, sized then */
	for (i = 0; i < NCONN; i++) {
		fds[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(fds[i] >= 0);
		IT_ASSERT_STATUS(cli_send_all(fds[i], buf, FRAME_HDR_LEN + SENT / 2,
		    IT_IO_TIMEOUT_MS), CLI_OK);
	}
	/* one worker, one loop: once this is answered, it has read the rest too */
	it_sleep_ms(200);
	expect_echo(good, 1);
	for (i = 0; i < NCONN; i++)
		IT_ASSERT_STATUS(cli_send_all(fds[i], buf + FRAME_HDR_LEN + SENT / 2,
		    SENT / 2, IT_IO_TIMEOUT_MS), CLI_OK);
	it_sleep_ms(200);
	expect_echo(good, 2);
	rss1 = proc_kb(w, "VmRSS");
	vsz1 = proc_kb(w, "VmSize");
	it_note("VmRSS %lld -> %lld, VmSize %lld -> %lld", rss0, rss1, vsz0, vsz1);
	/* 300 partial frames: well under 64 KiB each, nowhere near 300 MB */
	IT_ASSERT_INT(vsz1 - vsz0, <, 32LL << 20);
	IT_ASSERT_INT(rss1 - rss0, <, 32LL << 20);
	/* nobody was closed for it */
	IT_ASSERT_INT(srv_log_count(s, "close long .* reason"), ==, 0);
	for (i = 0; i < NCONN; i++)
		close(fds[i]);
	close(good);
}

/*
 * With a small max_buffer_memory, clients holding large partial frames are
 * closed with ERROR 4, largest first, logged at most once a second; a
 * small partial frame stays, and a client talking in whole messages on the
 * same worker keeps being served.  The worker's memory stays bounded.
 */
static void
test_largest_partial_frames_are_closed_over_max_buffer_memory(void)
{
	enum { NHOG = 8, CHUNK = 128 * 1024 };
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_frame = 4194304; max_buffer_memory = 1048576;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo",
		    .extra = "frame_timeout = 60; heartbeat_timeout = 60;" } },
	};
	struct srv *s = srv_start(&o);
	pid_t w = s->workers[0];
	static uint8_t buf[NHOG * CHUNK];
	int hog[NHOG], good, small, i, closed = 0, st, last_closed = 0;
	long long rss0, rss1;
	int64_t t0;

	good = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	small = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(good >= 0 && small >= 0);
	expect_echo(good, 0);
	rss0 = proc_kb(w, "VmRSS");
	memset(buf, 'h', sizeof(buf));
	proto_frame_header(buf, FRAME_DATA, 4194304);
	/* a small partial frame first: it must survive */
	IT_ASSERT_STATUS(cli_send_all(small, buf, 4096, IT_IO_TIMEOUT_MS), CLI_OK);
	t0 = it_now_ms();
	/* hog i holds (i + 1) * 128 KiB: 4.5 MiB in all against a 1 MiB budget */
	for (i = 0; i < NHOG; i++) {
		hog[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(hog[i] >= 0);
		/* a hog closed meanwhile may reset the rest of its send: not a failure */
		(void)!cli_send_all(hog[i], buf, (size_t)(i + 1) * CHUNK, IT_IO_TIMEOUT_MS);
		expect_echo(good, i + 1);
	}
	for (i = 0; i < NHOG; i++) {
		struct it_frame f;

		st = cli_read_frame(hog[i], &f, 300);
		if (st == CLI_OK) {
			IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
			IT_ASSERT_INT(frame_error_code(&f), ==, 4);
			it_frame_free(&f);
			closed++;
			last_closed = i == NHOG - 1;
		} else {
			IT_ASSERT_STATUS(st, CLI_TIMEOUT);	/* still open, holding its frame */
		}
	}
	it_note("%d hogs closed", closed);
	/* the budget cannot hold them all; the last one alone is over it */
	IT_ASSERT_INT(closed, >=, NHOG / 2);
	IT_ASSERT(last_closed);
	/* the smallest partial frame is never the one to go */
	IT_ASSERT_STATUS(cli_read_frame(small, &(struct it_frame){ 0 }, 300), CLI_TIMEOUT);
	/* counted as too_large, logged at most once a second */
	IT_ASSERT(srv_log_wait_count(s, closed, IT_IO_TIMEOUT_MS, "close long .* reason too_large") >= closed);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "limits.max_buffer_memory \\(1048576 bytes\\): closed [0-9]+ connection") == 0);
	IT_ASSERT_INT(srv_log_count(s, "limits.max_buffer_memory"), <=,
	    (it_now_ms() - t0) / 1000 + 2);
	/* the worker is the same one, served the whole time, and bounded */
	IT_ASSERT_INT(s->workers[0], ==, w);
	expect_echo(good, 100);
	rss1 = proc_kb(w, "VmRSS");
	it_note("VmRSS %lld -> %lld", rss0, rss1);
	IT_ASSERT_INT(rss1 - rss0, <, 8LL << 20);
	for (i = 0; i < NHOG; i++)
		close(hog[i]);
	close(small);
	close(good);
}

static const struct it_test limits_tests[] = {
	{ "test_worker_out_of_descriptors_pauses_accept_without_spinning",
	    test_worker_out_of_descriptors_pauses_accept_without_spinning, 0 },
	{ "test_client_that_never_reads_is_throttled_and_others_are_served",
	    test_client_that_never_reads_is_throttled_and_others_are_served, 0 },
	{ "test_announced_frames_cost_only_the_bytes_that_arrived",
	    test_announced_frames_cost_only_the_bytes_that_arrived, 0 },
	{ "test_largest_partial_frames_are_closed_over_max_buffer_memory",
	    test_largest_partial_frames_are_closed_over_max_buffer_memory, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(limits, limits_tests)
