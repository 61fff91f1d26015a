/*
 * conn: one client connection.  It reads into the worker's shared buffer
 * (a per-connection buffer exists only while a message is half-received),
 * decodes with proto, hands messages to the handler, gathers the replies of
 * one read in the worker's staging buffer and writes them with one syscall.
 * Unsent output is kept per connection only while the kernel will not take it.
 *
 * Every timeout of a connection lives in one wheel node.  A message only
 * stores its time (no wheel work); when the node fires early because the
 * client talked meanwhile, it is re-armed for the rest of the interval.
 * Only a new condition that makes the due time earlier (a frame starts,
 * output stalls) moves the node.
 *
 * A connection is freed only from a top-level callback (event or timer), so
 * a handler may call conn_close()/conn_send() at any point.
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "buffer.h"
#include "clock.h"
#include "fdio.h"
#include "listener.h"
#include "log.h"
#include "proto.h"
#include "proxyproto.h"

#define STAGE_FLUSH (64 * 1024)	/* write the staging buffer when it grows past this */
#define IN_CHUNK (16 * 1024)	/* least room made in a connection's own input buffer */
#define FLUSH_LIMIT_MS 5000	/* closing: most time to flush when write_timeout is off */
#define LINGER_MS 2000		/* after our FIN, most time to wait for the client's */
#define MEM_LOG_MS 1000		/* budget closes are logged at most this often */
#define NO_DUE UINT64_MAX

struct conn_listener {
	const struct listener_conf *conf;
	const struct handler *handler;
	struct proto_codec codec;
	struct conn_env *env;
	void *ctx;		/* the handler's, per listener (conn_handler_ctx) */
	unsigned idx;		/* in the configuration: its accept_rate bucket */
};

struct conn_env {
	struct evloop *loop;
	struct twheel *wheel;
	struct stats_slot *stats;
	uint64_t now_ms;	/* monotonic ms, refreshed once per loop round */
	uint64_t epoch_ms;	/* connection times are stored relative to this */
	uint64_t max_output;	/* reading pauses above this much unsent output */
	uint64_t max_conns;	/* this worker's share of max_connections */
	uint64_t nconns;
	uint64_t max_buffer_memory;	/* budget of buffer_bytes */
	uint64_t buffer_bytes;	/* footprint of every connection's in and out buffers */
	uint64_t mem_closed;	/* budget closes not yet logged */
	uint64_t mem_log_ms;	/* when the last such log line was written */
	uint8_t *rbuf;		/* one read buffer for every connection */
	size_t rbuf_size;
	struct conn *active;	/* the connection whose event or open() is being handled */
	struct conn *staged;	/* the connection whose output is being gathered in wbuf */
	struct buffer *wbuf;	/* output gathered while handling one read, flushed once */
	struct admission *adm;	/* whole-server limits, NULL = none */
};

enum conn_flags {
	CONN_F_GOT_MSG = 0x01,		/* a first complete message arrived */
	CONN_F_READ_PAUSED = 0x02,	/* output over max_output: not reading */
	CONN_F_DEAD = 0x04,		/* destroy when back at the top level */
	CONN_F_LINGER = 0x08,		/* after flushing, shut the write side and wait for EOF */
	CONN_F_OPENED = 0x10,		/* the handler's open ran: its close must run too */
	CONN_F_HELD = 0x20,		/* the handler stopped reading (conn_hold_input) */
	CONN_F_PROXY_HDR = 0x40,	/* waiting for its PROXY protocol header: not established */
	CONN_F_IP_COUNTED = 0x80,	/* counted in the per-address table: released at close */
};
/* either pause: the client's bytes wait unread in the kernel */
#define CONN_F_NO_READ (CONN_F_READ_PAUSED | CONN_F_HELD)

/* connection states, driven by conn_event_cb() */
enum conn_state {
	CONN_OPEN,	/* reading messages and writing replies */
	CONN_FLUSHING,	/* closing: no more input handled, pending output being sent */
	CONN_LINGER,	/* output sent and write side shut: discard input until EOF */
};

struct conn {
	struct twheel_node timer;	/* the one timer: earliest active timeout */
	struct conn_listener *l;
	struct buffer *in;		/* a half-received message, only while there is one */
	struct buffer *out;		/* unsent output, only while the kernel refuses it */
	void *udata;			/* the handler's */
	int fd;
	uint32_t accept_ms;		/* times are ms since env->epoch_ms, mod 2^32 */
	uint32_t last_msg_ms;
	uint32_t frame_start_ms;	/* when the pending partial message began */
	uint32_t write_ms;		/* when the write clock last restarted (see conn_wrote) */
	uint16_t peer_port;		/* the client's port, host order */
	uint8_t peer_v6;		/* peer_addr is IPv6 (else IPv4 in its first 4 bytes) */
	uint8_t state;			/* enum conn_state */
	uint8_t flags;
	uint8_t reason;			/* enum close_reason, once closing */
	/*
	 * The client's address as accept4() gave it, for logs and handlers:
	 * getpeername() fails once the client has reset the connection.
	 */
	uint8_t peer_addr[16];
	/* output bytes still to send before the write clock restarts (see conn_wrote) */
	uint32_t drain_left;
};

/* idle connections are the product: keep one within a 112-byte malloc chunk */
_Static_assert(sizeof(struct conn) <= 104, "struct conn grew past its memory budget");

static void conn_event_cb(struct evloop *loop, int fd, int mask, void *data);
static void conn_settle(struct conn *c);
static int conn_mask(const struct conn *c);
static void conn_timer_cb(struct twheel_node *node, void *arg);

static inline struct conn_env *
env_of(const struct conn *c)
{
	return c->l->env;
}

static inline uint32_t
rel_now(const struct conn_env *env)
{
	return (uint32_t)(env->now_ms - env->epoch_ms);
}

/*
 * A stamp back on the monotonic clock.  Stamps are 32 bits to keep struct
 * conn small, so they wrap every 49.7 days of worker uptime; the stamp's age
 * (taken mod 2^32) stays right across a wrap as long as the stamp is younger
 * than that, and every stamp a timeout reads is: no timeout exceeds 30 days
 * (config), and a stamp whose timeout is off is never read here.
 */
static inline uint64_t
abs_ms(const struct conn_env *env, uint32_t rel)
{
	return env->now_ms - (uint32_t)(rel_now(env) - rel);
}

/* ---- the environment ---- */

struct conn_env *
conn_env_create(const struct conn_env_params *p)
{
	struct conn_env *env = alloc_calloc(1, sizeof(*env));

	if (env == NULL)
		return NULL;
	env->loop = p->loop;
	env->wheel = p->wheel;
	env->stats = p->stats;
	env->now_ms = env->epoch_ms = p->epoch_ms;
	env->max_output = p->max_output;
	env->max_conns = p->max_conns;
	env->max_buffer_memory = p->max_buffer_memory;
	env->adm = p->adm;
	env->rbuf_size = 64 * 1024;
	env->rbuf = alloc_malloc(env->rbuf_size);
	if (env->rbuf == NULL || buffer_reserve(&env->wbuf, STAGE_FLUSH) == NULL) {
		conn_env_free(env);
		return NULL;
	}
	return env;
}

