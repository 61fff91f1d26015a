/*
 * stats tests: the segment's layout, creating and opening it in a temporary
 * directory (mode, header, refusal of foreign, damaged and stale files), and
 * the arithmetic that keeps a slot's lifetime totals across worker deaths
 * and reloads.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "stats.h"
#include "fakeproc.h"

void test_stats_register(void);

/* ---- helpers ---- */

static char tmpdir[512];
static char segpath[600];

static pid_t suite_master;	/* a live "sockserv" the segments name as their master */

static int
suite_init(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/sockserv-stats.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(segpath, sizeof(segpath), "%s/test.shm", tmpdir);
	if ((suite_master = fakeproc_start("sockserv")) == -1)
		return -1;
	return 0;
}

static int
suite_clean(void)
{
	fakeproc_end(suite_master);
	unlink(segpath);
	return rmdir(tmpdir);
}

/* a segment as the master creates it, naming a live master (stats_open checks) */
static int
create_seg(struct stats_seg *w, uint32_t nslots)
{
	if (stats_create(w, segpath, nslots, getuid(), getgid()) == -1)
		return -1;
	w->hdr->master_pid = (int32_t)suite_master;
	return 0;
}

static uint64_t
closed_sum(const struct stats_counters *c)
{
	uint64_t n = 0;

	for (int r = 0; r < CLOSE_NREASONS; r++)
		n += c->closed[r];
	return n;
}

/* a pid that certainly belonged to a process that is gone now */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return pid;
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
test_created_segment_maps_aligned_slots(void)
{
	struct stats_seg seg;

	CU_ASSERT_FATAL(stats_create(&seg, segpath, 4, getuid(), getgid()) == 0);
	CU_ASSERT_EQUAL((uintptr_t)seg.hdr % 4096, 0);
	CU_ASSERT_EQUAL((uintptr_t)seg.slots % STATS_CACHELINE, 0);
	CU_ASSERT_EQUAL((uintptr_t)&seg.slots[3] % STATS_CACHELINE, 0);
	CU_ASSERT_EQUAL((char *)seg.slots - (char *)seg.hdr, (long)sizeof(struct stats_header));
	CU_ASSERT_EQUAL(seg.size, sizeof(struct stats_header) + 4 * sizeof(struct stats_slot));
	stats_close(&seg);
	unlink(segpath);
}

/* ---- create and open ---- */

