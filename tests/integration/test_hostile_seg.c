/*
 * Issue 11, holes 1, 2, 5 and 9, attacked from outside: the stats segment
 * and the pid file against the workers' user, a corrupted segment, planted
 * links and a second server.
 *
 *   - The segment is the master's (root), 0644; workers hold no descriptor
 *     to it or to the pid file, and map one page of it: their own slot.
 *   - As nobody: truncating, opening for writing, taking the lock all fail;
 *     sockserv-stat as nobody shows numbers.
 *   - Garbage in the header's counts and in every slot (written by the
 *     owner, the worst a writer could do) harms no one: the master
 *     respawns, reloads and serves; sockserv-stat shows numbers or exits 1
 *     with a message, never a crash.
 *   - sockserv-stat on hostile files (counts past the file, 2^20 slots in a
 *     sparse file, a file cut short, a count flipping while it reads, no
 *     lock holder): exit 1 with a message, fast.
 *   - Symlinks planted at the pid file and segment paths are never
 *     followed; a hard link to a root file is replaced, not written.
 *   - A second server naming the same stats_path is refused and the first
 *     one's segment is untouched; a SIGKILLed master leaves both locks free
 *     even while its (stopped) workers still map the segment.
 *
 * Tests that need the user nobody run as root (CI does) and are skipped
 * with the reason otherwise.  Every server is started by the harness in
 * the test's process group and dies with it.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lockfile.h"
#include "stats.h"

#define OUT_MAX (64 * 1024)

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* let nobody reach the files in s->dir: mkdtemp made it and its parent 0700 */
static void
open_dir_to_all(struct srv *s, mode_t mode)
{
	char buf[sizeof(s->dir)];

	snprintf(buf, sizeof(buf), "%s", s->dir);
	IT_ASSERT(chmod(s->dir, mode) == 0);
	IT_ASSERT(chmod(dirname(buf), 0711) == 0);
}

/* fn(arg) in a child that is uid/gid and nothing more; its exit code (-1: did not run) */
static int
as_user(uid_t uid, gid_t gid, int (*fn)(const char *), const char *arg)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(gid) == -1 || setuid(uid) == -1)
			_exit(120);
		_exit(fn(arg));
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* a server with a frame echo listener "long"; as root, workers run as nobody */
static struct srv *
start_server(int workers, const char *extra)
{
	static char top[256];
	struct srv_opts o = {
		.workers = workers,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};

	snprintf(top, sizeof(top), "%s %s",
	    geteuid() == 0 && getpwnam("nobody") != NULL ? "user = \"nobody\";" : "",
	    extra != NULL ? extra : "");
	o.extra = top;
	return srv_start(&o);
}

/* one echo on a new connection */
static void
served(struct srv *s, const char *text)
{
	int fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, text, (uint32_t)strlen(text)), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, text, strlen(text));
	close(fd);
}

/* sockserv-stat on a segment: exit 0, or exit 1 with a "sockserv-stat: " message; never a signal */
static int
stat_exit(const char *path, char *out, size_t outlen)
{
	int st = it_stat_run(out, outlen, "-s", path, (char *)NULL);

	if (st == -1 || !WIFEXITED(st))
		IT_FAIL("sockserv-stat -s %s: %s, output:\n%s", path, it_status_str(st), out);
	if (WEXITSTATUS(st) == 1 && strstr(out, "sockserv-stat: ") == NULL)
		IT_FAIL("sockserv-stat -s %s exited 1 with no message:\n%s", path, out);
	IT_ASSERT(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 1);
	return WEXITSTATUS(st);
}

/* file descriptors of pid that name path */
static int
fds_naming(pid_t pid, const char *path)
{
	char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(dir)) == NULL)
		IT_FAIL("opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		if ((len = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, path) == 0;
	}
	closedir(d);
	return n;
}

/* bytes of path mapped by pid, and in how many mappings */
static size_t
mapped_bytes(pid_t pid, const char *path, int *nmaps)
{
	char maps[64], line[PATH_MAX + 256];
	size_t total = 0;
	FILE *f;

	*nmaps = 0;
	snprintf(maps, sizeof(maps), "/proc/%ld/maps", (long)pid);
	if ((f = fopen(maps, "r")) == NULL)
		IT_FAIL("fopen %s: %s", maps, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char *name = strchr(line, '/');

		if (name == NULL || strncmp(name, path, strlen(path)) != 0 ||
		    (name[strlen(path)] != '\n' && name[strlen(path)] != ' '))
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			total += hi - lo;
			(*nmaps)++;
		}
	}
	fclose(f);
	return total;
}

