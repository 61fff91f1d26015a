#!/usr/bin/env python3
# upper.py: every client message comes back in capitals.
import asyncio, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
import sockserv_backend


class Upper(sockserv_backend.Backend):
    def on_open(self, conn):
        print("open", hex(conn.id), conn.listener, conn.peer, flush=True)

    def on_message(self, conn, data):
        # the request's seq makes the reply exactly-once, even across a restart
        conn.send(data.upper(), seq=conn.seq)

    def on_close(self, conn, reason):
        print("close", hex(conn.id), reason, flush=True)


asyncio.run(Upper(sys.argv[1]).serve_forever())
