#!/usr/bin/env python3
"""A chat-room backend for sockserv (see README.md beside this file).

    python3 examples/backend/chat.py unix:/tmp/chat.sock [--state FILE]

A client's first message names its room: "join ROOM" or just "ROOM" (1 to 64
characters after surrounding blanks are removed).  Every later message goes
to everyone in that room, the sender included, as "ADDR:PORT: text"; joins
and leaves are announced as "* ADDR:PORT joined ROOM" and "* ADDR:PORT left
(REASON)".  A room is a sockserv topic ("room:" + name), so one PUBLISH per
message reaches the room on every worker of every node, and sockserv, not
this program, holds who is subscribed.

Which room each connection is in lives in this process.  With --state it is
also written to FILE, so a restarted chat.py still knows the rooms of the
connections sockserv re-announces; without it, such a connection is asked to
name its room again.
"""

import asyncio
import json
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import sockserv_backend  # noqa: E402

ROOM_MAX = 64


def room_name(data):
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("join "):
        text = text[5:].strip()
    if not 1 <= len(text) <= ROOM_MAX or not text.isprintable():
        return None
    return text


class Chat(sockserv_backend.Backend):
    def __init__(self, address, state=None):
        super().__init__(address)
        self.state = state
        self.rooms = {}                 # connection id -> room
        if state and os.path.exists(state):
            with open(state) as f:
                self.rooms = {int(k): v for k, v in json.load(f).items()}

    def save(self):
        if not self.state:
            return
        # write and rename: a crash mid-write must not lose every room
        tmp = self.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.rooms, f)
        os.replace(tmp, self.state)

    def on_open(self, conn):
        # listener None: known only from a replay, already gone from sockserv
        if conn.reopened and conn.listener is not None and conn.id not in self.rooms:
            conn.send("chat restarted: name your room again")

    def on_message(self, conn, data):
        room = self.rooms.get(conn.id)
        if room is None:
            room = room_name(data)
            if room is None:
                conn.send("name a room first: join ROOM (1 to %d characters)" % ROOM_MAX)
                return
            self.rooms[conn.id] = room
            self.save()
            conn.subscribe("room:" + room)
            self.publish("room:" + room, "* %s joined %s" % (conn.peer, room))
            return
        self.publish("room:" + room, b"%s: %s" % (str(conn.peer).encode(), data))

    def on_close(self, conn, reason):
        room = self.rooms.pop(conn.id, None)
        if room is not None:
            self.save()
            self.publish("room:" + room, "* %s left (%s)" % (conn.peer, reason))


def main():
    args = sys.argv[1:]
    state = None
    if len(args) == 3 and args[1] == "--state":
        state = args[2]
        args = args[:1]
    if len(args) != 1:
        print("usage: chat.py unix:/PATH | HOST:PORT [--state FILE]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(Chat(args[0], state).serve_forever())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
