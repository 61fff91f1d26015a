/*
 * twheel_bench: what the timing wheel costs per operation with a million
 * timers, and what the server's lazy re-arm saves over restarting a
 * connection's timer on every message.  A benchmark, not a test: it prints
 * numbers and asserts nothing beyond its own bookkeeping.
 *
 * Each timer's node lives in a 64-byte owner (one calloc'd array), as it
 * would in a connection struct, and owners are visited in a random order so
 * the list surgery pays the cache misses a server would.
 *
 *	twheel_bench [--json] [--timers N] [--tick MS] [--slots N] [--runs N]
 *	    [--seconds S] [--interval MS] [--heartbeat MS]
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twheel.h"

struct owner {
	struct twheel_node node;
	uint64_t last_seen;	/* lazy strategy: time of the last message */
	uint64_t fired;
	char pad[64 - sizeof(struct twheel_node) - 2 * sizeof(uint64_t)];
};

struct opts {
	size_t timers;
	uint32_t tick_ms;
	uint32_t slots;
	int runs;
	uint64_t seconds;	/* simulated time of the message workload */
	uint64_t interval_ms;	/* each owner sends a message this often */
	uint64_t heartbeat_ms;	/* and times out after this much silence */
	int json;
};

struct msgctx {
	struct twheel *w;
	uint64_t now;
	uint64_t heartbeat_ms;
	size_t fired;		/* callbacks run */
	size_t rearmed;		/* lazy: fired early and re-armed */
	size_t expired;		/* silent for a whole heartbeat */
};

static struct owner *owners;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static struct owner *
owner_of(struct twheel_node *n)
{
	return (struct owner *)(void *)((char *)n - offsetof(struct owner, node));
}

static void
count_cb(struct twheel_node *n, void *arg)
{
	size_t *fired = arg;

	owner_of(n)->fired++;
	(*fired)++;
}

static void
eager_cb(struct twheel_node *n, void *arg)
{
	struct msgctx *m = arg;

	m->fired++;
	m->expired++;
	owner_of(n)->fired++;
}

/* the server's conn_timer_cb in miniature: early means re-arm for the real due */
static void
lazy_cb(struct twheel_node *n, void *arg)
{
	struct msgctx *m = arg;
	struct owner *o = owner_of(n);
	uint64_t due = o->last_seen + m->heartbeat_ms;

	m->fired++;
	if (due > m->now) {
		twheel_start(m->w, n, due);
		m->rearmed++;
	} else {
		m->expired++;
		o->fired++;
	}
}

static struct twheel *
wheel_new(const struct opts *o, uint64_t origin)
{
	struct twheel *w;

	if ((w = twheel_create(o->tick_ms, o->slots, origin)) == NULL) {
		fprintf(stderr, "twheel_create(%u, %u): %s\n", o->tick_ms,
		    o->slots, strerror(errno));
		exit(1);
	}
	return w;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n, size)) == NULL) {
		fprintf(stderr, "calloc %zu x %zu: %s\n", n, size,
		    strerror(errno));
		exit(1);
	}
	return p;
}

struct micro {
	double start, restart, stop, expire;
};

/*
 * start, restart, stop and expire for every timer once, visiting owners in
 * the random order perm[], with due times due1[] then due2[].
 */
static void
run_micro(const struct opts *o, const size_t *perm, const uint64_t *due1,
    const uint64_t *due2, struct micro *r)
{
	struct twheel *w;
	uint64_t t0, origin = 1000, now, spent = 0;
	size_t i, fired = 0, n = o->timers;

	memset(owners, 0, n * sizeof(*owners));
	for (i = 0; i < n; i++)
		twheel_node_init(&owners[i].node);
	w = wheel_new(o, origin);

	t0 = now_ns();
	for (i = 0; i < n; i++)
		twheel_start(w, &owners[perm[i]].node, origin + due1[i]);
	r->start = (double)(now_ns() - t0) / (double)n;

	t0 = now_ns();
	for (i = 0; i < n; i++)
		twheel_start(w, &owners[perm[i]].node, origin + due2[i]);
	r->restart = (double)(now_ns() - t0) / (double)n;

	t0 = now_ns();
	for (i = 0; i < n; i++)
		twheel_stop(w, &owners[perm[i]].node);
	r->stop = (double)(now_ns() - t0) / (double)n;

	/* re-arm (not timed), then let time run tick by tick until all fired */
	for (i = 0; i < n; i++)
		twheel_start(w, &owners[perm[i]].node, origin + due1[i]);
	for (now = origin; twheel_count(w) > 0; now += o->tick_ms) {
		t0 = now_ns();
		twheel_advance(w, now, count_cb, &fired);
		spent += now_ns() - t0;
	}
	r->expire = (double)spent / (double)n;
	if (fired != n) {
		fprintf(stderr, "expire: fired %zu of %zu\n", fired, n);
		exit(1);
	}
	twheel_free(w);
}

