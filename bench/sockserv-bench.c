/*
 * sockserv-bench: the load generator and measuring client of `make bench`.
 *
 *	sockserv-bench MODE [-h host] -p port [--raw] [-c conns] [-d depth]
 *	    [-s bytes] [-t seconds] [-i heartbeat_seconds] [-S source_addrs|auto]
 *	    [-P processes|auto] [--json] [--server PID] [--stats path]
 *	    [--timeout seconds] [--rate conns_per_second]
 *	    [--msg-rate msgs_per_second] [--ramp-timeout seconds]
 *
 * The modes (echo, idle, churn) are described in their files.  This file
 * is the parent's run: it forks the client processes (one process may hold
 * at most ~19 000 descriptors here), moves them through the phases, and
 * with --server samples the server's process tree in /proc at the phase
 * boundaries, so CPU per message and memory per connection cover exactly
 * the measured interval (bench.h has the map of the program).
 *
 * Every run stops by itself: each phase has a limit in the parent and a
 * later fallback limit in every child, and a child whose parent is gone
 * (EOF on its channel) exits at once.  The ramp's limit follows the work
 * (--ramp-timeout, by default bs_ramp_timeout_default() of -c).
 *
 * Exit status 0 when the run did what was asked (bs_run_ok() judges the
 * summed counters), 1 when it did not or a client process stopped
 * reporting, 2 on a usage error: scripts need not parse the report.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

void
bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sockserv-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* the measured interval: -t seconds, or less once a silent idle run has no connection left */
static void
run_interval(struct bench_children *kids, const struct bench_opts *o, double t0, double t_go,
    bool tty)
{
	bool until_all_closed = o->ops->until_all_closed != NULL && o->ops->until_all_closed(o);
	double t_end = t_go + o->seconds;
	double next_progress = t_go + 1, last_t = t_go;
	struct bench_progress at_go;
	uint64_t last_msgs;

	/* the first line's rate counts from go, not from the messages of the ramp */
	bench_children_progress_sum(kids, &at_go);
	last_msgs = at_go.msgs;
	for (;;) {
		double now = bench_mono_s();
		struct bench_progress s;

		if (now >= t_end)
			break;
		if (until_all_closed) {
			bench_children_progress_sum(kids, &s);
			if (s.open == 0)
				break;
		}
		if (tty && now >= next_progress) {
			bench_children_progress_line(kids, o, t0, "run", &last_msgs, &last_t);
			next_progress += 1;
		}
		/* a silent run's end is a close time: look more often */
		usleep(until_all_closed ? 5000 : 20000);
	}
}

int
main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_children kids;
	struct bench_report rep;
	bool tty;
	double t0, t_go;

	bench_opts_parse(&o, argc, argv);
	bench_fd_limit_check(&o);
	signal(SIGPIPE, SIG_IGN);
	memset(&rep, 0, sizeof(rep));
	memset(&kids, 0, sizeof(kids));
	rep.tck = sysconf(_SC_CLK_TCK);
	tty = isatty(STDERR_FILENO);
	/* the kernel's memory (and --stats) are sampled with or without --server */
	bench_sample_server(o.server_pid, o.stats_path, &rep.s0);
	if (o.server_pid > 0 && !rep.s0.ok)
		bench_die("--server %d: no such process", o.server_pid);
	if (o.stats_path != NULL && !rep.s0.msgs_ok)
		bench_die("--stats %s: not a live sockserv statistics file", o.stats_path);

	t0 = bench_mono_s();
	bench_children_spawn(&kids, &o);
	bench_children_wait(&kids, &o, BREC_READY, o.ramp_timeout + 10, t0, "ramp", tty);
	rep.ramp_wall_s = bench_mono_s() - t0;
	for (long i = 0; i < kids.n; i++)
		if (!kids.kid[i].ready && kids.kid[i].pid > 0) {
			fprintf(stderr, "sockserv-bench: client process %ld never got ready\n", i);
			kids.kid[i].lost = "never got ready within the ramp limit (killed)";
			kill(kids.kid[i].pid, SIGKILL);
			kids.kid[i].pid = -kids.kid[i].pid;
		}

	bench_sample_server(o.server_pid, o.stats_path, &rep.s1);
	bench_children_command(&kids, 'g');
	t_go = bench_mono_s();
	run_interval(&kids, &o, t0, t_go, tty);
	rep.run_s = bench_mono_s() - t_go;
	/* a mode with messages in flight at stop counts them: its interval ends after the drain */
	if (o.ops->drained == NULL)
		bench_sample_server(o.server_pid, o.stats_path, &rep.s2);
	bench_children_command(&kids, 's');
	bench_children_wait(&kids, &o, BREC_DONE, BENCH_DRAIN_LIMIT_S + BENCH_RECORD_LIMIT_S,
	    t0, "drain", tty);
	if (o.ops->drained != NULL)
		bench_sample_server(o.server_pid, o.stats_path, &rep.s2);
	bench_children_command(&kids, 'r');
	bench_children_reap(&kids);

	bench_report_sum(&rep, &kids, &o);
	bench_report_print(&rep, &o);
	free(rep.late);
	if (!rep.ok) {
		/* on stderr too: with --json a script's stdout holds only the object */
		fprintf(stderr, "sockserv-bench: run failed: %s\n", rep.why);
		bench_children_failures(&kids);
		return 1;
	}
	return 0;
}
