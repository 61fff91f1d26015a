/*
 * backend: a worker's links to its applications (see backend.h and
 * sockserv-backend(7)).
 *
 * Output of a link is two byte streams written with one writev:
 *   ctl   HELLO, the session's resent OPENs, ACK, PING, PONG: written
 *         once, never kept;
 *   pend  every OPEN, MSG, CLOSE and GONE (the messages with a connection
 *         id), in order, kept until the application's ACK covers it and
 *         replayed from its start on every new session.
 * wpos is how much of pend this session wrote.  ctl may only be written
 * between two pend messages: after a partial write inside pend, wpart_end
 * marks the end of the message in progress and the writev finishes it
 * before any ctl byte.
 *
 * The application's ACK counts the messages with an id it processed this
 * session: first the resent OPENs (in ctl, right after HELLO), then pend's
 * messages in order.  An ACK may only cover messages written.
 *
 * Every byte from the application is hostile until checked: lengths,
 * topic sizes, ids, types and ACK counts are validated, and anything
 * malformed drops the link (logged with the reason), never the worker.
 */
#include "backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "buffer.h"
#include "clock.h"
#include "connid.h"
#include "linkproto.h"
#include "log.h"
#include "proto.h"
#include "version.h"

#define READ_CHUNK (64 * 1024)	/* least room for one read of the link */
#define TOPIC_BUCKETS_MIN 1024	/* per link; a power of two, doubling with the topics */
#define ID_BUCKETS_MIN 256	/* the id table doubles from here */
#define UNAVAILABLE_TEXT "backend unavailable"
#define NO_MSG UINT64_MAX	/* ack_at/pong_at: nothing waiting */
/*
 * Subscriptions one client may hold: the application chooses topics, so
 * without a cap one client could pin unbounded memory in the worker.  At
 * 64, a client's worst case (64 distinct 255-byte topics) is ~20 KiB, small
 * beside its max_output.
 */
#define SUBS_PER_CONN 64

struct topic;

/* a subscription: one client in one topic */
struct sub {
	struct topic *t;
	struct bconn *b;
	struct sub *tprev, *tnext;	/* the topic's subscribers */
	struct sub *cnext;		/* the client's subscriptions */
};

struct topic {
	struct topic *hnext;
	struct sub *subs;
	uint8_t len;
	uint8_t name[LINK_TOPIC_MAX];
};

/*
 * A backend client's state, the handler's udata: kept beside struct conn
 * so that connections of other listeners pay nothing for it.
 */
struct bconn {
	uint64_t id;
	struct conn *c;
	struct bconn *hnext;		/* the link's id table */
	struct sub *subs;
	uint32_t msg_seq;		/* the client's messages so far (MSG seq) */
	uint32_t send_seq;		/* highest SEND seq applied */
	uint16_t err_code;		/* the ERROR code the client was sent, 0 if none */
	uint8_t nsubs;			/* its subscriptions, at most SUBS_PER_CONN */
	uint8_t announced;		/* its OPEN was acknowledged: resend it on a new session */
	uint8_t push_queued;		/* in the link's push list this round */
};

enum link_state {
	LS_DOWN,	/* waiting to retry */
	LS_CONNECTING,	/* non-blocking connect in progress */
	LS_UP,		/* connected (ready once HELLO is written) */
};

struct blink {
	struct backend_links *bl;
	const struct backend_conf *conf;
	struct stats_link *st;
	enum link_state state;
	int fd;
	int ready;			/* HELLO written this session: events may flow */
	int paused;			/* its clients are held */
	int failing;			/* a connect failure was logged; quiet until up again */
	int attempts;
	uint64_t backoff_ms;
	uint64_t retry_at;
	uint64_t connect_at;
	uint64_t last_rx;		/* last byte from the application */
	uint64_t last_ping;
	struct buffer *ctl;
	size_t hello_left;		/* bytes of HELLO at ctl's head still unwritten */
	/*
	 * ctl is bounded although the application may never read: at most
	 * one ACK and one PONG wait unwritten in it (a newer ACK count is
	 * written over the waiting one, a PING finds its answer in the
	 * waiting PONG), and our PINGs come only on an idle link.  Offsets
	 * count from the session's first ctl byte; ctl_base is how many left.
	 */
	uint64_t ctl_base;		/* ctl bytes written this session */
	uint64_t ack_at, pong_at;	/* start of the ACK/PONG waiting in ctl, NO_MSG if none */
	int gone_skipped;		/* GONEs not kept this session (logged once) */
	int subs_refused;		/* SUBs over SUBS_PER_CONN this session (logged once) */
	int oversize_dropped;		/* messages over max_frame this session (logged once) */
	int refusing;			/* pend over the ceiling: new clients refused (logged once) */
	struct buffer *pend;
	size_t pend_msgs;
	size_t wpos;			/* bytes of pend written this session */
	size_t wpart_end;		/* end of the pend message in progress, 0 at a boundary */
	uint64_t synth;			/* id'd messages in ctl this session (resent OPENs) */
	uint64_t acked;			/* the application's ACK this session */
	uint64_t rx_count;		/* id'd commands received this session */
	uint64_t rx_acked;		/* the last ACK we queued */
	struct buffer *in;
	struct bconn **ids;		/* id -> client */
	size_t id_buckets, nids;
	struct topic **topics;
	size_t topic_buckets, ntopics;
	uint64_t tkey[2];		/* the topic hash's key, random per link */
	uint64_t *push;			/* ids of clients whose output waits for conn_push */
	size_t npush, push_cap;
};

struct backend_links {
	const struct config *cfg;
	struct evloop *loop;
	struct stats_slot *stats;
	struct connid_alloc ids;
	int slot;
	pid_t master_pid;
	uint64_t master_started;
	uint64_t now;
	uint64_t (*clock)(void);
	uint32_t max_payload;
	uint64_t ids_out_logged;
	size_t n;
	struct blink *links[CONFIG_MAX_BACKENDS];
	struct blink *by_conf[CONFIG_MAX_BACKENDS];	/* by cfg->backends index, NULL if unused */
};

