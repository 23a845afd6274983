"""`agentdeck bridge`: carry an agent's stdio JSON-RPC lines to a pooled MCP server's
Unix socket and back, across daemon restarts.

Contract (DESIGN.md, "Command line"):

- Lines pass both ways unchanged. Whether a line is a request, a response or a
  notification is decided by its ``method``/``result``/``error`` members, never by its id;
  a stdin line that is not a JSON object is forwarded as it is (the proxy answers -32700).
- A line read from stdin stays queued until it has been written to a live connection; a
  connection that breaks during the write keeps it queued. It is sent after reconnecting,
  in order.
- Every request written to a connection is tracked until its response comes back; when
  the connection drops, each one still open is answered on stdout with a ``-32001`` error
  carrying the agent's exact original id, so the agent never waits forever.
- Reconnects: the first connect and every reconnect retry with a back-off of
  `BACKOFF_MIN` doubling to `BACKOFF_MAX`; a connection that dies within
  `STABLE_CONNECTION` does not reset the back-off (a proxy that accepts and closes at
  once is not hammered). After ``give_up`` seconds (default `GIVE_UP_AFTER`;
  ``$AGENTDECK_BRIDGE_GIVE_UP`` overrides it, for tests) without a connection, queued
  requests are answered with -32001 and the bridge exits 1 naming the socket.
- After a reconnect the proxy may belong to a freshly started daemon whose MCP child was
  never initialized. Once the agent's ``initialize`` has succeeded, every new connection
  first carries a copy of it under a bridge-private id (its response is swallowed) and,
  if the agent had sent it, ``notifications/initialized``, before any queued line.
- stdin EOF: lines already read are delivered if a connection is up, then the bridge
  waits at most `EOF_DRAIN` seconds for the answers to requests in flight (answering the
  rest with -32001) and exits 0; with nothing in flight it exits at once. A broken stdout
  (the agent is gone) also ends it with 0.
- Memory: a stdin line over ``max_request_bytes`` or a socket line over
  ``max_response_bytes`` + `RESPONSE_SLACK` is skipped as it streams by, never held
  whole; an oversize request is answered with -32002. stdin is not read while more than
  `QUEUE_BYTES` wait for a connection, so an agent writing into a dead daemon is slowed
  down by its pipe, not by our memory.

Runs on a monkey-patched hub (`agentdeck.entry` patches): the socket is an ordinary
blocking socket, and stdin/stdout are switched to non-blocking mode (restored on exit)
and used through `gevent.os.nb_read`/`nb_write` so the hub never blocks on them.
"""
import collections
import contextlib
import itertools
import json
import os
import socket
import sys
import time

import gevent
import gevent.event
import gevent.lock
from gevent.os import nb_read, nb_write

from agentdeck.wire import jsonrpc
from agentdeck.errors import UserError
from agentdeck.wire.lines import LineSplitter, Oversize

BACKOFF_MIN = 0.1          # seconds before the first retry
BACKOFF_MAX = 5.0          # seconds between retries at most
GIVE_UP_AFTER = 60.0       # seconds without a connection before the bridge exits 1
STABLE_CONNECTION = 5.0    # seconds a connection must live to reset the back-off
CONNECT_TIMEOUT = 5.0      # seconds for one connect() to a busy listener
REPLAY_TIMEOUT = 30.0      # seconds to wait for the replayed initialize (a child may start slowly)
EOF_DRAIN = 5.0            # seconds after stdin EOF to wait for answers still in flight
READER_JOIN = 5.0          # seconds to let the socket reader finish its last stdout write
READ_BYTES = 65536         # one read from stdin or the socket
SEND_BATCH_BYTES = 262144  # queued bytes written with one sendall
QUEUE_BYTES = 4 * 1048576  # queued stdin bytes above which stdin is not read
RESPONSE_SLACK = 65536     # bytes a restored client id may add to a max_response_bytes line
REPLAY_ID_PREFIX = "agentdeck-bridge-replay-"
INITIALIZED = "notifications/initialized"


class Line:
    """One line read from stdin, with what the bridge needs to know about it."""

    __slots__ = ("data", "key", "raw_id", "method")

    def __init__(self, data, key=None, raw_id=None, method=None):
        self.data = data      # the bytes to send, newline included
        self.key = key        # canonical JSON of the id of a request (what responses match on); None otherwise
        self.raw_id = raw_id  # the id's exact text in the agent's line, for answers we make up
        self.method = method  # the method of a request or notification; None for responses and non-JSON