static void
write_file_as(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	IT_ASSERT(fd != -1);
	IT_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* path holds exactly text, with mode and link count 1 */
static void
assert_untouched(const char *path, const char *text, mode_t mode)
{
	char buf[256] = "";
	struct stat sb;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	IT_ASSERT(fd != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	IT_ASSERT_STR_HAS(buf, text);
	IT_ASSERT_INT(n, ==, (long)strlen(text));
	IT_ASSERT(stat(path, &sb) == 0);
	IT_ASSERT_INT(sb.st_mode & 07777, ==, mode);
	IT_ASSERT_INT(sb.st_nlink, ==, 1);
}

/* ------------------------------------------------------------------ */
/* ownership, descriptors, mappings                                    */

static void
test_segment_is_the_masters_and_workers_map_only_their_slot(void)
{
	struct srv *s = start_server(2, NULL);
	size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes;
	struct stat sb;
	int n;

	IT_ASSERT(stat(s->stats_path, &sb) == 0);
	IT_ASSERT_INT(sb.st_uid, ==, geteuid());
	IT_ASSERT_INT(sb.st_mode & 07777, ==, 0644);
	IT_ASSERT(stat(s->pid_path, &sb) == 0);
	IT_ASSERT_INT(sb.st_uid, ==, geteuid());
	IT_ASSERT_INT(sb.st_mode & 07777, ==, 0644);
	for (int i = 0; i < 2; i++) {
		pid_t w = s->workers[i];

		IT_ASSERT_INT(fds_naming(w, s->stats_path), ==, 0);
		IT_ASSERT_INT(fds_naming(w, s->pid_path), ==, 0);
		bytes = mapped_bytes(w, s->stats_path, &n);
		if (n != 1 || bytes != page)
			IT_FAIL("worker %ld maps %zu bytes of the segment in %d mappings, "
			    "expected its one slot page (%zu)", (long)w, bytes, n, page);
	}
	/* the master: the whole segment, and its lock on each file */
	bytes = mapped_bytes(s->pid, s->stats_path, &n);
	IT_ASSERT_INT(bytes, ==, (long)((STATS_MAX_WORKERS + 1) * page));
	IT_ASSERT_INT(fds_naming(s->pid, s->stats_path), ==, 1);
	IT_ASSERT_INT(fds_naming(s->pid, s->pid_path), ==, 1);
	served(s, "confined");
}

/* ------------------------------------------------------------------ */
/* the workers' user                                                   */

/* bits set for each attack that worked */
static int
nobody_attacks(const char *dir)
{
	char seg[PATH_MAX], pid[PATH_MAX];
	int bad = 0, fd;

	snprintf(seg, sizeof(seg), "%s/sockserv.shm", dir);
	snprintf(pid, sizeof(pid), "%s/sockserv.pid", dir);
	if (truncate(seg, 0) == 0)
		bad |= 1;
	if ((fd = open(seg, O_RDWR)) != -1 || (fd = open(seg, O_WRONLY)) != -1) {
		uint32_t all = 0xffffffffu;

		/* the audit's write: the header's slot count */
		if (pwrite(fd, &all, sizeof(all), offsetof(struct stats_header, nslots)) > 0)
			bad |= 2;
		close(fd);
		bad |= 2;
	}
	if ((fd = open(seg, O_RDONLY)) == -1) {
		bad |= 4;	/* sockserv-stat as anyone must be able to read it */
	} else {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			bad |= 8;
		close(fd);
	}
	if (truncate(pid, 0) == 0 || open(pid, O_RDWR) != -1)
		bad |= 16;
	/* replacing them needs the directory, which is root's */
	if (unlink(seg) == 0 || unlink(pid) == 0)
		bad |= 32;
	return bad;
}

static int
nobody_runs_stat(const char *seg)
{
	char out[OUT_MAX];
	int st = it_stat_run(out, sizeof(out), "-s", seg, (char *)NULL);

	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	    strstr(out, "running") != NULL ? 0 : 1;
}

static void
test_nobody_cannot_truncate_rewrite_or_lock_the_segment(void)
{
	struct srv *s;
	struct stat before, after;
	uid_t uid;
	gid_t gid;
	int bad;

	it_need_root_and_nobody(&uid, &gid);
	s = start_server(2, NULL);
	open_dir_to_all(s, 0755);
	IT_ASSERT(stat(s->stats_path, &before) == 0);
	bad = as_user(uid, gid, nobody_attacks, s->dir);
	if (bad != 0)
		IT_FAIL("as nobody: attack mask %d worked (1 truncate, 2 write, 4 no read, "
		    "8 lock, 16 pid file, 32 unlink)", bad);
	IT_ASSERT(stat(s->stats_path, &after) == 0);
	IT_ASSERT_INT(after.st_size, ==, before.st_size);
	IT_ASSERT_INT(after.st_ino, ==, before.st_ino);
	IT_ASSERT(kill(s->pid, 0) == 0);
	served(s, "after nobody's attacks");
	IT_ASSERT_INT(as_user(uid, gid, nobody_runs_stat, s->stats_path), ==, 0);
}

/* ------------------------------------------------------------------ */
/* garbage in the segment                                              */

/* every count of the header and the first bytes of every slot set to all ones */
static void
scribble(const char *path, int header, int slots)
{
	int fd = open(path, O_RDWR);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t junk[256];
	uint32_t all = 0xffffffffu;

	IT_ASSERT(fd != -1);
	memset(junk, 0xff, sizeof(junk));
	if (header) {
		IT_ASSERT(pwrite(fd, &all, 4, offsetof(struct stats_header, nslots)) == 4);
		IT_ASSERT(pwrite(fd, &all, 4, offsetof(struct stats_header, nworkers)) == 4);
		IT_ASSERT(pwrite(fd, &all, 4, offsetof(struct stats_header, slot_size)) == 4);
	}
	for (size_t p = 0; slots && p < STATS_MAX_WORKERS; p++)
		IT_ASSERT(pwrite(fd, junk, sizeof(junk), (off_t)((p + 1) * page)) ==
		    (ssize_t)sizeof(junk));
	close(fd);
}

static void
restore_header(const char *path)
{
	int fd = open(path, O_RDWR);
	uint32_t n = STATS_MAX_WORKERS, w = 2, stride = (uint32_t)sysconf(_SC_PAGESIZE);

	IT_ASSERT(fd != -1);
	IT_ASSERT(pwrite(fd, &n, 4, offsetof(struct stats_header, nslots)) == 4);
	IT_ASSERT(pwrite(fd, &w, 4, offsetof(struct stats_header, nworkers)) == 4);
	IT_ASSERT(pwrite(fd, &stride, 4, offsetof(struct stats_header, slot_size)) == 4);
	close(fd);
}

/*
 * The worst a writer of the segment can do, done by its owner: garbage
 * counts in the header (the old master segfaulted on nslots = 0xffffffff)
 * and garbage states, pids and counters in every slot.  The master keeps
 * supervising (a killed worker is respawned), reloads, prints its stats
 * line and serves; sockserv-stat refuses the header with a message, and
 * with the header repaired shows the garbage as numbers.
 */
static void
test_master_survives_garbage_in_the_header_and_every_slot(void)
{
	struct srv *s = start_server(2, "stats_interval = 1;");
	char out[OUT_MAX];
	pid_t victim = s->workers[0];

	scribble(s->stats_path, 1, 1);
	it_sleep_ms(300);	/* a few supervision ticks over the garbage */
	IT_ASSERT(kill(s->pid, 0) == 0);
	served(s, "after the garbage");
	IT_ASSERT(kill(victim, SIGKILL) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "worker 0 \\(pid %ld\\) killed by signal 9",
	    (long)victim) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "worker 0 started") == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "info: stats: ") == 0);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	IT_ASSERT(srv_log_wait(s, 10000, NULL, 0, "reload done: generation 2, 2 workers") == 0);
	served(s, "after a reload over the garbage");
	IT_ASSERT_INT(stat_exit(s->stats_path, out, sizeof(out)), ==, 1);
	IT_ASSERT_STR_HAS(out, "damaged");
	/* garbage inside valid counts is just numbers */
	restore_header(s->stats_path);
	scribble(s->stats_path, 0, 1);
	IT_ASSERT_INT(stat_exit(s->stats_path, out, sizeof(out)), ==, 0);
	IT_ASSERT(kill(s->pid, 0) == 0);
	served(s, "still serving");
}

