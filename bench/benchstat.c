/*
 * benchstat: report arithmetic for sockserv-bench (see benchstat.h).
 */
#include "benchstat.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void
bs_hist_init(struct bs_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t
bs_hist_index(uint64_t v)
{
	int msb, shift;

	if (v < BS_HIST_SUB)
		return (size_t)v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - BS_HIST_SUB_BITS;
	/* (v >> shift) is in [SUB, 2 * SUB): its low bits pick the sub-bucket */
	return (size_t)(shift + 1) * BS_HIST_SUB + (size_t)((v >> shift) - BS_HIST_SUB);
}

uint64_t
bs_hist_bucket_lo(size_t i)
{
	size_t k = i / BS_HIST_SUB;

	if (k == 0)
		return (uint64_t)i;
	return ((uint64_t)BS_HIST_SUB + i % BS_HIST_SUB) << (k - 1);
}

uint64_t
bs_hist_bucket_hi(size_t i)
{
	size_t k = i / BS_HIST_SUB;

	if (k == 0)
		return (uint64_t)i;
	/* written so the last bucket ends at UINT64_MAX without overflowing */
	return bs_hist_bucket_lo(i) + ((((uint64_t)1) << (k - 1)) - 1);
}

void
bs_hist_add(struct bs_hist *h, uint64_t v)
{
	h->bucket[bs_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
bs_hist_merge(struct bs_hist *dst, const struct bs_hist *src)
{
	if (src->count == 0)
		return;
	for (size_t i = 0; i < BS_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* nearest rank (1-based) of the p-th percentile among n values */
static uint64_t
nearest_rank(double p, uint64_t n)
{
	double r;

	if (p <= 0)
		return 1;
	if (p >= 100)
		return n;
	r = ceil(p / 100.0 * (double)n);
	if (r < 1)
		return 1;
	if (r > (double)n)
		return n;
	return (uint64_t)r;
}

uint64_t
bs_hist_percentile(const struct bs_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (h->count == 0)
		return 0;
	rank = nearest_rank(p, h->count);
	for (size_t i = 0; i < BS_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			v = bs_hist_bucket_hi(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double
bs_hist_mean(const struct bs_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
bs_percentile(double *v, size_t n, double p)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return v[nearest_rank(p, n) - 1];
}

void
bs_bin_counts(const double *v, size_t n, const double *edges, size_t nedges,
    uint64_t *counts)
{
	memset(counts, 0, (nedges + 1) * sizeof(*counts));
	for (size_t i = 0; i < n; i++) {
		size_t b = 0;

		while (b < nedges && v[i] >= edges[b])
			b++;
		counts[b]++;
	}
}

double
bs_rate(uint64_t count, double seconds)
{
	return seconds > 0 ? (double)count / seconds : 0;
}

double
bs_cpu_us_per_msg(uint64_t ticks, long ticks_per_s, uint64_t msgs)
{
	if (msgs == 0 || ticks_per_s <= 0)
		return 0;
	return (double)ticks * 1e6 / (double)ticks_per_s / (double)msgs;
}

/* 128-bit products: rate x connections x a day of ns overflows 64 bits */
uint64_t
bs_paced_due(uint64_t num, uint64_t den, uint64_t elapsed_ns)
{
	unsigned __int128 q;

	if (num == 0 || den == 0)
		return 0;
	q = (unsigned __int128)num * elapsed_ns / ((unsigned __int128)den * 1000000000u);
	return q >= UINT64_MAX ? UINT64_MAX : (uint64_t)q + 1;
}

uint64_t
bs_paced_at_ns(uint64_t num, uint64_t den, uint64_t k)
{
	unsigned __int128 t;

	if (num == 0 || den == 0)
		return UINT64_MAX;
	t = ((unsigned __int128)k * den * 1000000000u + num - 1) / num;
	return t >= UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

double
bs_cpu_percent(uint64_t ticks, long ticks_per_s, double seconds)
{
	if (seconds <= 0 || ticks_per_s <= 0)
		return 0;
	return (double)ticks * 100.0 / (double)ticks_per_s / seconds;
}

double
bs_bytes_per_conn(uint64_t kb_before, uint64_t kb_after, uint64_t conns)
{
	if (conns == 0)
		return 0;
	return ((double)kb_after - (double)kb_before) * 1024.0 / (double)conns;
}

double
bs_ratio(double a, double b)
{
	return b != 0 ? a / b : 0;
}

/* parse one unsigned decimal field at *p, skipping leading blanks; -1 if none */
static int
field_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	char *end;
	unsigned long long v;

	while (*s == ' ')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -1;
	*out = v;
	*p = end;
	return 0;
}

/* step over one field of any content */
static int
skip_field(const char **p)
{
	const char *s = *p;

	while (*s == ' ')
		s++;
	if (*s == '\0' || *s == '\n')
		return -1;
	while (*s != ' ' && *s != '\0' && *s != '\n')
		s++;
	*p = s;
	return 0;
}

int
bs_parse_proc_stat(const char *text, struct bs_procstat *ps)
{
	const char *p, *rparen;
	uint64_t v;
	char *end;
	long pid;

	memset(ps, 0, sizeof(*ps));
	errno = 0;
	pid = strtol(text, &end, 10);
	if (end == text || errno != 0 || pid <= 0 || pid > INT32_MAX || *end != ' ')
		return -1;
	/* the command name is "(...)" and may contain anything, ")" included */
	if ((rparen = strrchr(text, ')')) == NULL || rparen < end)
		return -1;
	ps->pid = (int)pid;
	p = rparen + 1;
	/* field 3: state */
	while (*p == ' ')
		p++;
	if (*p == '\0' || *p == '\n')
		return -1;
	ps->state = *p++;
	/* field 4: ppid */
	if (field_u64(&p, &v) == -1 || v > INT32_MAX)
		return -1;
	ps->ppid = (int)v;
	/* fields 5..13: pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt */
	for (int i = 5; i <= 13; i++)
		if (skip_field(&p) == -1)
			return -1;
	if (field_u64(&p, &ps->utime) == -1 || field_u64(&p, &ps->stime) == -1)
		return -1;
	/* cutime and cstime are signed in proc(5) but never negative in practice */
	if (field_u64(&p, &ps->cutime) == -1 || field_u64(&p, &ps->cstime) == -1)
		return -1;
	return 0;
}

int
bs_parse_kb_line(const char *text, const char *key, uint64_t *kb)
{
	size_t klen = strlen(key);
	const char *p = text;

	for (;;) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			if (field_u64(&p, kb) == -1)
				return -1;
			while (*p == ' ')
				p++;
			return strncmp(p, "kB", 2) == 0 ? 0 : -1;
		}
		if ((p = strchr(p, '\n')) == NULL)
			return -1;
		p++;
	}
}

int
bs_parse_rss_anon(const char *text, uint64_t *kb)
{
	return bs_parse_kb_line(text, "RssAnon", kb);
}

/*
 * "TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 3": the line is found by its
 * prefix and each value by its name, so a kernel that adds a field keeps
 * working
 */
int
bs_parse_sockstat_tcp(const char *text, uint64_t *inuse, uint64_t *mem_pages)
{
	static const char line[] = "TCP:";
	const char *p = text, *end;
	bool got_inuse = false, got_mem = false;

	while (strncmp(p, line, sizeof(line) - 1) != 0) {
		if ((p = strchr(p, '\n')) == NULL)
			return -1;
		p++;
	}
	end = strchr(p, '\n');
	if (end == NULL)
		end = p + strlen(p);
	p += sizeof(line) - 1;
	while (p < end) {
		const char *name;
		size_t nlen;
		uint64_t v;

		while (p < end && *p == ' ')
			p++;
		name = p;
		while (p < end && *p != ' ')
			p++;
		nlen = (size_t)(p - name);
		while (p < end && *p == ' ')
			p++;
		if (p >= end || field_u64(&p, &v) == -1 || p > end)
			return -1;
		if (nlen == 5 && strncmp(name, "inuse", 5) == 0) {
			*inuse = v;
			got_inuse = true;
		} else if (nlen == 3 && strncmp(name, "mem", 3) == 0) {
			*mem_pages = v;
			got_mem = true;
		}
	}
	return got_inuse && got_mem ? 0 : -1;
}

double
bs_kernel_bytes_per_conn(const struct bs_kmem *a, const struct bs_kmem *b, long page_size,
    uint64_t conns)
{
	double slab, tcp;

	if (conns == 0)
		return 0;
	slab = ((double)b->slab_kb - (double)a->slab_kb) * 1024.0;
	tcp = ((double)b->tcp_mem_pages - (double)a->tcp_mem_pages) * (double)page_size;
	return (slab + tcp) / (double)conns;
}

long
bs_auto_sources(uint64_t conns, uint64_t per_addr)
{
	if (per_addr == 0)
		return -1;
	if (conns == 0)
		return 1;
	return (long)((conns + per_addr - 1) / per_addr);
}

long
bs_auto_procs(uint64_t conns, uint64_t fd_limit, uint64_t reserve)
{
	uint64_t per;

	if (fd_limit <= reserve)
		return -1;
	/* a tenth of the room left free: epoll, the channel, a late socket in TIME_WAIT */
	per = (fd_limit - reserve) * 9 / 10;
	if (per == 0)
		return -1;
	if (conns == 0)
		return 1;
	return (long)((conns + per - 1) / per);
}

double
bs_ramp_timeout_default(uint64_t conns)
{
	double t = (double)conns / BS_RAMP_FLOOR_RATE;

	return t > BS_RAMP_MIN_S ? t : BS_RAMP_MIN_S;
}

uint32_t
bs_ramp_budget(const struct bs_ramp_state *s)
{
	/* a full batch of events means more are waiting: replies to read come first */
	if (s->events >= s->batch)
		return 0;
	/* a heartbeat already late: this process is behind, opening more makes it worse */
	if (s->hb_lag_ns > s->lag_limit_ns)
		return 0;
	return s->inflight < s->max_inflight ? s->max_inflight - s->inflight : 0;
}

/* record the first rule broken; always false so callers can return it */
static bool
run_failed(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return false;
}

bool
bs_run_ok(const struct bs_outcome *o, const char **why)
{
	if (why != NULL)
		*why = NULL;
	if (o->connect_failed > 0)
		return run_failed(why, "connects failed");
	/* churn reconnects all the time: its -c is parallel slots, not connections */
	if (o->mode != BS_CHURN && o->connected < o->asked)
		return run_failed(why, "connections never established");
	if (o->verify_errors > 0)
		return run_failed(why, "wrong bytes or frames received");
	if (o->mode == BS_IDLE) {
		/* ERROR frames come with every close: the close counts decide */
		if (o->closes_expected && o->open_at_end > 0)
			return run_failed(why, "connections not closed by the server");
		if (!o->closes_expected && o->server_closed > 0)
			return run_failed(why, "connections closed by the server");
		return true;
	}
	if (o->error_frames > 0)
		return run_failed(why, "ERROR frames received");
	if (o->msgs == 0)
		return run_failed(why, "no message echoed");
	return true;
}
