/*
 * The connection timers end to end (issue 4): heartbeat, deadline, frame,
 * write and first-message timeouts against a real server, on the clock.
 * Each test checks three things: what the client sees (an ERROR 5 naming
 * the timeout on frame listeners, then EOF; EOF alone on raw ones), when
 * it sees it (never before the timeout is due, at most a tick plus a
 * margin after), and the server's debug line "close NAME PEER reason
 * REASON age S".  It also runs the seed's experiment, by hand-written
 * client and through sockserv-client, holds a few thousand connections
 * across two workers, half heartbeating and half silent, and runs the
 * connection module in process on a fake clock to cross the point where
 * its 32-bit time stamps wrap.
 *
 * Every server here runs with the default wheel (tick_ms = 100), so the
 * bounds are the ones a real configuration gets.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "handler.h"
#include "harness.h"
#include "../minijson.h"
#include "log.h"

#define TICK_MS 100		/* timer.tick_ms the servers here run with (the default) */
/*
 * The client's clock and the server's are read at different moments (the
 * client stamps before it sends, the server when it reads): a close may
 * look this much early without being early.
 */
#define CLOCK_SLACK_MS 50
#define LATE_MS 500		/* scheduling delay allowed past due + one tick */
#define SEED_TEXT "This is a test for long conn"

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static void
sleep_until(int64_t t)
{
	int64_t now = it_now_ms();

	if (t > now)
		it_sleep_ms((int)(t - now));
}

/* the seed's message k: "<k>This is a test for long conn", as sockserv-client sends it */
static size_t
seed_msg(char *buf, size_t len, int k)
{
	return (size_t)snprintf(buf, len, "%d%s", k, SEED_TEXT);
}

/* a server with one listener "t" of codec and settings extra (and the default wheel) */
static struct srv *
start_one(const char *codec, const char *extra)
{
	struct srv_opts o = {
		.listeners = { { .name = "t", .codec = codec, .extra = extra } },
	};

	return srv_start(&o);
}

static int
connect_t(struct srv *s, int *port)
{
	int fd = cli_connect(srv_addr(s, "t"), srv_port(s, "t"));

	IT_ASSERT(fd >= 0);
	/* now, while the socket is fresh: a reset socket may forget it */
	*port = cli_local_port(fd);
	IT_ASSERT(*port > 0);
	return fd;
}

/*
 * elapsed (ms since the client's reference moment) is on time for something
 * due at due_ms: not before it, and at most a tick plus late_ms after it
 */
#define ASSERT_ON_TIME(what, elapsed, due_ms, late_ms)			\
	assert_on_time_at(__FILE__, __LINE__, (what), (elapsed), (due_ms), (late_ms))

static void
assert_on_time_at(const char *file, int line, const char *what, int64_t elapsed,
    int64_t due_ms, int64_t late_ms)
{
	if (elapsed < due_ms - CLOCK_SLACK_MS) {
		it_report(file, line, "%s came early: after %lld ms, due at %lld ms",
		    what, (long long)elapsed, (long long)due_ms);
		it_abort();
	}
	if (elapsed > due_ms + TICK_MS + late_ms) {
		it_report(file, line, "%s came late: after %lld ms, due at %lld ms "
		    "(allowed: a %d ms tick + %lld ms)", what, (long long)elapsed,
		    (long long)due_ms, TICK_MS, (long long)late_ms);
		it_abort();
	}
}

/*
 * Wait for the server's "close t 127.0.0.1:PORT reason REASON age S" line
 * and return the age in ms.  Any other reason for this port fails at once.
 */
static int64_t
close_age_ms(struct srv *s, int port, const char *reason)
{
	char line[1024], got[64];
	const char *p;
	double age;

	if (srv_log_wait(s, IT_IO_TIMEOUT_MS, line, sizeof(line),
	    "close t 127\\.0\\.0\\.1:%d reason ", port) == -1)
		IT_FAIL("no \"close t 127.0.0.1:%d reason ...\" line in the server log", port);
	p = strstr(line, " reason ");
	if (p == NULL || sscanf(p, " reason %63s age %lf", got, &age) != 2)
		IT_FAIL("cannot parse the close line: %s", line);
	if (strcmp(got, reason) != 0)
		IT_FAIL("connection closed for %s, expected %s: %s", got, reason, line);
	return (int64_t)(age * 1000.0 + 0.5);
}

/*
 * Read what must be the timeout's ERROR 5 (within wait_ms), check its text,
 * then EOF.  Returns the ms from t_ref to the ERROR's arrival.
 */
static int64_t
expect_timeout_error(int fd, int64_t t_ref, int wait_ms, const char *text)
{
	struct it_frame f;
	int64_t at;
	int st;

	st = cli_read_frame(fd, &f, wait_ms);
	at = it_now_ms() - t_ref;
	if (st != CLI_OK)
		IT_FAIL("expected ERROR 5 \"%s\" within %d ms, got %s after %lld ms",
		    text, wait_ms, cli_status_name(st), (long long)at);
	if (f.type != FRAME_ERROR || frame_error_code(&f) != PERR_TIMEOUT)
		IT_FAIL("expected ERROR 5 \"%s\", got a frame of type %d, code %d "
		    "(%u bytes)", text, f.type, frame_error_code(&f), f.len);
	if (f.len != 2 + strlen(text) || memcmp(f.payload + 2, text, strlen(text)) != 0)
		IT_FAIL("ERROR 5 text is \"%.*s\", expected \"%s\"",
		    (int)(f.len - 2), (const char *)f.payload + 2, text);
	it_frame_free(&f);
	st = cli_wait_eof(fd, IT_IO_TIMEOUT_MS);
	if (st != CLI_EOF && st != CLI_RESET)
		IT_FAIL("expected EOF after the ERROR, got %s", cli_status_name(st));
	return at;
}

/* EOF (no bytes first) within wait_ms; returns the ms from t_ref to it */
static int64_t
expect_silent_eof(int fd, int64_t t_ref, int wait_ms)
{
	int st = cli_wait_eof(fd, wait_ms);
	int64_t at = it_now_ms() - t_ref;

	if (st != CLI_EOF && st != CLI_RESET)
		IT_FAIL("expected EOF within %d ms, got %s after %lld ms", wait_ms,
		    cli_status_name(st), (long long)at);
	return at;
}

