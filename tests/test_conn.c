/*
 * conn: the connection module in one process, no server: connections are
 * socketpairs handed to conn_accept(), the loop is a real one, and time is
 * a fake clock the tests move (conn_env_set_now), so timeouts are exact and
 * instant.  Every wait drives the loop until a condition holds, within a
 * bounded real-time deadline, never a fixed number of rounds.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "conn.h"
#include "proto.h"

void test_conn_register(void);

#define DRIVE_MS 3000		/* real time any condition may take */
#define TICK_MS 10		/* the fake wheel's tick */
#define T0 1000000		/* the fake clock's start */

enum mode {
	M_NONE,			/* messages are dropped */
	M_ECHO,			/* every message back */
	M_GREET,		/* "hello" from open() */
	M_CLOSE_IN_OPEN,	/* conn_close() from open() */
	M_FORWARD,		/* a message goes to the other connection */
	M_CLOSE_THEN_READ,	/* conn_close(), then read the message */
	M_BIG,			/* any message is answered by big_len pattern bytes */
	M_SWAP_FD,		/* swap_fd takes the number of swap_at, then as M_BIG */
};

static enum mode mode;
static struct conn *opened[4];
static int nopened;
static uint8_t seen[256];
static size_t nseen;
static size_t big_len;
static int swap_fd = -1, swap_at = -1;
static int nclosed;
static enum close_reason last_reason;

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

static int
t_open(struct conn *c)
{
	if (nopened < 4)
		opened[nopened++] = c;
	if (mode == M_GREET)
		return conn_send(c, "hello", 5);
	if (mode == M_CLOSE_IN_OPEN)
		conn_close(c, CLOSE_PEER);
	return 0;
}

static void
t_message(struct conn *c, const uint8_t *data, size_t len)
{
	switch (mode) {
	case M_ECHO:
		conn_send(c, data, len);
		break;
	case M_FORWARD:
		/* to the other connection: not the one whose event this is */
		if (nopened == 2)
			conn_send(opened[0] == c ? opened[1] : opened[0], data, len);
		break;
	case M_CLOSE_THEN_READ:
		conn_close(c, CLOSE_PEER);
		/* the handler still owns data for the rest of this call */
		nseen = len < sizeof(seen) ? len : sizeof(seen);
		memcpy(seen, data, nseen);
		break;
	case M_SWAP_FD:
		/* from inside the connection's own event: its settle is what must notice */
		CU_ASSERT(dup2(swap_fd, swap_at) == swap_at);
		/* fall through */
	case M_BIG: {
		static uint8_t chunk[65536];
		for (size_t off = 0; off < big_len; off += sizeof(chunk)) {
			size_t n = big_len - off < sizeof(chunk) ? big_len - off : sizeof(chunk);
			for (size_t i = 0; i < n; i++)
				chunk[i] = pattern(off + i);
			if (conn_send(c, chunk, n) == -1)
				break;
		}
		break;
	}
	default:
		break;
	}
}

static void
t_close(struct conn *c, enum close_reason r)
{
	(void)c;
	nclosed++;
	last_reason = r;
}

static const struct handler t_handler = {
	.name = "t", .open = t_open, .message = t_message, .close = t_close,
};

struct fixture {
	struct evloop *loop;
	struct twheel *wheel;
	struct conn_env *env;
	struct conn_listener *cl;
	struct listener_conf lc;
	uint64_t now;		/* the fake clock */
	int srv_fd[4];		/* the server ends handed to conn_accept */
	int nsrv;
};

static struct stats_slot slot;

static void
setup_limits(struct fixture *f, enum codec codec, uint64_t max_output, uint64_t max_mem)
{
	struct conn_env_params p;

	memset(f, 0, sizeof(*f));
	memset(&slot, 0, sizeof(slot));
	nopened = nclosed = 0;
	nseen = 0;
	last_reason = CLOSE_NREASONS;
	snprintf(f->lc.name, sizeof(f->lc.name), "t");
	f->lc.codec = codec;
	f->now = T0;
	f->loop = evloop_create(EVB_EPOLL, 1024);
	f->wheel = twheel_create(TICK_MS, 64, f->now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->loop);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->wheel);
	memset(&p, 0, sizeof(p));
	p.loop = f->loop;
	p.wheel = f->wheel;
	p.stats = &slot;
	p.epoch_ms = f->now;
	p.max_output = max_output;
	p.max_conns = 100;
	p.max_buffer_memory = max_mem;
	f->env = conn_env_create(&p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->env);
	f->cl = conn_listener_create(f->env, &f->lc, &t_handler, 1 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->cl);
}

static void
setup(struct fixture *f, enum codec codec)
{
	setup_limits(f, codec, 1 << 20, 1 << 28);
}

static void
teardown(struct fixture *f)
{
	conn_env_shutdown(f->env);
	CU_ASSERT_EQUAL(conn_env_count(f->env), 0);
	/* every buffer byte accounted for is given back */
	CU_ASSERT_EQUAL(conn_env_buffer_bytes(f->env), 0);
	conn_listener_free(f->cl);
	conn_env_free(f->env);
	twheel_free(f->wheel);
	evloop_free(f->loop);
}

