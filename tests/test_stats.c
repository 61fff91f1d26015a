/*
 * stats tests: the segment's layout (a page per slot), creating and opening
 * it in a temporary directory (owner and mode, the lock: a live segment is
 * never taken over, a stale one is replaced without being written through;
 * refusal of foreign, damaged, oversized and stale files before anything is
 * mapped; a file that shrinks under a reader; a confined worker that can
 * reach its own slot only), and the arithmetic that keeps a slot's lifetime
 * totals across worker deaths and reloads.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "stats.h"
#include "fakeproc.h"

void test_stats_register(void);

/* ---- helpers ---- */

static char tmpdir[512];
static char segpath[600];

static int
suite_init(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/sockserv-stats.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(segpath, sizeof(segpath), "%s/test.shm", tmpdir);
	return 0;
}

static int
suite_clean(void)
{
	unlink(segpath);
	return rmdir(tmpdir);
}

/* a segment as the master creates it: we hold its lock, so stats_open sees it live */
static int
create_seg(struct stats_seg *w, uint32_t nslots)
{
	char err[1024] = "";

	if (stats_create(w, segpath, nslots, err, sizeof(err)) == -1) {
		fprintf(stderr, "stats_create: %s\n", err);
		return -1;
	}
	return 0;
}

static size_t
page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static uint64_t
closed_sum(const struct stats_counters *c)
{
	uint64_t n = 0;

	for (int r = 0; r < CLOSE_NREASONS; r++)
		n += c->closed[r];
	return n;
}

/* what one worker process did: a accepted, c closed for peer, o still open */
static void
worker_did(struct stats_slot *s, uint64_t a, uint64_t c, uint64_t o, uint64_t msgs)
{
	stats_add(&s->cur.accepted, a);
	stats_add(&s->cur.closed[CLOSE_PEER], c);
	stats_set(&s->connections, o);
	stats_add(&s->cur.messages_in, msgs);
	stats_add(&s->cur.messages_out, msgs);
	stats_add(&s->cur.bytes_in, msgs * 10);
	stats_add(&s->cur.bytes_out, msgs * 10);
}

/* ---- layout ---- */

static void
test_slot_is_whole_cache_lines(void)
{
	CU_ASSERT_EQUAL(sizeof(struct stats_slot) % STATS_CACHELINE, 0);
	CU_ASSERT_EQUAL(alignof(struct stats_slot), STATS_CACHELINE);
	CU_ASSERT_EQUAL(STATS_CACHELINE, 64);
	/* every counter is a naturally aligned 64-bit word, as atomics want */
	CU_ASSERT_EQUAL(offsetof(struct stats_slot, generation) % 8, 0);
	CU_ASSERT_EQUAL(offsetof(struct stats_slot, cur) % 8, 0);
	CU_ASSERT_EQUAL(offsetof(struct stats_slot, dead) % 8, 0);
	CU_ASSERT_EQUAL(sizeof(struct stats_counters) % 8, 0);
}

static void
test_header_keeps_slots_aligned(void)
{
	CU_ASSERT_EQUAL(sizeof(struct stats_header) % STATS_CACHELINE, 0);
	CU_ASSERT_EQUAL(alignof(struct stats_header), STATS_CACHELINE);
	/* the magic first: a reader checks it before trusting anything else */
	CU_ASSERT_EQUAL(offsetof(struct stats_header, magic), 0);
}

static void
test_created_segment_maps_a_page_per_slot(void)
{
	struct stats_seg seg;

	CU_ASSERT_FATAL(create_seg(&seg, 4) == 0);
	CU_ASSERT_EQUAL((uintptr_t)seg.hdr % page(), 0);
	CU_ASSERT_EQUAL(seg.stride % page(), 0);
	CU_ASSERT(seg.stride >= sizeof(struct stats_slot));
	CU_ASSERT_EQUAL(seg.nslots, 4);
	for (uint32_t p = 0; p < 4; p++) {
		CU_ASSERT_EQUAL((uintptr_t)stats_slot_at(&seg, p) % page(), 0);
		CU_ASSERT_EQUAL((char *)stats_slot_at(&seg, p) - (char *)seg.hdr,
		    (long)((p + 1) * seg.stride));
	}
	CU_ASSERT_EQUAL(seg.size, 5 * seg.stride);
	stats_destroy(&seg, segpath);
	CU_ASSERT_EQUAL(access(segpath, F_OK), -1);
}

