"""The agent's stdin lines: what each one is, and the queue they wait in until they have
been written whole to a live connection."""
import collections

from agentdeck.wire import jsonrpc
from agentdeck.wire.lines import LineSplitter, Oversize

QUEUE_BYTES = 4 * 1048576  # queued stdin bytes at which stdin is no longer read
INITIALIZED = "notifications/initialized"
HANDSHAKE = ("initialize", INITIALIZED)  # the lines replayed to a new connection


class Line:
    """What the bridge knows about one line the agent wrote (worked out once the line has
    been written, off the path between reading a request and sending it)."""

    __slots__ = ("data", "key", "raw_id", "method")

    def __init__(self, data=None, key=None, raw_id=None, method=None):
        self.data = data      # the line without its newline, kept only for the handshake (HANDSHAKE)
        self.key = key        # jsonrpc.id_key of a request's id (what responses match on); None otherwise
        self.raw_id = raw_id  # the id's exact text in the agent's line, for answers we make up
        self.method = method  # the method of a request or notification; None for responses and non-JSON


def read_line(data):
    """A `Line` for ``data`` (one stdin line without its newline). A request is a JSON
    object with a string ``method`` and an ``id``; an id that cannot be a dict key (an
    array or object, which the proxy refuses with -32600) is not tracked. Only the lines
    replayed after a reconnect keep their bytes: a request in flight costs its id."""
    try:
        message = jsonrpc.parse(data)
    except ValueError:
        return Line()
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return Line()
    method = message["method"]
    kept = data if method in HANDSHAKE else None
    if "id" not in message or isinstance(message["id"], (list, dict)):
        return Line(kept, method=method)
    ident = message["id"]
    if ident.__class__ is int:  # an integer has one JSON spelling (-0 aside, which is 0 to everyone)
        raw_id = str(ident).encode()
    else:
        start, end = jsonrpc.id_span(data)
        raw_id = data[start:end]
    return Line(kept, jsonrpc.id_key(ident), raw_id, method)


def read_lines(block):
    """The `Line` of each line in ``block`` (complete lines, newlines included)."""
    return [read_line(data) for data in block.split(b"\n")[:-1]]


def feed(splitter, chunk):
    """(items, whole): the lines and `Oversize` markers ``chunk`` completes, and ``chunk``
    itself when it is exactly those lines (nothing held over, nothing skipped), so that it
    can be passed on without joining the lines again."""
    clean = not splitter.pending and chunk.endswith(b"\n")
    items = splitter.feed(chunk)
    # A chunk no longer than the limit cannot hold an oversize line.
    if clean and (len(chunk) <= splitter.limit or all(item.__class__ is not Oversize for item in items)):
        return items, chunk
    return items, None


class Inbox:
    """stdin lines not yet written whole to a live connection, oldest first, kept as
    blocks of complete lines (usually the bytes of one read, unchanged, so that a request
    goes out without being copied or parsed first).

    Memory: the bridge stops reading stdin while `full`, so the queue holds at most
    `QUEUE_BYTES` plus what one read completes, and the splitter at most one partial line
    of ``max_request_bytes`` (a longer line is skipped as it streams by)."""

    def __init__(self, max_request_bytes):
        self.splitter = LineSplitter(max_request_bytes)
        self.blocks = collections.deque()  # bytes of complete lines, newlines included, in stdin order
        self.size = 0                      # their total length
        self.initialized = None            # the agent's notifications/initialized once written (a Line)

    @property
    def full(self):
        return self.size >= QUEUE_BYTES

    def take(self, chunk):
        """Queue the lines ``chunk`` completes; returns the `Oversize` markers of the
        lines that were too long (they are not queued)."""
        items, whole = feed(self.splitter, chunk)
        return self._queue(items, whole)

    def take_last(self):
        """At stdin EOF: a last line without a newline still counts, as for readline()."""
        return self._queue(self.splitter.feed(b"\n") if self.splitter.pending else [], None)

    def _queue(self, items, whole):
        if whole is not None:
            self.blocks.append(whole)
            self.size += len(whole)
            return []
        lines = [item for item in items if item.__class__ is not Oversize]  # bytes, or a big line's bytearray
        if lines:
            block = b"\n".join(lines) + b"\n"
            self.blocks.append(block)
            self.size += len(block)
        return [item for item in items if item.__class__ is Oversize]

    def pop_written(self, end):
        """Remove the first ``end`` bytes of the head block (complete lines) once written
        to a connection; returns them."""
        block = self.blocks[0]
        if end == len(block):
            self.blocks.popleft()
        else:
            self.blocks[0], block = block[end:], block[:end]
        self.size -= end
        return block

    def drop_all(self):
        """Empty the queue (the bridge is ending); returns the `Line` of each request it held."""
        requests = [line for block in self.blocks for line in read_lines(block) if line.key is not None]
        self.blocks.clear()
        self.size = 0
        return requests
