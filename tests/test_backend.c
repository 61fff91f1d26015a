/*
 * Unit tests for backend: the link state machine on a real unix socket
 * with a fake clock, the test playing the application: the reconnect
 * backoff, HELLO, PING on an idle link and the link timeout, ACKs
 * releasing what they cover, and hostile bytes dropping the link.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "linkproto.h"
#include "log.h"

void test_backend_register(void);

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

struct fixture {
	char dir[64];
	char path[96];
	struct config cfg;
	struct backend_conf bc;
	struct listener_conf lc;
	struct stats_slot st;
	uint64_t id_reserved;
	struct evloop *loop;
	struct backend_links *bl;
	int lfd;		/* the "application" listening, -1 if not */
	int afd;		/* its end of the link */
	uint8_t buf[65536];
	size_t len;
};

static struct fixture fx;
static uint32_t setup_max_frame = 65536;	/* a test may raise it before fx_setup */

static void
fx_setup(int listening)
{
	struct backend_params p;

	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/sockserv-backend-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(fx.dir) != NULL);
	snprintf(fx.path, sizeof(fx.path), "%s/app.sock", fx.dir);
	snprintf(fx.bc.name, sizeof(fx.bc.name), "app");
	snprintf(fx.bc.address, sizeof(fx.bc.address), "unix:%s", fx.path);
	fx.bc.is_unix = 1;
	snprintf(fx.bc.unix_path, sizeof(fx.bc.unix_path), "%s", fx.path);
	fx.bc.on_down = ON_DOWN_HOLD;
	fx.bc.max_pending = 65536;
	fx.bc.reconnect_min_ms = 100;
	fx.bc.reconnect_max_ms = 400;
	fx.bc.link_timeout_ms = 3000;
	snprintf(fx.lc.name, sizeof(fx.lc.name), "l");
	fx.lc.backend = 0;
	fx.cfg.node_id = 9;
	fx.cfg.max_frame = setup_max_frame;
	fx.cfg.backends = &fx.bc;
	fx.cfg.nbackends = 1;
	fx.cfg.listeners = &fx.lc;
	fx.cfg.nlisteners = 1;
	fx.lfd = fx.afd = -1;
	if (listening) {
		struct sockaddr_un su;

		fx.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&su, 0, sizeof(su));
		su.sun_family = AF_UNIX;
		snprintf(su.sun_path, sizeof(su.sun_path), "%s", fx.path);
		CU_ASSERT_FATAL(bind(fx.lfd, (struct sockaddr *)&su, sizeof(su)) == 0);
		CU_ASSERT_FATAL(listen(fx.lfd, 8) == 0);
	}
	fx.loop = evloop_create(EVB_POLL, 1024);
	CU_ASSERT_FATAL(fx.loop != NULL);
	fake_now = 1000000;
	memset(&p, 0, sizeof(p));
	p.cfg = &fx.cfg;
	p.loop = fx.loop;
	p.stats = &fx.st;
	p.slot = 2;
	p.phys = 3;
	p.id_start = 1;
	p.id_reserved = &fx.id_reserved;
	p.master_pid = 1;
	p.master_started = 1700000000;
	p.now_ms = fake_now;
	p.clock = fake_clock;
	fx.bl = backend_links_create(&p);
	CU_ASSERT_FATAL(fx.bl != NULL);
	CU_ASSERT_EQUAL(fx.st.nlinks, 1);
	CU_ASSERT_STRING_EQUAL(fx.st.links[0].name, "app");
}

static void
fx_teardown(void)
{
	backend_links_free(fx.bl);
	evloop_free(fx.loop);
	if (fx.afd != -1)
		close(fx.afd);
	if (fx.lfd != -1)
		close(fx.lfd);
	unlink(fx.path);
	rmdir(fx.dir);
}

/* a round at fake time t; the timeout it leaves */
static int64_t
round_at(uint64_t t)
{
	int64_t timeout = 1000000;

	fake_now = t;
	backend_round(fx.bl, t, &timeout);
	return timeout;
}

/* let the link's callbacks run (nothing blocks: the loop is polled) */
static void
dispatch(void)
{
	for (int i = 0; i < 3; i++)
		evloop_run_once(fx.loop, 10);
}

