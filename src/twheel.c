/*
 * twheel: the hashed timing wheel (Varghese & Lauck, scheme 6).  It owns the
 * bucket heads, the bitmap of non-empty buckets and the wheel's notion of
 * time (the last tick boundary it has processed); the nodes belong to their
 * owners and are only linked in.
 *
 * Ticks are numbered from the origin: boundary k is at origin + k * tick_ms.
 * A node keeps its absolute due tick and sits in bucket (due_tick & mask), so
 * a node due several revolutions out shares a bucket with nearer ones and is
 * simply skipped until its own tick comes round.
 *
 * Buckets are circular lists with a sentinel head, so an armed node never has
 * a NULL next (that is what twheel_armed() tests) and unlinking needs neither
 * the bucket nor a walk.  Expired nodes are first moved to a list on the
 * stack and fired from its head one at a time: a callback may stop or
 * restart any node, including ones still waiting in that list, and the
 * iteration never holds a pointer the callback could invalidate.
 */
#include "twheel.h"

#include <errno.h>
#include <stdlib.h>

#include "alloc.h"

#define WORD_BITS 64

struct twheel {
	uint64_t origin;	/* time of tick 0 */
	uint64_t cur_tick;	/* every boundary <= this one has been run */
	uint32_t tick_ms;
	uint32_t slots;
	uint32_t mask;		/* slots - 1 */
	size_t count;		/* armed nodes, including a batch being fired */
	struct twheel_node *buckets;	/* sentinel heads */
	uint64_t *bitmap;	/* bit b set iff bucket b is non-empty */
};

static void
list_init(struct twheel_node *head)
{
	head->next = head->prev = head;
}

static int
list_empty(const struct twheel_node *head)
{
	return head->next == head;
}

