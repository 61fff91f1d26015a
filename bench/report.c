/*
 * report: the client processes' results summed and judged (bs_run_ok()
 * decides the exit status), the server's CPU over the measured interval,
 * and the two printed forms, a table for people and one JSON object for
 * bench/run.sh.  Each mode prints its own lines through its operations.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* the server's numbers between two samples */
struct srv_delta {
	bool ok;
	int nprocs;
	double cpu_s;
	double cpu_pct;
	double cpu_us_per_msg;
};

static double
ns_to_us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void
report_judge(struct bench_report *rep, const struct bench_children *kids,
    const struct bench_opts *o)
{
	const struct bench_result *t = &rep->r;
	struct bs_outcome out = {
		.mode = o->mode,
		.asked = (uint64_t)o->conns,
		.connected = t->connected,
		.connect_failed = t->connect_failed,
		.msgs = t->msgs,
		.verify_errors = t->verify_errors,
		.error_frames = t->error_frames,
		.server_closed = t->server_closed,
		.open_at_end = t->open_at_end,
		.closes_expected = o->timeout > 0,
	};

	rep->ok = bs_run_ok(&out, &rep->why);
	/* the sum misses a process that never reported: nothing says its share went well */
	for (long i = 0; i < kids->n && rep->ok; i++)
		if (!kids->kid[i].done) {
			rep->ok = false;
			rep->why = "a client process stopped reporting";
		}
}