/* the application's next message, within 1 s of real time; 0 or -1 */
static int
app_read(struct link_msg *m, uint8_t *copy, size_t size)
{
	for (int tries = 0; tries < 100; tries++) {
		const char *why;
		enum link_status st = linkproto_decode(fx.buf, fx.len, sizeof(fx.buf), m, &why);

		if (st == LINK_GOT) {
			if (copy != NULL)
				memcpy(copy, m->payload, m->len < size ? m->len : size);
			memmove(fx.buf, fx.buf + m->consumed, fx.len - m->consumed);
			fx.len -= m->consumed;
			m->payload = copy;
			return 0;
		}
		CU_ASSERT_NOT_EQUAL_FATAL(st, LINK_BAD);
		struct pollfd pf = { .fd = fx.afd, .events = POLLIN };
		if (poll(&pf, 1, 10) == 1) {
			ssize_t n = read(fx.afd, fx.buf + fx.len, sizeof(fx.buf) - fx.len);
			if (n <= 0)
				return -1;
			fx.len += (size_t)n;
		}
	}
	return -1;
}

static void
app_send(uint8_t type, uint64_t id, uint32_t seq, const void *p, size_t len)
{
	uint8_t msg[LINK_HDR_LEN + 64];

	CU_ASSERT_FATAL(len <= 64);
	linkproto_header(msg, type, (uint32_t)len, id, seq);
	if (len > 0)
		memcpy(msg + LINK_HDR_LEN, p, len);
	CU_ASSERT_FATAL(write(fx.afd, msg, LINK_HDR_LEN + len) == (ssize_t)(LINK_HDR_LEN + len));
}

/* connect (first round), accept, read HELLO */
static void
up(void)
{
	struct link_msg m;
	uint8_t hello[512] = "";

	round_at(fake_now);
	fx.afd = accept4(fx.lfd, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(fx.afd >= 0);
	CU_ASSERT_FATAL(app_read(&m, hello, sizeof(hello) - 1) == 0);
	CU_ASSERT_EQUAL(m.type, LINK_HELLO);
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)hello, "protocol=1\nnode=9\nworker=2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)hello, "master_pid=1\nstarted=1700000000\n"));
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
}

static void
test_reconnect_backoff_doubles_up_to_the_maximum(void)
{
	uint64_t t0;

	fx_setup(0);
	t0 = fake_now;
	/* nobody listens: each attempt fails at once */
	CU_ASSERT_EQUAL(round_at(t0), 100);
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_DOWN);
	CU_ASSERT_EQUAL(fx.st.links[0].reconnects, 0);
	CU_ASSERT_EQUAL(round_at(t0 + 99), 1);
	CU_ASSERT_EQUAL(fx.st.links[0].reconnects, 0);
	CU_ASSERT_EQUAL(round_at(t0 + 100), 200);	/* second attempt, then 200 */
	CU_ASSERT_EQUAL(fx.st.links[0].reconnects, 1);
	CU_ASSERT_EQUAL(round_at(t0 + 300), 400);
	CU_ASSERT_EQUAL(round_at(t0 + 700), 400);	/* capped at reconnect_max */
	CU_ASSERT_EQUAL(fx.st.links[0].reconnects, 3);
	fx_teardown();
}

static void
test_idle_link_is_pinged_and_dropped_after_link_timeout(void)
{
	struct link_msg m;
	uint64_t t0;

	fx_setup(1);
	t0 = fake_now;
	up();
	/* idle for a third of link_timeout: PING */
	CU_ASSERT_EQUAL(round_at(t0 + 999), 1);
	CU_ASSERT_EQUAL(round_at(t0 + 1000), 1000);
	CU_ASSERT_EQUAL_FATAL(app_read(&m, NULL, 0), 0);
	CU_ASSERT_EQUAL(m.type, LINK_PING);
	/* a PONG is a byte from the application: the clock starts over */
	fake_now = t0 + 1500;
	app_send(LINK_PONG, 0, 0, NULL, 0);
	dispatch();
	round_at(t0 + 4400);
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	/* then silence past link_timeout: dropped, the application sees EOF */
	round_at(t0 + 4500);
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_DOWN);
	while (app_read(&m, NULL, 0) == 0)
		CU_ASSERT_EQUAL(m.type, LINK_PING);
	fx_teardown();
}