/* append at the tail, so timers due in the same tick fire in start order */
static void
list_append(struct twheel_node *head, struct twheel_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void
list_unlink(struct twheel_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

static void
bit_set(struct twheel *w, uint32_t b)
{
	w->bitmap[b / WORD_BITS] |= UINT64_C(1) << (b % WORD_BITS);
}

/* recompute bucket b's bit from the list itself: always right, whichever list n left */
static void
bit_update(struct twheel *w, uint32_t b)
{
	if (list_empty(&w->buckets[b]))
		w->bitmap[b / WORD_BITS] &= ~(UINT64_C(1) << (b % WORD_BITS));
}

/*
 * Offset (0 .. len-1) from bucket `start` of the first non-empty bucket,
 * wrapping round the wheel; -1 if none.  len <= slots.  Unused high bits of
 * a wheel smaller than a word are never set, so a word never reports a
 * bucket past the end of the wheel.
 */
static int64_t
bitmap_next(const struct twheel *w, uint32_t start, uint64_t len)
{
	uint64_t off = 0, bits;
	uint32_t b, bit, step;

	while (off < len) {
		b = (uint32_t)((start + off) & w->mask);
		bit = b % WORD_BITS;
		bits = w->bitmap[b / WORD_BITS] >> bit;
		if (bits != 0) {
			off += (uint64_t)__builtin_ctzll(bits);
			return off < len ? (int64_t)off : -1;
		}
		/* to the next word, or back to bucket 0 on a wheel under 64 slots */
		step = WORD_BITS - bit;
		if (step > w->slots - b)
			step = w->slots - b;
		off += step;
	}
	return -1;
}

struct twheel *
twheel_create(uint32_t tick_ms, uint32_t slots, uint64_t now_ms)
{
	struct twheel *w;
	uint32_t i;

	if (tick_ms == 0 || slots == 0 || (slots & (slots - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((w = alloc_calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->origin = now_ms;
	w->tick_ms = tick_ms;
	w->slots = slots;
	w->mask = slots - 1;
	w->buckets = alloc_calloc(slots, sizeof(*w->buckets));
	w->bitmap = alloc_calloc((slots + WORD_BITS - 1) / WORD_BITS,
	    sizeof(*w->bitmap));
	if (w->buckets == NULL || w->bitmap == NULL) {
		/*
		 * Not twheel_free(): it walks the bucket lists, and these heads
		 * are zeroed, not yet circular (a NULL next is no empty list).
		 */
		free(w->buckets);
		free(w->bitmap);
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < slots; i++)
		list_init(&w->buckets[i]);
	return w;
}

/*
 * Armed nodes are disarmed rather than left pointing into freed bucket
 * heads: their owners may outlive the wheel and still ask twheel_armed().
 */
void
twheel_free(struct twheel *w)
{
	uint32_t i;

	if (w == NULL)
		return;
	if (w->buckets != NULL) {
		for (i = 0; i < w->slots; i++) {
			while (!list_empty(&w->buckets[i]))
				list_unlink(w->buckets[i].next);
		}
	}
	free(w->buckets);
	free(w->bitmap);
	free(w);
}

/*
 * The first tick whose boundary is >= due_ms, but never one already run:
 * a timer due in the past fires at the next boundary, late rather than lost.
 */
static uint64_t
due_to_tick(const struct twheel *w, uint64_t due_ms)
{
	uint64_t d, t;

	if (due_ms <= w->origin)
		return w->cur_tick + 1;
	d = due_ms - w->origin;
	t = d / w->tick_ms + (d % w->tick_ms != 0);
	return t > w->cur_tick ? t : w->cur_tick + 1;
}

void
twheel_start(struct twheel *w, struct twheel_node *n, uint64_t due_ms)
{
	uint32_t b;

	if (twheel_armed(n))
		twheel_stop(w, n);
	n->due_tick = due_to_tick(w, due_ms);
	b = (uint32_t)(n->due_tick & w->mask);
	list_append(&w->buckets[b], n);
	bit_set(w, b);
	w->count++;
}

void
twheel_stop(struct twheel *w, struct twheel_node *n)
{
	if (!twheel_armed(n))
		return;
	list_unlink(n);
	bit_update(w, (uint32_t)(n->due_tick & w->mask));
	w->count--;
}

uint64_t
twheel_node_due_ms(const struct twheel *w, const struct twheel_node *n)
{
	return w->origin + n->due_tick * w->tick_ms;
}

/* fire every node of the batch; the batch list is empty afterwards */
static size_t
fire_batch(struct twheel *w, struct twheel_node *batch, twheel_cb *cb,
    void *arg)
{
	struct twheel_node *n;
	size_t fired = 0;

	/* re-read the head each time: the callback may have unlinked any node */
	while (!list_empty(batch)) {
		n = batch->next;
		list_unlink(n);
		w->count--;
		fired++;
		cb(n, arg);
	}
	return fired;
}

/* move the nodes of bucket b due by tick `upto` to the tail of batch */
static void
collect_bucket(struct twheel *w, uint32_t b, uint64_t upto,
    struct twheel_node *batch)
{
	struct twheel_node *head = &w->buckets[b], *n, *nx;

	for (n = head->next; n != head; n = nx) {
		nx = n->next;
		if (n->due_tick <= upto) {
			list_unlink(n);
			list_append(batch, n);
		}
	}
	bit_update(w, b);
}

/* stable merge of two NULL-terminated lists (linked by next) by due tick */
static struct twheel_node *
merge(struct twheel_node *a, struct twheel_node *b)
{
	struct twheel_node head, *tail = &head;

	while (a != NULL && b != NULL) {
		if (b->due_tick < a->due_tick) {
			tail->next = b;
			b = b->next;
		} else {
			tail->next = a;
			a = a->next;
		}
		tail = tail->next;
	}
	tail->next = a != NULL ? a : b;
	return head.next;
}

/*
 * Sort a batch by due tick, keeping start order within a tick.  Only a catch-up
 * over more than a revolution needs it: bucket order is then not time order.
 * Bottom-up merge sort with power-of-two bins: O(n log n), no allocation.
 */
static void
sort_batch(struct twheel_node *batch)
{
	struct twheel_node *bins[64] = { NULL }, *carry, *n, *nx, *prev;
	int i;

	for (n = batch->next; n != batch; n = nx) {
		nx = n->next;
		n->next = NULL;
		carry = n;
		for (i = 0; bins[i] != NULL; i++) {
			carry = merge(bins[i], carry);
			bins[i] = NULL;
		}
		bins[i] = carry;
	}
	carry = NULL;
	for (i = 0; i < 64; i++) {
		if (bins[i] != NULL)
			carry = merge(bins[i], carry);
	}
	/* relink as a circular list behind the sentinel */
	prev = batch;
	for (n = carry; n != NULL; n = n->next) {
		n->prev = prev;
		prev->next = n;
		prev = n;
	}
	prev->next = batch;
	batch->prev = prev;
}

/*
 * The clock moved more than a revolution: one pass over the non-empty
 * buckets finds everything due (nodes know their absolute tick), then the
 * batch fires in time order.  The wheel is already at `target` while the
 * callbacks run, so a timer they arm lands after it.
 */
static size_t
advance_jump(struct twheel *w, uint64_t target, twheel_cb *cb, void *arg)
{
	struct twheel_node batch;
	uint32_t start = (uint32_t)((w->cur_tick + 1) & w->mask), b;
	uint64_t off = 0;
	int64_t next;

	list_init(&batch);
	while (off < w->slots &&
	    (next = bitmap_next(w, (uint32_t)((start + off) & w->mask),
	    w->slots - off)) >= 0) {
		off += (uint64_t)next;
		b = (uint32_t)((start + off) & w->mask);
		collect_bucket(w, b, target, &batch);
		off++;
	}
	w->cur_tick = target;
	sort_batch(&batch);
	return fire_batch(w, &batch, cb, arg);
}

size_t
twheel_advance(struct twheel *w, uint64_t now_ms, twheel_cb *cb, void *arg)
{
	struct twheel_node batch;
	uint64_t target, t;
	int64_t off;
	size_t fired = 0;

	if (now_ms < w->origin)
		return 0;
	target = (now_ms - w->origin) / w->tick_ms;
	if (target <= w->cur_tick)
		return 0;
	if (target - w->cur_tick > w->slots)
		return advance_jump(w, target, cb, arg);

	/*
	 * Tick by tick, but only the ticks whose bucket is non-empty.  The
	 * wheel stands at each tick while its callbacks run, so a timer they
	 * arm for a later tick up to `target` still fires in this call.
	 */
	list_init(&batch);
	while (w->cur_tick < target) {
		off = bitmap_next(w, (uint32_t)((w->cur_tick + 1) & w->mask),
		    target - w->cur_tick);
		if (off < 0) {
			w->cur_tick = target;
			break;
		}
		t = w->cur_tick + 1 + (uint64_t)off;
		w->cur_tick = t;
		collect_bucket(w, (uint32_t)(t & w->mask), t, &batch);
		fired += fire_batch(w, &batch, cb, arg);
	}
	return fired;
}

/*
 * The next tick with a non-empty bucket, found in the bitmap.  That bucket
 * may hold only nodes due revolutions later, so this can be early (the
 * caller wakes, advances and fires nothing) but never late, and a wheel whose
 * timers are all far out still wakes at most once a revolution.
 */
int64_t
twheel_next_timeout(const struct twheel *w, uint64_t now_ms)
{
	uint64_t at;
	int64_t off;

	if (w->count == 0)
		return -1;
	off = bitmap_next(w, (uint32_t)((w->cur_tick + 1) & w->mask), w->slots);
	if (off < 0) {
		/* all armed nodes are in the batch a callback is being run from */
		return 0;
	}
	at = w->origin + (w->cur_tick + 1 + (uint64_t)off) * w->tick_ms;
	if (at <= now_ms)
		return 0;
	if (at - now_ms > (uint64_t)INT64_MAX)
		return INT64_MAX;
	return (int64_t)(at - now_ms);
}

size_t
twheel_count(const struct twheel *w)
{
	return w->count;
}

uint32_t
twheel_tick_ms(const struct twheel *w)
{
	return w->tick_ms;
}