/* ------------------------------------------------------------------ */
/* sockserv-stat against hostile files                                 */

/* a segment this test process owns (and holds the lock of), slot 0 running */
static void
fake_segment(struct stats_seg *seg, const char *path)
{
	char err[1024] = "";

	if (stats_create(seg, path, 4, err, sizeof(err)) == -1)
		IT_FAIL("stats_create: %s", err);
	seg->hdr->nworkers = 1;
	stats_slot_at(seg, 0)->state = WS_RUNNING;
	stats_slot_at(seg, 0)->pid = (int32_t)getpid();
	stats_add(&stats_slot_at(seg, 0)->cur.accepted, 3);
}

static void
test_stat_errors_cleanly_on_hostile_segments(void)
{
	char *dir = it_mkdtemp(), path[PATH_MAX], out[OUT_MAX];
	struct stats_seg seg;
	int64_t t0;
	int fd;

	snprintf(path, sizeof(path), "%s/fake.shm", dir);
	fake_segment(&seg, path);
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 0);
	IT_ASSERT_STR_HAS(out, "running");

	/* more slots than the file holds */
	seg.hdr->nslots = 200;
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 1);
	IT_ASSERT_STR_HAS(out, "too short");
	/* more than the format allows */
	seg.hdr->nslots = 0xffffffffu;
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 1);
	IT_ASSERT_STR_HAS(out, "damaged");
	seg.hdr->nslots = 4;

	/* the audit's sparse file: 2^20 slots declared, and the bytes to back them */
	fd = open(path, O_RDWR);
	IT_ASSERT(fd != -1);
	IT_ASSERT(ftruncate(fd, (off_t)seg.stride * ((1 << 20) + 1)) == 0);
	seg.hdr->nslots = 1u << 20;
	t0 = it_now_ms();
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 1);
	IT_ASSERT_INT(it_now_ms() - t0, <, 1000);
	IT_ASSERT_STR_HAS(out, "1048576");
	seg.hdr->nslots = 4;

	/* cut short under the header: the slots are gone */
	IT_ASSERT(ftruncate(fd, (off_t)seg.stride) == 0);
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 1);
	IT_ASSERT_STR_HAS(out, "too short");
	IT_ASSERT(ftruncate(fd, (off_t)seg.size) == 0);
	close(fd);
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 0);

	/* nobody holds the lock any more: stale, whatever pid the header names */
	close(seg.fd);
	seg.fd = -1;
	IT_ASSERT_INT(stat_exit(path, out, sizeof(out)), ==, 1);
	IT_ASSERT_STR_HAS(out, "stale");
	stats_close(&seg);
	free(dir);
}

