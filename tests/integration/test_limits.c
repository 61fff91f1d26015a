/*
 * Resource limits: a worker out of file descriptors pauses accepting
 * instead of spinning, logs it at most once a second, and takes clients
 * again once descriptors are free.
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

static const struct it_test limits_tests[] = {
	{ "test_worker_out_of_descriptors_pauses_accept_without_spinning",
	    test_worker_out_of_descriptors_pauses_accept_without_spinning, 0 },
	{ "test_client_that_never_reads_is_throttled_and_others_are_served",
	    test_client_that_never_reads_is_throttled_and_others_are_served, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(limits, limits_tests)