void
conn_env_free(struct conn_env *env)
{
	if (env == NULL)
		return;
	free(env->rbuf);
	buffer_free(&env->wbuf);
	free(env);
}

void
conn_env_set_now(struct conn_env *env, uint64_t now_ms)
{
	env->now_ms = now_ms;
}

uint64_t
conn_env_now(const struct conn_env *env)
{
	return env->now_ms;
}

uint64_t
conn_env_count(const struct conn_env *env)
{
	return env->nconns;
}

uint64_t
conn_env_buffer_bytes(const struct conn_env *env)
{
	return env->buffer_bytes;
}

/* the connection on fd, NULL if fd is not one (walks at shutdown and over budget) */
static struct conn *
conn_on_fd(const struct conn_env *env, int fd)
{
	evloop_cb *cb;
	void *data;

	if (evloop_get(env->loop, fd, &cb, &data) == 0 && cb == conn_event_cb)
		return data;
	return NULL;
}

struct conn_listener *
conn_listener_create(struct conn_env *env, const struct listener_conf *lc,
    const struct handler *h, uint64_t max_frame)
{
	struct conn_listener *cl = alloc_calloc(1, sizeof(*cl));

	if (cl == NULL)
		return NULL;
	cl->conf = lc;
	cl->handler = h;
	cl->codec.codec = lc->codec;
	cl->codec.max_frame = max_frame;
	cl->codec.magic = lc->magic;
	cl->codec.magic_len = lc->magic_len;
	cl->env = env;
	return cl;
}

void
conn_listener_free(struct conn_listener *cl)
{
	free(cl);
}

void
conn_listener_set_index(struct conn_listener *cl, unsigned idx)
{
	cl->idx = idx;
}

void
conn_listener_set_ctx(struct conn_listener *cl, void *ctx)
{
	cl->ctx = ctx;
}

void *
conn_handler_ctx(const struct conn *c)
{
	return c->l->ctx;
}

/* ---- the handler API ---- */

const char *
conn_listener_name(const struct conn *c)
{
	return c->l->conf->name;
}