static void link_drop(struct blink *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void link_set_paused(struct blink *L, int paused);
static void link_cb(struct evloop *loop, int fd, int mask, void *data);

/* length of the whole message at p (our own, well-formed bytes) */
static size_t
msg_size(const uint8_t *p)
{
	return LINK_HDR_LEN + (size_t)linkproto_get32(p + 4);
}

/* ---- the id table ---- */

static size_t
id_hash(const struct blink *L, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) & (L->id_buckets - 1);
}

static struct bconn *
id_find(const struct blink *L, uint64_t id)
{
	for (struct bconn *b = L->ids[id_hash(L, id)]; b != NULL; b = b->hnext)
		if (b->id == id)
			return b;
	return NULL;
}

/* keep chains short: double when there are more clients than buckets (failure keeps the old size) */
static void
id_grow(struct blink *L)
{
	size_t n = L->id_buckets * 2, old = L->id_buckets;
	struct bconn **t = alloc_calloc(n, sizeof(*t)), **o = L->ids;

	if (t == NULL)
		return;
	L->ids = t;
	L->id_buckets = n;
	for (size_t i = 0; i < old; i++) {
		struct bconn *b = o[i], *next;
		for (; b != NULL; b = next) {
			size_t h = id_hash(L, b->id);
			next = b->hnext;
			b->hnext = t[h];
			t[h] = b;
		}
	}
	free(o);
}

static void
id_insert(struct blink *L, struct bconn *b)
{
	size_t h;

	if (L->nids >= L->id_buckets)
		id_grow(L);
	h = id_hash(L, b->id);
	b->hnext = L->ids[h];
	L->ids[h] = b;
	L->nids++;
}

static void
id_remove(struct blink *L, struct bconn *b)
{
	struct bconn **pp = &L->ids[id_hash(L, b->id)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == b) {
			*pp = b->hnext;
			L->nids--;
			return;
		}
	}
}

/* ---- topics ---- */

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
	v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
} while (0)

/*
 * SipHash-2-4 of a topic under the link's random key.  The application
 * names the topics: with an unkeyed hash (FNV-1a into a fixed 1024
 * buckets, as before) it could put every subscription of every client in
 * one chain and make each SUB and PUBLISH a walk of all of them, a worker
 * hang that takes every backend's clients with it.
 */