/* a connection whose server end has a send buffer of sndbuf bytes (0: default); the client end */
static int
client_sndbuf(struct fixture *f, int sndbuf)
{
	struct sockaddr_in peer = { .sin_family = AF_INET };
	int sv[2];

	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer.sin_port = htons(40000);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_FATAL(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	CU_ASSERT_FATAL(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	if (sndbuf > 0)
		CU_ASSERT(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) == 0);
	if (f->nsrv < 4)
		f->srv_fd[f->nsrv++] = sv[0];
	conn_accept(f->cl, sv[0], (struct sockaddr *)&peer);
	return sv[1];
}

static int
client(struct fixture *f)
{
	return client_sndbuf(f, 0);
}

/* one loop round at the fake time: timers first, as the worker does */
static void
round_once(struct fixture *f)
{
	conn_env_set_now(f->env, f->now);
	conn_env_expire(f->env);
	evloop_run_once(f->loop, 5);
}

/* move the fake clock and let the timers due by then fire */
static void
advance(struct fixture *f, uint64_t ms)
{
	f->now += ms;
	round_once(f);
}

typedef int cond_fn(struct fixture *f, const void *arg);

/* run the loop until cond holds or DRIVE_MS of real time passed; the final cond */
static int
drive(struct fixture *f, cond_fn *cond, const void *arg)
{
	uint64_t deadline = clock_now_ms() + DRIVE_MS;

	while (!cond(f, arg)) {
		if (clock_now_ms() > deadline)
			return 0;
		round_once(f);
	}
	return 1;
}

static int
closed_for(struct fixture *f, const void *arg)
{
	(void)f;
	return slot.cur.closed[*(const enum close_reason *)arg] > 0;
}

static int
buffered(struct fixture *f, const void *arg)
{
	return conn_env_buffer_bytes(f->env) >= *(const uint64_t *)arg;
}

static int
n_opened(struct fixture *f, const void *arg)
{
	(void)f;
	return nopened >= *(const int *)arg;
}

static int
n_seen(struct fixture *f, const void *arg)
{
	(void)f;
	return nseen >= *(const size_t *)arg;
}

static int
wait_closed(struct fixture *f, enum close_reason r)
{
	return drive(f, closed_for, &r);
}

/* read up to len bytes from the client end while driving the loop; the count read */
static size_t
read_upto(struct fixture *f, int fd, void *buf, size_t len, int *eof)
{
	uint64_t deadline = clock_now_ms() + DRIVE_MS;
	size_t got = 0;

	*eof = 0;
	while (got < len && clock_now_ms() <= deadline) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			*eof = 1;
			break;
		}
		round_once(f);
	}
	return got;
}

/* read until EOF (the server closed); the bytes before it, -1 on a timeout */
static ssize_t
read_to_eof(struct fixture *f, int fd, void *buf, size_t len)
{
	static uint8_t sink[65536];
	uint64_t deadline = clock_now_ms() + DRIVE_MS;
	size_t got = 0;

	while (clock_now_ms() <= deadline) {
		uint8_t *dst = got < len ? (uint8_t *)buf + got : sink;
		size_t room = got < len ? len - got : sizeof(sink);
		ssize_t n = read(fd, dst, room);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (n == -1 && errno != EAGAIN))
			return (ssize_t)got;
		round_once(f);
	}
	return -1;
}

/* write all of buf from the client end while driving the loop; the bytes written */
static size_t
write_all(struct fixture *f, int fd, const void *buf, size_t len)
{
	uint64_t deadline = clock_now_ms() + DRIVE_MS;
	size_t off = 0;

	while (off < len && clock_now_ms() <= deadline) {
		ssize_t n = write(fd, (const uint8_t *)buf + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n == -1 && errno != EAGAIN)
			break;
		else
			round_once(f);
	}
	return off;
}

/* the ERROR frame code at the start of buf (len bytes), -1 if there is none */
static int
error_code(const uint8_t *buf, ssize_t len)
{
	if (len < FRAME_HDR_LEN + 2 || buf[3] != FRAME_ERROR)
		return -1;
	return (buf[FRAME_HDR_LEN] << 8) | buf[FRAME_HDR_LEN + 1];
}

static size_t
frame(uint8_t *buf, uint8_t type, const void *payload, uint32_t len)
{
	proto_frame_header(buf, type, len);
	if (len > 0)
		memcpy(buf + FRAME_HDR_LEN, payload, len);
	return FRAME_HDR_LEN + len;
}

/* ---- the handler API ---- */

static void
test_greeting_sent_from_open_reaches_the_client(void)
{
	struct fixture f;
	char buf[16];
	int fd, eof;

	mode = M_GREET;
	setup(&f, CODEC_RAW);
	fd = client(&f);
	CU_ASSERT_EQUAL(read_upto(&f, fd, buf, 5, &eof), 5);
	CU_ASSERT(memcmp(buf, "hello", 5) == 0);
	close(fd);
	teardown(&f);
}

static void
test_close_from_open_ends_the_connection_at_once(void)
{
	struct fixture f;
	char buf[16];
	int fd;

	mode = M_CLOSE_IN_OPEN;
	setup(&f, CODEC_RAW);
	fd = client(&f);
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, buf, sizeof(buf)), 0);
	/* it lingers for the client's EOF (so nothing unread turns into a reset) */
	close(fd);
	CU_ASSERT(wait_closed(&f, CLOSE_PEER));
	CU_ASSERT_EQUAL(conn_env_count(f.env), 0);
	teardown(&f);
}

static void
test_send_to_another_connection_is_delivered(void)
{
	struct fixture f;
	char buf[16];
	int a, b, two = 2, eof;

	mode = M_FORWARD;
	setup(&f, CODEC_RAW);
	a = client(&f);
	b = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &two));
	CU_ASSERT_EQUAL(write(a, "relay", 5), 5);
	CU_ASSERT_EQUAL(read_upto(&f, b, buf, 5, &eof), 5);
	CU_ASSERT(memcmp(buf, "relay", 5) == 0);
	close(a);
	close(b);
	teardown(&f);
}

