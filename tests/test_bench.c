/*
 * bench tests: the report arithmetic of sockserv-bench (benchstat), its
 * automatic sizing (-S auto, -P auto, the ramp limit, the ramp's pacing), the
 * rule behind its exit status, and the channel between its processes.  The histogram's error bound is checked
 * against exact percentiles of the same random samples; the random test
 * prints its seed and BENCH_SEED=<n> replays it.
 */
#include <CUnit/CUnit.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "benchstat.h"

void test_bench_register(void);

static int
near(double a, double b)
{
	return fabs(a - b) < 1e-9 * (1 + fabs(b));
}

#define NEAR(a, b) near((a), (b))

static struct bs_hist *
hist_new(void)
{
	struct bs_hist *h = malloc(sizeof(*h));

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	bs_hist_init(h);
	return h;
}

static void
test_hist_buckets_tile_the_whole_range(void)
{
	int gaps = 0;

	CU_ASSERT_EQUAL(bs_hist_bucket_lo(0), 0);
	for (size_t i = 0; i + 1 < BS_HIST_BUCKETS; i++)
		if (bs_hist_bucket_lo(i + 1) != bs_hist_bucket_hi(i) + 1)
			gaps++;
	CU_ASSERT_EQUAL(gaps, 0);
	CU_ASSERT_EQUAL(bs_hist_bucket_hi(BS_HIST_BUCKETS - 1), UINT64_MAX);
	CU_ASSERT_EQUAL(bs_hist_index(UINT64_MAX), BS_HIST_BUCKETS - 1);
}

