/*
 * admission: the shared per-address table and per-listener token buckets.
 */
#include "admission.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "log.h"
#include "stats.h"

#define CAS_TRIES 16		/* then give up: admit, or leave a count as it is */
#define LOG_EVERY_MS 1000
#define COUNT_MASK 0xffffffffULL
#define SKEW_NS 1000000000ULL	/* a bucket's arrival time further ahead than this is garbage */

static inline uint64_t st_count(uint64_t s) { return s & COUNT_MASK; }
static inline unsigned st_fam(uint64_t s) { return (unsigned)(s >> 32) & 3u; }
static inline uint64_t st_gen(uint64_t s) { return s >> 34; }
static inline uint64_t
st_make(uint64_t gen, unsigned fam, uint64_t count)
{
	return (gen << 34) | ((uint64_t)(fam & 3u) << 32) | (count & COUNT_MASK);
}

static inline uint64_t ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static inline int
cas(uint64_t *p, uint64_t expect, uint64_t want)
{
	return __atomic_compare_exchange_n(p, &expect, want, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE);
}

static size_t
page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);

	return p > 0 ? (size_t)p : 4096;
}

static size_t
round_page(size_t n)
{
	size_t p = page_size();

	return (n + p - 1) / p * p;
}

static size_t
file_size(uint32_t n)
{
	return sizeof(struct adm_header) + (size_t)n * sizeof(struct adm_entry);
}