static void
test_message_data_stays_valid_after_conn_close(void)
{
	struct fixture f;
	uint8_t buf[FRAME_HDR_LEN + 100], payload[100];
	uint64_t some = 1;
	size_t want = sizeof(payload);
	int fd;

	mode = M_CLOSE_THEN_READ;
	setup(&f, CODEC_FRAME);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	frame(buf, FRAME_DATA, payload, sizeof(payload));
	fd = client(&f);
	/* in two reads: the message is gathered in the connection's own buffer */
	CU_ASSERT_EQUAL(write(fd, buf, 50), 50);
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	CU_ASSERT_EQUAL(write(fd, buf + 50, sizeof(buf) - 50), (ssize_t)(sizeof(buf) - 50));
	CU_ASSERT(drive(&f, n_seen, &want));
	CU_ASSERT_EQUAL(nseen, sizeof(payload));
	CU_ASSERT(memcmp(seen, payload, sizeof(payload)) == 0);
	close(fd);
	teardown(&f);
}

/* ---- output ---- */

/* a reply far larger than the socket takes: queued, written as the client reads, in order */
static void
test_partial_writes_deliver_everything_in_order(void)
{
	enum { LEN = 1 << 20 };
	struct fixture f;
	uint64_t some = 1;
	uint8_t *got = malloc(LEN);
	size_t bad = LEN;
	int fd, eof;

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	mode = M_BIG;
	big_len = LEN;
	setup_limits(&f, CODEC_RAW, 4 << 20, 1 << 28);
	fd = client_sndbuf(&f, 4096);
	CU_ASSERT_EQUAL(write(fd, "go", 2), 2);
	/* the kernel took a part: the rest waits in the connection's output */
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	CU_ASSERT(conn_env_buffer_bytes(f.env) > LEN / 2);
	CU_ASSERT_EQUAL(read_upto(&f, fd, got, LEN, &eof), LEN);
	for (size_t i = 0; i < LEN && bad == LEN; i++)
		if (got[i] != pattern(i))
			bad = i;
	CU_ASSERT_EQUAL(bad, LEN);
	CU_ASSERT_EQUAL(slot.cur.bytes_out, LEN);
	CU_ASSERT_EQUAL(conn_env_buffer_bytes(f.env), 0);	/* drained: freed */
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_ERROR], 0);
	close(fd);
	teardown(&f);
	free(got);
}

/*
 * A client that writes without reading: once its unsent echoes pass
 * max_output the server stops reading it; once it reads them, reading
 * resumes and every byte comes back.
 */
static void
test_reading_pauses_over_max_output_and_resumes(void)
{
	enum { LEN = 4 << 20, MAX_OUT = 64 * 1024 };
	struct fixture f;
	uint8_t *out = malloc(LEN), *in = malloc(LEN);
	size_t sent = 0, got = 0, bad = LEN;
	uint64_t last_in = 0;
	int fd, still = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	for (size_t i = 0; i < LEN; i++)
		out[i] = pattern(i);
	mode = M_ECHO;
	setup_limits(&f, CODEC_RAW, MAX_OUT, 1 << 28);
	fd = client_sndbuf(&f, 4096);
	/* write until the server has stopped taking bytes for 50 rounds */
	for (uint64_t deadline = clock_now_ms() + DRIVE_MS;
	    still < 50 && sent < LEN && clock_now_ms() <= deadline;) {
		ssize_t n = write(fd, out + sent, LEN - sent);
		if (n > 0)
			sent += (size_t)n;
		round_once(&f);
		if (slot.cur.bytes_in == last_in)
			still++;
		else
			still = 0;
		last_in = slot.cur.bytes_in;
	}
	CU_ASSERT_EQUAL(still, 50);
	CU_ASSERT(sent < LEN);
	/* paused just over max_output, not before it, not far past it */
	CU_ASSERT(conn_env_buffer_bytes(f.env) > MAX_OUT);
	CU_ASSERT(slot.cur.bytes_in < 2 * 1024 * 1024);
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_TOO_LARGE], 0);

	/* now the client reads: the server resumes and the whole stream comes back */
	for (uint64_t deadline = clock_now_ms() + 4 * DRIVE_MS;
	    got < LEN && clock_now_ms() <= deadline;) {
		ssize_t n;
		if (sent < LEN && (n = write(fd, out + sent, LEN - sent)) > 0)
			sent += (size_t)n;
		if ((n = read(fd, in + got, LEN - got)) > 0)
			got += (size_t)n;
		round_once(&f);
	}
	CU_ASSERT_EQUAL(got, LEN);
	for (size_t i = 0; i < got && bad == LEN; i++)
		if (in[i] != out[i])
			bad = i;
	CU_ASSERT_EQUAL(bad, LEN);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 1);
	close(fd);
	teardown(&f);
	free(out);
	free(in);
}

/* ---- close reasons ---- */

static void
test_client_close_is_reason_peer(void)
{
	struct fixture f;
	int fd, one = 1;

	mode = M_NONE;
	setup(&f, CODEC_RAW);
	fd = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &one));
	close(fd);
	CU_ASSERT(wait_closed(&f, CLOSE_PEER));
	CU_ASSERT_EQUAL(last_reason, CLOSE_PEER);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 0);
	teardown(&f);
}