/*
 * The audit's race: another process flips the slot count and the file
 * size while sockserv-stat reads (24 of 400 runs segfaulted).  Every run
 * must end with exit 0 or 1 and a message.
 */
static void
test_stat_survives_a_segment_changing_while_it_reads(void)
{
	char *dir = it_mkdtemp(), path[PATH_MAX], out[OUT_MAX];
	struct stats_seg seg;
	pid_t flipper;
	int ok = 0;

	snprintf(path, sizeof(path), "%s/fake.shm", dir);
	fake_segment(&seg, path);
	fflush(NULL);
	flipper = fork();
	IT_ASSERT(flipper != -1);
	if (flipper == 0) {
		/* the child keeps the lock (inherited) and the mapping, and thrashes both */
		int fd = open(path, O_RDWR);

		for (unsigned i = 0;; i++) {
			__atomic_store_n(&seg.hdr->nslots, i & 1 ? 0xffffffffu : 4u,
			    __ATOMIC_RELAXED);
			if (fd != -1 && (i & 7) == 0 &&
			    ftruncate(fd, (off_t)(i & 8 ? seg.stride : seg.size)) == -1)
				_exit(1);
		}
	}
	for (int i = 0; i < 60; i++)
		ok += stat_exit(path, out, sizeof(out)) == 0;
	kill(flipper, SIGKILL);
	waitpid(flipper, NULL, 0);
	/* what matters is that none crashed; some runs may have found it intact */
	it_note("%d of 60 runs read it", ok);
	stats_close(&seg);
	free(dir);
}

