/*
 * bench.h: the internals of sockserv-bench, shared by its files under
 * bench/ and by nothing else (benchmark code is never linked into the
 * server).  The program's files, by role:
 *
 *   sockserv-bench.c  main(): the phases of a run, as the parent sees them
 *   options.c         the command line into struct bench_opts; the mode table
 *   children.c        the parent's side of the client processes: fork,
 *                     commands, records, the progress line, reaping
 *   channel.c         the socket between the parent and one client process
 *   child.c           one client process: its epoll loop and its phases
 *   bconn.c           one client connection: connect, write, read, close,
 *                     and the staging of the messages gathered per read
 *   echo.c idle.c churn.c   the modes, each a struct bench_mode
 *   report.c          the processes' results summed, judged and printed
 *   procsample.c      the server's process tree in /proc
 *   benchstat.c       the arithmetic, apart from any socket (unit tested)
 *
 * How a run goes: the parent forks P client processes, each with its own
 * epoll loop and share of the connections, and only coordinates them.
 * Phases go parent -> child as single bytes on the channel ('g' go, 's'
 * stop, 'r' release); results come back as records on the same channel;
 * live counters for the progress line sit in a shared anonymous mapping.
 */
#ifndef SOCKSERV_BENCH_H
#define SOCKSERV_BENCH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "benchstat.h"
#include "buffer.h"
#include "proto.h"

#define BENCH_EXIT_USAGE	2
#define BENCH_DRAIN_LIMIT_S	5.0	/* after stop: most time to collect echoes in flight */
#define BENCH_RECORD_LIMIT_S	30.0	/* parent: most time to wait for a child's record */
#define BENCH_RBUF_SIZE		(64 * 1024)
#define BENCH_PER_SOURCE	4000	/* -S auto: connections per source address at most */
#define BENCH_MAX_SOURCES	65000	/* 127.0.0.1 .. 127.0.253.232, all on lo's 127/8 */
#define BENCH_MAX_PROCS		256	/* -P: client processes at most */
#define BENCH_AUTO		(-1)	/* -S auto, -P auto before they are resolved */

struct bench_mode;

/* the command line; read-only once parsed */
struct bench_opts {
	enum bs_mode mode;
	const struct bench_mode *ops;	/* the mode's operations: bench_modes[mode] */
	const char *host;
	struct in_addr addr;
	uint16_t port;
	bool raw;
	long conns;
	long depth;
	long size;
	double seconds;
	double interval;	/* idle heartbeat period; 0 = silent after the first */
	long sources;		/* 0: let the kernel pick the source address; -S auto:
				 * BENCH_PER_SOURCE connections per address at most */
	long procs;		/* -P auto: from the descriptor limit (bench_fd_limit_check) */
	double ramp_timeout;	/* echo/idle: most time to open every connection
				 * (--ramp-timeout; default bs_ramp_timeout_default()) */
	const char *stats_path;	/* --stats: the server's statistics file, NULL = none */
	bool json;
	int server_pid;		/* 0: no server sampling */
	double timeout;		/* idle: the server's heartbeat_timeout, 0 = unknown */
	double rate;		/* echo/idle: most new connections per second, 0 = no limit */
	long msg_rate;		/* echo: messages per second over all connections, 0 = as
				 * fast as the depth allows */
};

/* live counters of one child, for the progress line (written by the child only) */
struct bench_progress {
	uint64_t connected;	/* connections established so far */
	uint64_t open;
	uint64_t msgs;		/* echo: echoes verified; idle: PONGs; churn: completed */
	uint64_t failed;	/* connects that failed */
	uint64_t closed;	/* connections the server closed */
	uint64_t errors;	/* wrong bytes or unexpected frames */
	uint64_t hb_lag_ms;	/* idle: the latest heartbeat sent this late */
	uint64_t paused;	/* rounds the ramp opened nothing to keep up */
} __attribute__((aligned(64)));