static void
test_bad_magic_gets_error_1_and_reason_protocol_error(void)
{
	struct fixture f;
	uint8_t buf[64];
	ssize_t n;
	int fd;

	mode = M_ECHO;
	setup(&f, CODEC_FRAME);
	fd = client(&f);
	CU_ASSERT_EQUAL(write(fd, "XXXXXXXXXX", 10), 10);
	n = read_to_eof(&f, fd, buf, sizeof(buf));
	CU_ASSERT_EQUAL(error_code(buf, n), PERR_BAD_MAGIC);
	close(fd);
	CU_ASSERT(wait_closed(&f, CLOSE_PROTOCOL_ERROR));
	CU_ASSERT_EQUAL(last_reason, CLOSE_PROTOCOL_ERROR);
	teardown(&f);
}

static void
test_frame_over_max_frame_gets_error_4_and_reason_too_large(void)
{
	struct fixture f;
	uint8_t buf[64];
	ssize_t n;
	int fd;

	mode = M_ECHO;
	setup(&f, CODEC_FRAME);
	fd = client(&f);
	proto_frame_header(buf, FRAME_DATA, (1 << 20) + 1);
	CU_ASSERT_EQUAL(write(fd, buf, FRAME_HDR_LEN), FRAME_HDR_LEN);
	n = read_to_eof(&f, fd, buf, sizeof(buf));
	CU_ASSERT_EQUAL(error_code(buf, n), PERR_TOO_LARGE);
	close(fd);
	CU_ASSERT(wait_closed(&f, CLOSE_TOO_LARGE));
	teardown(&f);
}

static void
test_silent_client_is_closed_for_heartbeat_on_time(void)
{
	struct fixture f;
	uint8_t buf[256];
	ssize_t n;
	int fd, one = 1;

	mode = M_ECHO;
	setup(&f, CODEC_FRAME);
	f.lc.heartbeat_ms = 1000;
	fd = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &one));
	advance(&f, 999);
	advance(&f, 0);
	CU_ASSERT_EQUAL(nclosed, 0);	/* never early */
	advance(&f, 1 + TICK_MS);
	CU_ASSERT_EQUAL(nclosed, 1);	/* within a tick */
	CU_ASSERT_EQUAL(last_reason, CLOSE_HEARTBEAT);
	n = read_to_eof(&f, fd, buf, sizeof(buf));
	CU_ASSERT_EQUAL(error_code(buf, n), PERR_TIMEOUT);
	close(fd);
	teardown(&f);
}

static void
test_half_sent_frame_is_closed_for_frame_timeout(void)
{
	struct fixture f;
	uint8_t buf[64];
	uint64_t some = 1;
	int fd;

	mode = M_ECHO;
	setup(&f, CODEC_FRAME);
	f.lc.heartbeat_ms = 60000;
	f.lc.frame_timeout_ms = 500;
	fd = client(&f);
	proto_frame_header(buf, FRAME_DATA, 100);
	CU_ASSERT_EQUAL(write(fd, buf, FRAME_HDR_LEN + 10), FRAME_HDR_LEN + 10);
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	advance(&f, 499);
	CU_ASSERT_EQUAL(nclosed, 0);
	advance(&f, 1 + TICK_MS);
	CU_ASSERT_EQUAL(nclosed, 1);
	CU_ASSERT_EQUAL(last_reason, CLOSE_FRAME_TIMEOUT);
	close(fd);
	teardown(&f);
}

static void
test_client_that_never_reads_is_closed_for_write_timeout(void)
{
	struct fixture f;
	uint64_t some = 1;
	int fd;

	mode = M_BIG;
	big_len = 1 << 20;
	setup_limits(&f, CODEC_RAW, 4 << 20, 1 << 28);
	f.lc.write_timeout_ms = 1000;
	fd = client_sndbuf(&f, 4096);
	CU_ASSERT_EQUAL(write(fd, "go", 2), 2);
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	advance(&f, 999);
	CU_ASSERT_EQUAL(nclosed, 0);
	advance(&f, 1 + TICK_MS);
	CU_ASSERT_EQUAL(nclosed, 1);
	CU_ASSERT_EQUAL(last_reason, CLOSE_WRITE_TIMEOUT);
	close(fd);
	teardown(&f);
}

/*
 * A client that takes a little now and then, each time within
 * write_timeout: the output that was pending must drain within
 * write_timeout, so it is closed instead of pinning its output forever
 * (it used to restart the clock with every byte it took).
 */
static void
test_trickle_reader_is_closed_for_write_timeout(void)
{
	struct fixture f;
	static uint8_t buf[16384];
	uint64_t some = 1;
	int fd, eof;

	mode = M_BIG;
	big_len = 2 << 20;
	setup_limits(&f, CODEC_RAW, 4 << 20, 1 << 28);
	f.lc.write_timeout_ms = 30000;
	fd = client_sndbuf(&f, 4096);
	CU_ASSERT_EQUAL(write(fd, "go", 2), 2);
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	for (int i = 0; i < 4 && nclosed == 0; i++) {
		/* 20 s on, the client takes 16 KiB and the server writes more */
		f.now += 20000;
		CU_ASSERT(read_upto(&f, fd, buf, sizeof(buf), &eof) > 0 || nclosed > 0);
		for (int k = 0; k < 5; k++)
			round_once(&f);
	}
	CU_ASSERT_EQUAL(nclosed, 1);
	CU_ASSERT_EQUAL(last_reason, CLOSE_WRITE_TIMEOUT);
	/* closed at the first check past 30 s: 40 s in */
	CU_ASSERT(f.now <= T0 + 40000);
	close(fd);
	teardown(&f);
}

