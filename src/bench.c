/*
 * sockserv-bench: the load generator and measuring client of `make bench`.
 *
 *	sockserv-bench MODE [-h host] -p port [--raw] [-c conns] [-d depth]
 *	    [-s bytes] [-t seconds] [-i heartbeat_seconds] [-S source_addrs]
 *	    [-P processes] [--json] [--server PID] [--timeout seconds]
 *	    [--rate conns_per_second]
 *
 * echo   conns connections keep depth frames of `bytes` in flight each;
 *        every echoed byte is checked; msgs/s, MB/s, latency percentiles.
 * idle   conns connections each send a PING (or a raw byte) at connect and
 *        then every heartbeat_seconds; how many stay open, how many the
 *        server closed, the connect rate while ramping up.  -i 0 makes them
 *        silent after the first PING; with --timeout (the server's
 *        heartbeat_timeout) the report has the histogram of close time -
 *        due time, "due" being the client's last byte sent plus the timeout.
 * churn  connect, one frame, read the echo, close, as fast as conns
 *        parallel slots allow; new connections/s and failed connects.
 *
 * The program owns the whole measurement: the parent forks P client
 * processes (one process may hold at most ~19 000 descriptors here), each
 * with its own epoll loop and share of the connections, and only
 * coordinates them.  Phases go parent -> child as single bytes on a pipe
 * ('g' go, 's' stop, 'r' release); results come back as records on a
 * second pipe; live counters for the progress line sit in a shared
 * anonymous mapping.  With --server the parent samples the server's
 * process tree in /proc at the phase boundaries, so CPU per message and
 * memory per connection cover exactly the measured interval.
 *
 * Every run stops by itself: each phase has a limit in the parent and a
 * later fallback limit in every child, and a child whose parent is gone
 * (EOF on its control pipe) exits at once.
 *
 * Exit status 0 when the run did what was asked (bs_run_ok() judges the
 * summed counters), 1 when it did not or a client process stopped
 * reporting, 2 on a usage error: scripts need not parse the report.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchstat.h"
#include "buffer.h"
#include "proto.h"

#define MAX_INFLIGHT	256	/* per process: connects (and unanswered first PINGs) at once */
#define RAMP_LIMIT_S	60.0	/* idle/echo: most time to open every connection */
#define DRAIN_LIMIT_S	5.0	/* after stop: most time to collect echoes in flight */
#define RECORD_LIMIT_S	30.0	/* parent: most time to wait for a child's record */
#define CHILD_SLACK_S	30.0	/* child: fallback beyond the parent's own limits */
#define RBUF_SIZE	(64 * 1024)
#define FD_RESERVE	32	/* descriptors a client process needs besides its sockets */
#define EV_BATCH	1024
#define CTL_TAG		UINT64_MAX
#define EXIT_USAGE	2

/* lateness histogram bin edges, ms (heartbeat timing figure) */
static const double late_edges[] = { 0, 10, 25, 50, 75, 100, 105, 110, 125, 150, 200, 500, 1000 };
#define NLATE_EDGES (sizeof(late_edges) / sizeof(late_edges[0]))

struct opts {
	enum bs_mode mode;
	const char *host;
	struct in_addr addr;
	uint16_t port;
	bool raw;
	long conns;
	long depth;
	long size;
	double seconds;
	double interval;	/* idle heartbeat period; 0 = silent after the first */
	long sources;		/* 0: let the kernel pick the source address */
	long procs;
	bool json;
	int server_pid;		/* 0: no server sampling */
	double timeout;		/* idle: the server's heartbeat_timeout, 0 = unknown */
	double rate;		/* echo/idle: most new connections per second, 0 = no limit */
};

static struct opts O = {
	.host = "127.0.0.1",
	.conns = -1,
	.depth = 1,
	.size = 64,
	.seconds = 10,
	.interval = 30,
	.procs = 1,
};

/* live counters of one child, for the progress line (written by the child only) */
struct progress {
	uint64_t open;
	uint64_t msgs;		/* echo: echoes verified; idle: PONGs; churn: completed */
	uint64_t failed;	/* connects that failed */
	uint64_t closed;	/* connections the server closed */
	uint64_t errors;	/* wrong bytes or unexpected frames */
} __attribute__((aligned(64)));

enum rec_type { REC_READY = 1, REC_DONE = 2 };

struct rec_hdr {
	uint32_t type;
	uint32_t len;		/* payload bytes that follow */
};

/* what one child reports; DONE carries it followed by nlate doubles */
struct result {
	uint64_t connected;	/* connections established */
	uint64_t connect_failed;
	uint64_t msgs;		/* echo: echoes; idle: PONGs; churn: completed connections */
	uint64_t bytes;		/* echo: payload bytes received */
	uint64_t verify_errors;
	uint64_t server_closed;	/* the server ended a connection (idle: wrongly, unless silent) */
	uint64_t open_at_end;
	uint64_t heartbeats;	/* idle: PINGs sent */
	uint64_t error_frames;	/* ERROR frames received */
	double elapsed_s;	/* go .. last counted message */
	double max_lat_end;	/* churn: CLOCK_REALTIME when the slowest connection ended */
	uint64_t nlate;
	struct bs_hist lat;	/* ns: echo round trip, churn connect-to-echo */
};

/* ---- small helpers ---- */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
mono_s(void)
{
	return (double)mono_ns() / 1e9;
}

static double
real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sockserv-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static int
write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read exactly n bytes before the monotonic deadline; -1 on EOF, error or time */
static int
read_full(int fd, void *p, size_t n, double deadline)
{
	uint8_t *b = p;

	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - mono_s();
		ssize_t r;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		r = read(fd, b, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* a load generator that cannot buffer has nothing left to measure */
static void
append(struct buffer **bp, const void *p, size_t n)
{
	if (buffer_append(bp, p, n) == -1)
		die("out of memory");
}

/*
 * The payload of message seq on connection id: cheap to make and to check,
 * different for every message, so a byte from the wrong place is caught.
 */
static void
pattern(uint8_t *p, size_t n, uint32_t id, uint64_t seq)
{
	uint64_t x = ((uint64_t)id << 40) ^ seq ^ 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(p + i, &z, n - i < 8 ? n - i : 8);
	}
}

/* a complete frame at p[0..n): its total length; 0 when incomplete; -1 when malformed */
static ssize_t
frame_at(const uint8_t *p, size_t n, uint8_t *type, uint32_t *len)
{
	if (n >= 1 && p[0] != FRAME_MAGIC0)
		return -1;
	if (n >= 2 && p[1] != FRAME_MAGIC1)
		return -1;
	if (n >= 3 && p[2] != FRAME_VERSION)
		return -1;
	if (n < FRAME_HDR_LEN)
		return 0;
	*type = p[3];
	*len = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	if (n - FRAME_HDR_LEN < *len)
		return 0;
	return (ssize_t)(FRAME_HDR_LEN + *len);
}

/* ---- the server's process tree in /proc ---- */

struct srv_sample {
	bool ok;
	int nprocs;
	uint64_t ticks;		/* utime + stime of the tree, + the root's reaped children */
	uint64_t rss_kb;	/* RssAnon of the tree */
	double at;		/* monotonic seconds */
};

static int
read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Sum over root and its descendants.  The root's cutime/cstime add the CPU
 * of workers that died and were reaped between two samples, so a restart
 * in the window loses nothing.
 */
static void
sample_server(int root, struct srv_sample *s)
{
	enum { MAXP = 8192 };
	static struct bs_procstat ps[MAXP];
	static bool in[MAXP];
	char path[300], buf[4096];
	struct dirent *de;
	size_t n = 0;
	bool grew;
	DIR *d;

	memset(s, 0, sizeof(*s));
	s->at = mono_s();
	if (root <= 0 || (d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < MAXP) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_text(path, buf, sizeof(buf)) == -1 || bs_parse_proc_stat(buf, &ps[n]) == -1)
			continue;
		in[n] = ps[n].pid == root;
		n++;
	}
	closedir(d);
	do {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++) {
				if (in[j] && ps[j].pid == ps[i].ppid) {
					in[i] = grew = true;
					break;
				}
			}
		}
	} while (grew);
	for (size_t i = 0; i < n; i++) {
		uint64_t kb;

		if (!in[i])
			continue;
		s->ok = true;
		s->nprocs++;
		s->ticks += ps[i].utime + ps[i].stime;
		if (ps[i].pid == root)
			s->ticks += ps[i].cutime + ps[i].cstime;
		snprintf(path, sizeof(path), "/proc/%d/status", ps[i].pid);
		if (read_text(path, buf, sizeof(buf)) == 0 && bs_parse_rss_anon(buf, &kb) == 0)
			s->rss_kb += kb;
	}
}

