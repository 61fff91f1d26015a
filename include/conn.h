/*
 * conn: one client connection, from accept to close.  Owns reading, decoding
 * (through proto), handing messages to the handler, queueing and flushing
 * output, the connection's single wheel timer (heartbeat, deadline, frame,
 * write and first-message timeouts folded into one node), and the one
 * function that ends a connection with a reason (conn_close).
 */
#ifndef SOCKSERV_CONN_H
#define SOCKSERV_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "config.h"
#include "evloop.h"
#include "handler.h"
#include "proto.h"
#include "stats.h"
#include "twheel.h"

struct conn_env;

/* a listener as one worker sees it */
struct wlistener {
	const struct listener_conf *conf;
	const struct handler *handler;
	struct proto_codec codec;
	struct conn_env *env;
	int fd;			/* this worker's listening socket, -1 once closed */
	int paused;		/* accept paused after EMFILE/ENFILE */
	uint64_t resume_ms;
};

/* what connections share within one worker process */
struct conn_env {
	struct evloop *loop;
	struct twheel *wheel;
	struct stats_slot *stats;
	uint64_t now_ms;	/* monotonic ms, refreshed once per loop round */
	uint64_t epoch_ms;	/* connection times are stored relative to this */
	uint64_t max_output;	/* reading pauses above this much unsent output */
	uint64_t max_conns;	/* this worker's share of max_connections */
	uint64_t nconns;
	uint8_t *rbuf;		/* one read buffer for every connection */
	size_t rbuf_size;
	struct conn *active;	/* the connection whose event or open() is being handled */
	struct conn *staged;	/* the connection whose output is being gathered in wbuf */
	struct buffer *wbuf;	/* output gathered while handling one read, flushed once */
	int draining;		/* graceful stop: idle connections may be closed */
};

/* connection states, driven by conn_event() */
enum conn_state {
	CS_OPEN,	/* reading messages and writing replies */
	CS_FLUSHING,	/* closing: no more input handled, pending output being sent */
	CS_LINGER,	/* output sent and write side shut: discard input until EOF */
};

void conn_env_init(struct conn_env *env, struct evloop *loop, struct twheel *wheel,
    struct stats_slot *stats, uint64_t max_output, uint64_t max_conns);
void conn_env_free(struct conn_env *env);

/* accept up to a batch of connections on l (the listener's evloop callback) */
void conn_accept_cb(struct evloop *loop, int fd, int mask, void *data);
/* the wheel callback for every connection's timer */
void conn_timer_cb(struct twheel_node *node, void *arg);
/* is this the evloop callback of a connection (for walking all connections) */
int conn_is_conn_cb(evloop_cb *cb);
/* server stopping: close now with CLOSE_SHUTDOWN (frame clients get ERROR 7, best effort) */
void conn_shutdown(struct conn *c);

#endif
