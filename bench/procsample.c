/*
 * procsample: the server's process tree in /proc, sampled by the parent at
 * the phase boundaries so that CPU per message and memory per connection
 * cover exactly the measured interval; with --stats the messages the server
 * counted (its statistics file, read-only as sockserv-stat reads it); and
 * the kernel's memory (/proc/meminfo, /proc/net/sockstat) at the same
 * moments, for the kernel's share of a connection.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "render.h"
#include "stats.h"

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
/* the messages every worker of the server has received, lifetime; -1 when unreadable */
static int
sample_stats(const char *path, uint64_t *msgs)
{
	struct render_snapshot *snap = malloc(sizeof(*snap));
	struct stats_seg seg;
	char err[1200];
	int rc = -1;

	if (snap == NULL)
		return -1;
	if (stats_open(&seg, path, err, sizeof(err)) == 0) {
		if (render_snapshot_take(snap, &seg) == 0) {
			*msgs = 0;
			for (uint32_t i = 0; i < snap->nslots; i++) {
				struct stats_counters life;

				stats_slot_lifetime(&snap->slot[i], &life);
				*msgs += life.messages_in;
			}
			rc = 0;
		}
		stats_close(&seg);
	}
	free(snap);
	return rc;
}

void
bench_sample_kernel(struct bs_kmem *k)
{
	/* static: /proc/meminfo is a few kB and this is called four times a run */
	static char buf[16384];

	memset(k, 0, sizeof(*k));
	if (read_text("/proc/meminfo", buf, sizeof(buf)) == -1 ||
	    bs_parse_kb_line(buf, "Slab", &k->slab_kb) == -1 ||
	    bs_parse_kb_line(buf, "SUnreclaim", &k->sunreclaim_kb) == -1)
		return;
	if (read_text("/proc/net/sockstat", buf, sizeof(buf)) == -1 ||
	    bs_parse_sockstat_tcp(buf, &k->tcp_inuse, &k->tcp_mem_pages) == -1)
		return;
	k->ok = true;
}

void
bench_sample_server(int root, const char *stats_path, struct bench_srv_sample *s)
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
	bench_sample_kernel(&s->k);
	if (stats_path != NULL)
		s->msgs_ok = sample_stats(stats_path, &s->msgs_in) == 0;
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