/* a reader that keeps up is never closed by that rule */
static void
test_reader_that_keeps_up_is_not_closed_for_write_timeout(void)
{
	struct fixture f;
	static uint8_t buf[65536];
	size_t got = 0;
	uint64_t some = 1;
	int fd, eof;

	mode = M_BIG;
	big_len = 2 << 20;
	setup_limits(&f, CODEC_RAW, 4 << 20, 1 << 28);
	f.lc.write_timeout_ms = 30000;
	fd = client_sndbuf(&f, 4096);
	CU_ASSERT_EQUAL(write(fd, "go", 2), 2);
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	/* 2 MiB over 20 s of fake time */
	while (got < big_len && nclosed == 0) {
		size_t n = read_upto(&f, fd, buf, sizeof(buf), &eof);
		if (n == 0)
			break;
		got += n;
		f.now += 600;
	}
	CU_ASSERT_EQUAL(got, big_len);
	CU_ASSERT_EQUAL(nclosed, 0);
	close(fd);
	teardown(&f);
}

/* the loop refuses to watch a connection for writing: it is closed for error, not stalled */
static void
test_failed_interest_change_closes_for_error(void)
{
	struct fixture f;
	char buf[16];
	int a, b, two = 2, other;

	mode = M_FORWARD;
	setup(&f, CODEC_RAW);
	a = client(&f);
	b = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &two));
	/* another socket takes the number of b's server end: epoll no longer knows it */
	other = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(other >= 0);
	CU_ASSERT_FATAL(dup2(other, f.srv_fd[1]) == f.srv_fd[1]);
	close(other);
	CU_ASSERT_EQUAL(write(a, "relay", 5), 5);
	/* no event can come for b: its timer, due at once, closes it at the next tick */
	for (int i = 0; i < 100 && slot.cur.closed[CLOSE_ERROR] == 0; i++)
		advance(&f, TICK_MS);
	CU_ASSERT_EQUAL(last_reason, CLOSE_ERROR);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 1);
	/* a is untouched */
	mode = M_ECHO;
	CU_ASSERT_EQUAL(write(a, "still", 5), 5);
	{
		int eof;
		CU_ASSERT_EQUAL(read_upto(&f, a, buf, 5, &eof), 5);
	}
	CU_ASSERT(memcmp(buf, "still", 5) == 0);
	close(a);
	close(b);
	teardown(&f);
}

/*
 * The same when the connection's own event is what changes its interest
 * (output now pending: read and write): conn_settle closes it for error at
 * once instead of leaving it stalled.
 */
static void
test_failed_interest_change_in_own_event_closes_for_error(void)
{
	struct fixture f;
	int fd, one = 1, pair[2], tiny = 4096;

	mode = M_SWAP_FD;
	big_len = 1 << 20;
	setup(&f, CODEC_RAW);
	fd = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &one));
	/* a connected socket that takes little: the reply backs up into the connection */
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
	CU_ASSERT_FATAL(fcntl(pair[0], F_SETFL, O_NONBLOCK) == 0);
	CU_ASSERT(setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny)) == 0);
	swap_fd = pair[0];
	swap_at = f.srv_fd[0];
	CU_ASSERT_EQUAL(write(fd, "go", 2), 2);
	CU_ASSERT(wait_closed(&f, CLOSE_ERROR));
	CU_ASSERT_EQUAL(last_reason, CLOSE_ERROR);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 0);
	close(pair[0]);
	close(pair[1]);
	close(fd);
	teardown(&f);
}

/* ---- memory ---- */

/* a header declaring max_frame costs what arrived, not what it declares */
static void
test_input_buffer_grows_with_the_bytes_that_arrived(void)
{
	enum { BODY = 300 * 1024 };
	struct fixture f;
	uint8_t *buf = calloc(1, FRAME_HDR_LEN + BODY);
	uint64_t some = 1, most = BODY;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	mode = M_ECHO;
	setup(&f, CODEC_FRAME);
	fd = client(&f);
	proto_frame_header(buf, FRAME_DATA, 1 << 20);
	CU_ASSERT_EQUAL(write(fd, buf, FRAME_HDR_LEN + 100), FRAME_HDR_LEN + 100);
	CU_ASSERT_FATAL(drive(&f, buffered, &some));
	CU_ASSERT(conn_env_buffer_bytes(f.env) < 64 * 1024);
	/* more comes: the buffer follows, geometrically, below the declared size */
	CU_ASSERT_EQUAL(write_all(&f, fd, buf + FRAME_HDR_LEN + 100, BODY - 100), BODY - 100);
	CU_ASSERT(drive(&f, buffered, &most));
	CU_ASSERT(conn_env_buffer_bytes(f.env) < 2 * BODY + 64 * 1024);
	CU_ASSERT(conn_env_buffer_bytes(f.env) < 1 << 20);
	CU_ASSERT_EQUAL(nclosed, 0);
	close(fd);
	teardown(&f);
	free(buf);
}

/*
 * Over max_buffer_memory the connection holding the largest partial frame
 * gets ERROR 4 and is closed; smaller ones and a client that only talks in
 * whole messages carry on.  Each partial frame is under 64 KiB and written
 * at once, so it is read in one read and held in a buffer of exactly its
 * size: the sums below are exact.
 */
