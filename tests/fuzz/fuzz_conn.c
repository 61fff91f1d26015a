/*
 * fuzz_conn: the connection state machine (conn.c) as a worker runs it,
 * in-process: an event loop, a timing wheel, a conn_env and one listener,
 * with the fuzz input as a client's bytes arriving in chunks.  Between
 * chunks the (virtual) clock moves, so heartbeat, frame, first-message,
 * write and deadline timeouts fire; then the client closes.
 *
 * The listener is an AF_UNIX stream socket: conn.c accepts from it exactly
 * as from TCP, but a closed connection leaves no TIME_WAIT behind, so
 * millions of inputs do not exhaust loopback ports.
 *
 * Checked, besides ASan/UBSan and leaks:
 *   - the loop goes quiet after each chunk (no connection spins on events);
 *   - what the server wrote is a valid stream of its codec, and its messages
 *     are a prefix of what the client's messages ask for (echo: DATA back,
 *     PING -> PONG, CLOSE -> CLOSE; log: only PONG and CLOSE), at most one
 *     ERROR with a known code, and nothing after ERROR or CLOSE;
 *   - once the client has closed and the clock has passed every timeout,
 *     no connection is left, and every accept is counted as one close;
 *   - with F_PROXY, the codec's checks apply to the bytes after a complete
 *     PROXY header, and a connection whose header never completed got no
 *     byte at all (no ERROR frame: its peer may be a balancer);
 *   - memory follows the bytes that arrived, never a length the client
 *     declared (STYLE.md, issue 11 hole 7): from at most 8 KiB of input no
 *     single allocation may exceed ALLOC_MAX, whatever max_frame allows.
 *
 * Input layout (tests/fuzz/mkcorpus.py writes seeds in it):
 *   [0]  codec: 0 frame, 1 raw, 2 headers (mod 3)
 *   [1]  max_frame: < 0x80 b + 1, else MAX_FRAME_TABLE[b & 7] (all within
 *        config.c's 1..1 GiB)
 *   [2]  flags, F_* below
 *   [3]  n, then n pairs (chunk size, clock step in units of STEP_MS)
 *   rest the client's byte stream; what the pairs do not cover goes last
 *
 * The environment is built by fenv_setup() and used only through the other
 * fenv_* functions (listening socket, connect, clock, timers, connection
 * count, teardown), so a change to how a worker builds its listeners and
 * conn_env touches that section alone.
 */
#include <errno.h>
#include <sanitizer/allocator_interface.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "conn.h"
#include "handler.h"
#include "log.h"
#include "proto.h"
#include "proxyproto.h"
#include "stats.h"
#include "twheel.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_conn: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

enum {
	F_SLOW_READER = 0x01,	/* the client reads nothing until it closes */
	F_SMALL_BUFFERS = 0x02,	/* max_output 1024 and a small kernel send buffer */
	F_LOG = 0x04,		/* the log handler instead of echo */
	F_POLL = 0x08,		/* the poll backend instead of epoll */
	F_SHORT_TIMEOUTS = 0x10,	/* timeouts of a few hundred ms */
	F_HALF_CLOSE = 0x20,	/* the client shuts its write side first, then reads */
	F_FULL = 0x40,		/* the worker is full: the client is refused */
	F_PROXY = 0x80,		/* proxy_protocol: the stream starts with a PROXY header */
};

#define TICK_MS 10
#define STEP_MS 20		/* one unit of a chunk's clock step */
#define QUIET_ROUNDS 2		/* loop rounds with nothing to do: quiet */
#define MAX_ROUNDS 2000		/* more rounds than this for one chunk: spinning */
#define OUT_MAX (1 << 20)
/*
 * The largest single allocation the server may make while it serves one
 * input: its two 64 KiB worker buffers and what the input's few KiB grow
 * them by fit many times over; 1 MiB means a declared length was believed.
 */
#define ALLOC_MAX (1 << 20)

static const uint64_t MAX_FRAME_TABLE[8] = {
	1, 8, 1024, 65535, 65536, 1048576, 64u << 20, 1u << 30,
};

/* set while the server runs, so libFuzzer's own allocations are not judged */
static int watching;

static void
on_malloc(const volatile void *ptr, size_t size)
{
	(void)ptr;
	if (watching && size > ALLOC_MAX) {
		watching = 0;
		fprintf(stderr, "fuzz_conn: one allocation of %zu bytes (more than %d) from a "
		    "few KiB of client input: memory must follow the bytes that arrived, "
		    "not a length the client declared\n", size, ALLOC_MAX);
		abort();
	}
}