/* ---- create and open ---- */

static void
test_create_writes_header_ours_0644_and_locked(void)
{
	struct stats_seg seg;
	struct stat sb;
	uint64_t before = clock_now_ms();
	mode_t old = umask(027);
	int fd;

	CU_ASSERT_FATAL(create_seg(&seg, 8) == 0);
	umask(old);
	CU_ASSERT_EQUAL_FATAL(stat(segpath, &sb), 0);
	/* readable by all (sockserv-stat needs no privilege), writable by us alone */
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0644);
	CU_ASSERT_EQUAL(sb.st_uid, geteuid());
	CU_ASSERT_EQUAL((size_t)sb.st_size, seg.size);
	CU_ASSERT_EQUAL(seg.hdr->magic, STATS_MAGIC);
	CU_ASSERT_EQUAL(seg.hdr->version, STATS_VERSION);
	CU_ASSERT_EQUAL(seg.hdr->slot_size, seg.stride);
	CU_ASSERT_EQUAL(seg.hdr->master_pid, getpid());
	CU_ASSERT_EQUAL(seg.hdr->nslots, 8);
	CU_ASSERT_EQUAL(seg.hdr->nworkers, 0);
	CU_ASSERT(seg.hdr->start_mono_ms >= before && seg.hdr->start_mono_ms <= clock_now_ms());
	CU_ASSERT(seg.hdr->start_time > 0);
	/* every slot starts empty and zero */
	for (uint32_t i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(stats_slot_at(&seg, i)->state, WS_EMPTY);
		CU_ASSERT_EQUAL(stats_slot_at(&seg, i)->cur.accepted, 0);
		CU_ASSERT_EQUAL(stats_slot_at(&seg, i)->generation, 0);
	}
	/* the descriptor we keep is the lock: nobody else gets it */
	fd = open(segpath, O_RDONLY);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(flock(fd, LOCK_SH | LOCK_NB), -1);
	CU_ASSERT_EQUAL(errno, EWOULDBLOCK);
	close(fd);
	stats_destroy(&seg, segpath);
	CU_ASSERT_EQUAL(seg.hdr, NULL);
	CU_ASSERT_EQUAL(seg.fd, -1);
}