static void
test_largest_partial_frame_is_closed_over_the_memory_budget(void)
{
	enum { BUDGET = 100 * 1024, A = 60 * 1024, B = 10 * 1024, D = 40 * 1024 };
	struct fixture f;
	uint8_t *buf = calloc(1, 64 * 1024), reply[64], got[64];
	uint64_t want;
	size_t n;
	ssize_t en;
	int a, b, c, d, eof, four = 4;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	mode = M_ECHO;
	setup_limits(&f, CODEC_FRAME, 1 << 20, BUDGET);
	proto_frame_header(buf, FRAME_DATA, 1 << 20);
	a = client(&f);
	b = client(&f);
	c = client(&f);
	d = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &four));
	CU_ASSERT_EQUAL_FATAL(write(a, buf, A), A);
	want = A;
	CU_ASSERT_FATAL(drive(&f, buffered, &want));
	CU_ASSERT_EQUAL_FATAL(write(b, buf, B), B);
	want = A + B;
	CU_ASSERT_FATAL(drive(&f, buffered, &want));
	CU_ASSERT_EQUAL(nclosed, 0);
	/* d's partial frame does not fit beside them: a, the largest, goes */
	CU_ASSERT_EQUAL_FATAL(write(d, buf, D), D);
	en = read_to_eof(&f, a, got, sizeof(got));
	CU_ASSERT_EQUAL(error_code(got, en), PERR_TOO_LARGE);
	close(a);
	CU_ASSERT(wait_closed(&f, CLOSE_TOO_LARGE));
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_TOO_LARGE], 1);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 3);
	/* b and d keep their partial frames, within the budget */
	CU_ASSERT(conn_env_buffer_bytes(f.env) >= B + D);
	CU_ASSERT(conn_env_buffer_bytes(f.env) <= BUDGET);
	/* c, talking in whole messages, is served */
	n = frame(reply, FRAME_DATA, "ping", 4);
	CU_ASSERT_EQUAL(write(c, reply, n), (ssize_t)n);
	CU_ASSERT_EQUAL(read_upto(&f, c, got, n, &eof), n);
	CU_ASSERT(memcmp(got, reply, n) == 0);
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_TOO_LARGE], 1);
	close(b);
	close(c);
	close(d);
	teardown(&f);
	free(buf);
}

/* ---- allocation failures: one connection goes, never the worker ---- */

static void
test_failed_connection_allocation_closes_only_that_client(void)
{
	struct fixture f;
	char buf[16];
	int fd, good, eof;

	mode = M_ECHO;
	setup(&f, CODEC_RAW);
	sockserv_alloc_fail = 1;
	fd = client(&f);
	sockserv_alloc_fail = 0;
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_ERROR], 1);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 0);
	good = client(&f);
	CU_ASSERT_EQUAL(write(good, "fine", 4), 4);
	CU_ASSERT_EQUAL(read_upto(&f, good, buf, 4, &eof), 4);
	close(fd);
	close(good);
	teardown(&f);
}

static void
test_failed_buffer_growth_closes_only_that_client(void)
{
	struct fixture f;
	uint8_t buf[FRAME_HDR_LEN + 100], reply[64];
	size_t n;
	int fd, good, two = 2, eof;

	mode = M_ECHO;
	setup(&f, CODEC_FRAME);
	fd = client(&f);
	good = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &two));
	proto_frame_header(buf, FRAME_DATA, 100);
	sockserv_alloc_fail = 1;	/* the partial frame's buffer */
	CU_ASSERT_EQUAL(write(fd, buf, FRAME_HDR_LEN + 10), FRAME_HDR_LEN + 10);
	CU_ASSERT(wait_closed(&f, CLOSE_ERROR));
	sockserv_alloc_fail = 0;
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, reply, sizeof(reply)), 0);
	n = frame(buf, FRAME_DATA, "ok", 2);
	CU_ASSERT_EQUAL(write(good, buf, n), (ssize_t)n);
	CU_ASSERT_EQUAL(read_upto(&f, good, reply, n, &eof), n);
	CU_ASSERT(memcmp(reply, buf, n) == 0);
	close(fd);
	close(good);
	teardown(&f);
}

static void
test_env_and_listener_creation_fail_cleanly(void)
{
	struct conn_env_params p = { .max_output = 1024, .max_conns = 1, .max_buffer_memory = 1 << 20 };
	struct listener_conf lc;

	memset(&lc, 0, sizeof(lc));
	for (long k = 1; k <= 3; k++) {
		sockserv_alloc_fail = k;
		CU_ASSERT_PTR_NULL(conn_env_create(&p));
	}
	sockserv_alloc_fail = 0;
	{
		struct conn_env *env = conn_env_create(&p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(env);
		sockserv_alloc_fail = 1;
		CU_ASSERT_PTR_NULL(conn_listener_create(env, &lc, &t_handler, 1024));
		sockserv_alloc_fail = 0;
		conn_env_free(env);
	}
}

/* the backend's hold: not a byte read, the heartbeat paused, everything read on resume */
static void
test_held_connection_is_not_read_and_its_heartbeat_pauses(void)
{
	struct fixture f;
	char buf[8];
	int fd, eof, n1 = 1;

	setup(&f, CODEC_RAW);
	f.lc.heartbeat_ms = 100;
	mode = M_ECHO;
	fd = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &n1));
	conn_hold_input(opened[0], 1);
	CU_ASSERT_FATAL(write(fd, "abc", 3) == 3);
	for (int i = 0; i < 20; i++)
		round_once(&f);
	CU_ASSERT_EQUAL(read(fd, buf, sizeof(buf)), -1);	/* EAGAIN: nothing echoed */
	/* five heartbeats of fake time: paused, not closed */
	advance(&f, 500);
	advance(&f, 10);
	CU_ASSERT_EQUAL(nclosed, 0);
	conn_hold_input(opened[0], 0);
	CU_ASSERT_EQUAL(read_upto(&f, fd, buf, 3, &eof), 3);
	CU_ASSERT(memcmp(buf, "abc", 3) == 0);
	/* the heartbeat runs again from the resume */
	advance(&f, 50);
	CU_ASSERT_EQUAL(nclosed, 0);
	advance(&f, 70);
	advance(&f, 10);
	CU_ASSERT(wait_closed(&f, CLOSE_HEARTBEAT));
	close(fd);
	teardown(&f);
}

