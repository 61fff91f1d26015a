"""sockserv_backend: write the application behind sockserv in Python.

sockserv holds the client sockets, their timeouts and supervision; every
event of every connection comes to the application over the backend link
(sockserv-backend(7)) and the application answers with commands addressed by
connection id.  This module is that application's side of the link, with the
standard library only (asyncio):

    import asyncio, sockserv_backend

    class Upper(sockserv_backend.Backend):
        def on_message(self, conn, data):
            conn.send(data.upper(), seq=conn.seq)   # a reply reusing its request's seq

    asyncio.run(Upper("unix:/tmp/app.sock").serve_forever())

The application listens; each sockserv worker connects one link and keeps it.
Any number of links is accepted (several workers, several sockserv nodes).
The module does the bookkeeping that makes "nothing lost" work:

- it acknowledges (ACK) the events it has processed, a few ms after each batch;
- it keeps every command with a connection id until sockserv acknowledges it,
  and resends the unacknowledged ones, in order, when the same worker (same
  node, slot and pid, see HELLO) connects again;
- it drops events sockserv replays after a link restart that the application
  has already seen (MSG by connection id and seq, OPEN of a known connection,
  anything about a connection already closed);
- it notices a worker that died (its link ended and a new pid took its slot,
  or a new master of the same node said HELLO) and closes its connections with
  reason "error";
- it answers PING, pings an idle link and drops one silent too long;
- it treats every byte from a link as hostile: a malformed message drops that
  link with a logged reason, never the application.

Callbacks (override them in a subclass or pass them to the constructor; plain
functions and coroutines are both accepted):

    on_open(conn)             a connection was accepted (or first heard of)
    on_message(conn, data)    one client message, bytes; conn.seq is its seq
    on_close(conn, reason)    it ended: sockserv's reason name ("peer",
                              "heartbeat", ..., "backend" after close()),
                              "error" when its worker died, "gone" when
                              sockserv answered GONE, "lost" when its worker
                              stayed away longer than worker_timeout

The events of one link are handled one at a time, in order: a coroutine
callback that awaits holds back that link's next event (not the other links'),
and an event counts as processed for the ACK when its callback has returned.
Meanwhile the link is still read (up to max_queued bytes ahead) and its PINGs
answered, so a slow callback does not make sockserv drop the link.
"""

import asyncio
import collections
import inspect
import logging
import os
import re
import stat
import struct
import time

__all__ = ["Backend", "Conn", "Link", "ProtocolError", "Decoder", "encode", "Message"]

MAGIC = b"SB"
VERSION = 1
HEADER = struct.Struct(">2sBBIQI")      # magic, version, type, length, id, seq
HEADER_LEN = HEADER.size                 # 20
U64 = struct.Struct(">Q")
U16 = struct.Struct(">H")

# sockserv -> application
HELLO, OPEN, MSG, CLOSE, GONE, ACK, PING, PONG = 1, 2, 3, 4, 5, 6, 7, 8
# application -> sockserv
SEND, CMD_CLOSE, SUB, UNSUB, PUBLISH, CMD_ACK = 16, 17, 18, 19, 20, 21

OPEN_RESENT = 0x01          # OPEN flag: announced on an earlier link session
TOPIC_MAX = 255
SEQ_MAX = 0xFFFFFFFF
PAYLOAD_MAX = 0xFFFFFFFF    # what the u32 length field can say
HELLO_KEYS = ("protocol", "node", "worker", "pid", "master_pid", "started", "version")

log = logging.getLogger("sockserv_backend")

Message = collections.namedtuple("Message", "type id seq payload")


class ProtocolError(Exception):
    """The peer broke the link protocol; the link is dropped."""


def encode(type, id=0, seq=0, payload=b""):
    """One link message: the 20-byte header and the payload."""
    return HEADER.pack(MAGIC, VERSION, type, len(payload), id, seq) + bytes(payload)


