/*
 * child: one client process.  It holds its share of the connections in its
 * own epoll loop, moves through the phases the parent commands on the
 * channel (ramp, wait for go, run, drain, wait for release) and reports
 * with a READY and a DONE record.
 *
 * Every phase has a fallback limit beyond the parent's own, and EOF on the
 * channel (the parent is gone) ends the process at once, so no client
 * process outlives its run.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"

#define MAX_INFLIGHT	256	/* per process: connects (and unanswered first PINGs) at once */
#define CHILD_SLACK_S	30.0	/* fallback beyond the parent's own limits */
#define EV_BATCH	1024
#define CHAN_TAG	UINT64_MAX	/* epoll data of the channel; connections use their index */

static void
child_send_record(struct bench_child *ch, uint32_t type, const void *p, size_t len,
    const void *extra, size_t extralen)
{
	struct bench_rec_hdr h = { type, (uint32_t)(len + extralen) };

	if (bench_channel_write(ch->chan, &h, sizeof(h)) == -1 ||
	    bench_channel_write(ch->chan, p, len) == -1 ||
	    (extralen > 0 && bench_channel_write(ch->chan, extra, extralen) == -1))
		_exit(1);	/* the parent is gone: nobody to report to */
}

/*
 * How late a heartbeat may be before the process counts as behind: a
 * twentieth of the period, within 0.1..1 s (the server allows the period
 * plus its own margin, and the ramp must never eat that margin).
 */
static uint64_t
child_lag_limit(const struct bench_child *ch)
{
	double s = ch->o->interval / 20;

	if (ch->o->interval <= 0)
		return UINT64_MAX;
	if (s < 0.1)
		s = 0.1;
	if (s > 1)
		s = 1;
	return (uint64_t)(s * 1e9);
}

/* how late the oldest due heartbeat is now (idle; 0 when none is due) */
static uint64_t
child_hb_lag(const struct bench_child *ch)
{
	const struct bconn *c;

	if (ch->hbq_len == 0)
		return 0;
	c = &ch->c[ch->hbq[ch->hbq_head]];
	return c->st == BCONN_OPEN && c->next_hb < ch->now ? ch->now - c->next_hb : 0;
}

/*
 * echo/idle: open more connections, at most MAX_INFLIGHT at once, and none
 * this round when the process is behind with its replies or heartbeats
 * (bs_ramp_budget): the ramp slows down, the heartbeats stay on time.
 */
static void
child_ramp(struct bench_child *ch)
{
	struct bs_ramp_state rs = { .hb_lag_ns = ch->hb_lag, .lag_limit_ns = child_lag_limit(ch),
	    .events = ch->nevents, .batch = EV_BATCH, .inflight = ch->inflight,
	    .max_inflight = MAX_INFLIGHT };
	uint32_t allowed = ch->n, budget = bs_ramp_budget(&rs);

	if (ch->o->rate > 0) {
		/* this process's share of the rate, spread evenly over time */
		double share = ch->o->rate / (double)ch->o->procs;
		double may = share * (double)(ch->now - ch->t_start) / 1e9 + 1;

		if (may < (double)ch->n)
			allowed = (uint32_t)may;
	}
	if (budget == 0 && ch->next_connect < allowed && ch->inflight < MAX_INFLIGHT)
		ch->r.ramp_paused++;
	while (ch->next_connect < allowed && budget > 0) {
		struct bconn *c = &ch->c[ch->next_connect++];

		budget--;
		ch->inflight++;
		if (bconn_start(ch, c) == -1)
			bconn_connect_failed(ch, c);
	}
}

static void
child_done(struct bench_child *ch)
{
	uint64_t end = ch->t_last > ch->t_go ? ch->t_last : ch->t_stop;

	ch->r.open_at_end = ch->open;
	ch->r.elapsed_s = ch->t_go && end > ch->t_go ? (double)(end - ch->t_go) / 1e9 : 0;
	ch->r.nlate = ch->nlate;
	child_send_record(ch, BREC_DONE, &ch->r, sizeof(ch->r), ch->late,
	    ch->nlate * sizeof(double));
	ch->phase = BPH_WAIT_RELEASE;
	ch->limit = ch->now + (uint64_t)(BENCH_RECORD_LIMIT_S * 2e9);
}

static void
child_stop(struct bench_child *ch)
{
	ch->phase = BPH_DRAIN;
	ch->t_stop = ch->now;
	ch->limit = ch->now + (uint64_t)(BENCH_DRAIN_LIMIT_S * 1e9);
	if (ch->ops->stop != NULL)
		ch->ops->stop(ch);
}

static void __attribute__((noreturn))
child_exit(struct bench_child *ch, int status)
{
	for (uint32_t i = 0; i < ch->n; i++)
		if (ch->c[i].fd != -1)
			close(ch->c[i].fd);
	_exit(status);
}

static void
child_command(struct bench_child *ch)
{
	char cmd[16];
	ssize_t n = read(ch->chan, cmd, sizeof(cmd));

	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		child_exit(ch, 0);	/* the parent is gone */
	for (ssize_t i = 0; i < n; i++) {
		switch (cmd[i]) {
		case 'g':
			if (ch->phase != BPH_WAIT_GO)
				break;
			ch->phase = BPH_RUN;
			ch->t_go = ch->now;
			ch->limit = ch->now + (uint64_t)((ch->o->seconds + CHILD_SLACK_S) * 1e9);
			if (ch->ops->go != NULL)
				ch->ops->go(ch);
			break;
		case 's':
			if (ch->phase == BPH_RUN)
				child_stop(ch);
			break;
		case 'r':
			child_exit(ch, 0);
		}
	}
}