static void
test_create_writes_header_mode_0600(void)
{
	struct stats_seg seg;
	struct stat sb;
	uint64_t before = clock_now_ms();

	CU_ASSERT_FATAL(stats_create(&seg, segpath, 8, getuid(), getgid()) == 0);
	CU_ASSERT_EQUAL_FATAL(stat(segpath, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(sb.st_uid, getuid());
	CU_ASSERT_EQUAL((size_t)sb.st_size, seg.size);
	CU_ASSERT_EQUAL(seg.hdr->magic, STATS_MAGIC);
	CU_ASSERT_EQUAL(seg.hdr->version, STATS_VERSION);
	CU_ASSERT_EQUAL(seg.hdr->slot_size, sizeof(struct stats_slot));
	CU_ASSERT_EQUAL(seg.hdr->master_pid, getpid());
	CU_ASSERT_EQUAL(seg.hdr->nslots, 8);
	CU_ASSERT_EQUAL(seg.hdr->nworkers, 0);
	CU_ASSERT(seg.hdr->start_mono_ms >= before && seg.hdr->start_mono_ms <= clock_now_ms());
	CU_ASSERT(seg.hdr->start_time > 0);
	/* every slot starts empty and zero */
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(seg.slots[i].state, WS_EMPTY);
		CU_ASSERT_EQUAL(seg.slots[i].cur.accepted, 0);
		CU_ASSERT_EQUAL(seg.slots[i].generation, 0);
	}
	stats_close(&seg);
	CU_ASSERT_EQUAL(seg.hdr, NULL);
	CU_ASSERT_EQUAL(seg.fd, -1);
	unlink(segpath);
}

static void
test_open_sees_what_the_writer_writes(void)
{
	struct stats_seg w, r;
	char err[256] = "";

	CU_ASSERT_FATAL(create_seg(&w, 4) == 0);
	w.hdr->nworkers = 2;
	CU_ASSERT_FATAL(stats_open(&r, segpath, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(r.size, w.size);
	CU_ASSERT_EQUAL(r.hdr->nworkers, 2);
	/* MAP_SHARED: later writes show through the reader's mapping */
	stats_set(&w.slots[1].cur.accepted, 42);
	__atomic_store_n(&w.slots[1].state, WS_RUNNING, __ATOMIC_RELAXED);
	CU_ASSERT_EQUAL(stats_get(&r.slots[1].cur.accepted), 42);
	CU_ASSERT_EQUAL(r.slots[1].state, WS_RUNNING);
	stats_close(&r);
	stats_close(&w);
	unlink(segpath);
}

static void
test_create_replaces_a_leftover_file(void)
{
	struct stats_seg seg;
	int fd = open(segpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(write(fd, "old junk from a crashed server", 30), 30);
	close(fd);
	CU_ASSERT_FATAL(stats_create(&seg, segpath, 2, getuid(), getgid()) == 0);
	CU_ASSERT_EQUAL(seg.hdr->magic, STATS_MAGIC);
	CU_ASSERT_EQUAL(seg.slots[0].cur.accepted, 0);
	stats_close(&seg);
	unlink(segpath);
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
	int fd;

	/* too short for a header */
	fd = open(segpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(write(fd, "short", 5), 5);
	close(fd);
	err[0] = '\0';
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a sockserv stats segment"));

	/* a real segment whose fields are then spoiled one at a time */
	CU_ASSERT_FATAL(create_seg(&w, 2) == 0);
	w.hdr->magic ^= 1;
	err[0] = '\0';
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a sockserv stats segment"));
	w.hdr->magic ^= 1;

	w.hdr->version = STATS_VERSION + 1;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->version = STATS_VERSION;

	w.hdr->slot_size = sizeof(struct stats_slot) + 64;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->slot_size = sizeof(struct stats_slot);

	/* more slots claimed than the file holds */
	w.hdr->nslots = 3;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->nslots = 2;

	w.hdr->nworkers = 3;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	w.hdr->nworkers = 2;

	/* and repaired, it opens again */
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), 0);
	stats_close(&r);
	stats_close(&w);
	unlink(segpath);
}

static void
test_open_detects_stale_segment_of_dead_master(void)
{
	struct stats_seg w, r;
	char err[1024] = "";
	pid_t gone = dead_pid(), master;

	CU_ASSERT_FATAL(gone > 0);
	CU_ASSERT_FATAL(create_seg(&w, 2) == 0);
	w.hdr->master_pid = (int32_t)gone;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stale"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, segpath));

	/* a live sockserv opens */
	master = fakeproc_start("sockserv");
	CU_ASSERT_FATAL(master > 0);
	w.hdr->master_pid = (int32_t)master;
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), 0);
	stats_close(&r);
	/* killed but not yet reaped (a slow init): a zombie is no master */
	CU_ASSERT_FATAL(fakeproc_kill_to_zombie(master, 5000) == 0);
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stale"));
	waitpid(master, NULL, 0);

	/* a live process that is not sockserv (a recycled pid) is no master either */
	w.hdr->master_pid = (int32_t)getpid();
	CU_ASSERT_EQUAL(stats_open(&r, segpath, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stale"));
	stats_close(&w);
	unlink(segpath);
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
	ADD(test_created_segment_maps_aligned_slots);
	ADD(test_create_writes_header_mode_0600);
	ADD(test_open_sees_what_the_writer_writes);
	ADD(test_create_replaces_a_leftover_file);
	ADD(test_open_missing_file_names_it);
	ADD(test_open_rejects_foreign_and_damaged_files);
	ADD(test_open_detects_stale_segment_of_dead_master);
	ADD(test_retire_folds_counters_and_counts_held_connections_as_errors);
	ADD(test_lifetime_survives_repeated_deaths);
	ADD(test_merge_moves_lifetime_into_heir_and_frees_slot);
	ADD(test_state_names);
	ADD(test_now_ms_is_monotonic);
}
