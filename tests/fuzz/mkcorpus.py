#!/usr/bin/env python3
"""Write the seed corpora for the fuzz targets that take a binary layout
(fuzz_proto, fuzz_conn, fuzz_link and fuzz_proxy: see the layout comments
at the top of each target).  The config seeds are plain files copied from etc/ and tests, so
they are committed as they are.  Run from the source tree:
    tests/fuzz/mkcorpus.py
It rewrites tests/fuzz/corpus/proto/ and tests/fuzz/corpus/conn/ seeds it
owns (named seed-*), leaving other files (minimised finds) alone."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def frame(t, payload):
    return b"SS\x01" + bytes([t]) + struct.pack(">I", len(payload)) + payload


def headers(payload, magic=b"Headers"):
    return magic + struct.pack(">I", len(payload)) + payload


MSG = b"1This is a test for long conn"
ERR = struct.pack(">H", 5) + b"heartbeat timeout after 3 s"

STREAMS = {
    "frame-data": (0, frame(1, MSG)),
    "frame-two": (0, frame(1, MSG) + frame(1, b"2" + MSG[1:])),
    "frame-ping": (0, frame(2, b"abc") + frame(1, MSG)),
    "frame-pong-empty": (0, frame(3, b"")),
    "frame-close": (0, frame(1, MSG) + frame(5, b"")),
    "frame-error": (0, frame(4, ERR)),
    "frame-bad-magic": (0, b"GET / HTTP/1.0\r\n\r\n"),
    "frame-bad-version": (0, b"SS\x02\x01\x00\x00\x00\x00"),
    "frame-bad-type": (0, b"SS\x01\x09\x00\x00\x00\x00"),
    "frame-too-large": (0, b"SS\x01\x01\x00\x10\x00\x01" + b"x" * 16),
    "raw": (1, MSG),
    "headers": (2, headers(MSG)),
    "headers-two": (2, headers(MSG) + headers(b"")),
    "headers-bad-magic": (2, b"Header\x00" + struct.pack(">I", 1) + b"x"),
}


def proto_seed(codec, stream, max_frame=0x8A, cuts=(), magic_sel=0):
    # [0] codec [1] max_frame (0x8A: table entry 10, 1 MiB) [2] magic [3] n cuts
    return bytes([codec, max_frame, magic_sel, len(cuts)]) + bytes(cuts) + stream


def conn_seed(codec, stream, chunks=(), flags=0, max_frame=0x8A, advance=()):
    # see fuzz_conn.c: [0] codec [1] max_frame [2] flags [3] n chunks,
    # then n (size, clock step) pairs, then the stream
    body = b"".join(bytes([c, a]) for c, a in zip(chunks, advance or [0] * len(chunks)))
    return bytes([codec, max_frame, flags, len(chunks)]) + body + stream


# fuzz_link: the application's steps (see fuzz_link.c)
OP_RAW, OP_CMD, OP_DATA, OP_TIME, OP_READ, OP_CLOSE, OP_DROP, OP_ACK, OP_REPEAT = range(9)
L_SEND, L_CLOSE, L_SUB, L_UNSUB, L_PUBLISH, L_ACK, L_PING, L_PONG = 16, 17, 18, 19, 20, 21, 7, 8


def link_hdr(t, length, ident=0, seq=0):
    return b"SB\x01" + bytes([t]) + struct.pack(">IQI", length, ident, seq)


def cmd(t, who, seq, payload=b""):
    # who: 0..2 a client's id (learnt from its OPEN), 3 id 0, more a stranger's id
    return bytes([OP_CMD, t, who, seq, len(payload)]) + payload


def data(k, payload):
    return bytes([OP_DATA, k, len(payload)]) + payload


def raw(b):
    return bytes([OP_RAW, len(b)]) + b


def link_seed(flags, nclients, *steps):
    return bytes([flags, nclients - 1]) + b"".join(steps)


LINK_SEEDS = {
    "echo": link_seed(0, 1, data(0, b"hi"), bytes([OP_READ]), cmd(L_SEND, 0, 1, b"hi"), bytes([OP_ACK])),
    "three-clients": link_seed(0, 3, data(0, b"a"), data(1, b"b"), data(2, b"c"), bytes([OP_READ]),
                               cmd(L_SEND, 1, 1, b"B"), cmd(L_SEND, 2, 5, b"C"), cmd(L_SEND, 2, 5, b"dup"),
                               bytes([OP_ACK])),
    "close-code": link_seed(0, 2, cmd(L_CLOSE, 0, 0, b"\x00\x09bye"), cmd(L_CLOSE, 1, 0),
                            bytes([OP_TIME, 4, OP_READ, OP_ACK])),
    "sub-publish": link_seed(0, 3, cmd(L_SUB, 0, 0, b"room"), cmd(L_SUB, 1, 0, b"room"),
                             cmd(L_PUBLISH, 3, 0, b"\x04roomhello"), cmd(L_UNSUB, 0, 0, b"room"),
                             cmd(L_PUBLISH, 3, 0, b"\x04roomagain")),
    "gone-stranger": link_seed(0, 1, cmd(L_SEND, 200, 3, b"x"), bytes([OP_READ, OP_ACK])),
    "ping-pong": link_seed(0, 1, cmd(L_PING, 3, 9, b"p"), cmd(L_PONG, 3, 0), bytes([OP_READ])),
    # an application that sends and never reads: 40960 PINGs, then 40960 commands for strangers
    "ping-flood-lazy": link_seed(0x10, 1, cmd(L_PING, 3, 0), bytes([OP_REPEAT, 255]) * 10),
    "gone-flood-lazy": link_seed(0x10, 1, cmd(L_SEND, 250, 1, b"x"), bytes([OP_REPEAT, 255]) * 10),
    "sub-flood": link_seed(0, 1, *[cmd(L_SUB, 0, 0, b"t%d" % i) for i in range(70)]),
    "ack-beyond": link_seed(0, 1, bytes([OP_READ]), cmd(L_ACK, 3, 0, struct.pack(">Q", 99))),
    "bad-magic": link_seed(0, 2, data(0, b"x"), raw(b"GET / HTTP/1.0\r\n\r\n"), bytes([OP_TIME, 10]),
                           bytes([OP_READ]), cmd(L_SEND, 0, 1, b"after")),
    "huge-declared": link_seed(0, 1, raw(link_hdr(L_SEND, 4000, 1, 1) + b"abc"), bytes([OP_TIME, 80])),
    "too-large": link_seed(0, 1, raw(link_hdr(L_SEND, 1 << 20, 1, 1))),
    "cut-commands": link_seed(0, 1, raw(link_hdr(L_SEND, 5, 1, 1)[:7]), raw(link_hdr(L_SEND, 5, 1, 1)[7:] + b"he"),
                              raw(b"llo")),
    "drop-replay": link_seed(0, 2, data(0, b"one"), bytes([OP_READ, OP_DROP, OP_TIME, 4, OP_READ]),
                             cmd(L_SEND, 0, 1, b"re"), bytes([OP_ACK])),
    "hold-churn": link_seed(0x10, 3, bytes([OP_DROP]), *[bytes([OP_CLOSE, k % 3, OP_TIME, 1]) for k in range(30)],
                            bytes([OP_TIME, 10, OP_READ, OP_ACK])),
    "refuse-down": link_seed(0x01, 2, bytes([OP_DROP, OP_CLOSE, 0, OP_TIME, 1, OP_READ])),
    "close-down": link_seed(0x02, 2, data(1, b"z"), bytes([OP_DROP, OP_TIME, 6, OP_READ, OP_ACK])),
    "silent-clients-poll": link_seed(0x28, 1, cmd(L_SEND, 0, 1, b"y" * 200), bytes([OP_REPEAT, 40, OP_TIME, 30])),
    "link-timeout": link_seed(0x10, 1, bytes([OP_TIME, 90, OP_TIME, 90, OP_READ])),
}


# PROXY protocol headers (fuzz_proxy, and fuzz_conn with F_PROXY)
V2_SIG = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"
F_PROXY = 0x80


def v2(ver_cmd, fam, block):
    return V2_SIG + bytes([ver_cmd, fam]) + struct.pack(">H", len(block)) + block


V2_INET = v2(0x21, 0x11, bytes([203, 0, 113, 7, 10, 0, 0, 1]) + struct.pack(">HH", 40000, 7000))
V2_INET6 = v2(0x21, 0x21, bytes.fromhex("20010db8" + "0" * 23 + "1") + bytes(15) + b"\x01" +
              struct.pack(">HH", 5555, 80))
# NOOP, UNIQUE_ID, AUTHORITY after the addresses
V2_TLVS = v2(0x21, 0x11, bytes([1, 2, 3, 4, 5, 6, 7, 8]) + struct.pack(">HH", 1, 2) +
             b"\x04\x00\x02\x00\x00" + b"\x05\x00\x04uniq" + b"\x02\x00\x03a.b")
PROXY_HEADERS = {
    "v1-tcp4": b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
    "v1-tcp6": b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n",
    "v1-unknown": b"PROXY UNKNOWN\r\n",
    "v1-unknown-long": b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                       b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    "v1-bad-port": b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 1\r\n",
    "v1-no-crlf": b"PROXY UNKNOWN " + b"x" * 100,
    "v2-inet": V2_INET,
    "v2-inet6": V2_INET6,
    "v2-tlvs": V2_TLVS,
    "v2-local": v2(0x20, 0x00, b""),
    "v2-local-junk": v2(0x20, 0xff, b"junk\x00\r\n"),
    "v2-unspec": v2(0x21, 0x00, b"abc"),
    "v2-unix": v2(0x21, 0x31, bytes(216)),
    "v2-too-long": V2_SIG + b"\x21\x11\x04\x00",
    "v2-tlv-overrun": v2(0x21, 0x11, bytes(12) + b"\x04\x00\x09"),
}
TRUSTED = ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0", "::/0",
           "::ffff:10.0.0.0/104", "2001:db8::/33", "10.16.0.0/12", "10.0.0.1/8"]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    for name, (codec, stream) in STREAMS.items():
        write("proto", name, proto_seed(codec, stream))
        # the same stream cut at every byte, and at a few odd places
        write("proto", name + "-bytewise", proto_seed(codec, stream, cuts=[1] * min(len(stream), 40)))
        write("proto", name + "-cut", proto_seed(codec, stream, cuts=[3, 0, 5, 9]))
    write("proto", "frame-max0", proto_seed(0, frame(1, b"") + frame(1, b"x"), max_frame=0))
    write("proto", "headers-testHeader", proto_seed(2, headers(MSG, b"testHeader"), magic_sel=1))
    # magic selector 0x14: a 1 + 0x14 % 16 = 5-byte magic follows the (empty) cut table
    write("proto", "headers-own-magic",
          proto_seed(2, b"MAGIC" + headers(MSG, b"MAGIC"), magic_sel=0x14))
    for name, (codec, stream) in STREAMS.items():
        write("conn", name, conn_seed(codec, stream))
        write("conn", name + "-cut", conn_seed(codec, stream, chunks=[3, 1, 7, 0], advance=[0, 1, 0, 2]))
    write("conn", "frame-slow-reader",
          conn_seed(0, frame(2, b"p" * 200) * 30, flags=0x03))
    write("conn", "frame-half-then-timeout",
          conn_seed(0, frame(1, MSG)[:10], chunks=[10], advance=[200], flags=0x10))
    # max_frame 1 GiB (0x8F), a header declaring 100 KiB, then a little payload in a second read
    write("conn", "frame-declared-large",
          conn_seed(0, b"SS\x01\x01" + struct.pack(">I", 100 << 10) + b"abc", chunks=[8], max_frame=0x8F))
    write("conn", "frame-server-full", conn_seed(0, frame(1, MSG), flags=0x40))
    write("conn", "frame-half-close-poll", conn_seed(0, frame(1, MSG) * 3, flags=0x28))
    write("conn", "raw-log", conn_seed(1, b"hello\x00\xff\n" * 40, flags=0x04))
    for name, seed in LINK_SEEDS.items():
        write("link", name, seed)
    write("conn", "headers-heartbeat",
          conn_seed(2, headers(MSG) * 3, chunks=[40, 40], advance=[10, 30], flags=0x10))
    # fuzz_proxy: [0] even = a header stream, odd = a proxy_trusted entry
    for name, hdr in PROXY_HEADERS.items():
        write("proxy", name, b"\x00" + hdr + frame(1, MSG))
    for i, entry in enumerate(TRUSTED):
        write("proxy", "trusted-%d" % i, b"\x01" + entry.encode())
    # fuzz_conn with a PROXY header: whole, cut with a timeout between, broken
    write("conn", "proxy-v1-frame", conn_seed(0, PROXY_HEADERS["v1-tcp4"] + frame(1, MSG), flags=F_PROXY))
    write("conn", "proxy-v2-cut", conn_seed(0, V2_INET6 + frame(1, MSG), chunks=[5, 20, 30],
                                            advance=[1, 0, 0], flags=F_PROXY))
    write("conn", "proxy-v2-raw", conn_seed(1, V2_TLVS + b"hello", flags=F_PROXY))
    write("conn", "proxy-cut-timeout", conn_seed(0, PROXY_HEADERS["v1-tcp6"][:20], chunks=[20],
                                                 advance=[200], flags=F_PROXY | 0x10))
    write("conn", "proxy-bad", conn_seed(0, PROXY_HEADERS["v1-bad-port"] + frame(1, MSG), flags=F_PROXY))


if __name__ == "__main__":
    main()
