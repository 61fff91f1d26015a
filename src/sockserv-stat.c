/*
 * sockserv-stat: prints the server's shared-memory statistics.
 *   sockserv-stat [-c file | -s path] [--json | --prometheus] [--top-ips N] [-w seconds] [-h]
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

#include "admission.h"
#include "config.h"
#include "render.h"
#include "stats.h"

#define DEFAULT_CONFIG SYSCONFDIR "/sockserv/sockserv.cfg"
#define MAX_INTERVAL_S 86400.0
#define MAX_TOP_IPS 100000

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
	    "usage: sockserv-stat [-c file | -s path] [--json | --prometheus] [--top-ips N]\n"
	    "                     [-w seconds] [-h]\n"
	    "  -c file          configuration naming stats_path (default %s)\n"
	    "  -s path          read this stats segment instead\n"
	    "  -j, --json       one JSON object per snapshot\n"
	    "  -p, --prometheus Prometheus text exposition format\n"
	    "  -t, --top-ips N  the N addresses (IPv6: /64) holding the most connections\n"
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

/* the address table as a text table or one JSON object */
static int
print_top(FILE *f, enum render_format fmt, const struct adm_snapshot *t)
{
	char addr[64];

	if (fmt == RENDER_JSON) {
		fprintf(f, "{\"ip_table_size\":%u,\"addresses\":%u,\"connections\":%llu,"
		    "\"overflow\":%llu,\"top_ips\":[", t->nentries, t->used,
		    (unsigned long long)t->total, (unsigned long long)t->overflow);
		for (size_t i = 0; i < t->ntop; i++)
			/* an address string is digits, hex, '.', ':' and '/': nothing to escape */
			fprintf(f, "%s{\"address\":\"%s\",\"connections\":%llu}", i ? "," : "",
			    admission_key_str(t->top[i].key, t->top[i].fam, addr, sizeof(addr)),
			    (unsigned long long)t->top[i].count);
		fprintf(f, "]}\n");
	} else {
		fprintf(f, "%-42s %11s\n", "address", "connections");
		for (size_t i = 0; i < t->ntop; i++)
			fprintf(f, "%-42s %11llu\n",
			    admission_key_str(t->top[i].key, t->top[i].fam, addr, sizeof(addr)),
			    (unsigned long long)t->top[i].count);
		fprintf(f, "%u addresses hold %llu connections; table of %u entries; %llu "
		    "clients admitted uncounted (table full)\n", t->used,
		    (unsigned long long)t->total, t->nentries, (unsigned long long)t->overflow);
	}
	return ferror(f) ? -1 : 0;
}

/* --top-ips: the table beside a live segment; -1 (message written) when there is none */
static int
show_top(const char *path, enum render_format fmt, size_t want)
{
	struct stats_seg seg;
	struct adm_snapshot t;
	char err[1200], apath[CONFIG_PATH_MAX + sizeof(ADM_PATH_SUFFIX)];
	int32_t master;

	/* the segment says whether a master is alive, and which */
	if (stats_open(&seg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "sockserv-stat: %s\n", err);
		return -1;
	}
	master = seg.head.master_pid;
	stats_close(&seg);
	if (admission_path(path, apath, sizeof(apath)) == -1 ||
	    admission_snapshot(apath, master, want, &t, err, sizeof(err)) == -1) {
		fprintf(stderr, "sockserv-stat: %s\n", err);
		return -1;
	}
	if (print_top(stdout, fmt, &t) == -1 || fflush(stdout) == EOF) {
		admission_snapshot_free(&t);
		if (stop)
			return 0;
		fprintf(stderr, "sockserv-stat: writing the output: %s\n", strerror(errno));
		return -1;
	}
	admission_snapshot_free(&t);
	return 0;
}

/* one snapshot printed; -1 (message written) when there is nothing to read */
static int
show(const char *path, enum render_format fmt, struct render_snapshot *snap, size_t top)
{
	struct stats_seg seg;
	char err[1200];

	if (top != 0)
		return show_top(path, fmt, top);
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
		{ "top-ips", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct render_snapshot snap;
	const char *cfgpath = NULL, *segpath = NULL;
	enum render_format fmt = RENDER_TABLE;
	char path[CONFIG_PATH_MAX];
	double interval = 0;
	size_t top = 0;
	struct timespec next;
	sigset_t stopsigs, unblocked;
	char *end;
	int ch, nfmt = 0;

	while ((ch = getopt_long(argc, argv, "c:s:jpt:w:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 's': segpath = optarg; break;
		case 'j': fmt = RENDER_JSON; nfmt++; break;
		case 'p': fmt = RENDER_PROMETHEUS; nfmt++; break;
		case 't': {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
			    v == 0 || v > MAX_TOP_IPS) {
				fprintf(stderr, "sockserv-stat: --top-ips takes a count from 1 to "
				    "%d, not '%s'\n", MAX_TOP_IPS, optarg);
				return 1;
			}
			top = (size_t)v;
			break;
		}
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
	if (top != 0 && fmt == RENDER_PROMETHEUS) {
		fprintf(stderr, "sockserv-stat: --top-ips is a table or --json, not Prometheus "
		    "(an address per series would be unbounded cardinality)\n");
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
		if (show(path, fmt, &snap, top) == -1)
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
