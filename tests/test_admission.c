/*
 * admission: the per-address table (insert, collisions, a full window,
 * release, IPv6 /64 keys, a dead worker's row), the token bucket's refill
 * on a fake clock, and readers fed garbage.
 */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "admission.h"

static char path[256];

/* a master's table of n entries with 4 rows, and w: a worker's view of row 1 */
static int
make(struct admission *m, struct admission *w, uint32_t n, uint32_t limit)
{
	char err[256];

	snprintf(path, sizeof(path), "/tmp/test_admission.%ld", (long)getpid());
	unlink(path);
	if (admission_create(m, path, n, 4, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*w = *m;
	w->rows = (uint32_t *)(void *)((char *)m->rows + m->row_stride);
	w->nrows = 1;
	w->fd = -1;
	w->max_per_ip = limit;
	return 0;
}

static void
done(struct admission *m)
{
	admission_destroy(m, path);
}

static void
v4(uint8_t a[16], unsigned x)
{
	memset(a, 0, 16);
	a[0] = 10;
	a[1] = (uint8_t)(x >> 16);
	a[2] = (uint8_t)(x >> 8);
	a[3] = (uint8_t)x;
}

static uint64_t
count_of(const struct admission *m, int v6, const uint8_t addr[16])
{
	struct adm_snapshot s;
	uint64_t key, c = 0;
	unsigned fam;

	memset(&s, 0, sizeof(s));
	s.top = calloc(m->n, sizeof(*s.top));
	admission_top(m->ent, m->n, m->n, &s);
	admission_key(v6, addr, &key, &fam);
	for (size_t i = 0; i < s.ntop; i++)
		if (s.top[i].key == key && s.top[i].fam == fam)
			c += s.top[i].count;
	free(s.top);
	return c;
}

static void
test_limit_counts_refuses_and_releases(void)
{
	struct admission m, w;
	uint8_t a[16];

	CU_ASSERT_FATAL(make(&m, &w, 64, 2) == 0);
	v4(a, 1);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_REFUSED);
	CU_ASSERT_EQUAL(count_of(&m, 0, a), 2);
	admission_ip_release(&w, 0, a);
	CU_ASSERT_EQUAL(count_of(&m, 0, a), 1);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_REFUSED);
	/* limit 0 counts without refusing */
	w.max_per_ip = 0;
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(count_of(&m, 0, a), 102);
	done(&m);
}

static void
test_colliding_addresses_share_a_window_and_keep_their_own_counts(void)
{
	struct admission m, w;
	uint8_t a[16];

	/* 16 entries: every key's window is the whole table, so all of them collide */
	CU_ASSERT_FATAL(make(&m, &w, 16, 3) == 0);
	for (unsigned x = 0; x < 16; x++) {
		v4(a, x);
		for (unsigned k = 0; k <= x % 3; k++)
			CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	}
	for (unsigned x = 0; x < 16; x++) {
		v4(a, x);
		CU_ASSERT_EQUAL(count_of(&m, 0, a), x % 3 + 1);
	}
	v4(a, 2);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_REFUSED);
	CU_ASSERT_EQUAL(m.hdr->overflow, 0);
	done(&m);
}

static void
test_full_table_admits_uncounted_and_reuses_released_entries(void)
{
	struct admission m, w;
	uint8_t a[16];

	CU_ASSERT_FATAL(make(&m, &w, 16, 1) == 0);
	for (unsigned x = 0; x < 16; x++) {
		v4(a, x);
		CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	}
	v4(a, 100);
	/* no room: admitted, not counted, not refused even over the limit */
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_UNCOUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_UNCOUNTED);
	CU_ASSERT_EQUAL(m.hdr->overflow, 2);
	/* a released entry is free for another address */
	v4(a, 5);
	admission_ip_release(&w, 0, a);
	v4(a, 100);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_REFUSED);
	CU_ASSERT_EQUAL(count_of(&m, 0, a), 1);
	/* releasing an address never counted changes nothing */
	v4(a, 200);
	admission_ip_release(&w, 0, a);
	CU_ASSERT_EQUAL(m.hdr->overflow, 2);
	done(&m);
}

