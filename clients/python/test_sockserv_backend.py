"""Unit tests of sockserv_backend against a fake sockserv worker.

The fake worker below speaks the link's wire format over a real unix socket,
with bytes built by hand here (never with the library's encoder), so a test
fails if the library and sockserv-backend(7) disagree.

    python3 -m unittest -v test_sockserv_backend      (from clients/python)
"""

import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sockserv_backend as sb  # noqa: E402

# the tests provoke warnings on purpose; assertLogs checks the ones that matter
logging.getLogger("sockserv_backend").addHandler(logging.NullHandler())

WAIT = 2.0      # upper bound for anything that should happen "at once"

NODE = 1
ID1 = (NODE << 48) | 1
ID2 = (NODE << 48) | 2


def frame(type_, id_=0, seq=0, payload=b""):
    """A link message, built field by field as the man page lists them."""
    return (b"SB" + bytes([1, type_]) + len(payload).to_bytes(4, "big")
            + id_.to_bytes(8, "big") + seq.to_bytes(4, "big") + payload)


def hello_payload(node=NODE, worker=0, pid=100, master_pid=50, started=1700000000):
    return ("protocol=1\nnode=%d\nworker=%d\npid=%d\nmaster_pid=%d\nstarted=%d\nversion=test\n"
            % (node, worker, pid, master_pid, started)).encode()


def open_payload(listener=b"app", peer=b"127.0.0.1:40000", flags=0):
    return bytes([flags]) + listener + b"\0" + peer


class FakeWorker:
    """One sockserv worker's end of a link."""

    def __init__(self, path):
        self.path = path

    async def connect(self):
        self.reader, self.writer = await asyncio.open_unix_connection(self.path)
        return self

    async def hello(self, **kw):
        self.put(frame(1, 0, 0, hello_payload(**kw)))
        await self.writer.drain()

    def put(self, data):
        self.writer.write(data)

    async def read_raw(self):
        """One message from the application, as its raw bytes."""
        hdr = await asyncio.wait_for(self.reader.readexactly(20), WAIT)
        n = int.from_bytes(hdr[4:8], "big")
        body = await asyncio.wait_for(self.reader.readexactly(n), WAIT) if n else b""
        return hdr + body

    async def read_cmd(self):
        """The next message that is not an ACK or a PING (they come on their own time)."""
        while True:
            raw = await self.read_raw()
            if raw[3] not in (21, 7):
                return raw

    async def read_type(self, t):
        """The next message of type t; others before it are skipped."""
        while True:
            raw = await self.read_raw()
            if raw[3] == t:
                return raw

    async def read_ack(self, want):
        """Wait for an ACK saying want; commands in between are returned."""
        other = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            raw = await self.read_raw()
            if raw[3] == 21:
                n = int.from_bytes(raw[20:28], "big")
                if n == want:
                    return other
                if n > want:
                    raise AssertionError("ACK %d, expected %d" % (n, want))
            elif raw[3] != 7:
                other.append(raw)
        raise AssertionError("no ACK %d" % want)

    async def eof(self):
        """True when the application ends the link (anything before is skipped)."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), WAIT):
                pass
        except ConnectionError:
            pass
        return True

    def close(self):
        self.writer.transport.abort()


class Recorder(sb.Backend):
    """Records every callback; some tests reply from on_message."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.events = []
        self.reply = None

    def on_open(self, conn):
        self.events.append(("open", conn.id, conn.listener, conn.peer, conn.reopened))

    async def on_message(self, conn, data):
        # a coroutine on purpose: plain functions are covered by on_open/on_close
        await asyncio.sleep(0)
        self.events.append(("msg", conn.id, conn.seq, data))
        if self.reply is not None:
            self.reply(conn, data)

    def on_close(self, conn, reason):
        self.events.append(("close", conn.id, reason, conn.close_code))


async def until(cond, what="condition"):
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.005)