uint64_t
backend_topic_hash(const uint64_t key[2], const uint8_t *p, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		m = 0;
		for (int k = 0; k < 8; k++)
			m |= (uint64_t)p[i + k] << (8 * k);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (int k = 0; i + (size_t)k < len; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static size_t
topic_hash(const struct blink *L, const uint8_t *name, size_t len)
{
	return (size_t)backend_topic_hash(L->tkey, name, len) & (L->topic_buckets - 1);
}

/* keep chains short: double when there are more topics than buckets (failure keeps the old size) */
static void
topic_grow(struct blink *L)
{
	size_t n = L->topic_buckets * 2, old = L->topic_buckets;
	struct topic **t = alloc_calloc(n, sizeof(*t)), **o = L->topics;

	if (t == NULL)
		return;
	L->topics = t;
	L->topic_buckets = n;
	for (size_t i = 0; i < old; i++) {
		struct topic *tp = o[i], *next;
		for (; tp != NULL; tp = next) {
			size_t h = topic_hash(L, tp->name, tp->len);
			next = tp->hnext;
			tp->hnext = t[h];
			t[h] = tp;
		}
	}
	free(o);
}

static struct topic *
topic_find(const struct blink *L, const uint8_t *name, size_t len)
{
	for (struct topic *t = L->topics[topic_hash(L, name, len)]; t != NULL; t = t->hnext)
		if (t->len == len && memcmp(t->name, name, len) == 0)
			return t;
	return NULL;
}

static void
topic_free_if_empty(struct blink *L, struct topic *t)
{
	struct topic **pp;

	if (t->subs != NULL)
		return;
	for (pp = &L->topics[topic_hash(L, t->name, t->len)]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == t) {
			*pp = t->hnext;
			free(t);
			L->ntopics--;
			return;
		}
	}
}

static void
sub_unlink(struct blink *L, struct sub *s)
{
	if (s->tprev != NULL)
		s->tprev->tnext = s->tnext;
	else
		s->t->subs = s->tnext;
	if (s->tnext != NULL)
		s->tnext->tprev = s->tprev;
	topic_free_if_empty(L, s->t);
}

/* 0; -1 when out of memory, -2 over SUBS_PER_CONN (the command is then dropped, logged) */
static int
subscribe(struct blink *L, struct bconn *b, const uint8_t *name, size_t len)
{
	struct topic *t = topic_find(L, name, len);
	struct sub *s;
	size_t h;

	if (t != NULL)
		for (s = b->subs; s != NULL; s = s->cnext)
			if (s->t == t)
				return 0;	/* already */
	if (b->nsubs >= SUBS_PER_CONN)
		return -2;
	if (t == NULL) {
		if ((t = alloc_calloc(1, sizeof(*t))) == NULL)
			return -1;
		t->len = (uint8_t)len;
		memcpy(t->name, name, len);
		if (L->ntopics >= L->topic_buckets)
			topic_grow(L);
		h = topic_hash(L, name, len);
		t->hnext = L->topics[h];
		L->topics[h] = t;
		L->ntopics++;
	}
	if ((s = alloc_calloc(1, sizeof(*s))) == NULL) {
		topic_free_if_empty(L, t);
		return -1;
	}
	s->t = t;
	s->b = b;
	s->tnext = t->subs;
	if (t->subs != NULL)
		t->subs->tprev = s;
	t->subs = s;
	s->cnext = b->subs;
	b->subs = s;
	b->nsubs++;
	return 0;
}

static void
unsubscribe(struct blink *L, struct bconn *b, const uint8_t *name, size_t len)
{
	struct topic *t = topic_find(L, name, len);
	struct sub **pp;

	if (t == NULL)
		return;
	for (pp = &b->subs; *pp != NULL; pp = &(*pp)->cnext) {
		if ((*pp)->t == t) {
			struct sub *s = *pp;
			*pp = s->cnext;
			sub_unlink(L, s);
			free(s);
			b->nsubs--;
			return;
		}
	}
}

static void
unsubscribe_all(struct blink *L, struct bconn *b)
{
	while (b->subs != NULL) {
		struct sub *s = b->subs;
		b->subs = s->cnext;
		sub_unlink(L, s);
		free(s);
	}
}

/* ---- output ---- */

/* one message into *bp: header and up to two payload parts; -1 when out of memory */
static int
put_msg(struct buffer **bp, uint8_t type, uint64_t id, uint32_t seq, const void *p1,
    size_t l1, const void *p2, size_t l2)
{
	uint8_t *d;

	if (buffer_reserve(bp, LINK_HDR_LEN + l1 + l2) == NULL)
		return -1;
	d = buffer_tail(*bp);
	linkproto_header(d, type, (uint32_t)(l1 + l2), id, seq);
	if (l1 > 0)
		memcpy(d + LINK_HDR_LEN, p1, l1);
	if (l2 > 0)
		memcpy(d + LINK_HDR_LEN + l1, p2, l2);
	buffer_commit(*bp, LINK_HDR_LEN + l1 + l2);
	return 0;
}

/* an event with an id, kept until acknowledged; -1 when out of memory */
static int
event(struct blink *L, uint8_t type, uint64_t id, uint32_t seq, const void *p1, size_t l1,
    const void *p2, size_t l2)
{
	if (put_msg(&L->pend, type, id, seq, p1, l1, p2, l2) == -1)
		return -1;
	L->pend_msgs++;
	stats_add(&L->st->events_sent, 1);
	stats_set(&L->st->bytes_pending, buffer_len(L->pend));
	/* stop reading at once, not at the end of the round: memory follows max_pending */
	if (!L->paused && buffer_len(L->pend) > L->conf->max_pending)
		link_set_paused(L, 1);
	return 0;
}

/* a control message (id 0, or a resent OPEN): written once */
static void
control(struct blink *L, uint8_t type, uint64_t id, uint32_t seq, const void *p, size_t len)
{
	if (put_msg(&L->ctl, type, id, seq, p, len, NULL, 0) == -1)
		link_drop(L, "out of memory for a control message");
}

/*
 * The message at absolute ctl offset at is still wholly unwritten: it can
 * be rewritten in place or stand for a newer one.
 */
static int
ctl_waiting(const struct blink *L, uint64_t at)
{
	return at != NO_MSG && at >= L->ctl_base && buffer_len(L->ctl) > 0;
}

/* our ACK: a count still waiting in ctl is raised in place, never a second ACK queued */
static void
control_ack(struct blink *L, uint64_t count)
{
	uint8_t cnt[8];

	linkproto_put64(cnt, count);
	if (ctl_waiting(L, L->ack_at)) {
		memcpy(buffer_head(L->ctl) + (L->ack_at - L->ctl_base) + LINK_HDR_LEN, cnt, 8);
		return;
	}
	L->ack_at = L->ctl_base + buffer_len(L->ctl);
	control(L, LINK_ACK, 0, 0, cnt, sizeof(cnt));
}

/* the answer to a PING: one waiting PONG answers every PING that arrives before it is written */
static void
control_pong(struct blink *L, uint32_t seq, const void *p, size_t len)
{
	if (ctl_waiting(L, L->pong_at))
		return;
	L->pong_at = L->ctl_base + buffer_len(L->ctl);
	control(L, LINK_PONG, 0, seq, p, len);
}

/* OPEN's payload after the flags: listener name, 0x00, "ADDR:PORT" */
static size_t
open_tail(const struct bconn *b, char *buf, size_t size)
{
	char peer[64];
	int n = snprintf(buf, size, "%s%c%s", conn_listener_name(b->c), '\0',
	    conn_peer_str(b->c, peer, sizeof(peer)));

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static int
event_open(struct blink *L, struct bconn *b)
{
	uint8_t flags = 0;
	char tail[CONFIG_NAME_MAX + 80];

	return event(L, LINK_OPEN, b->id, b->send_seq, &flags, 1, tail, open_tail(b, tail, sizeof(tail)));
}

/*
 * Write what is pending with one writev: the pend message in progress
 * first, then ctl, then the rest of pend.  -1 on a fatal error (the
 * caller drops the link).
 */
static int
link_write(struct blink *L)
{
	struct iovec iov[3];
	size_t plen = buffer_len(L->pend), clen = buffer_len(L->ctl), bnd, done, k;
	uint8_t *pd = L->pend != NULL ? buffer_head(L->pend) : NULL;
	int n = 0;
	ssize_t r;

	if (L->wpart_end != 0) {
		iov[n++] = (struct iovec){ pd + L->wpos, L->wpart_end - L->wpos };
		bnd = L->wpart_end;
	} else {
		bnd = L->wpos;
	}
	if (clen > 0)
		iov[n++] = (struct iovec){ buffer_head(L->ctl), clen };
	if (plen > bnd)
		iov[n++] = (struct iovec){ pd + bnd, plen - bnd };
	if (n == 0)
		return 0;
	do
		r = writev(L->fd, iov, n);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return errno == EAGAIN ? 0 : -1;
	done = (size_t)r;
	if (L->wpart_end != 0) {
		k = done < L->wpart_end - L->wpos ? done : L->wpart_end - L->wpos;
		L->wpos += k;
		done -= k;
		if (L->wpos == L->wpart_end)
			L->wpart_end = 0;
		else
			return 0;	/* still inside that message: nothing else went */
	}
	k = done < clen ? done : clen;
	if (k > 0) {
		L->ctl_base += k;
		if (k == clen)
			buffer_clear(L->ctl);
		else
			buffer_consume(&L->ctl, k);
		if (L->hello_left > 0)
			L->hello_left -= k < L->hello_left ? k : L->hello_left;
		done -= k;
	}
	if (done > 0) {
		/* find where the message the write stopped in ends (only after a partial write) */
		L->wpos += done;
		if (L->wpos < plen) {
			while (bnd < L->wpos)
				bnd += msg_size(pd + bnd);
			L->wpart_end = bnd == L->wpos ? 0 : bnd;
		}
	}
	return 0;
}

/* watch for writability only while something waits */
static void
link_watch(struct blink *L)
{
	int mask = EV_READ;

	if (buffer_len(L->ctl) > 0 || L->wpos < buffer_len(L->pend))
		mask |= EV_WRITE;
	if (evloop_set(L->bl->loop, L->fd, mask) == -1)
		link_drop(L, "cannot watch the link: %s", strerror(errno));
}

/* ---- clients ---- */

/*
 * Room in the push list for every client of the link, taken when a client
 * arrives: queueing a push can then never fail, and a client whose output
 * was gathered (conn_defer_begin) is always pushed.
 */
static int
push_room(struct blink *L)
{
	size_t cap;
	uint64_t *p;

	if (L->push_cap > L->nids)
		return 0;
	cap = L->push_cap ? L->push_cap * 2 : 64;
	if ((p = realloc(L->push, cap * sizeof(*p))) == NULL)
		return -1;
	L->push = p;
	L->push_cap = cap;
	return 0;
}

/* c's output waits for conn_push at the end of this batch */
static void
push_queue(struct blink *L, struct bconn *b)
{
	if (b->push_queued)
		return;
	b->push_queued = 1;
	L->push[L->npush++] = b->id;	/* push_room: a slot per client */
}

/* write every queued client's output; a client may end (and its bconn go) here */
static void
push_flush(struct blink *L)
{
	for (size_t i = 0; i < L->npush; i++) {
		struct bconn *b = id_find(L, L->push[i]);

		if (b != NULL) {
			b->push_queued = 0;
			conn_push(b->c);
		}
	}
	L->npush = 0;
}

static void
link_set_paused(struct blink *L, int paused)
{
	L->paused = paused;
	for (size_t i = 0; i < L->id_buckets; i++)
		for (struct bconn *b = L->ids[i]; b != NULL; b = b->hnext)
			conn_hold_input(b->c, paused);
	stats_set(&L->st->clients_paused, paused ? L->nids : 0);
}

/* on_down "close": every client ends with ERROR 8 */
static void
close_all_unavailable(struct blink *L)
{
	for (size_t i = 0; i < L->id_buckets; i++) {
		for (struct bconn *b = L->ids[i]; b != NULL; b = b->hnext) {
			struct conn *prev = conn_defer_begin(b->c);

			conn_close_with(b->c, CLOSE_BACKEND, PERR_BACKEND_UNAVAILABLE,
			    UNAVAILABLE_TEXT, strlen(UNAVAILABLE_TEXT));
			conn_defer_end(b->c, prev);
			push_queue(L, b);
		}
	}
	push_flush(L);
}

/* ---- the session ---- */

static void
link_state(struct blink *L, enum link_state s)
{
	L->state = s;
	__atomic_store_n(&L->st->state, s == LS_UP ? (L->ready ? SLINK_UP : SLINK_CONNECTING) :
	    s == LS_CONNECTING ? SLINK_CONNECTING : SLINK_DOWN, __ATOMIC_RELAXED);
}

/*
 * The link broke or could not be made: log it once, keep every event for
 * the next session, hold the clients (and end them under on_down close),
 * and retry after the backoff.
 */
static void
link_drop(struct blink *L, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	size_t off = 0, end;
	uint8_t *pd = L->pend != NULL ? buffer_head(L->pend) : NULL;

	if (L->state == LS_DOWN)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (L->ready) {
		log_warnx("backend %s: link down: %s", L->conf->name, why);
	} else if (!L->failing) {
		log_warnx("backend %s: link down: cannot connect to %s: %s", L->conf->name,
		    L->conf->address, why);
	} else {
		log_debug("backend %s: connect to %s failed again: %s", L->conf->name,
		    L->conf->address, why);
	}
	L->failing = 1;
	if (L->fd != -1) {
		evloop_del(L->bl->loop, L->fd);
		close(L->fd);
		L->fd = -1;
	}
	/* OPENs the application may have read are resent with flag 1 (wpos is 0 without pend) */
	while (pd != NULL && off < L->wpos && (end = off + msg_size(pd + off)) <= L->wpos) {
		if (pd[off + 3] == LINK_OPEN)
			pd[off + LINK_HDR_LEN] |= LINK_OPEN_RESENT;
		off = end;
	}
	L->wpos = L->wpart_end = 0;
	buffer_free(&L->ctl);
	buffer_free(&L->in);
	L->hello_left = 0;
	L->ready = 0;
	link_state(L, LS_DOWN);
	L->retry_at = L->bl->now + L->backoff_ms;
	L->backoff_ms = L->backoff_ms * 2 > L->conf->reconnect_max_ms ?
	    L->conf->reconnect_max_ms : L->backoff_ms * 2;
	if (!L->paused)
		link_set_paused(L, 1);
	if (L->conf->on_down == ON_DOWN_CLOSE)
		close_all_unavailable(L);
}

/* connected: HELLO, the OPENs the application already knew, then pend from its start */
static void
link_session(struct blink *L)
{
	struct backend_links *bl = L->bl;
	char hello[512];
	int n;
	uint8_t *pd;
	size_t off;

	L->state = LS_UP;
	L->ready = 0;
	L->last_rx = L->last_ping = bl->now;
	L->synth = L->acked = L->rx_count = L->rx_acked = 0;
	L->wpos = L->wpart_end = 0;
	L->ctl_base = 0;
	L->ack_at = L->pong_at = NO_MSG;
	L->gone_skipped = L->subs_refused = L->oversize_dropped = 0;
	n = snprintf(hello, sizeof(hello),
	    "protocol=1\nnode=%u\nworker=%d\npid=%ld\nmaster_pid=%ld\nstarted=%llu\nversion=%s\n",
	    (unsigned)bl->cfg->node_id, bl->slot, (long)getpid(), (long)bl->master_pid,
	    (unsigned long long)bl->master_started, SOCKSERV_VERSION);
	control(L, LINK_HELLO, 0, 0, hello, (size_t)n);
	if (L->state != LS_UP)
		return;
	L->hello_left = (size_t)n + LINK_HDR_LEN;
	for (size_t i = 0; i < L->id_buckets; i++) {
		for (struct bconn *b = L->ids[i]; b != NULL; b = b->hnext) {
			uint8_t flags = LINK_OPEN_RESENT;
			char tail[CONFIG_NAME_MAX + 80];
			size_t tl = open_tail(b, tail, sizeof(tail));

			if (!b->announced)
				continue;	/* its own OPEN is still in pend */
			if (put_msg(&L->ctl, LINK_OPEN, b->id, b->send_seq, &flags, 1, tail, tl) == -1) {
				link_drop(L, "out of memory for the resent OPENs");
				return;
			}
			L->synth++;
		}
	}
	/* a replayed OPEN carries the SEND seq applied since it was queued */
	pd = L->pend != NULL ? buffer_head(L->pend) : NULL;
	for (off = 0; off < buffer_len(L->pend); off += msg_size(pd + off)) {
		if (pd[off + 3] == LINK_OPEN) {
			struct bconn *b = id_find(L, linkproto_get64(pd + off + 8));
			if (b != NULL)
				linkproto_put32(pd + off + 16, b->send_seq);
		}
	}
	link_state(L, LS_UP);
	if (evloop_set(bl->loop, L->fd, EV_READ | EV_WRITE) == -1)
		link_drop(L, "cannot watch the link: %s", strerror(errno));
}

static void
link_connect(struct blink *L)
{
	struct backend_links *bl = L->bl;
	const struct backend_conf *bc = L->conf;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (bc->is_unix) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, bc->unix_path, strlen(bc->unix_path) + 1);
		sl = sizeof(*su);
	} else if (bc->ip_v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)bc->port);
		memcpy(&s6->sin6_addr, bc->ip, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)bc->port);
		memcpy(&s4->sin_addr, bc->ip, 4);
		sl = sizeof(*s4);
	}
	if (L->attempts++ > 0)
		stats_add(&L->st->reconnects, 1);
	L->connect_at = bl->now;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		/* a failed attempt like any other: the same backoff */
		L->state = LS_CONNECTING;
		L->fd = -1;
		link_drop(L, "socket: %s", strerror(errno));
		return;
	}
	if (!bc->is_unix)
		/* the round's events go in one write: no reason to wait for more */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	L->fd = fd;
	L->state = LS_CONNECTING;
	if (evloop_add(bl->loop, fd, EV_WRITE, link_cb, L) == -1) {
		int e = errno;
		close(fd);
		L->fd = -1;
		link_drop(L, "cannot watch the link: %s", strerror(e));
		return;
	}
	link_state(L, LS_CONNECTING);
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
		link_session(L);
	else if (errno != EINPROGRESS)
		link_drop(L, "%s", strerror(errno));
}