static void
test_acks_release_events_and_ack_beyond_drops_the_link(void)
{
	struct link_msg m;
	uint8_t cnt[8];

	fx_setup(1);
	up();
	/* two commands for ids nobody holds: two GONE events, kept until acknowledged */
	app_send(LINK_SEND, 77, 5, "x", 1);
	app_send(LINK_SUB, 78, 6, "t", 1);
	dispatch();
	round_at(fake_now + 1);
	CU_ASSERT_EQUAL(fx.st.links[0].bytes_pending, 2 * LINK_HDR_LEN);
	CU_ASSERT_EQUAL(fx.st.links[0].events_sent, 2);
	/* the worker's ACK (2 commands received) comes before the GONEs */
	CU_ASSERT_FATAL(app_read(&m, cnt, sizeof(cnt)) == 0);
	CU_ASSERT_EQUAL(m.type, LINK_ACK);
	CU_ASSERT_EQUAL(linkproto_get64(cnt), 2);
	CU_ASSERT_FATAL(app_read(&m, NULL, 0) == 0);
	CU_ASSERT(m.type == LINK_GONE && m.id == 77 && m.seq == 5);
	CU_ASSERT_FATAL(app_read(&m, NULL, 0) == 0);
	CU_ASSERT(m.type == LINK_GONE && m.id == 78 && m.seq == 6);
	linkproto_put64(cnt, 1);
	app_send(LINK_CMD_ACK, 0, 0, cnt, 8);
	dispatch();
	CU_ASSERT_EQUAL(fx.st.links[0].bytes_pending, LINK_HDR_LEN);
	/* an ACK for more than was ever sent is hostile */
	linkproto_put64(cnt, 5);
	app_send(LINK_CMD_ACK, 0, 0, cnt, 8);
	dispatch();
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_DOWN);
	/* the unacknowledged GONE is kept for the next session */
	CU_ASSERT_EQUAL(fx.st.links[0].bytes_pending, LINK_HDR_LEN);
	close(fx.afd);
	fx.len = 0;
	round_at(fake_now + 100);
	fx.afd = accept4(fx.lfd, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(fx.afd >= 0);
	CU_ASSERT_FATAL(app_read(&m, NULL, 0) == 0);
	CU_ASSERT_EQUAL(m.type, LINK_HELLO);
	CU_ASSERT_FATAL(app_read(&m, NULL, 0) == 0);
	CU_ASSERT(m.type == LINK_GONE && m.id == 78);
	CU_ASSERT_EQUAL(fx.st.links[0].reconnects, 1);
	fx_teardown();
}

static void
test_malformed_commands_drop_the_link(void)
{
	static const struct {
		uint8_t type;
		uint64_t id;
		size_t len;
	} bad[] = {
		{ LINK_SEND, 0, 1 },		/* a client command for id 0 */
		{ LINK_CMD_CLOSE, 5, 1 },	/* a code needs 2 bytes */
		{ LINK_SUB, 5, 0 },		/* empty topic */
		{ LINK_PUBLISH, 0, 0 },		/* no topic length */
		{ LINK_PUBLISH, 3, 3 },		/* PUBLISH carries no id */
		{ LINK_CMD_ACK, 0, 4 },		/* ACK is a u64 */
		{ LINK_PING, 4, 0 },		/* PING carries no id */
		{ LINK_OPEN, 4, 0 },		/* our own event type */
		{ 200, 0, 0 },			/* unknown */
	};
	uint8_t payload[8] = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fx_setup(1);
		up();
		app_send(bad[i].type, bad[i].id, 1, payload, bad[i].len);
		dispatch();
		CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_DOWN);
		if (fx.st.links[0].state != SLINK_DOWN)
			fprintf(stderr, "\n    case %zu (type %u) kept the link up\n", i, bad[i].type);
		fx_teardown();
	}
	/* PUBLISH whose topic length runs past the payload */
	fx_setup(1);
	up();
	payload[0] = 9;
	app_send(LINK_PUBLISH, 0, 0, payload, 4);
	dispatch();
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_DOWN);
	fx_teardown();
}

/* write n copies of one message in one write(2) each batch, letting the worker read between */
static void
app_flood(uint8_t type, uint64_t id0, size_t n, int rounds)
{
	static uint8_t batch[500 * LINK_HDR_LEN];
	size_t per = sizeof(batch) / LINK_HDR_LEN;

	for (size_t done = 0; done < n; done += per) {
		for (size_t k = 0; k < per; k++)
			linkproto_header(batch + k * LINK_HDR_LEN, type, 0,
			    id0 != 0 ? id0 + done + k : 0, 1);
		CU_ASSERT_FATAL(write(fx.afd, batch, sizeof(batch)) == (ssize_t)sizeof(batch));
		dispatch();
		if (rounds)
			round_at(fake_now + 1);
	}
}

