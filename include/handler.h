/*
 * handler: what a listener does with messages.  A C developer adds one by
 * filling a struct handler and calling handler_register() before the server
 * starts; listeners name it in the config.  Handlers see bytes in, bytes out
 * and a close with a reason, never the event loop or the socket.
 */
#ifndef SOCKSERV_HANDLER_H
#define SOCKSERV_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "reason.h"

struct conn;

struct handler {
	const char *name;
	/* a connection was accepted; non-zero closes it (reason error) */
	int (*open)(struct conn *c);
	/* one complete message (DATA payload on frame listeners) */
	void (*message)(struct conn *c, const uint8_t *data, size_t len);
	/* the connection ends; it may no longer send */
	void (*close)(struct conn *c, enum close_reason reason);
};

/* handlers are kept by pointer: h must outlive the server. -1 if the name is taken or the table full */
int handler_register(const struct handler *h);
const struct handler *handler_find(const char *name);
/* registers the built-in "echo" and "log" handlers (idempotent) */
void handler_register_builtins(void);

/*
 * The API a handler may call, implemented by the connection module.
 * conn_send queues len bytes as one message: framed as DATA on frame
 * listeners, with the magic header on headers listeners, as-is on raw.
 * Returns 0, or -1 when the connection is closing, its output is over
 * max_output or the worker's limits.max_buffer_memory is spent (it is then
 * closed with CLOSE_TOO_LARGE), or memory ran out (closed with CLOSE_ERROR).
 */
int conn_send(struct conn *c, const void *data, size_t len);
/* end the connection after its pending output was flushed (best effort) */
void conn_close(struct conn *c, enum close_reason reason);
const char *conn_listener_name(const struct conn *c);
/* "ADDR:PORT" of the peer ("[v6]:PORT" for IPv6) into buf */
const char *conn_peer_str(const struct conn *c, char *buf, size_t len);
void *conn_udata(const struct conn *c);
void conn_set_udata(struct conn *c, void *udata);

#endif
