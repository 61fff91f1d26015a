/*
 * admission: the whole-server admission limits every worker shares, kept
 * in shared memory with atomic operations (no lock on the accept path).
 *
 *  - limits.max_conns_per_ip: an open-addressing table of (client address,
 *    connections held), IPv4 per address, IPv6 per /64.  An entry is
 *    claimed by CAS; a key lives within ADM_PROBE entries of its hash; a
 *    full window admits the client uncounted (fail open) and counts it in
 *    the header's overflow.
 *  - accept_rate / accept_burst: one token bucket per listener, shared by
 *    every worker, kept as GCRA's single "theoretical arrival time" word
 *    (the token bucket in one 64-bit CAS: tokens = (now + burst*T - tat)/T).
 *
 * The table and the buckets live in a file beside the stats segment
 * (ADM_PATH_SUFFIX), created by the master (mode 0644, locked for its
 * life like the segment) and mapped before the workers fork, so every
 * worker writes it through the mapping it inherited and sockserv-stat
 * reads it (--top-ips).  What each worker holds is also kept in a row of
 * per-entry counts of its own, in an anonymous shared mapping of which a
 * worker keeps only its row: when a worker dies, the master subtracts its
 * row from the table, so its connections' counts go with it.
 *
 * Trust: workers write the file and their rows, so everything read back
 * from them is data.  Every loop is bounded by the reader's own copy of
 * the sizes, every index is checked, a CAS loop gives up after a few
 * tries (and admits), counts are clamped, never trusted to be consistent.
 */
#ifndef SOCKSERV_ADMISSION_H
#define SOCKSERV_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#define ADM_MAGIC 0x535341444d495421ULL	/* "SSADMIT!" */
#define ADM_VERSION 1
#define ADM_PATH_SUFFIX ".admission"
#define ADM_MAX_LISTENERS 64		/* the config's limit on listeners */
#define ADM_PROBE 32			/* entries a key may be away from its hash */
#define ADM_MIN_ENTRIES 16u
#define ADM_MAX_ENTRIES (1u << 20)
#define ADM_DEFAULT_ENTRIES 65536
#define ADM_MAX_RATE 1000000		/* accept_rate and accept_burst, per second */

/* entry state word: count (low 32 bits), family (2 bits), generation (the rest) */
#define ADM_FAM_NONE 0u			/* never used: ends a probe */
#define ADM_FAM_V4 1u
#define ADM_FAM_V6 2u			/* the key is the /64 */
#define ADM_FAM_BUSY 3u			/* being claimed: skipped */

struct adm_entry {
	uint64_t key;			/* IPv4 address or IPv6 /64, host order */
	uint64_t state;
};

struct adm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t nentries;		/* entries after the header */
	int32_t master_pid;
	uint32_t pad;
	uint64_t overflow;		/* clients admitted uncounted: no room in their window */
	uint64_t tat[ADM_MAX_LISTENERS];	/* per listener: GCRA arrival time, CLOCK_MONOTONIC ns */
} __attribute__((aligned(64)));

/* a process's view; the master's copy is inherited by each worker at fork */
struct admission {
	struct adm_header *hdr;		/* NULL: admission off (unit tests) */
	struct adm_entry *ent;
	uint32_t n;			/* entries: our own copy, never read back */
	size_t size;			/* of the file mapping */
	uint32_t *rows;			/* master: every row; worker: its own row only */
	size_t row_stride;		/* bytes per row, whole pages */
	uint32_t nrows;
	size_t rows_size;
	uint64_t seed;			/* hash seed, per server start */
	int fd;				/* the master's lock on the file, -1 elsewhere */
	uint32_t max_per_ip;		/* limits.max_conns_per_ip of this process's config */
	/* this process's warn lines: refusals and uncounted clients not yet logged */
	uint64_t pending[3];
	uint64_t last_log_ms[3];
	char last_addr[64];		/* the address of the last per-IP refusal */
	const char *last_listener;	/* of the last rate refusal */
	uint32_t last_rate;
};