socklen_t
conn_peer(const struct conn *c, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (c->peer_v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->peer_port);
		memcpy(&s6->sin6_addr, c->peer_addr, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(c->peer_port);
	memcpy(&s4->sin_addr, c->peer_addr, 4);
	return sizeof(*s4);
}

const char *
conn_peer_str(const struct conn *c, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	conn_peer(c, &ss);
	return listener_addr_str((struct sockaddr *)&ss, buf, len);
}

void *
conn_udata(const struct conn *c)
{
	return c->udata;
}

void
conn_set_udata(struct conn *c, void *udata)
{
	c->udata = udata;
}

/* ---- timers ---- */

static void
due_earliest(uint64_t *due, enum close_reason *why, uint64_t t, enum close_reason r)
{
	if (t < *due) {
		*due = t;
		*why = r;
	}
}

/* the earliest time something must happen to c, and what */
static uint64_t
conn_due(const struct conn *c, enum close_reason *why)
{
	const struct conn_env *env = env_of(c);
	const struct listener_conf *lc = c->l->conf;
	uint64_t due = NO_DUE;

	*why = (enum close_reason)c->reason;
	switch (c->state) {
	case CONN_OPEN:
		/*
		 * The heartbeat and frame clocks stop while we are not
		 * reading (output over max_output, or held by the handler:
		 * the backend link is down or behind): the client's bytes wait
		 * unread in the kernel, it is not silent.  The write timeout
		 * covers a client that stopped reading; conn_settle restarts
		 * both clocks when reading resumes.
		 */
		if (!(c->flags & CONN_F_GOT_MSG) && lc->first_message_ms)
			due_earliest(&due, why, abs_ms(env, c->accept_ms) + lc->first_message_ms,
			    CLOSE_FIRST_MESSAGE_TIMEOUT);
		else if (lc->heartbeat_ms && !(c->flags & CONN_F_NO_READ))
			due_earliest(&due, why, abs_ms(env, c->last_msg_ms) + lc->heartbeat_ms,
			    CLOSE_HEARTBEAT);
		if (lc->deadline_ms)
			due_earliest(&due, why, abs_ms(env, c->accept_ms) + lc->deadline_ms,
			    CLOSE_DEADLINE);
		/* a partial PROXY header is not a frame: first_message_timeout covers it */
		if (c->in != NULL && lc->frame_timeout_ms &&
		    !(c->flags & (CONN_F_NO_READ | CONN_F_PROXY_HDR)))
			due_earliest(&due, why, abs_ms(env, c->frame_start_ms) + lc->frame_timeout_ms,
			    CLOSE_FRAME_TIMEOUT);
		if (c->out != NULL && lc->write_timeout_ms)
			due_earliest(&due, why, abs_ms(env, c->write_ms) + lc->write_timeout_ms,
			    CLOSE_WRITE_TIMEOUT);
		break;
	case CONN_FLUSHING:
		/* keep the original reason: flushing is only the manner of closing */
		due = abs_ms(env, c->write_ms) +
		    (lc->write_timeout_ms ? lc->write_timeout_ms : FLUSH_LIMIT_MS);
		break;
	case CONN_LINGER:
		due = abs_ms(env, c->write_ms) + LINGER_MS;
		break;
	}
	return due;
}

/* arm the node if a new condition made the due time earlier than it is armed for */
static void
conn_timer_update(struct conn *c)
{
	struct conn_env *env = env_of(c);
	enum close_reason why;
	uint64_t due = conn_due(c, &why);

	if (due == NO_DUE)
		return;
	if (!twheel_armed(&c->timer) || due < twheel_node_due_ms(env->wheel, &c->timer))
		twheel_start(env->wheel, &c->timer, due);
}

/* ---- buffer memory (limits.max_buffer_memory) ---- */

/*
 * Every change to a connection's in or out buffer goes through these, so
 * env->buffer_bytes is the exact footprint of them all.  The worker's
 * own read and staging buffers are not counted: they are fixed per worker.
 */
static void
conn_buf_consume(struct conn_env *env, struct buffer **bp, size_t n)
{
	size_t before = buffer_footprint(*bp);

	buffer_consume(bp, n);
	env->buffer_bytes -= before - buffer_footprint(*bp);
}

static void
conn_buf_free(struct conn_env *env, struct buffer **bp)
{
	env->buffer_bytes -= buffer_footprint(*bp);
	buffer_free(bp);
}

enum conn_grow {
	GROW_OK,
	GROW_NOMEM,	/* the allocation failed */
	GROW_BUDGET,	/* over max_buffer_memory even after closing the largest partial frames */
};

static void conn_begin_close(struct conn *c, enum close_reason r, int linger);
static int conn_queue(struct conn *c, uint8_t type, const void *data, size_t len);

/* an ERROR frame with code goes to c: a handler that reports it (the backend's CLOSE event) hears it */
static void
conn_note_error(struct conn *c, uint16_t code)
{
	if (c->l->conf->codec == CODEC_FRAME && c->l->handler->error_sent != NULL &&
	    (c->flags & CONN_F_OPENED))
		c->l->handler->error_sent(c, code);
}

/* the budget closes of the last second, in one line */
static void
conn_mem_log(struct conn_env *env)
{
	if (env->mem_closed == 0 ||
	    (env->mem_log_ms != 0 && env->now_ms - env->mem_log_ms < MEM_LOG_MS))
		return;
	log_warnx("buffers at limits.max_buffer_memory (%llu bytes): closed %llu "
	    "connection(s) holding the largest partial frames",
	    (unsigned long long)env->max_buffer_memory, (unsigned long long)env->mem_closed);
	env->mem_log_ms = env->now_ms;
	env->mem_closed = 0;
}

/* c holds one of the largest partial frames while the budget is spent: ERROR 4, then close */
static void
conn_mem_close(struct conn *c)
{
	struct conn_env *env = env_of(c);
	uint8_t payload[64];
	size_t plen;

	/* the partial frame is what the budget needs back: drop it now unless a handler reads it */
	if (c != env->active)
		conn_buf_free(env, &c->in);
	/* before its PROXY header, the peer may be a balancer: no frame for it */
	if (c->l->conf->codec == CODEC_FRAME && !(c->flags & CONN_F_PROXY_HDR)) {
		plen = proto_error_payload(payload, sizeof(payload), PERR_TOO_LARGE,
		    "server buffer memory exhausted");
		conn_queue(c, FRAME_ERROR, payload, plen);
		conn_note_error(c, PERR_TOO_LARGE);
	}
	conn_begin_close(c, CLOSE_TOO_LARGE, 1);
	env->mem_closed++;
	conn_mem_log(env);
}

/*
 * Over the budget by `want` bytes: close the connections holding the
 * largest partial frames, largest first, until that much is given back
 * or none is left.  Output is never reclaimed this way: max_output bounds
 * it per connection and reading stops while it is backed up.  A walk over
 * every descriptor, but only when the budget is spent, and every walk
 * closes a connection.
 */
static void
conn_mem_reclaim(struct conn_env *env, uint64_t want)
{
	int max = evloop_maxfd(env->loop);
	uint64_t freed = 0;

	while (freed < want) {
		struct conn *victim = NULL, *c;
		size_t most = 0;

		for (int fd = 0; fd < max; fd++) {
			c = conn_on_fd(env, fd);
			if (c != NULL && c->state == CONN_OPEN && !(c->flags & CONN_F_DEAD) &&
			    buffer_footprint(c->in) > most) {
				most = buffer_footprint(c->in);
				victim = c;
			}
		}
		if (victim == NULL)
			return;
		freed += most;
		conn_mem_close(victim);
	}
}

/*
 * Room for `more` bytes in *bp (c's in or out) within the worker's budget.
 * ERROR and CLOSE frames are exempt: a few bytes that end a connection.
 */
static enum conn_grow
conn_buf_reserve(struct conn *c, struct buffer **bp, size_t more, int exempt)
{
	struct conn_env *env = env_of(c);
	size_t before = buffer_footprint(*bp);
	size_t grow = buffer_reserve_footprint(*bp, more) - before;

	if (!exempt && grow > 0 && env->buffer_bytes + grow > env->max_buffer_memory) {
		conn_mem_reclaim(env, env->buffer_bytes + grow - env->max_buffer_memory);
		if (c->state != CONN_OPEN)
			return GROW_BUDGET;	/* c itself held one of the largest */
		if (env->buffer_bytes + grow > env->max_buffer_memory)
			return GROW_BUDGET;
	}
	if (buffer_reserve(bp, more) == NULL)
		return GROW_NOMEM;
	env->buffer_bytes += buffer_footprint(*bp) - before;
	return GROW_OK;
}

/* ---- output ---- */

static void
count_out(struct conn *c, size_t n)
{
	stats_add(&env_of(c)->stats->cur.bytes_out, n);
}

/*
 * The write clock (write_timeout, and the flush limit when closing)
 * restarts only once the client has taken all the output that was pending
 * when it last restarted.  Restarting on any progress would let a client
 * that reads a few bytes every write_timeout - 1 s pin its whole
 * max_output forever; this way what is queued must drain within
 * write_timeout (a byte waits at most twice that).
 */
static void
conn_write_clock_start(struct conn *c)
{
	size_t pending = buffer_len(c->out);

	c->write_ms = rel_now(env_of(c));
	c->drain_left = pending > UINT32_MAX ? UINT32_MAX : (uint32_t)pending;
}

/* n bytes of c->out were sent */
static void
conn_wrote(struct conn *c, size_t n)
{
	if (n < c->drain_left)
		c->drain_left -= (uint32_t)n;
	else
		conn_write_clock_start(c);
}

/* write as much of c->out as the kernel takes; -1 on a fatal error (c marked dead) */
static int
conn_flush(struct conn *c)
{
	struct conn_env *env = env_of(c);
	enum fdio_status st;
	size_t done;
	int err;

	if (c->out == NULL)
		return 0;
	st = fdio_write(c->fd, buffer_head(c->out), buffer_len(c->out), &done);
	err = errno;
	if (done > 0) {
		count_out(c, done);
		conn_buf_consume(env, &c->out, done);
		conn_wrote(c, done);
	}
	if (st != FDIO_ERROR)
		return 0;
	c->reason = (err != EPIPE && err != ECONNRESET) ? CLOSE_ERROR :
	    (c->state == CONN_OPEN ? CLOSE_PEER : c->reason);
	c->flags |= CONN_F_DEAD;
	conn_buf_free(env, &c->out);
	return -1;
}

/* output pending from now on: start the write clock */
static void
conn_out_started(struct conn *c)
{
	conn_write_clock_start(c);
	conn_timer_update(c);
}

static void conn_kill(struct conn *c, enum close_reason r);

/* write the staging buffer gathered for c; what the kernel refuses moves to c->out */
static void
conn_flush_staged(struct conn *c)
{
	struct conn_env *env = env_of(c);
	struct buffer *w = env->wbuf;
	enum fdio_status st;
	size_t done = 0;
	int was_empty;

	env->staged = NULL;
	if (buffer_len(w) > 0 && !(c->flags & CONN_F_DEAD)) {
		st = fdio_write(c->fd, buffer_head(w), buffer_len(w), &done);
		if (st == FDIO_ERROR) {
			c->reason = (errno == EPIPE || errno == ECONNRESET) ? CLOSE_PEER : CLOSE_ERROR;
			c->flags |= CONN_F_DEAD;
		}
		if (done > 0)
			count_out(c, done);
		if (st == FDIO_AGAIN) {
			was_empty = c->out == NULL;
			switch (conn_buf_reserve(c, &c->out, buffer_len(w) - done, 0)) {
			case GROW_OK:
				memcpy(buffer_tail(c->out), buffer_head(w) + done, buffer_len(w) - done);
				buffer_commit(c->out, buffer_len(w) - done);
				if (was_empty)
					conn_out_started(c);
				break;
			case GROW_NOMEM:
				c->reason = CLOSE_ERROR;
				c->flags |= CONN_F_DEAD;
				break;
			case GROW_BUDGET:
				/* unless c was closed as a large partial frame (its ERROR 4 is queued) */
				if (c->state == CONN_OPEN) {
					c->reason = CLOSE_TOO_LARGE;
					c->flags |= CONN_F_DEAD;
				}
				break;
			}
		}
	}
	buffer_clear(w);
	if (w != NULL && w->cap > 4 * STAGE_FLUSH) {
		/* a huge reply passed through: do not keep its memory (the next one allocates) */
		buffer_free(&env->wbuf);
	}
}

/* log a failed change of interest, at most once a second */
static void
conn_watch_warn(struct conn *c)
{
	static uint64_t last;
	struct conn_env *env = env_of(c);

	if (last == 0 || env->now_ms - last >= 1000) {
		last = env->now_ms;
		log_warn("%s: cannot change the events watched on a connection, closing it",
		    c->l->conf->name);
	}
}

/*
 * Something happened to c from outside its own event (another connection's
 * handler sent to it or closed it): ask for a write event so conn_settle()
 * runs for it soon.  Its own event settles it anyway.  If the loop refuses,
 * no event may ever come: c's timer, due now, closes it (reason error).
 */
static void
conn_poke(struct conn *c)
{
	struct conn_env *env = env_of(c);

	if (env->active == c)
		return;
	if (evloop_set(env->loop, c->fd, evloop_mask(env->loop, c->fd) | EV_WRITE) == 0)
		return;
	conn_watch_warn(c);
	c->reason = CLOSE_ERROR;
	c->flags |= CONN_F_DEAD;
	twheel_start(env->wheel, &c->timer, env->now_ms);
}

static void
conn_kill(struct conn *c, enum close_reason r)
{
	c->reason = (uint8_t)r;
	c->flags |= CONN_F_DEAD;
	conn_poke(c);
}

/*
 * Queue one message (header + payload) for c, in order with earlier output.
 * ERROR and CLOSE frames are exempt from the buffer budget.
 */
static int
conn_queue(struct conn *c, uint8_t type, const void *data, size_t len)
{
	struct conn_env *env = env_of(c);
	uint64_t cap = env->max_output + c->l->codec.max_frame + STAGE_FLUSH;
	uint8_t hdr[PROTO_HDR_MAX];
	size_t hlen;
	int was_empty;

	if (c->flags & CONN_F_DEAD)
		return -1;
	hlen = proto_header(&c->l->codec, type, len, hdr);
	stats_add(&env->stats->cur.messages_out, 1);
	if (env->staged == c && c->out == NULL) {
		if (buffer_append(&env->wbuf, hdr, hlen) == -1 ||
		    buffer_append(&env->wbuf, data, len) == -1) {
			/* this client's reply does not fit in memory: it goes, the worker stays */
			buffer_clear(env->wbuf);
			conn_kill(c, CLOSE_ERROR);
			return -1;
		}
		if (buffer_len(env->wbuf) >= STAGE_FLUSH) {
			conn_flush_staged(c);
			env->staged = c;
		}
		return 0;
	}
	if (buffer_len(c->out) + hlen + len > cap) {
		/* a client that never reads: drop it rather than grow without bound */
		conn_kill(c, CLOSE_TOO_LARGE);
		return -1;
	}
	was_empty = c->out == NULL;
	switch (conn_buf_reserve(c, &c->out, hlen + len, type == FRAME_ERROR || type == FRAME_CLOSE)) {
	case GROW_OK:
		break;
	case GROW_NOMEM:
		conn_kill(c, CLOSE_ERROR);
		return -1;
	case GROW_BUDGET:
		/* unless c was closed as a large partial frame (its ERROR 4 is queued) */
		if (c->state == CONN_OPEN)
			conn_kill(c, CLOSE_TOO_LARGE);
		return -1;
	}
	memcpy(buffer_tail(c->out), hdr, hlen);
	buffer_commit(c->out, hlen);
	if (len > 0) {	/* data may be NULL for an empty payload */
		memcpy(buffer_tail(c->out), data, len);
		buffer_commit(c->out, len);
	}
	if (was_empty) {
		conn_out_started(c);
		conn_poke(c);
	}
	return 0;
}

int
conn_send(struct conn *c, const void *data, size_t len)
{
	if (c->state != CONN_OPEN)
		return -1;
	return conn_queue(c, FRAME_DATA, data, len);
}

/* one ERROR frame, best effort, counted if sent: for a socket about to be closed */
static void
write_error_frame(struct stats_slot *st, int fd, uint16_t code, const char *text)
{
	uint8_t buf[FRAME_HDR_LEN + 128];
	size_t plen, done;

	plen = proto_error_payload(buf + FRAME_HDR_LEN, sizeof(buf) - FRAME_HDR_LEN, code, text);
	proto_frame_header(buf, FRAME_ERROR, (uint32_t)plen);
	(void)!fdio_write(fd, buf, FRAME_HDR_LEN + plen, &done);
	if (done > 0) {
		stats_add(&st->cur.messages_out, 1);
		stats_add(&st->cur.bytes_out, (uint64_t)done);
	}
}

/* best effort, for a connection about to be closed: one write, no queueing */
static void
conn_write_error_now(struct conn *c, uint16_t code, const char *text)
{
	/* before its PROXY header, the peer may be a balancer, not a client */
	if (c->l->conf->codec != CODEC_FRAME || (c->flags & CONN_F_PROXY_HDR))
		return;
	if (c->out != NULL && conn_flush(c) == -1)
		return;
	if (c->out != NULL)
		return;
	conn_note_error(c, code);
	write_error_frame(env_of(c)->stats, c->fd, code, text);
}

/* the debug line of every close; the tests and operators grep its form */
static void
conn_log_close(const char *listener, const char *peer, enum close_reason r, double age_s)
{
	log_debug("close %s %s reason %s age %.2f", listener, peer, reason_name(r), age_s);
}

/* ---- closing ---- */

static void
conn_destroy(struct conn *c)
{
	struct conn_env *env = env_of(c);
	enum close_reason r = (enum close_reason)c->reason;

	if (env->staged == c) {
		env->staged = NULL;
		buffer_clear(env->wbuf);
	}
	if ((c->flags & CONN_F_OPENED) && c->l->handler->close != NULL)
		c->l->handler->close(c, r);
	if (log_get_level() <= LOG_LVL_DEBUG) {
		char peer[64];
		conn_log_close(c->l->conf->name, conn_peer_str(c, peer, sizeof(peer)), r,
		    (double)(rel_now(env) - c->accept_ms) / 1000.0);
	}
	twheel_stop(env->wheel, &c->timer);
	evloop_del_closing(env->loop, c->fd);
	close(c->fd);
	conn_buf_free(env, &c->in);
	conn_buf_free(env, &c->out);
	if (c->flags & CONN_F_IP_COUNTED)
		admission_ip_release(env->adm, c->peer_v6, c->peer_addr);
	stats_add(&env->stats->cur.closed[r], 1);
	env->nconns--;
	stats_set(&env->stats->connections, env->nconns);
	free(c);
}

/* stop handling input and close once pending output is out (lingering if asked) */
static void
conn_begin_close(struct conn *c, enum close_reason r, int linger)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_FLUSHING;
	c->reason = (uint8_t)r;
	if (linger)
		c->flags |= CONN_F_LINGER;
	conn_write_clock_start(c);
	/* c->in is freed by conn_settle(): a handler may still be reading from it */
	conn_poke(c);
}

