/*
 * stats: creating and mapping the shared-memory segment.
 */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lockfile.h"

/* a page per slot, so that a worker can keep its own slot mapped and nothing else */
static size_t
page_stride(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t p = page > 0 ? (size_t)page : 4096, need = sizeof(struct stats_slot);

	if (need < sizeof(struct stats_header))
		need = sizeof(struct stats_header);
	return (need + p - 1) / p * p;
}

_Static_assert(sizeof(struct stats_slot) <= 4096 && sizeof(struct stats_header) <= 4096,
    "a slot and the header fit the smallest page");

/*
 * A second open file description of the locked file, for mmap.  A flock
 * lives as long as its open file description, and a mapping keeps the
 * description it was made from alive: mapped from the lock's own, every
 * worker's mapping would hold the lock after the master died.
 */
static int
map_fd(int lockfd, const char *path)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1)
		return -1;
	if (!lockfile_is_at(lockfd, path) || !lockfile_is_at(fd, path)) {
		close(fd);
		errno = ESTALE;	/* replaced between the two opens: not ours */
		return -1;
	}
	return fd;
}

int
stats_create(struct stats_seg *seg, const char *path, uint32_t nslots, char *err,
    size_t errlen)
{
	size_t stride = page_stride(), size = stride * ((size_t)nslots + 1);
	struct stats_header other;
	void *p;
	int fd, mfd;

	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	switch (lockfile_acquire(path, 0644, &fd)) {
	case LOCKFILE_OK:
		break;
	case LOCKFILE_BUSY: {
		/* only for the message: the holder's header is data, never trusted */
		int rfd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

		memset(&other, 0, sizeof(other));
		if (rfd != -1) {
			if (pread(rfd, &other, sizeof(other), 0) != (ssize_t)sizeof(other))
				memset(&other, 0, sizeof(other));
			close(rfd);
		}
		snprintf(err, errlen, "stats segment %s is in use by another sockserv (master "
		    "pid %ld): give each server its own stats_path", path,
		    (long)other.master_pid);
		return -1;
	}
	default:
		snprintf(err, errlen, "stats segment %s: %s", path,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) == -1 || (mfd = map_fd(fd, path)) == -1)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED) {
		int saved = errno;
		close(mfd);
		errno = saved;
		goto fail;
	}
	close(mfd);	/* the mapping needs no descriptor */
	seg->hdr = p;
	seg->stride = stride;
	seg->nslots = nslots;
	seg->size = size;
	seg->fd = fd;
	seg->hdr->version = STATS_VERSION;
	seg->hdr->slot_size = (uint32_t)stride;
	seg->hdr->master_pid = (int32_t)getpid();
	seg->hdr->nslots = nslots;
	seg->hdr->start_time = (uint64_t)time(NULL);
	seg->hdr->start_mono_ms = clock_now_ms();
	/* the magic last: a reader that sees it sees a filled header */
	__atomic_store_n(&seg->hdr->magic, STATS_MAGIC, __ATOMIC_RELEASE);
	return 0;
fail:
	snprintf(err, errlen, "stats segment %s: %s", path, strerror(errno));
	lockfile_release(path, fd);
	return -1;
}

void
stats_destroy(struct stats_seg *seg, const char *path)
{
	lockfile_release(path, seg->fd);
	seg->fd = -1;
	stats_close(seg);
}