/* HELLO is out: events flow (the link counts as up from here) */
static void
link_ready(struct blink *L)
{
	L->ready = 1;
	L->failing = 0;
	L->backoff_ms = L->conf->reconnect_min_ms;
	link_state(L, LS_UP);
	log_info("backend %s: link up to %s (%llu OPENs resent, %zu events to replay)",
	    L->conf->name, L->conf->address, (unsigned long long)L->synth, L->pend_msgs);
}

/* ---- commands ---- */

/*
 * The application's ACK: n id'd messages processed this session.  The
 * first `synth` were the resent OPENs; the rest leave pend.  -1 (with
 * *why) for a count that goes back or covers what was never written.
 */
static int
link_ack(struct blink *L, uint64_t n, const char **why)
{
	uint64_t from, to, drop;
	size_t off = 0, end;
	uint8_t *pd;

	if (n < L->acked) {
		*why = "ACK went back";
		return -1;
	}
	from = L->acked > L->synth ? L->acked - L->synth : 0;
	to = n > L->synth ? n - L->synth : 0;
	L->acked = n;
	if (to <= from)
		return 0;
	drop = to - from;
	if (drop > L->pend_msgs) {
		*why = "ACK beyond what was sent";
		return -1;
	}
	pd = buffer_head(L->pend);
	for (uint64_t i = 0; i < drop; i++) {
		end = off + msg_size(pd + off);
		if (end > L->wpos) {
			*why = "ACK beyond what was sent";
			return -1;
		}
		if (pd[off + 3] == LINK_OPEN) {
			struct bconn *b = id_find(L, linkproto_get64(pd + off + 8));
			if (b != NULL)
				b->announced = 1;
		}
		off = end;
	}
	L->pend_msgs -= (size_t)drop;
	L->wpos -= off;
	if (L->wpart_end != 0)
		L->wpart_end -= off;
	/* keep the memory of a buffer that empties every round */
	if (off == buffer_len(L->pend))
		buffer_clear(L->pend);
	else
		buffer_consume(&L->pend, off);
	stats_set(&L->st->bytes_pending, buffer_len(L->pend));
	return 0;
}