class Decoder:
    """Splits a byte stream into messages.

    Memory follows bytes that arrived, never a declared length: a payload
    longer than max_payload is refused as soon as its header shows it, and
    the buffer only ever holds what the peer really sent.
    """

    def __init__(self, max_payload):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.error = None       # set once: the stream is broken from there on

    def feed(self, data):
        """Append data; return the complete messages before any error.

        A broken stream sets self.error (the reason) and returns the messages
        that came whole before it, so the caller can process them and then
        drop the link.
        """
        if self.error is not None:
            return []
        self.buf += data
        out = []
        buf = self.buf
        off = 0
        while True:
            avail = len(buf) - off
            # judge each header byte as soon as it is there, as linkproto.c
            # does: a peer speaking another protocol is dropped at once
            if (avail > 0 and buf[off] != MAGIC[0]) or (avail > 1 and buf[off + 1] != MAGIC[1]):
                self.error = "bad magic"
                break
            if avail > 2 and buf[off + 2] != VERSION:
                self.error = "unsupported version %d" % buf[off + 2]
                break
            if avail < 8:
                break
            length = int.from_bytes(buf[off + 4:off + 8], "big")
            if length > self.max_payload:
                self.error = "message too large (%d bytes, at most %d)" % (length, self.max_payload)
                break
            if avail < HEADER_LEN + length:
                break
            _, _, type_, _, id_, seq = HEADER.unpack_from(buf, off)
            start = off + HEADER_LEN
            out.append(Message(type_, id_, seq, bytes(buf[start:start + length])))
            off = start + length
        del buf[:off]
        if self.error is not None:
            self.buf = bytearray()
        return out


def _as_bytes(data, what):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("%s must be bytes or str, not %s" % (what, type(data).__name__))


def _topic(topic):
    t = _as_bytes(topic, "topic")
    if not 1 <= len(t) <= TOPIC_MAX:
        raise ValueError("a topic is 1 to %d bytes (got %d)" % (TOPIC_MAX, len(t)))
    return t


async def _call(cb, *args):
    """Run a callback, plain or coroutine.

    An exception in the application's code is logged and the event still
    counts as processed: replaying it after a restart would only fail again.
    """
    if cb is None:
        return
    try:
        r = cb(*args)
        if inspect.isawaitable(r):
            await r
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("callback %s raised", getattr(cb, "__name__", cb))


class Conn:
    """One client connection of sockserv, as the application sees it.

    id        the connection id (u64, unique per node for the master's life)
    node      the top 16 bits of id: which sockserv announced it
    listener  the listener's name; None when the connection was first heard
              of by a replayed MSG or CLOSE after the application restarted:
              sockserv no longer holds it, and its CLOSE follows
    peer      the client's "ADDR:PORT" (None as for listener)
    reopened  True when sockserv announced it as known to an earlier link
              session and this application had not seen it (it restarted)
    seq       seq of the last message delivered to on_message: pass it to
              send() to make the reply exactly-once across restarts
    link      the Link it currently belongs to (None while that is down)
    closed    True once on_close has been called; close_code the ERROR code
              sockserv sent the client (CLOSE event), None if not known

    Applications may set their own attributes on it.
    """

    def __init__(self, backend, worker, id, listener, peer, reopened):
        self.backend = backend
        self.worker = worker
        self.id = id
        self.node = id >> 48
        self.listener = listener
        self.peer = peer
        self.reopened = reopened
        self.seq = 0            # last MSG seq delivered
        self.send_seq = 0       # last SEND seq used or known applied
        self.closed = False
        self.close_code = None

    @property
    def link(self):
        return self.worker.link

    def send(self, data, seq=None):
        return self.backend.send(self.id, data, seq)

    def close(self, code=None, text=None):
        return self.backend.close(self.id, code, text)

    def subscribe(self, topic):
        return self.backend.subscribe(self.id, topic)

    def unsubscribe(self, topic):
        return self.backend.unsubscribe(self.id, topic)

    def __repr__(self):
        return "<Conn %#x node %d %s %s>" % (self.id, self.node, self.listener, self.peer)