/* ---- the client process ---- */

enum cstate { CS_NONE, CS_CONNECTING, CS_OPEN, CS_DONE };

struct cconn {
	int fd;
	uint8_t st;		/* enum cstate */
	bool ready;		/* echo/raw idle: connected; frame idle: first PONG seen */
	bool closing_seen;	/* idle: ERROR frame or EOF seen, close time recorded */
	uint32_t events;	/* epoll interest now */
	uint32_t id;		/* global connection (churn: slot) number */
	uint64_t sent, recv;	/* messages sent, echoes verified */
	uint64_t t0;		/* churn: connect start; idle: last byte sent */
	uint64_t next_hb;	/* idle: next heartbeat due */
	struct buffer *rx, *tx;	/* NULL while empty */
};

enum phase { PH_RAMP, PH_WAIT_GO, PH_RUN, PH_DRAIN, PH_WAIT_RELEASE };

struct child {
	uint32_t first_id;
	uint32_t n;
	int ctl, res, ep;
	struct progress *prog;
	struct cconn *c;
	enum phase phase;
	uint64_t now;		/* ns, refreshed after each wait */
	uint64_t event_at;	/* when the event being handled happened: now, or the
				 * kernel's receive timestamp of the bytes just read */
	uint64_t real_off;	/* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	uint64_t t_start, t_go, t_stop, t_last;
	uint64_t limit;		/* fallback deadline of the current phase */
	uint32_t next_connect;	/* echo/idle: next connection to open */
	uint32_t inflight;	/* connecting, or waiting for the first PONG */
	uint32_t open;
	uint32_t settled;	/* echo/idle: ready or failed for good */
	uint8_t *rbuf;
	uint8_t *pat;		/* scratch of O.size bytes */
	struct buffer *stage;	/* output gathered while handling one read; kept allocated */
	uint64_t *sent_ns;	/* echo: send time of each message in flight, n * depth */
	uint32_t *hbq;		/* idle: heartbeat FIFO of connection indexes */
	size_t hbq_head, hbq_len;
	double *late;		/* idle silent: close - due, ms */
	size_t nlate;
	bool restart_pending;	/* churn: a slot could not start and waits a round */
	struct result r;
};

static void
child_send_record(struct child *ch, uint32_t type, const void *p, size_t len,
    const void *extra, size_t extralen)
{
	struct rec_hdr h = { type, (uint32_t)(len + extralen) };

	if (write_full(ch->res, &h, sizeof(h)) == -1 || write_full(ch->res, p, len) == -1 ||
	    (extralen > 0 && write_full(ch->res, extra, extralen) == -1))
		_exit(1);	/* the parent is gone: nobody to report to */
}

static void
set_events(struct child *ch, struct cconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.u64 = (uint64_t)(c - ch->c) };

	if (ev == c->events)
		return;
	if (epoll_ctl(ch->ep, EPOLL_CTL_MOD, c->fd, &e) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

static void
cconn_close(struct child *ch, struct cconn *c)
{
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->st == CS_OPEN)
		ch->open--;
	c->st = CS_DONE;
	c->events = 0;
	buffer_free(&c->rx);
	buffer_free(&c->tx);
}

/* write now, queue what the kernel refuses; -1 when the connection is broken */
static int
cconn_write(struct child *ch, struct cconn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (buffer_len(c->tx) > 0) {
		append(&c->tx, p, n);
		return 0;
	}
	while (off < n) {
		ssize_t w = write(c->fd, p + off, n - off);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN) {
			append(&c->tx, p + off, n - off);
			set_events(ch, c, EPOLLIN | EPOLLOUT);
			return 0;
		}
		return -1;
	}
	return 0;
}

static int
cconn_flush(struct child *ch, struct cconn *c)
{
	while (buffer_len(c->tx) > 0) {
		ssize_t w = write(c->fd, buffer_head(c->tx), buffer_len(c->tx));

		if (w > 0) {
			buffer_consume(&c->tx, (size_t)w);
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		return w == -1 && errno == EAGAIN ? 0 : -1;
	}
	set_events(ch, c, EPOLLIN);
	return 0;
}

/* queue message number c->sent of c into the staging buffer */
static void
stage_message(struct child *ch, struct cconn *c, uint8_t type)
{
	size_t len = (size_t)O.size;

	if (!O.raw) {
		uint8_t hdr[FRAME_HDR_LEN];

		proto_frame_header(hdr, type, (uint32_t)len);
		append(&ch->stage, hdr, sizeof(hdr));
	}
	pattern(ch->pat, len, c->id, c->sent);
	append(&ch->stage, ch->pat, len);
	c->sent++;
}

/* empty the staging buffer but keep its memory: it is refilled on every read */
static void
clear_stage(struct child *ch)
{
	if (ch->stage != NULL)
		ch->stage->off = ch->stage->len = 0;
}

static int
flush_stage(struct child *ch, struct cconn *c)
{
	int rc = 0;

	if (buffer_len(ch->stage) > 0)
		rc = cconn_write(ch, c, buffer_head(ch->stage), buffer_len(ch->stage));
	clear_stage(ch);
	return rc;
}

static void churn_next(struct child *ch, struct cconn *c);

/*
 * idle, silent, timeout known: the lateness of the server's closes is
 * measured.  The close time is the kernel's receive timestamp of the ERROR
 * frame (loopback delivers it while the server's write runs), so the time
 * this process takes to get round to a burst of closes is not counted.
 */
static bool
stamp_closes(void)
{
	return O.mode == BS_IDLE && O.interval == 0 && O.timeout > 0 && !O.raw;
}

/* the server ended c (EOF, reset or an ERROR frame followed by EOF) */
static void
server_closed(struct child *ch, struct cconn *c)
{
	if (!c->closing_seen) {
		c->closing_seen = true;
		if (stamp_closes() && c->ready) {
			double due_ns = (double)c->t0 + O.timeout * 1e9;

			ch->late[ch->nlate++] = ((double)ch->event_at - due_ns) / 1e6;
		}
	}
	if (!c->ready && c->st == CS_OPEN) {
		/* closed before it was ever usable: a failed connect, not a drop */
		ch->r.connect_failed++;
		if (ch->inflight > 0)
			ch->inflight--;
		ch->settled++;
	} else if (ch->phase != PH_WAIT_RELEASE) {
		ch->r.server_closed++;
	}
	cconn_close(ch, c);
	if (O.mode == BS_CHURN)
		churn_next(ch, c);
}

static void
connect_failed(struct child *ch, struct cconn *c)
{
	ch->r.connect_failed++;
	if (O.mode != BS_CHURN) {
		if (ch->inflight > 0)
			ch->inflight--;
		ch->settled++;
	}
	cconn_close(ch, c);
}

/* start a connect; -1 (connection left CS_DONE) when it failed at once */
static int
cconn_start(struct child *ch, struct cconn *c)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(O.port),
	    .sin_addr = O.addr };
	struct epoll_event e;
	int fd, on = 1;

	c->rx = c->tx = NULL;
	c->ready = c->closing_seen = false;
	c->t0 = ch->now;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		c->fd = -1;
		c->st = CS_DONE;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (stamp_closes())
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
	if (O.sources > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		/* the port is chosen at connect, per destination: more than 28k per address */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
		src.sin_addr.s_addr = htonl(0x7f000001u + c->id % (uint32_t)O.sources);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			close(fd);
			c->fd = -1;
			c->st = CS_DONE;
			return -1;
		}
	}
	c->fd = fd;
	c->st = CS_CONNECTING;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 && errno != EINPROGRESS) {
		close(fd);
		c->fd = -1;
		c->st = CS_DONE;
		return -1;
	}
	e.events = c->events = EPOLLOUT;
	e.data.u64 = (uint64_t)(c - ch->c);
	if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &e) == -1)
		die("epoll_ctl: %s", strerror(errno));
	return 0;
}