/* PUBLISH: one copy to every subscribed client of this link */
static void
publish(struct blink *L, const uint8_t *topic, size_t tlen, const uint8_t *msg, size_t len)
{
	struct topic *t = topic_find(L, topic, tlen);

	if (t == NULL)
		return;
	for (struct sub *s = t->subs; s != NULL; s = s->tnext) {
		struct conn *prev = conn_defer_begin(s->b->c);

		conn_send(s->b->c, msg, len);
		conn_defer_end(s->b->c, prev);
		push_queue(L, s->b);
	}
}

/*
 * The link admits max_frame + 256 payload bytes (a PUBLISH's topic on top
 * of a message); a SEND or PUBLISH message beyond max_frame would reach the
 * client as a frame its own limit refuses.  Dropped, not the link: the
 * application would resend it on the next session and the link would flap.
 */
static void
oversize(struct blink *L, const char *what)
{
	if (L->oversize_dropped++ == 0)
		log_warnx("backend %s: a %s message larger than max_frame (%llu) is dropped",
		    L->conf->name, what, (unsigned long long)L->bl->cfg->max_frame);
}

/* one command for a client; the payload's shape was checked */
static void
client_command(struct blink *L, struct bconn *b, const struct link_msg *m)
{
	struct conn *prev;

	switch (m->type) {
	case LINK_SEND:
		if (m->seq <= b->send_seq)
			return;		/* a duplicate of one applied */
		if (m->len > L->bl->cfg->max_frame) {
			oversize(L, "SEND");
			return;
		}
		b->send_seq = m->seq;
		prev = conn_defer_begin(b->c);
		conn_send(b->c, m->payload, m->len);
		conn_defer_end(b->c, prev);
		push_queue(L, b);
		break;
	case LINK_CMD_CLOSE:
		prev = conn_defer_begin(b->c);
		if (m->len == 0)
			conn_close_with(b->c, CLOSE_BACKEND, 0, NULL, 0);
		else	/* the ERROR frame within max_frame (which may be under 2): its text cut if need be */
			conn_close_with(b->c, CLOSE_BACKEND, linkproto_get16(m->payload),
			    (const char *)m->payload + 2, m->len <= L->bl->cfg->max_frame ?
			    m->len - 2U : L->bl->cfg->max_frame > 2 ? L->bl->cfg->max_frame - 2 : 0);
		conn_defer_end(b->c, prev);
		push_queue(L, b);
		break;
	case LINK_SUB:
		switch (subscribe(L, b, m->payload, m->len)) {
		case -1:
			log_warnx("backend %s: out of memory for a subscription", L->conf->name);
			return;
		case -2:
			if (L->subs_refused++ == 0)
				log_warnx("backend %s: a client is in %d topics already: "
				    "further SUBs are dropped", L->conf->name, SUBS_PER_CONN);
			return;
		}
		break;
	case LINK_UNSUB:
		unsubscribe(L, b, m->payload, m->len);
		break;
	}
	stats_add(&L->st->commands_applied, 1);
}

