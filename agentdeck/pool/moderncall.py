"""2026-07-28 requests over HTTP: each POST is a router client of its own, gone once answered.

A modern request carries no session, so its POST's response is its only channel. Each
one is admitted to the router as a client (`ModernCall`): its ids, progress tokens and
subscription ids are its own, its era adapter is chosen like any client's, and it
counts toward ``max_clients``, which so bounds the modern requests in flight. When its
answer is written, or its client hangs up (which 2026-07-28 defines as cancelling the
request: the router tells the child), it is dropped and nothing of it stays.

One exception: a legacy child that asked the client something while working on the
request (elicitation, sampling, roots) still waits, and the client was sent an
``input_required`` result; its retry, a new POST carrying that result's
``requestState``, must reach the same adapter. Such a call is kept, found by its
``requestState`` (`ModernCalls.open`), until its child is done with the request or the
adapter gives up waiting; it still counts toward ``max_clients``.
"""
import time

from gevent.event import Event

from agentdeck.pool.peer import Peer
from agentdeck.wire import jsonrpc


class ModernCall(Peer):
    __slots__ = ("pending", "pending_bytes", "wake", "open", "slow", "kept_as", "limit", "stats", "forget")
    kind = "http"

    def __init__(self, cid, limit, stats, forget):
        super().__init__(cid)
        self.pending = []       # (line, final) not yet written to the POST's response
        self.pending_bytes = 0
        self.wake = Event()     # set when pending or open changes
        self.open = True        # a POST's response is waiting for its messages
        self.slow = False       # closed for not reading: client_queue_bytes were unwritten
        self.kept_as = None     # the requestState it is kept under for a retry, or None
        self.limit = limit      # callable: client_queue_bytes in force
        self.stats = stats      # the server's Stats: slow_streams counts responses closed as too slow
        self.forget = forget    # forget(call): its table lets go of it once the router has

    # -- the port

    def put(self, line, about=None, final=False):
        if not self.open:
            return  # kept for a retry: its adapter holds what the retry will get
        if self.pending_bytes >= self.limit():
            self.stats.slow_streams += 1
            self.slow = True
            self.open = False
            self.pending, self.pending_bytes = [], 0
        else:
            self.pending.append((line, final))
            self.pending_bytes += len(line)
        self.last_active = time.monotonic()
        self.wake.set()

    @property
    def queued(self):
        return 0  # the response bounds its own backlog (put)

    def flush(self):
        """Nothing: each put wakes the response's writer."""

    def close(self):
        self.open = False
        self.pending, self.pending_bytes = [], 0
        self.wake.set()
        self.forget(self)

    def abandoned(self):
        """A kept call whose child is done with its request (or gave up on the retry)."""
        return not self.open and not self.inflight

    def is_idle(self, now, settings):
        return self.abandoned()

    # -- the response

    def take(self):
        """The (line, final) pairs to write now, in order."""
        lines, self.pending, self.pending_bytes = self.pending, [], 0
        self.wake.clear()
        return lines


def retry_state(line):
    """The ``requestState`` an answer line asks its client to retry with, else None."""
    if b'"input_required"' not in line:
        return None
    try:
        result = jsonrpc.parse(line).get("result")
    except ValueError:
        return None
    if result.__class__ is not dict or result.get("resultType") != "input_required":
        return None
    state = result.get("requestState")
    return state if state.__class__ is str else None


class ModernCalls:
    """The modern calls of one child: opened per POST, kept between an ``input_required``
    answer and its retry while the child still works on the request."""

    def __init__(self, router, next_cid):
        self.router = router
        self.next_cid = next_cid  # callable: a client id unique within the server
        self.kept = {}            # requestState -> ModernCall awaiting its retry
        self.count = 0            # calls admitted and not yet dropped (in flight or kept)

    def open(self, state=None):
        """The call for a POST: the kept one ``state`` (a retry's requestState) names,
        else a new one; None when the server has max_clients clients already."""
        call = self.kept.pop(state, None) if state.__class__ is str else None
        if call is not None and not call.closed:
            call.open, call.kept_as = True, None
            return call
        router = self.router
        call = ModernCall(self.next_cid(), lambda: router.settings.client_queue_bytes, router.stats, self.forget)
        if not router.admit(call):
            return None
        self.count += 1
        return call

    def done(self, call, answer):
        """The POST of ``call`` has ended, ``answer`` (its last line written, or None) with
        it: the call is dropped, or kept when its legacy child still works on the
        request it answered ``input_required`` for."""
        if call.closed:
            return
        state = retry_state(answer) if answer is not None and call.inflight else None
        if state is not None and not call.slow:
            call.open, call.kept_as = False, state
            call.pending, call.pending_bytes = [], 0
            self.kept[state] = call
            return
        self.router.drop_client(call, "answered" if answer is not None else "its client hung up")

    def forget(self, call):
        """The router dropped ``call`` (answered, gone idle, or the server stopping)."""
        self.count -= 1
        if call.kept_as is not None and self.kept.get(call.kept_as) is call:
            del self.kept[call.kept_as]