static void
hb_push(struct child *ch, uint32_t i)
{
	ch->hbq[(ch->hbq_head + ch->hbq_len) % ch->n] = i;
	ch->hbq_len++;
}

/* idle: one heartbeat (PING, or one raw byte) */
static void
send_heartbeat(struct child *ch, struct cconn *c)
{
	static const uint8_t ping[FRAME_HDR_LEN] = { FRAME_MAGIC0, FRAME_MAGIC1, FRAME_VERSION,
	    FRAME_PING, 0, 0, 0, 0 };
	static const uint8_t beat = 'h';

	if ((O.raw ? cconn_write(ch, c, &beat, 1) : cconn_write(ch, c, ping, sizeof(ping))) == -1) {
		server_closed(ch, c);
		return;
	}
	c->t0 = ch->now;
	ch->r.heartbeats++;
	if (O.interval > 0) {
		c->next_hb = ch->now + (uint64_t)(O.interval * 1e9);
		hb_push(ch, (uint32_t)(c - ch->c));
	}
}

static void
on_connected(struct child *ch, struct cconn *c)
{
	c->st = CS_OPEN;
	ch->open++;
	ch->r.connected++;
	set_events(ch, c, EPOLLIN);
	switch (O.mode) {
	case BS_ECHO:
		c->ready = true;
		ch->inflight--;
		ch->settled++;
		break;
	case BS_IDLE:
		if (O.raw) {
			c->ready = true;
			ch->inflight--;
			ch->settled++;
		}
		send_heartbeat(ch, c);
		break;
	case BS_CHURN:
		c->ready = true;
		stage_message(ch, c, FRAME_DATA);
		if (flush_stage(ch, c) == -1)
			server_closed(ch, c);
		break;
	}
}

static void
echo_got(struct child *ch, struct cconn *c, const uint8_t *payload)
{
	uint64_t *slot = &ch->sent_ns[(size_t)(c - ch->c) * (size_t)O.depth +
	    c->recv % (uint64_t)O.depth];

	pattern(ch->pat, (size_t)O.size, c->id, c->recv);
	if (memcmp(payload, ch->pat, (size_t)O.size) != 0) {
		ch->r.verify_errors++;
		return;
	}
	bs_hist_add(&ch->r.lat, ch->now - *slot);
	c->recv++;
	ch->r.msgs++;
	ch->r.bytes += (uint64_t)O.size;
	ch->t_last = ch->now;
	if (ch->phase == PH_RUN) {
		*slot = ch->now;
		stage_message(ch, c, FRAME_DATA);
	}
}

/* echo: verify what arrived; bytes used, -1 when the stream is wrong */
static ssize_t
echo_process(struct child *ch, struct cconn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;
	uint64_t errs = ch->r.verify_errors;

	if (O.raw) {
		while (n - off >= (size_t)O.size && c->recv < c->sent) {
			echo_got(ch, c, p + off);
			off += (size_t)O.size;
		}
		if (n - off > 0 && c->recv >= c->sent)
			ch->r.verify_errors++;	/* more bytes than were sent */
	} else {
		for (;;) {
			uint8_t type = 0;
			uint32_t len = 0;
			ssize_t fl = frame_at(p + off, n - off, &type, &len);

			if (fl == 0)
				break;
			if (fl < 0 || type != FRAME_DATA || len != (uint32_t)O.size ||
			    c->recv >= c->sent) {
				if (fl > 0 && type == FRAME_ERROR)
					ch->r.error_frames++;
				ch->r.verify_errors++;
				break;
			}
			echo_got(ch, c, p + off + FRAME_HDR_LEN);
			off += (size_t)fl;
		}
	}
	return ch->r.verify_errors != errs ? -1 : (ssize_t)off;
}

/* idle: PONGs and, when the server times a connection out, its ERROR frame */
static ssize_t
idle_process(struct child *ch, struct cconn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (O.raw)
		return (ssize_t)n;
	for (;;) {
		uint8_t type = 0;
		uint32_t len = 0;
		ssize_t fl = frame_at(p + off, n - off, &type, &len);

		if (fl == 0)
			break;
		if (fl < 0) {
			ch->r.verify_errors++;
			return -1;
		}
		switch (type) {
		case FRAME_PONG:
			ch->r.msgs++;
			if (!c->ready) {
				/* how long the server took to answer while the ramp loads it */
				bs_hist_add(&ch->r.lat, ch->now - c->t0);
				c->ready = true;
				ch->inflight--;
				ch->settled++;
			}
			break;
		case FRAME_ERROR:
			/* the server is closing it: this is the close time */
			ch->r.error_frames++;
			off += (size_t)fl;
			return -1;
		default:
			ch->r.verify_errors++;
			break;
		}
		off += (size_t)fl;
	}
	return (ssize_t)off;
}

/* churn: the one echo; 1 when it is complete and right, 0 incomplete, -1 wrong */
static int
churn_process(struct child *ch, struct cconn *c, const uint8_t *p, size_t n)
{
	const uint8_t *payload = p;

	if (!O.raw) {
		uint8_t type = 0;
		uint32_t len = 0;
		ssize_t fl = frame_at(p, n, &type, &len);

		if (fl == 0)
			return 0;
		if (fl < 0 || type != FRAME_DATA || len != (uint32_t)O.size ||
		    (size_t)fl != n) {
			if (fl > 0 && type == FRAME_ERROR)
				ch->r.error_frames++;
			else
				ch->r.verify_errors++;
			return -1;
		}
		payload = p + FRAME_HDR_LEN;
	} else if (n < (size_t)O.size) {
		return 0;
	} else if (n > (size_t)O.size) {
		ch->r.verify_errors++;
		return -1;
	}
	pattern(ch->pat, (size_t)O.size, c->id, c->sent - 1);
	if (memcmp(payload, ch->pat, (size_t)O.size) != 0) {
		ch->r.verify_errors++;
		return -1;
	}
	return 1;
}

static void
churn_next(struct child *ch, struct cconn *c)
{
	if (ch->phase != PH_RUN)
		return;
	if (cconn_start(ch, c) == -1) {
		ch->r.connect_failed++;
		/* out of ports or descriptors: try again next round rather than spin */
		ch->restart_pending = true;
	}
}

static void
churn_done(struct child *ch, struct cconn *c)
{
	uint64_t lat = ch->now - c->t0;

	if (lat > ch->r.lat.max || ch->r.lat.count == 0)
		ch->r.max_lat_end = real_s();
	bs_hist_add(&ch->r.lat, lat);
	ch->r.msgs++;
	ch->t_last = ch->now;
	cconn_close(ch, c);
	churn_next(ch, c);
}

