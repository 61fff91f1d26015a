/*
 * buffer: growable byte buffers, allocated on demand and freed when drained.
 */
#include "buffer.h"

#include <string.h>

#include "alloc.h"

#define BUFFER_MIN 512

/* the capacity buffer_reserve() gives b for `more` bytes: one rule for both */
static size_t
reserve_cap(const struct buffer *b, size_t more)
{
	size_t need, cap;

	if (b == NULL)
		return more < BUFFER_MIN ? BUFFER_MIN : more;
	need = b->len + more;
	if (need <= b->cap)
		return b->cap;	/* compacting makes the room */
	cap = b->cap * 2;	/* geometric: a buffer filled bit by bit is copied O(1) times per byte */
	return cap < need ? need : cap;
}

size_t
buffer_reserve_footprint(const struct buffer *b, size_t more)
{
	return sizeof(*b) + reserve_cap(b, more);
}

struct buffer *
buffer_reserve(struct buffer **bp, size_t more)
{
	struct buffer *b = *bp, *nb;
	size_t cap = reserve_cap(b, more);

	if (b == NULL) {
		b = alloc_malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->off = b->len = 0;
		b->cap = cap;
		*bp = b;
		return b;
	}
	if (buffer_space(b) >= more)
		return b;
	/* move the data to the front: enough when cap is unchanged, and less for realloc to copy */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (cap == b->cap)
		return b;
	nb = alloc_realloc(b, sizeof(*b) + cap);
	if (nb == NULL)
		return NULL;
	nb->cap = cap;
	*bp = nb;
	return nb;
}

int
buffer_append(struct buffer **bp, const void *data, size_t len)
{
	struct buffer *b = buffer_reserve(bp, len);

	if (b == NULL)
		return -1;
	if (len > 0)	/* data may be NULL for an empty payload */
		memcpy(buffer_tail(b), data, len);
	buffer_commit(b, len);
	return 0;
}

void
buffer_consume(struct buffer **bp, size_t n)
{
	struct buffer *b = *bp;

	if (b == NULL)
		return;
	if (n >= b->len) {
		buffer_free(bp);
		return;
	}
	b->off += n;
	b->len -= n;
}

void
buffer_free(struct buffer **bp)
{
	free(*bp);
	*bp = NULL;
}
