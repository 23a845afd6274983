"""The client port: what the router needs of a connected client, whatever carries it.

A Unix-socket connection (`sockclient.SocketClient`) and an HTTP session are two
implementations. The router calls only `put`, `flush`, `queued`, `hung_up`, `abandoned`
and `close` (the idle sweep `is_idle`), and reads `cid`, `kind` and `last_active`; the
bookkeeping attributes below them are the router's, and a transport never touches them.
"""
import time


class Peer:
    __slots__ = ("cid", "last_active", "closed", "inflight", "subscriptions", "proto", "adapter", "held")
    kind = "?"  # "socket" or "http": status counts them apart

    def __init__(self, cid):
        self.cid = cid                       # unique among one server's clients; names it in logs
        self.last_active = time.monotonic()  # last byte in either direction
        self.closed = False                  # set once by the router's drop_client
        # -- the router's bookkeeping
        self.inflight = {}                   # id key of the client's request -> proxy id, while unanswered
        self.subscriptions = None            # resource URIs it subscribed to (a set, made on first use)
        self.proto = None                    # protocol.clients.ClientState once a request showed its era
        self.adapter = None                  # its era adapter to the child's era; None: the same era
        self.held = 0                        # of inflight, the listens its adapter holds (never answered:
                                             # they keep no client busy)

    def put(self, line, about=None, final=False):
        """Queue ``line`` (bytes, newline included) for the client; never blocks.

        ``about`` is the id key of the client's request the line belongs to (its answer, a
        progress notification for it, a request the child made while working on it), or
        None for what the server sends unprompted; ``final`` marks the one answer to it."""
        raise NotImplementedError

    @property
    def queued(self):
        """Bytes queued and not yet delivered."""
        raise NotImplementedError

    def flush(self):
        """Deliver what can be delivered now without blocking."""
        raise NotImplementedError

    def hung_up(self):
        """True when the other side is known to be gone although no reader has seen it yet
        (asked before a client is refused for max_clients)."""
        return False

    def close(self):
        """Drop queued output and end the transport. Called once, by the router."""
        raise NotImplementedError

    def abandoned(self):
        """True when ending it now loses nothing its client is waiting for (an HTTP session
        with no stream open, nothing in flight and no stream to resume: its client
        initializes again); the router ends the least recently used such client rather
        than refuse a new one."""
        return False

    def is_idle(self, now, settings):
        """Nothing sent, received or in flight for idle_timeout: the idle sweep closes it."""
        return not self.busy() and now - self.last_active >= settings.idle_timeout

    def busy(self):
        """A request of the client is in flight (not counting the listens held for it), or
        its adapter waits for its answers to the child's questions."""
        return len(self.inflight) > self.held or (self.adapter is not None and self.adapter.waiting())
