/*
 * children: the parent's side of the client processes.  It forks them with
 * their share of the connections, sends them the phase commands, collects
 * their records, prints the progress line from their shared counters and
 * reaps them.  A process that stops answering is killed and left out.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_KIDS BENCH_MAX_PROCS

void
bench_children_command(struct bench_children *kids, char cmd)
{
	for (long i = 0; i < kids->n; i++)
		if (kids->kid[i].pid > 0 && bench_channel_write(kids->kid[i].chan, &cmd, 1) == -1) {
			kids->kid[i].pid = -kids->kid[i].pid;	/* gone; reaped later */
			if (kids->kid[i].lost == NULL && !kids->kid[i].done)
				kids->kid[i].lost = "exited early (its channel closed)";
		}
}

void
bench_children_progress_sum(const struct bench_children *kids, struct bench_progress *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (long i = 0; i < kids->n; i++) {
		struct bench_progress *p = &kids->prog[i];

		uint64_t lag = __atomic_load_n(&p->hb_lag_ms, __ATOMIC_RELAXED);

		sum->connected += __atomic_load_n(&p->connected, __ATOMIC_RELAXED);
		sum->open += __atomic_load_n(&p->open, __ATOMIC_RELAXED);
		sum->paused += __atomic_load_n(&p->paused, __ATOMIC_RELAXED);
		if (lag > sum->hb_lag_ms)
			sum->hb_lag_ms = lag;	/* the worst process, not a sum */
		sum->msgs += __atomic_load_n(&p->msgs, __ATOMIC_RELAXED);
		sum->failed += __atomic_load_n(&p->failed, __ATOMIC_RELAXED);
		sum->closed += __atomic_load_n(&p->closed, __ATOMIC_RELAXED);
		sum->errors += __atomic_load_n(&p->errors, __ATOMIC_RELAXED);
	}
}

/*
 * One line a second on a terminal.  While ramping: connections made and
 * the connect rate over the last second; then messages and their rate.
 * The heartbeat lag is the worst process's, and "paused" counts the loop
 * rounds in which a process opened nothing to keep up (bs_ramp_budget).
 */
void
bench_children_progress_line(const struct bench_children *kids, const struct bench_opts *o,
    double t0, const char *phase, uint64_t *last_msgs, double *last_t)
{
	struct bench_progress s;
	double now = bench_mono_s(), dt = now - *last_t;
	bool ramp = strcmp(phase, "ramp") == 0;
	uint64_t cur;

	bench_children_progress_sum(kids, &s);
	cur = ramp ? s.connected : s.msgs;
	fprintf(stderr, "%6.1fs %-5s %-5s %s %8" PRIu64 " (%7.0f/s)  open %7" PRIu64
	    "  closed by server %" PRIu64 "  failed %" PRIu64 "  errors %" PRIu64,
	    now - t0, o->ops->name, phase, ramp ? "connected" : "msgs", cur,
	    dt > 0 && cur >= *last_msgs ? (double)(cur - *last_msgs) / dt : 0, s.open,
	    s.closed, s.failed, s.errors);
	if (o->mode == BS_IDLE && o->interval > 0)
		fprintf(stderr, "  hb lag %" PRIu64 " ms", s.hb_lag_ms);
	if (ramp && s.paused > 0)
		fprintf(stderr, "  paused %" PRIu64, s.paused);
	fprintf(stderr, "\n");
	*last_msgs = cur;
	*last_t = now;
}

static void
print_fail(const char *label, const struct bench_fail *f)
{
	if (f->what[0] == '\0')
		return;
	fprintf(stderr, "    first %s after %.1f s: %.*s%s%s\n", label, f->at_s,
	    (int)sizeof(f->what), f->what, f->err ? ": " : "", f->err ? strerror(f->err) : "");
}

/*
 * After a failed run: every client process that did not do its share,
 * which one (index, pid, connections), what it counted and the first
 * failure of each kind it saw, or why the parent gave up on it.
 */
void
bench_children_failures(const struct bench_children *kids)
{
	for (long i = 0; i < kids->n; i++) {
		const struct bench_kid *kd = &kids->kid[i];
		const struct bench_progress *p = &kids->prog[i];
		const struct bench_result *r = &kd->r;

		if (kd->done && kd->lost == NULL && r->connect_failed == 0 &&
		    r->server_closed == 0 && r->verify_errors == 0 && r->connected >= kd->n)
			continue;
		fprintf(stderr, "sockserv-bench: client process %ld (pid %d, %u connections): ",
		    i, (int)kd->pid0, kd->n);
		if (kd->lost != NULL)
			fprintf(stderr, "%s; at the last look %" PRIu64 " connected, %" PRIu64
			    " open, %" PRIu64 " failed, %" PRIu64 " closed by the server, heartbeat "
			    "lag %" PRIu64 " ms\n", kd->lost, p->connected, p->open, p->failed,
			    p->closed, p->hb_lag_ms);
		else
			fprintf(stderr, "%" PRIu64 " connected, %" PRIu64 " failed, %" PRIu64
			    " closed by the server, %" PRIu64 " wrong frames, latest heartbeat "
			    "%.2f s late, ramp paused %" PRIu64 " rounds\n", r->connected,
			    r->connect_failed, r->server_closed, r->verify_errors, r->max_hb_lag_s,
			    r->ramp_paused);
		if (kd->done || kd->ready) {
			print_fail("connect failure", &r->first_fail);
			print_fail("close by the server", &r->first_close);
		}
	}
}

