/*
 * benchstat: the arithmetic behind sockserv-bench's reports, apart from any
 * socket so it can be unit tested.  It owns the latency histogram (bounded
 * relative error, mergeable across client processes), percentiles of raw
 * samples and their binning, rates, CPU per message and CPU share, and the
 * parsing of /proc/PID/stat (CPU ticks) and /proc/PID/status (RssAnon),
 * and the rule that decides whether a run succeeded (its exit status).
 */
#ifndef SOCKSERV_BENCHSTAT_H
#define SOCKSERV_BENCHSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Log-linear buckets: every value below 2^BS_HIST_SUB_BITS has its own
 * bucket, and every power of two above it is cut into 2^BS_HIST_SUB_BITS
 * equal buckets, so a bucket's width is at most 1/64 of its values (1.6 %)
 * over the whole uint64_t range, in a fixed-size struct that can be sent
 * through a pipe as it is.
 */
#define BS_HIST_SUB_BITS 6
#define BS_HIST_SUB (1u << BS_HIST_SUB_BITS)
#define BS_HIST_BUCKETS ((64 - BS_HIST_SUB_BITS + 1) * BS_HIST_SUB)

struct bs_hist {
	uint64_t count;
	uint64_t min;		/* UINT64_MAX while empty */
	uint64_t max;
	double sum;		/* for the mean; a double cannot overflow */
	uint64_t bucket[BS_HIST_BUCKETS];
};

void bs_hist_init(struct bs_hist *h);
void bs_hist_add(struct bs_hist *h, uint64_t v);
void bs_hist_merge(struct bs_hist *dst, const struct bs_hist *src);
/* the bucket holding v, and the smallest and largest value of bucket i */
size_t bs_hist_index(uint64_t v);
uint64_t bs_hist_bucket_lo(size_t i);
uint64_t bs_hist_bucket_hi(size_t i);
/*
 * the p-th percentile (0 <= p <= 100) by nearest rank: the largest value of
 * the bucket holding that rank, clamped to [min, max], so it is never below
 * the true value and at most one bucket width above it; 0 when empty
 */
uint64_t bs_hist_percentile(const struct bs_hist *h, double p);
double bs_hist_mean(const struct bs_hist *h);

/* nearest-rank percentile of n raw samples; sorts v in place; NAN when n == 0 */
double bs_percentile(double *v, size_t n, double p);
/*
 * count samples into nedges + 1 bins: (-inf, e[0]), [e[0], e[1]), ...,
 * [e[nedges-1], +inf); edges ascending; counts[] is zeroed first
 */
void bs_bin_counts(const double *v, size_t n, const double *edges, size_t nedges,
    uint64_t *counts);

/* events per second; 0 when no time passed */
double bs_rate(uint64_t count, double seconds);
/* microseconds of CPU per message from clock ticks; 0 when there were no messages */
double bs_cpu_us_per_msg(uint64_t ticks, long ticks_per_s, uint64_t msgs);
/* CPU used over a wall-clock interval, in percent of one core */
double bs_cpu_percent(uint64_t ticks, long ticks_per_s, double seconds);
/* bytes per connection from two kB readings (after may be below before); 0 if conns == 0 */
double bs_bytes_per_conn(uint64_t kb_before, uint64_t kb_after, uint64_t conns);
/* a / b, 0 when b is 0 */
double bs_ratio(double a, double b);
/*
 * Even pacing at num / den messages per second from time 0 (a process's
 * share of a total rate is rate * its connections / all connections, kept
 * as a fraction so the two functions agree exactly): message k (from 0) is
 * due at ceil(k * den * 1e9 / num) ns, and by elapsed_ns the first
 * bs_paced_due() messages are due (message 0 at once).  Counting from the
 * start, not from the last send, keeps a late round from lowering the rate.
 * num == 0: nothing is ever due.
 */
uint64_t bs_paced_due(uint64_t num, uint64_t den, uint64_t elapsed_ns);
uint64_t bs_paced_at_ns(uint64_t num, uint64_t den, uint64_t k);

/* what sockserv-bench needs from /proc/PID/stat */
struct bs_procstat {
	int pid;
	int ppid;
	char state;
	uint64_t utime;		/* clock ticks */
	uint64_t stime;
	uint64_t cutime;	/* of reaped children */
	uint64_t cstime;
};

/*
 * parse the text of /proc/PID/stat; the command name may hold spaces and
 * parentheses, so fields are counted from the last ')'; -1 when malformed
 */