def read_line(data):
    """A `Line` for ``data`` (one stdin line without its newline)."""
    try:
        message = json.loads(data)
    except ValueError:
        return Line(data + b"\n")
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return Line(data + b"\n")
    if "id" not in message:
        return Line(data + b"\n", method=message["method"])
    start, end = jsonrpc.id_span(data)
    return Line(data + b"\n", jsonrpc.dumps(message["id"]), data[start:end], message["method"])


def response_of(data):
    """The parsed message if ``data`` is a JSON-RPC response (result or error, no method), else None."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if (isinstance(message, dict) and "method" not in message and "id" in message
            and ("result" in message or "error" in message)):
        return message
    return None


@contextlib.contextmanager
def nonblocking(*fds):
    """Switch ``fds`` to non-blocking mode for the block, then restore each one's mode
    (a terminal left non-blocking would break the shell that started us)."""
    saved = [(fd, os.get_blocking(fd)) for fd in fds]
    for fd, _ in saved:
        os.set_blocking(fd, False)
    try:
        yield
    finally:
        for fd, blocking in saved:
            os.set_blocking(fd, blocking)


class Bridge:
    """One agent's bridge. Build it, call `run()` once; it returns the exit status
    (0) or raises `UserError` after giving up on the socket.

    Greenlets: the caller's runs the connection loop and is the only writer to the
    socket; one pumps stdin into the queue; one per connection pumps the socket to
    stdout. Every stdout write holds `stdout_lock`, so lines never interleave.
    """

    def __init__(self, socket_path, name, max_request_bytes, max_response_bytes,
                 give_up=GIVE_UP_AFTER, stdin=0, stdout=1):
        self.socket_path = os.fspath(socket_path)
        self.name = name                        # the server, for messages and error data
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.give_up = give_up                  # seconds without a connection before exiting 1
        self.stdin = stdin
        self.stdout = stdout
        self.queue = collections.deque()        # Lines read from stdin, not yet written to a live connection
        self.queue_bytes = 0                    # their total size
        self.room = gevent.event.Event()        # set while queue_bytes < QUEUE_BYTES (stdin may be read)
        self.room.set()
        self.wakeup = gevent.event.Event()      # something for the connection loop: lines, EOF, reader ended
        self.stdin_closed = gevent.event.Event()
        self.eof_deadline = None                # monotonic time after which answers are no longer awaited
        self.stdout_broken = False              # the agent closed our stdout: nobody to answer
        self.stdout_lock = gevent.lock.Semaphore()
        self.in_flight = {}                     # request key -> Line, for requests on the current connection
        self.initialize = None                  # the agent's last initialize that succeeded (a Line)
        self.initialized = None                 # its notifications/initialized once sent (a Line)
        self.replay_key = None                  # key of our replayed initialize while its answer is awaited
        self.replay_answer = None               # AsyncResult for that answer
        self.replays = itertools.count(1)

    # -- the connection loop

    def run(self):
        with nonblocking(self.stdin, self.stdout):
            pump = gevent.spawn(self.pump_stdin)
            try:
                return self.serve()
            finally:
                pump.kill()

    def serve(self):
        delay = BACKOFF_MIN
        offline_since = time.monotonic()
        first = True
        while True:
            conn = self.connect(offline_since, 0.0 if first else delay)
            if conn is None:
                self.answer_queued("the agent closed the bridge's stdin while the daemon was unreachable")
                return 0
            if not first:
                self.note(f"reconnected to {self.socket_path}")
            first = False
            connected_at = time.monotonic()
            done = self.session(conn)
            offline_since = time.monotonic()
            if done or self.stdout_broken:
                self.answer_in_flight(f"the bridge's stdin closed before {self.name} answered")
                return 0
            lost = len(self.in_flight)
            self.answer_in_flight(f"the connection to the agentdeck daemon ({self.socket_path}) closed before "
                                  f"{self.name} answered; send the request again (the bridge is reconnecting)")
            if self.stdin_closed.is_set():
                return 0
            self.note(f"lost the connection to {self.socket_path} ({lost} requests in flight answered "
                      "with -32001); reconnecting")
            # BACKOFF: a connection that died young keeps the delay growing.
            if offline_since - connected_at >= STABLE_CONNECTION:
                delay = BACKOFF_MIN
            else:
                delay = min(delay * 2, BACKOFF_MAX)

    def connect(self, offline_since, delay):
        """A connected socket, or None when stdin closes first. Waits ``delay`` before the
        first attempt, then backs off; raises `UserError` after ``give_up`` seconds offline."""
        while True:
            if delay and self.stdin_closed.wait(delay):
                return None
            if self.stdin_closed.is_set() and not self.queue:
                return None
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(CONNECT_TIMEOUT)
            try:
                conn.connect(self.socket_path)
            except OSError as exc:
                conn.close()
                failure = exc.strerror or str(exc)
            else:
                conn.settimeout(None)
                return conn
            if time.monotonic() - offline_since >= self.give_up:
                self.answer_queued(f"the bridge gave up reaching the agentdeck daemon at {self.socket_path}")
                raise UserError(f"bridge: no connection to {self.socket_path} for {self.give_up:g} s "
                                f"(last error: {failure}): start the daemon with `agentdeck serve`, and check "
                                f"that `agentdeck mcp list` shows {self.name}")
            delay = min(max(delay * 2, BACKOFF_MIN), BACKOFF_MAX)

    def session(self, conn):
        """Carry lines over ``conn`` until it ends (returns False) or stdin has closed and
        every answer arrived or `EOF_DRAIN` passed (returns True). Closes ``conn``."""
        reader = gevent.spawn(self.pump_socket, conn)
        reader.link(lambda _: self.wakeup.set())
        try:
            if self.initialize is not None and not self.replay_handshake(conn, reader):
                return False
            while not reader.dead and not self.stdout_broken:
                self.wakeup.clear()
                if self.queue:
                    if not self.send_queued(conn):
                        return False
                elif self.stdin_closed.is_set():
                    remaining = self.eof_deadline - time.monotonic()
                    if not self.in_flight or remaining <= 0:
                        return True
                    self.wakeup.wait(remaining)
                else:
                    self.wakeup.wait()
            return False
        finally:
            self.close(conn, reader)

    def close(self, conn, reader):
        """End a connection. The reader gets `READER_JOIN` seconds to see the end itself
        before it is killed, so it does not stop halfway through writing a line to stdout."""
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        reader.join(READER_JOIN)
        reader.kill()
        conn.close()
        self.replay_key = None

    def replay_handshake(self, conn, reader):
        """Send the agent's initialize again under a private id and wait for its answer,
        then its notifications/initialized. False when the connection broke."""
        replay_id = REPLAY_ID_PREFIX + str(next(self.replays))
        message = json.loads(self.initialize.data)
        message["id"] = replay_id
        self.replay_key = jsonrpc.dumps(replay_id)
        self.replay_answer = answer = gevent.event.AsyncResult()
        if not self.send(conn, [jsonrpc.dumps(message) + b"\n"]):
            return False
        gevent.wait([answer, reader], count=1, timeout=REPLAY_TIMEOUT)
        if reader.dead:
            return False
        if not answer.ready():
            self.note(f"{self.name} did not answer the replayed initialize within {REPLAY_TIMEOUT:g} s; "
                      "sending queued lines anyway")
            return True
        error = answer.get().get("error")
        if error is not None:
            self.note(f"re-initializing {self.name} after the reconnect failed: {json.dumps(error)[:500]}")
            return True
        return self.initialized is None or self.send(conn, [self.initialized.data])

    def send_queued(self, conn):
        """Write the head of the queue; the lines leave the queue only once written.
        Requests are tracked before the write: their answer may arrive before it returns."""
        batch, size = [], 0
        for line in self.queue:
            if batch and size + len(line.data) > SEND_BATCH_BYTES:
                break
            batch.append(line)
            size += len(line.data)
        requests = [line for line in batch if line.key is not None]
        for line in requests:
            self.in_flight[line.key] = line
        if not self.send(conn, [line.data for line in batch]):
            for line in requests:
                self.in_flight.pop(line.key, None)
            return False
        for line in batch:
            self.queue.popleft()
            if line.method == INITIALIZED:
                self.initialized = line
        self.queue_bytes -= size
        if self.queue_bytes < QUEUE_BYTES:
            self.room.set()
        return True

    @staticmethod
    def send(conn, chunks):
        try:
            conn.sendall(b"".join(chunks))
        except OSError:
            return False
        return True

    # -- stdin -> queue

    def pump_stdin(self):
        splitter = LineSplitter(self.max_request_bytes)
        while True:
            self.room.wait()
            try:
                chunk = nb_read(self.stdin, READ_BYTES)
            except OSError as exc:
                self.note(f"reading stdin failed ({exc.strerror}); treating it as closed")
                chunk = b""
            if not chunk:
                # A last line without a newline still counts, as for readline().
                self.take(splitter.feed(b"\n") if splitter.pending else [])
                self.eof_deadline = time.monotonic() + EOF_DRAIN
                self.stdin_closed.set()
                self.wakeup.set()
                return
            self.take(splitter.feed(chunk))

    def take(self, items):
        for item in items:
            if isinstance(item, Oversize):
                self.refuse_oversize_request(item)
                continue
            line = read_line(item)
            self.queue.append(line)
            self.queue_bytes += len(line.data)
        if self.queue_bytes >= QUEUE_BYTES:
            self.room.clear()
        self.wakeup.set()

    def refuse_oversize_request(self, item):
        raw_id = jsonrpc.guess_id(item.head, item.tail)
        self.write_stdout(jsonrpc.error_line(
            raw_id, jsonrpc.MESSAGE_TOO_LARGE,
            f"the request line of {item.size} bytes is over the limit of {self.max_request_bytes} bytes "
            f"([pool] max_request_bytes); send less data per request",
            {"server": self.name, "size": item.size, "limit": self.max_request_bytes}))

    # -- socket -> stdout

    def pump_socket(self, conn):
        """Copy the connection's lines to stdout until it ends; settles tracked requests
        and swallows the answer to a replayed initialize."""
        splitter = LineSplitter(self.max_response_bytes + RESPONSE_SLACK)
        while True:
            try:
                chunk = conn.recv(READ_BYTES)
            except OSError:
                return
            if not chunk:
                return
            out = []
            for item in splitter.feed(chunk):
                if isinstance(item, Oversize):
                    self.drop_oversize_response(item)
                elif not (self.in_flight or self.replay_key) or self.settle(item):
                    out.append(item)
            if out:
                out.append(b"")
                if not self.write_stdout(b"\n".join(out)):
                    return
            if self.stdin_closed.is_set():
                self.wakeup.set()  # the drain may be complete

    def settle(self, data):
        """Match a line from the server against what is in flight; False to swallow it."""
        message = response_of(data)
        if message is None:
            return True
        key = jsonrpc.dumps(message["id"])
        if key == self.replay_key:
            self.replay_key = None
            self.replay_answer.set(message)
            return False
        line = self.in_flight.pop(key, None)
        if line is not None and line.method == "initialize" and "result" in message:
            self.initialize = line
        return True

    def drop_oversize_response(self, item):
        try:
            key = jsonrpc.dumps(json.loads(jsonrpc.guess_id(item.head, item.tail)))
        except ValueError:  # the head showed something id-like that is not JSON
            key = None
        line = self.in_flight.pop(key, None)
        limit = self.max_response_bytes + RESPONSE_SLACK
        self.note(f"dropped a line of {item.size} bytes from {self.socket_path}, over the limit of {limit} bytes")
        if line is not None:
            self.write_stdout(jsonrpc.error_line(
                line.raw_id, jsonrpc.MESSAGE_TOO_LARGE,
                f"the response of {item.size} bytes is over the bridge's limit of {limit} bytes "
                "([pool] max_response_bytes); ask for less data",
                {"server": self.name, "size": item.size, "limit": limit}))

    # -- answers and output

    def answer_in_flight(self, reason):
        self.answer(list(self.in_flight.values()), reason)
        self.in_flight.clear()

    def answer_queued(self, reason):
        self.answer([line for line in self.queue if line.key is not None], reason)
        self.queue.clear()
        self.queue_bytes = 0
        self.room.set()

    def answer(self, lines, reason):
        """Answer each request in ``lines`` with -32001 and its original id."""
        if lines:
            self.write_stdout(b"".join(
                jsonrpc.error_line(line.raw_id, jsonrpc.SERVER_UNAVAILABLE,
                                   f"MCP server {self.name} is unavailable: {reason}",
                                   {"server": self.name, "socket": self.socket_path})
                for line in lines))

    def write_stdout(self, data):
        """Write all of ``data``; False (and `stdout_broken`) when the agent closed stdout."""
        with self.stdout_lock:
            view = memoryview(data)
            try:
                while view and not self.stdout_broken:
                    view = view[nb_write(self.stdout, view):]
            except OSError:
                self.stdout_broken = True
                self.wakeup.set()
        return not self.stdout_broken

    def note(self, message):
        """One line on stderr, which agents keep in their MCP server log."""
        try:
            print(f"agentdeck bridge ({self.name}): {message}", file=sys.stderr, flush=True)
        except OSError:  # an agent that closed our stderr must not end the bridge
            return