/* one message from the application; -1 (with *why) drops the link */
static int
link_command(struct blink *L, const struct link_msg *m, const char **why)
{
	static char whybuf[64];
	struct bconn *b;

	switch (m->type) {
	case LINK_SEND:
	case LINK_CMD_CLOSE:
	case LINK_SUB:
	case LINK_UNSUB:
		if (m->id == 0) {
			*why = "a client command for connection id 0";
			return -1;
		}
		if (m->type == LINK_CMD_CLOSE && m->len == 1) {
			*why = "CLOSE with a 1-byte payload";
			return -1;
		}
		if ((m->type == LINK_SUB || m->type == LINK_UNSUB) &&
		    (m->len < 1 || m->len > LINK_TOPIC_MAX)) {
			*why = "topic not 1..255 bytes";
			return -1;
		}
		L->rx_count++;
		if ((b = id_find(L, m->id)) == NULL) {
			/*
			 * Not ours (any more): the application learns it, kept for
			 * replay like events -- but only within max_pending.  Each
			 * command would otherwise buy 20 bytes of worker memory for
			 * an application that sends to made-up ids and never ACKs
			 * (pausing the clients bounds the other events, not these);
			 * a GONE is a hint, the application has the CLOSE anyway.
			 */
			if (buffer_len(L->pend) >= L->conf->max_pending) {
				if (L->gone_skipped++ == 0)
					log_warnx("backend %s: over max_pending: GONE answers "
					    "are not kept this session", L->conf->name);
				return 0;
			}
			if (event(L, LINK_GONE, m->id, m->seq, NULL, 0, NULL, 0) == -1)
				log_warnx("backend %s: out of memory for a GONE", L->conf->name);
			return 0;
		}
		client_command(L, b, m);
		return 0;
	case LINK_PUBLISH:
		if (m->id != 0 || m->len < 1 || m->payload[0] < 1 ||
		    (size_t)m->payload[0] + 1 > m->len) {
			*why = "malformed PUBLISH";
			return -1;
		}
		if (m->len - 1 - m->payload[0] > L->bl->cfg->max_frame) {
			oversize(L, "PUBLISH");
			return 0;
		}
		publish(L, m->payload + 1, m->payload[0], m->payload + 1 + m->payload[0],
		    m->len - 1 - m->payload[0]);
		stats_add(&L->st->commands_applied, 1);
		return 0;
	case LINK_CMD_ACK:
		if (m->id != 0 || m->len != 8) {
			*why = "malformed ACK";
			return -1;
		}
		return link_ack(L, linkproto_get64(m->payload), why);
	case LINK_PING:
		if (m->id != 0) {
			*why = "PING with a connection id";
			return -1;
		}
		control_pong(L, m->seq, m->payload, m->len);
		return 0;
	case LINK_PONG:
		if (m->id != 0) {
			*why = "PONG with a connection id";
			return -1;
		}
		return 0;
	default:
		snprintf(whybuf, sizeof(whybuf), "unexpected message type %u", m->type);
		*why = whybuf;
		return -1;
	}
}

/* one read: every complete command in it, then the touched clients' output */
static void
link_read(struct blink *L)
{
	size_t have = buffer_len(L->in), want = READ_CHUNK, off = 0;
	const char *why = NULL;
	struct link_msg m;
	ssize_t n;

	if (have >= 8) {
		/*
		 * Room for more of a large message, but only as much again as
		 * has arrived: memory follows the bytes sent, never the length
		 * declared (an application that declares max_payload and stalls
		 * holds READ_CHUNK, not max_payload, until link_timeout).  The
		 * buffer still doubles per read, so a large message costs O(1)
		 * copies per byte.
		 */
		size_t need = LINK_HDR_LEN + (size_t)linkproto_get32(buffer_head(L->in) + 4);
		size_t grow = have > READ_CHUNK ? have : READ_CHUNK;
		if (need > have)
			want = need - have < grow ? need - have : grow;
		if (want < READ_CHUNK)
			want = READ_CHUNK;
	}
	if (buffer_reserve(&L->in, want) == NULL) {
		link_drop(L, "out of memory for its input");
		return;
	}
	do
		n = read(L->fd, buffer_tail(L->in), buffer_space(L->in));
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		link_drop(L, "end of file from the backend");
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN)
			link_drop(L, "read: %s", strerror(errno));
		return;
	}
	buffer_commit(L->in, (size_t)n);
	L->last_rx = L->bl->now;
	for (;;) {
		enum link_status st = linkproto_decode(buffer_head(L->in) + off,
		    buffer_len(L->in) - off, L->bl->max_payload, &m, &why);

		if (st == LINK_NEED_MORE)
			break;
		if (st == LINK_BAD || link_command(L, &m, &why) == -1) {
			push_flush(L);
			link_drop(L, "bad message from the backend: %s", why);
			return;
		}
		off += m.consumed;
		if (L->state != LS_UP)
			break;	/* dropped meanwhile (out of memory) */
	}
	push_flush(L);
	if (L->state != LS_UP)
		return;
	if (off == buffer_len(L->in))
		buffer_clear(L->in);
	else
		buffer_consume(&L->in, off);
}