class Base(unittest.IsolatedAsyncioTestCase):
    backend_args = {}

    async def asyncSetUp(self):
        self.dir = tempfile.mkdtemp(prefix="sockserv_backend_test.")
        self.path = os.path.join(self.dir, "app.sock")
        self.app = Recorder("unix:" + self.path, **self.backend_args)
        await self.app.start()
        self.workers = []

    async def asyncTearDown(self):
        for w in self.workers:
            w.close()
        await self.app.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def worker(self, **hello):
        w = await FakeWorker(self.path).connect()
        self.workers.append(w)
        await w.hello(**hello)
        return w

    async def opened(self, w, id_=ID1, seq=0, flags=0):
        w.put(frame(2, id_, seq, open_payload(flags=flags)))
        await until(lambda: id_ in self.app.conns, "on_open")


class TestDecoder(unittest.TestCase):
    def test_message_split_byte_by_byte_decodes_once(self):
        data = frame(3, ID1, 7, b"hello") + frame(7)
        d = sb.Decoder(1024)
        got = []
        for i in range(len(data)):
            got += d.feed(data[i:i + 1])
        self.assertEqual(got, [sb.Message(3, ID1, 7, b"hello"), sb.Message(7, 0, 0, b"")])
        self.assertIsNone(d.error)

    def test_bad_magic_refused_at_first_byte(self):
        d = sb.Decoder(1024)
        self.assertEqual(d.feed(b"G"), [])
        self.assertEqual(d.error, "bad magic")

    def test_oversized_length_refused_from_header_alone(self):
        d = sb.Decoder(1024)
        self.assertEqual(d.feed(b"SB\x01\x03" + (1025).to_bytes(4, "big")), [])
        self.assertIn("too large", d.error)

    def test_messages_before_an_error_are_returned(self):
        d = sb.Decoder(1024)
        got = d.feed(frame(7) + b"SB\x02")
        self.assertEqual(got, [sb.Message(7, 0, 0, b"")])
        self.assertIn("version", d.error)

    def test_encode_matches_the_header_table(self):
        self.assertEqual(sb.encode(16, ID1, 3, b"hi"), frame(16, ID1, 3, b"hi"))


class TestEvents(Base):
    async def test_hello_open_msg_close_reach_the_callbacks(self):
        w = await self.worker()
        w.put(frame(2, ID1, 0, open_payload()))
        w.put(frame(3, ID1, 1, b"hi"))
        w.put(frame(4, ID1, 0, b"\x00\x00peer"))
        await until(lambda: len(self.app.events) == 3, "three callbacks")
        self.assertEqual(self.app.events, [
            ("open", ID1, "app", "127.0.0.1:40000", False),
            ("msg", ID1, 1, b"hi"),
            ("close", ID1, "peer", 0),
        ])
        self.assertNotIn(ID1, self.app.conns)

    async def test_conn_exposes_id_node_listener_peer_and_link(self):
        w = await self.worker(node=3, worker=2, pid=4242)
        cid = (3 << 48) | 99
        w.put(frame(2, cid, 0, open_payload(listener=b"game", peer=b"[::1]:5")))
        await until(lambda: cid in self.app.conns)
        c = self.app.conns[cid]
        self.assertEqual((c.id, c.node, c.listener, c.peer), (cid, 3, "game", "[::1]:5"))
        self.assertEqual((c.link.node, c.link.worker, c.link.pid, c.link.version), (3, 2, 4242, "test"))
        self.assertEqual(c.link.hello["master_pid"], "50")

    async def test_ack_counts_every_event_with_an_id_and_nothing_else(self):
        w = await self.worker()
        w.put(frame(2, ID1, 0, open_payload()))
        w.put(frame(7))                         # PING: id 0, not counted
        w.put(frame(3, ID1, 1, b"a"))
        w.put(frame(3, ID1, 1, b"a"))           # duplicate: dropped, still counted
        w.put(frame(3, ID1, 2, b"b"))
        self.assertEqual(await w.read_type(8), frame(8))
        await w.read_ack(4)
        self.assertEqual([e[2] for e in self.app.events if e[0] == "msg"], [1, 2])

    async def test_ping_answered_with_pong_carrying_its_seq_and_payload(self):
        w = await self.worker()
        w.put(frame(7, 0, 9, b"xy"))
        self.assertEqual(await w.read_raw(), frame(8, 0, 9, b"xy"))

    async def test_gone_for_an_open_connection_closes_it(self):
        w = await self.worker()
        await self.opened(w)
        self.app.send(ID1, b"x")
        w.put(frame(5, ID1, 1))
        await until(lambda: ID1 not in self.app.conns)
        self.assertEqual(self.app.events[-1], ("close", ID1, "gone", None))

    async def test_close_callback_sees_code_of_the_error_sent(self):
        w = await self.worker()
        await self.opened(w)
        w.put(frame(4, ID1, 0, b"\x00\x05heartbeat"))
        await until(lambda: ID1 not in self.app.conns)
        self.assertEqual(self.app.events[-1], ("close", ID1, "heartbeat", 5))