/* fd is readable (or closed) within ms */
static int
readable_within(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r;

	while ((r = poll(&pfd, 1, ms > 0 ? ms : 0)) == -1 && errno == EINTR)
		;
	return r > 0;
}

/* ------------------------------------------------------------------ */
/* the seed's experiment                                               */

#define HB3 "heartbeat_timeout = 3;"

/*
 * The seed's five messages 1 s apart; the schedule is absolute, so the
 * gaps do not drift with the time the echoes take.
 */
static void
test_raw_messages_1s_apart_keep_the_connection(void)
{
	struct srv *s = start_one("raw", HB3);
	char msg[64];
	int port, fd = connect_t(s, &port), k;
	int64_t t0 = it_now_ms();
	size_t n;

	for (k = 1; k <= 5; k++) {
		sleep_until(t0 + (k - 1) * 1000);
		n = seed_msg(msg, sizeof(msg), k);
		IT_ASSERT_STATUS(cli_send_all(fd, msg, n, IT_IO_TIMEOUT_MS), CLI_OK);
		IT_EXPECT_BYTES(fd, msg, n);
	}
	/* 4 s of conversation on a 3 s heartbeat, and still open 1 s after the last */
	IT_EXPECT_SILENCE(fd, 1000);
	IT_ASSERT_INT(srv_log_count(s, "close t 127\\.0\\.0\\.1:%d ", port), ==, 0);
	close(fd);
	close_age_ms(s, port, "peer");
}

static void
test_raw_messages_4s_apart_are_closed_3s_after_the_first(void)
{
	struct srv *s = start_one("raw", HB3);
	char msg[64];
	int port, fd = connect_t(s, &port);
	int64_t t1, at, age;
	size_t n = seed_msg(msg, sizeof(msg), 1);

	t1 = it_now_ms();
	IT_ASSERT_STATUS(cli_send_all(fd, msg, n, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(fd, msg, n);
	/* the EOF must come before the second message would go, 4 s after the first */
	at = expect_silent_eof(fd, t1, (int)(t1 + 4000 - it_now_ms()));
	ASSERT_ON_TIME("the heartbeat close", at, 3000, LATE_MS);
	age = close_age_ms(s, port, "heartbeat");
	ASSERT_ON_TIME("the close line's age", age, 3000, LATE_MS);
	close(fd);
}

static void
test_frame_messages_1s_apart_keep_the_connection(void)
{
	struct srv *s = start_one("frame", HB3);
	char msg[64];
	int port, fd = connect_t(s, &port), k;
	int64_t t0 = it_now_ms();
	size_t n;

	for (k = 1; k <= 5; k++) {
		sleep_until(t0 + (k - 1) * 1000);
		n = seed_msg(msg, sizeof(msg), k);
		IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)n), CLI_OK);
		IT_EXPECT_FRAME(fd, FRAME_DATA, msg, n);
	}
	IT_EXPECT_SILENCE(fd, 1000);
	IT_ASSERT_INT(srv_log_count(s, "close t 127\\.0\\.0\\.1:%d ", port), ==, 0);
	close(fd);
	close_age_ms(s, port, "peer");
}

static void
test_frame_messages_4s_apart_get_error_5_3s_after_the_first(void)
{
	struct srv *s = start_one("frame", HB3);
	char msg[64];
	int port, fd = connect_t(s, &port);
	int64_t t1, at, age;
	size_t n = seed_msg(msg, sizeof(msg), 1);

	t1 = it_now_ms();
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)n), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, msg, n);
	at = expect_timeout_error(fd, t1, (int)(t1 + 4000 - it_now_ms()),
	    "heartbeat timeout after 3 s");
	ASSERT_ON_TIME("ERROR 5 (heartbeat)", at, 3000, LATE_MS);
	age = close_age_ms(s, port, "heartbeat");
	ASSERT_ON_TIME("the close line's age", age, 3000, LATE_MS);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* what counts as talking                                              */

static void
test_pings_alone_keep_a_frame_connection_alive(void)
{
	struct srv *s = start_one("frame", "heartbeat_timeout = 2;");
	char p[16];
	int port, fd = connect_t(s, &port), k, n;
	int64_t t0 = it_now_ms(), last = 0, at;

	/* 7 s of PINGs every 0.5 s: three and a half heartbeat periods */
	for (k = 0; k < 15; k++) {
		sleep_until(t0 + k * 500);
		n = snprintf(p, sizeof(p), "ping %d", k);
		last = it_now_ms();
		IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_PING, p, (uint32_t)n), CLI_OK);
		IT_EXPECT_FRAME(fd, FRAME_PONG, p, (size_t)n);
	}
	IT_ASSERT_INT(srv_log_count(s, "close t 127\\.0\\.0\\.1:%d ", port), ==, 0);
	/* and the heartbeat was armed all along: silence now closes it */
	at = expect_timeout_error(fd, last, 2000 + TICK_MS + LATE_MS + 1000,
	    "heartbeat timeout after 2 s");
	ASSERT_ON_TIME("ERROR 5 after the last PING", at, 2000, LATE_MS);
	close_age_ms(s, port, "heartbeat");
	close(fd);
}

/*
 * A frame trickled byte by byte is not a message: it neither restarts the
 * heartbeat nor escapes it (frame_timeout off here, so only the heartbeat
 * can end it).
 */
static void
test_partial_frames_do_not_count_as_heartbeat(void)
{
	struct srv *s = start_one("frame", "heartbeat_timeout = 1.5; frame_timeout = 0;");
	uint8_t hdr[FRAME_HDR_LEN];
	int port, fd = connect_t(s, &port), i;
	int64_t t1, at;

	t1 = it_now_ms();
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hi", 2), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hi", 2);
	proto_frame_header(hdr, FRAME_DATA, 100);
	/* never the whole frame: 8 + 100 bytes would complete it */
	for (i = 0; i < FRAME_HDR_LEN + 99; i++) {
		uint8_t b = i < FRAME_HDR_LEN ? hdr[i] : 'x';

		if (readable_within(fd, 200))
			break;
		IT_ASSERT_STATUS(cli_send_all(fd, &b, 1, IT_IO_TIMEOUT_MS), CLI_OK);
	}
	at = expect_timeout_error(fd, t1, IT_IO_TIMEOUT_MS,
	    "heartbeat timeout after 1.5 s");
	ASSERT_ON_TIME("ERROR 5 (heartbeat) during the trickle", at, 1500, LATE_MS);
	close_age_ms(s, port, "heartbeat");
	close(fd);
}

