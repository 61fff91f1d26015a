/*
 * sockserv-stat: prints the server's shared-memory statistics.
 *   sockserv-stat [-c file | -s path] [--json | --prometheus] [-w seconds] [-h]
 * It maps the segment read-only and never signals the server, so it works
 * while the master is busy, stopped or hung.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "render.h"
#include "stats.h"

#define DEFAULT_CONFIG SYSCONFDIR "/sockserv/sockserv.cfg"
#define MAX_INTERVAL_S 86400.0

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sockserv-stat [-c file | -s path] [--json | --prometheus] [-w seconds] [-h]\n"
	    "  -c file          configuration naming stats_path (default %s)\n"
	    "  -s path          read this stats segment instead\n"
	    "  -j, --json       one JSON object per snapshot\n"
	    "  -p, --prometheus Prometheus text exposition format\n"
	    "  -w seconds       repeat every so many seconds until interrupted\n"
	    "  -h, --help       this help\n", DEFAULT_CONFIG);
}

/*
 * The segment a configuration names.  A file with a mistake the server
 * would refuse still names the segment of the server that runs (an
 * operator may be in the middle of editing it): a warning, then a parse
 * that reads stats_path alone.  Only a file libconfig cannot parse fails.
 */
static int
stats_path_from_config(const char *cfgpath, char *out, size_t outlen)
{
	struct config cfg;
	char err[1024];

	memset(&cfg, 0, sizeof(cfg));
	if (config_load(cfgpath, &cfg, err, sizeof(err)) == 0) {
		snprintf(out, outlen, "%s", cfg.stats_path);
		config_free(&cfg);
		return 0;
	}
	if (config_peek_paths(cfgpath, NULL, out, outlen, NULL, 0) == -1) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	fprintf(stderr, "sockserv-stat: warning: %s\n", err);
	return 0;
}

/* one snapshot printed; -1 (message written) when there is nothing to read */
static int
show(const char *path, enum render_format fmt, struct render_snapshot *snap)
{
	struct stats_seg seg;
	char err[1200];

	if (stats_open(&seg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "sockserv-stat: %s\n", err);
		return -1;
	}
	if (render_snapshot_take(snap, &seg) == -1) {
		stats_close(&seg);
		fprintf(stderr, "sockserv-stat: %s: the file shrank while it was being read "
		    "(replaced or damaged): no numbers to show\n", path);
		return -1;
	}
	stats_close(&seg);
	if (render(stdout, fmt, snap) == -1 || fflush(stdout) == EOF) {
		if (stop)
			return 0;	/* interrupted on purpose: the caller exits */
		fprintf(stderr, "sockserv-stat: writing the output: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void
add_seconds(struct timespec *t, double seconds)
{
	time_t whole = (time_t)seconds;	/* positive: truncation is floor */

	t->tv_sec += whole;
	t->tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/*
 * Sleep until the absolute CLOCK_MONOTONIC time next or a stop signal.
 * SIGINT/SIGTERM are blocked outside this wait and ppoll() unblocks them
 * atomically, so a signal cannot slip in between the check and the sleep.
 */
static void
wait_until(const struct timespec *next, const sigset_t *unblocked)
{
	struct timespec now, left;

	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next->tv_sec ||
		    (now.tv_sec == next->tv_sec && now.tv_nsec >= next->tv_nsec))
			return;
		left.tv_sec = next->tv_sec - now.tv_sec;
		left.tv_nsec = next->tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		ppoll(NULL, 0, &left, unblocked);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct render_snapshot snap;
	const char *cfgpath = NULL, *segpath = NULL;
	enum render_format fmt = RENDER_TABLE;
	char path[CONFIG_PATH_MAX];
	double interval = 0;
	struct timespec next;
	sigset_t stopsigs, unblocked;
	char *end;
	int ch, nfmt = 0;

	while ((ch = getopt_long(argc, argv, "c:s:jpw:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 's': segpath = optarg; break;
		case 'j': fmt = RENDER_JSON; nfmt++; break;
		case 'p': fmt = RENDER_PROMETHEUS; nfmt++; break;
		case 'w':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(interval > 0) ||
			    interval > MAX_INTERVAL_S) {
				fprintf(stderr, "sockserv-stat: -w takes seconds, more than 0 and "
				    "at most %.0f, not '%s'\n", MAX_INTERVAL_S, optarg);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (cfgpath != NULL && segpath != NULL) {
		fprintf(stderr, "sockserv-stat: -c and -s exclude each other\n");
		return 1;
	}
	if (nfmt > 1) {
		fprintf(stderr, "sockserv-stat: --json and --prometheus exclude each other\n");
		return 1;
	}
	if (segpath != NULL)
		snprintf(path, sizeof(path), "%s", segpath);
	else if (stats_path_from_config(cfgpath ? cfgpath : DEFAULT_CONFIG, path,
	    sizeof(path)) == -1)
		return 1;

	if (interval > 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int round = 0;; round++) {
		/* tables and Prometheus pages get a blank line between them; JSON is one per line */
		if (round > 0 && fmt != RENDER_JSON)
			putchar('\n');
		if (show(path, fmt, &snap) == -1)
			return 1;
		if (interval <= 0)
			return 0;
		/*
		 * Deliverable while printing (a stuck pipe must not make us
		 * unkillable), blocked from here to ppoll()'s atomic unblock.
		 */
		sigprocmask(SIG_BLOCK, &stopsigs, &unblocked);
		/* absolute deadlines, so the rounds do not drift by the time each one takes */
		add_seconds(&next, interval);
		wait_until(&next, &unblocked);
		if (stop)
			return 0;
		sigprocmask(SIG_SETMASK, &unblocked, NULL);
	}
}