class TestCommands(Base):
    async def test_send_uses_next_number_and_exact_bytes(self):
        w = await self.worker()
        await self.opened(w)
        self.assertEqual(self.app.send(ID1, b"hi"), 1)
        self.assertEqual(self.app.send(ID1, "h\u00e9"), 2)
        self.assertEqual(await w.read_cmd(),
                         b"SB\x01\x10\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00\x00\x01"
                         b"\x00\x00\x00\x01hi")
        self.assertEqual(await w.read_cmd(), frame(16, ID1, 2, b"h\xc3\xa9"))

    async def test_reply_with_request_seq_and_duplicate_seq_not_sent(self):
        w = await self.worker()
        await self.opened(w, seq=4)          # sockserv applied SEND 4 already
        self.app.reply = lambda conn, data: conn.send(data.upper(), seq=conn.seq)
        w.put(frame(3, ID1, 4, b"old"))     # its reply 4 was applied: not resent
        w.put(frame(3, ID1, 5, b"new"))
        self.assertEqual(await w.read_cmd(), frame(16, ID1, 5, b"NEW"))
        self.assertIsNone(self.app.send(ID1, b"x", seq=5))
        self.assertEqual(self.app.send(ID1, b"x"), 6)

    async def test_close_subscribe_unsubscribe_publish_bytes(self):
        w = await self.worker()
        await self.opened(w)
        self.assertTrue(self.app.close(ID1))
        self.assertTrue(self.app.close(ID1, 8, "bye"))
        self.assertTrue(self.app.subscribe(ID1, "room"))
        self.assertTrue(self.app.unsubscribe(ID1, b"room"))
        self.assertEqual(self.app.publish("room", b"hello"), 1)
        self.assertEqual(await w.read_cmd(), b"SB\x01\x11" + bytes(4) + ID1.to_bytes(8, "big") + bytes(4))
        self.assertEqual(await w.read_cmd(), frame(17, ID1, 0, b"\x00\x08bye"))
        self.assertEqual(await w.read_cmd(), frame(18, ID1, 0, b"room"))
        self.assertEqual(await w.read_cmd(), frame(19, ID1, 0, b"room"))
        self.assertEqual(await w.read_cmd(), b"SB\x01\x14\x00\x00\x00\x0a" + bytes(12) + b"\x04roomhello")

    async def test_commands_for_unknown_ids_are_not_sent(self):
        await self.worker()
        self.assertIsNone(self.app.send(ID2, b"x"))
        self.assertFalse(self.app.close(ID2))
        self.assertFalse(self.app.subscribe(ID2, "t"))

    async def test_bad_arguments_raise(self):
        w = await self.worker()
        await self.opened(w)
        with self.assertRaises(ValueError):
            self.app.subscribe(ID1, "")
        with self.assertRaises(ValueError):
            self.app.subscribe(ID1, "x" * 256)
        with self.assertRaises(ValueError):
            self.app.close(ID1, 70000)
        with self.assertRaises(ValueError):
            self.app.close(ID1, None, "text without code")
        with self.assertRaises(ValueError):
            self.app.send(ID1, b"x", seq=0)
        with self.assertRaises(TypeError):
            self.app.send(ID1, 5)

    async def test_commands_route_to_the_worker_that_announced_the_connection(self):
        w0 = await self.worker(worker=0, pid=100)
        w1 = await self.worker(worker=1, pid=101)
        await self.opened(w0, ID1)
        await self.opened(w1, ID2)
        self.app.send(ID2, b"to-1")
        self.app.send(ID1, b"to-0")
        self.assertEqual(await w1.read_cmd(), frame(16, ID2, 1, b"to-1"))
        self.assertEqual(await w0.read_cmd(), frame(16, ID1, 1, b"to-0"))
        self.assertEqual(self.app.publish(b"t", b"all"), 2)
        want = frame(20, 0, 0, b"\x01tall")
        self.assertEqual(await w0.read_cmd(), want)
        self.assertEqual(await w1.read_cmd(), want)