static int
child_timeout_ms(const struct bench_child *ch)
{
	int ms = 100;

	if (ch->o->rate > 0 && ch->phase == BPH_RAMP)
		return 1;
	if (ch->ops->timeout_ms != NULL)
		ms = ch->ops->timeout_ms(ch, ms);
	return ms;
}

static void
child_progress(struct bench_child *ch)
{
	struct bench_progress *p = ch->prog;

	__atomic_store_n(&p->connected, ch->r.connected, __ATOMIC_RELAXED);
	__atomic_store_n(&p->open, ch->open, __ATOMIC_RELAXED);
	__atomic_store_n(&p->hb_lag_ms, ch->hb_lag / 1000000, __ATOMIC_RELAXED);
	__atomic_store_n(&p->paused, ch->r.ramp_paused, __ATOMIC_RELAXED);
	__atomic_store_n(&p->msgs, ch->r.msgs, __ATOMIC_RELAXED);
	__atomic_store_n(&p->failed, ch->r.connect_failed, __ATOMIC_RELAXED);
	__atomic_store_n(&p->closed, ch->r.server_closed, __ATOMIC_RELAXED);
	__atomic_store_n(&p->errors, ch->r.verify_errors, __ATOMIC_RELAXED);
}

/* the phase's work after a round of events */
static void
child_phase(struct bench_child *ch)
{
	switch (ch->phase) {
	case BPH_RAMP:
		if (ch->ops->ramps)
			child_ramp(ch);
		/* a mode that opens its connections as it runs is ready at once */
		if (!ch->ops->ramps || ch->settled >= ch->n ||
		    ch->now - ch->t_start > (uint64_t)(ch->o->ramp_timeout * 1e9)) {
			uint64_t last_ready;

			child_send_record(ch, BREC_READY, &ch->r, sizeof(ch->r), NULL, 0);
			ch->phase = BPH_WAIT_GO;
			ch->limit = ch->now +
			    (uint64_t)((BENCH_RECORD_LIMIT_S + CHILD_SLACK_S) * 1e9);
			/*
			 * 'g' comes once the slowest sibling is ready, which the
			 * parent waits for up to the ramp limit + 10 s: a process
			 * ready early waits as long before it takes the parent
			 * for gone (a parent really gone is seen at once, EOF)
			 */
			last_ready = ch->t_start + (uint64_t)((ch->o->ramp_timeout + 10 +
			    BENCH_RECORD_LIMIT_S + CHILD_SLACK_S) * 1e9);
			if (last_ready > ch->limit)
				ch->limit = last_ready;
		}
		break;
	case BPH_DRAIN:
		if (ch->ops->drained == NULL || ch->ops->drained(ch) || ch->now >= ch->limit)
			child_done(ch);
		break;
	case BPH_WAIT_GO:
	case BPH_RUN:
	case BPH_WAIT_RELEASE:
		break;
	}
}

static void
child_init(struct bench_child *ch)
{
	const struct bench_opts *o = ch->o;
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = CHAN_TAG };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	ch->ops = o->ops;
	/* frames of any type reach the mode, which counts an undefined one as wrong */
	ch->codec = (struct proto_codec){ .codec = o->raw ? CODEC_RAW : CODEC_FRAME,
	    .max_frame = UINT32_MAX, .any_type = true };
	if ((ch->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		bench_die("epoll_create1: %s", strerror(errno));
	if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, ch->chan, &e) == -1)
		bench_die("epoll_ctl: %s", strerror(errno));
	if ((ch->c = calloc(ch->n ? ch->n : 1, sizeof(*ch->c))) == NULL ||
	    (ch->rbuf = malloc(BENCH_RBUF_SIZE)) == NULL ||
	    (ch->pat = malloc((size_t)o->size + 8)) == NULL)
		bench_die("out of memory");
	for (uint32_t i = 0; i < ch->n; i++) {
		ch->c[i].fd = -1;
		ch->c[i].id = ch->first_id + i;
	}
	if (ch->ops->setup != NULL)
		ch->ops->setup(ch);
	bs_hist_init(&ch->r.lat);
	ch->now = ch->t_start = ch->event_at = bench_mono_ns();
	ch->real_off = (uint64_t)(bench_real_s() * 1e9) - ch->now;
	ch->phase = BPH_RAMP;
	ch->limit = ch->now + (uint64_t)((o->ramp_timeout + CHILD_SLACK_S) * 1e9);
}

void
bench_child_main(struct bench_child *ch)
{
	/* static: EV_BATCH events are too big for a stack frame */
	static struct epoll_event evs[EV_BATCH];

	child_init(ch);
	for (;;) {
		int n = epoll_wait(ch->ep, evs, EV_BATCH, child_timeout_ms(ch));

		if (n == -1 && errno != EINTR)
			bench_die("epoll_wait: %s", strerror(errno));
		ch->now = bench_mono_ns();
		for (int i = 0; i < n; i++) {
			ch->event_at = ch->now;
			if (evs[i].data.u64 == CHAN_TAG)
				child_command(ch);
			else
				bconn_event(ch, &ch->c[evs[i].data.u64], evs[i].events);
		}
		ch->event_at = ch->now;
		ch->nevents = n > 0 ? n : 0;
		/* replies were read above; due heartbeats go before any new connection */
		ch->hb_lag = child_hb_lag(ch);
		if ((double)ch->hb_lag / 1e9 > ch->r.max_hb_lag_s)
			ch->r.max_hb_lag_s = (double)ch->hb_lag / 1e9;
		if (ch->ops->tick != NULL)
			ch->ops->tick(ch);
		child_phase(ch);
		child_progress(ch);
		if (ch->now >= ch->limit) {
			if (ch->phase == BPH_RUN) {
				child_stop(ch);
				continue;
			}
			if (ch->phase != BPH_DRAIN)
				child_exit(ch, 3);	/* the parent stopped answering */
		}
	}
}
