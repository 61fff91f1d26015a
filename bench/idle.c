/*
 * idle mode: conns connections each send a PING (or a raw byte) at connect
 * and then every -i seconds.  Reports how many stay open, how many the
 * server closed and the connect rate while ramping up.  -i 0 makes them
 * silent after the first PING; with --timeout (the server's
 * heartbeat_timeout) the report has the histogram of close time - due
 * time, "due" being the client's last byte sent plus the timeout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

/* lateness histogram bin edges, ms (heartbeat timing figure) */
static const double late_edges[] = { 0, 10, 25, 50, 75, 100, 105, 110, 125, 150, 200, 500, 1000 };
#define NLATE_EDGES (sizeof(late_edges) / sizeof(late_edges[0]))

/* silent after the first PING, and the server's timeout known: its closes are timed */
static bool
idle_times_closes(const struct bench_opts *o)
{
	return o->interval == 0 && o->timeout > 0;
}

static void
idle_setup(struct bench_child *ch)
{
	size_t n = ch->n ? ch->n : 1;

	if ((ch->hbq = calloc(n, sizeof(uint32_t))) == NULL ||
	    (ch->late = calloc(n, sizeof(double))) == NULL)
		bench_die("out of memory");
	/* a raw server closes without an ERROR frame: nothing to time */
	ch->stamp_closes = idle_times_closes(ch->o) && !ch->o->raw;
}

static void
idle_hb_push(struct bench_child *ch, uint32_t i)
{
	ch->hbq[(ch->hbq_head + ch->hbq_len) % ch->n] = i;
	ch->hbq_len++;
}

/* one heartbeat (PING, or one raw byte) */
static void
idle_send_heartbeat(struct bench_child *ch, struct bconn *c)
{
	static const uint8_t beat = 'h';
	int rc;

	if (ch->o->raw) {
		rc = bconn_write(ch, c, &beat, 1);
	} else {
		uint8_t ping[FRAME_HDR_LEN];

		proto_frame_header(ping, FRAME_PING, 0);
		rc = bconn_write(ch, c, ping, sizeof(ping));
	}
	if (rc == -1) {
		bench_note_fail(ch, &ch->r.first_close, "write", errno);
		bconn_server_closed(ch, c);
		return;
	}
	c->t0 = ch->now;
	ch->r.heartbeats++;
	if (ch->phase == BPH_RUN)
		ch->r.hb_run++;
	if (ch->o->interval > 0) {
		c->next_hb = ch->now + (uint64_t)(ch->o->interval * 1e9);
		idle_hb_push(ch, (uint32_t)(c - ch->c));
	}
}

static void
idle_connected(struct bench_child *ch, struct bconn *c)
{
	/* raw has no PONG: a raw connection is ready once connected */
	if (ch->o->raw) {
		c->ready = true;
		ch->inflight--;
		ch->settled++;
	}
	idle_send_heartbeat(ch, c);
}

/* PONGs and, when the server times a connection out, its ERROR frame */
static ssize_t
idle_frames(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (ch->o->raw)
		return (ssize_t)n;
	for (;;) {
		struct proto_msg m;
		enum proto_status st = proto_decode(&ch->codec, p + off, n - off, &m);

		if (st == PROTO_NEED_MORE)
			break;
		if (st == PROTO_ERROR) {
			ch->r.verify_errors++;
			return -1;
		}
		switch (m.type) {
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
			bench_note_fail(ch, &ch->r.first_close, "ERROR frame", 0);
			return -1;
		default:
			/* a frame of another (or undefined) type is wrong, the stream goes on */
			ch->r.verify_errors++;
			break;
		}
		off += m.consumed;
	}
	return (ssize_t)off;
}

static ssize_t
idle_input(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	ssize_t used = idle_frames(ch, c, p, n);

	if (used < 0) {
		bconn_server_closed(ch, c);
		return -1;
	}
	return used;
}