class Worker:
    """What the application knows of one sockserv worker process.

    It outlives a link: when the same worker (node, slot, pid, and master)
    connects again, its connections and its unacknowledged commands carry
    over to the new link.
    """

    def __init__(self, node, slot, pid, master):
        self.node = node
        self.slot = slot
        self.pid = pid
        self.master = master            # (master_pid, started)
        self.link = None                # the Link up now, or None
        self.conns = {}                 # id -> Conn
        self.unacked = collections.deque()  # commands written, not yet acknowledged
        self.backlog = []               # (frame, counted) queued while the link is down
        self.lost_timer = None

    def queue(self, frame, counted):
        """Write a command now, or keep it for the next link of this worker.

        counted: it has a connection id, so sockserv's ACK covers it and it
        is kept until then.  PUBLISH (id 0) is not covered by any ACK: it is
        written once and never resent.
        """
        link = self.link
        if link is None:
            self.backlog.append((frame, counted))
            return
        link.write(frame)
        if counted:
            self.unacked.append(frame)
            link.written += 1

    def __repr__(self):
        return "node %d worker %d pid %d" % (self.node, self.slot, self.pid)


class Link:
    """One link: one TCP or unix connection from one sockserv worker.

    hello is the HELLO's key=value dict; node, worker (slot), pid,
    master_pid, started and version are its fields (None before HELLO).
    Counters are per link session: processed is what this side's ACK says,
    written / acked the commands with an id sent and acknowledged.
    """

    def __init__(self, backend, reader, writer):
        self.backend = backend
        self.reader = reader
        self.writer = writer
        self.peername = writer.get_extra_info("peername")
        self.decoder = Decoder(backend.max_payload)
        self.hello = None
        self.node = self.worker = self.pid = self.master_pid = self.started = self.version = None
        self.state = None               # the Worker, after HELLO
        self.processed = 0
        self.ack_sent = 0
        self.written = 0
        self.acked = 0
        self.closed = False
        self.reason = None
        now = time.monotonic()
        self.rx_since = now             # last data, or when we started waiting for it
        self.reading = False
        self.last_ping = now
        self.last_ack = 0.0
        self.ack_timer = None
        self.watchdog = None
        self.processor = None
        self.hello_seen = False         # the reader's view: HELLO was read
        self.queue = collections.deque()    # read, not yet processed
        self.queued = 0                 # their bytes
        self.batch_start = 0.0          # when the queue last became non-empty
        self.wake = asyncio.Event()     # the reader queued something
        self.room = asyncio.Event()     # the processor took something

    def write(self, frame):
        if not self.closed:
            self.writer.write(frame)

    def drop(self, reason):
        """End the link (hostile input, silence, a newer link of its worker)."""
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        self.wake.set()         # let the processor see it and end
        self.room.set()
        # abort, not close: nothing more this peer sends or is owed matters
        self.writer.transport.abort()

    def __repr__(self):
        if self.hello is None:
            return "link %s (before HELLO)" % (self.peername,)
        return "link node %d worker %d pid %d" % (self.node, self.worker, self.pid)


def _parse_hello(payload):
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("HELLO is not UTF-8")
    kv = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, eq, value = line.partition("=")
        if not eq or not key:
            raise ProtocolError("HELLO line without key=value: %r" % line[:80])
        if key in kv:
            raise ProtocolError("HELLO repeats %r" % key)
        kv[key] = value
    for key in HELLO_KEYS:
        if key not in kv:
            raise ProtocolError("HELLO without %r" % key)
    if kv["protocol"] != "1":
        raise ProtocolError("HELLO protocol %r, this library speaks 1" % kv["protocol"][:20])
    nums = {}
    for key, top in (("node", 0xFFFF), ("worker", 0xFFFF), ("pid", 2 ** 31 - 1),
                     ("master_pid", 2 ** 31 - 1), ("started", 2 ** 63 - 1)):
        if not re.fullmatch(r"[0-9]{1,19}", kv[key]) or int(kv[key]) > top:
            raise ProtocolError("HELLO %s=%r is not a number in 0..%d" % (key, kv[key][:20], top))
        nums[key] = int(kv[key])
    return kv, nums


