/*
 * Hostile load: clients that push as hard as they can, and clients that
 * never read, must cost the worker a bounded amount and must not starve a
 * well-behaved client on the same worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FLOODERS 50
#define FLOOD_MSG 1024

/* one flooding client: writes frames as fast as the server takes them, reads every echo */
struct flooder {
	int fd;
	size_t out_off;			/* progress through the current stream chunk */
	unsigned long long echoed;	/* echo bytes read back */
};

/*
 * The flood, in its own process: FLOODERS connections each keep the
 * server's input full and read whatever comes back, until the parent shuts
 * its end of out_fd or max_ms pass; then it writes every connection's
 * echoed byte count to out_fd.
 */
static void
flood(const char *addr, int port, int out_fd, int max_ms)
{
	struct flooder fl[FLOODERS];
	struct pollfd pfd[FLOODERS];
	struct it_buf chunk = { 0 };
	uint8_t payload[FLOOD_MSG], sink[65536];
	int64_t end = it_now_ms() + max_ms;

	memset(payload, 'f', sizeof(payload));
	for (int i = 0; i < 16; i++)
		frame_append(&chunk, FRAME_DATA, payload, sizeof(payload));
	for (int i = 0; i < FLOODERS; i++) {
		fl[i].fd = cli_connect(addr, port);
		if (fl[i].fd == -1)
			_exit(2);
		fcntl(fl[i].fd, F_SETFL, O_NONBLOCK);
		fl[i].out_off = 0;
		fl[i].echoed = 0;
	}
	while (it_now_ms() < end) {
		char c;

		if (recv(out_fd, &c, 1, MSG_DONTWAIT) == 0)
			break;
		for (int i = 0; i < FLOODERS; i++) {
			pfd[i].fd = fl[i].fd;
			pfd[i].events = POLLIN | POLLOUT;
			pfd[i].revents = 0;
		}
		if (poll(pfd, FLOODERS, 50) <= 0)
			continue;
		for (int i = 0; i < FLOODERS; i++) {
			ssize_t n;

			if (pfd[i].revents & POLLIN) {
				while ((n = read(fl[i].fd, sink, sizeof(sink))) > 0)
					fl[i].echoed += (unsigned long long)n;
			}
			if (pfd[i].revents & POLLOUT) {
				n = send(fl[i].fd, chunk.data + fl[i].out_off,
				    chunk.len - fl[i].out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n > 0)
					fl[i].out_off = (fl[i].out_off + (size_t)n) % chunk.len;
			}
		}
	}
	for (int i = 0; i < FLOODERS; i++) {
		unsigned long long v = fl[i].echoed;
		if (write(out_fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			_exit(3);
	}
	_exit(0);
}

static void
test_a_flood_from_50_connections_starves_no_one(void)
{
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo",
		    .extra = "heartbeat_timeout = 0; write_timeout = 30;" } },
	};
	struct srv *s;
	int sv[2], quiet, rounds = 0;
	int64_t worst = 0, t0, flood_end;
	unsigned long long echoed[FLOODERS], least = ~0ULL;
	pid_t pid;
	size_t got = 0;

	o.ready_timeout_ms = 0;
	s = srv_start(&o);
	IT_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	IT_ASSERT(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		flood(srv_addr(s, "long"), srv_port(s, "long"), sv[1], 20000);
	}
	close(sv[1]);
	quiet = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(quiet >= 0);
	/* let the flood reach full speed first */
	it_sleep_ms(500);
	/*
	 * The well-behaved client: one message at a time, for 3 s.  Its round
	 * trip measures from the last byte it sent, the moment the server
	 * could know.  Starved, it would wait seconds; served fairly, it waits
	 * for one pass over 51 connections.
	 */
	flood_end = it_now_ms() + 3000;
	while (it_now_ms() < flood_end) {
		struct it_frame f;
		char msg[32];
		int n = snprintf(msg, sizeof(msg), "quiet %d", rounds);

		IT_ASSERT_STATUS(cli_send_frame(quiet, FRAME_DATA, msg, (uint32_t)n), CLI_OK);
		t0 = it_now_ms();
		IT_ASSERT_STATUS(cli_read_frame(quiet, &f, IT_IO_TIMEOUT_MS), CLI_OK);
		if (it_now_ms() - t0 > worst)
			worst = it_now_ms() - t0;
		IT_ASSERT_INT(f.len, ==, n);
		IT_ASSERT_MEM(f.payload, msg, (size_t)n);
		it_frame_free(&f);
		rounds++;
		it_sleep_ms(20);
	}
	/* stop the flood: shutting our end makes its recv() see EOF */
	shutdown(sv[0], SHUT_WR);
	IT_ASSERT_STATUS(cli_read_exact(sv[0], echoed, sizeof(echoed), 10000, &got), CLI_OK);
	for (int i = 0; i < FLOODERS; i++)
		if (echoed[i] < least)
			least = echoed[i];
	fprintf(stderr, "flood: quiet client %d round trips, worst %lld ms; "
	    "least-served flooder got %llu echo bytes\n", rounds, (long long)worst, least);
	IT_ASSERT_INT(rounds, >=, 20);
	/* generous for a loaded 2-core machine, far below what starvation looks like */
	IT_ASSERT_INT(worst, <, 1500);
	/* no flooder starved either: each got at least one full message back */
	IT_ASSERT_INT(least, >=, FLOOD_MSG + FRAME_HDR_LEN);
	IT_ASSERT(kill(s->pid, 0) == 0);
}

