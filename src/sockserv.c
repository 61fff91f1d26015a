/*
 * sockserv: the server's command line.
 *   sockserv [-c file] [-f] [-t] [-s stop|quit|reload|reopen|upgrade] [-V] [-h]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "handler.h"
#include "log.h"
#include "master.h"
#include "upgrade.h"
#include "version.h"
#define DEFAULT_CONFIG SYSCONFDIR "/sockserv/sockserv.cfg"

static const struct {
	const char *name;
	int sig;
} sigs[] = {
	{ "stop", SIGTERM }, { "quit", SIGQUIT }, { "reload", SIGHUP }, { "reopen", SIGUSR1 },
	{ "upgrade", SIGUSR2 },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sockserv [-c file] [-f] [-t] [-s stop|quit|reload|reopen|upgrade] [-V] [-h]\n"
	    "  -c file   configuration file (default %s)\n"
	    "  -f        stay in the foreground (logs go to log.target; stderr by default)\n"
	    "  -t        check the configuration and exit\n"
	    "  -s sig    signal the running server: stop (TERM), quit (graceful, QUIT),\n"
	    "            reload (HUP), reopen (log files, USR1),\n"
	    "            upgrade (run the binary installed at the same path, USR2)\n"
	    "  -V        print the version\n"
	    "  -h        this help\n", DEFAULT_CONFIG);
}

/* the signal -s name stands for, 0 (message printed) for a name we do not know */
static int
signal_number(const char *name)
{
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].sig;
	fprintf(stderr, "sockserv: -s takes stop, quit, reload, reopen or upgrade, not '%s'\n",
	    name);
	return 0;
}

/*
 * 0 once sig went to the server that pid_file names, 1 (message printed)
 * if not.  Running means holding the pid file's lock: a file nobody holds
 * is stale whatever pid it names, and nothing is signalled then.
 */
static int
send_signal(const char *pid_file, int sig)
{
	pid_t pid = daemon_pidfile_read(pid_file);

	if (pid == 0) {
		if (access(pid_file, F_OK) == -1 && errno == ENOENT)
			fprintf(stderr, "sockserv: not running (no pid file %s)\n", pid_file);
		else
			fprintf(stderr, "sockserv: not running (%s names no live sockserv: "
			    "no process holds its lock)\n", pid_file);
		return 1;
	}
	if (pid == -1) {
		if (errno == EAGAIN)
			fprintf(stderr, "sockserv: %s is locked by a server that wrote no pid "
			    "into it: nothing was signalled\n", pid_file);
		else
			fprintf(stderr, "sockserv: cannot read %s: %s\n", pid_file,
			    strerror(errno));
		return 1;
	}
	if (kill(pid, sig) == -1) {
		fprintf(stderr, "sockserv: kill %ld: %s\n", (long)pid, strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * -s: the running server is found through the pid file, which must stay
 * findable while the file has a mistake (an operator edits it, then wants
 * to reopen the logs or stop): a file that does not load is only a warning
 * then, and a cheaper parse finds pid_file.  A reload is sent even so, and
 * the server keeps its configuration and logs why; the exit status says
 * that nothing changed.
 */
static int
signal_server(const char *path, const char *name)
{
	struct config *cfg;
	char err[1024], pid_file[CONFIG_PATH_MAX];
	int sig, valid, rc;

	if ((sig = signal_number(name)) == 0)
		return 1;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		fatalx("out of memory");
	if (config_load(path, cfg, err, sizeof(err)) == 0) {
		snprintf(pid_file, sizeof(pid_file), "%s", cfg->pid_file);
		/* what the server would judge on a reload: the same verdict as -t */
		valid = master_check_handlers(cfg, err, sizeof(err)) == 0 &&
		    (sig != SIGHUP || daemon_check_runtime(cfg, err, sizeof(err)) == 0);
		config_free(cfg);
		if (!valid)
			fprintf(stderr, "sockserv: warning: %s\n", err);
	} else {
		valid = 0;
		/* a file libconfig cannot parse names no pid file: that is an error */
		if (config_peek_paths(path, pid_file, NULL, sizeof(pid_file), NULL, 0) == -1) {
			fprintf(stderr, "%s\n", err);
			fprintf(stderr, "sockserv: no pid_file to be found in %s: nothing was "
			    "signalled\n", path);
			free(cfg);
			return 1;
		}
		fprintf(stderr, "sockserv: warning: %s\n", err);
	}
	free(cfg);
	rc = send_signal(pid_file, sig);
	if (rc == 0 && sig == SIGHUP && !valid) {
		fprintf(stderr, "sockserv: reload sent, but %s is invalid: the server keeps its "
		    "current configuration\n", path);
		rc = 1;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG, *sig = NULL;
	struct master_opts opts = { 0 };
	struct config *cfg;
	char err[1024];
	int ch, test = 0, c_index = -1;
	size_t c_off = 0;

	while ((ch = getopt(argc, argv, "c:fts:Vh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			/* where the value is, to hand an upgrade the same words with it made absolute */
			c_index = optind - 1;
			c_off = (size_t)(optarg - argv[c_index]);
			break;
		case 'f': opts.foreground = 1; break;
		case 't': test = 1; break;
		case 's': sig = optarg; break;
		case 'V':
			printf("sockserv %s\n", SOCKSERV_VERSION);
			return 0;
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
	/*
	 * Before anything of ours is open: only the starter's leftovers go.
	 * In the foreground too: a shell's, a supervisor's or a test's
	 * descriptors would otherwise live on in every worker, which runs as
	 * the less trusted user.
	 */
	if (!test && sig == NULL) {
		int keep[4096];
		size_t nkeep;

		/* a binary upgrade's sockets and ready pipe stay (checked in master_run) */
		if (upgrade_take_env(err, sizeof(err)) == -1) {
			fprintf(stderr, "sockserv: %s\n", err);
			return 1;
		}
		nkeep = upgrade_inherited_fds(keep, sizeof(keep) / sizeof(keep[0]));
		daemon_close_inherited_except(keep, nkeep);
	}
	opts.config_path = path;
	log_init("stderr", LOG_LVL_INFO, 0);
	handler_register_builtins();
	if (sig != NULL && !test)
		return signal_server(path, sig);

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		fatalx("out of memory");
	if (config_load(path, cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		free(cfg);
		return 1;
	}
	/* everything the server checks before it starts, so -t says ok only when it would start */
	if (master_check_handlers(cfg, err, sizeof(err)) == -1 ||
	    daemon_check_runtime(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		config_free(cfg);
		free(cfg);
		return 1;
	}
	if (test) {
		printf("configuration ok\n");
		config_free(cfg);
		free(cfg);
		return 0;
	}
	log_set_level(cfg->log_level);
	/* now, in the cwd we were started from: the daemon chdirs to / */
	if (upgrade_set_command(argc, argv, c_index, c_off, cfg->path, err, sizeof(err)) == -1)
		log_warnx("binary upgrade unavailable: %s", err);
	return master_run(cfg, &opts);
}