class TestRestart(Base):
    async def test_unacknowledged_commands_resent_in_order_to_the_same_worker(self):
        w = await self.worker()
        await self.opened(w)
        for d in (b"1", b"2", b"3"):
            self.app.send(ID1, d)
        self.app.subscribe(ID1, "t")
        for _ in range(4):
            await w.read_cmd()
        w.put(frame(6, 0, 0, (2).to_bytes(8, "big")))      # SEND 1, 2 applied
        w.put(frame(7))
        await w.read_type(8)                                 # PONG: the ACK was read
        w.close()
        await until(lambda: not self.app.links, "link down")
        self.app.send(ID1, b"4")                             # while the link is down
        self.app.publish("t", b"p")
        w2 = await self.worker()                             # same node, slot, pid
        w2.put(frame(2, ID1, 2, open_payload(flags=1)))
        got = [await w2.read_cmd() for _ in range(4)]
        self.assertEqual(got, [frame(16, ID1, 3, b"3"), frame(18, ID1, 0, b"t"),
                               frame(16, ID1, 4, b"4"), frame(20, 0, 0, b"\x01tp")])
        self.assertEqual([e[0] for e in self.app.events], ["open"])
        # the resent commands count in the new session: ACK 3 covers them all
        w2.put(frame(6, 0, 0, (3).to_bytes(8, "big")))
        w2.put(frame(7))
        await w2.read_type(8)
        self.assertEqual(len(self.app.conns[ID1].worker.unacked), 0)

    async def test_replayed_msgs_dropped_and_open_flag_1_not_reopened(self):
        w = await self.worker()
        await self.opened(w)
        w.put(frame(3, ID1, 1, b"a"))
        w.put(frame(3, ID1, 2, b"b"))
        await until(lambda: len(self.app.events) == 3)
        w.close()
        await until(lambda: not self.app.links, "link down")
        w2 = await self.worker()
        w2.put(frame(2, ID1, 0, open_payload(flags=1)))
        w2.put(frame(3, ID1, 1, b"a"))
        w2.put(frame(3, ID1, 2, b"b"))
        w2.put(frame(3, ID1, 3, b"c"))
        await w2.read_ack(4)
        self.assertEqual(self.app.events, [
            ("open", ID1, "app", "127.0.0.1:40000", False),
            ("msg", ID1, 1, b"a"), ("msg", ID1, 2, b"b"), ("msg", ID1, 3, b"c")])

    async def test_replay_of_a_closed_connection_is_dropped(self):
        w = await self.worker()
        await self.opened(w)
        w.put(frame(3, ID1, 1, b"a"))
        w.put(frame(4, ID1, 0, b"\x00\x00peer"))
        await until(lambda: len(self.app.events) == 3)
        w.close()
        await until(lambda: not self.app.links)
        w2 = await self.worker()
        w2.put(frame(2, ID1, 0, open_payload()))
        w2.put(frame(3, ID1, 1, b"a"))
        w2.put(frame(4, ID1, 0, b"\x00\x00peer"))
        await w2.read_ack(3)
        self.assertEqual(len(self.app.events), 3)

    async def test_open_flag_1_unknown_to_a_restarted_application(self):
        # this application never saw ID1: an earlier instance did
        w = await self.worker()
        w.put(frame(2, ID1, 7, open_payload(flags=1)))
        await until(lambda: ID1 in self.app.conns)
        self.assertEqual(self.app.events, [("open", ID1, "app", "127.0.0.1:40000", True)])
        self.assertEqual(self.app.send(ID1, b"x"), 8)   # numbering goes on after 7
        self.assertEqual(await w.read_cmd(), frame(16, ID1, 8, b"x"))

    async def test_replayed_msg_of_unknown_connection_opens_it_first(self):
        w = await self.worker()
        w.put(frame(3, ID1, 5, b"late"))
        w.put(frame(4, ID1, 0, b"\x00\x00peer"))
        await w.read_ack(2)
        self.assertEqual(self.app.events, [("open", ID1, None, None, True),
                                           ("msg", ID1, 5, b"late"), ("close", ID1, "peer", 0)])

    async def test_replayed_close_of_unknown_connection_is_delivered(self):
        w = await self.worker()
        w.put(frame(4, ID1, 0, b"\x00\x00deadline"))
        await w.read_ack(1)
        self.assertEqual(self.app.events, [("open", ID1, None, None, True),
                                           ("close", ID1, "deadline", 0)])

    async def test_new_pid_in_the_slot_closes_the_dead_workers_connections_once(self):
        w = await self.worker(pid=100)
        await self.opened(w, ID1)
        await self.opened(w, ID2)
        self.app.send(ID1, b"never")
        w.close()
        await until(lambda: not self.app.links)
        w2 = await self.worker(pid=101)
        w2.put(frame(2, ID1, 0, open_payload()))       # must not resurrect it
        w2.put(frame(7))
        self.assertEqual(await w2.read_cmd(), frame(8))  # nothing resent to the new pid
        await until(lambda: len(self.app.events) == 4)
        await asyncio.sleep(0.05)
        self.assertEqual(self.app.events[2:], [("close", ID1, "error", None),
                                               ("close", ID2, "error", None)])
        self.assertEqual(self.app.conns, {})
        self.assertIsNone(self.app.send(ID1, b"x"))

    async def test_new_master_closes_every_slot_of_the_node(self):
        w0 = await self.worker(worker=0, pid=100)
        w1 = await self.worker(worker=1, pid=101)
        await self.opened(w0, ID1)
        await self.opened(w1, ID2)
        w0.close()
        w1.close()
        await until(lambda: not self.app.links)
        await self.worker(worker=0, pid=200, master_pid=199)
        await until(lambda: not self.app.conns, "both closed")
        self.assertEqual(sorted(e[1:3] for e in self.app.events if e[0] == "close"),
                         [(ID1, "error"), (ID2, "error")])

    async def test_new_pid_while_old_link_is_up_is_a_reload_not_a_death(self):
        w = await self.worker(pid=100)
        await self.opened(w, ID1)
        await self.worker(pid=101)
        await asyncio.sleep(0.05)
        self.assertIn(ID1, self.app.conns)
        self.app.send(ID1, b"still")
        self.assertEqual(await w.read_cmd(), frame(16, ID1, 1, b"still"))


