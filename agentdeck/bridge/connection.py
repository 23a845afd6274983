"""One connection to the proxy's Unix socket: queued stdin lines out, the proxy's lines
in, and the requests written on it that still wait for their answer."""
import socket
import time

from agentdeck.bridge.inbound import INITIALIZED, feed, read_line
from agentdeck.wire import jsonrpc
from agentdeck.wire.lines import LineSplitter

READ_BYTES = 65536       # one read from the socket (and from stdin)
RESPONSE_SLACK = 65536   # bytes a restored client id may add to a max_response_bytes line
REPLAYED = object()      # `settle`'s answer for the response to the replayed initialize


def open_connection(path, max_response_bytes):
    """A `Connection` to the Unix socket at ``path``; raises OSError when nobody accepts.
    Never blocks: a Unix connect either completes at once or fails (a listener whose
    queue is full gives EAGAIN, retried on the back-off like any other failure)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return Connection(sock, max_response_bytes)


class Connection:
    """A connected non-blocking socket and the bookkeeping of what crossed it.

    A queued line leaves the `Inbox` once written whole here; a line cut short by the end
    of the connection stays at the head of the queue and is sent whole on the next one.
    A request is tracked in `in_flight` once written whole: the proxy cannot answer a line
    before its newline, and nothing is read from the socket between a write and its
    bookkeeping (one thread), so lines are parsed after they went out, not before."""

    def __init__(self, sock, max_response_bytes):
        self.sock = sock
        self.fd = sock.fileno()
        self.splitter = LineSplitter(max_response_bytes + RESPONSE_SLACK)
        self.opened_at = time.monotonic()
        self.in_flight = {}     # id key -> Line of each request written here and not answered
        self.preface = []       # bytes written before any queued line: the replayed handshake
        self.gated = False      # queued lines wait: the replayed initialize is not answered yet
        self.replay_key = None  # id key of the replayed initialize until its answer comes
        self.offset = 0         # bytes of the queue's head block already written here
        self.blocked = False    # the socket took less than offered: wait until it is writable

    def start_replay(self, data, key):
        """Send ``data`` (an initialize under the bridge's private id ``key``) before
        anything else, and hold the queue back until `open()`."""
        self.preface.append(data)
        self.replay_key = key
        self.gated = True

    def open(self, line=None):
        """Let the queue flow, after ``line`` (the agent's notifications/initialized) if given."""
        if line is not None:
            self.preface.append(line.data + b"\n")
        self.gated = False

    def send(self, inbox):
        """Write the preface, then the queue unless `gated`, as far as the socket takes
        them; the lines written whole are then booked. False when the connection is broken."""
        try:
            while self.preface:
                head = self.preface[0]
                written = self.sock.send(head)
                if written < len(head):
                    self.preface[0] = head[written:]
                    self.blocked = True
                    return True
                self.preface.pop(0)
            while inbox.blocks and not self.gated:
                block = inbox.blocks[0]
                self.offset += self.sock.send(memoryview(block)[self.offset:] if self.offset else block)
                if self.offset < len(block):
                    end = block.rfind(b"\n", 0, self.offset) + 1  # the lines written whole so far
                    if end:
                        self.book(inbox, inbox.pop_written(end))
                        self.offset -= end
                    self.blocked = True
                    return True
                self.offset = 0
                self.book(inbox, inbox.pop_written(len(block)))
        except BlockingIOError:
            self.blocked = True
            return True
        except OSError:
            return False
        self.blocked = False
        return True

    def book(self, inbox, block):
        """Track the requests among the lines of ``block``, just written whole."""
        for data in block.split(b"\n")[:-1]:
            line = read_line(data)
            if line.key is not None:
                self.in_flight[line.key] = line
            elif line.method == INITIALIZED:
                inbox.initialized = line

    def receive(self):
        """(items, whole) from one read, as `inbound.feed` gives them; None once the
        connection has ended."""
        try:
            chunk = self.sock.recv(READ_BYTES)
        except BlockingIOError:
            return [], None
        except OSError:
            return None
        return feed(self.splitter, chunk) if chunk else None

    def settle(self, data):
        """Match a line from the proxy against what waits for an answer here.

        Returns (request, message): the tracked request ``data`` answers (popped from
        `in_flight`), or `REPLAYED` for the answer to the replayed initialize, or None; and
        the parsed message when parsing was needed (None otherwise). Whether a line is a
        response is decided by its members, never by its id."""
        head = jsonrpc.response_head(data)  # what SDKs write, read without decoding the rest
        if head is not None:
            key, message = jsonrpc.id_key(head[0]), None
        else:
            try:
                message = jsonrpc.parse(data)
            except ValueError:
                return None, None
            if not (isinstance(message, dict) and "method" not in message and "id" in message
                    and ("result" in message or "error" in message)) or isinstance(message["id"], (list, dict)):
                return None, message
            key = jsonrpc.id_key(message["id"])
        if key == self.replay_key:  # a string id: the parsed path, `message` is set
            self.replay_key = None
            return REPLAYED, message
        return self.in_flight.pop(key, None), message

    def close(self):
        self.sock.close()
