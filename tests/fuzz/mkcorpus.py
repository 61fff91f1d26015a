#!/usr/bin/env python3
"""Write the seed corpora for the fuzz targets that take a binary layout
(fuzz_proto and fuzz_conn: see the layout comments at the top of each
target).  The config seeds are plain files copied from etc/ and tests, so
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
    write("conn", "headers-heartbeat",
          conn_seed(2, headers(MSG) * 3, chunks=[40, 40], advance=[10, 30], flags=0x10))


if __name__ == "__main__":
    main()