class TestHostile(Base):
    async def assertDropped(self, data, reason, hello=True):
        before = len(self.app.links)
        w = await FakeWorker(self.path).connect()
        self.workers.append(w)
        with self.assertLogs("sockserv_backend", "WARNING") as cm:
            if hello:
                await w.hello()
            w.put(data)
            self.assertTrue(await w.eof())
            await until(lambda: len(self.app.links) == before, "the link dropped")
        self.assertTrue(any(reason in line for line in cm.output), cm.output)

    async def test_bad_magic_drops_the_link(self):
        await self.assertDropped(b"GET / HTTP/1.0\r\n\r\n", "bad magic", hello=False)

    async def test_bad_version_drops_the_link(self):
        await self.assertDropped(b"SB\x02\x07" + bytes(16), "unsupported version")

    async def test_oversized_length_drops_the_link(self):
        await self.assertDropped(b"SB\x01\x03\xff\xff\xff\xff", "too large")

    async def test_message_before_hello_drops_the_link(self):
        await self.assertDropped(frame(3, ID1, 1, b"x"), "before HELLO", hello=False)

    async def test_hello_without_keys_drops_the_link(self):
        await self.assertDropped(frame(1, 0, 0, b"protocol=1\n"), "HELLO without", hello=False)

    async def test_unknown_type_drops_the_link(self):
        await self.assertDropped(frame(16, ID1, 1, b"x"), "unknown message type 16")

    async def test_id_of_another_node_drops_the_link(self):
        await self.assertDropped(frame(2, (9 << 48) | 1, 0, open_payload()), "not of node")

    async def test_ack_beyond_what_was_sent_drops_the_link(self):
        await self.assertDropped(frame(6, 0, 0, (1).to_bytes(8, "big")), "ACK 1 outside")

    async def test_open_without_separator_drops_the_link(self):
        await self.assertDropped(frame(2, ID1, 0, b"\x00app"), "0x00")

    async def test_other_links_survive_a_hostile_one(self):
        good = await self.worker(worker=1, pid=101)
        await self.opened(good)
        await self.assertDropped(b"XX", "bad magic", hello=False)
        good.put(frame(7))
        self.assertEqual(await good.read_type(8), frame(8))