static void
test_hist_bucket_holds_value_within_relative_error(void)
{
	uint64_t probes[] = { 0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096,
	    999999, 1000000, 123456789, (1ULL << 40) + 12345, UINT64_MAX - 1, UINT64_MAX };
	int bad = 0;

	for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
		uint64_t v = probes[k];
		size_t i = bs_hist_index(v);
		uint64_t lo = bs_hist_bucket_lo(i), hi = bs_hist_bucket_hi(i);

		if (v < lo || v > hi)
			bad++;
		/* width at most 1/64 of the smallest value in the bucket */
		if (v >= BS_HIST_SUB && (hi - lo) > lo / BS_HIST_SUB)
			bad++;
		if (v < BS_HIST_SUB && lo != hi)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void
test_hist_percentiles_exact_for_small_values(void)
{
	struct bs_hist *h = hist_new();

	for (uint64_t v = 1; v <= 100; v++)
		bs_hist_add(h, v);
	CU_ASSERT_EQUAL(h->count, 100);
	CU_ASSERT_EQUAL(h->min, 1);
	CU_ASSERT_EQUAL(h->max, 100);
	CU_ASSERT_EQUAL(bs_hist_percentile(h, 0), 1);
	CU_ASSERT_EQUAL(bs_hist_percentile(h, 50), 50);
	CU_ASSERT_EQUAL(bs_hist_percentile(h, 99), 99);
	CU_ASSERT_EQUAL(bs_hist_percentile(h, 99.9), 100);
	CU_ASSERT_EQUAL(bs_hist_percentile(h, 100), 100);
	CU_ASSERT(NEAR(bs_hist_mean(h), 50.5));
	free(h);
}

static void
test_hist_empty_reports_zero(void)
{
	struct bs_hist *h = hist_new();

	CU_ASSERT_EQUAL(bs_hist_percentile(h, 50), 0);
	CU_ASSERT(NEAR(bs_hist_mean(h), 0));
	CU_ASSERT_EQUAL(h->count, 0);
	free(h);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void
test_hist_percentile_never_below_and_within_one_bucket_of_truth(void)
{
	enum { N = 20000 };
	const double ps[] = { 0, 1, 10, 50, 90, 99, 99.9, 100 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct bs_hist *h = hist_new();
	unsigned seed = (unsigned)time(NULL);
	const char *env = getenv("BENCH_SEED");
	int bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	if (env != NULL)
		seed = (unsigned)strtoul(env, NULL, 10);
	srandom(seed);
	for (size_t i = 0; i < N; i++) {
		/* log-uniform over 1 us .. ~1 s in ns: the shape latencies have */
		double e = 3 + 6 * ((double)random() / RAND_MAX);
		v[i] = (uint64_t)pow(10, e);
		bs_hist_add(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		size_t rank = ps[k] <= 0 ? 1 : (size_t)ceil(ps[k] / 100.0 * N);
		uint64_t truth = v[rank - 1], got = bs_hist_percentile(h, ps[k]);

		if (got < truth || (double)got > (double)truth * (1.0 + 1.0 / BS_HIST_SUB))
			bad++;
	}
	if (bad)
		fprintf(stderr, "\nbench: histogram percentile check failed, BENCH_SEED=%u\n", seed);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(h->min, v[0]);
	CU_ASSERT_EQUAL(h->max, v[N - 1]);
	free(v);
	free(h);
}

static void
test_hist_merge_equals_one_histogram_of_everything(void)
{
	struct bs_hist *a = hist_new(), *b = hist_new(), *all = hist_new(), *empty = hist_new();

	for (uint64_t v = 10; v < 5000; v += 7) {
		bs_hist_add((v % 3) ? a : b, v * 1000);
		bs_hist_add(all, v * 1000);
	}
	bs_hist_merge(a, b);
	bs_hist_merge(a, empty);
	CU_ASSERT_EQUAL(a->count, all->count);
	CU_ASSERT_EQUAL(a->min, all->min);
	CU_ASSERT_EQUAL(a->max, all->max);
	CU_ASSERT(NEAR(a->sum, all->sum));
	CU_ASSERT_EQUAL(memcmp(a->bucket, all->bucket, sizeof(a->bucket)), 0);
	/* merging into an empty histogram takes min from the source */
	bs_hist_merge(empty, all);
	CU_ASSERT_EQUAL(empty->min, all->min);
	free(a);
	free(b);
	free(all);
	free(empty);
}

static void
test_percentile_of_samples_by_nearest_rank(void)
{
	double v[] = { 5, -3, 10, 1, 7, 2, 8, 4, 9, 6 };

	CU_ASSERT(isnan(bs_percentile(v, 0, 50)));
	CU_ASSERT(NEAR(bs_percentile(v, 10, 0), -3));
	CU_ASSERT(NEAR(bs_percentile(v, 10, 50), 5));
	CU_ASSERT(NEAR(bs_percentile(v, 10, 90), 9));
	CU_ASSERT(NEAR(bs_percentile(v, 10, 91), 10));
	CU_ASSERT(NEAR(bs_percentile(v, 10, 100), 10));
	/* sorted in place */
	CU_ASSERT(NEAR(v[0], -3));
	CU_ASSERT(NEAR(v[9], 10));
}

static void
test_bin_counts_put_edges_in_the_upper_bin(void)
{
	double v[] = { -1, 0, 0.5, 100, 104.9, 105, 250 };
	double edges[] = { 0, 100, 105 };
	uint64_t c[4];

	bs_bin_counts(v, 7, edges, 3, c);
	CU_ASSERT_EQUAL(c[0], 1);	/* early */
	CU_ASSERT_EQUAL(c[1], 2);	/* [0, 100) */
	CU_ASSERT_EQUAL(c[2], 2);	/* [100, 105) */
	CU_ASSERT_EQUAL(c[3], 2);	/* >= 105 */
	bs_bin_counts(v, 0, edges, 3, c);
	CU_ASSERT_EQUAL(c[0] + c[1] + c[2] + c[3], 0);
}

static void
test_rates_and_cpu_arithmetic(void)
{
	CU_ASSERT(NEAR(bs_rate(50000, 2.0), 25000));
	CU_ASSERT(NEAR(bs_rate(10, 0), 0));
	/* 2.5 s of CPU at 100 ticks/s over a million messages */
	CU_ASSERT(NEAR(bs_cpu_us_per_msg(250, 100, 1000000), 2.5));
	CU_ASSERT(NEAR(bs_cpu_us_per_msg(250, 100, 0), 0));
	CU_ASSERT(NEAR(bs_cpu_percent(50, 100, 1.0), 50));
	CU_ASSERT(NEAR(bs_cpu_percent(600, 100, 60.0), 10));
	CU_ASSERT(NEAR(bs_cpu_percent(5, 100, 0), 0));
	CU_ASSERT(NEAR(bs_bytes_per_conn(1000, 3000, 20000), 102.4));
	CU_ASSERT(bs_bytes_per_conn(3000, 1000, 1024) < 0);
	CU_ASSERT(NEAR(bs_bytes_per_conn(1000, 3000, 0), 0));
	CU_ASSERT(NEAR(bs_ratio(1.1, 1.0), 1.1));
	CU_ASSERT(NEAR(bs_ratio(1.0, 0), 0));
}

static void
test_proc_stat_parses_names_with_spaces_and_parens(void)
{
	const char *line = "4242 (sock) (serv) x) S 4200 4242 4242 0 -1 4194368 "
	    "312 0 0 0 1234 567 89 10 20 0 1 0 119091 3133440 384 "
	    "18446744073709551615 1 2 3 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
	struct bs_procstat ps;

	CU_ASSERT_EQUAL_FATAL(bs_parse_proc_stat(line, &ps), 0);
	CU_ASSERT_EQUAL(ps.pid, 4242);
	CU_ASSERT_EQUAL(ps.state, 'S');
	CU_ASSERT_EQUAL(ps.ppid, 4200);
	CU_ASSERT_EQUAL(ps.utime, 1234);
	CU_ASSERT_EQUAL(ps.stime, 567);
	CU_ASSERT_EQUAL(ps.cutime, 89);
	CU_ASSERT_EQUAL(ps.cstime, 10);
}

static void
test_proc_stat_rejects_malformed_text(void)
{
	struct bs_procstat ps;

	CU_ASSERT_EQUAL(bs_parse_proc_stat("", &ps), -1);
	CU_ASSERT_EQUAL(bs_parse_proc_stat("abc (x) S 1 2 3", &ps), -1);
	CU_ASSERT_EQUAL(bs_parse_proc_stat("12 (x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14", &ps), -1);
	/* cut short before utime */
	CU_ASSERT_EQUAL(bs_parse_proc_stat("12 (x) S 1 1 1 0 -1 0 0 0 0 0\n", &ps), -1);
	/* a non-number where utime belongs */
	CU_ASSERT_EQUAL(bs_parse_proc_stat("12 (x) S 1 1 1 0 -1 0 0 0 0 0 x 5 0 0\n", &ps), -1);
}

static void
test_proc_stat_of_this_process(void)
{
	char buf[1024];
	struct bs_procstat ps;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	CU_ASSERT_EQUAL_FATAL(bs_parse_proc_stat(buf, &ps), 0);
	CU_ASSERT_EQUAL(ps.pid, (int)getpid());
	CU_ASSERT_EQUAL(ps.ppid, (int)getppid());
	CU_ASSERT_EQUAL(ps.state, 'R');
}

static void
test_rss_anon_found_among_status_lines(void)
{
	const char *status = "Name:\tsockserv\nVmRSS:\t    5000 kB\nRssAnon:\t    1234 kB\n"
	    "RssFile:\t    3000 kB\n";
	uint64_t kb = 0;

	CU_ASSERT_EQUAL(bs_parse_rss_anon(status, &kb), 0);
	CU_ASSERT_EQUAL(kb, 1234);
	CU_ASSERT_EQUAL(bs_parse_rss_anon("Name:\tx\nVmRSS:\t 5 kB\n", &kb), -1);
	CU_ASSERT_EQUAL(bs_parse_rss_anon("RssAnon:\t  kB\n", &kb), -1);
	CU_ASSERT_EQUAL(bs_parse_rss_anon("RssAnon:\t 12 MB\n", &kb), -1);
	/* "RssAnon" must start a line */
	CU_ASSERT_EQUAL(bs_parse_rss_anon("XRssAnon:\t 12 kB\n", &kb), -1);
}

static void
test_rss_anon_of_this_process_grows_with_touched_memory(void)
{
	char buf[4096];
	uint64_t before = 0, after = 0;
	size_t big = 8u << 20;
	char *p;
	FILE *f;
	size_t n;

	f = fopen("/proc/self/status", "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	CU_ASSERT_EQUAL_FATAL(bs_parse_rss_anon(buf, &before), 0);
	p = malloc(big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 1, big);
	/* the pages must really be touched: keep the compiler from eliding it all */
	__asm__ volatile("" : : "r"(p) : "memory");
	f = fopen("/proc/self/status", "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	CU_ASSERT_EQUAL(bs_parse_rss_anon(buf, &after), 0);
	/* 8 MiB touched: at least 7 MiB more (allocator slack aside) */
	CU_ASSERT(after >= before + 7 * 1024);
	CU_ASSERT_EQUAL(p[big - 1], 1);
	free(p);
}

/* a run that went well: every rule test below breaks exactly one thing of it */
static struct bs_outcome
good_run(enum bs_mode mode)
{
	struct bs_outcome o = { .mode = mode, .asked = 4, .connected = 4, .msgs = 1000 };

	if (mode == BS_CHURN)
		o.connected = 1000;
	return o;
}

static void
test_run_ok_when_nothing_went_wrong(void)
{
	const enum bs_mode modes[] = { BS_ECHO, BS_IDLE, BS_CHURN };
	const char *why = "not set";

	for (size_t i = 0; i < 3; i++) {
		struct bs_outcome o = good_run(modes[i]);

		CU_ASSERT_TRUE(bs_run_ok(&o, &why));
		CU_ASSERT_PTR_NULL(why);
		CU_ASSERT_TRUE(bs_run_ok(&o, NULL));
	}
}

static void
test_run_fails_echo_and_churn_on_any_error(void)
{
	const enum bs_mode modes[] = { BS_ECHO, BS_CHURN };

	for (size_t i = 0; i < 2; i++) {
		struct bs_outcome o;
		const char *why = NULL;

		o = good_run(modes[i]);
		o.connect_failed = 1;
		CU_ASSERT_FALSE(bs_run_ok(&o, &why));
		CU_ASSERT_PTR_NOT_NULL(why);
		o = good_run(modes[i]);
		o.verify_errors = 1;
		CU_ASSERT_FALSE(bs_run_ok(&o, &why));
		o = good_run(modes[i]);
		o.error_frames = 1;
		CU_ASSERT_FALSE(bs_run_ok(&o, &why));
		o = good_run(modes[i]);
		o.msgs = 0;
		CU_ASSERT_FALSE(bs_run_ok(&o, NULL));
	}
}

static void
test_run_fails_echo_with_every_connect_refused(void)
{
	/* the reviewer's case: "0 ok, 2 failed" used to exit 0 */
	struct bs_outcome o = { .mode = BS_ECHO, .asked = 2, .connect_failed = 2 };
	const char *why = NULL;

	CU_ASSERT_FALSE(bs_run_ok(&o, &why));
	CU_ASSERT_PTR_NOT_NULL_FATAL(why);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "connect"));
}

static void
test_run_fails_echo_and_idle_short_of_connections(void)
{
	struct bs_outcome o = good_run(BS_ECHO);

	o.connected = 3;
	CU_ASSERT_FALSE(bs_run_ok(&o, NULL));
	o = good_run(BS_IDLE);
	o.connected = 3;
	CU_ASSERT_FALSE(bs_run_ok(&o, NULL));
	/* churn's -c is slots: fewer connections than slots is no failure by itself */
	o = good_run(BS_CHURN);
	o.asked = 64;
	o.connected = 10;
	CU_ASSERT_TRUE(bs_run_ok(&o, NULL));
}

static void
test_run_idle_without_timeout_fails_on_server_close(void)
{
	struct bs_outcome o = good_run(BS_IDLE);
	const char *why = NULL;

	o.server_closed = 1;
	o.open_at_end = 3;
	o.error_frames = 1;
	CU_ASSERT_FALSE(bs_run_ok(&o, &why));
	CU_ASSERT_PTR_NOT_NULL(why);
	o = good_run(BS_IDLE);
	o.connect_failed = 1;
	CU_ASSERT_FALSE(bs_run_ok(&o, NULL));
	o = good_run(BS_IDLE);
	o.verify_errors = 1;
	CU_ASSERT_FALSE(bs_run_ok(&o, NULL));
	/* idle counts PONGs: none (e.g. --raw) is no failure */
	o = good_run(BS_IDLE);
	o.msgs = 0;
	o.open_at_end = 4;
	CU_ASSERT_TRUE(bs_run_ok(&o, NULL));
}

static void
test_run_idle_with_timeout_needs_every_connection_closed(void)
{
	struct bs_outcome o = good_run(BS_IDLE);
	const char *why = NULL;

	/* every connection timed out: ERROR frames and closes are what was asked */
	o.closes_expected = true;
	o.server_closed = 4;
	o.error_frames = 4;
	o.open_at_end = 0;
	CU_ASSERT_TRUE(bs_run_ok(&o, &why));
	CU_ASSERT_PTR_NULL(why);
	/* one left open at the end of the run */
	o.server_closed = 3;
	o.error_frames = 3;
	o.open_at_end = 1;
	CU_ASSERT_FALSE(bs_run_ok(&o, &why));
	CU_ASSERT_PTR_NOT_NULL(why);
	/* expected closes do not excuse a failed connect */
	o = good_run(BS_IDLE);
	o.closes_expected = true;
	o.server_closed = 4;
	o.connect_failed = 1;
	CU_ASSERT_FALSE(bs_run_ok(&o, NULL));
}

/* a DONE record with many lateness samples is far larger than a socket buffer */
static void
test_channel_carries_a_record_larger_than_the_socket_buffer_whole(void)
{
	enum { BIG = 4 << 20 };
	uint8_t *out = malloc(BIG), *in = malloc(BIG);
	int sv[2], status = -1;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	for (size_t i = 0; i < BIG; i++)
		out[i] = (uint8_t)(i * 7 + (i >> 12));
	CU_ASSERT_EQUAL_FATAL(bench_channel_pair(sv), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		close(sv[0]);
		_exit(bench_channel_write(sv[1], out, BIG) == 0 ? 0 : 1);
	}
	close(sv[1]);
	CU_ASSERT_EQUAL(bench_channel_read(sv[0], in, BIG, bench_mono_s() + 30), 0);
	CU_ASSERT_EQUAL(memcmp(in, out, BIG), 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the writer is gone: EOF is -1, not a wait for the deadline */
	CU_ASSERT_EQUAL(bench_channel_read(sv[0], in, 1, bench_mono_s() + 30), -1);
	close(sv[0]);
	free(out);
	free(in);
}

static void
test_channel_read_gives_up_at_the_deadline_and_write_to_a_gone_peer_fails(void)
{
	int sv[2];
	uint8_t b = 'g';
	double t0;
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);

	CU_ASSERT_EQUAL_FATAL(bench_channel_pair(sv), 0);
	t0 = bench_mono_s();
	CU_ASSERT_EQUAL(bench_channel_read(sv[0], &b, 1, t0 + 0.05), -1);
	CU_ASSERT(bench_mono_s() - t0 >= 0.05);
	close(sv[0]);
	/* EPIPE, never SIGPIPE (the default action, restored above, would kill the runner) */
	CU_ASSERT_EQUAL(bench_channel_write(sv[1], &b, 1), -1);
	close(sv[1]);
	signal(SIGPIPE, old);
}

/* --msg-rate: even spacing from go, one process's share as a fraction */
static void
test_paced_sends_are_due_evenly_from_the_start(void)
{
	/* 10 000 msgs/s in all, 100 connections, this process holds all 100 */
	uint64_t num = 10000 * 100, den = 100;

	CU_ASSERT_EQUAL(bs_paced_due(num, den, 0), 1);		/* the first at once */
	CU_ASSERT_EQUAL(bs_paced_due(num, den, 99999), 1);
	CU_ASSERT_EQUAL(bs_paced_due(num, den, 100000), 2);	/* one per 100 us */
	CU_ASSERT_EQUAL(bs_paced_due(num, den, 1000000000), 10001);
	CU_ASSERT_EQUAL(bs_paced_at_ns(num, den, 0), 0);
	CU_ASSERT_EQUAL(bs_paced_at_ns(num, den, 1), 100000);
	CU_ASSERT_EQUAL(bs_paced_at_ns(num, den, 10000), 1000000000);
	/* a share of 1/3 of 1000 msgs/s: 333.3/s, message k at ceil(3 ms * k) */
	num = 1000 * 1; den = 3;
	CU_ASSERT_EQUAL(bs_paced_at_ns(num, den, 1), 3000000);
	CU_ASSERT_EQUAL(bs_paced_due(num, den, 2999999), 1);
	CU_ASSERT_EQUAL(bs_paced_due(num, den, 3000000), 2);
	/* the two agree: message k is due exactly from its time on */
	for (uint64_t k = 1; k < 5000; k += 7) {
		uint64_t n7 = 7919, d7 = 13, at = bs_paced_at_ns(n7, d7, k);

		CU_ASSERT(bs_paced_due(n7, d7, at) >= k + 1);
		CU_ASSERT(bs_paced_due(n7, d7, at - 1) <= k);
	}
	/* a day at the largest rate and connection count does not overflow */
	CU_ASSERT_EQUAL(bs_paced_due(100000000ull * 10000000, 10000000, 86400000000000ull),
	    8640000000001ull);
	CU_ASSERT_EQUAL(bs_paced_due(0, 1, 1000), 0);
	CU_ASSERT_EQUAL(bs_paced_at_ns(0, 1, 1), UINT64_MAX);
}

/* -S auto: at most 4 000 per address (the port search slows beyond ~5 000) */
static void
test_auto_sources_keep_each_address_under_its_share(void)
{
	CU_ASSERT_EQUAL(bs_auto_sources(1, 4000), 1);
	CU_ASSERT_EQUAL(bs_auto_sources(4000, 4000), 1);
	CU_ASSERT_EQUAL(bs_auto_sources(4001, 4000), 2);
	CU_ASSERT_EQUAL(bs_auto_sources(100000, 4000), 25);
	CU_ASSERT_EQUAL(bs_auto_sources(1000000, 4000), 250);
	CU_ASSERT_EQUAL(bs_auto_sources(1000001, 4000), 251);
	CU_ASSERT_EQUAL(bs_auto_sources(0, 4000), 1);
	CU_ASSERT_EQUAL(bs_auto_sources(10, 0), -1);
	/* whatever the count, no address gets more than its share */
	for (uint64_t n = 1; n < 2000000; n = n * 3 + 7) {
		long k = bs_auto_sources(n, 4000);

		CU_ASSERT((n + (uint64_t)k - 1) / (uint64_t)k <= 4000);
		CU_ASSERT(k == 1 || (n + (uint64_t)k - 2) / (uint64_t)(k - 1) > 4000);
	}
}

/* -P auto: each process within 90 % of what the limit leaves after the reserve */
static void
test_auto_procs_leave_headroom_under_the_descriptor_limit(void)
{
	/* 20 000 here, 32 reserved: (19968 * 9 / 10) = 17971 per process */
	CU_ASSERT_EQUAL(bs_auto_procs(1000000, 20000, 32), 56);
	CU_ASSERT_EQUAL(bs_auto_procs(17971, 20000, 32), 1);
	CU_ASSERT_EQUAL(bs_auto_procs(17972, 20000, 32), 2);
	CU_ASSERT_EQUAL(bs_auto_procs(100, 1024, 32), 1);
	CU_ASSERT_EQUAL(bs_auto_procs(200000, 1024, 32), 225);
	CU_ASSERT_EQUAL(bs_auto_procs(0, 20000, 32), 1);
	/* no room at all */
	CU_ASSERT_EQUAL(bs_auto_procs(10, 32, 32), -1);
	CU_ASSERT_EQUAL(bs_auto_procs(10, 16, 32), -1);
	for (uint64_t n = 1; n < 3000000; n = n * 5 + 3) {
		long p = bs_auto_procs(n, 20000, 32);

		CU_ASSERT((n + (uint64_t)p - 1) / (uint64_t)p + 32 < 20000);
	}
}

/* the ramp limit grows with the count: 1 000 000 gets 500 s, not 60 */
static void
test_ramp_timeout_default_scales_with_the_count(void)
{
	CU_ASSERT(NEAR(bs_ramp_timeout_default(1), 60));
	CU_ASSERT(NEAR(bs_ramp_timeout_default(100000), 60));
	CU_ASSERT(NEAR(bs_ramp_timeout_default(120000), 60));
	CU_ASSERT(NEAR(bs_ramp_timeout_default(200000), 100));
	CU_ASSERT(NEAR(bs_ramp_timeout_default(1000000), 500));
	CU_ASSERT(bs_ramp_timeout_default(2000000) > bs_ramp_timeout_default(1000000));
}

/* the ramp opens nothing while replies wait or a heartbeat is late */
static void
test_ramp_budget_yields_to_replies_and_heartbeats(void)
{
	struct bs_ramp_state s = { .hb_lag_ns = 0, .lag_limit_ns = 1000000000, .events = 10,
	    .batch = 1024, .inflight = 6, .max_inflight = 256 };

	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 250);
	s.inflight = 256;
	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 0);
	s.inflight = 300;	/* never wraps */
	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 0);
	s.inflight = 0;
	/* a heartbeat late by exactly the limit is still on time; one ns more is not */
	s.hb_lag_ns = 1000000000;
	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 256);
	s.hb_lag_ns = 1000000001;
	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 0);
	/* a full batch of events: more are waiting to be read */
	s.hb_lag_ns = 0;
	s.events = 1024;
	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 0);
	s.events = 1023;
	CU_ASSERT_EQUAL(bs_ramp_budget(&s), 256);
}

