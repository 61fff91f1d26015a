/*
 * stats: the shared-memory segment.  A file mmap'd MAP_SHARED at stats_path:
 * a header page, then one page per worker slot.  Each slot is written only
 * by its worker (relaxed atomics) and read by anyone: the master for
 * supervision, sockserv-stat for people and Prometheus.
 *
 * Trust: the file belongs to the master's user (root in production), mode
 * 0644, and the master holds an exclusive flock on it for its whole life
 * (lockfile.h), so a second server cannot take it over and a reader tells
 * a live segment from a stale one.  Workers get no descriptor to it: each
 * keeps only the page of its own slot mapped (stats_confine), so a worker
 * can falsify its own numbers and nothing else.  Everything in the segment
 * is data to its readers: the master keeps its own copy of every count and
 * index it acts on, and a reader validates a copy of the header against
 * the file's size before it maps anything.
 *
 * Each counter exists twice: "cur" (this worker process, zeroed at respawn)
 * and the slot's lifetime total ("life"), so a crash loses nothing.
 */
#ifndef SOCKSERV_STATS_H
#define SOCKSERV_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reason.h"

#define STATS_MAGIC 0x53534853544154ULL	/* "SSHSTAT" */
/*
 * 2: a page per slot (slot_size is the stride) and the flock; 3: id_reserved, backend links;
 * 4: close reasons limit_ip and limit_rate (closed[] grew by two)
 */
#define STATS_VERSION 4
#define STATS_CACHELINE 64
#define STATS_MAX_WORKERS 256
/* the largest page size a reader accepts as a stride (arm64 uses up to 64 KiB) */
#define STATS_MAX_STRIDE (64 * 1024)

enum worker_state {
	WS_EMPTY,	/* never started */
	WS_STARTING,	/* forked, not yet in its loop */
	WS_RUNNING,	/* serving */
	WS_DRAINING,	/* graceful stop or replaced by a reload */
	WS_EXITED,	/* gone; the master will respawn it or has stopped */
};

#define STATS_NCOUNTERS (CLOSE_NREASONS + 6)

/* counters one worker process accumulates */
struct stats_counters {
	union {
		struct {
			uint64_t accepted;
			uint64_t closed[CLOSE_NREASONS];
			uint64_t messages_in;
			uint64_t messages_out;
			uint64_t bytes_in;
			uint64_t bytes_out;
			uint64_t protocol_errors;
		};
		/* the same counters, for code that treats every one alike (sums, copies) */
		uint64_t all[STATS_NCOUNTERS];
	};
};
_Static_assert(sizeof(struct stats_counters) == STATS_NCOUNTERS * sizeof(uint64_t),
    "every stats counter is in all[]");

/* a worker's link to one backend (sockserv-backend(7)), written by that worker */
#define STATS_MAX_LINKS 16
enum stats_link_state {
	SLINK_DOWN,		/* not connected: waiting to retry */
	SLINK_CONNECTING,	/* connect in progress, or HELLO not yet written */
	SLINK_UP,		/* HELLO written: events flow */
};
struct stats_link {
	char name[64];			/* the backend's name, NUL-terminated */
	uint32_t state;			/* enum stats_link_state */
	uint32_t pad;
	uint64_t reconnects;		/* connection attempts after the first */
	uint64_t events_sent;		/* OPEN, MSG, CLOSE, GONE handed to the link */
	uint64_t commands_applied;	/* SEND, CLOSE, SUB, UNSUB, PUBLISH carried out */
	uint64_t bytes_pending;		/* events not yet acknowledged (written or not) */
	uint64_t clients_paused;	/* clients not read because of this link */
};