/* read one record of kid k, whose channel is readable */
static void
children_read_record(struct bench_children *kids, long k)
{
	struct bench_kid *kd = &kids->kid[k];
	struct bench_rec_hdr h;
	double rd = bench_mono_s() + BENCH_RECORD_LIMIT_S;

	if (bench_channel_read(kd->chan, &h, sizeof(h), rd) == -1 ||
	    h.len < sizeof(struct bench_result) ||
	    bench_channel_read(kd->chan, &kd->r, sizeof(kd->r), rd) == -1) {
		fprintf(stderr, "sockserv-bench: client process %ld stopped reporting\n", k);
		kd->lost = "stopped reporting (killed)";
		kill(kd->pid, SIGKILL);
		kd->pid = -kd->pid;
		return;
	}
	if (h.len > sizeof(struct bench_result)) {
		size_t extra = h.len - sizeof(struct bench_result);

		free(kd->late);
		if ((kd->late = malloc(extra)) == NULL)
			bench_die("out of memory");
		if (bench_channel_read(kd->chan, kd->late, extra, rd) == -1)
			kd->r.nlate = 0;
	}
	if (kd->r.nlate * sizeof(double) > h.len - sizeof(struct bench_result))
		kd->r.nlate = 0;
	if (h.type == BREC_READY)
		kd->ready = true;
	else
		kd->done = true;
}

/*
 * wait for one record of type from every child; while waiting, print the
 * progress line each second (on a terminal)
 */
void
bench_children_wait(struct bench_children *kids, const struct bench_opts *o,
    uint32_t type, double limit, double t0, const char *phase, bool tty)
{
	double deadline = bench_mono_s() + limit, next_progress = bench_mono_s() + 1;
	double last_t = bench_mono_s();
	uint64_t last_msgs = 0;

	for (;;) {
		struct pollfd pfd[MAX_KIDS];
		long map[MAX_KIDS], np = 0;
		int ms;

		for (long i = 0; i < kids->n && np < MAX_KIDS; i++) {
			const struct bench_kid *kd = &kids->kid[i];

			if (kd->pid <= 0 || (type == BREC_READY ? kd->ready : kd->done))
				continue;
			pfd[np].fd = kd->chan;
			pfd[np].events = POLLIN;
			map[np++] = i;
		}
		if (np == 0 || bench_mono_s() >= deadline)
			return;
		ms = (int)((next_progress - bench_mono_s()) * 1000) + 1;
		if (ms < 1)
			ms = 1;
		if (poll(pfd, (nfds_t)np, ms) > 0) {
			for (long k = 0; k < np; k++)
				if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
					children_read_record(kids, map[k]);
		}
		if (tty && bench_mono_s() >= next_progress) {
			bench_children_progress_line(kids, o, t0, phase, &last_msgs, &last_t);
			next_progress += 1;
		}
	}
}

void
bench_children_reap(struct bench_children *kids)
{
	double deadline = bench_mono_s() + 5;

	for (long i = 0; i < kids->n; i++) {
		pid_t p = kids->kid[i].pid > 0 ? kids->kid[i].pid : -kids->kid[i].pid;

		if (p == 0)
			continue;
		while (waitpid(p, NULL, WNOHANG) == 0) {
			if (bench_mono_s() >= deadline) {
				kill(p, SIGKILL);
				waitpid(p, NULL, 0);
				break;
			}
			usleep(10000);
		}
	}
}

void
bench_children_spawn(struct bench_children *kids, const struct bench_opts *o)
{
	size_t sz = (size_t)o->procs * sizeof(struct bench_progress);
	uint32_t first = 0;

	kids->n = o->procs;
	kids->prog = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (kids->prog == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	if ((kids->kid = calloc((size_t)o->procs, sizeof(*kids->kid))) == NULL)
		bench_die("out of memory");
	fflush(NULL);
	for (long i = 0; i < o->procs; i++) {
		uint32_t n = (uint32_t)(o->conns / o->procs + (i < o->conns % o->procs));
		int sv[2];
		pid_t pid;

		if (bench_channel_pair(sv) == -1)
			bench_die("socketpair: %s", strerror(errno));
		if ((pid = fork()) == -1)
			bench_die("fork: %s", strerror(errno));
		if (pid == 0) {
			struct bench_child ch;

			/* the siblings' channels are not ours: their EOFs must not wait on us */
			for (long k = 0; k < i; k++)
				close(kids->kid[k].chan);
			close(sv[0]);
			memset(&ch, 0, sizeof(ch));
			ch.o = o;
			ch.first_id = first;
			ch.n = n;
			ch.chan = sv[1];
			ch.prog = &kids->prog[i];
			bench_child_main(&ch);
		}
		close(sv[1]);
		kids->kid[i].pid = kids->kid[i].pid0 = pid;
		kids->kid[i].n = n;
		kids->kid[i].chan = sv[0];
		first += n;
	}
}
