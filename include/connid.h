/*
 * connid: connection ids for the backend link.  A u64, unique per node for
 * the life of the master, across workers, respawns and reloads:
 *
 *   bits 63..48  node_id (config)
 *   bits 47..40  the physical stats slot of the worker process
 *   bits 39..0   a counter that never goes back for that physical slot
 *
 * The counter of a physical slot continues across the processes that use
 * it.  A worker reserves ids in blocks of CONNID_BLOCK by storing the end
 * of the reserved range in its own stats slot (stats_slot.id_reserved)
 * before it hands out any id of the block; the master, giving the slot to
 * a new process, starts it at connid_carry(its own copy, what the dead
 * owner's slot says).  The slot is writable by the less privileged worker,
 * so the value read back is clamped: a worker can only spend its own
 * slot's future ids, never make an id repeat.
 */
#ifndef SOCKSERV_CONNID_H
#define SOCKSERV_CONNID_H

#include <stdint.h>

#define CONNID_COUNTER_BITS 40
#define CONNID_COUNTER_END (1ULL << CONNID_COUNTER_BITS)	/* no id at or past it */
#define CONNID_BLOCK 65536ULL
#define CONNID_FIRST 1ULL	/* 0 would make id 0 ("the link") on node 0, slot 0 */

struct connid_alloc {
	uint64_t prefix;	/* node and slot bits */
	uint64_t next;		/* counter of the next id */
	uint64_t reserved;	/* counters below this are reserved (and stored in *hw) */
	uint64_t *hw;		/* the slot's shared high-water mark */
};

/* a worker's allocator: counters from start on, reservations stored in *hw */
void connid_init(struct connid_alloc *a, uint32_t node, uint32_t phys, uint64_t start,
    uint64_t *hw);
/* the next id, or 0 when the slot's 2^40 counters are spent */
uint64_t connid_next(struct connid_alloc *a);
/*
 * master: where a new process in a physical slot starts, from the
 * master's own copy and the value read back from the slot (data, clamped).
 */
uint64_t connid_carry(uint64_t own, uint64_t read_back);

#endif