static void
test_ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_address(void)
{
	struct admission m, w;
	uint8_t a[16], b[16], mapped[16], plain[16];
	char buf[64];
	uint64_t key;
	unsigned fam;

	CU_ASSERT_FATAL(make(&m, &w, 64, 1) == 0);
	memset(a, 0, 16);
	a[0] = 0x20; a[1] = 0x01; a[2] = 0x0d; a[3] = 0xb8; a[7] = 1; a[15] = 1;
	memcpy(b, a, 16);
	b[15] = 2;		/* same /64, another host */
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 1, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 1, b), ADM_REFUSED);
	b[7] = 2;		/* another /64 */
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 1, b), ADM_COUNTED);
	admission_key(1, a, &key, &fam);
	CU_ASSERT_EQUAL(fam, ADM_FAM_V6);
	CU_ASSERT_STRING_EQUAL(admission_key_str(key, fam, buf, sizeof(buf)), "2001:db8:0:1::/64");

	/* ::ffff:10.0.0.9 on a dual-stack listener is 10.0.0.9, not ::/64 */
	memset(mapped, 0, 16);
	mapped[10] = mapped[11] = 0xff;
	mapped[12] = 10; mapped[15] = 9;
	v4(plain, 9);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 1, mapped), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, plain), ADM_REFUSED);
	admission_key(1, mapped, &key, &fam);
	CU_ASSERT_EQUAL(fam, ADM_FAM_V4);
	CU_ASSERT_STRING_EQUAL(admission_key_str(key, fam, buf, sizeof(buf)), "10.0.0.9");
	/* an IPv4 key and an IPv6 /64 with the same bits are different clients */
	memset(b, 0, 16);
	b[4] = 10; b[7] = 9;	/* 0:0:a00:9::/64: key 0x0a000009, like 10.0.0.9 */
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 1, b), ADM_COUNTED);
	done(&m);
}

static void
test_a_dead_workers_row_is_subtracted_from_the_table(void)
{
	struct admission m, w, w2;
	uint8_t a[16];

	CU_ASSERT_FATAL(make(&m, &w, 64, 5) == 0);
	w2 = w;
	w2.rows = (uint32_t *)(void *)((char *)m.rows + 2 * m.row_stride);
	v4(a, 7);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(admission_ip_acquire(&w2, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w2, 0, a), ADM_REFUSED);
	/* the worker of row 1 dies holding 3: only its 3 go */
	admission_row_gone(&m, 1);
	CU_ASSERT_EQUAL(count_of(&m, 0, a), 2);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_REFUSED);
	/* a row claiming more than the table holds is clamped at 0, never wraps */
	for (uint32_t i = 0; i < m.n; i++)
		if (w2.rows[i] != 0)
			w2.rows[i] = 1000000;
	admission_row_gone(&m, 2);
	CU_ASSERT_EQUAL(count_of(&m, 0, a), 0);
	/* a claim left half done (BUSY) is made reusable */
	m.ent[0].state = (5ULL << 34) | ((uint64_t)ADM_FAM_BUSY << 32);
	admission_row_gone(&m, 3);
	CU_ASSERT_EQUAL((m.ent[0].state >> 32) & 3, ADM_FAM_V4);
	CU_ASSERT_EQUAL(m.ent[0].state & 0xffffffffULL, 0);
	/* out of range rows are ignored */
	admission_row_gone(&m, 4);
	admission_row_gone(&m, UINT32_MAX);
	done(&m);
}

