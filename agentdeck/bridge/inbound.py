"""The agent's stdin lines: what each one is, and the queue they wait in until they have
been written whole to a live connection."""
import collections

from agentdeck.wire import jsonrpc
from agentdeck.wire.lines import LineSplitter, Oversize

QUEUE_BYTES = 4 * 1048576  # queued stdin bytes at which stdin is no longer read
INITIALIZED = "notifications/initialized"


class Line:
    """One line read from stdin, with what the bridge needs to know about it."""

    __slots__ = ("data", "key", "raw_id", "method")

    def __init__(self, data, key=None, raw_id=None, method=None):
        self.data = data      # the bytes to send, newline included
        self.key = key        # jsonrpc.id_key of a request's id (what responses match on); None otherwise
        self.raw_id = raw_id  # the id's exact text in the agent's line, for answers we make up
        self.method = method  # the method of a request or notification; None for responses and non-JSON

    def tracked(self):
        """What is kept of a request while it is in flight: all of an ``initialize``
        (it is replayed after a reconnect), only the id of anything else."""
        if self.method == "initialize":
            return self
        return Line(None, self.key, self.raw_id, self.method)


def read_line(data):
    """A `Line` for ``data`` (one stdin line without its newline). A request is a JSON
    object with a string ``method`` and an ``id``; an id that cannot be a dict key (an
    array or object, which the proxy refuses with -32600) is not tracked."""
    try:
        message = jsonrpc.parse(data)
    except ValueError:
        return Line(data + b"\n")
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return Line(data + b"\n")
    if "id" not in message or isinstance(message["id"], (list, dict)):
        return Line(data + b"\n", method=message["method"])
    start, end = jsonrpc.id_span(data)
    return Line(data + b"\n", jsonrpc.id_key(message["id"]), data[start:end], message["method"])


class Inbox:
    """stdin lines not yet written whole to a live connection, oldest first.

    Memory: the bridge stops reading stdin while `full`, so the queue holds at most
    `QUEUE_BYTES` plus what one read completes, and the splitter at most one partial line
    of ``max_request_bytes`` (a longer line is skipped as it streams by)."""

    def __init__(self, max_request_bytes):
        self.splitter = LineSplitter(max_request_bytes)
        self.lines = collections.deque()  # Lines, in the order the agent wrote them
        self.size = 0                     # their total length in bytes
        self.initialized = None           # the agent's notifications/initialized once written (a Line)

    @property
    def full(self):
        return self.size >= QUEUE_BYTES

    def take(self, chunk):
        """Queue the lines ``chunk`` completes; returns the `Oversize` markers of the
        lines that were too long (they are not queued)."""
        return self._queue(self.splitter.feed(chunk))

    def take_last(self):
        """At stdin EOF: a last line without a newline still counts, as for readline()."""
        return self._queue(self.splitter.feed(b"\n") if self.splitter.pending else [])

    def _queue(self, items):
        oversize = []
        for item in items:
            if isinstance(item, Oversize):
                oversize.append(item)
                continue
            line = read_line(item)
            self.lines.append(line)
            self.size += len(line.data)
        return oversize

    def pop_written(self):
        """Remove the head line, which has been written whole to a connection."""
        line = self.lines.popleft()
        self.size -= len(line.data)
        if line.method == INITIALIZED:
            self.initialized = line
        return line

    def drop_all(self):
        """Empty the queue (the bridge is ending); returns the requests it held."""
        requests = [line for line in self.lines if line.key is not None]
        self.lines.clear()
        self.size = 0
        return requests
