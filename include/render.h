/*
 * render: a snapshot of the stats segment as text.  It owns the snapshot
 * (a plain, self-consistent copy of the header and of every slot in use)
 * and the three ways sockserv-stat prints it: a table for people, one JSON
 * object for programs, the Prometheus text exposition format for scrapers.
 * Rendering never touches the live segment, so unit tests build snapshots
 * by hand and one snapshot always prints consistent numbers.
 *
 * Per worker the counters are the slot's lifetime totals (earlier, dead
 * processes in the slot included); JSON adds "this_worker" for the process
 * now in the slot.  Prometheus sums the counters per worker number (the
 * current process plus any predecessor still draining after a reload), so
 * a series stays monotonic across respawns and reloads; per-process gauges
 * (state, loop age) carry a pid label as well.
 */
#ifndef SOCKSERV_RENDER_H
#define SOCKSERV_RENDER_H

#include <stdint.h>
#include <stdio.h>

#include "stats.h"

enum render_format {
	RENDER_TABLE,		/* header line, one row per slot in use, a total row */
	RENDER_JSON,		/* one object on one line */
	RENDER_PROMETHEUS,	/* text exposition format 0.0.4 */
};

struct render_snapshot {
	int32_t master_pid;
	uint32_t workers_configured;	/* header nworkers */
	uint64_t start_time;		/* CLOCK_REALTIME s at master start */
	uint64_t start_mono_ms;		/* CLOCK_MONOTONIC ms at master start */
	uint64_t config_generation;
	uint64_t now_ms;		/* CLOCK_MONOTONIC ms of the copy: ages are against it */
	uint32_t nslots;		/* slot[0..nslots) are in use (state != WS_EMPTY) */
	uint32_t phys[STATS_MAX_WORKERS];	/* segment index of slot[i] */
	struct stats_slot slot[STATS_MAX_WORKERS];
};

/*
 * Copy the header and the slots in use of a mapped segment.  The copy is
 * repeated (a few times at most) until two passes agree, so a reader does
 * not catch the master halfway through folding a dead worker's counters.
 * The header is the copy stats_open validated (seg->head) and only
 * seg->nslots slots are looked at, whatever the file says now.
 * -1 when the file shrank under the mapping (SIGBUS caught): the snapshot
 * is empty then.
 */
int render_snapshot_take(struct render_snapshot *snap, const struct stats_seg *seg);

/* print snap in fmt to f; 0, or -1 when f reports a write error */
int render(FILE *f, enum render_format fmt, const struct render_snapshot *snap);
/* the same into a malloc'd NUL-terminated string; NULL when out of memory */
char *render_string(enum render_format fmt, const struct render_snapshot *snap);

#endif