void
conn_close(struct conn *c, enum close_reason reason)
{
	conn_begin_close(c, reason, 1);
}

void
conn_close_with(struct conn *c, enum close_reason reason, uint16_t code, const char *text,
    size_t textlen)
{
	struct buffer *b = NULL;

	if (c->state != CONN_OPEN)
		return;
	if (c->l->conf->codec == CODEC_FRAME) {
		if (code == 0) {
			conn_queue(c, FRAME_CLOSE, NULL, 0);
		} else if (buffer_reserve(&b, 2 + textlen) != NULL) {
			/* the ERROR payload: u16 code, then the text as given */
			buffer_head(b)[0] = (uint8_t)(code >> 8);
			buffer_head(b)[1] = (uint8_t)code;
			if (textlen > 0)
				memcpy(buffer_head(b) + 2, text, textlen);
			conn_queue(c, FRAME_ERROR, buffer_head(b), 2 + textlen);
			conn_note_error(c, code);
			buffer_free(&b);
		}
	}
	conn_begin_close(c, reason, 1);
}

struct conn *
conn_defer_begin(struct conn *c)
{
	struct conn_env *env = env_of(c);
	struct conn *prev = env->active;

	/* conn_poke() asks nothing for the active connection: conn_push() settles it */
	env->active = c;
	/*
	 * Replies are gathered in the staging buffer as for a read: a run of
	 * commands for one client costs one write and no allocation.  Another
	 * client's gathered bytes go out first (it is pushed and settled later).
	 */
	if (env->staged != c) {
		if (env->staged != NULL)
			conn_flush_staged(env->staged);
		env->staged = c;
	}
	return prev;
}