/* read, and when the socket asked for it, take the kernel's receive timestamp */
static ssize_t
read_stamped(struct child *ch, struct cconn *c)
{
	char cbuf[CMSG_SPACE(sizeof(struct timespec))];
	struct iovec iov = { .iov_base = ch->rbuf, .iov_len = RBUF_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	if (!stamp_closes())
		return read(c->fd, ch->rbuf, RBUF_SIZE);
	if ((n = recvmsg(c->fd, &mh, 0)) <= 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			uint64_t real, at;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
			at = real - ch->real_off;
			/* a stamp from the future or far past is a clock step: ignore it */
			if (at <= ch->now && ch->now - at < 60000000000ULL)
				ch->event_at = at;
		}
	}
	return n;
}

static void
on_readable(struct child *ch, struct cconn *c)
{
	ssize_t n, used;
	const uint8_t *p;
	size_t len;

	do
		n = read_stamped(ch, c);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (O.mode == BS_CHURN) {
			ch->r.server_closed++;
			cconn_close(ch, c);
			churn_next(ch, c);
		} else {
			server_closed(ch, c);
		}
		return;
	}
	if (buffer_len(c->rx) > 0) {
		append(&c->rx, ch->rbuf, (size_t)n);
		p = buffer_head(c->rx);
		len = buffer_len(c->rx);
	} else {
		p = ch->rbuf;
		len = (size_t)n;
	}
	switch (O.mode) {
	case BS_ECHO:
		used = echo_process(ch, c, p, len);
		if (used >= 0 && flush_stage(ch, c) == -1)
			used = -1;
		clear_stage(ch);
		if (used < 0) {
			server_closed(ch, c);
			return;
		}
		break;
	case BS_IDLE:
		used = idle_process(ch, c, p, len);
		if (used < 0) {
			server_closed(ch, c);
			return;
		}
		break;
	default: {
		int rc;

		/* churn keeps the whole reply until it is complete (p is rx once it holds some) */
		rc = churn_process(ch, c, p, len);
		if (rc == 0 && buffer_len(c->rx) == 0)
			append(&c->rx, p, len);
		if (rc == 1) {
			churn_done(ch, c);
		} else if (rc == -1) {
			ch->r.server_closed++;
			cconn_close(ch, c);
			churn_next(ch, c);
		}
		return;
	}
	}
	if (buffer_len(c->rx) > 0)
		buffer_consume(&c->rx, (size_t)used);
	else if ((size_t)used < len)
		append(&c->rx, p + used, len - (size_t)used);
}

