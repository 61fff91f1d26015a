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
int buffer_append(struct buffer **bp, const void *data, size_t len);
/* drop n bytes from the front; frees the buffer when it becomes empty */
void buffer_consume(struct buffer **bp, size_t n);
void buffer_free(struct buffer **bp);

#endif
