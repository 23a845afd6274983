"""An MCP Streamable HTTP session: the HTTP implementation of the client port.

One session (``Mcp-Session-Id``) is one router client. Every message the router puts
for it gets an SSE event id and goes on exactly one stream: the POST stream of the
request it belongs to while that call is open, else the session's GET stream. Events
are kept in a replay ring bounded by ``http_replay_bytes``, so a client that lost a
stream gets what it missed with ``GET`` and ``Last-Event-ID``; a POST stream that
closes early is not a cancel, its answer waits there. A stream whose reader stops is
closed once it holds ``client_queue_bytes`` undelivered; the session survives it.

Memory per session: the ring (events sent on SSE streams or still owed; an answer that
went out as a JSON body leaves it), what live streams have not written yet (each
bounded), and a few small dicts; an idle session holds no stream and no greenlet.
"""
import collections
import time

from gevent.event import Event

from agentdeck.pool.peer import Peer

GET_TAG = 0  # the tag of events for the session's GET stream; POST streams count from 1
# Seconds a session is not taken for abandoned after one of its event streams that carried
# events ended: written is not read, and a client that broke the stream comes back with
# Last-Event-ID for what it missed (we ask SSE clients to retry after 1 s). A stream that
# carried nothing, as `claude mcp list` leaves its GET stream, starts none; nor does a JSON answer.
RESUME_GRACE = 5.0


class Stream:
    """One open response of a session: a POST's (JSON or SSE) or the GET stream."""

    __slots__ = ("tag", "pending", "pending_bytes", "wake", "closed", "calls", "delivered", "single")

    def __init__(self, tag, calls=(), single=False):
        self.tag = tag
        self.single = single     # a POST of one request: its answer alone goes out as a JSON body
        self.pending = []        # (event id, line, final) not yet written; event id None: the JSON body
        self.pending_bytes = 0
        self.wake = Event()      # set when pending or closed changes
        self.closed = False      # ended by us (too slow, session over) or by the client going away
        self.calls = set(calls)  # id keys whose answers it still owes (POST); empty for GET
        self.delivered = 0       # events handed to the HTTP writer

    def take(self):
        """The events to write now, in order; empties pending."""
        events, self.pending, self.pending_bytes = self.pending, [], 0
        self.wake.clear()
        self.delivered += len(events)
        return events

    @property
    def done(self):
        """A POST stream ends once every answer it owes is written."""
        return self.tag != GET_TAG and not self.calls and not self.pending

    def close(self):
        self.closed = True
        self.pending, self.pending_bytes = [], 0
        self.wake.set()


