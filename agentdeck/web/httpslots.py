"""The listener's connections: how many are held, by whom, and who gives one up when
they are all taken, so that no client can hold them all.

``capacity`` connections are held at once; requests on a ``limited`` path (the MCP front
door) may hold at most ``capacity - reserve`` of them, so the pages always have
``reserve`` left. When a connection or a limited request needs a slot and none is free,
one is taken back, in this order:

1. a keep-alive connection idle between requests (closed quietly; only for a new
   connection: it holds no limited slot);
2. the connection that has waited longest for the rest of its request (head or body):
   a slow client, answered 408;
3. the oldest GET stream on a limited path (an SSE stream the client may reopen).

With none of those the newcomer gets 503 with Retry-After at once. Evicting never
waits: the victim's greenlet is sent `Evicted` and its slot is free at once.

While any connection is held, a sweep every SWEEP_INTERVAL ends the socket calls that
are past their deadline (`httprequest.Reader.until`).
"""
import time

import gevent
from gevent import GreenletExit

SWEEP_INTERVAL = 0.25  # seconds: how late a deadline may be kept

# What a connection is doing (Conn.phase)
WAITING = "waiting"    # for a request head (idle when its reader has nothing yet)
REQUEST = "request"    # its route runs; it may be reading the body
STREAM = "stream"      # a streamed answer to a GET on a limited path


class Evicted(GreenletExit):
    """Raised in a connection's greenlet to take its slot back; ``response`` (bytes, or
    b"") is what it should still try to send before it closes."""

    def __init__(self, response=b""):
        super().__init__()
        self.response = response


class Conn:
    """One held connection."""

    __slots__ = ("greenlet", "reader", "phase", "since", "limited", "held")

    def __init__(self, greenlet, reader):
        self.greenlet = greenlet
        self.reader = reader       # httprequest.Reader: whether it waits for request bytes, since when
        self.phase = WAITING
        self.since = time.monotonic()  # when the current phase began
        self.limited = False       # holds one of the limited slots
        self.held = True           # False once released or evicted


class Slots:
    """Bookkeeping of the held connections; `take`/`release` around each connection,
    `limit`/`unlimit` around each limited request. ``slow_response`` is the 408 sent
    to a slow client that is evicted."""

    def __init__(self, capacity, reserve, slow_response):
        if not 0 <= reserve < capacity:
            raise ValueError(f"a reserve of {reserve} out of {capacity} connections")
        self.capacity = capacity
        self.reserve = reserve
        self.slow_response = slow_response
        self.conns = {}        # Conn -> None, in the order they were taken (oldest first)
        self.limited = 0       # of them, holding a limited slot
        self.sweep = gevent.get_hub().loop.timer(SWEEP_INTERVAL, SWEEP_INTERVAL, ref=False)

    def take(self, greenlet, reader):
        """A Conn for a new connection, or None when the listener is full (answer 503)."""
        if len(self.conns) >= self.capacity and not self._evict(limited_only=False):
            return None
        conn = Conn(greenlet, reader)
        if not self.conns:
            self.sweep.start(self._expire)
        self.conns[conn] = None
        return conn

    def release(self, conn):
        if conn.held:
            conn.held = False
            del self.conns[conn]
            if conn.limited:
                conn.limited = False
                self.limited -= 1
            if not self.conns:
                self.sweep.stop()

    def _expire(self):
        """End every socket call past its deadline: run by the hub, so each greenlet thrown
        into comes back here when it next waits."""
        now = time.monotonic()
        for conn in list(self.conns):  # a greenlet thrown into releases its slot
            reader = conn.reader
            if conn.held and reader.until is not None and reader.until <= now:
                reader.until = None
                conn.greenlet.throw(reader.expiry())

    def limit(self, conn):
        """Move ``conn`` into a limited slot for its request; False when there is none (503)."""
        if self.limited >= self.capacity - self.reserve and not self._evict(limited_only=True):
            return False
        conn.limited = True
        self.limited += 1
        return True

    def unlimit(self, conn):
        if conn.limited:
            conn.limited = False
            self.limited -= 1

    def phase(self, conn, phase):
        conn.phase = phase
        conn.since = time.monotonic()

    def _evict(self, limited_only):
        victim, response = self._victim(limited_only)
        if victim is None:
            return False
        self.release(victim)
        victim.greenlet.kill(Evicted(response), block=False)
        return True

    def _victim(self, limited_only):
        """(the connection to take back, what to send it), or (None, None)."""
        slow = stream = None
        for conn in self.conns:  # oldest first
            if limited_only and not conn.limited:
                continue
            waiting = conn.reader.waiting_since
            if conn.phase == WAITING and waiting is None:
                if not limited_only:
                    return conn, b""  # idle between requests
            elif waiting is not None:
                if slow is None or waiting < slow.reader.waiting_since:
                    slow = conn
            elif conn.phase == STREAM and stream is None:
                stream = conn
        if slow is not None:
            return slow, self.slow_response
        return stream, b""