/* send the heartbeats that are due: the FIFO is in due order, as every period is the same */
static void
idle_tick(struct bench_child *ch)
{
	while (ch->hbq_len > 0) {
		uint32_t i = ch->hbq[ch->hbq_head];
		struct bconn *c = &ch->c[i];

		if (c->st == BCONN_OPEN && c->next_hb > ch->now)
			break;
		ch->hbq_head = (ch->hbq_head + 1) % ch->n;
		ch->hbq_len--;
		if (c->st == BCONN_OPEN)
			idle_send_heartbeat(ch, c);
	}
}

/* wake for the next heartbeat due */
static int
idle_timeout_ms(const struct bench_child *ch, int ms)
{
	if (ch->hbq_len > 0) {
		const struct bconn *c = &ch->c[ch->hbq[ch->hbq_head]];
		int64_t left = c->next_hb > ch->now ?
		    (int64_t)((c->next_hb - ch->now) / 1000000) + 1 : 0;

		if (left < ms)
			ms = (int)left;
	}
	return ms;
}

static bool
idle_until_all_closed(const struct bench_opts *o)
{
	return o->interval == 0;
}

/*
 * the server's CPU per heartbeat: what an idle connection costs it; the CPU
 * is the measured interval's, so are the heartbeats (not the ramp's too)
 */
static uint64_t
idle_cpu_msgs(const struct bench_result *r)
{
	return r->hb_run;
}

static void
idle_table_title(const struct bench_opts *o)
{
	printf(", heartbeat %s", o->interval > 0 ? "" : "none after the first");
	if (o->interval > 0)
		printf("%g s", o->interval);
}

/* the kernel's share: Slab and TCP buffer pages, before any connection -> all open */
static double
idle_kernel_per_conn(const struct bench_report *rep)
{
	return bs_kernel_bytes_per_conn(&rep->s0.k, &rep->s1.k, sysconf(_SC_PAGESIZE),
	    rep->r.connected);
}

static void
idle_table_kernel(const struct bench_report *rep)
{
	const struct bs_kmem *a = &rep->s0.k, *b = &rep->s1.k, *e = &rep->s2.k;

	if (!a->ok || !b->ok || rep->r.connected == 0)
		return;
	printf("  %-16s Slab %" PRIu64 " -> %" PRIu64 " kB (SUnreclaim %" PRIu64 " -> %" PRIu64
	    " kB), TCP %" PRIu64 " -> %" PRIu64 " sockets, %" PRIu64 " -> %" PRIu64
	    " buffer pages\n", "kernel", a->slab_kb, b->slab_kb, a->sunreclaim_kb,
	    b->sunreclaim_kb, a->tcp_inuse, b->tcp_inuse, a->tcp_mem_pages, b->tcp_mem_pages);
	printf("  %-16s %.0f bytes/connection (both ends: client and server socket)",
	    "", idle_kernel_per_conn(rep));
	if (e->ok)
		printf("; at the end %" PRIu64 " TCP buffer pages", e->tcp_mem_pages);
	printf("\n");
}