static void
test_meminfo_and_sockstat_are_parsed(void)
{
	static const char meminfo[] =
	    "MemTotal:       24683736 kB\n"
	    "MemFree:        23555020 kB\n"
	    "Slab:             120456 kB\n"
	    "SReclaimable:      86492 kB\n"
	    "SUnreclaim:        33964 kB\n"
	    "KernelStack:        5296 kB\n";
	static const char sockstat[] =
	    "sockets: used 2000016\n"
	    "TCP: inuse 2000001 orphan 0 tw 3 alloc 2000004 mem 4242\n"
	    "UDP: inuse 0 mem 0\n";
	uint64_t kb = 0, inuse = 0, mem = 0;

	CU_ASSERT_EQUAL(bs_parse_kb_line(meminfo, "Slab", &kb), 0);
	CU_ASSERT_EQUAL(kb, 120456);
	CU_ASSERT_EQUAL(bs_parse_kb_line(meminfo, "SUnreclaim", &kb), 0);
	CU_ASSERT_EQUAL(kb, 33964);
	/* a key is a whole name: "Slab" is not the start of "SlabXYZ" */
	CU_ASSERT_EQUAL(bs_parse_kb_line("SlabXYZ: 5 kB\n", "Slab", &kb), -1);
	CU_ASSERT_EQUAL(bs_parse_kb_line(meminfo, "Missing", &kb), -1);
	CU_ASSERT_EQUAL(bs_parse_kb_line("Slab: x kB\n", "Slab", &kb), -1);
	CU_ASSERT_EQUAL(bs_parse_sockstat_tcp(sockstat, &inuse, &mem), 0);
	CU_ASSERT_EQUAL(inuse, 2000001);
	CU_ASSERT_EQUAL(mem, 4242);
	/* the UDP line's mem is not TCP's */
	CU_ASSERT_EQUAL(bs_parse_sockstat_tcp("UDP: inuse 0 mem 7\n", &inuse, &mem), -1);
	CU_ASSERT_EQUAL(bs_parse_sockstat_tcp("TCP: inuse 5 orphan 0\n", &inuse, &mem), -1);
	CU_ASSERT_EQUAL(bs_parse_sockstat_tcp("TCP: inuse 5 mem\n", &inuse, &mem), -1);
	/* a field the kernel adds later is skipped, and the last line may lack its newline */
	CU_ASSERT_EQUAL(bs_parse_sockstat_tcp("TCP: inuse 9 new 1 mem 2", &inuse, &mem), 0);
	CU_ASSERT_EQUAL(inuse, 9);
	CU_ASSERT_EQUAL(mem, 2);
}