int
stats_open(struct stats_seg *seg, const char *path, char *err, size_t errlen)
{
	struct stats_header h;
	struct stat st;
	size_t need;
	void *p;
	int fd;

	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s (is sockserv running?)", path, strerror(errno));
		return -1;
	}
	/*
	 * One copy of the header, read, not mapped: every count is checked
	 * on it and only it is used afterwards, whatever the file says later.
	 */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		snprintf(err, errlen, "%s: not a sockserv stats segment", path);
		goto fail;
	}
	if (h.magic != STATS_MAGIC || h.version != STATS_VERSION) {
		snprintf(err, errlen, "%s: not a sockserv stats segment of this version", path);
		goto fail;
	}
	if (h.slot_size < sizeof(struct stats_slot) || h.slot_size < sizeof(struct stats_header) ||
	    h.slot_size > STATS_MAX_STRIDE || h.slot_size % STATS_CACHELINE != 0) {
		snprintf(err, errlen, "%s: damaged: slot size %u (this sockserv-stat needs %zu to "
		    "%d)", path, h.slot_size, sizeof(struct stats_slot), STATS_MAX_STRIDE);
		goto fail;
	}
	if (h.nslots == 0 || h.nslots > STATS_MAX_WORKERS || h.nworkers > h.nslots) {
		snprintf(err, errlen, "%s: damaged: %u slots, %u workers (at most %d slots)",
		    path, h.nslots, h.nworkers, STATS_MAX_WORKERS);
		goto fail;
	}
	need = (size_t)h.slot_size * ((size_t)h.nslots + 1);
	if (st.st_size < 0 || (uint64_t)st.st_size < need) {
		snprintf(err, errlen, "%s: damaged: %lld bytes, too short for the %u slots its "
		    "header declares (%zu bytes)", path, (long long)st.st_size, h.nslots, need);
		goto fail;
	}
	/* a master holds the lock for its whole life: nobody holding it means nobody writes here */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		snprintf(err, errlen, "%s: stale: master pid %d is not running (no process "
		    "holds the segment's lock)", path, (int)h.master_pid);
		goto fail;
	}
	if (errno != EWOULDBLOCK) {
		snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
		goto fail;
	}
	p = mmap(NULL, need, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		goto fail;
	}
	/* the mapping survives the descriptor; a reader needs nothing more */
	close(fd);
	seg->hdr = p;
	seg->stride = h.slot_size;
	seg->nslots = h.nslots;
	seg->size = need;
	seg->head = h;
	return 0;
fail:
	close(fd);
	return -1;
}

void
stats_close(struct stats_seg *seg)
{
	if (seg->hdr != NULL)
		munmap(seg->hdr, seg->size);
	if (seg->fd != -1)
		close(seg->fd);
	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
}

void
stats_confine(struct stats_seg *seg, uint32_t p)
{
	char *base = (char *)seg->hdr, *mine = (char *)stats_slot_at(seg, p);
	size_t after = (size_t)(mine - base) + seg->stride;

	munmap(base, (size_t)(mine - base));
	if (seg->size > after)
		munmap(base + after, seg->size - after);
}

static sigjmp_buf guard_jmp;
static volatile sig_atomic_t guard_armed;

static void
on_sigbus(int sig)
{
	if (guard_armed)
		siglongjmp(guard_jmp, 1);
	/* not ours: die of it as we would have */
	signal(sig, SIG_DFL);
	raise(sig);
}

int
stats_guarded(void (*fn)(void *), void *arg)
{
	struct sigaction sa, old;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old) == -1)
		return -1;
	if (sigsetjmp(guard_jmp, 1) == 0) {
		guard_armed = 1;
		fn(arg);
	} else {
		rc = -1;
	}
	guard_armed = 0;
	sigaction(SIGBUS, &old, NULL);
	return rc;
}

static void
fold_into_dead(uint64_t *dst, uint64_t *src)
{
	stats_set(dst, stats_get(dst) + stats_get(src));
	stats_set(src, 0);
}

void
stats_slot_retire(struct stats_slot *s)
{
	uint64_t closed = 0, accepted = stats_get(&s->cur.accepted);

	/*
	 * The connections the dead worker held are gone with it: count them
	 * closed for error.  Derived from its own counters, not from
	 * `connections`, so a kill between two counter updates cannot leave
	 * accepted != closed + connections for good.
	 */
	for (int r = 0; r < CLOSE_NREASONS; r++)
		closed += stats_get(&s->cur.closed[r]);
	if (accepted > closed)
		stats_add(&s->cur.closed[CLOSE_ERROR], accepted - closed);
	for (int i = 0; i < STATS_NCOUNTERS; i++)
		fold_into_dead(&s->dead.all[i], &s->cur.all[i]);
	stats_set(&s->connections, 0);
}

void
stats_slot_merge(struct stats_slot *dst, struct stats_slot *s)
{
	struct stats_counters life;

	stats_slot_retire(s);
	stats_slot_lifetime(s, &life);
	for (int i = 0; i < STATS_NCOUNTERS; i++)
		stats_set(&dst->dead.all[i], stats_get(&dst->dead.all[i]) + life.all[i]);
	stats_set(&dst->restarts, stats_get(&dst->restarts) + stats_get(&s->restarts));
	memset(s, 0, sizeof(*s));
}

void
stats_slot_lifetime(const struct stats_slot *s, struct stats_counters *out)
{
	for (int i = 0; i < STATS_NCOUNTERS; i++)
		out->all[i] = stats_get(&s->dead.all[i]) + stats_get(&s->cur.all[i]);
}

const char *
stats_state_name(uint32_t state)
{
	static const char *const names[] = { "empty", "starting", "running", "draining", "exited" };

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}