/*
 * first_message_timeout longer than the heartbeat: once the first message
 * is in, the (shorter) heartbeat counts from it, not the first-message
 * timeout from accept.
 */
static void
test_heartbeat_runs_from_the_first_message_when_first_message_timeout_is_longer(void)
{
	struct srv *s = start_one("frame",
	    "heartbeat_timeout = 1; first_message_timeout = 4;");
	int port, fd = connect_t(s, &port);
	int64_t t1, at;

	t1 = it_now_ms();
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "first", 5), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "first", 5);
	at = expect_timeout_error(fd, t1, 4000 + TICK_MS + LATE_MS,
	    "heartbeat timeout after 1 s");
	ASSERT_ON_TIME("ERROR 5 (heartbeat after the first message)", at, 1000, LATE_MS);
	close_age_ms(s, port, "heartbeat");
	close(fd);
}

/* ------------------------------------------------------------------ */
/* deadline                                                            */

static void
test_deadline_closes_a_connection_talking_every_100ms(void)
{
	struct srv *s = start_one("frame", "deadline = 2;");
	struct it_frame f;
	char p[32];
	int fd, port, k, n, st, echoed = 0;
	int64_t t0, at = -1;

	/* the server's accept comes after this: its deadline is later than ours */
	t0 = it_now_ms();
	fd = connect_t(s, &port);
	for (k = 0; at < 0 && k < 60; k++) {
		n = snprintf(p, sizeof(p), "talk %d", k);
		IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, p, (uint32_t)n), CLI_OK);
		/* read everything until the next 100 ms slot: echoes, or the end */
		while (at < 0 && readable_within(fd, (int)(t0 + (k + 1) * 100 - it_now_ms()))) {
			IT_ASSERT_STATUS(cli_read_frame(fd, &f, IT_IO_TIMEOUT_MS), CLI_OK);
			if (f.type == FRAME_ERROR) {
				at = it_now_ms() - t0;
				IT_ASSERT_INT(frame_error_code(&f), ==, PERR_TIMEOUT);
				IT_ASSERT_INT(f.len, ==, 2 + strlen("deadline reached after 2 s"));
				IT_ASSERT_MEM(f.payload + 2, "deadline reached after 2 s", f.len - 2);
			} else {
				IT_ASSERT_INT(f.type, ==, FRAME_DATA);
				echoed++;
			}
			it_frame_free(&f);
		}
		sleep_until(t0 + (k + 1) * 100);
	}
	IT_ASSERT(at >= 0);
	/* it really was talking: an echo for (almost) every 100 ms until the end */
	IT_ASSERT_INT(echoed, >=, 15);
	st = cli_wait_eof(fd, IT_IO_TIMEOUT_MS);
	IT_ASSERT(st == CLI_EOF || st == CLI_RESET);
	/* 2.0 .. 2.6 s */
	ASSERT_ON_TIME("ERROR 5 (deadline)", at, 2000, LATE_MS);
	ASSERT_ON_TIME("the close line's age", close_age_ms(s, port, "deadline"), 2000,
	    LATE_MS);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* frame timeout                                                       */

/*
 * A frame finished within frame_timeout is fine however slowly it came;
 * the next frame's clock starts when its own first byte arrives.
 */
static void
test_half_a_frame_then_silence_gets_frame_timeout(void)
{
	struct srv *s = start_one("frame", "frame_timeout = 1.5;");
	struct it_buf b = { NULL, 0, 0 };
	int port, fd = connect_t(s, &port);
	int64_t t1, at;

	frame_append(&b, FRAME_DATA, "slow but in time", 16);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, 10, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_SILENCE(fd, 1000);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data + 10, b.len - 10, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "slow but in time", 16);

	/* now half of a frame and nothing more */
	t1 = it_now_ms();
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len / 2, IT_IO_TIMEOUT_MS), CLI_OK);
	at = expect_timeout_error(fd, t1, 1500 + TICK_MS + LATE_MS + 1000,
	    "frame timeout after 1.5 s");
	ASSERT_ON_TIME("ERROR 5 (frame timeout)", at, 1500, LATE_MS);
	close_age_ms(s, port, "frame_timeout");
	it_buf_free(&b);
	close(fd);
}

/* a slowloris: one byte every 200 ms of a 108-byte frame; closed at frame_timeout */
static void
test_slowloris_trickling_a_frame_is_closed_at_frame_timeout(void)
{
	struct srv *s = start_one("frame", "frame_timeout = 2;");
	uint8_t hdr[FRAME_HDR_LEN];
	int port, fd = connect_t(s, &port), i, sent = 0;
	int64_t t1 = 0, at;

	proto_frame_header(hdr, FRAME_DATA, 100);
	for (i = 0; i < FRAME_HDR_LEN + 100; i++) {
		uint8_t byte = i < FRAME_HDR_LEN ? hdr[i] : 'z';

		if (i == 0)
			t1 = it_now_ms();
		else if (readable_within(fd, (int)(t1 + i * 200 - it_now_ms())))
			break;
		IT_ASSERT_STATUS(cli_send_all(fd, &byte, 1, IT_IO_TIMEOUT_MS), CLI_OK);
		sent++;
	}
	/* ~10 bytes went, far from the 108 that finish the frame */
	IT_ASSERT_INT(sent, <, FRAME_HDR_LEN + 100);
	at = expect_timeout_error(fd, t1, IT_IO_TIMEOUT_MS, "frame timeout after 2 s");
	ASSERT_ON_TIME("ERROR 5 (frame timeout) during the trickle", at, 2000, LATE_MS);
	close_age_ms(s, port, "frame_timeout");
	close(fd);
}

/* ------------------------------------------------------------------ */
/* write timeout                                                       */

