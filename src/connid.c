/*
 * connid: allocating connection ids in reserved blocks (see connid.h).
 */
#include "connid.h"

#include "stats.h"

void
connid_init(struct connid_alloc *a, uint32_t node, uint32_t phys, uint64_t start,
    uint64_t *hw)
{
	a->prefix = (uint64_t)(node & 0xffff) << 48 | (uint64_t)(phys & 0xff) << CONNID_COUNTER_BITS;
	if (start < CONNID_FIRST)
		start = CONNID_FIRST;
	if (start > CONNID_COUNTER_END)
		start = CONNID_COUNTER_END;
	a->next = a->reserved = start;
	a->hw = hw;
}

uint64_t
connid_next(struct connid_alloc *a)
{
	if (a->next >= a->reserved) {
		uint64_t end;

		if (a->next >= CONNID_COUNTER_END)
			return 0;
		end = a->next + CONNID_BLOCK;
		if (end > CONNID_COUNTER_END)
			end = CONNID_COUNTER_END;
		/* stored before any id of the block is used: a successor starts past it */
		stats_set(a->hw, end);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		a->reserved = end;
	}
	return a->prefix | a->next++;
}

uint64_t
connid_carry(uint64_t own, uint64_t read_back)
{
	if (read_back > CONNID_COUNTER_END)
		read_back = CONNID_COUNTER_END;
	if (own < CONNID_FIRST)
		own = CONNID_FIRST;
	return read_back > own ? read_back : own;
}