void
bench_report_sum(struct bench_report *rep, const struct bench_children *kids,
    const struct bench_opts *o)
{
	struct bench_result *t = &rep->r;

	memset(t, 0, sizeof(*t));
	bs_hist_init(&t->lat);
	for (long i = 0; i < kids->n; i++) {
		const struct bench_result *r = &kids->kid[i].r;

		t->connected += r->connected;
		t->connect_failed += r->connect_failed;
		t->msgs += r->msgs;
		t->bytes += r->bytes;
		t->verify_errors += r->verify_errors;
		t->server_closed += r->server_closed;
		t->open_at_end += r->open_at_end;
		t->heartbeats += r->heartbeats;
		t->hb_run += r->hb_run;
		t->error_frames += r->error_frames;
		t->ramp_paused += r->ramp_paused;
		if (r->max_hb_lag_s > t->max_hb_lag_s)
			t->max_hb_lag_s = r->max_hb_lag_s;
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
		bench_die("out of memory");
	for (long i = 0; i < kids->n; i++) {
		if (kids->kid[i].late == NULL)
			continue;
		memcpy(rep->late + rep->nlate, kids->kid[i].late,
		    kids->kid[i].r.nlate * sizeof(double));
		rep->nlate += kids->kid[i].r.nlate;
	}
	report_judge(rep, kids, o);
}

static struct srv_delta
srv_delta(const struct bench_report *rep, const struct bench_srv_sample *a,
    const struct bench_srv_sample *b, uint64_t msgs)
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

/* the server's CPU over the measured interval, per message of the mode */
static struct srv_delta
run_srv_delta(const struct bench_report *rep, const struct bench_opts *o)
{
	return srv_delta(rep, &rep->s1, &rep->s2, o->ops->cpu_msgs(&rep->r));
}

void
bench_report_json_hist(const struct bs_hist *h, const char *unit_key)
{
	printf(", \"%s_p50\": %.1f, \"%s_p99\": %.1f, \"%s_p999\": %.1f, \"%s_max\": %.1f, "
	    "\"%s_mean\": %.1f", unit_key, ns_to_us(bs_hist_percentile(h, 50)), unit_key,
	    ns_to_us(bs_hist_percentile(h, 99)), unit_key,
	    ns_to_us(bs_hist_percentile(h, 99.9)), unit_key,
	    ns_to_us(h->max), unit_key, bs_hist_mean(h) / 1000.0);
}

/* --stats: the messages the server counted over the measured interval */
static uint64_t
server_msgs(const struct bench_report *rep)
{
	return rep->s2.msgs_in > rep->s1.msgs_in ? rep->s2.msgs_in - rep->s1.msgs_in : 0;
}

static void
report_json(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;
	struct srv_delta d = run_srv_delta(rep, o);

	printf("{\"mode\": \"%s\", \"host\": \"%s\", \"port\": %u, \"codec\": \"%s\", "
	    "\"conns\": %ld, \"depth\": %ld, \"size\": %ld, \"seconds\": %.3f, "
	    "\"interval\": %.3f, \"sources\": %ld, \"processes\": %ld",
	    o->ops->name, o->host, o->port, o->raw ? "raw" : "frame", o->conns, o->depth,
	    o->size, o->seconds, o->interval, o->sources, o->procs);
	printf(", \"ok\": %s", rep->ok ? "true" : "false");
	if (!rep->ok)
		printf(", \"failure\": \"%s\"", rep->why);
	printf(", \"connected\": %" PRIu64 ", \"connect_failed\": %" PRIu64
	    ", \"server_closed\": %" PRIu64 ", \"verify_errors\": %" PRIu64
	    ", \"error_frames\": %" PRIu64 ", \"messages\": %" PRIu64,
	    r->connected, r->connect_failed, r->server_closed, r->verify_errors,
	    r->error_frames, r->msgs);
	o->ops->json(rep, o);
	if (d.ok)
		printf(", \"server_pid\": %d, \"server_procs\": %d, \"server_cpu_s\": %.3f, "
		    "\"server_cpu_pct\": %.2f, \"server_cpu_us_per_msg\": %.4f",
		    o->server_pid, d.nprocs, d.cpu_s, d.cpu_pct, d.cpu_us_per_msg);
	if (rep->s1.msgs_ok && rep->s2.msgs_ok)
		printf(", \"server_msgs_in\": %" PRIu64 ", \"server_msgs_in_per_s\": %.1f",
		    server_msgs(rep), bs_rate(server_msgs(rep), rep->s2.at - rep->s1.at));
	printf("}\n");
}

void
bench_report_lat(const char *what, const struct bs_hist *h)
{
	if (h->count == 0)
		return;
	printf("  %-16s p50 %.1f us   p99 %.1f us   p99.9 %.1f us   max %.1f us\n", what,
	    ns_to_us(bs_hist_percentile(h, 50)), ns_to_us(bs_hist_percentile(h, 99)),
	    ns_to_us(bs_hist_percentile(h, 99.9)), ns_to_us(h->max));
}

static void
report_table(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;
	struct srv_delta d = run_srv_delta(rep, o);

	printf("sockserv-bench %s %s:%u %s, %ld connections, %ld process%s", o->ops->name,
	    o->host, o->port, o->raw ? "raw" : "frame", o->conns, o->procs,
	    o->procs == 1 ? "" : "es");
	if (o->ops->table_title != NULL)
		o->ops->table_title(o);
	printf("\n");
	printf("  %-16s %" PRIu64 " ok, %" PRIu64 " failed\n", "connections", r->connected,
	    r->connect_failed);
	o->ops->table(rep, o);
	printf("  %-16s %" PRIu64 " closed by the server, %" PRIu64 " ERROR frames, %" PRIu64
	    " wrong bytes or frames\n", "errors", r->server_closed, r->error_frames,
	    r->verify_errors);
	if (d.ok)
		printf("  %-16s pid %d (%d processes): %.2f s CPU = %.1f %% of a core, "
		    "%.3f us per %s\n", "server", o->server_pid, d.nprocs, d.cpu_s, d.cpu_pct,
		    d.cpu_us_per_msg, o->ops->cpu_unit);
	if (rep->s1.msgs_ok && rep->s2.msgs_ok)
		printf("  %-16s %" PRIu64 " messages received = %.1f/s (its statistics)\n",
		    "server counted", server_msgs(rep),
		    bs_rate(server_msgs(rep), rep->s2.at - rep->s1.at));
	if (rep->ok)
		printf("  %-16s ok\n", "result");
	else
		printf("  %-16s FAILED: %s\n", "result", rep->why);
}

void
bench_report_print(struct bench_report *rep, const struct bench_opts *o)
{
	if (o->json)
		report_json(rep, o);
	else
		report_table(rep, o);
}
