"""`Bridge`: one agent's stdio carried over a connection to the proxy, through
disconnects, reconnects, the replayed handshake, stdin EOF and the exit (the contract is
the package docstring)."""
import itertools
import json
import os
import signal
import time

from agentdeck.bridge.connection import READ_BYTES, REPLAYED, RESPONSE_SLACK, open_connection
from agentdeck.bridge.inbound import Inbox
from agentdeck.bridge.loop import READ, WRITE, Loop
from agentdeck.bridge.stdio import Output, nonblocking, note
from agentdeck.errors import UserError
from agentdeck.wire import jsonrpc
from agentdeck.wire.hello import hello_line
from agentdeck.wire.lines import Oversize

BACKOFF_MIN = 0.1          # seconds before the first retry
BACKOFF_MAX = 5.0          # seconds between retries at most
GIVE_UP_AFTER = 60.0       # seconds without a connection before the bridge exits 1
STABLE_CONNECTION = 5.0    # seconds a connection must live to reset the back-off
REPLAY_TIMEOUT = 30.0      # seconds to wait for the replayed initialize (a child may start slowly)
EOF_DRAIN = 5.0            # seconds after stdin EOF to wait for answers still in flight
EXIT_FLUSH = 5.0           # seconds to let the agent read the last answers before exiting anyway
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # end the bridge like stdin EOF without the drain
REPLAY_ID_PREFIX = "agentdeck-bridge-replay-"