static void
on_free(const volatile void *ptr)
{
	(void)ptr;
}

/* ---- the worker-like environment ---- */

struct fenv {
	struct evloop *loop;
	struct twheel *wheel;
	struct conn_env *env;
	struct conn_listener *cl;
	struct listener_conf lc;
	struct proto_codec codec;	/* the listener's, for the output oracle */
	int server_fd;			/* the connection's end of the socketpair */
};

static struct stats_slot slot;

/* conn_accept() takes any socket: a socketpair per input, nothing to set up once */
static void
fenv_init_once(void)
{
}

/* what worker.c does for one listener, with the clock under our control */
static void
fenv_setup(struct fenv *f, enum codec codec, uint64_t max_frame, unsigned flags)
{
	struct conn_env_params p;

	memset(f, 0, sizeof(*f));
	memset(&slot, 0, sizeof(slot));
	snprintf(f->lc.name, sizeof(f->lc.name), "fuzz");
	snprintf(f->lc.address, sizeof(f->lc.address), "127.0.0.1");
	snprintf(f->lc.handler, sizeof(f->lc.handler), "%s", (flags & F_LOG) ? "log" : "echo");
	f->lc.port = 7000;
	f->lc.codec = codec;
	f->lc.proxy_protocol = (flags & F_PROXY) != 0;
	memcpy(f->lc.magic, "Headers", 7);
	f->lc.magic_len = 7;
	if (flags & F_SHORT_TIMEOUTS) {
		f->lc.heartbeat_ms = 400;
		f->lc.deadline_ms = 3000;
		f->lc.frame_timeout_ms = 200;
		f->lc.write_timeout_ms = 300;
		f->lc.first_message_ms = 100;
	} else {
		/* config.c's defaults for a frame listener */
		f->lc.heartbeat_ms = 30000;
		f->lc.frame_timeout_ms = 10000;
		f->lc.write_timeout_ms = 30000;
		f->lc.first_message_ms = 30000;
	}
	f->loop = evloop_create((flags & F_POLL) ? EVB_POLL : EVB_EPOLL, 256);
	CHECK(f->loop != NULL);
	memset(&p, 0, sizeof(p));
	p.epoch_ms = 1000000;	/* the clock is virtual */
	f->wheel = twheel_create(TICK_MS, 64, p.epoch_ms);
	CHECK(f->wheel != NULL);
	p.loop = f->loop;
	p.wheel = f->wheel;
	p.stats = &slot;
	p.max_output = (flags & F_SMALL_BUFFERS) ? 1024 : 1 << 20;
	p.max_conns = (flags & F_FULL) ? 0 : 100;
	p.max_buffer_memory = 256u << 20;
	f->env = conn_env_create(&p);
	CHECK(f->env != NULL);
	conn_env_set_now(f->env, p.epoch_ms);
	f->cl = conn_listener_create(f->env, &f->lc, handler_find(f->lc.handler), max_frame);
	CHECK(f->cl != NULL);
	f->codec.codec = codec;
	f->codec.max_frame = max_frame;
	f->codec.magic = f->lc.magic;
	f->codec.magic_len = f->lc.magic_len;
}

/*
 * The rest of the target sees the environment only through these: the
 * virtual clock, the wheel run at it, and the count of open connections.
 */
static uint64_t
fenv_now(const struct fenv *f)
{
	return conn_env_now(f->env);
}

static void
fenv_set_now(struct fenv *f, uint64_t now_ms)
{
	conn_env_set_now(f->env, now_ms);
}

static void
fenv_expire(struct fenv *f)
{
	conn_env_expire(f->env);
}

static uint64_t
fenv_count(const struct fenv *f)
{
	CHECK(twheel_count(f->wheel) <= conn_env_count(f->env));
	return conn_env_count(f->env);
}

/*
 * A client connected and accepted (or refused, when full); its socket,
 * non-blocking.  small: the server's send buffer is the kernel's smallest.
 */
static int
fenv_connect(struct fenv *f, int small)
{
	struct sockaddr_in peer = { .sin_family = AF_INET };
	int sv[2], v = 1;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	if (small)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	f->server_fd = sv[0];
	conn_accept(f->cl, sv[0], (struct sockaddr *)&peer);
	CHECK(slot.cur.accepted == 1);
	return sv[1];
}

static void
fenv_teardown(struct fenv *f)
{
	conn_env_shutdown(f->env);
	conn_listener_free(f->cl);
	conn_env_free(f->env);
	twheel_free(f->wheel);
	evloop_free(f->loop);
}

