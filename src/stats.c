/*
 * stats: creating and mapping the shared-memory segment.
 */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"

static size_t
seg_size(uint32_t nslots)
{
	return sizeof(struct stats_header) + (size_t)nslots * sizeof(struct stats_slot);
}

int
stats_create(struct stats_seg *seg, const char *path, uint32_t nslots, uid_t uid, gid_t gid)
{
	size_t size = seg_size(nslots);
	void *p;
	int fd;

	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	/* a fresh file every start: a reader must never see the old server's numbers */
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	if (ftruncate(fd, (off_t)size) == -1 ||
	    (geteuid() == 0 && fchown(fd, uid, gid) == -1))
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	seg->hdr = p;
	seg->slots = (struct stats_slot *)((char *)p + sizeof(struct stats_header));
	seg->size = size;
	seg->fd = fd;
	seg->hdr->version = STATS_VERSION;
	seg->hdr->slot_size = sizeof(struct stats_slot);
	seg->hdr->master_pid = (int32_t)getpid();
	seg->hdr->nslots = nslots;
	seg->hdr->start_time = (uint64_t)time(NULL);
	seg->hdr->start_mono_ms = clock_now_ms();
	/* the magic last: a reader that sees it sees a filled header */
	__atomic_store_n(&seg->hdr->magic, STATS_MAGIC, __ATOMIC_RELEASE);
	return 0;
fail:
	{
		int saved = errno;
		close(fd);
		unlink(path);
		errno = saved;
	}
	return -1;
}

int
stats_open(struct stats_seg *seg, const char *path, char *err, size_t errlen)
{
	struct stats_header *h;
	struct stat st;
	void *p;
	int fd;

	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s (is sockserv running?)", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(struct stats_header)) {
		snprintf(err, errlen, "%s: not a sockserv stats segment", path);
		close(fd);
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	h = p;
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != STATS_MAGIC ||
	    h->version != STATS_VERSION || h->slot_size != sizeof(struct stats_slot) ||
	    (size_t)st.st_size < seg_size(h->nslots) || h->nworkers > h->nslots) {
		snprintf(err, errlen, "%s: not a sockserv stats segment of this version", path);
		munmap(p, (size_t)st.st_size);
		close(fd);
		return -1;
	}
	/* dead, a zombie nobody reaped yet, or a recycled pid: no master writes here */
	if (!daemon_pid_is_sockserv((pid_t)h->master_pid)) {
		snprintf(err, errlen, "%s: stale: master pid %d is not running", path,
		    (int)h->master_pid);
		munmap(p, (size_t)st.st_size);
		close(fd);
		return -1;
	}
	seg->hdr = h;
	seg->slots = (struct stats_slot *)((char *)p + sizeof(struct stats_header));
	seg->size = (size_t)st.st_size;
	seg->fd = fd;
	return 0;
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

static void
fold(uint64_t *dst, uint64_t *src)
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
		fold(&s->dead.all[i], &s->cur.all[i]);
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
