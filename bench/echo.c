/*
 * echo mode: conns connections keep depth messages of -s bytes in flight
 * each; every echoed byte is checked against the payload it answers.
 * Reports msgs/s, MB/s and the round-trip latency percentiles.
 *
 * With --msg-rate the depth is only a ceiling: messages go out at the
 * given total rate, spread evenly in time and round-robin over the
 * connections, and an echo does not trigger the next send.  This measures
 * latency at a load the server can keep up with, not at saturation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void
echo_setup(struct bench_child *ch)
{
	size_t n = ch->n ? ch->n : 1;

	if ((ch->sent_ns = calloc(n * (size_t)ch->o->depth, sizeof(uint64_t))) == NULL)
		bench_die("out of memory");
}

static void
echo_connected(struct bench_child *ch, struct bconn *c)
{
	c->ready = true;
	ch->inflight--;
	ch->settled++;
}

/* where the send time of c's message seq is kept: c's ring of depth slots */
static uint64_t *
echo_sent_slot(struct bench_child *ch, const struct bconn *c, uint64_t seq)
{
	return &ch->sent_ns[(size_t)(c - ch->c) * (size_t)ch->o->depth +
	    seq % (uint64_t)ch->o->depth];
}

static void
echo_got(struct bench_child *ch, struct bconn *c, const uint8_t *payload)
{
	size_t size = (size_t)ch->o->size;
	uint64_t *slot = echo_sent_slot(ch, c, c->recv);

	bench_payload(ch->pat, size, c->id, c->recv);
	if (memcmp(payload, ch->pat, size) != 0) {
		ch->r.verify_errors++;
		return;
	}
	bs_hist_add(&ch->r.lat, ch->now - *slot);
	c->recv++;
	ch->r.msgs++;
	ch->r.bytes += (uint64_t)size;
	ch->t_last = ch->now;
	if (ch->phase == BPH_RUN && ch->o->msg_rate == 0) {
		*slot = ch->now;
		bench_stage_message(ch, c, FRAME_DATA);
	}
}

/* verify what arrived; bytes used, -1 when the stream is wrong */
static ssize_t
echo_verify(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	size_t off = 0, size = (size_t)ch->o->size;
	uint64_t errs = ch->r.verify_errors;

	if (ch->o->raw) {
		while (n - off >= size && c->recv < c->sent) {
			echo_got(ch, c, p + off);
			off += size;
		}
		if (n - off > 0 && c->recv >= c->sent)
			ch->r.verify_errors++;	/* more bytes than were sent */
	} else {
		for (;;) {
			struct proto_msg m;
			enum proto_status st = proto_decode(&ch->codec, p + off, n - off, &m);

			if (st == PROTO_NEED_MORE)
				break;
			if (st == PROTO_ERROR || m.type != FRAME_DATA || m.len != size ||
			    c->recv >= c->sent) {
				if (st == PROTO_MSG && m.type == FRAME_ERROR)
					ch->r.error_frames++;
				ch->r.verify_errors++;
				break;
			}
			echo_got(ch, c, m.data);
			off += m.consumed;
		}
	}
	return ch->r.verify_errors != errs ? -1 : (ssize_t)off;
}

/* the replies to one read go out as one write */
static ssize_t
echo_input(struct bench_child *ch, struct bconn *c, const uint8_t *p, size_t n)
{
	ssize_t used = echo_verify(ch, c, p, n);

	if (used >= 0 && bench_stage_flush(ch, c) == -1)
		used = -1;
	buffer_clear(ch->stage);
	if (used < 0) {
		bconn_server_closed(ch, c);
		return -1;
	}
	return used;
}

/* this process's share of --msg-rate as num / den messages per second */
static uint64_t
echo_pace_num(const struct bench_child *ch)
{
	return (uint64_t)ch->o->msg_rate * ch->n;
}

/*
 * --msg-rate: send every message due by now, each to the next connection
 * round-robin that has fewer than depth in flight.  When every connection
 * is full the rest stays due and goes out as echoes free room, so a server
 * that falls behind shows as an achieved rate below the one asked.
 */
