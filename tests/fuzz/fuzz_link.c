/*
 * fuzz_link: the backend link (backend.c) as a worker runs it, in-process,
 * with the fuzz input playing the application: an event loop, a timing
 * wheel, a conn_env with one "backend" listener and a few clients, and the
 * worker's link to a unix socket this target listens on.  The application
 * side writes commands (raw bytes, or well-formed headers addressed to the
 * clients' real ids, learnt from their OPENs), reads or does not, ACKs or
 * does not, drops the link; clients send messages and close; the virtual
 * clock moves so link_timeout, PINGs and the reconnect backoff fire.
 *
 * Checked, besides ASan/UBSan and leaks:
 *   - what the worker writes on the link is a valid stream of its own
 *     message types (it never sends garbage, whatever it is sent);
 *   - bytes the decoder calls broken drop the link (the application sees
 *     EOF), never the worker;
 *   - the link's buffers stay within a bound set by max_pending and
 *     max_frame, whatever the application does (backend_link_footprint);
 *   - no single allocation exceeds ALLOC_MAX (no length believed);
 *   - the loop goes quiet after each step (nothing spins).
 *
 * Input layout (tests/fuzz/mkcorpus.py writes seeds in it):
 *   [0]  flags, F_* below
 *   [1]  clients: 1 + b % NCLIENTS
 *   then steps, each an op byte (b % OP_N) and its operands:
 *   OP_RAW   n, n bytes         the application writes n raw bytes
 *   OP_CMD   type, who, seq, n, n bytes
 *                               a header of type with id: the id of client
 *                               who when who < NCLIENTS, 0 when who ==
 *                               NCLIENTS, else who itself (a stranger)
 *   OP_DATA  k, n, n bytes      client k sends one DATA frame
 *   OP_TIME  t                  the clock moves t * STEP_MS
 *   OP_READ                     the application reads what waits
 *   OP_CLOSE k                  client k closes; a new one takes its place
 *   OP_DROP                     the application closes the link
 *   OP_ACK                      the application ACKs all it read this session
 *   OP_REPEAT r                 the last OP_CMD again (r + 1) * 16 times
 */
#include <errno.h>
#include <sanitizer/allocator_interface.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include "backend.h"
#include "conn.h"
#include "handler.h"
#include "linkproto.h"
#include "log.h"
#include "proto.h"
#include "stats.h"
#include "twheel.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_link: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

enum {
	F_ON_DOWN = 0x03,	/* on_down: 0 hold, 1 refuse, 2 close (3: hold) */
	F_BIG_PENDING = 0x04,	/* max_pending 1 MiB instead of config.c's least, 64 KiB */
	F_POLL = 0x08,		/* the poll backend instead of epoll */
	F_LAZY_APP = 0x10,	/* the application reads only at OP_READ (else after every step) */
	F_SILENT_CLIENTS = 0x20,	/* the clients never read */
};

enum { OP_RAW, OP_CMD, OP_DATA, OP_TIME, OP_READ, OP_CLOSE, OP_DROP, OP_ACK, OP_REPEAT, OP_N };

#define NCLIENTS 3
#define TICK_MS 10
#define STEP_MS 50
#define MAX_FRAME 4096
#define MAX_ROUNDS 5000		/* more loop rounds than this for one step: spinning */
#define QUIET_ROUNDS 2
#define ALLOC_MAX (1 << 20)	/* max_frame is 4 KiB: a larger allocation believed a length */
#define APP_BUF (1 << 20)

static int watching;

static void
on_malloc(const volatile void *ptr, size_t size)
{
	(void)ptr;
	if (watching && size > ALLOC_MAX) {
		watching = 0;
		fprintf(stderr, "fuzz_link: one allocation of %zu bytes (more than %d)\n",
		    size, ALLOC_MAX);
		abort();
	}
}

static void
on_free(const volatile void *ptr)
{
	(void)ptr;
}

/* ---- the worker-like environment ---- */

static char app_path[108];
static int app_lfd = -1;		/* the application's listening socket, for every input */
static struct stats_slot slot;
static struct conn_env *cur_env;	/* for the link's clock */

static uint64_t
fake_clock(void)
{
	return conn_env_now(cur_env);
}

struct app {
	int fd;				/* its end of the current link, -1 if none */
	uint8_t *buf;			/* what it read, not yet decoded */
	size_t len;
	uint64_t processed;		/* id'd messages read this session */
	uint8_t *sent;			/* what it wrote this session, for the malformed oracle */
	size_t nsent;
	int sent_overflow;
};