void
conn_defer_end(struct conn *c, struct conn *prev)
{
	env_of(c)->active = prev;
}

void
conn_push(struct conn *c)
{
	struct conn_env *env = env_of(c);
	struct conn *prev = env->active;

	env->active = c;
	if (env->staged == c)
		conn_flush_staged(c);
	if (c->out != NULL && !(c->flags & CONN_F_DEAD))
		conn_flush(c);
	conn_settle(c);		/* may free c */
	env->active = prev;
}

void
conn_hold_input(struct conn *c, int hold)
{
	struct conn_env *env = env_of(c);

	if (!hold == !(c->flags & CONN_F_HELD))
		return;
	if (hold) {
		c->flags |= CONN_F_HELD;
	} else {
		c->flags &= (uint8_t)~CONN_F_HELD;
		if (!(c->flags & CONN_F_READ_PAUSED)) {
			/* the input clocks run again from now (see conn_due) */
			c->last_msg_ms = rel_now(env);
			if (c->in != NULL)
				c->frame_start_ms = c->last_msg_ms;
			conn_timer_update(c);
		}
	}
	/* the active connection's interest is set when it settles */
	if (env->active == c || c->state != CONN_OPEN || (c->flags & CONN_F_DEAD))
		return;
	if (evloop_set(env->loop, c->fd, conn_mask(c)) == -1) {
		conn_watch_warn(c);
		c->reason = CLOSE_ERROR;
		c->flags |= CONN_F_DEAD;
		/* its timer, due now, frees it (conn_timer_cb) */
		twheel_start(env->wheel, &c->timer, env->now_ms);
	}
}

static void
conn_protocol_error(struct conn *c, const struct proto_msg *m)
{
	enum close_reason r = m->err == PERR_TOO_LARGE ? CLOSE_TOO_LARGE : CLOSE_PROTOCOL_ERROR;
	uint8_t payload[128];
	size_t plen;

	stats_add(&env_of(c)->stats->cur.protocol_errors, 1);
	if (c->l->conf->codec == CODEC_FRAME) {
		plen = proto_error_payload(payload, sizeof(payload), (uint16_t)m->err, m->errtext);
		conn_queue(c, FRAME_ERROR, payload, plen);
		conn_note_error(c, (uint16_t)m->err);
	}
	/* linger: the client's unread bytes would otherwise turn our close into a RST
	 * that can destroy the ERROR frame before the client reads it */
	conn_begin_close(c, r, 1);
}

/* server stopping: close now with CLOSE_SHUTDOWN (frame clients get ERROR 7, best effort) */
static void
conn_shutdown(struct conn *c)
{
	if (c->state == CONN_OPEN)
		conn_write_error_now(c, PERR_SHUTTING_DOWN, "shutting down");
	c->reason = CLOSE_SHUTDOWN;
	conn_destroy(c);
}

void
conn_env_shutdown(struct conn_env *env)
{
	int max = evloop_maxfd(env->loop);

	for (int fd = 0; fd < max; fd++) {
		struct conn *c = conn_on_fd(env, fd);
		if (c != NULL)
			conn_shutdown(c);
	}
}

/* ---- input ---- */

static void
conn_message(struct conn *c, const struct proto_msg *m)
{
	const struct handler *h = c->l->handler;

	c->last_msg_ms = rel_now(env_of(c));
	if (!(c->flags & CONN_F_GOT_MSG)) {
		c->flags |= CONN_F_GOT_MSG;
		/* the heartbeat replaces the first-message timeout and may be due sooner */
		conn_timer_update(c);
	}
	stats_add(&env_of(c)->stats->cur.messages_in, 1);
	switch (m->type) {
	case FRAME_DATA:
		h->message(c, m->data, m->len);
		break;
	case FRAME_PING:
		conn_queue(c, FRAME_PONG, m->data, m->len);
		break;
	case FRAME_PONG:
		break;
	case FRAME_CLOSE:
		/* replies already queued go first, then our CLOSE, then EOF */
		conn_queue(c, FRAME_CLOSE, NULL, 0);
		conn_begin_close(c, CLOSE_PEER, 1);
		break;
	case FRAME_ERROR:
		/* a client reporting a problem: nothing to answer */
		log_debug("%s: client sent ERROR (%zu bytes)", c->l->conf->name, m->len);
		break;
	}
}

/* decode and handle every complete message in data; returns bytes consumed */
static size_t
conn_process(struct conn *c, const uint8_t *data, size_t len)
{
	struct proto_msg m;
	size_t off = 0;

	while (off < len && c->state == CONN_OPEN && !(c->flags & CONN_F_DEAD)) {
		switch (proto_decode(&c->l->codec, data + off, len - off, &m)) {
		case PROTO_NEED_MORE:
			return off;
		case PROTO_ERROR:
			conn_protocol_error(c, &m);
			return len;
		case PROTO_MSG:
			off += m.consumed;
			conn_message(c, &m);
			break;
		}
	}
	return off;
}

