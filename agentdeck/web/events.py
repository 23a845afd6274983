"""``/events``: a server-sent event stream of session and server changes, for the deck
and for scripts (``curl -N http://127.0.0.1:PORT/events``).

Every stream begins with a ``snapshot`` event (the /status document), then carries

- ``session``: one session's /status entry, each time its status, hook or listing changed;
- ``session_removed``: ``{"id": ...}``, a session that left the registry;
- ``server``: one server's /status entry, each time its state, clients or errors changed;
- ``server_removed``: ``{"name": ...}``, a server a reload took away;

and a ``: keep-alive`` comment after HEARTBEAT seconds of silence.

Bounded so no reader can hurt the daemon: at most MAX_SUBSCRIBERS streams at once (the
next one gets 503 with Retry-After), each with at most QUEUE_BYTES of events waiting to
be sent; a reader that falls that far behind is dropped (its stream ends; it reconnects
and starts over from a snapshot), never buffered without limit. `EventHub.publish`
formats an event once and only appends it to each stream's queue: it never blocks, so
the transition pass and the pool that call it never wait for a reader.
"""
import collections
import json
import urllib.parse

from gevent.event import Event
from loguru import logger

from agentdeck.netaddr import is_loopback_host
from agentdeck.web.httpreply import GONE, KEEP_ALIVE, QUIET, RETRY_MS, SSE_HEADERS, wait_on
from agentdeck.web.httpserver import CONNECTION_FD

MAX_SUBSCRIBERS = 16          # streams served at once
QUEUE_BYTES = 1 << 20         # event bytes one stream may have waiting before it is dropped
HEARTBEAT = 15.0              # seconds of silence before a keep-alive comment
BUSY_BODY = b"too many event streams are open; try again shortly\n"
FOREIGN_BODY = b"an event stream is not served to a web page from another site\n"


def format_event(kind, data):
    """One SSE event: ``event: KIND`` and its data as one line of JSON."""
    return b"event: " + kind.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


class Subscription:
    """One stream's queue of formatted events. Filled by the hub, drained by the stream's
    own greenlet; ``dropped`` once it overflowed or the hub closed."""

    __slots__ = ("queue", "size", "wake", "dropped")

    def __init__(self):
        self.queue = collections.deque()  # formatted events not yet sent
        self.size = 0                     # bytes in queue
        self.wake = Event()               # set when the queue gained an event or the stream must end
        self.dropped = False

    def take(self):
        """Every queued event as one bytes, the queue emptied."""
        data = b"".join(self.queue)
        self.queue.clear()
        self.size = 0
        self.wake.clear()
        return data


class EventHub:
    """The streams open now. `publish` may be called from any greenlet and never blocks."""

    def __init__(self, max_subscribers=MAX_SUBSCRIBERS, queue_bytes=QUEUE_BYTES):
        self.max_subscribers = max_subscribers
        self.queue_bytes = queue_bytes
        self.subscribers = set()
        self.published = 0   # events published since start
        self.dropped = 0     # streams dropped because their reader fell behind
        self.refused = 0     # streams refused because MAX_SUBSCRIBERS were open

    def __bool__(self):
        """True while somebody listens (publishers may skip building events otherwise)."""
        return bool(self.subscribers)

    def stats(self):
        return {"subscribers": len(self.subscribers), "published": self.published, "dropped": self.dropped,
                "refused": self.refused}

    def subscribe(self):
        """A new Subscription, or None when MAX_SUBSCRIBERS are open."""
        if len(self.subscribers) >= self.max_subscribers:
            self.refused += 1
            return None
        subscription = Subscription()
        self.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription):
        self.subscribers.discard(subscription)

    def publish(self, kind, data):
        if not self.subscribers:
            return
        event = format_event(kind, data)
        self.published += 1
        for subscription in list(self.subscribers):
            if subscription.size + len(event) > self.queue_bytes:
                self._drop(subscription)
                continue
            subscription.queue.append(event)
            subscription.size += len(event)
            subscription.wake.set()

    def _drop(self, subscription):
        self.dropped += 1
        logger.info("events: dropped a stream {} bytes behind ({} dropped so far)", subscription.size, self.dropped)
        subscription.dropped = True
        subscription.queue.clear()
        subscription.size = 0
        subscription.wake.set()
        self.subscribers.discard(subscription)

    def close(self):
        """End every stream (the daemon stops)."""
        for subscription in list(self.subscribers):
            subscription.dropped = True
            subscription.wake.set()
        self.subscribers.clear()


def _local_origin(origin):
    """True without an Origin (a script, curl, the deck) or with a loopback one: a page
    elsewhere cannot read the stream without CORS anyway, but it could hold its places."""
    if origin is None:
        return True
    try:
        host = urllib.parse.urlsplit(origin).hostname or ""
    except ValueError:
        return False
    return is_loopback_host(host)


class EventsRoute:
    """The WSGI handler of ``/events`` (token and Host were checked by the status server;
    the Origin is checked here). ``snapshot()`` returns the /status document each stream
    starts with."""

    def __init__(self, hub, snapshot, heartbeat=HEARTBEAT):
        self.hub = hub
        self.snapshot = snapshot
        self.heartbeat = heartbeat

    def __call__(self, environ, start_response):
        if not _local_origin(environ.get("HTTP_ORIGIN")):
            start_response("403 Forbidden", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(FOREIGN_BODY)))])
            return [FOREIGN_BODY]
        subscription = self.hub.subscribe()
        if subscription is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1"),
                                                       ("Content-Length", str(len(BUSY_BODY)))])
            return [BUSY_BODY]
        # Subscribed before the snapshot is taken: a change made meanwhile is in both.
        write = start_response("200 OK", SSE_HEADERS)
        return self._stream(subscription, write, environ.get(CONNECTION_FD))

    def _stream(self, subscription, write, fd):
        try:
            write(b"retry: %d\n\n" % RETRY_MS)  # the head now: clients wait for it before they listen
            yield format_event("snapshot", self.snapshot())
            while not subscription.dropped:
                seen = wait_on(subscription.wake, fd, self.heartbeat)
                if seen is GONE:
                    return  # else the stream would stay until the next event
                if seen is QUIET:
                    yield KEEP_ALIVE
                elif subscription.queue:
                    yield subscription.take()
        finally:
            self.hub.unsubscribe(subscription)