/*
 * Push frames of payload without reading the echoes until nothing more goes
 * for 300 ms: the server has stopped reading us.  Returns the bytes sent
 * (whole frames, then maybe part of one) and the moment of the stall.
 */
static size_t
push_until_stalled(int fd, const struct it_buf *frame, int64_t *stalled)
{
	struct pollfd pfd;
	size_t total = 0, off = 0;

	/*
	 * No SO_RCVBUF to make this shorter: shrinking a window already
	 * offered makes TCP drop data and back off its retransmits for
	 * tens of seconds, a stall that is not the server's.
	 */
	*stalled = -1;
	while (*stalled < 0 && total < (512u << 20)) {
		ssize_t r = send(fd, frame->data + off, frame->len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r > 0) {
			total += (size_t)r;
			off = (off + (size_t)r) % frame->len;
			continue;
		}
		if (r == -1 && errno != EAGAIN && errno != EINTR)
			IT_FAIL("send after %zu bytes: %s", total, strerror(errno));
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 300) == 0)
			*stalled = it_now_ms();
	}
	if (*stalled < 0)
		IT_FAIL("512 MiB went without a stall: the server never stopped reading");
	return total;
}

/*
 * Echo requests pushed as fast as the server reads them, replies never
 * read: the server's output stops moving and, write_timeout later, it drops
 * the client (no ERROR: a client that does not read gets nothing pushed).
 */
static void
test_client_that_never_reads_is_closed_for_write_timeout(void)
{
	struct srv_opts o = {
		.limits = "max_output = 65536;",
		.listeners = { { .name = "t", .codec = "frame",
		    .extra = "write_timeout = 1;" } },
	};
	struct srv *s = srv_start(&o);
	struct it_buf b = { NULL, 0, 0 };
	static uint8_t payload[65536];
	struct pollfd pfd;
	int port, fd = connect_t(s, &port), closed = 0;
	int64_t stalled, t;

	memset(payload, 'w', sizeof(payload));
	frame_append(&b, FRAME_DATA, payload, sizeof(payload));
	push_until_stalled(fd, &b, &stalled);
	/* the server drops us; we learn it from an error on our side of the socket */
	while (!closed && it_now_ms() - stalled < 1000 + TICK_MS + 5000) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 50) > 0) {
			if (pfd.revents & (POLLERR | POLLHUP))
				closed = 1;
			else if (send(fd, payload, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1 &&
			    errno != EAGAIN)
				closed = 1;
		}
	}
	t = it_now_ms() - stalled;
	IT_ASSERT(closed);
	/* its output stalled at the latest when ours did */
	if (t > 1000 + TICK_MS + 1500)
		IT_FAIL("closed %lld ms after the client's sends stalled, write_timeout "
		    "is 1 s", (long long)t);
	/* and not before: no progress for 1 s counted from at least the connect */
	IT_ASSERT_INT(close_age_ms(s, port, "write_timeout"), >=, 1000 - CLOCK_SLACK_MS);
	it_buf_free(&b);
	close(fd);
}

/*
 * While the server is not reading a connection (its output is over
 * max_output) the client's messages wait unread in the kernel: that is not
 * silence, and the heartbeat must not end it.  The client stays away for
 * longer than the heartbeat after the server stopped reading, then reads
 * every echo.  Then real silence ends it, on time.
 *
 * The server reads the client's last frame somewhere between the moment
 * the client finished sending it and the moment the client read its echo;
 * the heartbeat counts from that read.  So "never early" is measured from
 * the end of the sending (the earliest the read can be) and "on time"
 * from the last echo (the latest): timing both from the echo failed on a
 * busy machine, where the server had read the frame long before the
 * client got around to reading the echo.
 */
static void
test_heartbeat_spares_a_client_the_server_is_not_reading(void)
{
	struct srv_opts o = {
		.limits = "max_output = 65536;",
		.listeners = { { .name = "t", .codec = "frame",
		    .extra = "heartbeat_timeout = 1;" } },
	};
	struct srv *s = srv_start(&o);
	struct it_buf b = { NULL, 0, 0 };
	static uint8_t payload[65536];
	uint8_t *in;
	size_t total, partial, nframes, i;
	int port, fd = connect_t(s, &port);
	int64_t stalled, sent_at, echoed_at, err_at;

	memset(payload, 'h', sizeof(payload));
	frame_append(&b, FRAME_DATA, payload, sizeof(payload));
	total = push_until_stalled(fd, &b, &stalled);
	/* over a heartbeat with the server not reading us */
	it_sleep_ms(1500);
	IT_ASSERT_INT(srv_log_count(s, "close t 127\\.0\\.0\\.1:%d ", port), ==, 0);

	/* every echo, while the rest of the frame cut by the stall goes out */
	partial = total % b.len;
	nframes = total / b.len + (partial != 0);
	in = malloc(nframes * b.len);
	IT_ASSERT(in != NULL);
	IT_ASSERT_STATUS(cli_exchange_at(fd, b.data + partial, partial ? b.len - partial : 0,
	    in, nframes * b.len, 60000, NULL, NULL, &sent_at), CLI_OK);
	echoed_at = it_now_ms();
	for (i = 0; i < nframes; i++)
		if (it_memdiff(in + i * b.len, b.data, b.len) >= 0)
			IT_FAIL("echo %zu of %zu is not the frame sent", i, nframes);
	free(in);

	/* the heartbeat still works once we are heard again */
	/* when the ERROR arrived (the EOF after it is waited for too) */
	err_at = echoed_at + expect_timeout_error(fd, echoed_at, 1000 + TICK_MS + LATE_MS + 1000,
	    "heartbeat timeout after 1 s");
	if (err_at - sent_at < 1000 - CLOCK_SLACK_MS)
		IT_FAIL("ERROR 5 came early: %lld ms after the client finished sending, "
		    "heartbeat_timeout is 1 s", (long long)(err_at - sent_at));
	if (err_at - echoed_at > 1000 + TICK_MS + LATE_MS)
		IT_FAIL("ERROR 5 came late: %lld ms after the last echo (allowed: 1 s + "
		    "a %d ms tick + %d ms)", (long long)(err_at - echoed_at), TICK_MS, LATE_MS);
	close_age_ms(s, port, "heartbeat");
	it_buf_free(&b);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* first message timeout                                               */

static void
test_silent_new_connection_is_closed_at_first_message_timeout(void)
{
	struct srv_opts o = {
		.listeners = {
			{ .name = "t", .codec = "frame",
			    .extra = "first_message_timeout = 1;" },
			{ .name = "r", .codec = "raw",
			    .extra = "first_message_timeout = 1.5;" },
		},
	};
	struct srv *s = srv_start(&o);
	char line[1024];
	int port, rport, fd, rfd;
	int64_t t0, at;

	t0 = it_now_ms();
	fd = connect_t(s, &port);
	rfd = cli_connect(srv_addr(s, "r"), srv_port(s, "r"));
	IT_ASSERT(rfd >= 0);
	rport = cli_local_port(rfd);
	at = expect_timeout_error(fd, t0, 1000 + TICK_MS + LATE_MS + 1000,
	    "first message timeout after 1 s");
	ASSERT_ON_TIME("ERROR 5 (first message timeout)", at, 1000, LATE_MS);
	ASSERT_ON_TIME("the close line's age",
	    close_age_ms(s, port, "first_message_timeout"), 1000, LATE_MS);
	/* raw has no ERROR to send: just the close */
	at = expect_silent_eof(rfd, t0, 1500 + TICK_MS + LATE_MS + 1000);
	ASSERT_ON_TIME("EOF (raw first message timeout)", at, 1500, LATE_MS);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, line, sizeof(line),
	    "close r 127\\.0\\.0\\.1:%d reason first_message_timeout age 1\\.[5-9]",
	    rport) == 0);
	close(fd);
	close(rfd);
}