/*
 * Room to read into c->in.  The rest of the pending message in one read
 * (at least IN_CHUNK) while that rest is within twice what is held; beyond
 * that, room for as much as is held, so the buffer doubles with the bytes
 * that arrived.  Memory follows what a client sends, not what its header
 * announces: a header declaring max_frame costs a small buffer until the
 * bytes come, and a buffer is at most about three times what arrived.
 */
static size_t
conn_in_room(struct conn *c)
{
	struct proto_msg m;
	size_t have = buffer_len(c->in), want = have > IN_CHUNK ? have : IN_CHUNK;

	if (proto_decode(&c->l->codec, buffer_head(c->in), have, &m) == PROTO_NEED_MORE &&
	    m.need > have && m.need - have <= 2 * want)
		want = m.need - have > IN_CHUNK ? m.need - have : IN_CHUNK;
	return want;
}

/* c could not keep its partial frame within max_buffer_memory */
static void
conn_over_budget(struct conn *c, enum conn_grow g)
{
	if (g == GROW_NOMEM)
		conn_kill(c, CLOSE_ERROR);
	else if (c->state == CONN_OPEN)
		conn_mem_close(c);	/* nothing larger was left to close */
}

static void conn_established(struct conn *c);

/*
 * c waits for its PROXY protocol header and data[0..len) is every byte it
 * sent.  Returns the header's length once it is complete: c then has its
 * final address and is established.  0 while it is not: c waits for more
 * (still CONN_F_PROXY_HDR) or was killed (a malformed header).
 */
static size_t
conn_proxy_header(struct conn *c, const uint8_t *data, size_t len)
{
	struct conn_env *env = env_of(c);
	static uint64_t last_warn;
	struct proxyproto_hdr h;
	char peer[64];

	switch (proxyproto_parse(data, len, &h)) {
	case PROXYPROTO_NEED_MORE:
		return 0;
	case PROXYPROTO_ERROR:
		stats_add(&env->stats->cur.protocol_errors, 1);
		conn_peer_str(c, peer, sizeof(peer));
		/* a balancer without send-proxy says so on every connection: once in 10 s */
		if (last_warn == 0 || env->now_ms - last_warn >= 10000) {
			last_warn = env->now_ms;
			log_warnx("%s: %s: bad PROXY protocol header: %s (logged at most every 10 s)",
			    c->l->conf->name, peer, h.err);
		} else {
			log_debug("%s: %s: bad PROXY protocol header: %s", c->l->conf->name,
			    peer, h.err);
		}
		/* no ERROR frame and no linger: the peer may be a balancer, not a client */
		conn_kill(c, CLOSE_PROTOCOL_ERROR);
		return 0;
	case PROXYPROTO_DONE:
		break;
	}
	/* LOCAL (a balancer's health check) and UNKNOWN keep the socket's address */
	if (!h.local) {
		c->peer_v6 = h.family == AF_INET6;
		memcpy(c->peer_addr, h.src_addr, sizeof(c->peer_addr));
		c->peer_port = h.src_port;
	}
	c->flags &= (uint8_t)~CONN_F_PROXY_HDR;
	conn_established(c);
	return h.len;
}

static void
conn_read_open(struct conn *c)
{
	struct conn_env *env = env_of(c);
	enum conn_grow g;
	uint8_t *dst;
	size_t room, used, hdr = 0;
	ssize_t n;
	int own = c->in != NULL;

	if (own) {
		/* a partial PROXY header: at most the rest of the longest one */
		size_t want = (c->flags & CONN_F_PROXY_HDR) ?
		    PROXYPROTO_MAX - buffer_len(c->in) : conn_in_room(c);

		if ((g = conn_buf_reserve(c, &c->in, want, 0)) != GROW_OK) {
			conn_over_budget(c, g);
			return;
		}
		dst = buffer_tail(c->in);
		room = buffer_space(c->in);
	} else {
		dst = env->rbuf;
		room = env->rbuf_size;
	}
	do
		n = read(c->fd, dst, room);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno != EAGAIN)
			conn_kill(c, errno == ECONNRESET ? CLOSE_PEER : CLOSE_ERROR);
		return;
	}
	if (n == 0) {
		if ((c->flags & CONN_F_PROXY_HDR) && c->in != NULL) {
			/* a truncated PROXY header; with none at all it was only a connect */
			stats_add(&env->stats->cur.protocol_errors, 1);
			conn_kill(c, CLOSE_PROTOCOL_ERROR);
			return;
		}
		/* the client is done sending; replies still queued are flushed first */
		if (c->out != NULL)
			conn_begin_close(c, CLOSE_PEER, 0);
		else
			conn_kill(c, CLOSE_PEER);
		return;
	}
	stats_add(&env->stats->cur.bytes_in, (uint64_t)n);
	env->staged = c;
	if (own) {
		buffer_commit(c->in, (size_t)n);
		if (c->flags & CONN_F_PROXY_HDR) {
			/* the client's own bytes after the header stay for the codec */
			if ((hdr = conn_proxy_header(c, buffer_head(c->in), buffer_len(c->in))) == 0)
				goto out;
			conn_buf_consume(env, &c->in, hdr);
			if (c->in == NULL)
				goto out;
		}
		used = conn_process(c, buffer_head(c->in), buffer_len(c->in));
		if (c->in != NULL) {
			conn_buf_consume(env, &c->in, used);
			if ((used > 0 || hdr > 0) && c->in != NULL) {
				/* a new message started in this read */
				c->frame_start_ms = rel_now(env);
				conn_timer_update(c);
			}
		}
	} else {
		if (c->flags & CONN_F_PROXY_HDR) {
			hdr = conn_proxy_header(c, dst, (size_t)n);
			if (hdr == 0 && (c->flags & CONN_F_PROXY_HDR) && !(c->flags & CONN_F_DEAD)) {
				/* a partial header (under PROXYPROTO_MAX bytes): keep it */
				if ((g = conn_buf_reserve(c, &c->in, (size_t)n, 0)) != GROW_OK) {
					conn_over_budget(c, g);
				} else {
					memcpy(buffer_tail(c->in), dst, (size_t)n);
					buffer_commit(c->in, (size_t)n);
				}
			}
			if (hdr == 0)
				goto out;
		}
		used = hdr + conn_process(c, dst + hdr, (size_t)n - hdr);
		if (used < (size_t)n && c->state == CONN_OPEN && !(c->flags & CONN_F_DEAD)) {
			if ((g = conn_buf_reserve(c, &c->in, (size_t)n - used, 0)) != GROW_OK) {
				conn_over_budget(c, g);
			} else {
				memcpy(buffer_tail(c->in), dst + used, (size_t)n - used);
				buffer_commit(c->in, (size_t)n - used);
				c->frame_start_ms = rel_now(env);
				conn_timer_update(c);
			}
		}
	}
out:
	if (env->staged == c)
		conn_flush_staged(c);
}

static void
conn_read_linger(struct conn *c)
{
	struct conn_env *env = env_of(c);
	ssize_t n;

	do
		n = read(c->fd, env->rbuf, env->rbuf_size);
	while (n == -1 && errno == EINTR);
	if (n == 0 || (n == -1 && errno != EAGAIN))
		c->flags |= CONN_F_DEAD;
}

