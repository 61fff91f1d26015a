/*
 * churn mode: connect, send one message, read its echo, close, as fast as
 * conns parallel slots allow.  Reports new connections/s, failed connects
 * and the connect-to-echo latency.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* start slot c's next cycle, while the run lasts */
static void
churn_next(struct bench_child *ch, struct bconn *c)
{
	if (ch->phase != BPH_RUN)
		return;
	if (bconn_start(ch, c) == -1) {
		ch->r.connect_failed++;
		/* out of ports or descriptors: try again next round rather than spin */
		ch->restart_pending = true;
	}
}

/* a cycle that went wrong: every drop counts, whatever the phase */
static void
churn_drop(struct bench_child *ch, struct bconn *c)
{
	ch->r.server_closed++;
	bconn_close(ch, c);
	churn_next(ch, c);
}

static void
churn_connected(struct bench_child *ch, struct bconn *c)
{
	c->ready = true;
	bench_stage_message(ch, c, FRAME_DATA);
	if (bench_stage_flush(ch, c) == -1)
		bconn_server_closed(ch, c);
}

/* the one echo; 1 when it is complete and right, 0 incomplete, -1 wrong */
static int
churn_verify(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	size_t size = (size_t)ch->o->size;
	const uint8_t *payload = p;

	if (!ch->o->raw) {
		struct proto_msg m;
		enum proto_status st = proto_decode(&ch->codec, p, n, &m);

		if (st == PROTO_NEED_MORE)
			return 0;
		if (st == PROTO_ERROR || m.type != FRAME_DATA || m.len != size ||
		    m.consumed != n) {
			if (st == PROTO_MSG && m.type == FRAME_ERROR)
				ch->r.error_frames++;
			else
				ch->r.verify_errors++;
			return -1;
		}
		payload = m.data;
	} else if (n < size) {
		return 0;
	} else if (n > size) {
		ch->r.verify_errors++;
		return -1;
	}
	bench_payload(ch->pat, size, c->id, c->sent - 1);
	if (memcmp(payload, ch->pat, size) != 0) {
		ch->r.verify_errors++;
		return -1;
	}
	return 1;
}

static void
churn_done(struct bench_child *ch, struct bconn *c)
{
	uint64_t lat = ch->now - c->t0;

	if (lat > ch->r.lat.max || ch->r.lat.count == 0)
		ch->r.max_lat_end = bench_real_s();
	bs_hist_add(&ch->r.lat, lat);
	ch->r.msgs++;
	ch->t_last = ch->now;
	bconn_close(ch, c);
	churn_next(ch, c);
}

/* the whole reply is kept until it is complete (p is c->rx once it holds some) */
static ssize_t
churn_input(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	switch (churn_verify(ch, c, p, n)) {
	case 0:
		return 0;
	case 1:
		churn_done(ch, c);
		return -1;
	default:
		churn_drop(ch, c);
		return -1;
	}
}

static void
churn_go(struct bench_child *ch)
{
	for (uint32_t k = 0; k < ch->n; k++)
		churn_next(ch, &ch->c[k]);
}

/* connections still connecting will not finish a cycle: drop them */
static void
churn_stop(struct bench_child *ch)
{
	for (uint32_t i = 0; i < ch->n; i++)
		if (ch->c[i].st == BCONN_CONNECTING)
			bconn_close(ch, &ch->c[i]);
}

static bool
churn_drained(const struct bench_child *ch)
{
	for (uint32_t i = 0; i < ch->n; i++)
		if (ch->c[i].st == BCONN_CONNECTING || ch->c[i].st == BCONN_OPEN)
			return false;
	return true;
}

/* retry the slots that could not start last round */
static void
churn_tick(struct bench_child *ch)
{
	if (!ch->restart_pending)
		return;
	ch->restart_pending = false;
	for (uint32_t k = 0; k < ch->n && ch->phase == BPH_RUN; k++)
		if (ch->c[k].st == BCONN_NONE || ch->c[k].st == BCONN_DONE)
			churn_next(ch, &ch->c[k]);
}

/* a slot waiting to restart wants the next round at once */
static int
churn_timeout_ms(const struct bench_child *ch, int ms)
{
	return ch->restart_pending ? 1 : ms;
}

static uint64_t
churn_cpu_msgs(const struct bench_result *r)
{
	return r->msgs;
}

static void
churn_table(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;

	(void)o;
	printf("  %-16s %" PRIu64 " in %.2f s = %.0f conns/s\n", "completed", r->msgs,
	    rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s));
	bench_report_lat("connect-to-echo", &r->lat);
}

static void
churn_json(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;

	(void)o;
	printf(", \"elapsed\": %.3f, \"conns_per_s\": %.1f, \"max_lat_end_unix\": %.6f",
	    rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s), r->max_lat_end);
	bench_report_json_hist(&r->lat, "lat_us");
}

const struct bench_mode bench_churn = {
	.name = "churn",
	.default_conns = 16,
	.sends_payload = true,
	.ramps = false,
	.connected = churn_connected,
	.input = churn_input,
	.eof = churn_drop,
	.ended = churn_next,
	.go = churn_go,
	.stop = churn_stop,
	.drained = churn_drained,
	.tick = churn_tick,
	.timeout_ms = churn_timeout_ms,
	.cpu_msgs = churn_cpu_msgs,
	.cpu_unit = "connection",
	.table_title = NULL,
	.table = churn_table,
	.json = churn_json,
};
