/*
 * twheel: a hashed timing wheel (Varghese & Lauck, scheme 6).  `slots`
 * buckets of intrusive doubly-linked lists; one tick is tick_ms.  A timer due
 * further than one revolution away stays in its bucket until its tick comes
 * (the absolute due tick is kept in the node).  Start, stop and restart are
 * O(1) and never allocate: the node lives in the owner's struct.
 *
 * Time is a parameter (milliseconds on any monotonic clock) so tests can
 * drive the wheel with a fake clock.  A timer due at time D fires during the
 * first tick boundary T (T = origin + k * tick_ms) with T >= D.
 */
#ifndef SOCKSERV_TWHEEL_H
#define SOCKSERV_TWHEEL_H

#include <stddef.h>
#include <stdint.h>

struct twheel_node {
	struct twheel_node *next;	/* NULL when not armed */
	struct twheel_node *prev;
	uint64_t due_tick;		/* absolute tick it fires in */
};

struct twheel;
/* called for each expired node; the node is already unlinked and may be re-armed */
typedef void twheel_cb(struct twheel_node *node, void *arg);

/* slots must be a power of two; now_ms is the wheel's origin */
struct twheel *twheel_create(uint32_t tick_ms, uint32_t slots, uint64_t now_ms);
/* nodes still armed are disarmed (twheel_armed() is false afterwards) */
void twheel_free(struct twheel *w);
static inline void twheel_node_init(struct twheel_node *n) { n->next = n->prev = NULL; n->due_tick = 0; }
static inline int twheel_armed(const struct twheel_node *n) { return n->next != NULL; }
/*
 * arm (or re-arm) n to fire at the first tick boundary at or after due_ms; a
 * due time at or before the last boundary already run fires at the next one
 */
void twheel_start(struct twheel *w, struct twheel_node *n, uint64_t due_ms);
void twheel_stop(struct twheel *w, struct twheel_node *n);
/* the time (ms) n is going to fire at: its tick boundary */
uint64_t twheel_node_due_ms(const struct twheel *w, const struct twheel_node *n);
/*
 * run every tick boundary <= now_ms, calling cb for each expired node in due
 * order; returns fired count.  cb may start or stop any node (not advance or
 * free the wheel).  After a jump of more than one revolution the wheel is
 * already at now_ms while cb runs: a node cb arms due <= now_ms fires at the
 * next call rather than this one (the same holds for any arm due by a tick
 * the wheel has run).
 */
size_t twheel_advance(struct twheel *w, uint64_t now_ms, twheel_cb *cb, void *arg);
/*
 * ms from now_ms until the next tick boundary whose bucket is non-empty (0 if
 * that boundary has passed), -1 if the wheel is empty.  The bucket may hold
 * only timers due revolutions later: early, never late.
 */
int64_t twheel_next_timeout(const struct twheel *w, uint64_t now_ms);
size_t twheel_count(const struct twheel *w);
uint32_t twheel_tick_ms(const struct twheel *w);

#endif
