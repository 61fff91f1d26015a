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
#include <sys/socket.h>

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
	/* optional: an ERROR frame with this code goes to the client (frame listeners) */
	void (*error_sent)(struct conn *c, uint16_t code);
};

/* handlers are kept by pointer: h must outlive the server. -1 if the name is taken or the table full */
int handler_register(const struct handler *h);
const struct handler *handler_find(const char *name);
/* registers the built-in "echo", "log" and "backend" handlers (idempotent) */
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
/*
 * The client's address and port into *ss (AF_INET or AF_INET6); returns
 * its length.  Behind a proxy_protocol listener, the address the PROXY
 * header carried.
 */
socklen_t conn_peer(const struct conn *c, struct sockaddr_storage *ss);
/* "ADDR:PORT" of the peer ("[v6]:PORT" for IPv6) into buf */
const char *conn_peer_str(const struct conn *c, char *buf, size_t len);
void *conn_udata(const struct conn *c);
void conn_set_udata(struct conn *c, void *udata);
/* what the worker attached to the connection's listener (conn_listener_set_ctx) */
void *conn_handler_ctx(const struct conn *c);
/*
 * End c once its pending output is out, telling a frame client why:
 * code 0 sends CLOSE, any other code an ERROR frame with code and text.
 * Raw and headers clients just see the close.
 */
void conn_close_with(struct conn *c, enum close_reason reason, uint16_t code,
    const char *text, size_t textlen);

/*
 * For a handler driven from outside the connection's own events (the
 * backend link): conn_send and conn_close_with between conn_defer_begin
 * and conn_defer_end ask the loop for nothing and gather the output in
 * the worker's staging buffer; the caller promises conn_push(c) for every
 * such c before anything else runs (another client's event would take the
 * staging buffer), which writes c's output and may end (and free) c.  A
 * run of commands for one client thus costs one write, no allocation and
 * no epoll_ctl.
 */
struct conn *conn_defer_begin(struct conn *c);
void conn_defer_end(struct conn *c, struct conn *prev);
void conn_push(struct conn *c);
/*
 * Stop (hold = 1) or resume reading c for its handler (the backend link is
 * down or too far behind).  Like the max_output pause, the heartbeat and
 * frame timeouts stop meanwhile and restart on resume; deadline and
 * first_message_timeout run on.
 */
void conn_hold_input(struct conn *c, int hold);

#endif