enum bench_rec { BREC_READY = 1, BREC_DONE = 2 };

/* what went wrong first, where and when (seconds from the process's start) */
struct bench_fail {
	double at_s;
	int32_t err;		/* errno, 0 when there is none (EOF, ERROR frame) */
	char what[28];		/* "socket", "bind", "connect", "EOF", "ERROR frame", ... */
};

struct bench_rec_hdr {
	uint32_t type;		/* enum bench_rec */
	uint32_t len;		/* payload bytes that follow */
};

/* what one child reports; DONE carries it followed by nlate doubles */
struct bench_result {
	uint64_t connected;	/* connections established */
	uint64_t connect_failed;
	uint64_t msgs;		/* echo: echoes; idle: PONGs; churn: completed connections */
	uint64_t bytes;		/* echo: payload bytes received */
	uint64_t verify_errors;
	uint64_t server_closed;	/* the server ended a connection (idle: wrongly, unless silent) */
	uint64_t open_at_end;
	uint64_t heartbeats;	/* idle: PINGs sent */
	uint64_t hb_run;	/* idle: PINGs sent in the measured interval */
	uint64_t error_frames;	/* ERROR frames received */
	double elapsed_s;	/* go .. last counted message */
	double max_lat_end;	/* churn: CLOCK_REALTIME when the slowest connection ended */
	double max_hb_lag_s;	/* idle: the latest any heartbeat was sent */
	uint64_t ramp_paused;	/* ramp rounds that opened nothing to keep up with replies */
	/* the first thing that went wrong, for the per-process failure report */
	struct bench_fail first_fail, first_close;
	uint64_t nlate;
	struct bs_hist lat;	/* ns: echo round trip, churn connect-to-echo */
};

/* a client connection's state (bench's own: conn.h's CS_* are the server's) */
enum bconn_state {
	BCONN_NONE,		/* never started */
	BCONN_CONNECTING,	/* connect() in progress */
	BCONN_OPEN,		/* connected, counted in child.open */
	BCONN_DONE,		/* closed; churn may start the slot again */
};

struct bconn {
	int fd;
	uint8_t st;		/* enum bconn_state */
	bool ready;		/* echo/raw idle: connected; frame idle: first PONG seen */
	bool closing_seen;	/* idle: ERROR frame or EOF seen, close time recorded */
	uint32_t events;	/* epoll interest now */
	uint32_t id;		/* global connection (churn: slot) number */
	uint64_t sent, recv;	/* messages sent, echoes verified */
	uint64_t t0;		/* churn: connect start; idle: last byte sent */
	uint64_t next_hb;	/* idle: next heartbeat due */
	struct buffer *rx, *tx;	/* NULL while empty */
};

enum bench_phase {
	BPH_RAMP,		/* opening connections */
	BPH_WAIT_GO,		/* READY sent, waiting for 'g' */
	BPH_RUN,		/* the measured interval */
	BPH_DRAIN,		/* 's' received: collecting what is in flight */
	BPH_WAIT_RELEASE,	/* DONE sent, waiting for 'r' */
};