static void
on_event(struct child *ch, struct cconn *c, uint32_t ev)
{
	if (c->st == CS_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
			connect_failed(ch, c);
			if (O.mode == BS_CHURN)
				churn_next(ch, c);
			return;
		}
		on_connected(ch, c);
		return;
	}
	if (c->st != CS_OPEN)
		return;
	if ((ev & EPOLLOUT) && cconn_flush(ch, c) == -1) {
		server_closed(ch, c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(ch, c);
}

/* echo/idle: open more connections, at most MAX_INFLIGHT at once */
static void
ramp(struct child *ch)
{
	uint32_t allowed = ch->n;

	if (O.rate > 0) {
		/* this process's share of the rate, spread evenly over time */
		double share = O.rate / (double)O.procs;
		double may = share * (double)(ch->now - ch->t_start) / 1e9 + 1;

		if (may < (double)ch->n)
			allowed = (uint32_t)may;
	}
	while (ch->next_connect < allowed && ch->inflight < MAX_INFLIGHT) {
		struct cconn *c = &ch->c[ch->next_connect++];

		ch->inflight++;
		if (cconn_start(ch, c) == -1)
			connect_failed(ch, c);
	}
}

static void
echo_go(struct child *ch)
{
	for (uint32_t i = 0; i < ch->n; i++) {
		struct cconn *c = &ch->c[i];

		if (c->st != CS_OPEN)
			continue;
		for (long d = 0; d < O.depth; d++) {
			ch->sent_ns[(size_t)i * (size_t)O.depth + c->sent % (uint64_t)O.depth] = ch->now;
			stage_message(ch, c, FRAME_DATA);
		}
		if (flush_stage(ch, c) == -1)
			server_closed(ch, c);
	}
}

static bool
drained(const struct child *ch)
{
	if (O.mode == BS_ECHO) {
		for (uint32_t i = 0; i < ch->n; i++)
			if (ch->c[i].st == CS_OPEN && ch->c[i].recv < ch->c[i].sent)
				return false;
		return true;
	}
	if (O.mode == BS_CHURN) {
		for (uint32_t i = 0; i < ch->n; i++)
			if (ch->c[i].st == CS_CONNECTING || ch->c[i].st == CS_OPEN)
				return false;
	}
	return true;
}

static void
child_done(struct child *ch)
{
	uint64_t end = ch->t_last > ch->t_go ? ch->t_last : ch->t_stop;

	ch->r.open_at_end = ch->open;
	ch->r.elapsed_s = ch->t_go && end > ch->t_go ? (double)(end - ch->t_go) / 1e9 : 0;
	ch->r.nlate = ch->nlate;
	child_send_record(ch, REC_DONE, &ch->r, sizeof(ch->r), ch->late,
	    ch->nlate * sizeof(double));
	ch->phase = PH_WAIT_RELEASE;
	ch->limit = ch->now + (uint64_t)(RECORD_LIMIT_S * 2e9);
}

static void
child_stop(struct child *ch)
{
	ch->phase = PH_DRAIN;
	ch->t_stop = ch->now;
	ch->limit = ch->now + (uint64_t)(DRAIN_LIMIT_S * 1e9);
	if (O.mode == BS_CHURN) {
		/* connections still connecting will not finish a cycle: drop them */
		for (uint32_t i = 0; i < ch->n; i++)
			if (ch->c[i].st == CS_CONNECTING)
				cconn_close(ch, &ch->c[i]);
	}
}

static void __attribute__((noreturn))
child_exit(struct child *ch, int status)
{
	for (uint32_t i = 0; i < ch->n; i++)
		if (ch->c[i].fd != -1)
			close(ch->c[i].fd);
	_exit(status);
}

static void
child_ctl(struct child *ch)
{
	char cmd[16];
	ssize_t n = read(ch->ctl, cmd, sizeof(cmd));

	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		child_exit(ch, 0);	/* the parent is gone */
	for (ssize_t i = 0; i < n; i++) {
		switch (cmd[i]) {
		case 'g':
			if (ch->phase != PH_WAIT_GO)
				break;
			ch->phase = PH_RUN;
			ch->t_go = ch->now;
			ch->limit = ch->now + (uint64_t)((O.seconds + CHILD_SLACK_S) * 1e9);
			if (O.mode == BS_ECHO)
				echo_go(ch);
			else if (O.mode == BS_CHURN)
				for (uint32_t k = 0; k < ch->n; k++)
					churn_next(ch, &ch->c[k]);
			break;
		case 's':
			if (ch->phase == PH_RUN)
				child_stop(ch);
			break;
		case 'r':
			child_exit(ch, 0);
		}
	}
}

static void
heartbeats_due(struct child *ch)
{
	while (ch->hbq_len > 0) {
		uint32_t i = ch->hbq[ch->hbq_head];
		struct cconn *c = &ch->c[i];

		if (c->st == CS_OPEN && c->next_hb > ch->now)
			break;
		ch->hbq_head = (ch->hbq_head + 1) % ch->n;
		ch->hbq_len--;
		if (c->st == CS_OPEN)
			send_heartbeat(ch, c);
	}
}

static int
child_timeout_ms(const struct child *ch)
{
	int64_t ms = 100;

	if (ch->restart_pending || (O.rate > 0 && ch->phase == PH_RAMP))
		return 1;
	if (O.mode == BS_IDLE && ch->hbq_len > 0) {
		const struct cconn *c = &ch->c[ch->hbq[ch->hbq_head]];
		int64_t left = c->next_hb > ch->now ? (int64_t)((c->next_hb - ch->now) / 1000000) + 1 : 0;

		if (left < ms)
			ms = left;
	}
	return (int)ms;
}

static void
child_progress(struct child *ch)
{
	struct progress *p = ch->prog;

	__atomic_store_n(&p->open, ch->open, __ATOMIC_RELAXED);
	__atomic_store_n(&p->msgs, ch->r.msgs, __ATOMIC_RELAXED);
	__atomic_store_n(&p->failed, ch->r.connect_failed, __ATOMIC_RELAXED);
	__atomic_store_n(&p->closed, ch->r.server_closed, __ATOMIC_RELAXED);
	__atomic_store_n(&p->errors, ch->r.verify_errors, __ATOMIC_RELAXED);
}

static void __attribute__((noreturn))
child_main(struct child *ch)
{
	static struct epoll_event evs[EV_BATCH];
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = CTL_TAG };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if ((ch->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, ch->ctl, &e) == -1)
		die("epoll_ctl: %s", strerror(errno));
	if ((ch->c = calloc(ch->n ? ch->n : 1, sizeof(*ch->c))) == NULL ||
	    (ch->rbuf = malloc(RBUF_SIZE)) == NULL ||
	    (ch->pat = malloc((size_t)O.size + 8)) == NULL)
		die("out of memory");
	for (uint32_t i = 0; i < ch->n; i++) {
		ch->c[i].fd = -1;
		ch->c[i].id = ch->first_id + i;
	}
	if (O.mode == BS_ECHO &&
	    (ch->sent_ns = calloc((size_t)(ch->n ? ch->n : 1) * (size_t)O.depth, sizeof(uint64_t))) == NULL)
		die("out of memory");
	if (O.mode == BS_IDLE && ((ch->hbq = calloc(ch->n ? ch->n : 1, sizeof(uint32_t))) == NULL ||
	    (ch->late = calloc(ch->n ? ch->n : 1, sizeof(double))) == NULL))
		die("out of memory");
	bs_hist_init(&ch->r.lat);
	ch->now = ch->t_start = ch->event_at = mono_ns();
	ch->real_off = (uint64_t)(real_s() * 1e9) - ch->now;
	ch->phase = PH_RAMP;
	ch->limit = ch->now + (uint64_t)((RAMP_LIMIT_S + CHILD_SLACK_S) * 1e9);

	for (;;) {
		int n = epoll_wait(ch->ep, evs, EV_BATCH, child_timeout_ms(ch));

		if (n == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		ch->now = mono_ns();
		for (int i = 0; i < n; i++) {
			ch->event_at = ch->now;
			if (evs[i].data.u64 == CTL_TAG)
				child_ctl(ch);
			else
				on_event(ch, &ch->c[evs[i].data.u64], evs[i].events);
		}
		ch->event_at = ch->now;
		if (ch->restart_pending) {
			ch->restart_pending = false;
			for (uint32_t k = 0; k < ch->n && ch->phase == PH_RUN; k++)
				if (ch->c[k].st == CS_NONE || ch->c[k].st == CS_DONE)
					churn_next(ch, &ch->c[k]);
		}
		switch (ch->phase) {
		case PH_RAMP:
			/* churn opens its connections as it runs: ready at once */
			if (O.mode != BS_CHURN)
				ramp(ch);
			if (O.mode == BS_CHURN || ch->settled >= ch->n ||
			    ch->now - ch->t_start > (uint64_t)(RAMP_LIMIT_S * 1e9)) {
				child_send_record(ch, REC_READY, &ch->r, sizeof(ch->r), NULL, 0);
				ch->phase = PH_WAIT_GO;
				ch->limit = ch->now +
				    (uint64_t)((RECORD_LIMIT_S + CHILD_SLACK_S) * 1e9);
			}
			break;
		case PH_WAIT_GO:
			break;
		case PH_RUN:
			break;
		case PH_DRAIN:
			if (O.mode == BS_IDLE || drained(ch) || ch->now >= ch->limit)
				child_done(ch);
			break;
		case PH_WAIT_RELEASE:
			break;
		}
		if (O.mode == BS_IDLE)
			heartbeats_due(ch);
		child_progress(ch);
		if (ch->now >= ch->limit) {
			if (ch->phase == PH_RUN) {
				child_stop(ch);
				continue;
			}
			if (ch->phase != PH_DRAIN)
				child_exit(ch, 3);	/* the parent stopped answering */
		}
	}
}

/* ---- the parent ---- */

struct kid {
	pid_t pid;
	int ctl, res;
	bool ready, done;
	struct result r;
	double *late;
};

static struct kid *kids;
static struct progress *progs;

static void
send_all(char cmd)
{
	for (long i = 0; i < O.procs; i++)
		if (kids[i].pid > 0 && write_full(kids[i].ctl, &cmd, 1) == -1)
			kids[i].pid = -kids[i].pid;	/* gone; reaped later */
}

static void
progress_sum(struct progress *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (long i = 0; i < O.procs; i++) {
		struct progress *p = &progs[i];

		sum->open += __atomic_load_n(&p->open, __ATOMIC_RELAXED);
		sum->msgs += __atomic_load_n(&p->msgs, __ATOMIC_RELAXED);
		sum->failed += __atomic_load_n(&p->failed, __ATOMIC_RELAXED);
		sum->closed += __atomic_load_n(&p->closed, __ATOMIC_RELAXED);
		sum->errors += __atomic_load_n(&p->errors, __ATOMIC_RELAXED);
	}
}

static const char *const mode_names[] = { "echo", "idle", "churn" };

static void
progress_line(double t0, const char *phase, uint64_t *last_msgs, double *last_t)
{
	struct progress s;
	double now = mono_s(), dt = now - *last_t;

	progress_sum(&s);
	fprintf(stderr, "%6.1fs %-5s %-5s open %7" PRIu64 "  msgs %10" PRIu64 " (%9.0f/s)"
	    "  failed %" PRIu64 "  closed %" PRIu64 "  errors %" PRIu64 "\n",
	    now - t0, mode_names[O.mode], phase, s.open, s.msgs,
	    dt > 0 ? (double)(s.msgs - *last_msgs) / dt : 0, s.failed, s.closed, s.errors);
	*last_msgs = s.msgs;
	*last_t = now;
}

/*
 * wait for one record of type from every child; while waiting, print the
 * progress line each second and end early when stop() says so
 */
static void
wait_records(uint32_t type, double limit, double t0, const char *phase, bool tty)
{
	double deadline = mono_s() + limit, next_progress = mono_s() + 1, last_t = mono_s();
	uint64_t last_msgs = 0;

	for (;;) {
		struct pollfd pfd[256];
		long map[256], np = 0;
		int ms;

		for (long i = 0; i < O.procs && np < 256; i++) {
			if (kids[i].pid <= 0 || (type == REC_READY ? kids[i].ready : kids[i].done))
				continue;
			pfd[np].fd = kids[i].res;
			pfd[np].events = POLLIN;
			map[np++] = i;
		}
		if (np == 0 || mono_s() >= deadline)
			return;
		ms = (int)((next_progress - mono_s()) * 1000) + 1;
		if (ms < 1)
			ms = 1;
		if (poll(pfd, (nfds_t)np, ms) > 0) {
			for (long k = 0; k < np; k++) {
				struct kid *kd = &kids[map[k]];
				struct rec_hdr h;
				double rd = mono_s() + RECORD_LIMIT_S;

				if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (read_full(kd->res, &h, sizeof(h), rd) == -1 ||
				    h.len < sizeof(struct result) ||
				    read_full(kd->res, &kd->r, sizeof(kd->r), rd) == -1) {
					fprintf(stderr, "sockserv-bench: client process %ld stopped "
					    "reporting\n", map[k]);
					kill(kd->pid, SIGKILL);
					kd->pid = -kd->pid;
					continue;
				}
				if (h.len > sizeof(struct result)) {
					size_t extra = h.len - sizeof(struct result);

					free(kd->late);
					if ((kd->late = malloc(extra)) == NULL)
						die("out of memory");
					if (read_full(kd->res, kd->late, extra, rd) == -1)
						kd->r.nlate = 0;
				}
				if (kd->r.nlate * sizeof(double) > h.len - sizeof(struct result))
					kd->r.nlate = 0;
				if (h.type == REC_READY)
					kd->ready = true;
				else
					kd->done = true;
			}
		}
		if (tty && mono_s() >= next_progress) {
			progress_line(t0, phase, &last_msgs, &last_t);
			next_progress += 1;
		}
	}
}

static void
reap_all(void)
{
	double deadline = mono_s() + 5;

	for (long i = 0; i < O.procs; i++) {
		pid_t p = kids[i].pid > 0 ? kids[i].pid : -kids[i].pid;

		if (p == 0)
			continue;
		while (waitpid(p, NULL, WNOHANG) == 0) {
			if (mono_s() >= deadline) {
				kill(p, SIGKILL);
				waitpid(p, NULL, 0);
				break;
			}
			usleep(10000);
		}
	}
}

static void
spawn_children(void)
{
	size_t sz = (size_t)O.procs * sizeof(struct progress);
	uint32_t first = 0;

	progs = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progs == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	if ((kids = calloc((size_t)O.procs, sizeof(*kids))) == NULL)
		die("out of memory");
	fflush(NULL);
	for (long i = 0; i < O.procs; i++) {
		uint32_t n = (uint32_t)(O.conns / O.procs + (i < O.conns % O.procs));
		int ctl[2], res[2];
		pid_t pid;

		if (pipe2(ctl, O_CLOEXEC) == -1 || pipe2(res, O_CLOEXEC) == -1)
			die("pipe: %s", strerror(errno));
		if ((pid = fork()) == -1)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			struct child ch;

			/* the siblings' pipe ends are not ours: their EOFs must not wait on us */
			for (long k = 0; k < i; k++) {
				close(kids[k].ctl);
				close(kids[k].res);
			}
			close(ctl[1]);
			close(res[0]);
			memset(&ch, 0, sizeof(ch));
			ch.first_id = first;
			ch.n = n;
			ch.ctl = ctl[0];
			ch.res = res[1];
			ch.prog = &progs[i];
			child_main(&ch);
		}
		close(ctl[0]);
		close(res[1]);
		kids[i].pid = pid;
		kids[i].ctl = ctl[1];
		kids[i].res = res[0];
		first += n;
	}
}

