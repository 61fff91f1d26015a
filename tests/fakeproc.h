/*
 * fakeproc: stand-in servers for the unit tests.  A forked child renamed
 * with PR_SET_NAME inherits every descriptor, so it keeps holding any
 * flock its parent holds once the parent closes its own copy: a "running
 * server" for the pid file and segment locks (lockfile.h) with no real
 * server running.  Killed into a zombie, it shows that a lock dies with
 * the process, not when it is reaped.  Static inline, like minijson.h, so
 * a test includes only what it uses.
 */
#ifndef SOCKSERV_TESTS_FAKEPROC_H
#define SOCKSERV_TESTS_FAKEPROC_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* a child that sleeps under the name name until killed; -1 if it cannot be made */
static inline pid_t
fakeproc_start(const char *name)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_NAME, name);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	/* renamed before anyone looks */
	if (read(p[0], &c, 1) != 1) {
		close(p[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(p[0]);
	return pid;
}

/* kill and reap */
static inline void
fakeproc_end(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Kill pid (our child) but do not reap it: 0 once /proc shows it a zombie
 * (it still answers kill(pid, 0)), -1 if that takes longer than wait_ms.
 */
static inline int
fakeproc_kill_to_zombie(pid_t pid, int wait_ms)
{
	char path[64], st[256];

	kill(pid, SIGKILL);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	for (int waited = 0; waited <= wait_ms; waited += 2) {
		FILE *f = fopen(path, "r");
		size_t n;

		if (f == NULL)
			return -1;
		n = fread(st, 1, sizeof(st) - 1, f);
		fclose(f);
		st[n] = '\0';
		if (strstr(st, ") Z ") != NULL)
			return 0;
		usleep(2000);
	}
	return -1;
}

#endif