/* ------------------------------------------------------------------ */
/* 49.7 days of uptime                                                 */

/*
 * A worker whose clock reads up to 2^32 ms (49.7 days) after its start: the
 * connection module itself, in a child of the test, on a fake monotonic
 * clock (the real one plus an offset) that crosses that point 1.5 s after
 * the connection is accepted.  conn stores its times in 32 bits; nothing
 * may change when they wrap.
 */
#define WRAP_EPOCH_MS (UINT64_C(1) << 40)	/* the fake worker's start */
#define WRAP_AHEAD_MS 1500			/* accept this long before the wrap */

static uint64_t wrap_offset;

static uint64_t
wrap_now(void)
{
	return clock_now_ms() + wrap_offset;
}

static void
wrap_refresh(void *arg)
{
	conn_env_set_now(arg, wrap_now());
}

/* the worker's accept, one client at a time */
static void
wrap_accept(struct evloop *loop, int fd, int mask, void *data)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)loop;
	(void)mask;
	if (cfd >= 0)
		conn_accept(data, cfd, (struct sockaddr *)&ss);
}

static void __attribute__((noreturn))
wrap_worker(int lfd, const char *log_path)
{
	static struct listener_conf lc;
	static struct stats_slot slot;
	struct conn_env_params ep = { .stats = &slot, .epoch_ms = WRAP_EPOCH_MS,
	    .max_output = 1 << 20, .max_conns = 100, .max_buffer_memory = 1 << 28 };
	struct conn_env *env;
	struct conn_listener *cl;
	struct evloop *loop;
	struct twheel *wheel;

	if (log_init(log_path, LOG_LVL_DEBUG, 0) == -1)
		_exit(2);
	handler_register_builtins();
	snprintf(lc.name, sizeof(lc.name), "t");
	lc.codec = CODEC_RAW;
	lc.heartbeat_ms = 1000;
	loop = evloop_create(strcmp(it_backend(), "poll") == 0 ? EVB_POLL : EVB_EPOLL,
	    1024);
	/* up 2^32 ms less WRAP_AHEAD_MS: the 32-bit stamps wrap that much later */
	wrap_offset = WRAP_EPOCH_MS + UINT32_MAX - WRAP_AHEAD_MS - clock_now_ms();
	wheel = twheel_create(TICK_MS, 512, wrap_now());
	if (loop == NULL || wheel == NULL)
		_exit(3);
	ep.loop = loop;
	ep.wheel = wheel;
	if ((env = conn_env_create(&ep)) == NULL)
		_exit(3);
	conn_env_set_now(env, wrap_now());
	evloop_set_aftersleep(loop, wrap_refresh, env);
	cl = conn_listener_create(env, &lc, handler_find("echo"), 1 << 20);
	if (cl == NULL || handler_find("echo") == NULL ||
	    evloop_add(loop, lfd, EV_READ, wrap_accept, cl) == -1)
		_exit(4);
	/* the worker's loop, on the fake clock */
	for (;;) {
		int64_t timeout;

		conn_env_set_now(env, wrap_now());
		conn_env_expire(env);
		timeout = twheel_next_timeout(wheel, conn_env_now(env));
		if (timeout < 0 || timeout > TICK_MS)
			timeout = TICK_MS;
		evloop_run_once(loop, (int)timeout);
	}
}