static void
test_kernel_bytes_per_connection(void)
{
	struct bs_kmem a = { .ok = true, .slab_kb = 100000, .tcp_mem_pages = 10 };
	struct bs_kmem b = { .ok = true, .slab_kb = 100000 + 8000, .tcp_mem_pages = 10 + 500 };

	/* (8000 kB + 500 pages of 4 kB) over 1000 connections */
	CU_ASSERT(NEAR(bs_kernel_bytes_per_conn(&a, &b, 4096, 1000),
	    (8000.0 * 1024 + 500.0 * 4096) / 1000));
	CU_ASSERT(NEAR(bs_kernel_bytes_per_conn(&a, &b, 4096, 0), 0));
	/* memory freed by others meanwhile shows as it is, not as a huge unsigned number */
	CU_ASSERT(bs_kernel_bytes_per_conn(&b, &a, 4096, 1000) < 0);
}

#define ADD(f) CU_add_test(s, #f, f)

void
test_bench_register(void)
{
	CU_pSuite s;

	if ((s = CU_add_suite("bench", NULL, NULL)) == NULL)
		return;
	ADD(test_hist_buckets_tile_the_whole_range);
	ADD(test_hist_bucket_holds_value_within_relative_error);
	ADD(test_hist_percentiles_exact_for_small_values);
	ADD(test_hist_empty_reports_zero);
	ADD(test_hist_percentile_never_below_and_within_one_bucket_of_truth);
	ADD(test_hist_merge_equals_one_histogram_of_everything);
	ADD(test_percentile_of_samples_by_nearest_rank);
	ADD(test_bin_counts_put_edges_in_the_upper_bin);
	ADD(test_rates_and_cpu_arithmetic);
	ADD(test_auto_sources_keep_each_address_under_its_share);
	ADD(test_auto_procs_leave_headroom_under_the_descriptor_limit);
	ADD(test_ramp_timeout_default_scales_with_the_count);
	ADD(test_ramp_budget_yields_to_replies_and_heartbeats);
	ADD(test_meminfo_and_sockstat_are_parsed);
	ADD(test_kernel_bytes_per_connection);
	ADD(test_paced_sends_are_due_evenly_from_the_start);
	ADD(test_proc_stat_parses_names_with_spaces_and_parens);
	ADD(test_proc_stat_rejects_malformed_text);
	ADD(test_proc_stat_of_this_process);
	ADD(test_rss_anon_found_among_status_lines);
	ADD(test_rss_anon_of_this_process_grows_with_touched_memory);
	ADD(test_run_ok_when_nothing_went_wrong);
	ADD(test_run_fails_echo_and_churn_on_any_error);
	ADD(test_run_fails_echo_with_every_connect_refused);
	ADD(test_run_fails_echo_and_idle_short_of_connections);
	ADD(test_run_idle_without_timeout_fails_on_server_close);
	ADD(test_run_idle_with_timeout_needs_every_connection_closed);
	ADD(test_channel_carries_a_record_larger_than_the_socket_buffer_whole);
	ADD(test_channel_read_gives_up_at_the_deadline_and_write_to_a_gone_peer_fails);
}
