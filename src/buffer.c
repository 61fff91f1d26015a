/*
 * buffer: growable byte buffers, allocated on demand and freed when drained.
 */
#include "buffer.h"

#include <stdlib.h>
#include <string.h>

#define BUFFER_MIN 512

struct buffer *
buffer_reserve(struct buffer **bp, size_t more)
{
	struct buffer *b = *bp, *nb;
	size_t need, cap;

	if (b == NULL) {
		cap = more < BUFFER_MIN ? BUFFER_MIN : more;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->off = b->len = 0;
		b->cap = cap;
		*bp = b;
		return b;
	}
	if (buffer_space(b) >= more)
		return b;
	need = b->len + more;
	if (need <= b->cap) {
		/* enough room once compacted: move data to the front */
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		return b;
	}
	cap = b->cap * 2;
	if (cap < need)
		cap = need;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	nb = realloc(b, sizeof(*b) + cap);
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
	b->len += len;
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