/* ---- the client ---- */

struct client {
	int fd;
	int eof;
	uint8_t *out;		/* what the server wrote */
	size_t nout;
};

static size_t
client_drain(struct client *cl)
{
	size_t got = 0;

	while (!cl->eof) {
		uint8_t buf[4096];
		ssize_t n = read(cl->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* EOF, or ECONNRESET: the server is gone either way */
			cl->eof = 1;
			break;
		}
		CHECK(cl->nout + (size_t)n <= OUT_MAX);
		memcpy(cl->out + cl->nout, buf, (size_t)n);
		cl->nout += (size_t)n;
		got += (size_t)n;
	}
	return got;
}

/* run the loop (and the wheel, at the current virtual time) until it is quiet */
static void
pump(struct fenv *f, struct client *cl, int reading)
{
	int quiet = 0;

	for (int rounds = 0; quiet < QUIET_ROUNDS; rounds++) {
		int n;
		size_t got = 0;

		CHECK(rounds < MAX_ROUNDS);
		fenv_expire(f);
		n = evloop_run_once(f->loop, 0);
		CHECK(n >= 0);
		if (reading)
			got = client_drain(cl);
		quiet = n == 0 && got == 0 ? quiet + 1 : 0;
	}
}

/*
 * Move the virtual clock by ms, running what falls due: a tick at a time
 * for short moves, in 20 steps for long ones (the wheel fires every tick
 * it passes either way; the loop just runs less often in between).
 */
static void
advance(struct fenv *f, struct client *cl, uint64_t ms, int reading)
{
	uint64_t end = fenv_now(f) + ms;
	uint64_t step = ms / 20 > TICK_MS ? ms / 20 : TICK_MS;

	while (fenv_now(f) < end) {
		fenv_set_now(f, fenv_now(f) + (step < end - fenv_now(f) ? step : end - fenv_now(f)));
		pump(f, cl, reading);
	}
}