struct msgres {
	double ns_per_msg;
	size_t messages;
	size_t fired, rearmed, expired;
};

/*
 * The heartbeat workload: every owner sends a message each interval_ms
 * (owners spread evenly over the interval, in random order) and the clock
 * moves a tick at a time, advancing the wheel as the worker loop does.
 * Eager: each message restarts the owner's timer for now + heartbeat.
 * Lazy: each message only stores its time; the node, armed for the
 * heartbeat, is re-armed when it fires early.  Both pay the same loop.
 */
static void
run_messages(const struct opts *o, const size_t *perm, int lazy,
    struct msgres *r)
{
	struct msgctx m;
	struct twheel *w;
	struct owner *ow;
	uint64_t origin = 1000, end, t0, spent = 0;
	size_t i, cursor = 0, per_tick, k, n = o->timers;

	memset(owners, 0, n * sizeof(*owners));
	w = wheel_new(o, origin);
	for (i = 0; i < n; i++) {
		twheel_node_init(&owners[i].node);
		owners[i].last_seen = origin;
		twheel_start(w, &owners[i].node, origin + o->heartbeat_ms);
	}
	memset(&m, 0, sizeof(m));
	m.w = w;
	m.heartbeat_ms = o->heartbeat_ms;
	per_tick = (size_t)((uint64_t)n * o->tick_ms / o->interval_ms);
	if (per_tick == 0)
		per_tick = 1;
	r->messages = 0;
	end = origin + o->seconds * 1000;
	for (m.now = origin + o->tick_ms; m.now <= end; m.now += o->tick_ms) {
		t0 = now_ns();
		for (k = 0; k < per_tick; k++) {
			ow = &owners[perm[cursor]];
			if (++cursor == n)
				cursor = 0;
			ow->last_seen = m.now;
			if (!lazy)
				twheel_start(w, &ow->node, m.now + o->heartbeat_ms);
		}
		twheel_advance(w, m.now, lazy ? lazy_cb : eager_cb, &m);
		spent += now_ns() - t0;
		r->messages += per_tick;
	}
	r->ns_per_msg = (double)spent / (double)r->messages;
	r->fired = m.fired;
	r->rearmed = m.rearmed;
	r->expired = m.expired;
	twheel_free(w);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
usage(void)
{
	fprintf(stderr, "usage: twheel_bench [--json] [--timers N] [--tick MS] "
	    "[--slots N] [--runs N]\n"
	    "\t[--seconds S] [--interval MS] [--heartbeat MS]\n");
	exit(2);
}

static uint64_t
num_arg(int argc, char **argv, int *i, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	if (*i + 1 >= argc)
		usage();
	errno = 0;
	v = strtoull(argv[++*i], &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "%s: bad value %s\n", argv[*i - 1], argv[*i]);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct opts o = { 1000000, 100, 512, 3, 60, 1000, 30000, 0 };
	struct micro *mr;
	struct msgres eager, lazy;
	double v[4][16], med[4], best[4];
	const char *name[4] = { "start", "restart", "stop", "expire" };
	size_t *perm, i, j, tmp;
	uint64_t *due1, *due2, seed = 42, span;
	int a, r, k;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0)
			o.json = 1;
		else if (strcmp(argv[a], "--timers") == 0)
			o.timers = num_arg(argc, argv, &a, 1, 100000000);
		else if (strcmp(argv[a], "--tick") == 0)
			o.tick_ms = (uint32_t)num_arg(argc, argv, &a, 1, 1000);
		else if (strcmp(argv[a], "--slots") == 0)
			o.slots = (uint32_t)num_arg(argc, argv, &a, 1, 1u << 24);
		else if (strcmp(argv[a], "--runs") == 0)
			o.runs = (int)num_arg(argc, argv, &a, 1, 16);
		else if (strcmp(argv[a], "--seconds") == 0)
			o.seconds = num_arg(argc, argv, &a, 1, 86400);
		else if (strcmp(argv[a], "--interval") == 0)
			o.interval_ms = num_arg(argc, argv, &a, 1, 3600000);
		else if (strcmp(argv[a], "--heartbeat") == 0)
			o.heartbeat_ms = num_arg(argc, argv, &a, 1, 3600000);
		else
			usage();
	}

	owners = xcalloc(o.timers, sizeof(*owners));
	perm = xcalloc(o.timers, sizeof(*perm));
	due1 = xcalloc(o.timers, sizeof(*due1));
	due2 = xcalloc(o.timers, sizeof(*due2));
	/* random visiting order and due times within two heartbeats */
	for (i = 0; i < o.timers; i++)
		perm[i] = i;
	for (i = o.timers - 1; i > 0; i--) {
		j = rng_next(&seed) % (i + 1);
		tmp = perm[i];
		perm[i] = perm[j];
		perm[j] = tmp;
	}
	span = 2 * o.heartbeat_ms;
	for (i = 0; i < o.timers; i++) {
		due1[i] = 1 + rng_next(&seed) % span;
		due2[i] = 1 + rng_next(&seed) % span;
	}

	mr = xcalloc((size_t)o.runs, sizeof(*mr));
	for (r = 0; r < o.runs; r++) {
		run_micro(&o, perm, due1, due2, &mr[r]);
		v[0][r] = mr[r].start;
		v[1][r] = mr[r].restart;
		v[2][r] = mr[r].stop;
		v[3][r] = mr[r].expire;
	}
	for (k = 0; k < 4; k++) {
		med[k] = median(v[k], o.runs);
		best[k] = v[k][0];	/* sorted by median() */
	}
	run_messages(&o, perm, 0, &eager);
	run_messages(&o, perm, 1, &lazy);

	if (o.json) {
		printf("{\"timers\": %zu, \"tick_ms\": %u, \"slots\": %u, "
		    "\"runs\": %d", o.timers, o.tick_ms, o.slots, o.runs);
		for (k = 0; k < 4; k++)
			printf(", \"%s_ns\": %.1f, \"%s_ns_best\": %.1f",
			    name[k], med[k], name[k], best[k]);
		printf(", \"msg_eager_ns\": %.1f, \"msg_lazy_ns\": %.1f, "
		    "\"messages\": %zu, \"lazy_rearms\": %zu, "
		    "\"eager_expired\": %zu, \"lazy_expired\": %zu, "
		    "\"seconds\": %" PRIu64 ", \"interval_ms\": %" PRIu64
		    ", \"heartbeat_ms\": %" PRIu64 "}\n",
		    eager.ns_per_msg, lazy.ns_per_msg, lazy.messages,
		    lazy.rearmed, eager.expired, lazy.expired, o.seconds,
		    o.interval_ms, o.heartbeat_ms);
	} else {
		printf("twheel_bench: %zu timers, tick %u ms, %u slots "
		    "(revolution %.1f s), %d runs\n", o.timers, o.tick_ms,
		    o.slots, (double)o.tick_ms * o.slots / 1000.0, o.runs);
		printf("due times uniform in 1..%" PRIu64 " ms, owners in "
		    "random order\n\n", span);
		printf("%-34s %10s %10s\n", "operation", "ns/op", "best");
		for (k = 0; k < 4; k++)
			printf("%-34s %10.1f %10.1f\n", name[k], med[k],
			    best[k]);
		printf("\nheartbeat workload: a message every %" PRIu64
		    " ms per owner, heartbeat %" PRIu64 " ms, %" PRIu64
		    " s simulated, %zu messages\n", o.interval_ms,
		    o.heartbeat_ms, o.seconds, lazy.messages);
		printf("%-34s %10s %10s\n", "strategy", "ns/msg", "re-arms");
		printf("%-34s %10.1f %10s\n", "eager (restart per message)",
		    eager.ns_per_msg, "-");
		printf("%-34s %10.1f %10zu\n",
		    "lazy (timestamp, re-arm on fire)", lazy.ns_per_msg,
		    lazy.rearmed);
		if (eager.expired + lazy.expired != 0)
			printf("(timed out: eager %zu, lazy %zu)\n",
			    eager.expired, lazy.expired);
	}
	free(mr);
	free(due1);
	free(due2);
	free(perm);
	free(owners);
	return 0;
}