static void
test_bucket_starts_full_and_refills_at_the_rate(void)
{
	struct admission m, w;
	const uint64_t t0 = 5000000000ULL, ms = 1000000ULL;
	int n = 0;

	CU_ASSERT_FATAL(make(&m, &w, 16, 0) == 0);
	/* rate 5, burst 5: five at once, then one per 200 ms */
	for (int i = 0; i < 20; i++)
		n += admission_rate_take(&w, 0, 5, 5, t0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(admission_rate_take(&w, 0, 5, 5, t0 + 199 * ms), 0);
	CU_ASSERT_EQUAL(admission_rate_take(&w, 0, 5, 5, t0 + 200 * ms), 1);
	CU_ASSERT_EQUAL(admission_rate_take(&w, 0, 5, 5, t0 + 200 * ms), 0);
	/* a long pause refills to the burst, not beyond */
	n = 0;
	for (int i = 0; i < 20; i++)
		n += admission_rate_take(&w, 0, 5, 5, t0 + 60000 * ms);
	CU_ASSERT_EQUAL(n, 5);
	/* burst 0 means the rate; another listener has its own bucket */
	n = 0;
	for (int i = 0; i < 50; i++)
		n += admission_rate_take(&w, 1, 10, 0, t0);
	CU_ASSERT_EQUAL(n, 10);
	/* burst larger than the rate */
	n = 0;
	for (int i = 0; i < 50; i++)
		n += admission_rate_take(&w, 2, 1, 20, t0);
	CU_ASSERT_EQUAL(n, 20);
	/* rate 0 is off; an index past the table is not a bucket (admitted) */
	CU_ASSERT_EQUAL(admission_rate_take(&w, 3, 0, 0, t0), 1);
	CU_ASSERT_EQUAL(admission_rate_take(&w, ADM_MAX_LISTENERS, 1, 1, t0), 1);
	/* a reload starts every bucket full */
	admission_reset_rates(&m);
	n = 0;
	for (int i = 0; i < 20; i++)
		n += admission_rate_take(&w, 0, 5, 5, t0 + 60000 * ms);
	CU_ASSERT_EQUAL(n, 5);
	/* garbage far in the future does not stop the listener for good */
	m.hdr->tat[4] = UINT64_MAX - 5;
	CU_ASSERT_EQUAL(admission_rate_take(&w, 4, 5, 5, t0), 1);
	done(&m);
}

static void
test_garbage_in_the_table_does_not_crash_or_hang_anyone(void)
{
	struct admission m, w;
	struct adm_snapshot s;
	uint8_t a[16];
	unsigned seed = 12345;

	CU_ASSERT_FATAL(make(&m, &w, 256, 3) == 0);
	for (size_t i = 0; i < m.size - sizeof(struct adm_header); i++)
		((uint8_t *)m.ent)[i] = (uint8_t)rand_r(&seed);
	for (uint32_t i = 0; i < m.n; i++)
		w.rows[i] = (uint32_t)rand_r(&seed);
	/* the workers' calls end, whatever they decide */
	for (unsigned x = 0; x < 500; x++) {
		v4(a, x);
		(void)admission_ip_acquire(&w, 0, a);
		admission_ip_release(&w, 0, a);
	}
	/* the master's subtraction ends and clamps */
	admission_row_gone(&m, 1);
	for (uint32_t i = 0; i < m.n; i++)
		CU_ASSERT_EQUAL(w.rows[i], 0);
	/* the reader keeps the largest, sorted, never more than asked */
	memset(&s, 0, sizeof(s));
	s.top = calloc(10, sizeof(*s.top));
	admission_top(m.ent, m.n, 10, &s);
	CU_ASSERT(s.ntop <= 10);
	CU_ASSERT(s.used <= m.n);
	for (size_t i = 1; i < s.ntop; i++)
		CU_ASSERT(s.top[i - 1].count >= s.top[i].count);
	for (size_t i = 0; i < s.ntop; i++) {
		char buf[64];
		CU_ASSERT(s.top[i].fam == ADM_FAM_V4 || s.top[i].fam == ADM_FAM_V6);
		CU_ASSERT(s.top[i].count > 0 && s.top[i].count <= 0xffffffffULL);
		CU_ASSERT(strlen(admission_key_str(s.top[i].key, s.top[i].fam, buf,
		    sizeof(buf))) > 0);
	}
	free(s.top);
	done(&m);
}

static void
test_snapshot_refuses_a_damaged_or_stale_file(void)
{
	struct admission m, w;
	struct adm_snapshot s;
	char err[512];
	uint8_t a[16];
	int fd;

	CU_ASSERT_FATAL(make(&m, &w, 64, 0) == 0);
	v4(a, 1);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_ip_acquire(&w, 0, a), ADM_COUNTED);
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid(), 5, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.ntop, 1);
	CU_ASSERT_EQUAL(s.top[0].count, 2);
	CU_ASSERT_EQUAL(s.total, 2);
	CU_ASSERT_EQUAL(s.nentries, 64);
	admission_snapshot_free(&s);
	/* another master's pid: not this server's table */
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid() + 1, 5, &s, err, sizeof(err)), -1);
	/* a header declaring more entries than the file has */
	m.hdr->nentries = ADM_MAX_ENTRIES;
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid(), 5, &s, err, sizeof(err)), -1);
	CU_ASSERT(strstr(err, "too short") != NULL);
	m.hdr->nentries = 0xffffffffu;
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid(), 5, &s, err, sizeof(err)), -1);
	m.hdr->nentries = 64;
	m.hdr->version = 99;
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid(), 5, &s, err, sizeof(err)), -1);
	m.hdr->version = ADM_VERSION;
	/* truncated under the reader's feet */
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(ftruncate(fd, 100) == 0);
	close(fd);
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid(), 5, &s, err, sizeof(err)), -1);
	done(&m);
	/* nobody holds the lock any more: stale */
	CU_ASSERT_EQUAL(admission_snapshot(path, getpid(), 5, &s, err, sizeof(err)), -1);
}