static void
test_open_sees_what_the_writer_writes_and_keeps_no_descriptor(void)
{
	struct stats_seg w, r;
	char err[256] = "";

	CU_ASSERT_FATAL(create_seg(&w, 4) == 0);
	w.hdr->nworkers = 2;
	CU_ASSERT_FATAL(stats_open(&r, segpath, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(r.size, w.size);
	CU_ASSERT_EQUAL(r.nslots, 4);
	CU_ASSERT_EQUAL(r.stride, w.stride);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.hdr->nworkers, 2);
	/* MAP_SHARED: later writes show through the reader's mapping */
	stats_set(&stats_slot_at(&w, 1)->cur.accepted, 42);
	__atomic_store_n(&stats_slot_at(&w, 1)->state, WS_RUNNING, __ATOMIC_RELAXED);
	CU_ASSERT_EQUAL(stats_get(&stats_slot_at(&r, 1)->cur.accepted), 42);
	CU_ASSERT_EQUAL(stats_slot_at(&r, 1)->state, WS_RUNNING);
	/* the count the reader validated stays its own, whatever the header says later */
	w.hdr->nslots = 0xffffffffu;
	CU_ASSERT_EQUAL(r.nslots, 4);
	stats_close(&r);
	stats_destroy(&w, segpath);
}

static void
test_create_replaces_a_stale_file_without_writing_through_it(void)
{
	struct stats_seg seg;
	char victim[700], text[64] = "";
	struct stat vb, sb;
	int fd = open(segpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	FILE *f;

	/* junk from a crashed server */
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(write(fd, "old junk from a crashed server", 30), 30);
	close(fd);
	CU_ASSERT_FATAL(create_seg(&seg, 2) == 0);
	CU_ASSERT_EQUAL(seg.hdr->magic, STATS_MAGIC);
	CU_ASSERT_EQUAL(stats_slot_at(&seg, 0)->cur.accepted, 0);
	stats_destroy(&seg, segpath);

	/* a second name of someone else's file: replaced, the file itself untouched */
	snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
	f = fopen(victim, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("precious\n", f);
	fclose(f);
	CU_ASSERT_FATAL(link(victim, segpath) == 0);
	CU_ASSERT_FATAL(create_seg(&seg, 2) == 0);
	f = fopen(victim, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fgets(text, sizeof(text), f) != NULL);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(text, "precious\n");
	CU_ASSERT_EQUAL(stat(victim, &vb), 0);
	CU_ASSERT_EQUAL(stat(segpath, &sb), 0);
	CU_ASSERT(vb.st_ino != sb.st_ino);
	CU_ASSERT_EQUAL(vb.st_size, 9);
	stats_destroy(&seg, segpath);
	unlink(victim);
}

static void
test_create_refuses_a_symlink(void)
{
	struct stats_seg seg;
	char victim[700], err[1024] = "";

	snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
	CU_ASSERT_FATAL(symlink(victim, segpath) == 0);
	CU_ASSERT_EQUAL(stats_create(&seg, segpath, 2, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	/* the dangling link's target was not created */
	CU_ASSERT_EQUAL(access(victim, F_OK), -1);
	unlink(segpath);
}

static void
test_create_refuses_a_live_segment_and_leaves_it_alone(void)
{
	struct stats_seg w, again;
	char err[1024] = "", want[64];
	struct stat before, after;

	CU_ASSERT_FATAL(create_seg(&w, 4) == 0);
	stats_set(&stats_slot_at(&w, 3)->cur.accepted, 17);
	w.hdr->nworkers = 3;
	CU_ASSERT_FATAL(stat(segpath, &before) == 0);
	CU_ASSERT_EQUAL(stats_create(&again, segpath, 4, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "master pid %ld", (long)getpid());
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use by another sockserv"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, segpath));
	/* the same file, same numbers */
	CU_ASSERT_FATAL(stat(segpath, &after) == 0);
	CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
	CU_ASSERT_EQUAL(before.st_size, after.st_size);
	CU_ASSERT_EQUAL(stats_get(&stats_slot_at(&w, 3)->cur.accepted), 17);
	CU_ASSERT_EQUAL(w.hdr->nworkers, 3);
	CU_ASSERT_EQUAL(w.hdr->master_pid, getpid());
	stats_destroy(&w, segpath);
}

static void
test_open_missing_file_names_it(void)
{
	struct stats_seg seg;
	char err[1024] = "";

	unlink(segpath);
	CU_ASSERT_EQUAL(stats_open(&seg, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, segpath));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
	CU_ASSERT_EQUAL(seg.hdr, NULL);
}

static void
test_open_rejects_foreign_and_damaged_files(void)
{
	struct stats_seg w, r;
	char err[1024];
	uint32_t stride;
	int fd;

	/* too short for a header */
	fd = open(segpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(write(fd, "short", 5), 5);
	close(fd);
	err[0] = '\0';
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a sockserv stats segment"));
	unlink(segpath);

	/* a real segment whose fields are then spoiled one at a time */
	CU_ASSERT_FATAL(create_seg(&w, 2) == 0);
	stride = w.hdr->slot_size;
	w.hdr->magic ^= 1;
	err[0] = '\0';
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a sockserv stats segment"));
	w.hdr->magic ^= 1;

	w.hdr->version = STATS_VERSION + 1;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->version = STATS_VERSION;

	/* strides: smaller than a slot, unaligned, absurd */
	w.hdr->slot_size = 64;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->slot_size = stride + 8;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->slot_size = 0xffffffc0u;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "damaged"));
	w.hdr->slot_size = stride;

	/* more slots claimed than the file holds, than the format allows, or none */
	w.hdr->nslots = 3;
	err[0] = '\0';
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too short"));
	w.hdr->nslots = 0xffffffffu;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most 256 slots"));
	w.hdr->nslots = 0;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->nslots = 2;

	w.hdr->nworkers = 3;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->nworkers = 2;

	/* and repaired, it opens again */
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), 0);
	stats_close(&r);
	stats_destroy(&w, segpath);
}

/* the audit's file: sparse, 2^20 slots declared, held by a "master" */
static void
test_open_rejects_a_sparse_file_declaring_a_million_slots_at_once(void)
{
	struct stats_header h;
	struct stats_seg r;
	struct timespec a, b;
	char err[1024] = "";
	size_t stride = page();
	int fd = open(segpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	long ms;

	CU_ASSERT_FATAL(fd != -1);
	memset(&h, 0, sizeof(h));
	h.magic = STATS_MAGIC;
	h.version = STATS_VERSION;
	h.slot_size = (uint32_t)stride;
	h.master_pid = (int32_t)getpid();
	h.nslots = 1u << 20;
	h.nworkers = 1u << 20;
	CU_ASSERT_FATAL(pwrite(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)(stride * ((1u << 20) + 1))) == 0);
	CU_ASSERT_FATAL(flock(fd, LOCK_EX) == 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CU_ASSERT(ms < 100);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1048576 slots"));
	CU_ASSERT_EQUAL(r.hdr, NULL);
	close(fd);
	unlink(segpath);
}

static void
test_open_tells_stale_from_live_by_the_lock(void)
{
	struct stats_seg w, r;
	char err[1024] = "";
	pid_t holder;
	int fd;

	CU_ASSERT_FATAL(create_seg(&w, 2) == 0);
	/* a child inherits the lock (a master's workers would not; a master does) */
	holder = fakeproc_start("holder");
	CU_ASSERT_FATAL(holder > 0);
	fd = w.fd;
	w.fd = -1;
	close(fd);
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), 0);
	stats_close(&r);
	/* killed but not reaped: a zombie holds no lock, whatever pid the header names */
	CU_ASSERT_FATAL(fakeproc_kill_to_zombie(holder, 5000) == 0);
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stale"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, segpath));
	waitpid(holder, NULL, 0);
	/* the live process the header names (us) does not make it live either */
	CU_ASSERT_EQUAL(w.hdr->master_pid, getpid());
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stale"));
	stats_close(&w);
	unlink(segpath);
}

static void
read_slot_1(void *arg)
{
	const struct stats_seg *seg = arg;
	volatile uint64_t v = stats_get(&stats_slot_at(seg, 1)->cur.accepted);

	(void)v;
}

static void
test_guarded_read_survives_a_file_shrinking_under_it(void)
{
	struct stats_seg w, r;
	struct sigaction before, now;
	char err[1024] = "";

	CU_ASSERT_FATAL(sigaction(SIGBUS, NULL, &before) == 0);
	CU_ASSERT_FATAL(create_seg(&w, 4) == 0);
	CU_ASSERT_FATAL(stats_open(&r, segpath, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(stats_guarded(read_slot_1, &r), 0);
	/* the header page stays, the slots go: touching one is SIGBUS */
	CU_ASSERT_FATAL(truncate(segpath, (off_t)r.stride) == 0);
	CU_ASSERT_EQUAL(stats_guarded(read_slot_1, &r), -1);
	CU_ASSERT_EQUAL(stats_guarded(read_slot_1, &r), -1);
	/* and SIGBUS is back to what it was (a sanitizer's handler, or the default) */
	CU_ASSERT_EQUAL(sigaction(SIGBUS, NULL, &now), 0);
	CU_ASSERT(now.sa_handler == before.sa_handler);
	stats_close(&r);
	stats_destroy(&w, segpath);
}

/* in a child: confine to slot 2, write it, then touch what; the wait status */
static int
confined_child(struct stats_seg *w, int what)
{
	pid_t pid = fork();
	int st = -1;

	if (pid == 0) {
		/* die of the fault itself, not of a sanitizer's report of it */
		signal(SIGSEGV, SIG_DFL);
		stats_confine(w, 2);
		stats_set(&stats_slot_at(w, 2)->cur.accepted, 77);
		if (what == 0)
			w->hdr->nslots = 0xffffffffu;
		else if (what == 1)
			stats_set(&stats_slot_at(w, 1)->cur.accepted, 666);
		else if (what == 3)
			stats_set(&stats_slot_at(w, 3)->cur.accepted, 666);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	return st;
}

static void
test_confined_worker_can_write_its_own_slot_and_nothing_else(void)
{
	struct stats_seg w;
	int st;

	CU_ASSERT_FATAL(create_seg(&w, 4) == 0);
	st = confined_child(&w, 2);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(stats_get(&stats_slot_at(&w, 2)->cur.accepted), 77);
	for (int what = 0; what <= 3; what += what == 1 ? 2 : 1) {
		st = confined_child(&w, what);
		CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	}
	CU_ASSERT_EQUAL(w.hdr->nslots, 4);
	CU_ASSERT_EQUAL(stats_get(&stats_slot_at(&w, 1)->cur.accepted), 0);
	CU_ASSERT_EQUAL(stats_get(&stats_slot_at(&w, 3)->cur.accepted), 0);
	stats_destroy(&w, segpath);
}

/* ---- lifetime arithmetic ---- */

static void
test_retire_folds_counters_and_counts_held_connections_as_errors(void)
{
	static struct stats_slot s;
	struct stats_counters life;

	memset(&s, 0, sizeof(s));
	worker_did(&s, 10, 3, 7, 5);
	stats_slot_retire(&s);
	CU_ASSERT_EQUAL(s.dead.accepted, 10);
	CU_ASSERT_EQUAL(s.dead.closed[CLOSE_PEER], 3);
	CU_ASSERT_EQUAL(s.dead.closed[CLOSE_ERROR], 7);
	CU_ASSERT_EQUAL(s.dead.messages_in, 5);
	CU_ASSERT_EQUAL(s.dead.bytes_out, 50);
	CU_ASSERT_EQUAL(s.connections, 0);
	CU_ASSERT_EQUAL(s.cur.accepted, 0);
	CU_ASSERT_EQUAL(closed_sum(&s.cur), 0);
	CU_ASSERT_EQUAL(s.cur.messages_in, 0);
	stats_slot_lifetime(&s, &life);
	CU_ASSERT_EQUAL(life.accepted, closed_sum(&life) + s.connections);
}

static void
test_lifetime_survives_repeated_deaths(void)
{
	static struct stats_slot s;
	struct stats_counters life;

	memset(&s, 0, sizeof(s));
	/* three processes in a row; the first two die holding connections */
	worker_did(&s, 10, 6, 4, 100);
	stats_slot_retire(&s);
	worker_did(&s, 20, 15, 5, 200);
	stats_slot_retire(&s);
	worker_did(&s, 7, 2, 5, 30);
	stats_slot_lifetime(&s, &life);
	CU_ASSERT_EQUAL(life.accepted, 37);
	CU_ASSERT_EQUAL(life.closed[CLOSE_PEER], 23);
	CU_ASSERT_EQUAL(life.closed[CLOSE_ERROR], 9);
	CU_ASSERT_EQUAL(life.messages_in, 330);
	CU_ASSERT_EQUAL(life.bytes_in, 3300);
	/* this process alone */
	CU_ASSERT_EQUAL(s.cur.accepted, 7);
	CU_ASSERT_EQUAL(s.cur.messages_in, 30);
	/* the invariant, with the live process's 5 open connections */
	CU_ASSERT_EQUAL(life.accepted, closed_sum(&life) + s.connections);
}

static void
test_merge_moves_lifetime_into_heir_and_frees_slot(void)
{
	static struct stats_slot old, heir;
	struct stats_counters lo, lh;
	uint64_t before_total;

	memset(&old, 0, sizeof(old));
	memset(&heir, 0, sizeof(heir));
	/* the old generation: one earlier death, a draining process with 2 open */
	worker_did(&old, 8, 8, 0, 16);
	stats_slot_retire(&old);
	worker_did(&old, 5, 3, 2, 4);
	stats_add(&old.cur.protocol_errors, 1);
	__atomic_store_n(&old.state, WS_DRAINING, __ATOMIC_RELAXED);
	old.pid = 1234;
	/* the new generation's worker in its own slot */
	worker_did(&heir, 6, 1, 5, 9);
	__atomic_store_n(&heir.state, WS_RUNNING, __ATOMIC_RELAXED);

	stats_slot_lifetime(&old, &lo);
	stats_slot_lifetime(&heir, &lh);
	before_total = lo.accepted + lh.accepted;

	stats_slot_merge(&heir, &old);
	CU_ASSERT_EQUAL(old.state, WS_EMPTY);
	CU_ASSERT_EQUAL(old.pid, 0);
	CU_ASSERT_EQUAL(old.dead.accepted, 0);
	stats_slot_lifetime(&heir, &lh);
	CU_ASSERT_EQUAL(lh.accepted, before_total);
	CU_ASSERT_EQUAL(lh.accepted, 19);
	CU_ASSERT_EQUAL(lh.messages_in, 29);
	CU_ASSERT_EQUAL(lh.protocol_errors, 1);
	/* the draining process's 2 open connections ended with it */
	CU_ASSERT_EQUAL(lh.closed[CLOSE_ERROR], 2);
	/* the heir's own process is untouched */
	CU_ASSERT_EQUAL(heir.cur.accepted, 6);
	CU_ASSERT_EQUAL(heir.connections, 5);
	CU_ASSERT_EQUAL(heir.state, WS_RUNNING);
	CU_ASSERT_EQUAL(lh.accepted, closed_sum(&lh) + heir.connections);
}

static void
test_state_names(void)
{
	CU_ASSERT_STRING_EQUAL(stats_state_name(WS_EMPTY), "empty");
	CU_ASSERT_STRING_EQUAL(stats_state_name(WS_STARTING), "starting");
	CU_ASSERT_STRING_EQUAL(stats_state_name(WS_RUNNING), "running");
	CU_ASSERT_STRING_EQUAL(stats_state_name(WS_DRAINING), "draining");
	CU_ASSERT_STRING_EQUAL(stats_state_name(WS_EXITED), "exited");
	CU_ASSERT_STRING_EQUAL(stats_state_name(99), "unknown");
}

static void
test_now_ms_is_monotonic(void)
{
	uint64_t a = clock_now_ms(), b;

	usleep(2000);
	b = clock_now_ms();
	CU_ASSERT(b >= a + 1);
	CU_ASSERT(a > 0);
}

#define ADD(f) CU_add_test(s, #f, f)

void
test_stats_register(void)
{
	CU_pSuite s;

	if ((s = CU_add_suite("stats", suite_init, suite_clean)) == NULL)
		return;
	ADD(test_slot_is_whole_cache_lines);
	ADD(test_header_keeps_slots_aligned);
	ADD(test_created_segment_maps_a_page_per_slot);
	ADD(test_create_writes_header_ours_0644_and_locked);
	ADD(test_open_sees_what_the_writer_writes_and_keeps_no_descriptor);
	ADD(test_create_replaces_a_stale_file_without_writing_through_it);
	ADD(test_create_refuses_a_symlink);
	ADD(test_create_refuses_a_live_segment_and_leaves_it_alone);
	ADD(test_open_missing_file_names_it);
	ADD(test_open_rejects_foreign_and_damaged_files);
	ADD(test_open_rejects_a_sparse_file_declaring_a_million_slots_at_once);
	ADD(test_open_tells_stale_from_live_by_the_lock);
	ADD(test_guarded_read_survives_a_file_shrinking_under_it);
	ADD(test_confined_worker_can_write_its_own_slot_and_nothing_else);
	ADD(test_retire_folds_counters_and_counts_held_connections_as_errors);
	ADD(test_lifetime_survives_repeated_deaths);
	ADD(test_merge_moves_lifetime_into_heir_and_frees_slot);
	ADD(test_state_names);
	ADD(test_now_ms_is_monotonic);
}
