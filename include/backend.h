/*
 * backend: the link from one worker to the applications behind it
 * (sockserv-backend(7)), and the "backend" handler that feeds it.
 *
 * Per worker, one connection to each backend its listeners use: a
 * non-blocking connect with a doubling backoff, HELLO, the replay of what
 * the application has not acknowledged, then every client event (OPEN,
 * MSG, CLOSE, GONE) out and every command (SEND, CLOSE, SUB, UNSUB,
 * PUBLISH, ACK, PING, PONG) in.  Events are kept until the application
 * acknowledges them; the round's events go out in one write
 * (backend_round).  While a link is down or too far behind, its clients
 * are not read (conn_hold_input).  It owns the connection ids
 * (connid.h), the id -> client table and the topics of each link.
 */
#ifndef SOCKSERV_BACKEND_H
#define SOCKSERV_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "conn.h"
#include "evloop.h"
#include "handler.h"
#include "stats.h"

struct backend_links;	/* every link of one worker */

struct backend_params {
	const struct config *cfg;
	struct evloop *loop;
	struct stats_slot *stats;	/* link figures go to stats->links[] */
	int slot;			/* the worker's slot (HELLO "worker") */
	int phys;			/* its physical stats slot (connection ids) */
	uint64_t id_start;		/* first id counter (connid.h) */
	uint64_t *id_reserved;		/* the slot's shared high-water mark of ids */
	pid_t master_pid;
	uint64_t master_started;	/* Unix seconds */
	uint64_t now_ms;		/* monotonic */
	uint64_t (*clock)(void);	/* the link's clock in callbacks; NULL = clock_now_ms (tests fake it) */
};

/* one link per backend some listener of cfg uses; NULL when out of memory */
struct backend_links *backend_links_create(const struct backend_params *p);
/* the worker is exiting: one last best-effort write, then close everything */
void backend_links_free(struct backend_links *bl);
/* the context for conn_listener_set_ctx() of listener lc: its link, NULL if lc is not a backend listener */
void *backend_listener_ctx(struct backend_links *bl, const struct listener_conf *lc);
/*
 * Once per loop round, before the loop sleeps: reconnects, ACKs, pings,
 * the link timeout, the round's writes and the pause or resume of
 * clients.  *timeout_ms shrinks to the next link deadline.
 */
void backend_round(struct backend_links *bl, uint64_t now_ms, int64_t *timeout_ms);
/*
 * Bytes the link to the i-th backend (0..nlinks-1) holds in its buffers
 * (input, control, pending events): what the tests and the fuzzer bound.
 */
size_t backend_link_footprint(const struct backend_links *bl, size_t i);
/* SipHash-2-4 of p under key: the link's topic table hash (keyed, so an application cannot aim its topics at one chain) */
uint64_t backend_topic_hash(const uint64_t key[2], const uint8_t *p, size_t len);
/* the "backend" handler (registered with the built-ins) */
const struct handler *backend_handler(void);

#endif
