/*
 * sockserv-client: a test client for sockserv.  It owns one connection:
 * sends numbered messages with one of the codecs, prints each reply with a
 * timestamp, keeps watching the socket between messages, and ends with one
 * line saying who closed the connection and when.  It exists to make the
 * server's timeouts visible (the heartbeat experiment in the man page).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "escape.h"
#include "fdio.h"
#include "listener.h"
#include "proto.h"

#define DEFAULT_TEXT	"This is a test for long conn"
#define DEFAULT_MAGIC	"Headers"
#define SHOW_MAX	200	/* payload bytes printed before "... (N bytes)" */
#define SHOWBUF		(ESCAPE_SIZE(SHOW_MAX) + 32)	/* + "... (N bytes)", N up to 20 digits */
#define RX_CHUNK	65536
#define CLOSE_WAIT_S	1.0	/* how long our CLOSE waits for the server's */
#define EXIT_USAGE	2
#define OPT_HELP	1000	/* --help: a value no short option can collide with */

struct opts {
	const char *host;
	const char *port;	/* as given, for getaddrinfo */
	int portnum;		/* the same, for printing */
	enum codec codec;
	const char *magic;
	long count;
	double interval;
	const char *text;
	double wait;
	bool ping;
	bool quiet;
};

struct client {
	const struct opts *o;
	struct proto_codec pc;
	int fd;
	double t0;		/* monotonic time of connect */
	struct buffer *rx;	/* received, not yet parsed */
	struct buffer *tx;	/* queued for sending */
	long sent;		/* messages queued so far */
	long answered;		/* replies matched to them, in order */
	bool eof;		/* nothing more will come: EOF, reset, CLOSE, write failure */
	bool closing;		/* we started the close */
	double end_at;		/* when the connection ended (monotonic) */
	bool got_error;		/* the server sent an ERROR frame */
	unsigned err_code;
	char errtext[SHOWBUF];
	char why[256];		/* detail for the final line when no ERROR came */
};

static const char *progname = "sockserv-client";

static void
synopsis(FILE *f)
{
	fprintf(f,
	    "usage: %s [-h host] -p port [--raw | --headers [--magic M]] [-n count]\n"
	    "       [-i seconds] [-m text] [-w seconds] [--ping] [-q]\n", progname);
}

