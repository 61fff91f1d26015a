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
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "listener.h"
#include "log.h"

#define ACCEPT_BATCH 64
#define STAGE_FLUSH (64 * 1024)	/* write the staging buffer when it grows past this */
#define IN_CHUNK (16 * 1024)	/* least room made in a connection's own input buffer */
#define FLUSH_LIMIT_MS 5000	/* closing: most time to flush when write_timeout is off */
#define LINGER_MS 2000		/* after our FIN, most time to wait for the client's */
#define NO_DUE UINT64_MAX

enum conn_flags {
	F_GOT_MSG = 0x01,	/* a first complete message arrived */
	F_READ_PAUSED = 0x02,	/* output over max_output: not reading */
	F_DEAD = 0x04,		/* destroy when back at the top level */
	F_LINGER = 0x08,	/* after flushing, shut the write side and wait for EOF */
	F_OPENED = 0x10,	/* the handler's open ran: its close must run too */
};

struct conn {
	struct twheel_node timer;	/* the one timer: earliest active timeout */
	struct wlistener *l;
	struct buffer *in;		/* a half-received message, only while there is one */
	struct buffer *out;		/* unsent output, only while the kernel refuses it */
	void *udata;			/* the handler's */
	int fd;
	uint32_t accept_ms;		/* times are ms since env->epoch_ms, mod 2^32 */
	uint32_t last_msg_ms;
	uint32_t frame_start_ms;	/* when the pending partial message began */
	uint32_t write_ms;		/* last write progress while output is pending */
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
};

/* idle connections are the product: keep one within a 112-byte malloc chunk */
_Static_assert(sizeof(struct conn) <= 104, "struct conn grew past its memory budget");

static void conn_event_cb(struct evloop *loop, int fd, int mask, void *data);

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

void
conn_env_init(struct conn_env *env, struct evloop *loop, struct twheel *wheel,
    struct stats_slot *stats, uint64_t max_output, uint64_t max_conns)
{
	memset(env, 0, sizeof(*env));
	env->loop = loop;
	env->wheel = wheel;
	env->stats = stats;
	env->now_ms = env->epoch_ms = clock_now_ms();
	env->max_output = max_output;
	env->max_conns = max_conns;
	env->rbuf_size = 64 * 1024;
	env->rbuf = malloc(env->rbuf_size);
	if (env->rbuf == NULL || buffer_reserve(&env->wbuf, STAGE_FLUSH) == NULL)
		fatalx("out of memory");
}

void
conn_env_free(struct conn_env *env)
{
	free(env->rbuf);
	env->rbuf = NULL;
	buffer_free(&env->wbuf);
}

int
conn_is_conn_cb(evloop_cb *cb)
{
	return cb == conn_event_cb;
}

/* ---- the handler API ---- */

const char *
conn_listener_name(const struct conn *c)
{
	return c->l->conf->name;
}

const char *
conn_peer_str(const struct conn *c, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (c->peer_v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->peer_port);
		memcpy(&s6->sin6_addr, c->peer_addr, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->peer_port);
		memcpy(&s4->sin_addr, c->peer_addr, 4);
	}
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
candidate(uint64_t *due, enum close_reason *why, uint64_t t, enum close_reason r)
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
	case CS_OPEN:
		/*
		 * The heartbeat and frame clocks stop while we are not
		 * reading (output over max_output): the client's bytes wait
		 * unread in the kernel, it is not silent.  The write timeout
		 * covers a client that stopped reading; conn_settle restarts
		 * both clocks when reading resumes.
		 */
		if (!(c->flags & F_GOT_MSG) && lc->first_message_ms)
			candidate(&due, why, abs_ms(env, c->accept_ms) + lc->first_message_ms,
			    CLOSE_FIRST_MESSAGE_TIMEOUT);
		else if (lc->heartbeat_ms && !(c->flags & F_READ_PAUSED))
			candidate(&due, why, abs_ms(env, c->last_msg_ms) + lc->heartbeat_ms,
			    CLOSE_HEARTBEAT);
		if (lc->deadline_ms)
			candidate(&due, why, abs_ms(env, c->accept_ms) + lc->deadline_ms,
			    CLOSE_DEADLINE);
		if (c->in != NULL && lc->frame_timeout_ms && !(c->flags & F_READ_PAUSED))
			candidate(&due, why, abs_ms(env, c->frame_start_ms) + lc->frame_timeout_ms,
			    CLOSE_FRAME_TIMEOUT);
		if (c->out != NULL && lc->write_timeout_ms)
			candidate(&due, why, abs_ms(env, c->write_ms) + lc->write_timeout_ms,
			    CLOSE_WRITE_TIMEOUT);
		break;
	case CS_FLUSHING:
		/* keep the original reason: flushing is only the manner of closing */
		due = abs_ms(env, c->write_ms) +
		    (lc->write_timeout_ms ? lc->write_timeout_ms : FLUSH_LIMIT_MS);
		break;
	case CS_LINGER:
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