int
admission_path(const char *stats_path, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", stats_path, ADM_PATH_SUFFIX);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
admission_create(struct admission *a, const char *path, uint32_t nentries,
    uint32_t nrows, char *err, size_t errlen)
{
	size_t size = file_size(nentries);
	void *p;
	int fd, mfd;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (nentries < ADM_MIN_ENTRIES || nentries > ADM_MAX_ENTRIES || nrows == 0) {
		snprintf(err, errlen, "admission table: %u entries (%u to %u)", nentries,
		    ADM_MIN_ENTRIES, ADM_MAX_ENTRIES);
		return -1;
	}
	switch (lockfile_acquire(path, 0644, &fd)) {
	case LOCKFILE_OK:
		break;
	case LOCKFILE_BUSY:
		snprintf(err, errlen, "admission table %s is in use by another sockserv: give "
		    "each server its own stats_path", path);
		return -1;
	default:
		snprintf(err, errlen, "admission table %s: %s", path,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return -1;
	}
	/* the file is new and zero: every entry reads "never used", every bucket full */
	if (ftruncate(fd, (off_t)size) == -1)
		goto fail;
	/* a second description for the mapping, so that it does not keep the lock alive (stats.c) */
	mfd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (mfd == -1)
		goto fail;
	if (!lockfile_is_at(fd, path) || !lockfile_is_at(mfd, path)) {
		close(mfd);
		errno = ESTALE;
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	close(mfd);
	if (p == MAP_FAILED)
		goto fail;
	a->row_stride = round_page((size_t)nentries * sizeof(uint32_t));
	a->rows_size = a->row_stride * nrows;
	/* touched only where a worker holds something: reserve no swap for the rest */
	a->rows = mmap(NULL, a->rows_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->rows == MAP_FAILED) {
		int saved = errno;
		munmap(p, size);
		a->rows = NULL;
		errno = saved;
		goto fail;
	}
	a->hdr = p;
	a->ent = (struct adm_entry *)(void *)(a->hdr + 1);
	a->n = nentries;
	a->size = size;
	a->nrows = nrows;
	a->fd = fd;
	if (getrandom(&a->seed, sizeof(a->seed), GRND_NONBLOCK) != (ssize_t)sizeof(a->seed))
		a->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	a->hdr->version = ADM_VERSION;
	a->hdr->nentries = nentries;
	a->hdr->master_pid = (int32_t)getpid();
	__atomic_store_n(&a->hdr->magic, ADM_MAGIC, __ATOMIC_RELEASE);
	return 0;
fail:
	snprintf(err, errlen, "admission table %s: %s", path, strerror(errno));
	lockfile_release(path, fd);
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	return -1;
}

void
admission_destroy(struct admission *a, const char *path)
{
	if (a->fd != -1)
		lockfile_release(path, a->fd);
	if (a->hdr != NULL)
		munmap(a->hdr, a->size);
	if (a->rows != NULL)
		munmap(a->rows, a->rows_size);
	memset(a, 0, sizeof(*a));
	a->fd = -1;
}

void
admission_confine(struct admission *a, uint32_t row)
{
	char *base = (char *)a->rows, *mine;

	if (a->fd != -1)
		close(a->fd);
	a->fd = -1;
	if (a->rows == NULL || row >= a->nrows)
		return;
	mine = base + (size_t)row * a->row_stride;
	if (mine > base)
		munmap(base, (size_t)(mine - base));
	if (a->rows_size > (size_t)(mine - base) + a->row_stride)
		munmap(mine + a->row_stride, a->rows_size - (size_t)(mine - base) - a->row_stride);
	a->rows = (uint32_t *)(void *)mine;
	a->rows_size = a->row_stride;
	a->nrows = 1;
}

/* the master's own row pointer: rows is every row in the master */
static uint32_t *
row_of(struct admission *a, uint32_t row)
{
	return (uint32_t *)(void *)((char *)a->rows + (size_t)row * a->row_stride);
}

void
admission_row_gone(struct admission *a, uint32_t row)
{
	uint32_t *held;

	if (a->hdr == NULL || row >= a->nrows)
		return;
	held = row_of(a, row);
	for (uint32_t i = 0; i < a->n; i++) {
		uint64_t h = __atomic_load_n(&held[i], __ATOMIC_RELAXED);
		uint64_t *sp = &a->ent[i].state;

		for (int t = 0; t < CAS_TRIES; t++) {
			uint64_t s = ld(sp), c = st_count(s);
			unsigned f = st_fam(s);

			if (f == ADM_FAM_BUSY) {
				/*
				 * A claim left half done (its worker killed in the
				 * middle, or a live one the CAS below makes retry):
				 * an entry holding nothing, reusable.
				 */
				if (cas(sp, s, st_make(st_gen(s) + 1, ADM_FAM_V4, 0)))
					break;
				continue;
			}
			if (h == 0 || f == ADM_FAM_NONE)
				break;
			/* clamped: the row is the dead worker's word, not the truth */
			if (cas(sp, s, st_make(st_gen(s), f, c > h ? c - h : 0)))
				break;
		}
		if (h != 0)
			__atomic_store_n(&held[i], 0, __ATOMIC_RELAXED);
	}
}

void
admission_reset_rates(struct admission *a)
{
	if (a->hdr == NULL)
		return;
	for (int i = 0; i < ADM_MAX_LISTENERS; i++)
		__atomic_store_n(&a->hdr->tat[i], 0, __ATOMIC_RELAXED);
}

void
admission_key(int v6, const uint8_t addr[16], uint64_t *key, unsigned *fam)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *p = addr;
	uint64_t k = 0;

	if (v6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
		/* a dual-stack listener's IPv4 client is that IPv4 address, not ::/64 */
		v6 = 0;
		p = addr + 12;
	}
	for (int i = 0; i < (v6 ? 8 : 4); i++)
		k = k << 8 | p[i];
	*key = k;
	*fam = v6 ? ADM_FAM_V6 : ADM_FAM_V4;
}

const char *
admission_key_str(uint64_t key, unsigned fam, char *buf, size_t len)
{
	uint8_t b[16];
	char tmp[INET6_ADDRSTRLEN];

	memset(b, 0, sizeof(b));
	if (fam == ADM_FAM_V4) {
		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(key >> (24 - 8 * i));
		if (inet_ntop(AF_INET, b, tmp, sizeof(tmp)) == NULL)
			snprintf(tmp, sizeof(tmp), "?");
		snprintf(buf, len, "%s", tmp);
	} else {
		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)(key >> (56 - 8 * i));
		if (inet_ntop(AF_INET6, b, tmp, sizeof(tmp)) == NULL)
			snprintf(tmp, sizeof(tmp), "?");
		snprintf(buf, len, "%s/64", tmp);
	}
	return buf;
}

/* the first entry of a key's window: seeded, so that clients cannot aim at one window */
static uint32_t
home(const struct admission *a, uint64_t key, unsigned fam)
{
	uint64_t h = (key ^ a->seed ^ ((uint64_t)fam << 62)) * 0x9e3779b97f4a7c15ULL;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (uint32_t)(((h & 0xffffffffULL) * a->n) >> 32);
}

static uint32_t
window(const struct admission *a)
{
	return a->n < ADM_PROBE ? a->n : ADM_PROBE;
}

enum adm_result
admission_ip_acquire(struct admission *a, int v6, const uint8_t addr[16])
{
	uint64_t key;
	unsigned fam;
	uint32_t h, w;

	if (a == NULL || a->hdr == NULL || a->rows == NULL)
		return ADM_UNCOUNTED;
	admission_key(v6, addr, &key, &fam);
	h = home(a, key, fam);
	w = window(a);
	for (int t = 0; t < CAS_TRIES; t++) {
		uint64_t total = 0, ms = 0, cs = 0;
		uint32_t m = UINT32_MAX, c = UINT32_MAX;

		for (uint32_t j = 0, i = h; j < w; j++, i = i + 1 == a->n ? 0 : i + 1) {
			uint64_t s = ld(&a->ent[i].state);
			unsigned f = st_fam(s);

			if (f == ADM_FAM_BUSY)
				continue;
			if (f != ADM_FAM_NONE && f == fam &&
			    __atomic_load_n(&a->ent[i].key, __ATOMIC_ACQUIRE) == key) {
				/* two workers may have claimed one key at once: the sum is what counts */
				total += st_count(s);
				if (m == UINT32_MAX) {
					m = i;
					ms = s;
				}
				continue;
			}
			if (st_count(s) == 0 && c == UINT32_MAX) {
				c = i;
				cs = s;
			}
			if (f == ADM_FAM_NONE)
				break;	/* never used: the key is not further on */
		}
		if (m != UINT32_MAX) {
			if (a->max_per_ip != 0 && total >= a->max_per_ip)
				return ADM_REFUSED;
			/*
			 * Our row first, then the table: a kill in between makes
			 * the master subtract one too many (fail open), never
			 * leaves a count nobody will release.
			 */
			__atomic_add_fetch(&a->rows[m], 1, __ATOMIC_RELAXED);
			if (st_count(ms) < COUNT_MASK - 1 &&
			    cas(&a->ent[m].state, ms, ms + 1))
				return ADM_COUNTED;
			__atomic_sub_fetch(&a->rows[m], 1, __ATOMIC_RELAXED);
			continue;
		}
		if (c == UINT32_MAX)
			break;
		__atomic_add_fetch(&a->rows[c], 1, __ATOMIC_RELAXED);
		if (cas(&a->ent[c].state, cs, st_make(st_gen(cs) + 1, ADM_FAM_BUSY, 0))) {
			uint64_t busy = st_make(st_gen(cs) + 1, ADM_FAM_BUSY, 0);

			__atomic_store_n(&a->ent[c].key, key, __ATOMIC_RELEASE);
			if (cas(&a->ent[c].state, busy, st_make(st_gen(busy), fam, 1)))
				return ADM_COUNTED;
			/* the master released it meanwhile (admission_row_gone): start over */
		}
		__atomic_sub_fetch(&a->rows[c], 1, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&a->hdr->overflow, 1, __ATOMIC_RELAXED);
	return ADM_UNCOUNTED;
}

void
admission_ip_release(struct admission *a, int v6, const uint8_t addr[16])
{
	uint64_t key;
	unsigned fam;
	uint32_t h, w;

	if (a == NULL || a->hdr == NULL || a->rows == NULL)
		return;
	admission_key(v6, addr, &key, &fam);
	h = home(a, key, fam);
	w = window(a);
	for (uint32_t j = 0, i = h; j < w; j++, i = i + 1 == a->n ? 0 : i + 1) {
		uint64_t s = ld(&a->ent[i].state);
		unsigned f = st_fam(s);

		if (f == ADM_FAM_NONE)
			return;
		/* the entry we counted on: ours in our row */
		if (f != fam || __atomic_load_n(&a->rows[i], __ATOMIC_RELAXED) == 0 ||
		    __atomic_load_n(&a->ent[i].key, __ATOMIC_ACQUIRE) != key)
			continue;
		for (int t = 0; t < CAS_TRIES; t++) {
			if (st_fam(s) != fam || st_count(s) == 0)
				break;
			if (cas(&a->ent[i].state, s, s - 1))
				break;
			s = ld(&a->ent[i].state);
		}
		/* the table first, then our row (see acquire) */
		__atomic_sub_fetch(&a->rows[i], 1, __ATOMIC_RELAXED);
		return;
	}
}

int
admission_rate_take(struct admission *a, unsigned idx, uint32_t rate, uint32_t burst,
    uint64_t now_ns)
{
	uint64_t t_ns, tau;
	uint64_t *tp;

	if (rate == 0 || a == NULL || a->hdr == NULL || idx >= ADM_MAX_LISTENERS)
		return 1;
	if (rate > ADM_MAX_RATE)
		rate = ADM_MAX_RATE;
	if (burst == 0 || burst > ADM_MAX_RATE)
		burst = burst == 0 ? rate : ADM_MAX_RATE;
	t_ns = 1000000000ULL / rate;
	tau = (uint64_t)burst * t_ns;
	tp = &a->hdr->tat[idx];
	for (int t = 0; t < CAS_TRIES; t++) {
		uint64_t tat = ld(tp), base, next;

		/*
		 * Never legitimately past now + tau (give or take the time
		 * between another worker's clock read and ours): garbage.
		 */
		base = tat > now_ns + tau + SKEW_NS || tat < now_ns ? now_ns : tat;
		next = base + t_ns;
		if (next - now_ns > tau)
			return 0;
		if (cas(tp, tat, next))
			return 1;
	}
	return 1;	/* lost every race: admit rather than spin on the accept path */
}

/* the count since this process's previous line of the same event */
static void
log_event(struct admission *a, enum adm_event ev, uint64_t n)
{
	switch (ev) {
	case ADM_EV_IP:
		log_warnx("limit_ip: refused %llu connections over limits.max_conns_per_ip = %u, "
		    "the last from %s", (unsigned long long)n, a->max_per_ip, a->last_addr);
		break;
	case ADM_EV_RATE:
		log_warnx("limit_rate: refused %llu connections over accept_rate = %u/s, the last "
		    "on listener %s", (unsigned long long)n, a->last_rate,
		    a->last_listener != NULL ? a->last_listener : "?");
		break;
	case ADM_EV_OVERFLOW:
		log_warnx("ip table full: admitted %llu connections uncounted "
		    "(limits.ip_table_size = %u): they are not held to max_conns_per_ip",
		    (unsigned long long)n, a->n);
		break;
	}
}

void
admission_note(struct admission *a, enum adm_event ev, uint64_t now_ms)
{
	if (a == NULL || (unsigned)ev > ADM_EV_OVERFLOW)
		return;
	a->pending[ev]++;
	if (a->last_log_ms[ev] == 0 || now_ms - a->last_log_ms[ev] >= LOG_EVERY_MS) {
		log_event(a, ev, a->pending[ev]);
		a->pending[ev] = 0;
		a->last_log_ms[ev] = now_ms;
	}
}

void
admission_log_flush(struct admission *a, uint64_t now_ms)
{
	if (a == NULL)
		return;
	for (int ev = 0; ev <= ADM_EV_OVERFLOW; ev++) {
		if (a->pending[ev] != 0 && now_ms - a->last_log_ms[ev] >= LOG_EVERY_MS) {
			log_event(a, (enum adm_event)ev, a->pending[ev]);
			a->pending[ev] = 0;
			a->last_log_ms[ev] = now_ms;
		}
	}
}

/* ---- readers ---- */

static int
top_cmp(const void *x, const void *y)
{
	const struct adm_top *p = x, *q = y;

	if (p->count != q->count)
		return p->count < q->count ? 1 : -1;
	if (p->fam != q->fam)
		return p->fam < q->fam ? -1 : 1;
	return p->key < q->key ? -1 : p->key > q->key;
}

void
admission_top(const struct adm_entry *ent, uint32_t n, size_t want, struct adm_snapshot *snap)
{
	snap->nentries = n;
	snap->used = 0;
	snap->total = 0;
	snap->ntop = 0;
	/*
	 * One pass, keeping the want largest in a sorted array (want is small,
	 * from the command line).  Duplicated keys (a claim race, or garbage)
	 * are shown as they are: this is a view of the table, not its judge.
	 */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = ent[i].state, c = st_count(s);
		unsigned f = st_fam(s);
		struct adm_top t;
		size_t at;

		if ((f != ADM_FAM_V4 && f != ADM_FAM_V6) || c == 0)
			continue;
		snap->used++;
		snap->total += c;
		if (want == 0 || snap->top == NULL)
			continue;
		t.key = ent[i].key;
		t.fam = f;
		t.count = c;
		if (snap->ntop == want && top_cmp(&t, &snap->top[want - 1]) >= 0)
			continue;
		at = snap->ntop < want ? snap->ntop++ : want - 1;
		while (at > 0 && top_cmp(&t, &snap->top[at - 1]) < 0) {
			snap->top[at] = snap->top[at - 1];
			at--;
		}
		snap->top[at] = t;
	}
}

struct copy_job {
	const struct adm_entry *src;
	struct adm_entry *dst;
	uint32_t n;
	uint64_t overflow;
	const struct adm_header *hdr;
};

static void
copy_table(void *arg)
{
	struct copy_job *j = arg;

	memcpy(j->dst, j->src, (size_t)j->n * sizeof(*j->dst));
	j->overflow = __atomic_load_n(&j->hdr->overflow, __ATOMIC_RELAXED);
}

int
admission_snapshot(const char *path, int32_t master_pid, size_t want,
    struct adm_snapshot *snap, char *err, size_t errlen)
{
	struct adm_header h;
	struct copy_job job;
	struct stat st;
	void *p = MAP_FAILED;
	size_t need;
	int fd;

	memset(snap, 0, sizeof(*snap));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != ADM_MAGIC ||
	    h.version != ADM_VERSION) {
		snprintf(err, errlen, "%s: not a sockserv admission table of this version", path);
		goto fail;
	}
	if (h.nentries < ADM_MIN_ENTRIES || h.nentries > ADM_MAX_ENTRIES) {
		snprintf(err, errlen, "%s: damaged: %u entries (%u to %u)", path, h.nentries,
		    ADM_MIN_ENTRIES, ADM_MAX_ENTRIES);
		goto fail;
	}
	need = file_size(h.nentries);
	if (st.st_size < 0 || (uint64_t)st.st_size < need) {
		snprintf(err, errlen, "%s: damaged: %lld bytes, too short for %u entries", path,
		    (long long)st.st_size, h.nentries);
		goto fail;
	}
	if (h.master_pid != master_pid || flock(fd, LOCK_SH | LOCK_NB) == 0) {
		snprintf(err, errlen, "%s: stale: not the table of the running master (pid %d)",
		    path, (int)master_pid);
		goto fail;
	}
	p = mmap(NULL, need, PROT_READ, MAP_SHARED, fd, 0);
	snap->top = want != 0 ? calloc(want, sizeof(*snap->top)) : NULL;
	job.dst = malloc((size_t)h.nentries * sizeof(*job.dst));
	if (p == MAP_FAILED || job.dst == NULL || (want != 0 && snap->top == NULL)) {
		snprintf(err, errlen, "%s: %s", path, p == MAP_FAILED ? strerror(errno) :
		    "out of memory");
		free(job.dst);
		goto fail;
	}
	job.hdr = p;
	job.src = (const struct adm_entry *)(const void *)(job.hdr + 1);
	job.n = h.nentries;
	job.overflow = 0;
	/* one copy, read through a guard: the file may shrink under us (SIGBUS) */
	if (stats_guarded(copy_table, &job) == -1) {
		snprintf(err, errlen, "%s: the file shrank while it was being read", path);
		free(job.dst);
		goto fail;
	}
	munmap(p, need);
	close(fd);
	admission_top(job.dst, job.n, want, snap);
	snap->overflow = job.overflow;
	free(job.dst);
	return 0;
fail:
	if (p != MAP_FAILED)
		munmap(p, need);
	free(snap->top);
	snap->top = NULL;
	close(fd);
	return -1;
}

void
admission_snapshot_free(struct adm_snapshot *snap)
{
	free(snap->top);
	memset(snap, 0, sizeof(*snap));
}
