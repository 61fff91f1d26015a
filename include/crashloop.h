/*
 * crashloop: when to respawn a worker slot whose processes keep dying.
 * More than CRASHLOOP_LIMIT deaths within CRASHLOOP_WINDOW_MS start a
 * backoff: every death from then on waits, doubling from CRASHLOOP_MIN_MS
 * up to CRASHLOOP_MAX_MS, until a worker runs CRASHLOOP_STABLE_MS.  Pure bookkeeping on
 * millisecond timestamps the caller passes, so the policy is testable
 * without waiting a minute.
 */
#ifndef SOCKSERV_CRASHLOOP_H
#define SOCKSERV_CRASHLOOP_H

#include <stdint.h>

#define CRASHLOOP_WINDOW_MS 10000
#define CRASHLOOP_LIMIT 5
#define CRASHLOOP_RING 32	/* deaths remembered, to report how many fell in the window */
#define CRASHLOOP_MIN_MS 100
#define CRASHLOOP_MAX_MS 30000
#define CRASHLOOP_STABLE_MS 60000

struct crashloop {
	uint64_t deaths[CRASHLOOP_RING];	/* ring of recent death times */
	unsigned ndeaths;
	uint32_t backoff_ms;			/* 0: not backing off */
};

/*
 * A death at now.  Returns the delay before the respawn: 0 for at once.
 * *recent gets the deaths within the window, this one included (at most
 * CRASHLOOP_RING: the ring remembers no more).
 */
uint32_t crashloop_death(struct crashloop *cl, uint64_t now, unsigned *recent);

/* The slot's worker started at started is still running at now: 1 if that cleared the backoff. */
int crashloop_stable(struct crashloop *cl, uint64_t started, uint64_t now);

#endif