/* one client process */
struct bench_child {
	const struct bench_opts *o;
	const struct bench_mode *ops;	/* o->ops */
	struct proto_codec codec;	/* frame (every type passed up) or raw */
	uint32_t first_id;
	uint32_t n;
	int chan, ep;
	struct bench_progress *prog;
	struct bconn *c;
	enum bench_phase phase;
	uint64_t now;		/* ns, refreshed after each wait */
	uint64_t event_at;	/* when the event being handled happened: now, or the
				 * kernel's receive timestamp of the bytes just read */
	uint64_t real_off;	/* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	uint64_t t_start, t_go, t_stop, t_last;
	uint64_t limit;		/* fallback deadline of the current phase */
	uint64_t hb_lag;	/* ns: how late the oldest due heartbeat was this round */
	int nevents;		/* events of this round's epoll_wait */
	uint32_t next_connect;	/* echo/idle: next connection to open */
	uint32_t inflight;	/* connecting, or waiting for the first PONG */
	uint32_t open;
	uint32_t settled;	/* echo/idle: ready or failed for good */
	uint8_t *rbuf;
	uint8_t *pat;		/* scratch of o->size bytes */
	struct buffer *stage;	/* output gathered while handling one read; kept allocated */
	bool stamp_closes;	/* idle silent with --timeout: closes are timed by the kernel */
	uint64_t *sent_ns;	/* echo: send time of each message in flight, n * depth */
	uint32_t *hbq;		/* idle: heartbeat FIFO of connection indexes */
	size_t hbq_head, hbq_len;
	double *late;		/* idle silent: close - due, ms */
	size_t nlate;
	uint64_t paced;		/* echo --msg-rate: messages sent by the pacer since go */
	uint32_t pace_next;	/* echo --msg-rate: the connection to try first */
	bool pace_full;		/* echo --msg-rate: messages are due but every connection
				 * has depth in flight: wait for an echo, do not spin */
	bool restart_pending;	/* churn: a slot could not start and waits a round */
	struct bench_result r;
};

/* the server's process tree at one moment */
struct bench_srv_sample {
	bool ok;
	int nprocs;
	uint64_t ticks;		/* utime + stime of the tree, + the root's reaped children */
	uint64_t rss_kb;	/* RssAnon of the tree */
	bool msgs_ok;		/* --stats: msgs_in was read */
	uint64_t msgs_in;	/* --stats: messages the server received, every worker, lifetime */
	struct bs_kmem k;	/* the kernel's memory, whole machine */
	double at;		/* monotonic seconds */
};

/* the parent's view of one client process */
struct bench_kid {
	pid_t pid;		/* negated once gone (still to be reaped) */
	pid_t pid0;		/* as forked, for the failure report */
	uint32_t n;		/* its connections */
	const char *lost;	/* why the parent gave up on it, NULL while it reports */
	int chan;
	bool ready, done;
	struct bench_result r;
	double *late;
};

/* the parent's set of client processes */
struct bench_children {
	long n;
	struct bench_kid *kid;
	struct bench_progress *prog;	/* shared mapping, one per kid */
};

struct bench_report {
	struct bench_result r;	/* the sum of the children's */
	double *late;
	size_t nlate;
	bool ok;		/* bs_run_ok() of the sum */
	const char *why;	/* when not ok: the first rule broken */
	double ramp_wall_s;	/* parent: start .. every child ready */
	double run_s;		/* parent: go .. stop */
	double elapsed_s;	/* longest child go .. last message */
	struct bench_srv_sample s0, s1, s2;	/* before anything, at go, at the end */
	long tck;
};

/*
 * What differs between the modes, as operations the shared code calls.
 * NULL means the mode has nothing to do at that point.
 */
struct bench_mode {
	const char *name;		/* on the command line and in the reports */
	long default_conns;		/* -c when not given */
	bool sends_payload;		/* so --raw needs -s >= 1 (idle sends none) */
	/*
	 * echo, idle: every connection is opened before 'g' (at most
	 * MAX_INFLIGHT connecting at once, counted until settled); churn opens
	 * its connections as it runs and is ready at once
	 */
	bool ramps;