struct world {
	struct config cfg;
	struct backend_conf bc;
	struct listener_conf lc;
	struct evloop *loop;
	struct twheel *wheel;
	struct conn_env *env;
	struct conn_listener *cl;
	struct backend_links *bl;
	uint64_t id_reserved;
	int client[NCLIENTS];		/* the client's socket, -1 when closed */
	uint64_t id[NCLIENTS];		/* its connection id from its OPEN, 0 if not seen yet */
	uint16_t port[NCLIENTS];	/* its "peer port": how its OPEN names it */
	uint16_t next_port;
	size_t created;			/* clients accepted so far */
	size_t client_bytes;		/* bytes the clients sent */
	int nclients;
	unsigned flags;
	struct app app;
};

static void
app_reset(struct app *a)
{
	if (a->fd != -1)
		close(a->fd);
	a->fd = -1;
	a->len = a->nsent = 0;
	a->processed = 0;
	a->sent_overflow = 0;
}

/* one message the worker sent: it must be one of its own, well-formed */
static void
app_note(struct world *w, const struct link_msg *m)
{
	CHECK(m->type >= LINK_HELLO && m->type <= LINK_PONG);
	if (m->id != 0)
		w->app.processed++;
	if (m->type == LINK_OPEN) {
		char peer[64];
		size_t nl, pl;
		unsigned port;

		CHECK(m->len >= 2 && m->id != 0);
		nl = strnlen((const char *)m->payload + 1, m->len - 1);
		CHECK(nl + 1 < m->len);
		/* the payload is not NUL-terminated: the peer is what is left of it */
		pl = m->len - 1 - nl - 1;
		CHECK(pl < sizeof(peer));
		memcpy(peer, m->payload + 1 + nl + 1, pl);
		peer[pl] = '\0';
		if (sscanf(peer, "0.0.0.0:%u", &port) == 1)
			for (int k = 0; k < NCLIENTS; k++)
				if (w->port[k] == port)
					w->id[k] = m->id;
	}
	if (m->type == LINK_PING && w->app.fd != -1) {
		/* a live application answers: best effort, a full socket skips it */
		uint8_t pong[LINK_HDR_LEN];
		struct app *a = &w->app;

		ssize_t n;

		linkproto_header(pong, LINK_PONG, 0, 0, m->seq);
		n = send(a->fd, pong, sizeof(pong), MSG_NOSIGNAL | MSG_DONTWAIT);
		/* even a cut one is what the worker reads: the oracle must see it too */
		if (n > 0 && !a->sent_overflow && a->nsent + (size_t)n <= APP_BUF) {
			memcpy(a->sent + a->nsent, pong, (size_t)n);
			a->nsent += (size_t)n;
		} else if (n > 0) {
			a->sent_overflow = 1;
		}
	}
	if (m->type == LINK_CLOSE)
		CHECK(m->len >= 2);
	if (m->type == LINK_ACK || m->type == LINK_HELLO || m->type == LINK_PING)
		CHECK(m->id == 0);
}

/* read what waits on the link; 1 if the link ended (EOF) */
static int
app_drain(struct world *w)
{
	struct app *a = &w->app;
	int eof = 0;

	if (a->fd == -1)
		return 0;
	for (;;) {
		ssize_t n = read(a->fd, a->buf + a->len, APP_BUF - a->len);
		struct link_msg m;
		const char *why;
		size_t off = 0;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			eof = 1;
			break;
		}
		if (n == -1)
			break;
		a->len += (size_t)n;
		for (;;) {
			enum link_status st = linkproto_decode(a->buf + off, a->len - off,
			    APP_BUF - LINK_HDR_LEN, &m, &why);
			CHECK(st != LINK_BAD);	/* the worker never writes garbage */
			if (st == LINK_NEED_MORE)
				break;
			app_note(w, &m);
			off += m.consumed;
		}
		memmove(a->buf, a->buf + off, a->len - off);
		a->len -= off;
	}
	if (eof)
		app_reset(a);
	return eof;
}