class TestLiveness(Base):
    backend_args = {"ping_interval": 0.05, "link_timeout": 0.3}

    async def test_idle_link_pinged_and_silent_link_dropped(self):
        w = await self.worker()
        t0 = time.monotonic()
        self.assertEqual(await w.read_raw(), frame(7))
        with self.assertLogs("sockserv_backend", "WARNING") as cm:
            self.assertTrue(await w.eof())
            await until(lambda: not self.app.links)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertTrue(any("silent" in line for line in cm.output), cm.output)

    async def test_a_link_that_answers_pings_is_kept(self):
        w = await self.worker()
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            raw = await w.read_raw()
            if raw[3] == 7:
                w.put(frame(8))
        self.assertEqual(len(self.app.links), 1)


MAN_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man",
                        "sockserv-backend.7")


def man_page_example():
    """The EXAMPLE section's messages: [(label, bytes)], label being the line
    above the hex ("sockserv: ...", "application: ...", "A PUBLISH ...")."""
    with open(MAN_PAGE) as f:
        text = f.read()
    section = text.split("\n.SH EXAMPLE\n", 1)[1].split("\n.SH ", 1)[0]
    out = []
    label = None
    for line in section.split("\n"):
        if re.fullmatch(r"\s*([0-9a-f]{2}( \|)? ?)+", line):
            if label is not None:
                out.append((label, bytearray()))
                label = None
            out[-1][1].extend(bytes.fromhex(line.replace("|", "")))
        elif line.startswith(("sockserv:", "application:", "A PUBLISH")):
            label = line
    return [(lab, bytes(b)) for lab, b in out]