enum adm_result {
	ADM_COUNTED,	/* admitted and counted: release it at close */
	ADM_UNCOUNTED,	/* admitted, not counted (no table, table full, contention) */
	ADM_REFUSED,	/* over max_conns_per_ip */
};

/* which warn line (admission_note) */
enum adm_event { ADM_EV_IP, ADM_EV_RATE, ADM_EV_OVERFLOW };

/* the table's file beside the stats segment: stats_path + ADM_PATH_SUFFIX; -1 if too long */
int admission_path(const char *stats_path, char *out, size_t len);
/*
 * master: create the file at path (a stale one replaced, a symlink
 * refused), lock and map it, and the rows for nrows physical worker slots.
 * -1 with err filled.
 */
int admission_create(struct admission *a, const char *path, uint32_t nentries,
    uint32_t nrows, char *err, size_t errlen);
/* master at exit: remove the file if it is still ours, unmap */
void admission_destroy(struct admission *a, const char *path);
/* a new worker of physical slot row: unmap every other row and drop the lock */
void admission_confine(struct admission *a, uint32_t row);
/*
 * master, once the process of physical slot row is gone: subtract what its
 * row says it held from the table, zero the row, and release entries a
 * claim left half done.  Bounded: n entries, a few CAS tries each.
 */
void admission_row_gone(struct admission *a, uint32_t row);
/* master at a reload: every bucket starts full again (listener indexes change) */
void admission_reset_rates(struct admission *a);

/* the key of a client address as struct conn keeps it (IPv4-mapped IPv6 is IPv4) */
void admission_key(int v6, const uint8_t addr[16], uint64_t *key, unsigned *fam);
/* "10.1.2.3" or "2001:db8:1:2::/64" */
const char *admission_key_str(uint64_t key, unsigned fam, char *buf, size_t len);

/* per-IP admission of a client; a->max_per_ip 0 counts without refusing */
enum adm_result admission_ip_acquire(struct admission *a, int v6, const uint8_t addr[16]);
/* the close of a client admission_ip_acquire() counted */
void admission_ip_release(struct admission *a, int v6, const uint8_t addr[16]);
/*
 * One token of listener idx's bucket at now_ns (CLOCK_MONOTONIC): 1 when
 * admitted, 0 when over the rate.  rate 0 = off; burst 0 = rate.
 */
int admission_rate_take(struct admission *a, unsigned idx, uint32_t rate, uint32_t burst,
    uint64_t now_ns);

/* a refusal or an uncounted client: logged at most once a second per event, with a count */
void admission_note(struct admission *a, enum adm_event ev, uint64_t now_ms);
/* the worker loop, each round: log what waited out its second */
void admission_log_flush(struct admission *a, uint64_t now_ms);

/* sockserv-stat --top-ips: one address and what it holds */
struct adm_top {
	uint64_t key;
	unsigned fam;
	uint64_t count;
};
struct adm_snapshot {
	uint32_t nentries;		/* the table's size (validated) */
	uint32_t used;			/* entries holding connections */
	uint64_t overflow;
	uint64_t total;			/* connections counted in the table */
	struct adm_top *top;		/* the largest first, ntop of them */
	size_t ntop;
};
/*
 * Read the file at path written by the master whose pid is master_pid
 * (from the validated stats header): validate a copy of its header, check
 * it is locked (live), copy the table and keep the want largest entries.
 * -1 with err filled.
 */
int admission_snapshot(const char *path, int32_t master_pid, size_t want,
    struct adm_snapshot *snap, char *err, size_t errlen);
void admission_snapshot_free(struct adm_snapshot *snap);
/* the top entries of a table copy (a pure function: the unit tests feed it garbage) */
void admission_top(const struct adm_entry *ent, uint32_t n, size_t want,
    struct adm_snapshot *snap);

#endif
