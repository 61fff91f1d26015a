/*
 * sockserv: the server's command line.
 *   sockserv [-c file] [-f] [-t] [-s stop|quit|reload|reopen] [-V] [-h]
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

#ifndef SOCKSERV_VERSION
#define SOCKSERV_VERSION "0.1.0"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/sockserv/sockserv.cfg"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sockserv [-c file] [-f] [-t] [-s stop|quit|reload|reopen] [-V] [-h]\n"
	    "  -c file   configuration file (default %s)\n"
	    "  -f        stay in the foreground, log to stderr\n"
	    "  -t        check the configuration and exit\n"
	    "  -s sig    signal the running server: stop (TERM), quit (graceful, QUIT),\n"
	    "            reload (HUP), reopen (log files, USR1)\n"
	    "  -V        print the version\n"
	    "  -h        this help\n", DEFAULT_CONFIG);
}

static int
send_signal(const struct config *cfg, const char *name)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "stop", SIGTERM }, { "quit", SIGQUIT }, { "reload", SIGHUP }, { "reopen", SIGUSR1 },
	};
	pid_t pid;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (strcmp(sigs[i].name, name) != 0)
			continue;
		pid = daemon_pidfile_read(cfg->pid_file);
		if (pid == 0) {
			if (access(cfg->pid_file, F_OK) == -1 && errno == ENOENT)
				fprintf(stderr, "sockserv: not running (no pid file %s)\n",
				    cfg->pid_file);
			else if (access(cfg->pid_file, R_OK) == -1)
				fprintf(stderr, "sockserv: cannot read %s: %s\n", cfg->pid_file,
				    strerror(errno));
			else
				fprintf(stderr, "sockserv: not running (%s names no live "
				    "sockserv)\n", cfg->pid_file);
			return 1;
		}
		if (kill(pid, sigs[i].sig) == -1) {
			fprintf(stderr, "sockserv: kill %ld: %s\n", (long)pid, strerror(errno));
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "sockserv: -s takes stop, quit, reload or reopen, not '%s'\n", name);
	return 1;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG, *sig = NULL;
	struct master_opts opts = { 0 };
	struct config *cfg;
	char err[1024];
	int ch, test = 0, rc;

	while ((ch = getopt(argc, argv, "c:fts:Vh")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
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
	opts.config_path = path;
	log_init("stderr", LOG_LVL_INFO, 0);
	handler_register_builtins();

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		fatalx("out of memory");
	if (config_load(path, cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		free(cfg);
		return 1;
	}
	if (master_check_handlers(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		rc = 1;
	} else if (test) {
		printf("configuration ok: %s\n", path);
		rc = 0;
	} else if (sig != NULL) {
		rc = send_signal(cfg, sig);
	} else {
		log_set_level(cfg->log_level);
		return master_run(cfg, &opts);
	}
	config_free(cfg);
	free(cfg);
	return rc;
}