class Gated(Recorder):
    """on_message waits for a gate: an application busy with a slow call."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.gate = asyncio.Event()

    async def on_message(self, conn, data):
        await self.gate.wait()
        self.events.append(("msg", conn.id, conn.seq, data))


class TestSlowCallbacks(Base):
    backend_args = {"max_queued": 4096}

    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.app.stop()
        self.app = Gated("unix:" + self.path, **self.backend_args)
        await self.app.start()

    async def test_ping_answered_while_a_callback_waits(self):
        w = await self.worker()
        w.put(frame(2, ID1, 0, open_payload()) + frame(3, ID1, 1, b"slow"))
        await until(lambda: ID1 in self.app.conns)
        w.put(frame(7, 0, 1))
        self.assertEqual(await w.read_type(8), frame(8, 0, 1))
        self.assertEqual(len(self.app.events), 1)
        self.app.gate.set()
        await w.read_ack(2)

    async def test_events_read_ahead_are_bounded_and_all_processed(self):
        w = await self.worker()
        await self.opened(w)
        n = 2000                # 240 KB of events, far beyond the bound
        for i in range(1, n + 1):
            w.put(frame(3, ID1, i, b"x" * 100))
        await asyncio.sleep(0.2)
        link = next(iter(self.app.links))
        # at most one read (64 KiB) beyond the bound
        self.assertLessEqual(link.queued, 4096 + 65536)
        self.app.gate.set()
        await w.read_ack(n + 1)
        self.assertEqual([e[2] for e in self.app.events if e[0] == "msg"], list(range(1, n + 1)))


class TestWorkerTimeout(Base):
    backend_args = {"worker_timeout": 0.1}

    async def test_worker_away_too_long_closes_lost_and_may_come_back(self):
        w = await self.worker()
        await self.opened(w)
        w.close()
        await until(lambda: not self.app.conns, "closed as lost")
        self.assertEqual(self.app.events[-1], ("close", ID1, "lost", None))
        # it was alive after all: its connection comes back as a new one
        w2 = await self.worker()
        w2.put(frame(2, ID1, 3, open_payload(flags=1)))
        await until(lambda: ID1 in self.app.conns)
        self.assertEqual(self.app.events[-1], ("open", ID1, "app", "127.0.0.1:40000", True))

    async def test_worker_back_in_time_keeps_its_connections(self):
        w = await self.worker()
        await self.opened(w)
        w.close()
        await until(lambda: not self.app.links)
        await self.worker()
        await asyncio.sleep(0.2)
        self.assertIn(ID1, self.app.conns)


class TestManPageExample(Base):
    # the example's ACKs each cover a whole batch; a stall of the test
    # machine mid-batch must not split one
    backend_args = {"ack_interval": 0.2}

    async def test_the_man_pages_worked_example_is_what_the_library_does(self):
        msgs = man_page_example()
        self.assertEqual(len(msgs), 9)
        self.app.reply = lambda conn, data: conn.send(data, seq=conn.seq)
        w = await FakeWorker(self.path).connect()
        self.workers.append(w)
        i = 0
        while i < len(msgs):
            # a run of sockserv's messages goes out in one write, so the
            # application reads them in one batch and ACKs them together
            batch = b""
            while i < len(msgs) and msgs[i][0].startswith("sockserv:"):
                batch += msgs[i][1]
                i += 1
            if batch:
                w.put(batch)
            while i < len(msgs) and msgs[i][0].startswith("application:"):
                self.assertEqual(await w.read_raw(), msgs[i][1], msgs[i][0])
                i += 1
            if i < len(msgs) and msgs[i][0].startswith("A PUBLISH"):
                await self.opened(w, (1 << 48) | 2)
                self.app.publish("room", "hello")
                self.assertEqual(await w.read_cmd(), msgs[i][1])
                i += 1
        self.assertEqual(self.app.events, [
            ("open", ID1, "app", "127.0.0.1:40000", False), ("msg", ID1, 1, b"hi"),
            ("close", ID1, "peer", 0), ("open", ID2, "app", "127.0.0.1:40000", False)])


class TestTcp(unittest.IsolatedAsyncioTestCase):
    async def test_listens_on_host_port(self):
        app = sb.Backend("127.0.0.1:0")
        await app.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", app.port())
            writer.write(frame(1, 0, 0, hello_payload()) + frame(7, 0, 5))
            self.assertEqual(await asyncio.wait_for(reader.readexactly(20), WAIT), frame(8, 0, 5))
            writer.close()
        finally:
            await app.stop()

    async def test_bad_address_refused(self):
        with self.assertRaises(ValueError):
            await sb.Backend("localhost").start()


def load_example(name):
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                        "backend", name)
    spec = importlib.util.spec_from_file_location(name[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TestChatExample(Base):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.app.stop()
        self.state = os.path.join(self.dir, "rooms.json")
        self.app = load_example("chat.py").Chat("unix:" + self.path, self.state)
        await self.app.start()

    async def test_join_talk_leave_and_rooms_kept_in_the_state_file(self):
        w = await self.worker()
        w.put(frame(2, ID1, 0, open_payload(peer=b"127.0.0.1:40000")))
        w.put(frame(2, ID2, 0, open_payload(peer=b"127.0.0.1:40001")))
        w.put(frame(3, ID1, 1, b"join lobby"))
        w.put(frame(3, ID2, 1, b" "))                  # not a room name
        w.put(frame(3, ID1, 2, b"hi"))
        w.put(frame(4, ID1, 0, b"\x00\x00peer"))
        got = [await w.read_cmd() for _ in range(5)]
        self.assertEqual(got, [
            frame(18, ID1, 0, b"room:lobby"),
            frame(20, 0, 0, b"\x0aroom:lobby* 127.0.0.1:40000 joined lobby"),
            frame(16, ID2, 1, b"name a room first: join ROOM (1 to 64 characters)"),
            frame(20, 0, 0, b"\x0aroom:lobby127.0.0.1:40000: hi"),
            frame(20, 0, 0, b"\x0aroom:lobby* 127.0.0.1:40000 left (peer)"),
        ])
        with open(self.state) as f:
            self.assertEqual(f.read(), "{}")


    async def test_restarted_with_state_keeps_rooms_without_it_asks_again(self):
        await self.app.stop()
        with open(self.state, "w") as f:
            f.write('{"%d": "lobby"}' % ID1)
        self.app = load_example("chat.py").Chat("unix:" + self.path, self.state)
        await self.app.start()
        w = await self.worker()
        w.put(frame(2, ID1, 4, open_payload(flags=1)))
        w.put(frame(2, ID2, 0, open_payload(flags=1)))
        w.put(frame(3, ID1, 5, b"back"))
        self.assertEqual(await w.read_cmd(), frame(16, ID2, 1, b"chat restarted: name your room again"))
        self.assertEqual(await w.read_cmd(), frame(20, 0, 0, b"\x0aroom:lobby127.0.0.1:40000: back"))


class TestDocs(unittest.TestCase):
    def test_readme_python_backend_is_examples_upper_py(self):
        top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        with open(os.path.join(top, "README.md")) as f:
            readme = f.read()
        with open(os.path.join(top, "examples", "backend", "upper.py")) as f:
            upper = f.read()
        self.assertIn("```python\n" + upper + "```\n", readme)


class TestPlainFunctions(unittest.IsolatedAsyncioTestCase):
    async def test_constructor_callbacks_plain_functions(self):
        d = tempfile.mkdtemp(prefix="sockserv_backend_test.")
        seen = []
        app = sb.Backend("unix:" + os.path.join(d, "s"), on_open=lambda c: seen.append("open"),
                         on_message=lambda c, data: c.send(data), on_close=lambda c, r: seen.append(r))
        await app.start()
        try:
            w = await FakeWorker(os.path.join(d, "s")).connect()
            await w.hello()
            w.put(frame(2, ID1, 0, open_payload()) + frame(3, ID1, 1, b"e"))
            self.assertEqual(await w.read_cmd(), frame(16, ID1, 1, b"e"))
            w.put(frame(4, ID1, 0, b"\x00\x00peer"))
            await until(lambda: seen == ["open", "peer"])
            w.close()
        finally:
            await app.stop()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    unittest.main()