static void
idle_table(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;

	printf("  %-16s %.2f s = %.0f conns/s\n", "ramp-up", rep->ramp_wall_s,
	    bs_rate(r->connected, rep->ramp_wall_s));
	bench_report_lat("first PONG", &r->lat);
	if (o->interval > 0)
		printf("  %-16s latest sent %.3f s late; ramp paused %" PRIu64 " rounds to keep up\n",
		    "heartbeat lag", r->max_hb_lag_s, r->ramp_paused);
	printf("  %-16s %" PRIu64 " after %.1f s, %" PRIu64 " heartbeats sent, %" PRIu64
	    " PONGs\n", "open at end", r->open_at_end, rep->run_s, r->heartbeats, r->msgs);
	if (rep->s0.ok && rep->s1.ok)
		printf("  %-16s %" PRIu64 " kB -> %" PRIu64 " kB = %.1f bytes/connection\n",
		    "server RssAnon", rep->s0.rss_kb, rep->s1.rss_kb,
		    bs_bytes_per_conn(rep->s0.rss_kb, rep->s1.rss_kb, r->connected));
	idle_table_kernel(rep);
	if (idle_times_closes(o) && rep->nlate > 0) {
		uint64_t bins[NLATE_EDGES + 1];

		printf("  %-16s ERROR frame received - (last byte sent + %g s), kernel receive\n"
		    "  %-16s timestamps: min %.1f  p50 %.1f  p99 %.1f  "
		    "p99.9 %.1f  max %.1f ms\n", "timeout lateness", o->timeout, "",
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
}

static void
idle_json(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;

	printf(", \"ramp_s\": %.3f, \"connect_rate\": %.1f, \"hold_s\": %.3f"
	    ", \"open_at_end\": %" PRIu64 ", \"heartbeats\": %" PRIu64
	    ", \"heartbeats_run\": %" PRIu64 ", \"ramp_timeout\": %.1f, \"max_hb_lag_s\": %.3f"
	    ", \"ramp_paused\": %" PRIu64, rep->ramp_wall_s,
	    bs_rate(r->connected, rep->ramp_wall_s), rep->run_s, r->open_at_end, r->heartbeats,
	    r->hb_run, o->ramp_timeout, r->max_hb_lag_s, r->ramp_paused);
	if (rep->s0.k.ok && rep->s1.k.ok)
		printf(", \"kernel_bytes_per_conn\": %.1f, \"slab_before_kb\": %" PRIu64
		    ", \"slab_after_kb\": %" PRIu64 ", \"sunreclaim_before_kb\": %" PRIu64
		    ", \"sunreclaim_after_kb\": %" PRIu64 ", \"tcp_mem_pages_before\": %" PRIu64
		    ", \"tcp_mem_pages_after\": %" PRIu64 ", \"tcp_inuse_after\": %" PRIu64,
		    idle_kernel_per_conn(rep), rep->s0.k.slab_kb, rep->s1.k.slab_kb,
		    rep->s0.k.sunreclaim_kb, rep->s1.k.sunreclaim_kb, rep->s0.k.tcp_mem_pages,
		    rep->s1.k.tcp_mem_pages, rep->s1.k.tcp_inuse);
	if (rep->s2.k.ok)
		printf(", \"tcp_mem_pages_end\": %" PRIu64, rep->s2.k.tcp_mem_pages);
	bench_report_json_hist(&r->lat, "first_pong_us");
	if (rep->s0.ok && rep->s1.ok)
		printf(", \"rss_before_kb\": %" PRIu64 ", \"rss_after_kb\": %" PRIu64
		    ", \"rss_bytes_per_conn\": %.1f", rep->s0.rss_kb, rep->s1.rss_kb,
		    bs_bytes_per_conn(rep->s0.rss_kb, rep->s1.rss_kb, r->connected));
	if (idle_times_closes(o)) {
		uint64_t bins[NLATE_EDGES + 1];
		size_t early = 0;

		for (size_t i = 0; i < rep->nlate; i++)
			early += rep->late[i] < 0;
		bs_bin_counts(rep->late, rep->nlate, late_edges, NLATE_EDGES, bins);
		printf(", \"timeout\": %.3f, \"late_n\": %zu, \"late_early\": %zu",
		    o->timeout, rep->nlate, early);
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
}

const struct bench_mode bench_idle = {
	.name = "idle",
	.default_conns = 1000,
	.sends_payload = false,
	.ramps = true,
	.setup = idle_setup,
	.connected = idle_connected,
	.input = idle_input,
	.eof = bconn_server_closed,
	.tick = idle_tick,
	.timeout_ms = idle_timeout_ms,
	.until_all_closed = idle_until_all_closed,
	.cpu_msgs = idle_cpu_msgs,
	.cpu_unit = "heartbeat",
	.table_title = idle_table_title,
	.table = idle_table,
	.json = idle_json,
};