/* ---- output ---- */

static void
count_out(struct conn *c, size_t n)
{
	stats_add(&env_of(c)->stats->cur.bytes_out, n);
}

/* write as much of c->out as the kernel takes; -1 on a fatal error (c marked dead) */
static int
conn_flush(struct conn *c)
{
	struct conn_env *env = env_of(c);
	ssize_t n;

	while (c->out != NULL) {
		n = write(c->fd, buffer_head(c->out), buffer_len(c->out));
		if (n > 0) {
			count_out(c, (size_t)n);
			buffer_consume(&c->out, (size_t)n);
			c->write_ms = rel_now(env);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		c->reason = (n == -1 && errno != EPIPE && errno != ECONNRESET) ?
		    CLOSE_ERROR : (c->state == CS_OPEN ? CLOSE_PEER : c->reason);
		c->flags |= F_DEAD;
		buffer_free(&c->out);
		return -1;
	}
	return 0;
}

/* output pending from now on: start the write-progress clock */
static void
conn_out_started(struct conn *c)
{
	c->write_ms = rel_now(env_of(c));
	conn_timer_update(c);
}

/* write the staging buffer gathered for c; what the kernel refuses moves to c->out */
static void
conn_flush_staged(struct conn *c)
{
	struct conn_env *env = env_of(c);
	struct buffer *w = env->wbuf;
	size_t off = 0;
	ssize_t n;

	env->staged = NULL;
	while (off < w->len && !(c->flags & F_DEAD)) {
		n = write(c->fd, w->data + off, w->len - off);
		if (n > 0) {
			count_out(c, (size_t)n);
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			int was_empty = c->out == NULL;
			if (buffer_append(&c->out, w->data + off, w->len - off) == -1) {
				c->reason = CLOSE_ERROR;
				c->flags |= F_DEAD;
			} else if (was_empty) {
				conn_out_started(c);
			}
			break;
		}
		c->reason = (errno == EPIPE || errno == ECONNRESET) ? CLOSE_PEER : CLOSE_ERROR;
		c->flags |= F_DEAD;
	}
	w->off = w->len = 0;
	if (w->cap > 4 * STAGE_FLUSH) {
		/* a huge reply passed through: do not keep its memory */
		buffer_free(&env->wbuf);
		if (buffer_reserve(&env->wbuf, STAGE_FLUSH) == NULL)
			fatalx("out of memory");
	}
}

/*
 * Something happened to c from outside its own event (another connection's
 * handler sent to it or closed it): ask for a write event so conn_settle()
 * runs for it soon.  Its own event settles it anyway.
 */
static void
conn_poke(struct conn *c)
{
	struct conn_env *env = env_of(c);

	if (env->active != c)
		evloop_set(env->loop, c->fd, evloop_mask(env->loop, c->fd) | EV_WRITE);
}

static void
conn_kill(struct conn *c, enum close_reason r)
{
	c->reason = (uint8_t)r;
	c->flags |= F_DEAD;
	conn_poke(c);
}

/* queue one message (header + payload) for c, in order with earlier output */
static int
conn_queue(struct conn *c, const uint8_t *hdr, size_t hlen, const void *data, size_t len)
{
	struct conn_env *env = env_of(c);
	uint64_t cap = env->max_output + c->l->codec.max_frame + STAGE_FLUSH;

	if (c->flags & F_DEAD)
		return -1;
	stats_add(&env->stats->cur.messages_out, 1);
	if (env->staged == c && c->out == NULL) {
		if (buffer_append(&env->wbuf, hdr, hlen) == -1 ||
		    buffer_append(&env->wbuf, data, len) == -1) {
			/* this client's reply does not fit in memory: it goes, the worker stays */
			env->wbuf->off = env->wbuf->len = 0;
			conn_kill(c, CLOSE_ERROR);
			return -1;
		}
		if (env->wbuf->len >= STAGE_FLUSH) {
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
	int was_empty = c->out == NULL;
	if (buffer_append(&c->out, hdr, hlen) == -1 || buffer_append(&c->out, data, len) == -1) {
		conn_kill(c, CLOSE_ERROR);
		return -1;
	}
	if (was_empty) {
		conn_out_started(c);
		conn_poke(c);
	}
	return 0;
}

static int
conn_send_type(struct conn *c, uint8_t type, const void *data, size_t len)
{
	uint8_t hdr[PROTO_HDR_MAX];
	size_t hlen = proto_header(&c->l->codec, type, len, hdr);

	return conn_queue(c, hdr, hlen, data, len);
}

int
conn_send(struct conn *c, const void *data, size_t len)
{
	if (c->state != CS_OPEN)
		return -1;
	return conn_send_type(c, FRAME_DATA, data, len);
}

/* one ERROR frame in one write, best effort, counted if sent: for a socket about to be closed */
static void
write_error_frame(struct stats_slot *st, int fd, uint16_t code, const char *text)
{
	uint8_t buf[FRAME_HDR_LEN + 128];
	size_t plen;
	ssize_t n;

	plen = proto_error_payload(buf + FRAME_HDR_LEN, sizeof(buf) - FRAME_HDR_LEN, code, text);
	proto_frame_header(buf, FRAME_ERROR, (uint32_t)plen);
	if ((n = write(fd, buf, FRAME_HDR_LEN + plen)) > 0) {
		stats_add(&st->cur.messages_out, 1);
		stats_add(&st->cur.bytes_out, (uint64_t)n);
	}
}

/* best effort, for a connection about to be closed: one write, no queueing */
static void
conn_write_error_now(struct conn *c, uint16_t code, const char *text)
{
	if (c->l->conf->codec != CODEC_FRAME)
		return;
	if (c->out != NULL && conn_flush(c) == -1)
		return;
	if (c->out != NULL)
		return;
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
		env->wbuf->off = env->wbuf->len = 0;
	}
	if ((c->flags & F_OPENED) && c->l->handler->close != NULL)
		c->l->handler->close(c, r);
	if (log_get_level() <= LOG_LVL_DEBUG) {
		char peer[64];
		conn_log_close(c->l->conf->name, conn_peer_str(c, peer, sizeof(peer)), r,
		    (double)(rel_now(env) - c->accept_ms) / 1000.0);
	}
	twheel_stop(env->wheel, &c->timer);
	evloop_del_closing(env->loop, c->fd);
	close(c->fd);
	buffer_free(&c->in);
	buffer_free(&c->out);
	stats_add(&env->stats->cur.closed[r], 1);
	env->nconns--;
	stats_set(&env->stats->connections, env->nconns);
	free(c);
}

/* stop handling input and close once pending output is out (lingering if asked) */
static void
conn_begin_close(struct conn *c, enum close_reason r, int linger)
{
	if (c->state != CS_OPEN)
		return;
	c->state = CS_FLUSHING;
	c->reason = (uint8_t)r;
	if (linger)
		c->flags |= F_LINGER;
	c->write_ms = rel_now(env_of(c));
	/* c->in is freed by conn_settle(): a handler may still be reading from it */
	conn_poke(c);
}

void
conn_close(struct conn *c, enum close_reason reason)
{
	conn_begin_close(c, reason, 1);
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
		conn_send_type(c, FRAME_ERROR, payload, plen);
	}
	/* linger: the client's unread bytes would otherwise turn our close into a RST
	 * that can destroy the ERROR frame before the client reads it */
	conn_begin_close(c, r, 1);
}

void
conn_shutdown(struct conn *c)
{
	if (c->state == CS_OPEN)
		conn_write_error_now(c, PERR_SHUTTING_DOWN, "shutting down");
	c->reason = CLOSE_SHUTDOWN;
	conn_destroy(c);
}

/* ---- input ---- */

static void
conn_message(struct conn *c, const struct proto_msg *m)
{
	const struct handler *h = c->l->handler;

	c->last_msg_ms = rel_now(env_of(c));
	if (!(c->flags & F_GOT_MSG)) {
		c->flags |= F_GOT_MSG;
		/* the heartbeat replaces the first-message timeout and may be due sooner */
		conn_timer_update(c);
	}
	stats_add(&env_of(c)->stats->cur.messages_in, 1);
	switch (m->type) {
	case FRAME_DATA:
		h->message(c, m->data, m->len);
		break;
	case FRAME_PING:
		conn_send_type(c, FRAME_PONG, m->data, m->len);
		break;
	case FRAME_PONG:
		break;
	case FRAME_CLOSE:
		/* replies already queued go first, then our CLOSE, then EOF */
		conn_send_type(c, FRAME_CLOSE, NULL, 0);
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

	while (off < len && c->state == CS_OPEN && !(c->flags & F_DEAD)) {
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

/* room to read into c->in: the rest of the pending message, at least IN_CHUNK */
static size_t
conn_in_room(struct conn *c)
{
	struct proto_msg m;
	size_t have = buffer_len(c->in), want = IN_CHUNK;

	if (proto_decode(&c->l->codec, buffer_head(c->in), have, &m) == PROTO_NEED_MORE &&
	    m.need > have && m.need - have > want)
		want = m.need - have;
	return want;
}

static void
conn_read_open(struct conn *c)
{
	struct conn_env *env = env_of(c);
	uint8_t *dst;
	size_t room, used;
	ssize_t n;
	int own = c->in != NULL;

	if (own) {
		room = conn_in_room(c);
		if (buffer_reserve(&c->in, room) == NULL) {
			conn_kill(c, CLOSE_ERROR);
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
		c->in->len += (size_t)n;
		used = conn_process(c, buffer_head(c->in), buffer_len(c->in));
		if (c->in != NULL) {
			buffer_consume(&c->in, used);
			if (used > 0 && c->in != NULL) {
				/* a new message started in this read */
				c->frame_start_ms = rel_now(env);
				conn_timer_update(c);
			}
		}
	} else {
		used = conn_process(c, dst, (size_t)n);
		if (used < (size_t)n && c->state == CS_OPEN && !(c->flags & F_DEAD)) {
			if (buffer_append(&c->in, dst + used, (size_t)n - used) == -1) {
				conn_kill(c, CLOSE_ERROR);
			} else {
				c->frame_start_ms = rel_now(env);
				conn_timer_update(c);
			}
		}
	}
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
		c->flags |= F_DEAD;
}

/* after an event: move a closing connection along, set interest, or free it */
static void
conn_settle(struct conn *c)
{
	struct conn_env *env = env_of(c);
	int mask;

	if (c->state != CS_OPEN)
		buffer_free(&c->in);	/* no more input is handled */
	if (!(c->flags & F_DEAD) && c->state == CS_FLUSHING && c->out == NULL) {
		if (c->flags & F_LINGER) {
			shutdown(c->fd, SHUT_WR);
			c->state = CS_LINGER;
			c->write_ms = rel_now(env);
			conn_timer_update(c);
		} else {
			c->flags |= F_DEAD;
		}
	}
	if (c->flags & F_DEAD) {
		conn_destroy(c);
		return;
	}
	if (c->state == CS_OPEN) {
		if (!(c->flags & F_READ_PAUSED) && buffer_len(c->out) > env->max_output)
			c->flags |= F_READ_PAUSED;
		else if ((c->flags & F_READ_PAUSED) && buffer_len(c->out) <= env->max_output / 2) {
			c->flags &= (uint8_t)~F_READ_PAUSED;
			/* the input clocks run again from now (see conn_due) */
			c->last_msg_ms = rel_now(env);
			if (c->in != NULL)
				c->frame_start_ms = c->last_msg_ms;
			conn_timer_update(c);
		}
	}
	switch (c->state) {
	case CS_OPEN:
		mask = (c->flags & F_READ_PAUSED) ? EV_NONE : EV_READ;
		if (c->out != NULL)
			mask |= EV_WRITE;
		break;
	case CS_FLUSHING:
		mask = EV_WRITE;
		conn_timer_update(c);
		break;
	default:
		mask = EV_READ;
		break;
	}
	evloop_set(env->loop, c->fd, mask);
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
	if ((mask & (EV_READ | EV_ERROR)) && !(c->flags & F_DEAD)) {
		switch (c->state) {
		case CS_OPEN:
			conn_read_open(c);
			break;
		case CS_LINGER:
			conn_read_linger(c);
			break;
		case CS_FLUSHING:
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

void
conn_timer_cb(struct twheel_node *node, void *arg)
{
	struct conn *c = (struct conn *)((char *)node - offsetof(struct conn, timer));
	struct conn_env *env = arg;
	enum close_reason why;
	uint64_t due = conn_due(c, &why);
	char text[96];

	if (due == NO_DUE)
		return;
	if (due > env->now_ms) {
		/* the client talked since this was armed: wait for the rest */
		twheel_start(env->wheel, &c->timer, due);
		return;
	}
	if (c->state == CS_OPEN) {
		snprintf(text, sizeof(text), "%s after %g s", timeout_text(why),
		    timeout_ms(c->l->conf, why) / 1000.0);
		/* a client that never reads gets no more bytes pushed at it */
		if (why != CLOSE_WRITE_TIMEOUT)
			conn_write_error_now(c, PERR_TIMEOUT, text);
	}
	c->reason = (uint8_t)why;
	conn_destroy(c);
}

/* ---- accept ---- */

static void
conn_reject_full(struct wlistener *l, int fd, const struct sockaddr *peer)
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

static void
conn_new(struct wlistener *l, int fd, const struct sockaddr *peer)
{
	struct conn_env *env = l->env;
	struct conn *c;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
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
	c->state = CS_OPEN;
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
	if (log_get_level() <= LOG_LVL_DEBUG) {
		char buf[64];
		log_debug("accept %s %s", l->conf->name, conn_peer_str(c, buf, sizeof(buf)));
	}
	env->active = c;
	if (l->handler->open != NULL && l->handler->open(c) != 0) {
		/* never opened, so no close() call: settling destroys it */
		conn_kill(c, CLOSE_ERROR);
	} else {
		c->flags |= F_OPENED;
		conn_timer_update(c);
	}
	/* open() may have sent a greeting or closed at once */
	conn_settle(c);
	env->active = NULL;
}

void
conn_accept_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct wlistener *l = data;
	struct conn_env *env = l->env;
	static uint64_t last_log;

	(void)mask;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* no descriptor to take the client with: pause instead of spinning */
				l->paused = 1;
				l->resume_ms = env->now_ms + 1000;
				evloop_set(loop, fd, EV_NONE);
				if (env->now_ms - last_log >= 1000 || last_log == 0) {
					last_log = env->now_ms;
					log_warn("%s: accept paused for 1 s", l->conf->name);
				}
				return;
			}
			log_warn("%s: accept", l->conf->name);
			return;
		}
		stats_add(&env->stats->cur.accepted, 1);
		if (env->nconns >= env->max_conns)
			conn_reject_full(l, cfd, (struct sockaddr *)&ss);
		else
			conn_new(l, cfd, (struct sockaddr *)&ss);
	}
}
