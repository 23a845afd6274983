"""One connected client of a pooled server: its socket, outbox and in-flight ids."""
import time

import gevent

from agentdeck.wire.fdread import FdReader
from agentdeck.wire.outbox import Outbox


class Client:
    __slots__ = ("cid", "sock", "fd", "input", "outbox", "inflight", "subscriptions", "last_active", "closed",
                 "reader")

    def __init__(self, cid, sock, on_error, server_name):
        self.cid = cid
        self.sock = sock
        self.fd = sock.fileno()
        self.input = FdReader(self.fd)
        self.outbox = Outbox(self.fd, on_error, f"{server_name}/client {cid}")
        self.inflight = {}          # the client's request id -> proxy id, while unanswered
        self.subscriptions = None   # resource URIs it subscribed to (a set, made on first use)
        self.last_active = time.monotonic()  # last byte in either direction
        self.closed = False
        self.reader = gevent.getcurrent()  # the greenlet reading this client (created in it)

    def subscribe(self, uri):
        if self.subscriptions is None:
            self.subscriptions = set()
        self.subscriptions.add(uri)

    def unsubscribe(self, uri):
        if self.subscriptions is not None:
            self.subscriptions.discard(uri)

    def close(self):
        """Drop unsent output, stop the reader and close the socket (watchers before the fd,
        so a reused descriptor number is never watched twice)."""
        self.outbox.close()
        self.input.close()
        if self.reader is not gevent.getcurrent():
            self.reader.kill(block=False)
        self.sock.close()
