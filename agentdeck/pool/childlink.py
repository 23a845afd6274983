"""The router's side of the child's stdin, with explicit states.

    HOLDING -> OPEN -> GONE -> HOLDING ...

HOLDING: no child takes traffic yet (the first one is starting, or a restarted one is
being given the cached handshake): lines are held, in order, and count as backlog.
OPEN: lines go to the child's outbox. GONE: there is no child (it exited, is backing off
or failed): lines are dropped and requests are refused with `why`.
"""
HOLDING = "holding"
OPEN = "open"
GONE = "gone"


class ChildLink:
    __slots__ = ("state", "outbox", "held", "held_bytes", "why", "stderr_tail")

    def __init__(self):
        self.state = HOLDING
        self.outbox = None           # Outbox to the child's stdin while a child is attached
        self.held = []               # lines waiting for OPEN (HOLDING only)
        self.held_bytes = 0
        self.why = "is not running"  # completes "server NAME ..." while GONE
        self.stderr_tail = ""        # of the last child, for -32001 errors

    def put(self, line):
        """Send ``line`` in order with the clients' traffic (held while HOLDING)."""
        if self.state is OPEN:
            self.outbox.put(line)
        elif self.state is HOLDING:
            self.held.append(line)
            self.held_bytes += len(line)

    def put_now(self, line):
        """Send the proxy's own line ahead of held traffic (the replayed handshake);
        False when no child is attached to take it."""
        if self.outbox is None:
            return False
        self.outbox.put(line)
        return True

    @property
    def backlog(self):
        """Bytes the child has not taken yet."""
        if self.state is HOLDING:
            return self.held_bytes
        return self.outbox.size if self.outbox is not None else 0

    def flush(self):
        if self.outbox is not None:
            self.outbox.flush()

    def attach(self, outbox):
        # GONE/HOLDING -> HOLDING: traffic waits for `release`
        self.state = HOLDING
        self.outbox = outbox

    def release(self):
        # HOLDING -> OPEN
        held, self.held, self.held_bytes = self.held, [], 0
        self.state = OPEN
        for line in held:
            self.outbox.put(line)

    def detach(self, why, stderr_tail=""):
        # * -> GONE
        self.state = GONE
        self.outbox = None
        self.held, self.held_bytes = [], 0
        self.why = why
        self.stderr_tail = stderr_tail