static void
test_heartbeat_is_exact_across_the_32_bit_clock_wrap(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char log_path[700], line[1024], msg[64];
	char *dir = it_mkdtemp();
	int lfd, fd, k, port;
	int64_t t0, last = 0, at;
	size_t n;
	pid_t pid;

	snprintf(log_path, sizeof(log_path), "%s/worker.log", dir);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	IT_ASSERT(lfd >= 0);
	IT_ASSERT(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	IT_ASSERT(listen(lfd, 16) == 0);
	IT_ASSERT(getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0);
	fflush(NULL);
	pid = fork();
	IT_ASSERT(pid >= 0);
	if (pid == 0)
		wrap_worker(lfd, log_path);
	close(lfd);

	fd = cli_connect("127.0.0.1", ntohs(sin.sin_port));
	IT_ASSERT(fd >= 0);
	port = cli_local_port(fd);
	/* every 400 ms for 3.2 s, the wrap at about 1.5 s: always within the 1 s heartbeat */
	t0 = it_now_ms();
	for (k = 1; k <= 9; k++) {
		sleep_until(t0 + (k - 1) * 400);
		n = seed_msg(msg, sizeof(msg), k);
		last = it_now_ms();
		IT_ASSERT_STATUS(cli_send_all(fd, msg, n, IT_IO_TIMEOUT_MS), CLI_OK);
		IT_EXPECT_BYTES(fd, msg, n);
	}
	/* and silence still ends it on time */
	at = expect_silent_eof(fd, last, 1000 + TICK_MS + LATE_MS + 1000);
	ASSERT_ON_TIME("the heartbeat close after the wrap", at, 1000, LATE_MS);
	if (it_file_wait(log_path, 0, IT_IO_TIMEOUT_MS, line, sizeof(line),
	    "close t 127\\.0\\.0\\.1:%d reason heartbeat age 4\\.", port) == -1) {
		it_file_tail(log_path, 20, "  | ");
		IT_FAIL("no \"close t 127.0.0.1:%d reason heartbeat age 4.xx\" line", port);
	}
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(dir);
}

/* ------------------------------------------------------------------ */
/* sockserv-client shows both outcomes                                 */

static int
run_client(int port, const char *interval, char *out, size_t outlen)
{
	char path[1100], portbuf[16];
	char *argv[] = { path, (char *)"-p", portbuf, (char *)"--raw", (char *)"-i",
	    (char *)interval, (char *)"-n", (char *)"5", NULL };
	int st;

	snprintf(path, sizeof(path), "%s/sockserv-client", it_build_dir());
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	if (access(path, X_OK) == -1)
		IT_FAIL("%s: %s", path, strerror(errno));
	st = it_run(argv, out, outlen, 30000);
	if (st == -1)
		IT_FAIL("sockserv-client -i %s did not finish", interval);
	return st;
}

static void
test_sockserv_client_shows_both_heartbeat_outcomes(void)
{
	struct srv *s = start_one("raw", HB3);
	char out[8192], want[64];
	const char *p;
	double secs;
	int st, k;

	st = run_client(srv_port(s, "t"), "1", out, sizeof(out));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		IT_FAIL("sockserv-client -i 1 -n 5 ended with %s:\n%s", it_status_str(st), out);
	for (k = 1; k <= 5; k++) {
		snprintf(want, sizeof(want), "reply %d: %d%s\n", k, k, SEED_TEXT);
		IT_ASSERT_STR_HAS(out, want);
	}
	IT_ASSERT_STR_HAS(out, "closed by client after ");

	st = run_client(srv_port(s, "t"), "4", out, sizeof(out));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
		IT_FAIL("sockserv-client -i 4 -n 5 ended with %s, expected exit 1:\n%s",
		    it_status_str(st), out);
	IT_ASSERT_STR_HAS(out, "reply 1: 1" SEED_TEXT "\n");
	if (strstr(out, "reply 2") != NULL)
		IT_FAIL("a second reply after the heartbeat close:\n%s", out);
	IT_ASSERT_STR_HAS(out, "closed by server after 3.");
	p = strstr(out, "closed by server after ");
	if (sscanf(p, "closed by server after %lf s", &secs) != 1)
		IT_FAIL("cannot read the time in: %s", p);
	/* the client's clock starts at connect, just before its first message */
	ASSERT_ON_TIME("the client's \"closed by server\"", (int64_t)(secs * 1000.0), 3000,
	    LATE_MS);
}

/* ------------------------------------------------------------------ */
/* under load                                                          */

#define LOAD_DEFAULT_CONNS 4000
#define LOAD_SOURCES 16		/* 127.0.0.2 .. 127.0.0.17 */
#define LOAD_BATCH 100		/* connects between two looks at the sockets */
#define LOAD_PING_MS 1000
#define LOAD_HB_MS 3000
#define LOAD_LATE_MS 1000	/* a 2-core box running the server and 4000 clients */
#define LOAD_RUN_MS 7000	/* after the last connect: over two heartbeats for everyone */
#define LOAD_RX 96

struct lconn {
	int fd;			/* -1 once closed */
	int silent;
	int pings, pongs;
	int err_code;		/* -1: no ERROR */
	int64_t last_sent;	/* our last PING */
	int64_t err_at, eof_at;	/* -1 until they happen */
	char errtext[64];
	size_t rxlen;
	uint8_t rx[LOAD_RX];
};

static int load_problems;

static void __attribute__((format(printf, 2, 3)))
load_problem(int i, const char *fmt, ...)
{
	va_list ap;

	if (load_problems++ >= 10)
		return;
	fprintf(stderr, "connection %d: ", i);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
load_ping(struct lconn *c, int i, int64_t now)
{
	uint8_t buf[FRAME_HDR_LEN + 4];
	uint32_t v = (uint32_t)i;
	ssize_t r;

	proto_frame_header(buf, FRAME_PING, 4);
	memcpy(buf + FRAME_HDR_LEN, &v, 4);
	r = send(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r != (ssize_t)sizeof(buf)) {
		load_problem(i, "PING not sent (%zd: %s)", r, strerror(errno));
		return;
	}
	c->pings++;
	c->last_sent = now;
}

/* handle the complete frames in c->rx */
static void
load_parse(struct lconn *c, int i, int64_t now)
{
	size_t off = 0;

	while (c->rxlen - off >= FRAME_HDR_LEN) {
		const uint8_t *h = c->rx + off;
		uint32_t len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
		    (uint32_t)h[6] << 8 | h[7];
		uint32_t v = (uint32_t)i;

		if (h[0] != FRAME_MAGIC0 || h[1] != FRAME_MAGIC1 ||
		    len > LOAD_RX - FRAME_HDR_LEN) {
			load_problem(i, "stream out of step (type %d len %u)", h[3], len);
			c->rxlen = 0;
			return;
		}
		if (c->rxlen - off < FRAME_HDR_LEN + len)
			break;
		if (h[3] == FRAME_PONG && len == 4 && memcmp(h + FRAME_HDR_LEN, &v, 4) == 0) {
			c->pongs++;
		} else if (h[3] == FRAME_ERROR && len >= 2 && c->err_code == -1) {
			c->err_code = h[8] << 8 | h[9];
			c->err_at = now;
			snprintf(c->errtext, sizeof(c->errtext), "%.*s", (int)(len - 2),
			    (const char *)h + 10);
		} else {
			load_problem(i, "unexpected frame type %d len %u", h[3], len);
		}
		off += FRAME_HDR_LEN + len;
	}
	memmove(c->rx, c->rx + off, c->rxlen - off);
	c->rxlen -= off;
}

static void
load_read(struct lconn *c, int i, int64_t now)
{
	ssize_t r = recv(c->fd, c->rx + c->rxlen, sizeof(c->rx) - c->rxlen, MSG_DONTWAIT);

	if (r > 0) {
		c->rxlen += (size_t)r;
		load_parse(c, i, now);
		return;
	}
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	c->eof_at = now;
	close(c->fd);
	c->fd = -1;
}

static int
load_conns(void)
{
	const char *e = getenv("SOCKSERV_IT_LOAD_CONNS");
	struct rlimit rl;
	long n = LOAD_DEFAULT_CONNS;

	if (e != NULL && *e != '\0')
		n = strtol(e, NULL, 10);
	if (n < 2)
		n = 2;
	/* room for the harness's own descriptors */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)n + 64 > rl.rlim_cur) {
		fprintf(stderr, "%ld connections do not fit in %llu descriptors: using %llu\n",
		    n, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_cur - 64);
		n = (long)rl.rlim_cur - 64;
	}
	return (int)n;
}