/* send all of buf, pumping the server while the socket is full */
static void
client_send(struct fenv *f, struct client *cl, const uint8_t *buf, size_t len, int reading)
{
	int stuck = 0;

	while (len > 0) {
		ssize_t n = send(cl->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			stuck = 0;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			return;	/* the server closed: the rest is never read */
		/*
		 * Full: let the server read.  A server that stopped reading
		 * (output over max_output, or closing) waits for this client to
		 * read, so the client does, even a slow one; one that still
		 * takes nothing is closing and never will.
		 */
		pump(f, cl, 1);
		if (++stuck > 8)
			return;
	}
	pump(f, cl, reading);
}

/* ---- the output oracle ---- */

struct msg {
	uint8_t type;
	const uint8_t *data;
	size_t len;
};

/* the messages a codec stream holds, up to a protocol error or a partial tail */
static size_t
decode_all(const struct proto_codec *pc, const uint8_t *buf, size_t len,
    struct msg *out, size_t max, size_t *used)
{
	struct proto_msg m;
	size_t n = 0, off = 0;

	while (n < max && off < len && proto_decode(pc, buf + off, len - off, &m) == PROTO_MSG) {
		out[n++] = (struct msg){ m.type, m.data, m.len };
		off += m.consumed;
	}
	*used = off;
	return n;
}

static void
check_output(const struct fenv *f, const uint8_t *in, size_t nin, const struct client *cl,
    unsigned flags)
{
	static struct msg want[8192], got[8192];
	struct proto_codec out_pc = f->codec;
	size_t nwant = 0, ngot, used, i, j;
	int echo = !(flags & F_LOG);

	if (flags & F_PROXY) {
		struct proxyproto_hdr h;

		if (proxyproto_parse(in, nin, &h) == PROXYPROTO_DONE) {
			/* the codec sees what follows the header, nothing of it */
			in += h.len;
			nin -= h.len;
		} else {
			/* never established: not a byte to a balancer (a full worker's ERROR 6 aside) */
			CHECK(cl->nout == 0 || (flags & F_FULL));
			nin = 0;
		}
	}
	if (f->lc.codec == CODEC_RAW) {
		/* echo: the bytes come back in order, maybe not all; log: none */
		CHECK(cl->nout <= nin);
		CHECK(echo || cl->nout == 0);
		CHECK(cl->nout == 0 || memcmp(cl->out, in, cl->nout) == 0);
		return;
	}
	/* what the client asked for, message by message, until its stream broke */
	{
		static struct msg inm[8192];
		size_t nin_m = decode_all(&f->codec, in, nin, inm, 8192, &used);
		for (i = 0; i < nin_m; i++) {
			if (inm[i].type == FRAME_DATA && echo)
				want[nwant++] = inm[i];
			else if (inm[i].type == FRAME_PING)
				want[nwant++] = (struct msg){ FRAME_PONG, inm[i].data, inm[i].len };
			else if (inm[i].type == FRAME_CLOSE) {
				want[nwant++] = (struct msg){ FRAME_CLOSE, NULL, 0 };
				break;
			}
		}
	}
	/* the server's own lengths are bounded by nothing the client chose */
	out_pc.max_frame = UINT64_MAX;
	ngot = decode_all(&out_pc, cl->out, cl->nout, got, 8192, &used);
	/* a tail that is not a whole message: only a cut-off last message */
	if (used < cl->nout) {
		struct proto_msg m;
		CHECK(proto_decode(&out_pc, cl->out + used, cl->nout - used, &m) == PROTO_NEED_MORE);
	}
	for (i = j = 0; i < ngot; i++) {
		if (got[i].type == FRAME_ERROR) {
			uint16_t code;
			CHECK(f->lc.codec == CODEC_FRAME);
			CHECK(i == ngot - 1 && used == cl->nout);
			CHECK(got[i].len >= 2);
			code = (uint16_t)(got[i].data[0] << 8 | got[i].data[1]);
			CHECK(code >= PERR_BAD_MAGIC && code <= PERR_SHUTTING_DOWN);
			continue;
		}
		CHECK(j < nwant);
		CHECK(got[i].type == want[j].type);
		CHECK(got[i].len == want[j].len);
		CHECK(got[i].len == 0 || memcmp(got[i].data, want[j].data, got[i].len) == 0);
		if (got[i].type == FRAME_CLOSE)
			CHECK(i == ngot - 1 && used == cl->nout);
		j++;
	}
}

/* ---- the target ---- */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	handler_register_builtins();
	CHECK(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0);
	/* as the server does: a write to a closed client is EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	/* every log line formatted (debug paths included), none kept */
	CHECK(log_init("/dev/null", LOG_LVL_DEBUG, 0) == 0);
	fenv_init_once();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t outbuf[OUT_MAX];
	struct fenv f;
	struct client cl = { .fd = -1, .out = outbuf };
	const uint8_t *pairs, *stream;
	size_t npairs, nstream, off, i;
	unsigned flags;
	enum codec codec;
	uint64_t max_frame;
	int reading;

	if (size < 4)
		return -1;
	codec = data[0] % 3 == 0 ? CODEC_FRAME : data[0] % 3 == 1 ? CODEC_RAW : CODEC_HEADERS;
	max_frame = data[1] < 0x80 ? data[1] + 1u : MAX_FRAME_TABLE[data[1] & 7];
	flags = data[2];
	npairs = data[3];
	if (npairs > (size - 4) / 2)
		npairs = (size - 4) / 2;
	pairs = data + 4;
	stream = pairs + 2 * npairs;
	nstream = size - 4 - 2 * npairs;
	reading = !(flags & F_SLOW_READER);

	watching = 1;
	fenv_setup(&f, codec, max_frame, flags);
	cl.fd = fenv_connect(&f, flags & F_SMALL_BUFFERS);
	pump(&f, &cl, reading);

	off = 0;
	for (i = 0; i < npairs && off < nstream; i++) {
		size_t n = pairs[2 * i] < nstream - off ? pairs[2 * i] : nstream - off;
		client_send(&f, &cl, stream + off, n, reading);
		off += n;
		advance(&f, &cl, (uint64_t)pairs[2 * i + 1] * STEP_MS, reading);
	}
	if (off < nstream)
		client_send(&f, &cl, stream + off, nstream - off, reading);

	if (flags & F_HALF_CLOSE) {
		/* done sending: the server flushes its replies, then closes */
		shutdown(cl.fd, SHUT_WR);
		advance(&f, &cl, 3000, 1);
	}
	client_drain(&cl);
	close(cl.fd);
	/* past every timeout (30 s and the 2 s linger, with room): nothing is left */
	advance(&f, &cl, 40000, 0);
	CHECK(fenv_count(&f) == 0);
	{
		uint64_t closed = 0;
		for (i = 0; i < CLOSE_NREASONS; i++)
			closed += slot.cur.closed[i];
		CHECK(slot.cur.accepted == 1 && closed == 1);
		CHECK(slot.connections == 0);
	}
	fenv_teardown(&f);
	watching = 0;
	check_output(&f, stream, nstream, &cl, flags);
	return 0;
}
