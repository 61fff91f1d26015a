/*
 * procsample: the server's process tree in /proc, sampled by the parent at
 * the phase boundaries so that CPU per message and memory per connection
 * cover exactly the measured interval.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MAX_PROCS 8192	/* entries of /proc looked at: far more than a test machine runs */

static int
read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Sum over root and its descendants.  The root's cutime/cstime add the CPU
 * of workers that died and were reaped between two samples, so a restart
 * in the window loses nothing.
 */
void
bench_sample_server(int root, struct bench_srv_sample *s)
{
	/* static: two 8192-entry tables are too big for a stack frame */
	static struct bs_procstat ps[MAX_PROCS];
	static bool in[MAX_PROCS];
	char path[300], buf[4096];
	struct dirent *de;
	size_t n = 0;
	bool grew;
	DIR *d;

	memset(s, 0, sizeof(*s));
	s->at = bench_mono_s();
	if (root <= 0 || (d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < MAX_PROCS) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_text(path, buf, sizeof(buf)) == -1 || bs_parse_proc_stat(buf, &ps[n]) == -1)
			continue;
		in[n] = ps[n].pid == root;
		n++;
	}
	closedir(d);
	do {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++) {
				if (in[j] && ps[j].pid == ps[i].ppid) {
					in[i] = grew = true;
					break;
				}
			}
		}
	} while (grew);
	for (size_t i = 0; i < n; i++) {
		uint64_t kb;

		if (!in[i])
			continue;
		s->ok = true;
		s->nprocs++;
		s->ticks += ps[i].utime + ps[i].stime;
		if (ps[i].pid == root)
			s->ticks += ps[i].cutime + ps[i].cstime;
		snprintf(path, sizeof(path), "/proc/%d/status", ps[i].pid);
		if (read_text(path, buf, sizeof(buf)) == 0 && bs_parse_rss_anon(buf, &kb) == 0)
			s->rss_kb += kb;
	}
}