/* ---- reporting ---- */

struct report {
	struct result r;	/* the sum of the children's */
	double *late;
	size_t nlate;
	bool ok;		/* bs_run_ok() of the sum */
	const char *why;	/* when not ok: the first rule broken */
	double ramp_wall_s;	/* parent: start .. every child ready */
	double run_s;		/* parent: go .. stop */
	double elapsed_s;	/* longest child go .. last message */
	struct srv_sample s0, s1, s2;	/* before anything, at go, at the end */
	long tck;
};

static void
judge(struct report *rep)
{
	const struct result *t = &rep->r;
	struct bs_outcome o = {
		.mode = O.mode,
		.asked = (uint64_t)O.conns,
		.connected = t->connected,
		.connect_failed = t->connect_failed,
		.msgs = t->msgs,
		.verify_errors = t->verify_errors,
		.error_frames = t->error_frames,
		.server_closed = t->server_closed,
		.open_at_end = t->open_at_end,
		.closes_expected = O.timeout > 0,
	};

	rep->ok = bs_run_ok(&o, &rep->why);
	/* the sum misses a process that never reported: nothing says its share went well */
	for (long i = 0; i < O.procs && rep->ok; i++)
		if (!kids[i].done) {
			rep->ok = false;
			rep->why = "a client process stopped reporting";
		}
}