static void
usage(FILE *f)
{
	synopsis(f);
	fprintf(f,
	    "  -h, --host HOST      server address or name (default 127.0.0.1)\n"
	    "  -p, --port PORT      server port (required)\n"
	    "      --raw            raw codec: send the bytes as they are\n"
	    "      --headers        headers codec: magic, u32 BE length, payload\n"
	    "      --magic M        magic of the headers codec (default \"%s\")\n"
	    "  -n, --count N        messages to send (default 1)\n"
	    "  -i, --interval S     seconds between messages (default 1)\n"
	    "  -m, --message TEXT   message text; message k is \"<k>TEXT\"\n"
	    "                       (default \"%s\")\n"
	    "  -w, --wait S         seconds to wait for each reply (default 2)\n"
	    "      --ping           send PING frames, expect PONG (frame codec)\n"
	    "  -q, --quiet          print only the final line\n"
	    "  -?, --help           this text\n",
	    DEFAULT_MAGIC, DEFAULT_TEXT);
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	synopsis(stderr);
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn))
die_nomem(void)
{
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(1);
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* poll timeout for a deadline, rounded up so we never wake just before it */
static int
ms_until(double deadline)
{
	double ms = ceil((deadline - mono_now()) * 1000.0);

	if (ms <= 0)
		return 0;
	if (ms > INT_MAX)
		return INT_MAX;
	return (int)ms;
}

static void __attribute__((format(printf, 2, 3)))
say(const struct client *c, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (c->o->quiet)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	printf("[%02d:%02d:%02d.%03ld] ", tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/*
 * Printable form of a payload: replies are arbitrary bytes and the terminal
 * is not ours to reprogram.  out must hold SHOWBUF bytes.
 */
static const char *
show(char *out, const uint8_t *p, size_t len)
{
	size_t o = escape_bytes(out, SHOWBUF, p, len > SHOW_MAX ? SHOW_MAX : len);

	if (len > SHOW_MAX)
		snprintf(out + o, SHOWBUF - o, "... (%zu bytes)", len);
	return out;
}

/* the connection is over from the read side; the first cause wins */
static void
set_eof(struct client *c, const char *why)
{
	if (c->eof)
		return;
	c->eof = true;
	if (!c->closing) {
		c->end_at = mono_now();
		if (why != NULL)
			snprintf(c->why, sizeof(c->why), "%s", why);
	}
}

/* we end it: a protocol error from the server, a stuck write, or all done */
static void
start_close(struct client *c, const char *why)
{
	if (c->closing || c->eof)
		return;
	c->closing = true;
	c->end_at = mono_now();
	if (why != NULL)
		snprintf(c->why, sizeof(c->why), "%s", why);
}

static void
queue(struct client *c, const void *p, size_t len)
{
	/* buffer_append() of nothing would still allocate a buffer */
	if (len == 0)
		return;
	if (buffer_append(&c->tx, p, len) == -1)
		die_nomem();
}

static void
queue_msg(struct client *c, uint8_t type, const void *payload, size_t len)
{
	uint8_t hdr[PROTO_MAGIC_MAX + FRAME_HDR_LEN];

	queue(c, hdr, proto_header(&c->pc, type, len, hdr));
	if (len > 0)
		queue(c, payload, len);
}

static long
msg_len(const struct client *c, long k)
{
	return (long)snprintf(NULL, 0, "%ld", k) + (long)strlen(c->o->text);
}

static void
got_reply(struct client *c, const uint8_t *p, size_t len)
{
	char buf[SHOWBUF];

	if (c->answered < c->sent) {
		c->answered++;
		say(c, "reply %ld: %s", c->answered, show(buf, p, len));
	} else {
		say(c, "unexpected message: %s", show(buf, p, len));
	}
}

static void
got_error_frame(struct client *c, const uint8_t *p, size_t len)
{
	if (len >= 2) {
		c->err_code = (unsigned)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	} else {
		c->err_code = 0;
	}
	c->got_error = true;
	show(c->errtext, p, len);
	say(c, "ERROR %u: %s", c->err_code, c->errtext);
}

static void
got_frame(struct client *c, const struct proto_msg *m)
{
	char buf[SHOWBUF];

	switch (m->type) {
	case FRAME_DATA:
	case FRAME_PONG:
		got_reply(c, m->data, m->len);
		break;
	case FRAME_PING:
		/* a server may probe us; answering keeps its heartbeat happy */
		say(c, "PING from server: %s", show(buf, m->data, m->len));
		queue_msg(c, FRAME_PONG, m->data, m->len);
		break;
	case FRAME_ERROR:
		got_error_frame(c, m->data, m->len);
		break;
	case FRAME_CLOSE:
		set_eof(c, "CLOSE frame");
		break;
	}
}

/* raw has no boundaries: a reply is as many bytes as the message had */
static size_t
parse_raw(struct client *c, const uint8_t *rx, size_t rxlen)
{
	size_t pos = 0;
	char buf[SHOWBUF];

	while (c->answered < c->sent) {
		size_t want = (size_t)msg_len(c, c->answered + 1);

		if (rxlen - pos < want)
			return pos;
		got_reply(c, rx + pos, want);
		pos += want;
	}
	if (pos < rxlen) {
		say(c, "unexpected data: %s", show(buf, rx + pos, rxlen - pos));
		pos = rxlen;
	}
	return pos;
}

static size_t
parse_framed(struct client *c, const uint8_t *rx, size_t rxlen)
{
	struct proto_msg m;
	size_t pos = 0;

	while (!c->eof && pos < rxlen) {
		switch (proto_decode(&c->pc, rx + pos, rxlen - pos, &m)) {
		case PROTO_NEED_MORE:
			return pos;
		case PROTO_ERROR: {
			char why[128];

			snprintf(why, sizeof(why), "protocol error from server: %s", m.errtext);
			say(c, "%s", why);
			start_close(c, why);
			c->eof = true;
			return rxlen;
		}
		case PROTO_MSG:
			pos += m.consumed;
			if (c->pc.codec == CODEC_FRAME)
				got_frame(c, &m);
			else
				got_reply(c, m.data, m.len);
			break;
		}
	}
	return pos;
}

/* c->rx stays put while it is parsed: replies only ever queue to c->tx */
static void
parse(struct client *c)
{
	size_t len = buffer_len(c->rx), pos;

	if (len == 0)
		return;
	if (c->pc.codec == CODEC_RAW)
		pos = parse_raw(c, buffer_head(c->rx), len);
	else
		pos = parse_framed(c, buffer_head(c->rx), len);
	buffer_consume(&c->rx, pos);
}

/* report what a closed connection left unfinished in the buffer */
static void
leftover(struct client *c)
{
	size_t len = buffer_len(c->rx);
	char buf[SHOWBUF];

	if (len == 0 || c->closing)
		return;
	if (c->pc.codec == CODEC_RAW && c->answered < c->sent)
		say(c, "partial reply %ld (%zu of %ld bytes): %s", c->answered + 1,
		    len, msg_len(c, c->answered + 1), show(buf, buffer_head(c->rx), len));
	else
		say(c, "incomplete message at close (%zu bytes)", len);
	buffer_free(&c->rx);
}

/* one read; false when the connection ended */
static bool
do_read(struct client *c)
{
	ssize_t n;

	if (buffer_reserve(&c->rx, RX_CHUNK) == NULL)
		die_nomem();
	do {
		n = recv(c->fd, buffer_tail(c->rx), buffer_space(c->rx), MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n > 0) {
		buffer_commit(c->rx, (size_t)n);
		parse(c);
		return !c->eof;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return true;
	set_eof(c, n == 0 ? NULL : strerror(errno));
	leftover(c);
	return false;
}

/*
 * A failed write usually means the server closed; what it sent before (an
 * ERROR frame, the last replies) may still be readable, so drain that first
 * and let the read side name the cause.
 */
static void
write_failed(struct client *c, int err)
{
	buffer_free(&c->tx);
	while (!c->eof) {
		struct pollfd pfd = { c->fd, POLLIN, 0 };

		if (poll(&pfd, 1, 0) <= 0 || !do_read(c))
			break;
	}
	set_eof(c, strerror(err));
}

/* called only with bytes queued: buffer_head() needs a buffer */
static void
do_write(struct client *c)
{
	size_t done;
	enum fdio_status st = fdio_write(c->fd, buffer_head(c->tx), buffer_len(c->tx), &done);
	int err = errno;	/* before buffer_consume(), whose free() may change it */

	buffer_consume(&c->tx, done);
	if (st == FDIO_ERROR)
		write_failed(c, err);
}

/*
 * Run the connection (read, parse, write) until done(c) holds, the
 * connection ends, or the deadline passes.  Returns true if done(c).
 */
static bool
pump(struct client *c, double deadline, bool (*done)(const struct client *, long),
    long arg)
{
	for (;;) {
		struct pollfd pfd;
		int n;

		if (buffer_len(c->tx) > 0 && !c->eof)
			do_write(c);
		if (done != NULL && done(c, arg))
			return true;
		if (c->eof)
			return false;
		pfd.fd = c->fd;
		pfd.events = POLLIN | (buffer_len(c->tx) > 0 ? POLLOUT : 0);
		pfd.revents = 0;
		n = poll(&pfd, 1, ms_until(deadline));
		if (n == -1 && errno != EINTR) {
			fprintf(stderr, "%s: poll: %s\n", progname, strerror(errno));
			exit(1);
		}
		if (n == 0 && mono_now() >= deadline)
			return done != NULL && done(c, arg);
		/* POLLHUP and POLLERR are reported by the read that follows */
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			do_read(c);
	}
}

static bool
is_flushed(const struct client *c, long arg)
{
	(void)arg;
	return buffer_len(c->tx) == 0;
}

static bool
is_answered(const struct client *c, long k)
{
	return c->answered >= k;
}

static bool
is_eof(const struct client *c, long arg)
{
	(void)arg;
	return c->eof;
}

static void
run(struct client *c)
{
	const struct opts *o = c->o;
	size_t tlen = strlen(o->text);
	char *payload = malloc(tlen + 32);

	if (payload == NULL)
		die_nomem();
	for (long k = 1; k <= o->count && !c->eof && !c->closing; k++) {
		int plen = snprintf(payload, tlen + 32, "%ld%s", k, o->text);
		double sent_at = mono_now();

		queue_msg(c, o->ping ? FRAME_PING : FRAME_DATA, payload, (size_t)plen);
		c->sent = k;
		if (!pump(c, sent_at + o->wait, is_flushed, 0)) {
			if (!c->eof) {
				say(c, "could not send message %ld within %g s", k, o->wait);
				start_close(c, "send timed out");
			}
			break;
		}
		if (!pump(c, mono_now() + o->wait, is_answered, k)) {
			if (c->eof)
				break;
			if (o->codec == CODEC_RAW && buffer_len(c->rx) > 0)
				say(c, "no reply %ld within %g s (%zu of %ld bytes)", k,
				    o->wait, buffer_len(c->rx), msg_len(c, c->answered + 1));
			else
				say(c, "no reply %ld within %g s", k, o->wait);
		}
		/* the gap is between sends; the socket is watched all through it */
		pump(c, sent_at + o->interval, NULL, 0);
	}
	free(payload);
	if (c->eof || c->closing)
		return;
	start_close(c, NULL);
	if (o->codec == CODEC_FRAME) {
		/* a polite end: CLOSE, then the server's CLOSE or EOF */
		queue_msg(c, FRAME_CLOSE, NULL, 0);
		pump(c, mono_now() + CLOSE_WAIT_S, is_eof, 0);
	}
}

static void
print_end(const struct client *c)
{
	printf("closed by %s after %.2f s", c->closing ? "client" : "server",
	    c->end_at - c->t0);
	if (c->got_error)
		printf(" (ERROR %u: %s)", c->err_code, c->errtext);
	else if (c->why[0] != '\0')
		printf(" (%s)", c->why);
	putchar('\n');
}

/* non-blocking connect bounded by timeout; -1 with errno set */
static int
connect_one(const struct addrinfo *ai, double timeout)
{
	struct pollfd pfd;
	socklen_t elen = sizeof(int);
	int fd, err = 0, n;
	double deadline = mono_now() + timeout;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do {
		n = poll(&pfd, 1, ms_until(deadline));
	} while (n == -1 && errno == EINTR);
	if (n == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (n == -1)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
		goto fail;
	if (err != 0) {
		errno = err;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int
open_conn(const struct opts *o)
{
	struct addrinfo hints, *res, *ai;
	char where[512];
	int fd = -1, rc, err = 0;

	listener_hostport_str(o->host, o->portnum, where, sizeof(where));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(o->host, o->port, &hints, &res)) != 0) {
		printf("connect to %s: %s\n", where,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if ((fd = connect_one(ai, o->wait)) == -1)
			err = errno;
	}
	freeaddrinfo(res);
	if (fd == -1)
		printf("connect to %s: %s\n", where, strerror(err));
	return fd;
}

static double
parse_seconds(const char *s, const char *opt, bool zero_ok)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < 0 ||
	    (!zero_ok && v == 0) || v > 1e6)
		usage_error("%s: bad number of seconds: %s", opt, s);
	return v;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "raw", no_argument, NULL, 'R' },
		{ "headers", no_argument, NULL, 'H' },
		{ "magic", required_argument, NULL, 'M' },
		{ "count", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "message", required_argument, NULL, 'm' },
		{ "wait", required_argument, NULL, 'w' },
		{ "ping", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool raw = false, headers = false;
	char *end;
	long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "h:p:n:i:m:w:q?", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			o->host = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || errno != 0 || v < 1 || v > 65535)
				usage_error("bad port: %s", optarg);
			o->port = optarg;
			o->portnum = (int)v;
			break;
		case 'R':
			raw = true;
			break;
		case 'H':
			headers = true;
			break;
		case 'M':
			o->magic = optarg;
			break;
		case 'n':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || errno != 0 || v < 1)
				usage_error("bad count: %s", optarg);
			o->count = v;
			break;
		case 'i':
			o->interval = parse_seconds(optarg, "-i", true);
			break;
		case 'm':
			o->text = optarg;
			break;
		case 'w':
			o->wait = parse_seconds(optarg, "-w", false);
			break;
		case 'P':
			o->ping = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case '?':
			/* getopt says '?' both for -? and for a bad option it already reported */
			if (strcmp(argv[optind - 1], "-?") == 0) {
				usage(stdout);
				exit(0);
			}
			synopsis(stderr);
			exit(EXIT_USAGE);
		default:
			synopsis(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument: %s", argv[optind]);
	if (o->port == NULL)
		usage_error("-p port is required");
	if (raw && headers)
		usage_error("--raw and --headers exclude each other");
	if (o->magic != NULL && !headers)
		usage_error("--magic needs --headers");
	if (o->ping && (raw || headers))
		usage_error("--ping needs the frame codec");
	o->codec = raw ? CODEC_RAW : headers ? CODEC_HEADERS : CODEC_FRAME;
	if (o->magic == NULL)
		o->magic = DEFAULT_MAGIC;
	if (strlen(o->magic) < 1 || strlen(o->magic) > PROTO_MAGIC_MAX)
		usage_error("--magic must be 1 to %d bytes", PROTO_MAGIC_MAX);
	if (strlen(o->text) > UINT32_MAX - 32)
		usage_error("-m text too long");
}

int
main(int argc, char **argv)
{
	struct opts o = {
		.host = "127.0.0.1", .port = NULL, .portnum = 0, .codec = CODEC_FRAME,
		.magic = NULL, .count = 1, .interval = 1.0, .text = DEFAULT_TEXT,
		.wait = 2.0, .ping = false, .quiet = false,
	};
	struct client c;

	if (argv[0] != NULL && strrchr(argv[0], '/') != NULL)
		progname = strrchr(argv[0], '/') + 1;
	else if (argv[0] != NULL)
		progname = argv[0];
	parse_args(argc, argv, &o);
	/* lines must appear when they happen, also through a pipe */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	memset(&c, 0, sizeof(c));
	c.o = &o;
	c.pc.codec = o.codec;
	/* the server enforces its own limit; the client takes what comes */
	c.pc.max_frame = UINT32_MAX;
	c.pc.magic = (const unsigned char *)o.magic;
	c.pc.magic_len = strlen(o.magic);
	if ((c.fd = open_conn(&o)) == -1)
		return 1;
	c.t0 = mono_now();
	run(&c);
	close(c.fd);
	print_end(&c);
	buffer_free(&c.rx);
	buffer_free(&c.tx);
	return c.answered == o.count ? 0 : 1;
}
