"""One connected client of a pooled server: its socket, outbox and in-flight ids."""
import time

from agentdeck.pool.outbox import Outbox


class Client:
    __slots__ = ("cid", "sock", "outbox", "inflight", "subscriptions", "last_active", "closed")

    def __init__(self, cid, sock, on_error, server_name):
        self.cid = cid
        self.sock = sock
        self.outbox = Outbox(sock.fileno(), on_error, f"{server_name}/client {cid}")
        self.inflight = {}          # the client's request id -> proxy id, while unanswered
        self.subscriptions = None   # resource URIs it subscribed to (a set, made on first use)
        self.last_active = time.monotonic()  # last byte in either direction
        self.closed = False

    def subscribe(self, uri):
        if self.subscriptions is None:
            self.subscriptions = set()
        self.subscriptions.add(uri)

    def unsubscribe(self, uri):
        if self.subscriptions is not None:
            self.subscriptions.discard(uri)

    def close(self):
        """Drop unsent output and close the socket; a reader blocked on it wakes with an error."""
        self.outbox.close()
        self.sock.close()