/*
 * Thousands of connections on two workers from 16 source addresses; even
 * ones PING every second (heartbeat 3 s), odd ones PING once and fall
 * silent.  One poll() loop opens them in batches, keeps the PINGs on
 * schedule and reads everything; then every connection is judged.
 */
static void
test_thousands_of_connections_silent_half_closed_talking_half_kept(void)
{
	struct srv_opts o = {
		.workers = 2,
		.listeners = { { .name = "t", .codec = "frame",
		    .extra = "heartbeat_timeout = 3;" } },
	};
	struct srv *s = srv_start(&o);
	int n = load_conns(), next = 0, nopen = 0, i, k, nsilent = 0;
	struct lconn *c = calloc((size_t)n, sizeof(*c));
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	int *who = calloc((size_t)n, sizeof(*who));
	int64_t started = it_now_ms(), connected_at = -1, now, first_due;
	int64_t min_close = -1, max_close = -1;
	pid_t pids[2] = { 0, 0 };
	char **lines;
	int nlines;

	IT_ASSERT(c != NULL && pfd != NULL && who != NULL);
	for (;;) {
		/* a batch of connects, each followed at once by its first PING */
		for (k = 0; next < n && k < LOAD_BATCH; k++, next++) {
			char src[32];
			int fd;

			snprintf(src, sizeof(src), "127.0.0.%d", 2 + next % LOAD_SOURCES);
			fd = cli_connect_from(src, srv_addr(s, "t"), srv_port(s, "t"));
			if (fd < 0)
				IT_FAIL("connection %d of %d from %s could not connect", next, n,
				    src);
			c[next].fd = fd;
			c[next].silent = next % 2;
			c[next].err_code = -1;
			c[next].err_at = c[next].eof_at = -1;
			nsilent += c[next].silent;
			nopen++;
			load_ping(&c[next], next, it_now_ms());
		}
		now = it_now_ms();
		if (next == n && connected_at < 0)
			connected_at = now;

		/* talkers' PINGs that are due; the soonest next one bounds the poll */
		first_due = now + 50;
		for (i = 0; i < next; i++) {
			if (c[i].fd < 0 || c[i].silent)
				continue;
			if (now >= c[i].last_sent + LOAD_PING_MS)
				load_ping(&c[i], i, now);
			if (c[i].last_sent + LOAD_PING_MS < first_due)
				first_due = c[i].last_sent + LOAD_PING_MS;
		}
		if (connected_at >= 0 && now >= connected_at + LOAD_RUN_MS)
			break;

		for (i = 0, k = 0; i < next; i++) {
			if (c[i].fd < 0)
				continue;
			pfd[k].fd = c[i].fd;
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
			who[k++] = i;
		}
		if (poll(pfd, (nfds_t)k, next < n ? 0 :
		    (int)(first_due > now ? first_due - now : 0)) == -1 && errno != EINTR)
			IT_FAIL("poll: %s", strerror(errno));
		now = it_now_ms();
		for (i = 0; i < k; i++)
			if (pfd[i].revents != 0)
				load_read(&c[who[i]], who[i], now);
	}

	/* the verdict, connection by connection */
	for (i = 0; i < n; i++) {
		struct lconn *x = &c[i];

		if (x->silent && x->err_at >= 0) {
			if (min_close < 0 || x->err_at - x->last_sent < min_close)
				min_close = x->err_at - x->last_sent;
			if (x->err_at - x->last_sent > max_close)
				max_close = x->err_at - x->last_sent;
		}

		if (!x->silent) {
			if (x->err_code != -1 || x->eof_at >= 0)
				load_problem(i, "talking, but closed (ERROR %d \"%s\")",
				    x->err_code, x->errtext);
			else if (x->pongs < x->pings - 1)
				load_problem(i, "%d PINGs, only %d PONGs", x->pings, x->pongs);
			continue;
		}
		if (x->pongs != 1)
			load_problem(i, "silent: %d PONGs for its one PING", x->pongs);
		if (x->err_code != PERR_TIMEOUT ||
		    strcmp(x->errtext, "heartbeat timeout after 3 s") != 0)
			load_problem(i, "silent: ERROR %d \"%s\", expected 5 \"heartbeat "
			    "timeout after 3 s\"", x->err_code, x->errtext);
		else if (x->err_at - x->last_sent < LOAD_HB_MS - CLOCK_SLACK_MS ||
		    x->err_at - x->last_sent > LOAD_HB_MS + TICK_MS + LOAD_LATE_MS)
			load_problem(i, "silent: closed %lld ms after its PING, due at %d",
			    (long long)(x->err_at - x->last_sent), LOAD_HB_MS);
		if (x->eof_at < 0)
			load_problem(i, "silent: no EOF after the ERROR");
	}
	/* for whoever tunes the bounds on a slower machine */
	fprintf(stderr, "%d connections opened in %lld ms; silent ones closed %lld .. %lld ms "
	    "after their PING\n", n, (long long)(connected_at - started),
	    (long long)min_close, (long long)max_close);
	if (load_problems > 0)
		IT_FAIL("%d of %d connections misbehaved (first ones above)", load_problems, n);

	/* the server agrees: one heartbeat close per silent one and nothing else */
	IT_ASSERT_INT(srv_log_count(s, "close t .* reason heartbeat age "), ==, nsilent);
	IT_ASSERT_INT(srv_log_count(s, "close t .* reason "), ==, nsilent);
	/* and both workers took a share */
	lines = srv_log_grep(s, &nlines, "accept t 127\\.0\\.0\\.");
	IT_ASSERT_INT(nlines, ==, n);
	for (i = 0; i < nlines; i++) {
		pid_t p = it_log_line_pid(lines[i]);

		if (pids[0] == 0 || pids[0] == p)
			pids[0] = p;
		else if (pids[1] == 0)
			pids[1] = p;
	}
	it_strv_free(lines);
	IT_ASSERT(pids[0] > 0 && pids[1] > 0);
	for (i = 0; i < n; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free(c);
	free(pfd);
	free(who);
}

/* voluntary context switches of pid: each is a sleep it woke from; -1 if unknown */
static long
wakeups(pid_t pid)
{
	char line[64];

	if (it_proc_status_line(pid, "voluntary_ctxt_switches", line, sizeof(line)) == -1)
		return -1;
	return strtol(line, NULL, 10);
}

/* the first worker's loop_age_ms in `sockserv-stat --json` */
static long
loop_age_ms(struct srv *s)
{
	struct mj *root = srv_stat_json(s);
	const struct mj *w = mj_at(mj_get(root, "workers"), 0);
	uint64_t age;

	if (w == NULL || mj_uint(w, "loop_age_ms", &age) == -1)
		IT_FAIL("no workers[0].loop_age_ms in sockserv-stat --json");
	mj_free(root);
	return (long)age;
}

/*
 * An idle worker sleeps a tick at a time: the wait comes from the wheel
 * (the only timer is 30 s away) but is held to one tick so the loop stamp
 * stays fresh (loop_age below a tick, plus scheduling).  It neither spins
 * (a 100 ms tick is 20 wake-ups in 2 s) nor sleeps for seconds, and it
 * answers at once.
 */
static void
test_an_idle_worker_wakes_once_a_tick_and_keeps_its_stamp_fresh(void)
{
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "t", .codec = "frame",
		    .extra = "heartbeat_timeout = 30;" } },
	};
	struct srv *s = srv_start(&o);
	pid_t w = s->workers[0];
	long before, after, age, max_age = 0;
	int fd, port, i;

	IT_ASSERT(w > 0);
	fd = connect_t(s, &port);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_PING, "p", 1), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_PONG, "p", 1);
	before = wakeups(w);
	IT_ASSERT(before >= 0);
	it_sleep_ms(2000);
	after = wakeups(w);
	for (i = 0; i < 10; i++) {
		age = loop_age_ms(s);
		if (age > max_age)
			max_age = age;
		it_sleep_ms(37);
	}
	fprintf(stderr, "%ld wake-ups in 2 s, loop_age at most %ld ms ", after - before,
	    max_age);
	IT_ASSERT_INT(after - before, <=, 40);
	IT_ASSERT_INT(max_age, <=, TICK_MS + 250);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "x", 1), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "x", 1);
	close(fd);
}