/* the interest of an open connection */
static int
conn_mask(const struct conn *c)
{
	int mask = (c->flags & CONN_F_NO_READ) ? EV_NONE : EV_READ;

	if (c->out != NULL)
		mask |= EV_WRITE;
	return mask;
}

/* after an event: move a closing connection along, set interest, or free it */
static void
conn_settle(struct conn *c)
{
	struct conn_env *env = env_of(c);
	int mask;

	if (c->state != CONN_OPEN)
		conn_buf_free(env, &c->in);	/* no more input is handled */
	if (!(c->flags & CONN_F_DEAD) && c->state == CONN_FLUSHING && c->out == NULL) {
		if (c->flags & CONN_F_LINGER) {
			shutdown(c->fd, SHUT_WR);
			c->state = CONN_LINGER;
			c->write_ms = rel_now(env);
			conn_timer_update(c);
		} else {
			c->flags |= CONN_F_DEAD;
		}
	}
	if (c->flags & CONN_F_DEAD) {
		conn_destroy(c);
		return;
	}
	if (c->state == CONN_OPEN) {
		if (!(c->flags & CONN_F_READ_PAUSED) && buffer_len(c->out) > env->max_output)
			c->flags |= CONN_F_READ_PAUSED;
		else if ((c->flags & CONN_F_READ_PAUSED) && buffer_len(c->out) <= env->max_output / 2) {
			c->flags &= (uint8_t)~CONN_F_READ_PAUSED;
			/* the input clocks run again from now (see conn_due) */
			c->last_msg_ms = rel_now(env);
			if (c->in != NULL)
				c->frame_start_ms = c->last_msg_ms;
			conn_timer_update(c);
		}
	}
	switch (c->state) {
	case CONN_OPEN:
		mask = conn_mask(c);
		break;
	case CONN_FLUSHING:
		mask = EV_WRITE;
		conn_timer_update(c);
		break;
	default:
		mask = EV_READ;
		break;
	}
	if (evloop_set(env->loop, c->fd, mask) == -1) {
		/* no event would come as needed: a stalled connection, silently */
		conn_watch_warn(c);
		c->reason = CLOSE_ERROR;
		conn_destroy(c);
	}
}

static void
conn_event_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct conn *c = data;
	struct conn_env *env = env_of(c);

	(void)loop;
	(void)fd;
	env->active = c;
	if ((mask & EV_WRITE) && c->out != NULL)
		conn_flush(c);
	if ((mask & (EV_READ | EV_ERROR)) && !(c->flags & CONN_F_DEAD)) {
		switch (c->state) {
		case CONN_OPEN:
			/* held since its event was fetched: not a byte more (errors still end it) */
			if (!(c->flags & CONN_F_HELD) || (mask & EV_ERROR))
				conn_read_open(c);
			break;
		case CONN_LINGER:
			conn_read_linger(c);
			break;
		case CONN_FLUSHING:
			if (mask & EV_ERROR)
				conn_flush(c);
			break;
		}
	}
	conn_settle(c);
	env->active = NULL;
}

/* ---- timer expiry ---- */

static const char *
timeout_text(enum close_reason r)
{
	switch (r) {
	case CLOSE_HEARTBEAT: return "heartbeat timeout";
	case CLOSE_DEADLINE: return "deadline reached";
	case CLOSE_FRAME_TIMEOUT: return "frame timeout";
	case CLOSE_WRITE_TIMEOUT: return "write timeout";
	case CLOSE_FIRST_MESSAGE_TIMEOUT: return "first message timeout";
	default: return "timeout";
	}
}

static uint32_t
timeout_ms(const struct listener_conf *lc, enum close_reason r)
{
	switch (r) {
	case CLOSE_HEARTBEAT: return lc->heartbeat_ms;
	case CLOSE_DEADLINE: return lc->deadline_ms;
	case CLOSE_FRAME_TIMEOUT: return lc->frame_timeout_ms;
	case CLOSE_WRITE_TIMEOUT: return lc->write_timeout_ms;
	case CLOSE_FIRST_MESSAGE_TIMEOUT: return lc->first_message_ms;
	default: return 0;
	}
}

static void
conn_timer_cb(struct twheel_node *node, void *arg)
{
	struct conn *c = (struct conn *)((char *)node - offsetof(struct conn, timer));
	struct conn_env *env = arg;
	enum close_reason why;
	uint64_t due;
	char text[96];

	if (c->flags & CONN_F_DEAD) {
		/* killed where no event of its own could be asked for (conn_poke) */
		conn_destroy(c);
		return;
	}
	due = conn_due(c, &why);
	if (due == NO_DUE)
		return;
	if (due > env->now_ms) {
		/* the client talked since this was armed: wait for the rest */
		twheel_start(env->wheel, &c->timer, due);
		return;
	}
	if (c->state == CONN_OPEN) {
		snprintf(text, sizeof(text), "%s after %g s", timeout_text(why),
		    timeout_ms(c->l->conf, why) / 1000.0);
		/* a client that never reads gets no more bytes pushed at it */
		if (why != CLOSE_WRITE_TIMEOUT)
			conn_write_error_now(c, PERR_TIMEOUT, text);
	}
	c->reason = (uint8_t)why;
	conn_destroy(c);
}

void
conn_env_expire(struct conn_env *env)
{
	twheel_advance(env->wheel, env->now_ms, conn_timer_cb, env);
	/* budget closes of the last second that were not logged yet */
	conn_mem_log(env);
}

/* ---- accept ---- */

static void
conn_reject_full(struct conn_listener *l, int fd, const struct sockaddr *peer)
{
	struct conn_env *env = l->env;
	static uint64_t last_warn;

	if (l->conf->codec == CODEC_FRAME)
		write_error_frame(env->stats, fd, PERR_SERVER_FULL, "server full");
	if (log_get_level() <= LOG_LVL_DEBUG) {
		char buf[64];
		conn_log_close(l->conf->name, listener_addr_str(peer, buf, sizeof(buf)),
		    CLOSE_SERVER_FULL, 0.0);
	}
	shutdown(fd, SHUT_WR);
	close(fd);
	stats_add(&env->stats->cur.closed[CLOSE_SERVER_FULL], 1);
	if (env->now_ms - last_warn >= 10000 || last_warn == 0) {
		last_warn = env->now_ms;
		log_warnx("%s: server full (%llu connections in this worker), refusing clients",
		    l->conf->name, (unsigned long long)env->nconns);
	}
}

/*
 * An accepted client refused by an admission limit: the ERROR frame (frame
 * listeners) in one write, then our FIN; the caller closes and counts it.
 * No lingering: a flood of refused clients must not hold connections.
 */
static void
conn_reject_limit(struct conn_listener *l, int fd, const char *text)
{
	struct conn_env *env = l->env;

	if (l->conf->codec == CODEC_FRAME)
		write_error_frame(env->stats, fd, PERR_SERVER_FULL, text);
	shutdown(fd, SHUT_WR);
}

