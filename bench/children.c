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

#define MAX_KIDS 256	/* -P's upper bound */

void
bench_children_command(struct bench_children *kids, char cmd)
{
	for (long i = 0; i < kids->n; i++)
		if (kids->kid[i].pid > 0 && bench_channel_write(kids->kid[i].chan, &cmd, 1) == -1)
			kids->kid[i].pid = -kids->kid[i].pid;	/* gone; reaped later */
}

void
bench_children_progress_sum(const struct bench_children *kids, struct bench_progress *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (long i = 0; i < kids->n; i++) {
		struct bench_progress *p = &kids->prog[i];

		sum->open += __atomic_load_n(&p->open, __ATOMIC_RELAXED);
		sum->msgs += __atomic_load_n(&p->msgs, __ATOMIC_RELAXED);
		sum->failed += __atomic_load_n(&p->failed, __ATOMIC_RELAXED);
		sum->closed += __atomic_load_n(&p->closed, __ATOMIC_RELAXED);
		sum->errors += __atomic_load_n(&p->errors, __ATOMIC_RELAXED);
	}
}

void
bench_children_progress_line(const struct bench_children *kids, const struct bench_opts *o,
    double t0, const char *phase, uint64_t *last_msgs, double *last_t)
{
	struct bench_progress s;
	double now = bench_mono_s(), dt = now - *last_t;

	bench_children_progress_sum(kids, &s);
	fprintf(stderr, "%6.1fs %-5s %-5s open %7" PRIu64 "  msgs %10" PRIu64 " (%9.0f/s)"
	    "  failed %" PRIu64 "  closed %" PRIu64 "  errors %" PRIu64 "\n",
	    now - t0, o->ops->name, phase, s.open, s.msgs,
	    dt > 0 ? (double)(s.msgs - *last_msgs) / dt : 0, s.failed, s.closed, s.errors);
	*last_msgs = s.msgs;
	*last_t = now;
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
		kids->kid[i].pid = pid;
		kids->kid[i].chan = sv[0];
		first += n;
	}
}