/*
 * An application that sends but never reads: every PING wants a PONG and
 * every round's commands an ACK.  Unbounded, the control stream grew by
 * 20 bytes per PING (28 per round) once the socket was full; now one PONG
 * and one ACK wait at most.
 */
static void
test_app_that_never_reads_cannot_grow_control_output(void)
{
	fx_setup(1);
	up();
	app_flood(LINK_PING, 0, 100000, 0);	/* 2 MB of PINGs, far past the socket's buffers */
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	CU_ASSERT(backend_link_footprint(fx.bl, 0) < 256 * 1024);
	/* PONGs interleaved with rounds that each owe an ACK */
	app_flood(LINK_PING, 0, 20000, 1);
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	CU_ASSERT(backend_link_footprint(fx.bl, 0) < 256 * 1024);
	fx_teardown();
}

/*
 * Commands for ids nobody holds are answered GONE, kept until ACKed.  An
 * application that floods them and never ACKs grew pend without bound (the
 * clients' pause at max_pending does not slow it); now GONEs stop being
 * kept at max_pending, and the commands are still counted in our ACK.
 */
static void
test_gone_flood_stops_at_max_pending(void)
{
	struct link_msg m;
	uint64_t last = 0;

	fx_setup(1);
	up();
	app_flood(LINK_SEND, 1000, 20000, 1);	/* 400 KB of GONEs against max_pending 64 KiB */
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	CU_ASSERT(fx.st.links[0].bytes_pending <= fx.bc.max_pending + LINK_HDR_LEN);
	CU_ASSERT(backend_link_footprint(fx.bl, 0) < 2 * fx.bc.max_pending + 128 * 1024);
	/* every command is still counted: the last ACK says 20000 */
	for (int i = 0; i < 400 && last != 20000; i++) {
		const char *why;
		ssize_t n;

		round_at(fake_now + 1);
		dispatch();
		n = recv(fx.afd, fx.buf + fx.len, sizeof(fx.buf) - fx.len, MSG_DONTWAIT);
		if (n > 0)
			fx.len += (size_t)n;
		while (linkproto_decode(fx.buf, fx.len, sizeof(fx.buf), &m, &why) == LINK_GOT) {
			if (m.type == LINK_ACK)
				last = linkproto_get64(m.payload);
			memmove(fx.buf, fx.buf + m.consumed, fx.len - m.consumed);
			fx.len -= m.consumed;
		}
	}
	CU_ASSERT_EQUAL(last, 20000);
	fx_teardown();
}

/*
 * A header declaring a payload of many megabytes, then silence: the worker
 * reserved the whole declared length at once; now its input grows only with
 * what arrives, and link_timeout drops the link.
 */
static void
test_huge_declared_length_reserves_nothing_and_times_out(void)
{
	uint8_t hdr[LINK_HDR_LEN + 100];
	uint64_t t0;

	setup_max_frame = 64 << 20;
	fx_setup(1);
	setup_max_frame = 65536;
	t0 = fake_now;
	up();
	memset(hdr, 'x', sizeof(hdr));
	linkproto_header(hdr, LINK_SEND, 48 << 20, 5, 1);
	CU_ASSERT_FATAL(write(fx.afd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr));
	dispatch();
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	CU_ASSERT(backend_link_footprint(fx.bl, 0) < 1024 * 1024);
	/* a slow drip grows it with the bytes, doubling at most */
	for (int i = 0; i < 20; i++)
		CU_ASSERT_FATAL(write(fx.afd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr));
	dispatch();
	CU_ASSERT(backend_link_footprint(fx.bl, 0) < 1024 * 1024);
	round_at(t0 + 3000);
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_DOWN);
	CU_ASSERT(backend_link_footprint(fx.bl, 0) < 1024);
	fx_teardown();
}

/*
 * The link admits max_frame + 256 bytes for a PUBLISH's topic; a message
 * over max_frame (65536 here) would reach clients as a frame their limit
 * refuses: dropped, the link kept (the application would resend it on a
 * new session, and a dropped link would flap).
 */