int bs_parse_proc_stat(const char *text, struct bs_procstat *ps);
/* the RssAnon line of /proc/PID/status, in kB; -1 when absent or malformed */
int bs_parse_rss_anon(const char *text, uint64_t *kb);
/* the "KEY: N kB" line of /proc/PID/status or /proc/meminfo; -1 when absent or malformed */
int bs_parse_kb_line(const char *text, const char *key, uint64_t *kb);
/* inuse and mem (pages) of the "TCP:" line of /proc/net/sockstat; -1 when absent */
int bs_parse_sockstat_tcp(const char *text, uint64_t *inuse, uint64_t *mem_pages);

/* the kernel's memory at one moment, from /proc/meminfo and /proc/net/sockstat */
struct bs_kmem {
	bool ok;
	uint64_t slab_kb;	/* Slab: every kernel object cache (sockets, inodes, files) */
	uint64_t sunreclaim_kb;	/* SUnreclaim: the part that cannot be shrunk */
	uint64_t tcp_inuse;	/* TCP sockets, both ends of a loopback connection */
	uint64_t tcp_mem_pages;	/* pages charged to TCP buffers (the tcp_mem sysctl's unit) */
};

/*
 * Kernel bytes per connection between two readings: the Slab growth plus
 * the pages charged to TCP buffers, divided by conns.  Both ends of a
 * loopback connection are on the machine, so this is client + server
 * socket; it may be negative when other work freed memory meanwhile.
 */
double bs_kernel_bytes_per_conn(const struct bs_kmem *a, const struct bs_kmem *b,
    long page_size, uint64_t conns);

/*
 * -S auto: source addresses for at most per_addr connections each (the
 * kernel's search for a free port slows down sharply beyond ~5 000 per
 * address toward one server port).  -1 when per_addr is 0.
 */
long bs_auto_sources(uint64_t conns, uint64_t per_addr);
/*
 * -P auto: client processes for conns connections when each may hold
 * fd_limit descriptors, reserve of them for other uses, and a tenth of the
 * rest kept free.  -1 when the limit leaves no room.
 */
long bs_auto_procs(uint64_t conns, uint64_t fd_limit, uint64_t reserve);

/*
 * The default ramp limit: the time to open conns connections at
 * BS_RAMP_FLOOR_RATE per second (well below what one loaded 2-CPU machine
 * does), never under BS_RAMP_MIN_S.
 */
#define BS_RAMP_MIN_S		60.0
#define BS_RAMP_FLOOR_RATE	2000.0
double bs_ramp_timeout_default(uint64_t conns);

/* what a client process knows at the end of a loop round while ramping */
struct bs_ramp_state {
	uint64_t hb_lag_ns;	/* how late the oldest due heartbeat was this round */
	uint64_t lag_limit_ns;	/* more than this: the process is behind */
	int events;		/* events epoll_wait returned this round */
	int batch;		/* the most it can return */
	uint32_t inflight;	/* connects (and first PINGs) not settled */
	uint32_t max_inflight;
};

/*
 * How many connections a client process may start this round: none while
 * replies wait to be read (a full batch of events) or a heartbeat is later
 * than the limit, so a process that cannot keep up slows its ramp instead
 * of missing heartbeats; otherwise up to max_inflight in flight.
 */
uint32_t bs_ramp_budget(const struct bs_ramp_state *s);

/*
 * What a run's success is judged on: the counters of every client process
 * summed.  A run that fails makes sockserv-bench exit 1, so a script can
 * tell a broken server from a slow one without parsing the report.
 */
enum bs_mode { BS_ECHO, BS_IDLE, BS_CHURN };

struct bs_outcome {
	enum bs_mode mode;
	uint64_t asked;		/* echo, idle: connections asked for (-c) */
	uint64_t connected;
	uint64_t connect_failed;
	uint64_t msgs;		/* echo: echoes verified; churn: cycles completed */
	uint64_t verify_errors;	/* wrong bytes, malformed or unexpected frames */
	uint64_t error_frames;
	uint64_t server_closed;
	uint64_t open_at_end;
	bool closes_expected;	/* idle: --timeout given, the server must close them all */
};

/*
 * true when the run did what was asked.  echo, churn: no failed connect, no
 * wrong byte or frame, no ERROR frame, at least one message echoed (echo:
 * and every connection asked for established).  idle: no failed connect,
 * no wrong frame, every connection established, and either none closed by
 * the server or, when closes are expected, none left open.  When false and
 * why is not NULL, *why is a static phrase naming the first rule broken.
 */
bool bs_run_ok(const struct bs_outcome *o, const char **why);

#endif