static void
link_cb(struct evloop *loop, int fd, int mask, void *data)
{
	struct blink *L = data;
	int err = 0;
	socklen_t el = sizeof(err);

	(void)loop;
	(void)fd;
	/* the round's clock is from before the sleep: last_rx must not look older than it is */
	L->bl->now = L->bl->clock();
	if (L->state == LS_CONNECTING) {
		if (getsockopt(L->fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			err = errno;
		if (err != 0)
			link_drop(L, "%s", strerror(err));
		else
			link_session(L);
		return;
	}
	if (L->state != LS_UP)
		return;
	if (mask & EV_WRITE) {
		if (link_write(L) == -1) {
			link_drop(L, "write: %s", strerror(errno));
			return;
		}
		if (!L->ready && L->hello_left == 0)
			link_ready(L);
		link_watch(L);
	}
	if ((mask & (EV_READ | EV_ERROR)) && L->state == LS_UP)
		link_read(L);
}

/* ---- the round ---- */

static void
due_min(int64_t *timeout, uint64_t now, uint64_t at)
{
	int64_t d = at > now ? (int64_t)(at - now) : 0;

	if (d < *timeout)
		*timeout = d;
}

static void
link_round(struct blink *L, uint64_t now, int64_t *timeout)
{
	uint32_t lt = L->conf->link_timeout_ms, ping = lt / 3 ? lt / 3 : 1;
	int want_pause;

	if (L->state == LS_DOWN && now >= L->retry_at)
		link_connect(L);
	if (L->state == LS_CONNECTING && now - L->connect_at >= lt)
		link_drop(L, "connect timed out after %g s", lt / 1000.0);
	if (L->state == LS_UP) {
		if (now - L->last_rx >= lt) {
			link_drop(L, "no byte from the backend for %g s", lt / 1000.0);
		} else {
			if (now - L->last_rx >= ping && now - L->last_ping >= ping) {
				control(L, LINK_PING, 0, 0, NULL, 0);
				L->last_ping = now;
			}
			/* one ACK per round, when the count moved */
			if (L->rx_count != L->rx_acked && L->state == LS_UP) {
				control_ack(L, L->rx_count);
				L->rx_acked = L->rx_count;
			}
		}
	}
	if (L->state == LS_UP) {
		if (link_write(L) == -1) {
			link_drop(L, "write: %s", strerror(errno));
		} else {
			if (!L->ready && L->hello_left == 0)
				link_ready(L);
			link_watch(L);
		}
	}
	/*
	 * Resume only at half the bound, as conn.c does under max_output: an
	 * application acknowledging in small steps must not make every round
	 * pause and resume every client (an epoll_ctl each).
	 */
	if (L->refusing && buffer_len(L->pend) <= L->conf->max_pending) {
		L->refusing = 0;
		log_info("backend %s: events back under max_pending: accepting new clients",
		    L->conf->name);
	}
	want_pause = !L->ready || buffer_len(L->pend) >
	    (L->paused ? L->conf->max_pending / 2 : L->conf->max_pending);
	if (want_pause != L->paused)
		link_set_paused(L, want_pause);
	else if (L->paused)
		stats_set(&L->st->clients_paused, L->nids);
	switch (L->state) {
	case LS_DOWN:
		due_min(timeout, now, L->retry_at);
		break;
	case LS_CONNECTING:
		due_min(timeout, now, L->connect_at + lt);
		break;
	case LS_UP:
		due_min(timeout, now, L->last_rx + lt);
		due_min(timeout, now, (L->last_ping > L->last_rx ? L->last_ping : L->last_rx) + ping);
		break;
	}
}

void
backend_round(struct backend_links *bl, uint64_t now_ms, int64_t *timeout_ms)
{
	if (bl == NULL)
		return;
	bl->now = now_ms;
	for (size_t i = 0; i < bl->n; i++)
		link_round(bl->links[i], now_ms, timeout_ms);
}

/* ---- the handler ---- */

static int
bh_open(struct conn *c)
{
	struct blink *L = conn_handler_ctx(c);
	struct backend_links *bl = L->bl;
	struct bconn *b;
	uint64_t id;

	/*
	 * The hard ceiling: every accepted client adds an OPEN and, when it
	 * goes, a CLOSE that wait in pend for the application's ACK.  Held
	 * (on_down hold, or an application that does not ACK) while clients
	 * come and go, they would grow pend without bound although every
	 * client is paused; past twice max_pending new clients are refused
	 * as if the link were down under on_down refuse.  pend is then at
	 * most 2 * max_pending plus one OPEN, CLOSE and read per client held.
	 */
	if (buffer_len(L->pend) > 2 * L->conf->max_pending) {
		if (!L->refusing) {
			L->refusing = 1;
			log_warnx("backend %s: %zu bytes of events unacknowledged (over twice "
			    "max_pending): refusing new clients", L->conf->name, buffer_len(L->pend));
		}
		conn_close_with(c, CLOSE_BACKEND, PERR_BACKEND_UNAVAILABLE, UNAVAILABLE_TEXT,
		    strlen(UNAVAILABLE_TEXT));
		return 0;
	}
	if (!L->ready && L->conf->on_down != ON_DOWN_HOLD) {
		/* refused: never announced, no id */
		conn_close_with(c, CLOSE_BACKEND, PERR_BACKEND_UNAVAILABLE, UNAVAILABLE_TEXT,
		    strlen(UNAVAILABLE_TEXT));
		return 0;
	}
	if ((id = connid_next(&bl->ids)) == 0) {
		if (bl->ids_out_logged++ == 0)
			log_warnx("worker %d: connection ids of this stats slot are spent; "
			    "refusing backend clients", bl->slot);
		return -1;
	}
	if (push_room(L) == -1 || (b = alloc_calloc(1, sizeof(*b))) == NULL)
		return -1;
	b->id = id;
	b->c = c;
	conn_set_udata(c, b);
	if (event_open(L, b) == -1) {
		free(b);
		conn_set_udata(c, NULL);
		return -1;
	}
	id_insert(L, b);
	if (L->paused)
		conn_hold_input(c, 1);
	return 0;
}

static void
bh_message(struct conn *c, const uint8_t *data, size_t len)
{
	struct bconn *b = conn_udata(c);
	struct blink *L = conn_handler_ctx(c);

	if (b == NULL)
		return;
	b->msg_seq++;
	if (event(L, LINK_MSG, b->id, b->msg_seq, data, len, NULL, 0) == -1)
		conn_close(c, CLOSE_ERROR);	/* its message would be lost */
}

static void
bh_close(struct conn *c, enum close_reason r)
{
	struct bconn *b = conn_udata(c);
	struct blink *L = conn_handler_ctx(c);
	uint8_t code[2];
	const char *name = reason_name(r);

	if (b == NULL)
		return;
	linkproto_put16(code, b->err_code);
	if (event(L, LINK_CLOSE, b->id, 0, code, 2, name, strlen(name)) == -1)
		log_warnx("backend %s: out of memory: the CLOSE of a client is lost", L->conf->name);
	unsubscribe_all(L, b);
	id_remove(L, b);
	if (L->paused)
		stats_set(&L->st->clients_paused, L->nids);
	free(b);
	conn_set_udata(c, NULL);
}

static void
bh_error_sent(struct conn *c, uint16_t code)
{
	struct bconn *b = conn_udata(c);

	if (b != NULL && b->err_code == 0)
		b->err_code = code;	/* the first: what ends it */
}

static const struct handler the_handler = {
	.name = "backend",
	.open = bh_open,
	.message = bh_message,
	.close = bh_close,
	.error_sent = bh_error_sent,
};

const struct handler *
backend_handler(void)
{
	return &the_handler;
}

/* ---- life ---- */

static struct blink *
link_create(struct backend_links *bl, const struct backend_conf *bc, struct stats_link *st)
{
	struct blink *L = alloc_calloc(1, sizeof(*L));

	if (L == NULL)
		return NULL;
	L->bl = bl;
	L->conf = bc;
	L->st = st;
	L->fd = -1;
	L->state = LS_DOWN;
	L->backoff_ms = bc->reconnect_min_ms;
	L->retry_at = 0;	/* connect in the first round */
	L->paused = 1;		/* down until HELLO is written */
	L->id_buckets = ID_BUCKETS_MIN;
	L->ids = alloc_calloc(L->id_buckets, sizeof(*L->ids));
	L->topic_buckets = TOPIC_BUCKETS_MIN;
	L->topics = alloc_calloc(L->topic_buckets, sizeof(*L->topics));
	/* without the entropy pool (early boot), still a key the application cannot read */
	if (getrandom(L->tkey, sizeof(L->tkey), GRND_NONBLOCK) != (ssize_t)sizeof(L->tkey)) {
		L->tkey[0] = bl->now ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)L;
		L->tkey[1] = clock_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)bc;
	}
	if (L->ids == NULL || L->topics == NULL) {
		free(L->ids);
		free(L->topics);
		free(L);
		return NULL;
	}
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", bc->name);
	return L;
}