	/* child: allocate the mode's state (ch->n connections) */
	void (*setup)(struct bench_child *ch);
	/* child: c has just connected (counted open, EPOLLIN) */
	void (*connected)(struct bench_child *ch, struct bconn *c);
	/*
	 * child: bytes arrived on c (p: its unconsumed input); returns the
	 * bytes used, the rest kept for the next read, or -1 when it ended c
	 */
	ssize_t (*input)(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n);
	/* child: EOF or a reset on c */
	void (*eof)(struct bench_child *ch, struct bconn *c);
	/* child: c was ended (closed, or its connect failed): churn starts its next cycle */
	void (*ended)(struct bench_child *ch, struct bconn *c);
	/* child: 'g' received, the measured interval starts */
	void (*go)(struct bench_child *ch);
	/* child: the measured interval ended */
	void (*stop)(struct bench_child *ch);
	/*
	 * child: nothing is in flight any more, the DONE record may go.  NULL
	 * when nothing is ever in flight at stop (idle): the child reports at
	 * once and the parent samples the server at the stop, not after the drain.
	 */
	bool (*drained)(const struct bench_child *ch);
	/* child: once per loop round, after the phase's work */
	void (*tick)(struct bench_child *ch);
	/* child: the epoll timeout, given the default ms */
	int (*timeout_ms)(const struct bench_child *ch, int ms);

	/* parent: the run may end before -t once the server closed every connection */
	bool (*until_all_closed)(const struct bench_opts *o);
	/* report: what the server's CPU is divided by, and its name */
	uint64_t (*cpu_msgs)(const struct bench_result *r);
	const char *cpu_unit;
	/* report: the mode's part of the title line, of the table, of the JSON object */
	void (*table_title)(const struct bench_opts *o);
	void (*table)(struct bench_report *rep, const struct bench_opts *o);
	void (*json)(struct bench_report *rep, const struct bench_opts *o);
};

extern const struct bench_mode bench_echo, bench_idle, bench_churn;

/* ---- time ---- */

static inline uint64_t
bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double
bench_mono_s(void)
{
	return (double)bench_mono_ns() / 1e9;
}

static inline double
bench_real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* sockserv-bench.c */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* options.c */
void bench_opts_parse(struct bench_opts *o, int argc, char **argv);
void bench_fd_limit_check(struct bench_opts *o);

/* channel.c */
int bench_channel_pair(int sv[2]);
int bench_channel_write(int fd, const void *p, size_t n);
int bench_channel_read(int fd, void *p, size_t n, double deadline);

/* procsample.c */
void bench_sample_server(int root, const char *stats_path, struct bench_srv_sample *s);
void bench_sample_kernel(struct bs_kmem *k);

/* children.c (parent) */
void bench_children_spawn(struct bench_children *kids, const struct bench_opts *o);
void bench_children_command(struct bench_children *kids, char cmd);
void bench_children_progress_sum(const struct bench_children *kids, struct bench_progress *sum);
void bench_children_progress_line(const struct bench_children *kids, const struct bench_opts *o,
    double t0, const char *phase, uint64_t *last_msgs, double *last_t);
void bench_children_wait(struct bench_children *kids, const struct bench_opts *o,
    uint32_t type, double limit, double t0, const char *phase, bool tty);
void bench_children_reap(struct bench_children *kids);
void bench_children_failures(const struct bench_children *kids);

/* child.c */
void bench_child_main(struct bench_child *ch) __attribute__((noreturn));

/* bconn.c */
void bench_payload(uint8_t *p, size_t n, uint32_t id, uint64_t seq);
int bconn_start(struct bench_child *ch, struct bconn *c);
void bconn_close(struct bench_child *ch, struct bconn *c);
int bconn_write(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n);
void bconn_event(struct bench_child *ch, struct bconn *c, uint32_t ev);
void bconn_server_closed(struct bench_child *ch, struct bconn *c);
void bconn_connect_failed(struct bench_child *ch, struct bconn *c);
void bench_note_fail(struct bench_child *ch, struct bench_fail *f, const char *what, int err);
void bench_stage_message(struct bench_child *ch, struct bconn *c, uint8_t type);
int bench_stage_flush(struct bench_child *ch, struct bconn *c);

/* report.c */
void bench_report_sum(struct bench_report *rep, const struct bench_children *kids,
    const struct bench_opts *o);
void bench_report_print(struct bench_report *rep, const struct bench_opts *o);
void bench_report_lat(const char *what, const struct bs_hist *h);
void bench_report_json_hist(const struct bs_hist *h, const char *unit_key);

#endif