/* the VmRSS of pid in kB, -1 if unreadable */
static long
rss_kb(pid_t pid)
{
	char line[128];

	if (it_proc_status_line(pid, "VmRSS", line, sizeof(line)) == -1)
		return -1;
	return strtol(line, NULL, 10);
}

static void
test_clients_that_never_read_cost_bounded_memory_and_are_timed_out(void)
{
	enum { SLOW = 10, MAXOUT = 65536 };
	char limits[128];
	struct srv_opts o = {
		.workers = 1,
		.timer = "tick_ms = 10; slots = 256;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo",
		    .extra = "heartbeat_timeout = 0; write_timeout = 5;" } },
	};
	struct srv *s;
	int slow[SLOW], good;
	uint8_t payload[4096];
	struct it_buf burst = { 0 };
	long base, peak = 0;
	int64_t t_last_sent, end;
	pid_t w;

	snprintf(limits, sizeof(limits), "max_output = %d;", MAXOUT);
	o.limits = limits;
	s = srv_start(&o);
	w = s->workers[0];
	base = rss_kb(w);
	IT_ASSERT(base > 0);
	memset(payload, 's', sizeof(payload));
	for (int i = 0; i < 64; i++)
		frame_append(&burst, FRAME_DATA, payload, sizeof(payload));
	for (int i = 0; i < SLOW; i++) {
		int sz = 4096;

		slow[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(slow[i] >= 0);
		/* a small receive buffer: the server's output backs up quickly */
		setsockopt(slow[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		fcntl(slow[i], F_SETFL, O_NONBLOCK);
	}
	/*
	 * Each slow client sends until its own socket refuses more: the echoes
	 * fill the kernel's buffers first (several MB on loopback), then the
	 * worker's max_output, then the worker stops reading it, and only then
	 * does our send side fill.  Bounded in time.
	 */
	end = it_now_ms() + 20000;
	{
		int64_t last_took[SLOW], start = it_now_ms();
		int done = 0;

		for (int i = 0; i < SLOW; i++)
			last_took[i] = start;
		/* round robin, so every slow client stalls at about the same time */
		while (!done && it_now_ms() < end) {
			done = 1;
			for (int i = 0; i < SLOW; i++) {
				ssize_t n;

				if (last_took[i] == 0)
					continue;	/* already closed by the server */
				n = send(slow[i], burst.data, burst.len, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n > 0)
					last_took[i] = it_now_ms();
				else if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
					last_took[i] = 0;
				else
					IT_ASSERT(n == -1 && errno == EAGAIN);
				if (last_took[i] != 0 && it_now_ms() - last_took[i] < 300)
					done = 0;
			}
			it_sleep_ms(5);
		}
	}
	IT_ASSERT(it_now_ms() < end);
	fprintf(stderr, "slow readers: filled in %lld ms\n", (long long)(it_now_ms() - end + 20000));
	good = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(good >= 0);
	t_last_sent = it_now_ms();
	/* meanwhile the good client is served, promptly */
	for (int i = 0; i < 10; i++) {
		long r;

		IT_ASSERT_STATUS(cli_send_frame(good, FRAME_DATA, "ok", 2), CLI_OK);
		IT_EXPECT_FRAME(good, FRAME_DATA, "ok", 2);
		if ((r = rss_kb(w)) > peak)
			peak = r;
		it_sleep_ms(50);
	}
	/*
	 * Bounded: each slow client holds at most about max_output plus one
	 * read's worth of replies (64 KiB) in the worker; allow that, the
	 * allocator's slack and a fixed margin.
	 */
	fprintf(stderr, "slow readers: worker RSS %ld kB before, %ld kB peak\n", base, peak);
	/* AddressSanitizer keeps freed memory in quarantine (256 MB): RSS says nothing there */
	if (getenv("ASAN_OPTIONS") == NULL)
		IT_ASSERT_INT(peak - base, <, SLOW * (2 * MAXOUT + 65536) / 1024 + 8192);
	/* and none of them is kept: the write timeout closes every one */
	end = t_last_sent + 5000 + 5000;
	for (int i = 0; i < SLOW; i++) {
		int gone = 0;

		while (!gone && it_now_ms() < end) {
			struct pollfd p = { slow[i], POLLRDHUP, 0 };

			/* the server's FIN or RST shows without our reading the queued echoes */
			if (poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
				gone = 1;
		}
		IT_ASSERT(gone);
	}
	IT_ASSERT(srv_log_count(s, "worker 0 .*(killed|exited)") == 0);
	/* the good client is still served after all of that */
	IT_ASSERT_STATUS(cli_send_frame(good, FRAME_DATA, "still", 5), CLI_OK);
	IT_EXPECT_FRAME(good, FRAME_DATA, "still", 5);
	it_buf_free(&burst);
}

static const struct it_test hostile_load_tests[] = {
	{ "test_a_flood_from_50_connections_starves_no_one",
	    test_a_flood_from_50_connections_starves_no_one, 60 },
	{ "test_clients_that_never_read_cost_bounded_memory_and_are_timed_out",
	    test_clients_that_never_read_cost_bounded_memory_and_are_timed_out, 60 },
	{ NULL, NULL, 0 }
};
IT_SUITE(hostile_load, hostile_load_tests)
