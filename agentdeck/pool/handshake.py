"""The initialize handshake of one pooled server, shared by all its clients.

The first client's ``initialize`` goes to the child; its result is cached and answers
every later client's ``initialize`` (with their own id); clients that ask while it is in
flight wait for it. A new child (a restart) gets the cached initialize replayed before
any traffic, and ``notifications/initialized`` goes to each child exactly once.
The router does the sending.
"""
from agentdeck.wire.jsonrpc import dumps, result_line

# The one spelling of the notification, sent to each child once.
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'


class Handshake:
    __slots__ = ("params", "result", "pid", "waiters", "initialized")

    def __init__(self):
        self.params = None        # params of the initialize in flight or succeeded; replayed after restarts
        self.result = None        # the encoded result that succeeded, answered to every later client
        self.pid = 0              # proxy id of the client initialize in flight to the child; 0 if none
        self.waiters = []         # (peer, raw id, id key) that asked while it was in flight
        self.initialized = False  # notifications/initialized already sent to the current child

    def wait(self, peer, raw_id, key):
        """Queue a client's initialize behind the one in flight; False when none is."""
        if not self.pid:
            return False
        self.waiters.append((peer, raw_id, key))
        return True

    def begin(self, pid, params):
        """A client's initialize goes to the child as request ``pid``."""
        self.pid = pid
        self.params = params

    def finish(self, msg):
        """The in-flight initialize was answered with ``msg``; returns (peer, answer line,
        id key) for each waiter: the same result, or the same error."""
        waiters, self.waiters = self.waiters, []
        self.pid = 0
        if "result" in msg:
            self.result = dumps(msg["result"])
            return [(peer, result_line(raw_id, self.result), key) for peer, raw_id, key in waiters]
        self.params = None
        error = dumps(msg.get("error"))
        return [(peer, b'{"jsonrpc":"2.0","id":' + raw_id + b',"error":' + error + b"}\n", key)
                for peer, raw_id, key in waiters]

    def mark_initialized(self):
        """True the first time for this child: send it notifications/initialized now."""
        if self.initialized:
            return False
        self.initialized = True
        return True

    def replay_params(self):
        """What to replay to a new child: the params of the initialize that succeeded, or None."""
        return self.params if self.result is not None else None

    def child_gone(self):
        """The child went away: an initialize in flight failed with it; returns its
        waiters as (peer, raw id, id key)."""
        self.initialized = False
        waiters, self.waiters = self.waiters, []
        if self.pid:
            self.pid = 0
            self.params = None
        return waiters

    def drop(self, peer):
        self.waiters = [w for w in self.waiters if w[0] is not peer]