struct backend_links *
backend_links_create(const struct backend_params *p)
{
	const struct config *cfg = p->cfg;
	struct backend_links *bl = alloc_calloc(1, sizeof(*bl));

	if (bl == NULL)
		return NULL;
	bl->cfg = cfg;
	bl->loop = p->loop;
	bl->stats = p->stats;
	bl->slot = p->slot;
	bl->master_pid = p->master_pid;
	bl->master_started = p->master_started;
	bl->now = p->now_ms;
	bl->clock = p->clock != NULL ? p->clock : clock_now_ms;
	/* the largest command: a PUBLISH of a max_frame message */
	bl->max_payload = (uint32_t)(cfg->max_frame + 1 + LINK_TOPIC_MAX);
	connid_init(&bl->ids, cfg->node_id, (uint32_t)p->phys, p->id_start, p->id_reserved);
	for (size_t l = 0; l < cfg->nlisteners; l++) {
		int i = cfg->listeners[l].backend;

		if (i < 0 || bl->by_conf[i] != NULL)
			continue;
		bl->by_conf[i] = link_create(bl, &cfg->backends[i], &p->stats->links[bl->n]);
		if (bl->by_conf[i] == NULL) {
			backend_links_free(bl);
			return NULL;
		}
		bl->links[bl->n++] = bl->by_conf[i];
	}
	__atomic_store_n(&p->stats->nlinks, (uint32_t)bl->n, __ATOMIC_RELAXED);
	return bl;
}

size_t
backend_link_footprint(const struct backend_links *bl, size_t i)
{
	const struct blink *L = bl->links[i];

	return buffer_footprint(L->in) + buffer_footprint(L->ctl) + buffer_footprint(L->pend);
}

void *
backend_listener_ctx(struct backend_links *bl, const struct listener_conf *lc)
{
	return lc->backend < 0 ? NULL : bl->by_conf[lc->backend];
}

void
backend_links_free(struct backend_links *bl)
{
	if (bl == NULL)
		return;
	for (size_t i = 0; i < bl->n; i++) {
		struct blink *L = bl->links[i];

		/* the CLOSEs of the exit, best effort: the application learns more from the EOF */
		if (L->state == LS_UP)
			(void)link_write(L);
		if (L->fd != -1) {
			evloop_del(bl->loop, L->fd);
			close(L->fd);
		}
		for (size_t t = 0; t < L->topic_buckets; t++) {
			while (L->topics[t] != NULL) {
				struct topic *tp = L->topics[t];
				L->topics[t] = tp->hnext;
				while (tp->subs != NULL) {
					struct sub *s = tp->subs;
					tp->subs = s->tnext;
					free(s);
				}
				free(tp);
			}
		}
		buffer_free(&L->ctl);
		buffer_free(&L->pend);
		buffer_free(&L->in);
		free(L->ids);
		free(L->topics);
		free(L->push);
		free(L);
	}
	free(bl);
}
