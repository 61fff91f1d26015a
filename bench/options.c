/*
 * options: sockserv-bench's command line into a struct bench_opts, the
 * table of modes it names, and the descriptor limit the options need.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#define FD_RESERVE	32	/* descriptors a client process needs besides its sockets */

/* indexed by enum bs_mode, in the order the synopsis names them */
static const struct bench_mode *const bench_modes[] = {
	[BS_ECHO] = &bench_echo,
	[BS_IDLE] = &bench_idle,
	[BS_CHURN] = &bench_churn,
};

static void
synopsis(FILE *f)
{
	fprintf(f,
	    "usage: sockserv-bench echo|idle|churn [-h host] -p port [--raw] [-c conns]\n"
	    "       [-d depth] [-s bytes] [-t seconds] [-i heartbeat_seconds]\n"
	    "       [-S source_addrs|auto] [-P processes|auto] [--json] [--server PID]\n"
	    "       [--stats stats_path] [--timeout seconds] [--rate conns_per_second]\n"
	    "       [--msg-rate msgs_per_second] [--ramp-timeout seconds]\n");
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sockserv-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	synopsis(stderr);
	exit(BENCH_EXIT_USAGE);
}

static long
num_arg(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage_error("%s: %s is not an integer in %ld..%ld", opt, s, lo, hi);
	return v;
}

static double
secs_arg(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		usage_error("%s: %s is not a number of seconds in %g..%g", opt, s, lo, hi);
	return v;
}

void
bench_opts_parse(struct bench_opts *o, int argc, char **argv)
{
	enum { OPT_RAW = 1000, OPT_JSON, OPT_SERVER, OPT_TIMEOUT, OPT_RATE, OPT_MSG_RATE, OPT_HELP,
		OPT_RAMP_TIMEOUT, OPT_STATS };
	static const struct option longopts[] = {
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "msg-rate", required_argument, NULL, OPT_MSG_RATE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "ramp-timeout", required_argument, NULL, OPT_RAMP_TIMEOUT },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ NULL, 0, NULL, 0 }
	};
	size_t m;
	int opt;

	*o = (struct bench_opts){
		.host = "127.0.0.1",
		.conns = -1,
		.depth = 1,
		.size = 64,
		.seconds = 10,
		.interval = 30,
		.procs = 1,
	};
	if (argc < 2)
		usage_error("a mode is needed");
	if (strcmp(argv[1], "--help") == 0) {
		synopsis(stdout);
		exit(0);
	}
	for (m = 0; m < sizeof(bench_modes) / sizeof(bench_modes[0]); m++)
		if (strcmp(argv[1], bench_modes[m]->name) == 0)
			break;
	if (m == sizeof(bench_modes) / sizeof(bench_modes[0]))
		usage_error("unknown mode %s", argv[1]);
	o->mode = (enum bs_mode)m;
	o->ops = bench_modes[m];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h:p:c:d:s:t:i:S:P:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h': o->host = optarg; break;
		case 'p': o->port = (uint16_t)num_arg("-p", optarg, 1, 65535); break;
		case 'c': o->conns = num_arg("-c", optarg, 1, 10000000); break;
		case 'd': o->depth = num_arg("-d", optarg, 1, 1000000); break;
		case 's': o->size = num_arg("-s", optarg, 0, 1024 * 1024); break;
		case 't': o->seconds = secs_arg("-t", optarg, 0.001, 86400); break;
		case 'i': o->interval = secs_arg("-i", optarg, 0, 86400); break;
		case 'S':
			o->sources = strcmp(optarg, "auto") == 0 ? BENCH_AUTO :
			    num_arg("-S", optarg, 1, BENCH_MAX_SOURCES);
			break;
		case 'P':
			o->procs = strcmp(optarg, "auto") == 0 ? BENCH_AUTO :
			    num_arg("-P", optarg, 1, BENCH_MAX_PROCS);
			break;
		case OPT_RAMP_TIMEOUT:
			o->ramp_timeout = secs_arg("--ramp-timeout", optarg, 1, 86400);
			break;
		case OPT_STATS: o->stats_path = optarg; break;
		case OPT_RAW: o->raw = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_SERVER: o->server_pid = (int)num_arg("--server", optarg, 1, INT32_MAX); break;
		case OPT_TIMEOUT: o->timeout = secs_arg("--timeout", optarg, 0.001, 86400); break;
		case OPT_RATE: o->rate = (double)num_arg("--rate", optarg, 1, 10000000); break;
		case OPT_MSG_RATE: o->msg_rate = num_arg("--msg-rate", optarg, 1, 100000000); break;
		case OPT_HELP:
			synopsis(stdout);
			exit(0);
		default:
			synopsis(stderr);
			exit(BENCH_EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (o->port == 0)
		usage_error("-p port is required");
	if (inet_pton(AF_INET, o->host, &o->addr) != 1)
		usage_error("-h: %s is not an IPv4 address", o->host);
	if (o->sources > 0 && (ntohl(o->addr.s_addr) >> 24) != 127)
		usage_error("-S spreads over 127.0.0.1..N: the host must be a loopback address");
	if (o->conns < 0)
		o->conns = o->ops->default_conns;
	if (o->ramp_timeout == 0)
		o->ramp_timeout = bs_ramp_timeout_default((uint64_t)o->conns);
	if (o->sources == BENCH_AUTO)
		o->sources = bs_auto_sources((uint64_t)o->conns, BENCH_PER_SOURCE);
	if (o->sources > BENCH_MAX_SOURCES)
		usage_error("-S auto: %ld connections need %ld source addresses, more than %d",
		    o->conns, o->sources, BENCH_MAX_SOURCES);
	if (o->raw && o->size == 0 && o->ops->sends_payload)
		usage_error("-s: --raw needs at least 1 byte per message");
	if (o->msg_rate > 0 && o->mode != BS_ECHO)
		usage_error("--msg-rate: only echo sends messages at a rate");
	if (o->procs > o->conns)
		o->procs = o->conns;
}

/* -P auto: enough processes that each stays well inside the descriptor limit */
static void
resolve_auto_procs(struct bench_opts *o, const struct rlimit *rl)
{
	uint64_t lim = rl->rlim_cur == RLIM_INFINITY ? 1048576 : (uint64_t)rl->rlim_cur;
	long p = bs_auto_procs((uint64_t)o->conns, lim, FD_RESERVE);

	if (p < 1 || p > BENCH_MAX_PROCS)
		bench_die("-P auto: %ld connections under a descriptor limit of %llu need more "
		    "than %d processes", o->conns, (unsigned long long)lim, BENCH_MAX_PROCS);
	o->procs = p > o->conns ? o->conns : p;
}

/*
 * every client process needs its share of sockets plus a few descriptors;
 * the soft limit is raised to the hard one first, and -P auto is resolved
 * against it
 */
void
bench_fd_limit_check(struct bench_opts *o)
{
	struct rlimit rl;
	long per;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (o->procs == BENCH_AUTO) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			bench_die("getrlimit: %s", strerror(errno));
		resolve_auto_procs(o, &rl);
	}
	per = (o->conns + o->procs - 1) / o->procs;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)(per + FD_RESERVE) > rl.rlim_cur)
		bench_die("%ld connections per process exceed the descriptor limit %llu: use -P %ld or more",
		    per, (unsigned long long)rl.rlim_cur,
		    (long)((o->conns + (long)rl.rlim_cur - FD_RESERVE - 1) /
		    ((long)rl.rlim_cur - FD_RESERVE)));
}
