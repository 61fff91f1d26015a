/*
 * clock: the monotonic clock every module reads.  Its own header so that
 * nothing asks the stats module (or any other) what time it is.
 */
#ifndef SOCKSERV_CLOCK_H
#define SOCKSERV_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds */
uint64_t clock_now_ms(void);
/* CLOCK_MONOTONIC in nanoseconds: the same clock in every process (admission's buckets) */
uint64_t clock_now_ns(void);

#endif
