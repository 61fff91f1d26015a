/*
 * alloc: the allocation calls of the modules whose failures the tests
 * inject (buffer, conn, twheel).  A test program defines
 * `long sockserv_alloc_fail = N;` and the Nth allocation from then on
 * returns NULL (once; 0 = never).  The server defines no such symbol: the
 * weak reference is NULL there, so the check is one predictable branch on
 * a constant address and no call, on paths that allocate anyway.
 */
#ifndef SOCKSERV_ALLOC_H
#define SOCKSERV_ALLOC_H

#include <errno.h>
#include <stdlib.h>

extern long sockserv_alloc_fail __attribute__((weak));

static inline int
alloc_fails(void)
{
	if (&sockserv_alloc_fail == NULL || sockserv_alloc_fail <= 0)
		return 0;
	if (--sockserv_alloc_fail != 0)
		return 0;
	errno = ENOMEM;	/* as the real allocator says it */
	return 1;
}

static inline void *alloc_malloc(size_t n) { return alloc_fails() ? NULL : malloc(n); }
static inline void *alloc_calloc(size_t k, size_t n) { return alloc_fails() ? NULL : calloc(k, n); }
static inline void *alloc_realloc(void *p, size_t n) { return alloc_fails() ? NULL : realloc(p, n); }

#endif