/* conn_close_with from outside the connection's event: ERROR code+text or CLOSE, then EOF */
static void
test_close_with_sends_error_or_close_then_eof(void)
{
	struct fixture f;
	uint8_t buf[64];
	int fd, n1 = 1, n2 = 2;
	ssize_t n;

	setup(&f, CODEC_FRAME);
	mode = M_NONE;
	fd = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &n1));
	conn_close_with(opened[0], CLOSE_BACKEND, 4001, "bye", 3);
	n = read_to_eof(&f, fd, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, FRAME_HDR_LEN + 5);
	CU_ASSERT_EQUAL(buf[3], FRAME_ERROR);
	CU_ASSERT(buf[FRAME_HDR_LEN] == 4001 >> 8 && buf[FRAME_HDR_LEN + 1] == (4001 & 0xff));
	CU_ASSERT(memcmp(buf + FRAME_HDR_LEN + 2, "bye", 3) == 0);
	/* the server lingers for our EOF after its own */
	close(fd);
	CU_ASSERT(wait_closed(&f, CLOSE_BACKEND));

	fd = client(&f);
	CU_ASSERT_FATAL(drive(&f, n_opened, &n2));
	conn_close_with(opened[1], CLOSE_BACKEND, 0, NULL, 0);
	n = read_to_eof(&f, fd, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, FRAME_HDR_LEN);
	CU_ASSERT_EQUAL(buf[3], FRAME_CLOSE);
	close(fd);
	teardown(&f);
}

/* ---- proxy_protocol ---- */

static void
setup_proxy(struct fixture *f, enum codec codec)
{
	setup(f, codec);
	f->lc.proxy_protocol = 1;
	f->lc.first_message_ms = 1000;
	f->lc.frame_timeout_ms = 100;
}

static void
test_proxy_header_opens_with_the_address_it_carries(void)
{
	static const char hdr[] = "PROXY TCP4 203.0.113.9 10.0.0.1 4242 7000\r\n";
	struct fixture f;
	uint8_t buf[128];
	char peer[64];
	size_t n;
	int fd, eof, one = 1;

	mode = M_ECHO;
	setup_proxy(&f, CODEC_FRAME);
	fd = client(&f);
	/* most of the header: nothing is open yet */
	CU_ASSERT_EQUAL(write_all(&f, fd, hdr, 20), 20);
	for (int i = 0; i < 5; i++)
		round_once(&f);
	CU_ASSERT_EQUAL(nopened, 0);
	/* the rest, and a frame behind it in the same write */
	memcpy(buf, hdr + 20, sizeof(hdr) - 1 - 20);
	n = sizeof(hdr) - 1 - 20;
	n += frame(buf + n, FRAME_DATA, "abc", 3);
	CU_ASSERT_EQUAL(write_all(&f, fd, buf, n), n);
	CU_ASSERT_FATAL(drive(&f, n_opened, &one));
	CU_ASSERT_STRING_EQUAL(conn_peer_str(opened[0], peer, sizeof(peer)), "203.0.113.9:4242");
	/* the same as a sockaddr, for handlers that want the numbers */
	{
		struct sockaddr_storage ss;
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

		CU_ASSERT_EQUAL(conn_peer(opened[0], &ss), sizeof(struct sockaddr_in));
		CU_ASSERT_EQUAL(s4->sin_family, AF_INET);
		CU_ASSERT_EQUAL(ntohs(s4->sin_port), 4242);
		CU_ASSERT_EQUAL(ntohl(s4->sin_addr.s_addr), 0xcb007109u);	/* 203.0.113.9 */
	}
	CU_ASSERT_EQUAL(read_upto(&f, fd, buf, FRAME_HDR_LEN + 3, &eof), FRAME_HDR_LEN + 3);
	CU_ASSERT(buf[3] == FRAME_DATA && memcmp(buf + FRAME_HDR_LEN, "abc", 3) == 0);
	close(fd);
	CU_ASSERT(wait_closed(&f, CLOSE_PEER));
	teardown(&f);
}

static void
test_proxy_local_header_keeps_the_socket_address(void)
{
	static const uint8_t local[16] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0, 0
	};
	struct fixture f;
	char peer[64];
	int fd, one = 1;

	mode = M_NONE;
	setup_proxy(&f, CODEC_RAW);
	fd = client(&f);
	CU_ASSERT_EQUAL(write_all(&f, fd, local, sizeof(local)), sizeof(local));
	CU_ASSERT_FATAL(drive(&f, n_opened, &one));
	/* client() accepts it as 127.0.0.1:40000 */
	CU_ASSERT_STRING_EQUAL(conn_peer_str(opened[0], peer, sizeof(peer)), "127.0.0.1:40000");
	close(fd);
	teardown(&f);
}

static void
test_proxy_bad_header_is_closed_without_error_frame(void)
{
	struct fixture f;
	uint8_t buf[64];
	size_t n;
	int fd;

	mode = M_ECHO;
	setup_proxy(&f, CODEC_FRAME);
	fd = client(&f);
	/* a client talking to the port directly */
	n = frame(buf, FRAME_DATA, "hi", 2);
	CU_ASSERT_EQUAL(write_all(&f, fd, buf, n), n);
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, buf, sizeof(buf)), 0);
	CU_ASSERT(wait_closed(&f, CLOSE_PROTOCOL_ERROR));
	CU_ASSERT_EQUAL(slot.cur.protocol_errors, 1);
	CU_ASSERT_EQUAL(slot.cur.messages_out, 0);
	/* never opened, so never closed for the handler */
	CU_ASSERT_EQUAL(nopened, 0);
	CU_ASSERT_EQUAL(nclosed, 0);
	close(fd);
	teardown(&f);
}