static void
aggregate(struct report *rep)
{
	struct result *t = &rep->r;

	memset(t, 0, sizeof(*t));
	bs_hist_init(&t->lat);
	for (long i = 0; i < O.procs; i++) {
		const struct result *r = &kids[i].r;

		t->connected += r->connected;
		t->connect_failed += r->connect_failed;
		t->msgs += r->msgs;
		t->bytes += r->bytes;
		t->verify_errors += r->verify_errors;
		t->server_closed += r->server_closed;
		t->open_at_end += r->open_at_end;
		t->heartbeats += r->heartbeats;
		t->error_frames += r->error_frames;
		if (r->elapsed_s > t->elapsed_s)
			t->elapsed_s = r->elapsed_s;
		if (r->lat.max >= t->lat.max && r->lat.count > 0)
			t->max_lat_end = r->max_lat_end;
		bs_hist_merge(&t->lat, &r->lat);
		t->nlate += r->nlate;
	}
	rep->elapsed_s = t->elapsed_s;
	rep->late = calloc(t->nlate ? t->nlate : 1, sizeof(double));
	if (rep->late == NULL)
		die("out of memory");
	for (long i = 0; i < O.procs; i++) {
		if (kids[i].late == NULL)
			continue;
		memcpy(rep->late + rep->nlate, kids[i].late, kids[i].r.nlate * sizeof(double));
		rep->nlate += kids[i].r.nlate;
	}
	judge(rep);
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* the server's numbers between two samples */
struct srv_delta {
	bool ok;
	int nprocs;
	double cpu_s;
	double cpu_pct;
	double cpu_us_per_msg;
};

static struct srv_delta
srv_delta(const struct report *rep, const struct srv_sample *a, const struct srv_sample *b,
    uint64_t msgs)
{
	struct srv_delta d = { 0 };
	uint64_t ticks;

	if (!a->ok || !b->ok)
		return d;
	ticks = b->ticks > a->ticks ? b->ticks - a->ticks : 0;
	d.ok = true;
	d.nprocs = b->nprocs;
	d.cpu_s = (double)ticks / (double)rep->tck;
	d.cpu_pct = bs_cpu_percent(ticks, rep->tck, b->at - a->at);
	d.cpu_us_per_msg = bs_cpu_us_per_msg(ticks, rep->tck, msgs);
	return d;
}

/* the server's CPU over the measured interval, per message of the mode (idle: heartbeat) */
static struct srv_delta
run_srv_delta(const struct report *rep)
{
	return srv_delta(rep, &rep->s1, &rep->s2,
	    O.mode == BS_IDLE ? rep->r.heartbeats : rep->r.msgs);
}

static void
json_hist(const struct bs_hist *h, const char *unit_key)
{
	printf(", \"%s_p50\": %.1f, \"%s_p99\": %.1f, \"%s_p999\": %.1f, \"%s_max\": %.1f, "
	    "\"%s_mean\": %.1f", unit_key, us(bs_hist_percentile(h, 50)), unit_key,
	    us(bs_hist_percentile(h, 99)), unit_key, us(bs_hist_percentile(h, 99.9)), unit_key,
	    us(h->max), unit_key, bs_hist_mean(h) / 1000.0);
}

static void
print_json(struct report *rep)
{
	const struct result *r = &rep->r;
	struct srv_delta d = run_srv_delta(rep);

	printf("{\"mode\": \"%s\", \"host\": \"%s\", \"port\": %u, \"codec\": \"%s\", "
	    "\"conns\": %ld, \"depth\": %ld, \"size\": %ld, \"seconds\": %.3f, "
	    "\"interval\": %.3f, \"sources\": %ld, \"processes\": %ld",
	    mode_names[O.mode], O.host, O.port, O.raw ? "raw" : "frame", O.conns, O.depth,
	    O.size, O.seconds, O.interval, O.sources, O.procs);
	printf(", \"ok\": %s", rep->ok ? "true" : "false");
	if (!rep->ok)
		printf(", \"failure\": \"%s\"", rep->why);
	printf(", \"connected\": %" PRIu64 ", \"connect_failed\": %" PRIu64
	    ", \"server_closed\": %" PRIu64 ", \"verify_errors\": %" PRIu64
	    ", \"error_frames\": %" PRIu64 ", \"messages\": %" PRIu64,
	    r->connected, r->connect_failed, r->server_closed, r->verify_errors,
	    r->error_frames, r->msgs);
	switch (O.mode) {
	case BS_ECHO:
		printf(", \"elapsed\": %.3f, \"msgs_per_s\": %.1f, \"mb_per_s\": %.3f",
		    rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s),
		    bs_rate(r->bytes, rep->elapsed_s) / 1e6);
		json_hist(&r->lat, "lat_us");
		break;
	case BS_CHURN:
		printf(", \"elapsed\": %.3f, \"conns_per_s\": %.1f, \"max_lat_end_unix\": %.6f",
		    rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s), r->max_lat_end);
		json_hist(&r->lat, "lat_us");
		break;
	default:
		printf(", \"ramp_s\": %.3f, \"connect_rate\": %.1f, \"hold_s\": %.3f"
		    ", \"open_at_end\": %" PRIu64 ", \"heartbeats\": %" PRIu64,
		    rep->ramp_wall_s, bs_rate(r->connected, rep->ramp_wall_s), rep->run_s,
		    r->open_at_end, r->heartbeats);
		json_hist(&r->lat, "first_pong_us");
		if (rep->s0.ok && rep->s1.ok)
			printf(", \"rss_before_kb\": %" PRIu64 ", \"rss_after_kb\": %" PRIu64
			    ", \"rss_bytes_per_conn\": %.1f", rep->s0.rss_kb, rep->s1.rss_kb,
			    bs_bytes_per_conn(rep->s0.rss_kb, rep->s1.rss_kb, r->connected));
		if (O.interval == 0 && O.timeout > 0) {
			uint64_t bins[NLATE_EDGES + 1];
			size_t early = 0;

			for (size_t i = 0; i < rep->nlate; i++)
				early += rep->late[i] < 0;
			bs_bin_counts(rep->late, rep->nlate, late_edges, NLATE_EDGES, bins);
			printf(", \"timeout\": %.3f, \"late_n\": %zu, \"late_early\": %zu",
			    O.timeout, rep->nlate, early);
			if (rep->nlate > 0) {
				printf(", \"late_min_ms\": %.2f", bs_percentile(rep->late, rep->nlate, 0));
				printf(", \"late_p50_ms\": %.2f", bs_percentile(rep->late, rep->nlate, 50));
				printf(", \"late_p99_ms\": %.2f", bs_percentile(rep->late, rep->nlate, 99));
				printf(", \"late_p999_ms\": %.2f",
				    bs_percentile(rep->late, rep->nlate, 99.9));
				printf(", \"late_max_ms\": %.2f",
				    bs_percentile(rep->late, rep->nlate, 100));
			}
			printf(", \"late_edges_ms\": [");
			for (size_t i = 0; i < NLATE_EDGES; i++)
				printf("%s%g", i ? ", " : "", late_edges[i]);
			printf("], \"late_counts\": [");
			for (size_t i = 0; i <= NLATE_EDGES; i++)
				printf("%s%" PRIu64, i ? ", " : "", bins[i]);
			printf("]");
		}
		break;
	}
	if (d.ok)
		printf(", \"server_pid\": %d, \"server_procs\": %d, \"server_cpu_s\": %.3f, "
		    "\"server_cpu_pct\": %.2f, \"server_cpu_us_per_msg\": %.4f",
		    O.server_pid, d.nprocs, d.cpu_s, d.cpu_pct, d.cpu_us_per_msg);
	printf("}\n");
}

static void
print_lat(const char *what, const struct bs_hist *h)
{
	if (h->count == 0)
		return;
	printf("  %-16s p50 %.1f us   p99 %.1f us   p99.9 %.1f us   max %.1f us\n", what,
	    us(bs_hist_percentile(h, 50)), us(bs_hist_percentile(h, 99)),
	    us(bs_hist_percentile(h, 99.9)), us(h->max));
}

static void
print_table(struct report *rep)
{
	const struct result *r = &rep->r;
	struct srv_delta d = run_srv_delta(rep);

	printf("sockserv-bench %s %s:%u %s, %ld connections, %ld process%s", mode_names[O.mode],
	    O.host, O.port, O.raw ? "raw" : "frame", O.conns, O.procs, O.procs == 1 ? "" : "es");
	if (O.mode == BS_ECHO)
		printf(", depth %ld, %ld B", O.depth, O.size);
	if (O.mode == BS_IDLE)
		printf(", heartbeat %s", O.interval > 0 ? "" : "none after the first");
	if (O.mode == BS_IDLE && O.interval > 0)
		printf("%g s", O.interval);
	printf("\n");
	printf("  %-16s %" PRIu64 " ok, %" PRIu64 " failed\n", "connections", r->connected,
	    r->connect_failed);
	switch (O.mode) {
	case BS_ECHO:
		printf("  %-16s %" PRIu64 " in %.2f s = %.0f msgs/s, %.2f MB/s payload\n",
		    "messages", r->msgs, rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s),
		    bs_rate(r->bytes, rep->elapsed_s) / 1e6);
		print_lat("latency", &r->lat);
		break;
	case BS_CHURN:
		printf("  %-16s %" PRIu64 " in %.2f s = %.0f conns/s\n", "completed", r->msgs,
		    rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s));
		print_lat("connect-to-echo", &r->lat);
		break;
	default:
		printf("  %-16s %.2f s = %.0f conns/s\n", "ramp-up", rep->ramp_wall_s,
		    bs_rate(r->connected, rep->ramp_wall_s));
		print_lat("first PONG", &r->lat);
		printf("  %-16s %" PRIu64 " after %.1f s, %" PRIu64 " heartbeats sent, %" PRIu64
		    " PONGs\n", "open at end", r->open_at_end, rep->run_s, r->heartbeats, r->msgs);
		if (rep->s0.ok && rep->s1.ok)
			printf("  %-16s %" PRIu64 " kB -> %" PRIu64 " kB = %.1f bytes/connection\n",
			    "server RssAnon", rep->s0.rss_kb, rep->s1.rss_kb,
			    bs_bytes_per_conn(rep->s0.rss_kb, rep->s1.rss_kb, r->connected));
		if (O.interval == 0 && O.timeout > 0 && rep->nlate > 0) {
			uint64_t bins[NLATE_EDGES + 1];

			printf("  %-16s ERROR frame received - (last byte sent + %g s), kernel receive\n"
			    "  %-16s timestamps: min %.1f  p50 %.1f  p99 %.1f  "
			    "p99.9 %.1f  max %.1f ms\n", "timeout lateness", O.timeout, "",
			    bs_percentile(rep->late, rep->nlate, 0),
			    bs_percentile(rep->late, rep->nlate, 50),
			    bs_percentile(rep->late, rep->nlate, 99),
			    bs_percentile(rep->late, rep->nlate, 99.9),
			    bs_percentile(rep->late, rep->nlate, 100));
			bs_bin_counts(rep->late, rep->nlate, late_edges, NLATE_EDGES, bins);
			for (size_t i = 0; i <= NLATE_EDGES; i++) {
				if (i == 0)
					printf("    %8s < %-6g ms %8" PRIu64 "\n", "", late_edges[0], bins[0]);
				else if (i == NLATE_EDGES)
					printf("    %8g ..        ms %8" PRIu64 "\n", late_edges[i - 1],
					    bins[i]);
				else
					printf("    %8g .. %-6g ms %8" PRIu64 "\n", late_edges[i - 1],
					    late_edges[i], bins[i]);
			}
		}
		break;
	}
	printf("  %-16s %" PRIu64 " closed by the server, %" PRIu64 " ERROR frames, %" PRIu64
	    " wrong bytes or frames\n", "errors", r->server_closed, r->error_frames,
	    r->verify_errors);
	if (d.ok)
		printf("  %-16s pid %d (%d processes): %.2f s CPU = %.1f %% of a core, "
		    "%.3f us per %s\n", "server", O.server_pid, d.nprocs, d.cpu_s, d.cpu_pct,
		    d.cpu_us_per_msg, O.mode == BS_IDLE ? "heartbeat" :
		    O.mode == BS_CHURN ? "connection" : "message");
	if (rep->ok)
		printf("  %-16s ok\n", "result");
	else
		printf("  %-16s FAILED: %s\n", "result", rep->why);
}

