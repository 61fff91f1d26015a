/*
 * conn: one client connection, from accept to close.  Owns reading, decoding
 * (through proto), handing messages to the handler, queueing and flushing
 * output, the connection's single wheel timer (heartbeat, deadline, frame,
 * write and first-message timeouts folded into one node), the memory budget
 * of every connection buffer of a worker, and the one function that ends a
 * connection with a reason (conn_close).
 *
 * The worker builds a conn_env (the connections of one process and what they
 * share) and one conn_listener per listener through the constructors below,
 * keeps its listening sockets to itself, and hands every socket it accepts
 * to conn_accept().  Both handles are opaque: conn.c alone sees their fields.
 */
#ifndef SOCKSERV_CONN_H
#define SOCKSERV_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "admission.h"
#include "config.h"
#include "evloop.h"
#include "handler.h"
#include "stats.h"
#include "twheel.h"

struct conn_env;	/* every connection of one worker process */
struct conn_listener;	/* what the connections of one listener share */

/* what conn_env_create() is built from */
struct conn_env_params {
	struct evloop *loop;
	struct twheel *wheel;
	struct stats_slot *stats;
	uint64_t epoch_ms;		/* monotonic ms; connection times are stored relative to it */
	uint64_t max_output;		/* reading pauses above this much unsent output */
	uint64_t max_conns;		/* this worker's share of max_connections */
	uint64_t max_buffer_memory;	/* bytes all connection buffers may hold together */
	struct admission *adm;		/* whole-server limits; NULL = none */
};

/* NULL when out of memory */
struct conn_env *conn_env_create(const struct conn_env_params *p);
/* the connections must be gone (conn_env_shutdown) */
void conn_env_free(struct conn_env *env);
/* the cached monotonic clock: the worker sets it once per loop round, tests set a fake one */
void conn_env_set_now(struct conn_env *env, uint64_t now_ms);
uint64_t conn_env_now(const struct conn_env *env);
/* run every connection timer due by the cached clock */
void conn_env_expire(struct conn_env *env);
/* open connections */
uint64_t conn_env_count(const struct conn_env *env);
/* bytes held by connection input and output buffers (the max_buffer_memory budget) */
uint64_t conn_env_buffer_bytes(const struct conn_env *env);
/* server stopping: close every connection now with CLOSE_SHUTDOWN (frame clients get ERROR 7) */
void conn_env_shutdown(struct conn_env *env);

/* lc and h must outlive the listener; NULL when out of memory */
struct conn_listener *conn_listener_create(struct conn_env *env,
    const struct listener_conf *lc, const struct handler *h, uint64_t max_frame);
void conn_listener_free(struct conn_listener *cl);
/* the listener's index in the configuration: its accept_rate bucket (admission.h) */
void conn_listener_set_index(struct conn_listener *cl, unsigned idx);
/* what conn_handler_ctx() returns for the listener's connections (the backend link) */
void conn_listener_set_ctx(struct conn_listener *cl, void *ctx);
/*
 * A client socket (non-blocking) accepted for cl; peer is its address.
 * conn owns fd from here on: it becomes a connection, or is refused
 * (server full, accept_rate, max_conns_per_ip: ERROR 6 on frame
 * listeners) or closed (out of memory).
 */
void conn_accept(struct conn_listener *cl, int fd, const struct sockaddr *peer);

#endif