/* take the worker's connection when it comes (it connects from backend_round) */
static void
app_accept(struct world *w)
{
	int fd;

	if (w->app.fd != -1)
		return;
	fd = accept4(app_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		w->app.fd = fd;
}

static size_t
client_drain(int fd)
{
	uint8_t buf[4096];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	return got;
}

/*
 * The largest the link's buffers may be (their capacity: a buffer may be
 * twice its bytes), from what the input did: pend is at most twice
 * max_pending plus what the clients added after the ceiling (an OPEN and a
 * CLOSE each, and their messages: a MSG header per frame, at most 20
 * bytes per 8 bytes sent); ctl HELLO, the resent OPENs, one ACK and one
 * PONG; the input one read plus one partial command.  A link that keeps
 * a PONG per PING or a GONE per command past max_pending exceeds it.
 */
static size_t
footprint_bound(const struct world *w)
{
	size_t maxp = MAX_FRAME + 1 + LINK_TOPIC_MAX + LINK_HDR_LEN;
	size_t pend = 2 * w->bc.max_pending + 128 * w->created + 3 * w->client_bytes;
	size_t ctl = 512 + 64 * w->created + 2 * maxp;
	size_t in = 64 * 1024 + maxp;

	return 2 * (pend + ctl + in) + 3 * 64;
}

/* run the worker until nothing moves */
static void
pump(struct world *w)
{
	int quiet = 0;

	for (int rounds = 0; quiet < QUIET_ROUNDS; rounds++) {
		int64_t timeout = 0;
		size_t got = 0;
		int n;

		CHECK(rounds < MAX_ROUNDS);
		conn_env_expire(w->env);
		backend_round(w->bl, conn_env_now(w->env), &timeout);
		n = evloop_run_once(w->loop, 0);
		CHECK(n >= 0);
		app_accept(w);
		if (!(w->flags & F_LAZY_APP))
			(void)app_drain(w);
		if (!(w->flags & F_SILENT_CLIENTS))
			for (int k = 0; k < w->nclients; k++)
				if (w->client[k] != -1)
					got += client_drain(w->client[k]);
		quiet = n == 0 && got == 0 ? quiet + 1 : 0;
	}
	CHECK(backend_link_footprint(w->bl, 0) <= footprint_bound(w));
}

static void
advance(struct world *w, uint64_t ms)
{
	uint64_t end = conn_env_now(w->env) + ms, now;
	uint64_t step = ms / 20 > TICK_MS ? ms / 20 : TICK_MS;

	while ((now = conn_env_now(w->env)) < end) {
		conn_env_set_now(w->env, now + (step < end - now ? step : end - now));
		pump(w);
	}
}

static void
client_connect(struct world *w, int k)
{
	struct sockaddr_in peer = { .sin_family = AF_INET };
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	/* the port names the client in its OPEN ("0.0.0.0:PORT") */
	w->port[k] = ++w->next_port;
	w->id[k] = 0;
	peer.sin_port = htons(w->port[k]);
	conn_accept(w->cl, sv[0], (struct sockaddr *)&peer);
	w->client[k] = sv[1];
	w->created++;
}

/* bytes from the application, all of them, the worker reading meanwhile */
static void
app_write(struct world *w, const uint8_t *p, size_t len)
{
	struct app *a = &w->app;
	int stuck = 0;

	if (a->fd == -1)
		return;
	if (!a->sent_overflow) {
		if (a->nsent + len <= APP_BUF) {
			memcpy(a->sent + a->nsent, p, len);
			a->nsent += len;
		} else {
			a->sent_overflow = 1;
		}
	}
	while (len > 0 && a->fd != -1) {
		ssize_t n = send(a->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			stuck = 0;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN) {
			app_reset(a);	/* the worker dropped it */
			return;
		}
		pump(w);
		/* a worker that stops reading its link is no hang: it waits for our reads */
		if (++stuck > 4) {
			(void)app_drain(w);
			if (stuck > 8)
				return;
		}
	}
}

/*
 * The oracle for hostile bytes: when what this session sent is broken for
 * the decoder, the worker must have dropped the link (EOF to us) and kept
 * running.
 */
static void
check_broken_drops(struct world *w)
{
	struct app *a = &w->app;
	uint32_t max_payload = (uint32_t)(MAX_FRAME + 1 + LINK_TOPIC_MAX);
	struct link_msg m;
	const char *why;
	size_t off = 0;

	if (a->fd == -1 || a->sent_overflow)
		return;
	for (;;) {
		enum link_status st = linkproto_decode(a->sent + off, a->nsent - off, max_payload,
		    &m, &why);
		if (st == LINK_NEED_MORE)
			return;
		if (st == LINK_BAD)
			break;
		off += m.consumed;
	}
	pump(w);
	/* the EOF is behind whatever the worker wrote before the drop */
	for (int i = 0; i < 64 && a->fd != -1; i++) {
		if (app_drain(w))
			return;
		pump(w);
	}
	CHECK(a->fd == -1);
}

static void
world_setup(struct world *w, unsigned flags, int nclients)
{
	struct conn_env_params p;
	struct backend_params bp;

	memset(&slot, 0, sizeof(slot));
	w->flags = flags;
	w->nclients = nclients;
	w->app.fd = -1;
	snprintf(w->bc.name, sizeof(w->bc.name), "app");
	snprintf(w->bc.address, sizeof(w->bc.address), "unix:%s", app_path);
	w->bc.is_unix = 1;
	snprintf(w->bc.unix_path, sizeof(w->bc.unix_path), "%s", app_path);
	w->bc.on_down = (flags & F_ON_DOWN) == 1 ? ON_DOWN_REFUSE :
	    (flags & F_ON_DOWN) == 2 ? ON_DOWN_CLOSE : ON_DOWN_HOLD;
	w->bc.max_pending = (flags & F_BIG_PENDING) ? 1 << 20 : 65536;
	w->bc.reconnect_min_ms = 100;
	w->bc.reconnect_max_ms = 800;
	w->bc.link_timeout_ms = 3000;
	snprintf(w->lc.name, sizeof(w->lc.name), "f");
	snprintf(w->lc.address, sizeof(w->lc.address), "127.0.0.1");
	snprintf(w->lc.handler, sizeof(w->lc.handler), "backend");
	w->lc.port = 7100;
	w->lc.codec = CODEC_FRAME;
	w->lc.backend = 0;
	w->lc.heartbeat_ms = 2000;
	w->lc.frame_timeout_ms = 1000;
	w->lc.write_timeout_ms = 1000;
	w->lc.first_message_ms = 5000;
	w->cfg.node_id = 7;
	w->cfg.max_frame = MAX_FRAME;
	w->cfg.backends = &w->bc;
	w->cfg.nbackends = 1;
	w->cfg.listeners = &w->lc;
	w->cfg.nlisteners = 1;

	w->loop = evloop_create((flags & F_POLL) ? EVB_POLL : EVB_EPOLL, 256);
	CHECK(w->loop != NULL);
	memset(&p, 0, sizeof(p));
	p.epoch_ms = 1000000;
	w->wheel = twheel_create(TICK_MS, 64, p.epoch_ms);
	CHECK(w->wheel != NULL);
	p.loop = w->loop;
	p.wheel = w->wheel;
	p.stats = &slot;
	p.max_output = 65536;
	p.max_conns = 64;
	p.max_buffer_memory = 64u << 20;
	w->env = cur_env = conn_env_create(&p);
	CHECK(w->env != NULL);
	conn_env_set_now(w->env, p.epoch_ms);

	memset(&bp, 0, sizeof(bp));
	bp.cfg = &w->cfg;
	bp.loop = w->loop;
	bp.stats = &slot;
	bp.slot = 1;
	bp.phys = 1;
	bp.id_start = 1;
	bp.id_reserved = &w->id_reserved;
	bp.master_pid = 1;
	bp.master_started = 1700000000;
	bp.now_ms = p.epoch_ms;
	bp.clock = fake_clock;
	w->bl = backend_links_create(&bp);
	CHECK(w->bl != NULL);
	w->cl = conn_listener_create(w->env, &w->lc, handler_find("backend"), MAX_FRAME);
	CHECK(w->cl != NULL);
	conn_listener_set_ctx(w->cl, backend_listener_ctx(w->bl, &w->lc));
	for (int k = 0; k < NCLIENTS; k++)
		w->client[k] = -1;
	/* the link first (its HELLO), then the clients */
	pump(w);
	for (int k = 0; k < nclients; k++)
		client_connect(w, k);
	pump(w);
}

static void
world_teardown(struct world *w)
{
	int fd;

	for (int k = 0; k < NCLIENTS; k++)
		if (w->client[k] != -1)
			close(w->client[k]);
	conn_env_shutdown(w->env);
	backend_links_free(w->bl);
	conn_listener_free(w->cl);
	conn_env_free(w->env);
	twheel_free(w->wheel);
	evloop_free(w->loop);
	app_reset(&w->app);
	/* links this input left in the backlog must not reach the next one */
	while ((fd = accept4(app_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		close(fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[80];
	struct sockaddr_un su;

	(void)argc;
	(void)argv;
	handler_register_builtins();
	CHECK(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0);
	signal(SIGPIPE, SIG_IGN);
	/* FUZZ_LINK_LOG=1 shows the link's log, to read what a reproducer does */
	CHECK(log_init(getenv("FUZZ_LINK_LOG") != NULL ? "stderr" : "/dev/null",
	    LOG_LVL_DEBUG, 0) == 0);
	snprintf(dir, sizeof(dir), "%s/fuzz_link.XXXXXX", tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(app_path, sizeof(app_path), "%s/app.sock", dir);
	app_lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(app_lfd >= 0);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", app_path);
	CHECK(bind(app_lfd, (struct sockaddr *)&su, sizeof(su)) == 0);
	CHECK(listen(app_lfd, 16) == 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t appbuf[APP_BUF], sentbuf[APP_BUF];
	static struct world w;
	uint8_t cmd[LINK_HDR_LEN + 256];
	size_t cmdlen = 0, i = 2;

	if (size < 2)
		return -1;
	memset(&w, 0, sizeof(w));
	w.app.buf = appbuf;
	w.app.sent = sentbuf;
	watching = 1;
	world_setup(&w, data[0], 1 + data[1] % NCLIENTS);

#define NEED(n) do { if (size - i < (n)) goto out; } while (0)
	while (i < size) {
		uint8_t op = data[i++] % OP_N;

		switch (op) {
		case OP_RAW: {
			size_t n;
			NEED(1);
			n = data[i++];
			if (n > size - i)
				n = size - i;
			app_write(&w, data + i, n);
			i += n;
			break;
		}
		case OP_CMD: {
			uint8_t type, who, n;
			uint64_t id;
			NEED(4);
			type = data[i];
			who = data[i + 1];
			n = data[i + 3];
			id = who < NCLIENTS ? w.id[who] : who == NCLIENTS ? 0 : who;
			i += 4;
			if (n > size - i)
				n = (uint8_t)(size - i);
			linkproto_header(cmd, type, n, id, data[i - 2]);
			memcpy(cmd + LINK_HDR_LEN, data + i, n);
			cmdlen = LINK_HDR_LEN + n;
			i += n;
			app_write(&w, cmd, cmdlen);
			break;
		}
		case OP_DATA: {
			uint8_t frame[8 + 256];
			int k;
			size_t n;
			NEED(2);
			k = data[i] % w.nclients;
			n = data[i + 1];
			i += 2;
			if (n > size - i)
				n = size - i;
			frame[0] = 'S';
			frame[1] = 'S';
			frame[2] = 1;
			frame[3] = FRAME_DATA;
			frame[4] = frame[5] = frame[6] = 0;
			frame[7] = (uint8_t)n;
			memcpy(frame + 8, data + i, n);
			i += n;
			if (w.client[k] != -1 &&
			    send(w.client[k], frame, 8 + n, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
				w.client_bytes += 8 + n;
			break;
		}
		case OP_TIME:
			NEED(1);
			advance(&w, (uint64_t)data[i++] * STEP_MS);
			break;
		case OP_READ:
			(void)app_drain(&w);
			break;
		case OP_CLOSE: {
			int k;
			NEED(1);
			k = data[i++] % w.nclients;
			if (w.client[k] != -1)
				close(w.client[k]);
			client_connect(&w, k);
			break;
		}
		case OP_DROP:
			app_reset(&w.app);
			break;
		case OP_ACK: {
			uint8_t ack[LINK_HDR_LEN + 8];
			linkproto_header(ack, LINK_CMD_ACK, 8, 0, 0);
			linkproto_put64(ack + LINK_HDR_LEN, w.app.processed);
			app_write(&w, ack, sizeof(ack));
			break;
		}
		case OP_REPEAT: {
			int r;
			NEED(1);
			r = (data[i++] + 1) * 16;
			for (int k = 0; k < r && cmdlen > 0; k++)
				app_write(&w, cmd, cmdlen);
			break;
		}
		}
		pump(&w);
		check_broken_drops(&w);
	}
out:
#undef NEED
	/* the end: the application reads and ACKs, time passes past every timer */
	(void)app_drain(&w);
	advance(&w, 5000);
	watching = 0;
	world_teardown(&w);
	return 0;
}