static void
test_message_over_max_frame_is_dropped_not_applied(void)
{
	static uint8_t big[LINK_HDR_LEN + 1 + 1 + 65537];

	fx_setup(1);
	up();
	memset(big, 'x', sizeof(big));
	linkproto_header(big, LINK_PUBLISH, 1 + 1 + 65537, 0, 0);
	big[LINK_HDR_LEN] = 1;	/* a 1-byte topic, then 65537 bytes */
	CU_ASSERT_FATAL(write(fx.afd, big, sizeof(big)) == (ssize_t)sizeof(big));
	dispatch();
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	CU_ASSERT_EQUAL(fx.st.links[0].commands_applied, 0);
	/* max_frame exactly is fine */
	linkproto_header(big, LINK_PUBLISH, 1 + 1 + 65536, 0, 0);
	CU_ASSERT_FATAL(write(fx.afd, big, sizeof(big) - 1) == (ssize_t)sizeof(big) - 1);
	dispatch();
	CU_ASSERT_EQUAL(fx.st.links[0].state, SLINK_UP);
	CU_ASSERT_EQUAL(fx.st.links[0].commands_applied, 1);
	fx_teardown();
}

static uint32_t
fnv1a(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

/*
 * The topic table's hash is SipHash-2-4 under a random key per link.  It
 * was FNV-1a into 1024 fixed buckets: an application could choose topics
 * that all share a bucket and make every SUB and PUBLISH walk them all.
 */
static void
test_topic_hash_is_keyed_and_spreads_fnv_collisions(void)
{
	uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	uint8_t msg[15];
	char names[64][16];
	int n = 0, used[1024] = { 0 }, buckets = 0;
	uint32_t target = fnv1a("t0", 2) & 1023;

	/* the reference vector of the SipHash paper (appendix A) */
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(backend_topic_hash(key, msg, sizeof(msg)), 0xa129ca6149be45e5ULL);
	/* 64 topics in one bucket of the old table land in many buckets of the new one */
	for (unsigned u = 0; n < 64 && u < 10000000; u++) {
		int l = snprintf(names[n], sizeof(names[n]), "t%u", u);
		if ((fnv1a(names[n], (size_t)l) & 1023) == target)
			n++;
	}
	CU_ASSERT_EQUAL_FATAL(n, 64);
	key[0] = 0x243f6a8885a308d3ULL;	/* any key the application does not know */
	key[1] = 0x13198a2e03707344ULL;
	for (int i = 0; i < n; i++) {
		size_t h = (size_t)backend_topic_hash(key, (const uint8_t *)names[i],
		    strlen(names[i])) & 1023;
		if (!used[h]++)
			buckets++;
	}
	CU_ASSERT(buckets >= 48);
}

static enum log_level saved_level;

/* the link logs every drop at warn; the tests need not see them */
static int
suite_init(void)
{
	saved_level = log_get_level();
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

static int
suite_clean(void)
{
	log_set_level(saved_level);
	return 0;
}

void
test_backend_register(void)
{
	CU_pSuite s = CU_add_suite("backend", suite_init, suite_clean);

	if (s == NULL)
		return;
	CU_add_test(s, "test_reconnect_backoff_doubles_up_to_the_maximum",
	    test_reconnect_backoff_doubles_up_to_the_maximum);
	CU_add_test(s, "test_idle_link_is_pinged_and_dropped_after_link_timeout",
	    test_idle_link_is_pinged_and_dropped_after_link_timeout);
	CU_add_test(s, "test_acks_release_events_and_ack_beyond_drops_the_link",
	    test_acks_release_events_and_ack_beyond_drops_the_link);
	CU_add_test(s, "test_malformed_commands_drop_the_link", test_malformed_commands_drop_the_link);
	CU_add_test(s, "test_app_that_never_reads_cannot_grow_control_output",
	    test_app_that_never_reads_cannot_grow_control_output);
	CU_add_test(s, "test_gone_flood_stops_at_max_pending", test_gone_flood_stops_at_max_pending);
	CU_add_test(s, "test_topic_hash_is_keyed_and_spreads_fnv_collisions",
	    test_topic_hash_is_keyed_and_spreads_fnv_collisions);
	CU_add_test(s, "test_message_over_max_frame_is_dropped_not_applied",
	    test_message_over_max_frame_is_dropped_not_applied);
	CU_add_test(s, "test_huge_declared_length_reserves_nothing_and_times_out",
	    test_huge_declared_length_reserves_nothing_and_times_out);
}