static const struct it_test timers_tests[] = {
	{ "test_an_idle_worker_wakes_once_a_tick_and_keeps_its_stamp_fresh",
	    test_an_idle_worker_wakes_once_a_tick_and_keeps_its_stamp_fresh, 0 },
	{ "test_raw_messages_1s_apart_keep_the_connection",
	    test_raw_messages_1s_apart_keep_the_connection, 0 },
	{ "test_raw_messages_4s_apart_are_closed_3s_after_the_first",
	    test_raw_messages_4s_apart_are_closed_3s_after_the_first, 0 },
	{ "test_frame_messages_1s_apart_keep_the_connection",
	    test_frame_messages_1s_apart_keep_the_connection, 0 },
	{ "test_frame_messages_4s_apart_get_error_5_3s_after_the_first",
	    test_frame_messages_4s_apart_get_error_5_3s_after_the_first, 0 },
	{ "test_pings_alone_keep_a_frame_connection_alive",
	    test_pings_alone_keep_a_frame_connection_alive, 0 },
	{ "test_partial_frames_do_not_count_as_heartbeat",
	    test_partial_frames_do_not_count_as_heartbeat, 0 },
	{ "test_heartbeat_runs_from_the_first_message_when_first_message_timeout_is_longer",
	    test_heartbeat_runs_from_the_first_message_when_first_message_timeout_is_longer,
	    0 },
	{ "test_deadline_closes_a_connection_talking_every_100ms",
	    test_deadline_closes_a_connection_talking_every_100ms, 0 },
	{ "test_half_a_frame_then_silence_gets_frame_timeout",
	    test_half_a_frame_then_silence_gets_frame_timeout, 0 },
	{ "test_slowloris_trickling_a_frame_is_closed_at_frame_timeout",
	    test_slowloris_trickling_a_frame_is_closed_at_frame_timeout, 0 },
	{ "test_client_that_never_reads_is_closed_for_write_timeout",
	    test_client_that_never_reads_is_closed_for_write_timeout, 0 },
	{ "test_heartbeat_spares_a_client_the_server_is_not_reading",
	    test_heartbeat_spares_a_client_the_server_is_not_reading, 0 },
	{ "test_silent_new_connection_is_closed_at_first_message_timeout",
	    test_silent_new_connection_is_closed_at_first_message_timeout, 0 },
	{ "test_heartbeat_is_exact_across_the_32_bit_clock_wrap",
	    test_heartbeat_is_exact_across_the_32_bit_clock_wrap, 0 },
	{ "test_sockserv_client_shows_both_heartbeat_outcomes",
	    test_sockserv_client_shows_both_heartbeat_outcomes, 0 },
	{ "test_thousands_of_connections_silent_half_closed_talking_half_kept",
	    test_thousands_of_connections_silent_half_closed_talking_half_kept, 120 },
	{ NULL, NULL, 0 }
};

IT_SUITE(timers, timers_tests)