class HttpSession(Peer):
    __slots__ = ("sid", "protocol", "settings", "ring", "ring_bytes", "next_eid", "next_tag", "calls", "get",
                 "boot", "forget", "stats", "resume_until")
    kind = "http"

    def __init__(self, cid, sid, protocol, settings, boot, forget, stats):
        super().__init__(cid)
        self.sid = sid              # the Mcp-Session-Id
        self.protocol = protocol    # MCP-Protocol-Version in use
        self.settings = settings    # callable: the PoolSettings in force
        self.boot = boot            # prefix of event ids (the daemon run): an earlier run's are never mistaken
        self.forget = forget        # forget(session): its table lets go of it once the router has
        self.ring = ()              # [event id, tag, line, delivered] for replay, oldest first (a deque
                                    # once there is one: its first block alone is ~600 bytes)
        self.ring_bytes = 0
        self.next_eid = 1
        self.next_tag = GET_TAG + 1
        self.calls = {}             # id key of an open request -> the Stream carrying its messages
        self.get = None             # the live GET Stream, or None
        self.stats = stats          # the server's Stats: slow_streams counts streams closed as too slow
        self.resume_until = 0.0     # monotonic time until which its client may come back to resume a stream

    # -- the port

    def put(self, line, about=None, final=False):
        stream = self.calls.get(about) if about is not None else None
        if stream is not None and final:
            del self.calls[about]
            stream.calls.discard(about)
            if stream.single and not stream.pending and not stream.delivered and not stream.closed:
                # The whole answer to its POST, a JSON body: that names no event, so no
                # client can ask for it again, and neither the ring nor an event id is spent.
                stream.pending.append((None, line, True))
                stream.pending_bytes += len(line)
                stream.wake.set()
                return
        target = stream if stream is not None else self.get
        tag = stream.tag if stream is not None else GET_TAG
        eid = self.next_eid
        self.next_eid = eid + 1
        entry = [eid, tag, line, False]
        self._remember(entry)
        if target is not None and not target.closed:
            if target.pending_bytes >= self.settings().client_queue_bytes:
                # Already that much unwritten: its reader stopped. What it missed stays in
                # the ring; one message larger than the limit still goes to a reader that keeps up.
                self.stats.slow_streams += 1
                target.close()
                if target is self.get:
                    self.get = None
                return
            entry[3] = True
            target.pending.append((self.event_id(eid), line, final))
            target.pending_bytes += len(line)
            target.wake.set()
        elif stream is not None and final:
            stream.wake.set()  # a stream that closed early: nothing to write, the ring keeps it
            self.resume_until = time.monotonic() + RESUME_GRACE

    @property
    def queued(self):
        return 0  # streams bound their own backlog; a slow stream never drops the session

    def flush(self):
        """Nothing: each put wakes the stream's writer greenlet."""

    def close(self):
        for stream in {*self.calls.values(), self.get} - {None}:
            stream.close()
        self.calls.clear()
        self.get = None
        self.ring = ()
        self.ring_bytes = 0
        self.forget(self)

    def abandoned(self):
        return not self.busy() and not self.calls and self.get is None and time.monotonic() >= self.resume_until

    def is_idle(self, now, settings):
        return self.abandoned() and now - self.last_active >= settings.http_session_idle

    # -- streams

    def open_post(self, keys, single=False):
        """A Stream for the answers to the requests ``keys`` of one POST (``single``: of
        one request, not a batch)."""
        stream = Stream(self.next_tag, keys, single)
        self.next_tag += 1
        for key in keys:
            self.calls[key] = stream
        self.last_active = time.monotonic()
        return stream

    def open_get(self, last_event_id=None):
        """The stream a GET opens: with ``Last-Event-ID`` the stream that event was on,
        resumed with what it missed; else the session's GET stream, with what was sent
        while none was open. An event no longer known (the ring moved on, or an earlier
        daemon run sent it) opens the GET stream too: the session lives, only its replay
        position is lost, and a 404 would tell the client the session is gone."""
        self.last_active = time.monotonic()
        place = self._place_of(last_event_id) if last_event_id is not None else None
        tag, after = place if place is not None else (GET_TAG, None)
        if tag == GET_TAG:
            if self.get is not None:
                self.get.close()  # the client reconnected: the old connection is gone
            stream = self.get = Stream(GET_TAG)
        else:
            owed = [key for key, s in self.calls.items() if s.tag == tag]
            stream = Stream(tag, owed)
            for key in owed:
                self.calls[key] = stream
        for entry in self.ring:
            if entry[1] == tag and (entry[0] > after if after is not None else not entry[3]):
                entry[3] = True
                stream.pending.append((self.event_id(entry[0]), entry[2], tag != GET_TAG and
                                       self._answers(entry[2])))
                stream.pending_bytes += len(entry[2])
        stream.wake.set()
        return stream

    def stream_ended(self, stream, sse):
        """The HTTP writer of ``stream`` is done (answered, or the client went away);
        ``sse``: it was an event stream, which its client may resume."""
        stream.closed = True
        if self.get is stream:
            self.get = None
        self.last_active = now = time.monotonic()
        if sse and stream.delivered:
            self.resume_until = now + RESUME_GRACE

    # -- events

    def event_id(self, eid):
        return f"{self.boot}-{eid}"

    def priming_id(self, tag):
        """The id of a stream's priming event: resuming from it replays the whole stream."""
        return f"{self.boot}-p{tag}"

    def _place_of(self, text):
        """(stream tag, event number after which to replay) of an event id; None when it
        is not one of ours or has left the ring."""
        boot, _, number = text.rpartition("-")
        if boot != self.boot:
            return None
        if number[:1] == "p" and number[1:].isdigit():
            return int(number[1:]), 0
        entry = next((e for e in self.ring if number.isdigit() and e[0] == int(number)), None)
        return None if entry is None else (entry[1], entry[0])

    def _remember(self, entry):
        size = len(entry[2])
        limit = self.settings().http_replay_bytes
        if size > limit:
            return  # too large to keep: it can only be delivered live
        if not self.ring:
            self.ring = collections.deque()
        self.ring.append(entry)
        self.ring_bytes += size
        while self.ring_bytes > limit:
            self.ring_bytes -= len(self.ring.popleft()[2])

    @staticmethod
    def _answers(line):
        """Whether a replayed line on a POST stream is an answer (ends its call)."""
        head = line[:200]
        return b'"method"' not in head and (b'"result"' in line or b'"error"' in line)