/* limits.max_conns_per_ip for a new connection; -1 when it was refused (and is dead) */
static int
conn_admit_ip(struct conn *c)
{
	struct conn_env *env = env_of(c);
	enum adm_result res = admission_ip_acquire(env->adm, c->peer_v6, c->peer_addr);
	uint64_t key;
	unsigned fam;
	char text[96], addr[64];

	if (res == ADM_COUNTED)
		c->flags |= CONN_F_IP_COUNTED;
	if (res == ADM_UNCOUNTED && env->adm != NULL && env->adm->hdr != NULL)
		admission_note(env->adm, ADM_EV_OVERFLOW, env->now_ms);
	if (res != ADM_REFUSED)
		return 0;
	admission_key(c->peer_v6, c->peer_addr, &key, &fam);
	admission_key_str(key, fam, addr, sizeof(addr));
	snprintf(text, sizeof(text), "too many connections from %s", addr);
	snprintf(env->adm->last_addr, sizeof(env->adm->last_addr), "%s", addr);
	admission_note(env->adm, ADM_EV_IP, env->now_ms);
	conn_reject_limit(c->l, c->fd, text);
	/* c is the active connection (at accept or in its read): settling destroys it */
	conn_kill(c, CLOSE_LIMIT_IP);
	return -1;
}

static void
conn_new(struct conn_listener *l, int fd, const struct sockaddr *peer)
{
	struct conn_env *env = l->env;
	struct conn *c;

	c = alloc_calloc(1, sizeof(*c));
	if (c == NULL) {
		/* this client goes, the worker stays */
		close(fd);
		stats_add(&env->stats->cur.closed[CLOSE_ERROR], 1);
		return;
	}
	c->l = l;
	c->fd = fd;
	if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
		c->peer_v6 = 1;
		c->peer_port = ntohs(s6->sin6_port);
		memcpy(c->peer_addr, &s6->sin6_addr, 16);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;
		c->peer_port = ntohs(s4->sin_port);
		memcpy(c->peer_addr, &s4->sin_addr, 4);
	}
	c->accept_ms = c->last_msg_ms = rel_now(env);
	c->state = CONN_OPEN;
	twheel_node_init(&c->timer);
	if (evloop_add(env->loop, fd, EV_READ, conn_event_cb, c) == -1) {
		log_warn("%s: cannot watch connection", l->conf->name);
		close(fd);
		free(c);
		stats_add(&env->stats->cur.closed[CLOSE_ERROR], 1);
		return;
	}
	env->nconns++;
	stats_set(&env->stats->connections, env->nconns);
	env->active = c;
	if (l->conf->proxy_protocol) {
		/* established once its header is read; first_message_timeout runs meanwhile */
		c->flags |= CONN_F_PROXY_HDR;
		conn_timer_update(c);
	} else {
		conn_established(c);
	}
	/* open() may have sent a greeting or closed at once */
	conn_settle(c);
	env->active = NULL;
}

/*
 * The one place a connection becomes established with its final client
 * address: at accept, or once its PROXY protocol header is read (the
 * address it carried, or the socket's for LOCAL and UNKNOWN).  Logs the
 * accept line and opens it for the handler, which from here on sees that
 * address through conn_peer_str (the backend link's OPEN too).  A check
 * that depends on the client's address (max_conns_per_ip) goes here,
 * before open().  c is the active connection; the caller settles it.
 */
static void
conn_established(struct conn *c)
{
	const struct conn_listener *l = c->l;

	if (log_get_level() <= LOG_LVL_DEBUG) {
		char buf[64];
		log_debug("accept %s %s", l->conf->name, conn_peer_str(c, buf, sizeof(buf)));
	}
	/* the client's final address is known here: hold it to max_conns_per_ip */
	if (conn_admit_ip(c) == -1)
		return;
	if (l->handler->open != NULL && l->handler->open(c) != 0) {
		/* never opened, so no close() call: settling destroys it */
		conn_kill(c, CLOSE_ERROR);
	} else {
		c->flags |= CONN_F_OPENED;
		conn_timer_update(c);
	}
}

/* the accepted peer is one proxy_trusted lists */
static int
conn_peer_trusted(const struct listener_conf *lc, const struct sockaddr *peer)
{
	const uint8_t *addr;
	int v6 = peer->sa_family == AF_INET6;

	if (v6)
		addr = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;
	else
		addr = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
	for (size_t i = 0; i < lc->nproxy_trusted; i++)
		if (proxyproto_net_match(&lc->proxy_trusted[i], addr, v6))
			return 1;
	return 0;
}

/*
 * A peer proxy_trusted does not list: closed before a byte is read (it
 * could claim any client address), counted as a protocol error.
 */
static void
conn_refuse_untrusted(struct conn_listener *l, int fd, const struct sockaddr *peer)
{
	struct conn_env *env = l->env;
	static uint64_t last_warn;
	char buf[64];

	listener_addr_str(peer, buf, sizeof(buf));
	conn_log_close(l->conf->name, buf, CLOSE_PROTOCOL_ERROR, 0.0);
	close(fd);
	stats_add(&env->stats->cur.protocol_errors, 1);
	stats_add(&env->stats->cur.closed[CLOSE_PROTOCOL_ERROR], 1);
	if (env->now_ms - last_warn >= 10000 || last_warn == 0) {
		last_warn = env->now_ms;
		log_warnx("%s: refused %s: not in proxy_trusted (logged at most every 10 s)",
		    l->conf->name, buf);
	}
}

/* over the listener's accept_rate: refused, counted as limit_rate */
static void
conn_reject_rate(struct conn_listener *l, int fd, const struct sockaddr *peer)
{
	struct conn_env *env = l->env;

	conn_reject_limit(l, fd, "accept rate exceeded");
	if (log_get_level() <= LOG_LVL_DEBUG) {
		char buf[64];
		conn_log_close(l->conf->name, listener_addr_str(peer, buf, sizeof(buf)),
		    CLOSE_LIMIT_RATE, 0.0);
	}
	close(fd);
	stats_add(&env->stats->cur.closed[CLOSE_LIMIT_RATE], 1);
	if (env->adm != NULL) {
		env->adm->last_listener = l->conf->name;
		env->adm->last_rate = l->conf->accept_rate;
	}
	admission_note(env->adm, ADM_EV_RATE, env->now_ms);
}

void
conn_accept(struct conn_listener *cl, int fd, const struct sockaddr *peer)
{
	struct conn_env *env = cl->env;

	stats_add(&env->stats->cur.accepted, 1);
	if (cl->conf->nproxy_trusted > 0 && !conn_peer_trusted(cl->conf, peer))
		conn_refuse_untrusted(cl, fd, peer);
	else if (env->nconns >= env->max_conns)
		conn_reject_full(cl, fd, peer);
	else if (!admission_rate_take(env->adm, cl->idx, cl->conf->accept_rate,
	    cl->conf->accept_burst, clock_now_ns()))
		conn_reject_rate(cl, fd, peer);
	else
		conn_new(cl, fd, peer);
}