static void
test_proxy_cut_header_waits_for_first_message_timeout_only(void)
{
	struct fixture f;
	uint8_t buf[64];
	int fd;

	mode = M_ECHO;
	setup_proxy(&f, CODEC_FRAME);
	fd = client(&f);
	CU_ASSERT_EQUAL(write_all(&f, fd, "PROXY TCP4 1.2.3.4 ", 19), 19);
	for (int i = 0; i < 5; i++)
		round_once(&f);
	/* the partial header is no frame: frame_timeout (100 ms) does not apply */
	advance(&f, 500);
	advance(&f, 480);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 1);
	/* first_message_timeout, 1000 ms from accept, with no ERROR frame */
	advance(&f, 20 + TICK_MS);
	CU_ASSERT(wait_closed(&f, CLOSE_FIRST_MESSAGE_TIMEOUT));
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 0);
	close(fd);
	teardown(&f);
}

static void
test_proxy_shutdown_before_the_header_sends_no_error_frame(void)
{
	struct fixture f;
	uint8_t buf[64];
	int fd;

	mode = M_ECHO;
	setup_proxy(&f, CODEC_FRAME);
	fd = client(&f);
	CU_ASSERT_EQUAL(write_all(&f, fd, "PROXY ", 6), 6);
	for (int i = 0; i < 5; i++)
		round_once(&f);
	conn_env_shutdown(f.env);
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_SHUTDOWN], 1);
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, buf, sizeof(buf)), 0);
	close(fd);
	teardown(&f);
}

static void
test_proxy_trusted_refuses_other_peers_at_accept(void)
{
	struct fixture f;
	const char *why = NULL;
	uint8_t buf[16];
	int fd, one = 1;

	mode = M_ECHO;
	setup_proxy(&f, CODEC_FRAME);
	CU_ASSERT_FATAL(proxyproto_net_parse("10.0.0.0/8", &f.lc.proxy_trusted[0], &why) == 0);
	f.lc.nproxy_trusted = 1;
	/* client() connects as 127.0.0.1: refused before anything is read */
	fd = client(&f);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 0);
	CU_ASSERT_EQUAL(slot.cur.accepted, 1);
	CU_ASSERT_EQUAL(slot.cur.closed[CLOSE_PROTOCOL_ERROR], 1);
	CU_ASSERT_EQUAL(read_to_eof(&f, fd, buf, sizeof(buf)), 0);
	close(fd);
	/* with 127.0.0.0/8 listed too, it is served */
	CU_ASSERT_FATAL(proxyproto_net_parse("127.0.0.0/8", &f.lc.proxy_trusted[1], &why) == 0);
	f.lc.nproxy_trusted = 2;
	fd = client(&f);
	CU_ASSERT_EQUAL(conn_env_count(f.env), 1);
	CU_ASSERT_EQUAL(write_all(&f, fd, "PROXY UNKNOWN\r\n", 15), 15);
	CU_ASSERT(drive(&f, n_opened, &one));
	close(fd);
	teardown(&f);
}

void
test_conn_register(void)
{
	CU_pSuite s = CU_add_suite("conn", NULL, NULL);

#define ADD(t) CU_add_test(s, #t, t)
	ADD(test_greeting_sent_from_open_reaches_the_client);
	ADD(test_close_from_open_ends_the_connection_at_once);
	ADD(test_send_to_another_connection_is_delivered);
	ADD(test_message_data_stays_valid_after_conn_close);
	ADD(test_partial_writes_deliver_everything_in_order);
	ADD(test_reading_pauses_over_max_output_and_resumes);
	ADD(test_client_close_is_reason_peer);
	ADD(test_bad_magic_gets_error_1_and_reason_protocol_error);
	ADD(test_frame_over_max_frame_gets_error_4_and_reason_too_large);
	ADD(test_silent_client_is_closed_for_heartbeat_on_time);
	ADD(test_half_sent_frame_is_closed_for_frame_timeout);
	ADD(test_client_that_never_reads_is_closed_for_write_timeout);
	ADD(test_trickle_reader_is_closed_for_write_timeout);
	ADD(test_reader_that_keeps_up_is_not_closed_for_write_timeout);
	ADD(test_failed_interest_change_closes_for_error);
	ADD(test_failed_interest_change_in_own_event_closes_for_error);
	ADD(test_input_buffer_grows_with_the_bytes_that_arrived);
	ADD(test_largest_partial_frame_is_closed_over_the_memory_budget);
	ADD(test_failed_connection_allocation_closes_only_that_client);
	ADD(test_failed_buffer_growth_closes_only_that_client);
	ADD(test_env_and_listener_creation_fail_cleanly);
	ADD(test_held_connection_is_not_read_and_its_heartbeat_pauses);
	ADD(test_close_with_sends_error_or_close_then_eof);
	ADD(test_proxy_header_opens_with_the_address_it_carries);
	ADD(test_proxy_local_header_keeps_the_socket_address);
	ADD(test_proxy_bad_header_is_closed_without_error_frame);
	ADD(test_proxy_cut_header_waits_for_first_message_timeout_only);
	ADD(test_proxy_shutdown_before_the_header_sends_no_error_frame);
	ADD(test_proxy_trusted_refuses_other_peers_at_accept);
#undef ADD
}