/* ------------------------------------------------------------------ */
/* planted links                                                       */

static const char *plant_target, *plant_at;

static int
plant_symlink(const char *unused)
{
	(void)unused;
	return symlink(plant_target, plant_at) == 0 ? 0 : 1;
}

/* plant a symlink at, as nobody when we are root (the directory is open to all) */
static void
plant(const char *target, const char *at)
{
	struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;

	plant_target = target;
	plant_at = at;
	if (pw != NULL)
		IT_ASSERT_INT(as_user(pw->pw_uid, pw->pw_gid, plant_symlink, NULL), ==, 0);
	else
		IT_ASSERT(symlink(target, at) == 0);
}

/* `sockserv -c CFG -f` must refuse at once: exit 1, the output in out */
static void
start_refused(struct srv *s, char *out, size_t outlen)
{
	char *argv[] = { (char *)it_sockserv_path(), "-c", s->cfg_path, "-f", NULL };
	int st = it_run(argv, out, outlen, 15000);

	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 1)
		IT_FAIL("sockserv -f: %s (expected exit 1), output:\n%s", it_status_str(st), out);
	IT_ASSERT(cli_connect(srv_addr(s, "long"), srv_port(s, "long")) == -1);
}

static void
test_planted_links_at_the_pid_file_and_segment_are_not_followed(void)
{
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_prepare(&o);
	char victim[PATH_MAX], absent[PATH_MAX], out[OUT_MAX], *vdir = it_mkdtemp();
	struct stat sb;

	/*
	 * A run directory the workers' user can write into (not sticky: the
	 * kernel's protected_symlinks must not be what saves us), and a root
	 * file to aim at.
	 */
	if (geteuid() == 0 && getpwnam("nobody") != NULL) {
		FILE *f = fopen(s->cfg_path, "a");

		IT_ASSERT(f != NULL);
		fputs("user = \"nobody\";\n", f);
		fclose(f);
		open_dir_to_all(s, 0777);
	} else {
		printf("  (not root: links planted by ourselves, no user set)\n");
	}
	snprintf(victim, sizeof(victim), "%s/victim", vdir);
	snprintf(absent, sizeof(absent), "%s/created-through-a-link", vdir);
	free(vdir);
	write_file_as(victim, "root's precious file\n", 0600);

	plant(victim, s->pid_path);
	start_refused(s, out, sizeof(out));
	IT_ASSERT_STR_HAS(out, "symbolic link");
	assert_untouched(victim, "root's precious file\n", 0600);
	IT_ASSERT(unlink(s->pid_path) == 0);
	/* dangling: nothing is created at its target */
	plant(absent, s->pid_path);
	start_refused(s, out, sizeof(out));
	IT_ASSERT(access(absent, F_OK) == -1);
	IT_ASSERT(unlink(s->pid_path) == 0);

	plant(victim, s->stats_path);
	start_refused(s, out, sizeof(out));
	IT_ASSERT_STR_HAS(out, "symbolic link");
	assert_untouched(victim, "root's precious file\n", 0600);
	/* the refused start left no pid file behind */
	IT_ASSERT(access(s->pid_path, F_OK) == -1);
	IT_ASSERT(unlink(s->stats_path) == 0);

	/* a hard link (root can make one): replaced by a file of our own, not written */
	IT_ASSERT(link(victim, s->stats_path) == 0);
	IT_ASSERT(srv_launch(s) == 0);
	IT_ASSERT(srv_wait_ready(s, SRV_READY_TIMEOUT_MS) == 0);
	assert_untouched(victim, "root's precious file\n", 0600);
	IT_ASSERT(stat(s->stats_path, &sb) == 0);
	IT_ASSERT_INT(sb.st_mode & 07777, ==, 0644);
	IT_ASSERT_INT(sb.st_nlink, ==, 1);
	served(s, "after the links");
}

/* ------------------------------------------------------------------ */
/* a second server, a killed master                                   */

