/*
 * crashloop: the respawn backoff of one worker slot (see crashloop.h).
 */
#include "crashloop.h"

#include <stddef.h>

uint32_t
crashloop_death(struct crashloop *cl, uint64_t now, unsigned *recent)
{
	unsigned n = 0;

	cl->deaths[cl->ndeaths++ % CRASHLOOP_RING] = now;
	for (unsigned i = 0; i < CRASHLOOP_RING && i < cl->ndeaths; i++)
		if (now - cl->deaths[i] <= CRASHLOOP_WINDOW_MS)
			n++;
	if (recent != NULL)
		*recent = n;
	/*
	 * Once backing off, every death doubles the wait until a worker has
	 * run CRASHLOOP_STABLE_MS: a slot that dies at once after each long
	 * wait must not get CRASHLOOP_LIMIT quick respawns again whenever its
	 * old deaths leave the window.
	 */
	if (n <= CRASHLOOP_LIMIT && cl->backoff_ms == 0)
		return 0;
	if (cl->backoff_ms == 0)
		cl->backoff_ms = CRASHLOOP_MIN_MS;
	else if (cl->backoff_ms > CRASHLOOP_MAX_MS / 2)
		cl->backoff_ms = CRASHLOOP_MAX_MS;
	else
		cl->backoff_ms *= 2;
	return cl->backoff_ms;
}

int
crashloop_stable(struct crashloop *cl, uint64_t started, uint64_t now)
{
	if (cl->backoff_ms == 0 || now - started < CRASHLOOP_STABLE_MS)
		return 0;
	cl->backoff_ms = 0;
	return 1;
}