static void
test_table_size_bounds_are_checked(void)
{
	struct admission m;
	char err[256];

	snprintf(path, sizeof(path), "/tmp/test_admission.%ld", (long)getpid());
	CU_ASSERT_EQUAL(admission_create(&m, path, ADM_MIN_ENTRIES - 1, 4, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(admission_create(&m, path, ADM_MAX_ENTRIES + 1, 4, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(admission_create(&m, path, 64, 0, err, sizeof(err)), -1);
}

void test_admission_register(void);

void
test_admission_register(void)
{
	CU_pSuite s = CU_add_suite("admission", NULL, NULL);

	CU_add_test(s, "test_limit_counts_refuses_and_releases",
	    test_limit_counts_refuses_and_releases);
	CU_add_test(s, "test_colliding_addresses_share_a_window_and_keep_their_own_counts",
	    test_colliding_addresses_share_a_window_and_keep_their_own_counts);
	CU_add_test(s, "test_full_table_admits_uncounted_and_reuses_released_entries",
	    test_full_table_admits_uncounted_and_reuses_released_entries);
	CU_add_test(s, "test_ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_address",
	    test_ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_address);
	CU_add_test(s, "test_a_dead_workers_row_is_subtracted_from_the_table",
	    test_a_dead_workers_row_is_subtracted_from_the_table);
	CU_add_test(s, "test_bucket_starts_full_and_refills_at_the_rate",
	    test_bucket_starts_full_and_refills_at_the_rate);
	CU_add_test(s, "test_garbage_in_the_table_does_not_crash_or_hang_anyone",
	    test_garbage_in_the_table_does_not_crash_or_hang_anyone);
	CU_add_test(s, "test_snapshot_refuses_a_damaged_or_stale_file",
	    test_snapshot_refuses_a_damaged_or_stale_file);
	CU_add_test(s, "test_table_size_bounds_are_checked",
	    test_table_size_bounds_are_checked);
}