static void
echo_pace(struct bench_child *ch)
{
	uint64_t due = bs_paced_due(echo_pace_num(ch), (uint64_t)ch->o->conns, ch->now - ch->t_go);

	ch->pace_full = false;
	while (ch->paced < due) {
		struct bconn *c = NULL;

		for (uint32_t k = 0; k < ch->n; k++) {
			struct bconn *t = &ch->c[(ch->pace_next + k) % ch->n];

			if (t->st == BCONN_OPEN && t->sent - t->recv < (uint64_t)ch->o->depth) {
				c = t;
				ch->pace_next = (uint32_t)((ch->pace_next + k + 1) % ch->n);
				break;
			}
		}
		if (c == NULL) {
			ch->pace_full = true;
			return;
		}
		*echo_sent_slot(ch, c, c->sent) = ch->now;
		bench_stage_message(ch, c, FRAME_DATA);
		ch->paced++;
		if (bench_stage_flush(ch, c) == -1)
			bconn_server_closed(ch, c);
	}
}

static void
echo_tick(struct bench_child *ch)
{
	if (ch->o->msg_rate > 0 && ch->phase == BPH_RUN && ch->n > 0)
		echo_pace(ch);
}

/* --msg-rate: wake when the next message is due (epoll counts whole ms) */
static int
echo_timeout_ms(const struct bench_child *ch, int ms)
{
	uint64_t at, since;

	/* all full: the next echo wakes the loop, and the tick after it sends */
	if (ch->o->msg_rate == 0 || ch->phase != BPH_RUN || ch->n == 0 || ch->pace_full)
		return ms;
	at = bs_paced_at_ns(echo_pace_num(ch), (uint64_t)ch->o->conns, ch->paced);
	since = ch->now - ch->t_go;
	if (at <= since)
		return 0;
	at = (at - since + 999999) / 1000000;
	return at < (uint64_t)ms ? (int)at : ms;
}

static void
echo_go(struct bench_child *ch)
{
	if (ch->o->msg_rate > 0) {
		echo_pace(ch);
		return;
	}
	for (uint32_t i = 0; i < ch->n; i++) {
		struct bconn *c = &ch->c[i];

		if (c->st != BCONN_OPEN)
			continue;
		for (long d = 0; d < ch->o->depth; d++) {
			*echo_sent_slot(ch, c, c->sent) = ch->now;
			bench_stage_message(ch, c, FRAME_DATA);
		}
		if (bench_stage_flush(ch, c) == -1)
			bconn_server_closed(ch, c);
	}
}

static bool
echo_drained(const struct bench_child *ch)
{
	for (uint32_t i = 0; i < ch->n; i++)
		if (ch->c[i].st == BCONN_OPEN && ch->c[i].recv < ch->c[i].sent)
			return false;
	return true;
}

static uint64_t
echo_cpu_msgs(const struct bench_result *r)
{
	return r->msgs;
}

static void
echo_table_title(const struct bench_opts *o)
{
	printf(", depth %ld, %ld B", o->depth, o->size);
	if (o->msg_rate > 0)
		printf(", paced at %ld msgs/s", o->msg_rate);
}

static void
echo_table(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;

	(void)o;
	printf("  %-16s %" PRIu64 " in %.2f s = %.0f msgs/s, %.2f MB/s payload\n",
	    "messages", r->msgs, rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s),
	    bs_rate(r->bytes, rep->elapsed_s) / 1e6);
	bench_report_lat("latency", &r->lat);
}

static void
echo_json(struct bench_report *rep, const struct bench_opts *o)
{
	const struct bench_result *r = &rep->r;

	printf(", \"elapsed\": %.3f, \"msgs_per_s\": %.1f, \"mb_per_s\": %.3f",
	    rep->elapsed_s, bs_rate(r->msgs, rep->elapsed_s),
	    bs_rate(r->bytes, rep->elapsed_s) / 1e6);
	/* the rate asked; msgs_per_s above is the rate achieved */
	if (o->msg_rate > 0)
		printf(", \"msg_rate\": %ld", o->msg_rate);
	bench_report_json_hist(&r->lat, "lat_us");
}

const struct bench_mode bench_echo = {
	.name = "echo",
	.default_conns = 100,
	.sends_payload = true,
	.ramps = true,
	.setup = echo_setup,
	.connected = echo_connected,
	.input = echo_input,
	.eof = bconn_server_closed,
	.go = echo_go,
	.drained = echo_drained,
	.tick = echo_tick,
	.timeout_ms = echo_timeout_ms,
	.cpu_msgs = echo_cpu_msgs,
	.cpu_unit = "message",
	.table_title = echo_table_title,
	.table = echo_table,
	.json = echo_json,
};