class Backend:
    """The application's end of sockserv's backend links.

    address: "unix:/PATH", "HOST:PORT" or "[IPV6]:PORT" to listen on.
    ping_interval: a link silent this long (seconds) is pinged.
    link_timeout: a link silent this long is dropped (its worker reconnects);
        keep it above sockserv's link_timeout/3, the worker's own ping period.
    ack_interval: the least time between two ACKs of one link.
    max_payload: the largest message accepted from a link.
    max_queued: bytes of a link's events read ahead of the callbacks; past
        it the link is not read until they catch up.
    worker_timeout: a worker whose link stays down this long is given up:
        its connections are closed with reason "lost" (None: never).
    """

    closed_memory = 65536      # closed ids remembered to drop their replayed events

    def __init__(self, address, on_open=None, on_message=None, on_close=None, *,
                 ping_interval=5.0, link_timeout=15.0, ack_interval=0.005,
                 max_payload=16 << 20, max_queued=1 << 20, worker_timeout=300.0):
        self.address = address
        if on_open is not None:
            self.on_open = on_open
        if on_message is not None:
            self.on_message = on_message
        if on_close is not None:
            self.on_close = on_close
        self.ping_interval = ping_interval
        self.link_timeout = link_timeout
        self.ack_interval = ack_interval
        self.max_payload = max_payload
        self.max_queued = max_queued
        self.worker_timeout = worker_timeout
        self.conns = {}                 # id -> Conn, every open connection
        self.links = set()              # every connected link, before HELLO too
        self._workers = {}              # (node, slot, pid) -> Worker
        self._masters = {}              # node -> (master_pid, started) of the latest HELLO
        self._closed = collections.OrderedDict()    # ids closed, oldest first
        self._server = None
        self._tasks = set()
        self._stopping = False

    # -- callbacks: override ------------------------------------------------

    def on_open(self, conn):
        pass

    def on_message(self, conn, data):
        pass

    def on_close(self, conn, reason):
        pass

    # -- running --------------------------------------------------------------

    async def start(self):
        """Listen; links are served from then on.  Returns self."""
        self._stopping = False
        a = self.address
        if a.startswith("unix:"):
            path = a[5:]
            # a socket file left by an earlier run would make bind fail;
            # anything else at that path is not ours to remove
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
            except FileNotFoundError:
                pass
            self._server = await asyncio.start_unix_server(self._serve_link, path)
        else:
            host, sep, port = a.rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError("address %r is not unix:/PATH, HOST:PORT or [IPV6]:PORT" % a)
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            self._server = await asyncio.start_server(self._serve_link, host, int(port),
                                                      reuse_address=True)
        log.info("listening on %s", a)
        return self

    async def serve_forever(self):
        """Listen and serve until cancelled."""
        if self._server is None:
            await self.start()
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    async def stop(self):
        """Stop listening and drop every link."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self.links):
            link.drop("stopping")
        for w in self._workers.values():
            if w.lost_timer is not None:
                w.lost_timer.cancel()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    def port(self):
        """The TCP port listened on (useful with port 0), or None."""
        if self._server is None:
            return None
        for s in self._server.sockets:
            addr = s.getsockname()
            if isinstance(addr, tuple):
                return addr[1]
        return None

    # -- commands ---------------------------------------------------------------

    def _route(self, id):
        conn = self.conns.get(id)
        if conn is None:
            log.debug("command for unknown connection %#x not sent", id)
        return conn

    def send(self, id, data, seq=None):
        """Send data to connection id as one message.

        seq defaults to the connection's next number.  Passing the seq of
        the request being answered (conn.seq in on_message) makes the reply
        exactly-once across application restarts; use one way of numbering
        per connection.  Returns the seq used, or None when nothing was sent:
        the connection is unknown (closed), or seq is not above the last one
        used or applied, which sockserv would drop as a duplicate.
        """
        data = _as_bytes(data, "data")
        if len(data) > PAYLOAD_MAX:
            raise ValueError("message too large")
        conn = self._route(id)
        if conn is None:
            return None
        if seq is None:
            seq = conn.send_seq + 1
        elif not isinstance(seq, int) or seq < 1:
            raise ValueError("seq must be an integer of at least 1")
        elif seq <= conn.send_seq:
            log.debug("SEND seq %d to %#x not above %d: a duplicate, dropped", seq, id, conn.send_seq)
            return None
        if seq > SEQ_MAX:
            raise OverflowError("seq above 2**32-1 on connection %#x" % id)
        conn.send_seq = seq
        conn.worker.queue(encode(SEND, id, seq, data), True)
        return seq

    def close(self, id, code=None, text=None):
        """Close connection id: gracefully (code None), or after an ERROR
        frame with code and text (frame clients).  on_close follows with
        reason "backend".  Returns False if the connection is unknown."""
        if code is None:
            if text is not None:
                raise ValueError("text needs a code")
            payload = b""
        else:
            if not isinstance(code, int) or not 0 <= code <= 0xFFFF:
                raise ValueError("code must be in 0..65535")
            payload = U16.pack(code) + (_as_bytes(text, "text") if text is not None else b"")
        conn = self._route(id)
        if conn is None:
            return False
        conn.worker.queue(encode(CMD_CLOSE, id, 0, payload), True)
        return True

    def subscribe(self, id, topic):
        """Subscribe connection id to topic (1..255 bytes, str or bytes)."""
        return self._sub(SUB, id, topic)

    def unsubscribe(self, id, topic):
        return self._sub(UNSUB, id, topic)

    def _sub(self, type_, id, topic):
        t = _topic(topic)
        conn = self._route(id)
        if conn is None:
            return False
        conn.worker.queue(encode(type_, id, 0, t), True)
        return True

    def publish(self, topic, data):
        """One copy of data to every connection subscribed to topic, on every
        worker of every node.  A worker whose link is down gets it when it
        comes back; a PUBLISH lost with a breaking link is not resent (it has
        no id for an ACK to cover).  Returns the number of workers."""
        t = _topic(topic)
        frame = encode(PUBLISH, 0, 0, bytes([len(t)]) + t + _as_bytes(data, "data"))
        n = 0
        for w in self._workers.values():
            w.queue(frame, False)
            n += 1
        return n

    # -- links ----------------------------------------------------------------

    def _spawn(self, coro):
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def _serve_link(self, reader, writer):
        """A link's reader: it answers PING at once and queues the rest for
        _process, so a slow callback does not make the link look dead to
        sockserv (it drops a link that sends nothing for link_timeout)."""
        link = Link(self, reader, writer)
        self.links.add(link)
        self._tasks.add(asyncio.current_task())
        log.info("link from %s connected", link.peername or "unix socket")
        link.watchdog = self._spawn(self._watch(link))
        link.processor = self._spawn(self._process(link))
        reason = "end of stream"
        try:
            while not link.closed:
                # events read but not yet processed are bounded: past
                # max_queued the link is not read until callbacks catch up
                while link.queued > self.max_queued and not link.closed:
                    link.room.clear()
                    await link.room.wait()
                if link.closed:
                    break
                link.rx_since = time.monotonic()
                link.reading = True
                try:
                    data = await reader.read(65536)
                finally:
                    link.reading = False
                if not data:
                    break
                link.rx_since = time.monotonic()
                for m in link.decoder.feed(data):
                    self._receive(link, m)
                link.wake.set()
                if link.decoder.error is not None:
                    raise ProtocolError(link.decoder.error)
                # a worker that does not read what we write holds up our
                # reading of its link (and so its events: sockserv's
                # max_pending then pauses its clients) instead of our
                # memory growing without bound
                await writer.drain()
        except ProtocolError as e:
            reason = str(e)
        except (ConnectionError, OSError) as e:
            reason = "error: %s" % e
        finally:
            self._tasks.discard(asyncio.current_task())
            if link.reason is not None:
                reason = link.reason
            link.drop(reason)
            # the link is down now, even if a callback of it still runs:
            # commands from then on wait for the worker's next link
            await self._link_down(link, reason)

    def _receive(self, link, m):
        """Sort one message as it is read: PING/PONG now, the rest in order."""
        if not link.hello_seen:
            if m.type != HELLO:
                raise ProtocolError("type %d before HELLO" % m.type)
            link.hello_seen = True
        elif m.type in (PING, PONG):
            if m.id != 0:
                raise ProtocolError("type %d with connection id %#x" % (m.type, m.id))
            if m.type == PING:
                # the PONG carries the PING's seq and payload back
                link.write(encode(PONG, 0, m.seq, m.payload))
            return
        if not link.queue:
            link.batch_start = time.monotonic()
        link.queue.append(m)
        link.queued += HEADER_LEN + len(m.payload)

    async def _process(self, link):
        """A link's events, one at a time, in order; ACKed once processed."""
        try:
            while True:
                while not link.queue:
                    if link.closed:
                        return
                    link.wake.clear()
                    await link.wake.wait()
                if link.closed:
                    return
                m = link.queue.popleft()
                link.queued -= HEADER_LEN + len(m.payload)
                link.room.set()
                await self._handle(link, m)
                # one ACK per batch read; a queue that never empties gets
                # one every ack_interval all the same
                if not link.queue or time.monotonic() - max(link.last_ack, link.batch_start) \
                        >= self.ack_interval:
                    self._ack_soon(link)
        except ProtocolError as e:
            link.drop(str(e))       # logged once, by the reader's _link_down

    async def _watch(self, link):
        tick = max(0.01, min(self.ping_interval, self.link_timeout) / 4)
        while not link.closed:
            await asyncio.sleep(tick)
            if not link.reading:
                continue        # callbacks are behind: the silence is ours
            now = time.monotonic()
            idle = now - link.rx_since
            if idle >= self.link_timeout:
                link.drop("silent for %.1f s" % idle)
                return
            if link.hello is not None and idle >= self.ping_interval \
                    and now - link.last_ping >= self.ping_interval:
                link.last_ping = now
                link.write(encode(PING))

    def _ack_soon(self, link):
        """ACK what was processed: now, or ack_interval after the last ACK."""
        if link.processed == link.ack_sent or link.ack_timer is not None or link.closed:
            return
        wait = link.last_ack + self.ack_interval - time.monotonic()
        if wait <= 0:
            self._ack_now(link)
        else:
            link.ack_timer = asyncio.get_running_loop().call_later(wait, self._ack_now, link)

    def _ack_now(self, link):
        link.ack_timer = None
        if link.closed or link.processed == link.ack_sent:
            return
        link.write(encode(CMD_ACK, 0, 0, U64.pack(link.processed)))
        link.ack_sent = link.processed
        link.last_ack = time.monotonic()

    async def _link_down(self, link, reason):
        self.links.discard(link)
        if link.watchdog is not None:
            link.watchdog.cancel()
        if link.ack_timer is not None:
            link.ack_timer.cancel()
        # a deliberate stop is no news; any other end of a link is
        level = logging.INFO if reason == "stopping" else logging.WARNING
        w = link.state
        if w is None or w.link is not link:
            log.log(level, "%s down: %s", link, reason)
            return
        w.link = None
        log.log(level, "%s down: %s (%d connections wait for it)", link, reason, len(w.conns))
        if self._stopping or self._workers.get((w.node, w.slot, w.pid)) is not w:
            return
        if self._masters.get(w.node) != w.master:
            # a newer master of this node has spoken: this worker died with
            # its master, and nothing will announce its connections again
            await self._worker_dead(w, "error", "its master was replaced")
        elif self.worker_timeout is not None:
            w.lost_timer = asyncio.get_running_loop().call_later(
                self.worker_timeout, lambda: self._spawn(self._worker_lost(w)))

    async def _worker_lost(self, w):
        w.lost_timer = None
        if w.link is None and self._workers.get((w.node, w.slot, w.pid)) is w:
            # no tombstones: if the worker is alive after all, its
            # connections come back as new ones rather than vanish
            await self._worker_dead(w, "lost", "no link for %.0f s" % self.worker_timeout,
                                    remember=False)

    async def _worker_dead(self, w, reason, why, remember=True):
        """Close every connection of a worker that is gone, once each."""
        if self._workers.get((w.node, w.slot, w.pid)) is w:
            del self._workers[(w.node, w.slot, w.pid)]
        if w.lost_timer is not None:
            w.lost_timer.cancel()
            w.lost_timer = None
        conns = [w.conns[i] for i in sorted(w.conns)]
        w.conns.clear()
        w.unacked.clear()
        w.backlog.clear()
        # a worker that left nothing behind (a drained one after a reload)
        # is routine; one that took connections with it is news
        log.log(logging.WARNING if conns else logging.INFO,
                "%s gone (%s): %d connections closed", w, why, len(conns))
        # state first, callbacks after: a callback that awaits lets other
        # links run, and they must already see these connections gone
        for c in conns:
            self._forget(c, remember)
        for c in conns:
            await _call(self.on_close, c, reason)

    def _forget(self, conn, remember=True):
        conn.closed = True
        if self.conns.get(conn.id) is conn:
            del self.conns[conn.id]
        conn.worker.conns.pop(conn.id, None)
        if remember:
            self._closed[conn.id] = None
            while len(self._closed) > self.closed_memory:
                self._closed.popitem(last=False)

    # -- events ---------------------------------------------------------------

    async def _handle(self, link, m):
        t = m.type
        if link.hello is None:
            if t != HELLO:
                raise ProtocolError("type %d before HELLO" % t)
            if m.id != 0:
                raise ProtocolError("HELLO with connection id %#x" % m.id)
            await self._hello(link, m.payload)
            return
        if t in (HELLO, ACK):
            if m.id != 0:
                raise ProtocolError("type %d with connection id %#x" % (t, m.id))
            if t == HELLO:
                raise ProtocolError("second HELLO on one link")
            self._acked(link, m.payload)
            return
        if t not in (OPEN, MSG, CLOSE, GONE):
            raise ProtocolError("unknown message type %d" % t)
        if m.id == 0:
            raise ProtocolError("type %d without connection id" % t)
        if m.id >> 48 != link.node:
            raise ProtocolError("connection id %#x is not of node %d" % (m.id, link.node))
        if t == OPEN:
            await self._open(link, m)
        elif t == MSG:
            await self._msg(link, m)
        elif t == CLOSE:
            await self._close(link, m)
        else:
            await self._gone(link, m)
        link.processed += 1

    async def _hello(self, link, payload):
        kv, n = _parse_hello(payload)
        link.hello = kv
        link.node, link.worker, link.pid = n["node"], n["worker"], n["pid"]
        link.master_pid, link.started, link.version = n["master_pid"], n["started"], kv["version"]
        master = (link.master_pid, link.started)
        key = (link.node, link.worker, link.pid)
        self._masters[link.node] = master
        dead = []
        w = self._workers.get(key)
        if w is not None and w.master != master:
            dead.append((w, "its pid now belongs to a worker of another master"))
            del self._workers[key]
            w = None
        if w is not None and w.link is not None:
            # the same worker again while its old link looks up: that one is
            # half-open (the worker only reconnects after losing it)
            old = w.link
            w.link = None
            old.drop("replaced by a new link of the same worker")
        if w is None:
            w = Worker(link.node, link.worker, link.pid, master)
            self._workers[key] = w
        if w.lost_timer is not None:
            w.lost_timer.cancel()
            w.lost_timer = None
        # A worker whose link ended and whose slot now has another pid died;
        # so did every worker of an earlier master of this node.  A worker
        # whose link is still up is alive: after a reload the old (draining)
        # worker and the new one share a slot.
        for o in list(self._workers.values()):
            if o is w or o.node != link.node or o.link is not None:
                continue
            if o.master != master:
                dead.append((o, "its master was replaced"))
            elif o.slot == link.worker:
                dead.append((o, "pid %d took its slot" % link.pid))
        for o, why in dead:
            self._workers.pop((o.node, o.slot, o.pid), None)
        link.state = w
        w.link = link
        link.written = link.acked = 0
        resent = len(w.unacked)
        for f in w.unacked:
            link.write(f)
        link.written = len(w.unacked)
        backlog, w.backlog = w.backlog, []
        for f, counted in backlog:
            w.queue(f, counted)
        log.info("%s up (master %d, sockserv %s): %d connections known, %d commands resent, "
                 "%d queued sent", link, link.master_pid, link.version, len(w.conns), resent,
                 len(backlog))
        for o, why in dead:
            await self._worker_dead(o, "error", why)

    def _acked(self, link, payload):
        if len(payload) != 8:
            raise ProtocolError("ACK payload of %d bytes, not 8" % len(payload))
        n = U64.unpack(payload)[0]
        if not link.acked <= n <= link.written:
            raise ProtocolError("ACK %d outside %d..%d (acknowledged..sent)" % (n, link.acked, link.written))
        unacked = link.state.unacked
        for _ in range(n - link.acked):
            unacked.popleft()
        link.acked = n

    def _claim(self, link, conn):
        """Events about a connection come from the worker that holds it:
        replies follow the link that spoke last (a connection announced
        again on a new link moves there)."""
        w = link.state
        if conn.worker is not w:
            conn.worker.conns.pop(conn.id, None)
            conn.worker = w
            w.conns[conn.id] = conn

    async def _new_conn(self, link, id, listener, peer, reopened, send_seq):
        conn = Conn(self, link.state, id, listener, peer, reopened)
        conn.send_seq = send_seq
        self.conns[id] = conn
        link.state.conns[id] = conn
        await _call(self.on_open, conn)
        return conn

    async def _open(self, link, m):
        p = m.payload
        if len(p) < 1:
            raise ProtocolError("OPEN without flags")
        flags = p[0]
        if flags & ~OPEN_RESENT:
            raise ProtocolError("OPEN flags %#x" % flags)
        listener, nul, peer = p[1:].partition(b"\0")
        if not nul:
            raise ProtocolError("OPEN without the 0x00 after the listener name")
        try:
            listener = listener.decode("utf-8")
            peer = peer.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("OPEN names are not UTF-8")
        conn = self.conns.get(m.id)
        if conn is not None:
            # announced again (a replay, or flag 1 after a link restart):
            # the application knows it, so no second on_open
            self._claim(link, conn)
            conn.listener, conn.peer = listener, peer
            conn.send_seq = max(conn.send_seq, m.seq)
            return
        if m.id in self._closed:
            return      # a replayed OPEN of a connection already closed
        await self._new_conn(link, m.id, listener, peer, bool(flags & OPEN_RESENT), m.seq)

    async def _msg(self, link, m):
        if m.seq == 0:
            raise ProtocolError("MSG with seq 0")
        conn = self.conns.get(m.id)
        if conn is None:
            if m.id in self._closed:
                return
            # replayed after this application restarted, for a connection
            # whose OPEN an earlier instance acknowledged and which sockserv
            # no longer holds (its CLOSE follows): at-least-once says deliver
            conn = await self._new_conn(link, m.id, None, None, True, 0)
        self._claim(link, conn)
        if m.seq <= conn.seq:
            log.debug("duplicate MSG %d of %#x dropped", m.seq, m.id)
            return
        conn.seq = m.seq
        await _call(self.on_message, conn, m.payload)

    async def _close(self, link, m):
        if len(m.payload) < 2:
            raise ProtocolError("CLOSE event without a code")
        try:
            reason = m.payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("CLOSE reason is not UTF-8")
        conn = self.conns.get(m.id)
        if conn is None:
            if m.id in self._closed:
                return  # a replayed CLOSE
            # replayed after this application restarted, for a connection an
            # earlier instance knew: an application that keeps state across
            # restarts (chat.py --state) must hear of its end
            conn = await self._new_conn(link, m.id, None, None, True, 0)
            if conn.closed:
                return
        conn.close_code = U16.unpack(m.payload[:2])[0]
        self._forget(conn)
        await _call(self.on_close, conn, reason)

    async def _gone(self, link, m):
        if m.payload:
            raise ProtocolError("GONE with a payload")
        conn = self.conns.get(m.id)
        # sockserv replays a session's events before it answers a resent
        # command, so a CLOSE for this connection would have come already:
        # GONE for one still open here means no CLOSE will come
        if conn is None or conn.worker is not link.state:
            return
        log.info("%#x gone (command seq %d)", m.id, m.seq)
        self._forget(conn)
        await _call(self.on_close, conn, "gone")


def main(argv=None):
    """python3 sockserv_backend.py ADDRESS: an echo backend, for trying a config."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python3 sockserv_backend.py unix:/PATH | HOST:PORT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    class Echo(Backend):
        def on_message(self, conn, data):
            conn.send(data, seq=conn.seq)

    try:
        asyncio.run(Echo(argv[0]).serve_forever())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