struct stats_slot {
	int32_t pid;
	uint32_t state;			/* enum worker_state; WS_EMPTY = slot free */
	uint32_t worker;		/* the worker slot number this process serves */
	uint32_t pad;
	uint64_t generation;		/* bumped at each (re)spawn into this slot */
	uint64_t restarts;		/* respawns of this slot after a death */
	uint64_t started_ms;		/* CLOCK_MONOTONIC ms when this worker started */
	uint64_t loop_ms;		/* CLOCK_MONOTONIC ms, stamped by the worker loop */
	uint64_t connections;		/* open now */
	uint64_t config_generation;	/* of the config this worker runs */
	uint64_t id_reserved;		/* connection id counters reserved by this slot (connid.h) */
	struct stats_counters cur;	/* this worker process */
	struct stats_counters dead;	/* sum of earlier processes in this slot (by master) */
	uint32_t nlinks;		/* links[] in use (this process) */
	uint32_t pad2;
	struct stats_link links[STATS_MAX_LINKS];
} __attribute__((aligned(STATS_CACHELINE)));

struct stats_header {
	uint64_t magic;
	uint32_t version;
	uint32_t slot_size;		/* stride: bytes per slot, and the header's own share */
	int32_t master_pid;
	uint32_t nworkers;		/* slots in use */
	uint64_t start_time;		/* CLOCK_REALTIME seconds */
	uint64_t start_mono_ms;		/* CLOCK_MONOTONIC ms at master start */
	uint64_t config_generation;	/* bumped at each successful reload */
	uint32_t nslots;		/* slots allocated in the file */
	uint32_t pad;
} __attribute__((aligned(STATS_CACHELINE)));

struct stats_seg {
	struct stats_header *hdr;	/* the mapping starts with it */
	size_t stride;			/* the header and each slot: whole pages */
	uint32_t nslots;		/* slots mapped: our own copy, never read back from the file */
	size_t size;			/* of the mapping */
	int fd;				/* the master's lock on the file; -1 in readers */
	struct stats_header head;	/* readers: the header as read and validated once */
};

/* slot p of a mapped segment (p < seg->nslots) */
static inline struct stats_slot *
stats_slot_at(const struct stats_seg *seg, uint32_t p)
{
	return (struct stats_slot *)(void *)((char *)seg->hdr + (size_t)(p + 1) * seg->stride);
}

/*
 * master: create the file afresh (a stale one is replaced, a symlink
 * refused), owned by us, mode 0644, lock it, map it and fill the header.
 * -1 with err filled; a live server's segment is left untouched.
 */
int stats_create(struct stats_seg *seg, const char *path, uint32_t nslots, char *err,
    size_t errlen);
/* master at exit: remove path if it is still our file, unmap, drop the lock */
void stats_destroy(struct stats_seg *seg, const char *path);
/*
 * sockserv-stat: validate a copy of the header against the file and the
 * format's limits, check that a master holds the lock, then map it
 * read-only (no descriptor kept).  -1 with a message in err.
 */
int stats_open(struct stats_seg *seg, const char *path, char *err, size_t errlen);
void stats_close(struct stats_seg *seg);
/*
 * In a new worker: unmap everything but slot p, so that it can write its
 * own slot and nothing else.  seg is unusable afterwards but for slot p.
 */
void stats_confine(struct stats_seg *seg, uint32_t p);
/*
 * Run fn(arg) with reads of a mapping that shrinks meanwhile (SIGBUS)
 * turned into a return of -1 instead of a crash; 0 when fn ran through.
 * fn must not allocate or lock anything: it is left by siglongjmp.
 */
int stats_guarded(void (*fn)(void *), void *arg);

/* relaxed atomic accessors; only the owning worker calls stats_add */
static inline void stats_add(uint64_t *ctr, uint64_t n) { __atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED); }
static inline void stats_set(uint64_t *ctr, uint64_t v) { __atomic_store_n(ctr, v, __ATOMIC_RELAXED); }
static inline uint64_t stats_get(const uint64_t *ctr) { return __atomic_load_n(ctr, __ATOMIC_RELAXED); }

/* master, after reaping a worker: fold cur into dead and zero cur; connections it held count as closed for error */
void stats_slot_retire(struct stats_slot *s);
/* master, when a drained old-generation worker is gone: add its lifetime totals into dst and free s */
void stats_slot_merge(struct stats_slot *dst, struct stats_slot *s);
/* a reader's copy of the lifetime totals (dead + cur) */
void stats_slot_lifetime(const struct stats_slot *s, struct stats_counters *out);

const char *stats_state_name(uint32_t state);

#endif