/* replace every occurrence of from by to in path (to may be longer) */
static void
replace_in_file(const char *path, const char *from, const char *to)
{
	char buf[8192], res[16384], *p, *q;
	FILE *f = fopen(path, "r");
	size_t n;

	IT_ASSERT(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	res[0] = '\0';
	for (p = buf; (q = strstr(p, from)) != NULL; p = q + strlen(from)) {
		strncat(res, p, (size_t)(q - p));
		strcat(res, to);
	}
	strcat(res, p);
	IT_ASSERT(it_write_file(path, res) == 0);
}

static void
test_second_server_on_the_same_stats_path_is_refused_and_changes_nothing(void)
{
	struct srv *a = start_server(1, NULL);
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *b = srv_prepare(&o);
	char out[OUT_MAX], want[PATH_MAX + 64], pidline[64];
	struct stat before, after;

	IT_ASSERT(stat(a->stats_path, &before) == 0);
	/* b: its own pid file and ports, a's segment */
	replace_in_file(b->cfg_path, b->stats_path, a->stats_path);
	start_refused(b, out, sizeof(out));
	snprintf(want, sizeof(want), "stats segment %s is in use by another sockserv "
	    "(master pid %ld)", a->stats_path, (long)a->pid);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT(access(b->pid_path, F_OK) == -1);
	/* a's segment: the same file, still a's, still live for sockserv-stat */
	IT_ASSERT(stat(a->stats_path, &after) == 0);
	IT_ASSERT_INT(after.st_ino, ==, before.st_ino);
	IT_ASSERT_INT(stat_exit(a->stats_path, out, sizeof(out)), ==, 0);
	snprintf(pidline, sizeof(pidline), "sockserv master %ld,", (long)a->pid);
	IT_ASSERT_STR_HAS(out, pidline);
	served(a, "the first server");
}

/*
 * The master SIGKILLed while its workers are stopped (so they still live
 * and map the segment): both locks are free at once.  Workers hold no lock
 * descriptor, and their mapping is of a description the lock is not on.
 */
static void
test_killed_master_frees_both_locks_while_its_workers_live(void)
{
	struct srv *s = start_server(2, NULL);
	char out[OUT_MAX];
	int st;

	for (int i = 0; i < 2; i++)
		IT_ASSERT(kill(s->workers[i], SIGSTOP) == 0);
	IT_ASSERT(kill(s->pid, SIGKILL) == 0);
	IT_ASSERT(waitpid(s->pid, &st, 0) == s->pid);
	s->pid = -1;
	for (int i = 0; i < 2; i++)
		IT_ASSERT(kill(s->workers[i], 0) == 0);
	IT_ASSERT_INT(lockfile_held(s->pid_path, NULL), ==, 0);
	IT_ASSERT_INT(lockfile_held(s->stats_path, NULL), ==, 0);
	IT_ASSERT_INT(stat_exit(s->stats_path, out, sizeof(out)), ==, 1);
	IT_ASSERT_STR_HAS(out, "stale");
	for (int i = 0; i < 2; i++)
		kill(s->workers[i], SIGKILL);
}

static const struct it_test hostile_seg_tests[] = {
	{ "test_segment_is_the_masters_and_workers_map_only_their_slot",
	    test_segment_is_the_masters_and_workers_map_only_their_slot, 0 },
	{ "test_nobody_cannot_truncate_rewrite_or_lock_the_segment",
	    test_nobody_cannot_truncate_rewrite_or_lock_the_segment, 0 },
	{ "test_master_survives_garbage_in_the_header_and_every_slot",
	    test_master_survives_garbage_in_the_header_and_every_slot, 0 },
	{ "test_stat_errors_cleanly_on_hostile_segments",
	    test_stat_errors_cleanly_on_hostile_segments, 0 },
	{ "test_stat_survives_a_segment_changing_while_it_reads",
	    test_stat_survives_a_segment_changing_while_it_reads, 0 },
	{ "test_planted_links_at_the_pid_file_and_segment_are_not_followed",
	    test_planted_links_at_the_pid_file_and_segment_are_not_followed, 0 },
	{ "test_second_server_on_the_same_stats_path_is_refused_and_changes_nothing",
	    test_second_server_on_the_same_stats_path_is_refused_and_changes_nothing, 0 },
	{ "test_killed_master_frees_both_locks_while_its_workers_live",
	    test_killed_master_frees_both_locks_while_its_workers_live, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(hostile_seg, hostile_seg_tests)