/* ---- options ---- */

static void
synopsis(FILE *f)
{
	fprintf(f,
	    "usage: sockserv-bench echo|idle|churn [-h host] -p port [--raw] [-c conns]\n"
	    "       [-d depth] [-s bytes] [-t seconds] [-i heartbeat_seconds]\n"
	    "       [-S source_addrs] [-P processes] [--json] [--server PID]\n"
	    "       [--timeout seconds] [--rate conns_per_second]\n");
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sockserv-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	synopsis(stderr);
	exit(EXIT_USAGE);
}

static long
num_arg(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage_error("%s: %s is not an integer in %ld..%ld", opt, s, lo, hi);
	return v;
}

static double
secs_arg(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		usage_error("%s: %s is not a number of seconds in %g..%g", opt, s, lo, hi);
	return v;
}

static void
parse_args(int argc, char **argv)
{
	enum { OPT_RAW = 1000, OPT_JSON, OPT_SERVER, OPT_TIMEOUT, OPT_RATE, OPT_HELP };
	static const struct option longopts[] = {
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	if (argc < 2)
		usage_error("a mode is needed");
	if (strcmp(argv[1], "--help") == 0) {
		synopsis(stdout);
		exit(0);
	}
	if (strcmp(argv[1], "echo") == 0)
		O.mode = BS_ECHO;
	else if (strcmp(argv[1], "idle") == 0)
		O.mode = BS_IDLE;
	else if (strcmp(argv[1], "churn") == 0)
		O.mode = BS_CHURN;
	else
		usage_error("unknown mode %s", argv[1]);
	optind = 2;
	while ((ch = getopt_long(argc, argv, "h:p:c:d:s:t:i:S:P:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h': O.host = optarg; break;
		case 'p': O.port = (uint16_t)num_arg("-p", optarg, 1, 65535); break;
		case 'c': O.conns = num_arg("-c", optarg, 1, 10000000); break;
		case 'd': O.depth = num_arg("-d", optarg, 1, 1000000); break;
		case 's': O.size = num_arg("-s", optarg, 0, 1024 * 1024); break;
		case 't': O.seconds = secs_arg("-t", optarg, 0.001, 86400); break;
		case 'i': O.interval = secs_arg("-i", optarg, 0, 86400); break;
		case 'S': O.sources = num_arg("-S", optarg, 1, 254); break;
		case 'P': O.procs = num_arg("-P", optarg, 1, 256); break;
		case OPT_RAW: O.raw = true; break;
		case OPT_JSON: O.json = true; break;
		case OPT_SERVER: O.server_pid = (int)num_arg("--server", optarg, 1, INT32_MAX); break;
		case OPT_TIMEOUT: O.timeout = secs_arg("--timeout", optarg, 0.001, 86400); break;
		case OPT_RATE: O.rate = (double)num_arg("--rate", optarg, 1, 10000000); break;
		case OPT_HELP:
			synopsis(stdout);
			exit(0);
		default:
			synopsis(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (O.port == 0)
		usage_error("-p port is required");
	if (inet_pton(AF_INET, O.host, &O.addr) != 1)
		usage_error("-h: %s is not an IPv4 address", O.host);
	if (O.sources > 0 && (ntohl(O.addr.s_addr) >> 24) != 127)
		usage_error("-S spreads over 127.0.0.1..N: the host must be a loopback address");
	if (O.conns < 0)
		O.conns = O.mode == BS_ECHO ? 100 : O.mode == BS_IDLE ? 1000 : 16;
	if (O.raw && O.size == 0 && O.mode != BS_IDLE)
		usage_error("-s: --raw needs at least 1 byte per message");
	if (O.procs > O.conns)
		O.procs = O.conns;
}

/* every client process needs its share of sockets plus a few descriptors */
static void
check_fd_limit(void)
{
	struct rlimit rl;
	long per = (O.conns + O.procs - 1) / O.procs;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)(per + FD_RESERVE) > rl.rlim_cur)
		die("%ld connections per process exceed the descriptor limit %llu: use -P %ld or more",
		    per, (unsigned long long)rl.rlim_cur,
		    (long)((O.conns + (long)rl.rlim_cur - FD_RESERVE - 1) /
		    ((long)rl.rlim_cur - FD_RESERVE)));
}

int
main(int argc, char **argv)
{
	struct report rep;
	bool tty;
	double t0, t_go, t_end, next_progress, last_t;
	uint64_t last_msgs = 0;

	parse_args(argc, argv);
	check_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	memset(&rep, 0, sizeof(rep));
	rep.tck = sysconf(_SC_CLK_TCK);
	tty = isatty(STDERR_FILENO);
	if (O.server_pid > 0) {
		sample_server(O.server_pid, &rep.s0);
		if (!rep.s0.ok)
			die("--server %d: no such process", O.server_pid);
	}

	t0 = mono_s();
	spawn_children();
	wait_records(REC_READY, RAMP_LIMIT_S + 10, t0, "ramp", tty);
	rep.ramp_wall_s = mono_s() - t0;
	for (long i = 0; i < O.procs; i++)
		if (!kids[i].ready && kids[i].pid > 0) {
			fprintf(stderr, "sockserv-bench: client process %ld never got ready\n", i);
			kill(kids[i].pid, SIGKILL);
			kids[i].pid = -kids[i].pid;
		}

	if (O.server_pid > 0)
		sample_server(O.server_pid, &rep.s1);
	send_all('g');
	t_go = mono_s();
	t_end = t_go + O.seconds;
	next_progress = t_go + 1;
	last_t = t_go;
	for (;;) {
		double now = mono_s();
		struct progress s;

		if (now >= t_end)
			break;
		if (O.mode == BS_IDLE && O.interval == 0) {
			/* silent: done once the server has closed them all */
			progress_sum(&s);
			if (s.open == 0)
				break;
		}
		if (tty && now >= next_progress) {
			progress_line(t0, "run", &last_msgs, &last_t);
			next_progress += 1;
		}
		usleep(O.mode == BS_IDLE && O.interval == 0 ? 5000 : 20000);
	}
	rep.run_s = mono_s() - t_go;
	if (O.server_pid > 0 && O.mode == BS_IDLE)
		sample_server(O.server_pid, &rep.s2);
	send_all('s');
	wait_records(REC_DONE, DRAIN_LIMIT_S + RECORD_LIMIT_S, t0, "drain", tty);
	if (O.server_pid > 0 && O.mode != BS_IDLE)
		sample_server(O.server_pid, &rep.s2);
	send_all('r');
	reap_all();

	aggregate(&rep);
	if (O.json)
		print_json(&rep);
	else
		print_table(&rep);
	free(rep.late);
	if (!rep.ok) {
		/* on stderr too: with --json a script's stdout holds only the object */
		fprintf(stderr, "sockserv-bench: run failed: %s\n", rep.why);
		return 1;
	}
	return 0;
}