class Bridge:
    """One agent's bridge. Build it, call `run()` once: it returns the exit status, or
    raises `UserError` after giving up on the socket.

    Everything happens on one thread in one `Loop`: handlers for stdin, the socket and
    stdout never block and keep the state below consistent between events."""

    def __init__(self, socket_path, name, max_request_bytes, max_response_bytes,
                 give_up=GIVE_UP_AFTER, stdin=0, stdout=1, stderr=2, project=None):
        self.socket_path = os.fspath(socket_path)
        self.name = name                        # the server, for messages and error data
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.give_up = give_up                  # seconds without a connection before exiting 1
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.loop = Loop()
        self.inbox = Inbox(max_request_bytes)   # stdin lines not yet written to a live connection
        self.output = Output(stdout)
        self.conn = None                        # the live Connection; None while offline
        self.handshake = None                   # the agent's last initialize that succeeded (a Line)
        self.replays = itertools.count(1)
        self.offline_since = time.monotonic()   # when the last connection ended (or the bridge started)
        self.retry_delay = 0.0                  # seconds before the next connect attempt
        self.drop_delay = BACKOFF_MIN           # first retry delay after a connection drops
        self.connected_once = False
        self.timers = {}                        # "retry" / "replay" / "drain" / "flush" -> Timer
        self.eof = False                        # stdin has closed
        self.status = None                      # the exit status, once the bridge is ending
        self.watching = None                    # what `watch` last asked the loop to wait for
        self.failure = None                     # the UserError to raise after the exit (gave up)
        self.hello = hello_line(project) if project else None  # first line of every connection: our project

    # -- the loop

    def run(self):
        with nonblocking(self.stdin, self.stdout, self.stderr):
            self.loop.catch_signals(STOP_SIGNALS, self.handle_stop_signal)
            try:
                self.connect()
                while not self.ended():
                    self.watch()
                    self.loop.run_once()
            finally:
                self.close_connection()
                self.loop.close()
        if self.failure is not None:
            raise self.failure
        return self.status

    def ended(self):
        """The exit status is known and the last output is written (or cannot be)."""
        return self.status is not None and (not self.output.waiting or "flush" not in self.timers)

    def watch(self):
        """Wait for what can make progress now. While the stdout backlog is full, neither
        the socket nor stdin is read: the proxy's bounded queue for us (client_queue_bytes)
        fills instead, and the agent's pipe."""
        taking = self.status is None and not self.output.full
        conn = self.conn
        wanted = (READ if taking and not self.eof and not self.inbox.full else 0,
                  conn, (READ if taking else 0) | (WRITE if conn is not None and conn.blocked else 0),
                  WRITE if self.output.waiting else 0)
        if wanted == self.watching:  # the usual case: this runs after every event
            return
        self.watching = wanted
        self.loop.watch(self.stdin, wanted[0], self.handle_stdin)
        if conn is not None:
            self.loop.watch(conn.fd, wanted[2], self.handle_socket)
        self.loop.watch(self.stdout, wanted[3], self.handle_stdout)

    def later(self, name, delay, callback):
        def fire():
            del self.timers[name]
            callback()
        self.cancel(name)
        self.timers[name] = self.loop.call_later(delay, fire)

    def cancel(self, name):
        timer = self.timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def handle_stop_signal(self, signum):
        self.finish(128 + signum, f"the bridge was stopped (signal {signum}) before {self.name} answered")

    # -- connecting

    def connect(self):
        try:
            self.conn = open_connection(self.socket_path, self.max_response_bytes)
        except BlockingIOError:
            self.connect_failed("its listen queue is full")
            return
        except OSError as exc:
            self.connect_failed(exc.strerror or str(exc))
            return
        if self.connected_once:
            self.note(f"reconnected to {self.socket_path}")
        self.connected_once = True
        if self.hello is not None:
            self.conn.preface.append(self.hello)
        if self.handshake is not None:
            self.replay_handshake()
        self.send()

    def connect_failed(self, failure):
        if time.monotonic() - self.offline_since >= self.give_up:
            self.failure = UserError(
                f"bridge: no connection to {self.socket_path} for {self.give_up:g} s (last error: {failure}): "
                f"start the daemon with `agentdeck serve`, and check that `agentdeck mcp list` shows {self.name}")
            self.finish(1, f"the bridge gave up reaching the agentdeck daemon at {self.socket_path}")
            return
        self.retry_delay = min(max(self.retry_delay * 2, BACKOFF_MIN), BACKOFF_MAX)
        self.later("retry", self.retry_delay, self.connect)

    def disconnected(self):
        """The connection ended under us: answer what was in flight on it, then reconnect
        (or end, after stdin EOF)."""
        conn = self.conn
        self.close_connection()
        self.offline_since = time.monotonic()
        lost = len(conn.in_flight)
        if self.eof:
            self.finish(0, f"the connection to the agentdeck daemon ({self.socket_path}) closed before "
                           f"{self.name} answered", conn)
            return
        self.answer(conn.in_flight.values(), f"the connection to the agentdeck daemon ({self.socket_path}) "
                                             f"closed before {self.name} answered; send the request again "
                                             "(the bridge is reconnecting)")
        self.note(f"lost the connection to {self.socket_path} ({lost} requests in flight answered "
                  "with -32001); reconnecting")
        # BACKOFF: a connection that died young keeps the delay growing.
        if self.offline_since - conn.opened_at >= STABLE_CONNECTION:
            self.drop_delay = BACKOFF_MIN
        else:
            self.drop_delay = min(self.drop_delay * 2, BACKOFF_MAX)
        self.retry_delay = self.drop_delay
        self.later("retry", self.drop_delay, self.connect)

    def close_connection(self):
        if self.conn is not None:
            self.loop.watch(self.conn.fd, 0, None)
            self.conn.close()
            self.conn = None
            self.cancel("replay")

    # -- the replayed handshake

    def replay_handshake(self):
        """A new connection may reach a freshly started daemon whose child was never
        initialized: send the agent's initialize again under a private id first."""
        replay_id = REPLAY_ID_PREFIX + str(next(self.replays))
        message = json.loads(self.handshake.data)
        message["id"] = replay_id
        self.conn.start_replay(jsonrpc.dumps(message) + b"\n", jsonrpc.id_key(replay_id))
        self.later("replay", REPLAY_TIMEOUT, self.replay_timed_out)

    def replay_answered(self, message):
        self.cancel("replay")
        error = message.get("error")
        if error is not None:
            self.note(f"re-initializing {self.name} after the reconnect failed: {json.dumps(error)[:500]}")
            self.conn.open()
        else:
            self.conn.open(self.inbox.initialized)

    def replay_timed_out(self):
        # The private id stays known to the connection: a late answer is still swallowed.
        self.note(f"{self.name} did not answer the replayed initialize within {REPLAY_TIMEOUT:g} s; "
                  "sending queued lines anyway")
        self.conn.open()
        self.send()

    # -- stdin -> socket

    def handle_stdin(self, _events):
        try:
            chunk = os.read(self.stdin, READ_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self.note(f"reading stdin failed ({exc.strerror}); treating it as closed")
            chunk = b""
        for item in self.inbox.take(chunk) if chunk else self.inbox.take_last():
            self.refuse_oversize_request(item)
        self.send()
        if not chunk:
            self.stdin_closed()

    def stdin_closed(self):
        self.eof = True
        if self.status is not None:
            return
        if self.conn is None:
            self.finish(0, "the agent closed the bridge's stdin while the daemon was unreachable")
            return
        self.later("drain", EOF_DRAIN, lambda: self.finish(0, f"the bridge's stdin closed before {self.name} answered"))
        self.check_drained()

    def send(self):
        if self.conn is None or self.status is not None:
            return
        if not self.conn.send(self.inbox):
            self.disconnected()
        elif self.eof:
            self.check_drained()

    def check_drained(self):
        """After stdin EOF: end once every line is written and every answer arrived."""
        if self.eof and self.status is None and not self.inbox.blocks and not self.conn.in_flight:
            self.finish(0)

    def refuse_oversize_request(self, item):
        raw_id = jsonrpc.guess_id(item.head, item.tail)
        self.output.write(jsonrpc.error_line(
            raw_id, jsonrpc.MESSAGE_TOO_LARGE,
            f"the request line of {item.size} bytes is over the limit of {self.max_request_bytes} bytes "
            f"([pool] max_request_bytes); send less data per request",
            {"server": self.name, "size": item.size, "limit": self.max_request_bytes}))

    # -- socket -> stdout

    def handle_socket(self, events):
        if events & WRITE:
            self.send()
        if events & READ and self.conn is not None:
            self.receive()

    def receive(self):
        """Copy the lines of one socket read to stdout; settle the requests they answer
        and swallow the answer to a replayed initialize."""
        conn = self.conn
        received = conn.receive()
        if received is None:
            self.disconnected()
            return
        items, whole = received
        if whole is not None and conn.replay_key is None:
            # Nothing to swallow or skip: out first, the bookkeeping cannot change what goes out.
            self.output.write(whole)
            if conn.in_flight:
                for item in items:
                    self.settle(conn, item)
        else:
            out = []
            for item in items:
                if item.__class__ is not Oversize:  # bytes, or a big line's bytearray
                    if not (conn.in_flight or conn.replay_key) or self.settle(conn, item):
                        out.append(item)
                else:
                    self.drop_oversize_response(conn, item)
            if out:
                out.append(b"")
                self.output.write(b"\n".join(out))
        if self.output.broken:
            self.finish(0)
        elif self.eof and self.conn is conn:
            self.check_drained()

    def settle(self, conn, data):
        """Book a line from the proxy; False to swallow it."""
        request, message = conn.settle(data)
        if request is REPLAYED:
            if conn.gated:  # else it came after REPLAY_TIMEOUT: the queue already flows
                self.replay_answered(message)
                self.send()
            return False
        if request is not None and request.method == "initialize":
            if message is None:
                try:
                    message = jsonrpc.parse(data)
                except ValueError:  # only its head looked like a response
                    return True
            if "result" in message:
                self.handshake = request
        return True

    def drop_oversize_response(self, conn, item):
        try:
            key = jsonrpc.id_key(json.loads(jsonrpc.guess_id(item.head, item.tail)))
        except ValueError:  # the head showed something id-like that is not JSON
            key = None
        request = conn.in_flight.pop(key, None)
        limit = self.max_response_bytes + RESPONSE_SLACK
        self.note(f"dropped a line of {item.size} bytes from {self.socket_path}, over the limit of {limit} bytes")
        if request is not None:
            self.output.write(jsonrpc.error_line(
                request.raw_id, jsonrpc.MESSAGE_TOO_LARGE,
                f"the response of {item.size} bytes is over the bridge's limit of {limit} bytes "
                "([pool] max_response_bytes); ask for less data",
                {"server": self.name, "size": item.size, "limit": limit}))

    def handle_stdout(self, _events):
        self.output.flush()
        if self.output.broken:
            self.finish(0)

    # -- the end

    def finish(self, status, reason=None, conn=None):
        """End the bridge with ``status``: answer every request still open (in flight on
        ``conn``, else the live connection, and queued) with -32001 for ``reason``, stop
        reading, and give the agent `EXIT_FLUSH` seconds to read what is left."""
        if self.status is not None:
            return
        self.status = status
        conn = conn or self.conn
        if reason is not None:
            self.answer([*(conn.in_flight.values() if conn else ()), *self.inbox.drop_all()], reason)
        self.close_connection()
        for name in list(self.timers):
            self.cancel(name)
        if self.output.waiting:
            self.later("flush", EXIT_FLUSH, lambda: None)

    def answer(self, requests, reason):
        """Answer each of ``requests`` with -32001 and its original id."""
        self.output.write(b"".join(
            jsonrpc.error_line(request.raw_id, jsonrpc.SERVER_UNAVAILABLE,
                               f"MCP server {self.name} is unavailable: {reason}",
                               {"server": self.name, "socket": self.socket_path})
            for request in requests))

    def note(self, message):
        note(self.name, message, self.stderr)
