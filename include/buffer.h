/*
 * buffer: a growable byte buffer that exists only while data is pending.
 * A connection holds a NULL pointer until it needs one; buffer_free()
 * after draining keeps idle connections small.
 */
#ifndef SOCKSERV_BUFFER_H
#define SOCKSERV_BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct buffer {
	size_t off;	/* start of unread data */
	size_t len;	/* bytes of unread data at data + off */
	size_t cap;
	uint8_t data[];
};

static inline uint8_t *buffer_head(struct buffer *b) { return b->data + b->off; }
static inline size_t buffer_len(const struct buffer *b) { return b ? b->len : 0; }
/* make room for `more` bytes after the data (compacting or growing); NULL on ENOMEM */
struct buffer *buffer_reserve(struct buffer **bp, size_t more);
static inline uint8_t *buffer_tail(struct buffer *b) { return b->data + b->off + b->len; }
static inline size_t buffer_space(const struct buffer *b) { return b->cap - b->off - b->len; }
/* n bytes were written at buffer_tail() (by read(2), say): they are data now; n <= buffer_space() */
static inline void buffer_commit(struct buffer *b, size_t n) { b->len += n; }
/* forget the data but keep the memory, for a buffer refilled over and over (b may be NULL) */
static inline void buffer_clear(struct buffer *b) { if (b != NULL) b->off = b->len = 0; }
/* bytes of memory b holds (0 for none): what a caller that budgets memory counts */
static inline size_t buffer_footprint(const struct buffer *b) { return b ? sizeof(*b) + b->cap : 0; }
/* buffer_footprint() after a successful buffer_reserve(&b, more), without doing it */
size_t buffer_reserve_footprint(const struct buffer *b, size_t more);
int buffer_append(struct buffer **bp, const void *data, size_t len);
/* drop n bytes from the front; frees the buffer when it becomes empty */
void buffer_consume(struct buffer **bp, size_t n);
void buffer_free(struct buffer **bp);

#endif
