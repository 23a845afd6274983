"""Routing between the clients of one pooled server and its child: the wire contract.

Every line from a client or from the child passes through here. The router keeps the
tables that make sharing work (proxy id -> waiting client, progress tokens,
subscriptions, the cached initialize) and guarantees each client request exactly one
response: the child's, or an error of ours. It never blocks: output goes to outboxes
that are flushed once per batch of lines.

All tables are pruned when their client leaves or the child exits, so their size is
bounded by clients x in-flight requests, never by uptime.
"""
import time

from gevent import get_hub
from gevent.event import AsyncResult
from loguru import logger

from agentdeck.wire import jsonrpc
from agentdeck.wire.jsonrpc import NULL_ID, error_line, id_span, replace_id, response_head, result_line

_parse = jsonrpc.parse
RECENT_ERRORS = 5  # bad lines from the child logged in full before they are only counted


class Pending:
    """A request forwarded to the child and not yet answered."""

    __slots__ = ("client", "raw_id", "key", "method", "token", "waiter")

    def __init__(self, client, raw_id, key, method, token=None, waiter=None):
        self.client = client  # the asking Client; None for the proxy's own requests
        self.raw_id = raw_id  # the client's id, exactly as it wrote it
        self.key = key        # the parsed id: key of client.inflight
        self.method = method
        self.token = token    # proxy progress token registered for this request, or None
        self.waiter = waiter  # AsyncResult for the proxy's own requests


class Stats:
    __slots__ = ("bytes_in", "bytes_out", "requests", "orphans", "oversize_requests",
                 "oversize_responses", "bad_child_lines", "idle_closed", "slow_closed", "rejected")

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}


class Router:
    def __init__(self, name, settings):
        self.name = name
        self.settings = settings  # PoolSettings
        self.clients = {}         # cid -> Client
        self.pending = {}         # proxy id -> Pending, in the order requests were sent
        self.next_pid = 1
        self.progress = {}        # proxy progress token -> (client, the client's token)
        self.subscribers = {}     # resource uri -> set of subscribed clients
        self.child_requests = {}  # (is_str, id) of a child's request -> client asked to answer it
        self.init_params = None   # params of the initialize that succeeded; replayed after restarts
        self.init_result = None   # its encoded result, answered to every later client
        self.handshake_pid = 0    # proxy id of the client initialize in flight to the child; 0 if none
        self.init_waiters = []    # (client, raw_id) that asked initialize while one was in flight
        self.child_initialized = False  # notifications/initialized already sent to this child
        self.child_out = None     # Outbox to the child's stdin; None while no child serves
        self.held = []            # lines held until a child can take them: the first one is
                                  # starting, or a restarted one replays the handshake; else None
        self.held_bytes = 0
        self.unavailable = "is not running"  # why requests fail while child_out is None
        self.stderr_tail = ""     # of the last child, for -32001 errors
        self.dirty = []           # clients with output to flush at the end of this loop iteration
        self.flush_scheduled = False
        self.stats = Stats()

    # -- client side --------------------------------------------------------------------

    def from_client(self, client, items):
        """Handle a batch of lines read from one client; their output is flushed soon after."""
        for line in items:
            if line.__class__ is bytes:
                self.stats.bytes_in += len(line) + 1
                if line.strip():
                    self._client_line(client, line)
            else:
                self._client_oversize(client, line)
        self._schedule_flush()

    def _client_oversize(self, client, line):
        self.stats.oversize_requests += 1
        limit = self.settings.max_request_bytes
        logger.warning("server {}: client {} sent a {}-byte line, over max_request_bytes={}; discarded",
                       self.name, client.cid, line.size, limit)
        self.reply(client, error_line(jsonrpc.guess_id(line.head, line.tail), jsonrpc.MESSAGE_TOO_LARGE,
                                      f"request of {line.size} bytes exceeds the limit of {limit} bytes "
                                      "(max_request_bytes); it was not sent to the server",
                                      {"server": self.name, "size": line.size, "limit": limit}))

    def _client_line(self, client, line):
        try:
            msg = _parse(line)
        except ValueError:
            self.reply(client, error_line(NULL_ID, jsonrpc.PARSE_ERROR,
                                          "parse error: the line is not valid JSON (UTF-8, one message per line)",
                                          {"server": self.name}))
            return
        if msg.__class__ is not dict:
            self.reply(client, error_line(NULL_ID, jsonrpc.INVALID_REQUEST,
                                          "invalid request: expected one JSON-RPC object per line "
                                          "(batches are not supported)", {"server": self.name}))
            return
        method = msg.get("method")
        if method is None:
            if "result" in msg or "error" in msg:
                self._client_response(line, msg)
            else:
                self._invalid(client, line, msg, "a message needs a method (request or notification) "
                                                 "or a result/error (response)")
        elif method.__class__ is not str:
            self._invalid(client, line, msg, "method must be a string")
        elif "id" in msg:
            self._client_request(client, line, msg, method)
        else:
            self._client_notification(client, msg, method, line)

    def _invalid(self, client, line, msg, why):
        key = msg.get("id")
        raw_id = line[slice(*id_span(line))] if key.__class__ in (int, float, str) else NULL_ID
        self.reply(client, error_line(raw_id, jsonrpc.INVALID_REQUEST, f"invalid request: {why}",
                                      {"server": self.name}))

    def _client_request(self, client, line, msg, method):
        key = msg["id"]
        if key.__class__ not in (int, str, float):
            self._invalid(client, line, msg, "id must be a string or a number")
            return
        span = id_span(line)
        raw_id = line[span[0]:span[1]]
        if key in client.inflight:
            self.reply(client, error_line(raw_id, jsonrpc.INVALID_REQUEST,
                                          "invalid request: this id is already in flight on this connection",
                                          {"server": self.name}))
            return
        if method == "initialize" and self._initialize_cached(client, raw_id):
            return
        if self.child_out is None and self.held is None:
            self.reply(client, self._unavailable_line(raw_id))
            return
        if self._child_backlog() > self.settings.client_queue_bytes:
            self.reply(client, error_line(raw_id, jsonrpc.SERVER_UNAVAILABLE,
                                          f"server {self.name} is not reading its input; try again shortly "
                                          "(it is restarted if it stays stuck)",
                                          {"server": self.name, "queued_bytes": self._child_backlog()}))
            return
        params = msg.get("params")
        if (method == "resources/subscribe" or method == "resources/unsubscribe") \
                and self._track_subscription(client, method, params, raw_id):
            return
        pid = self.next_pid
        self.next_pid = pid + 1
        token = None
        meta = params.get("_meta") if params.__class__ is dict else None
        if meta.__class__ is dict and "progressToken" in meta:
            token = pid
            self.progress[token] = (client, meta["progressToken"])
            meta["progressToken"] = token
            msg["id"] = pid
            out = jsonrpc.dumps(msg) + b"\n"
        else:
            out = replace_id(line, span, b"%d" % pid)
        if method == "initialize":
            self.handshake_pid = pid
            self.init_params = params
        self.pending[pid] = Pending(client, raw_id, key, method, token)
        client.inflight[key] = pid
        self.stats.requests += 1
        self._to_child(out)

    def _initialize_cached(self, client, raw_id):
        """Answer a client's initialize without the child when the handshake is done or
        under way; False when this one must go to the child."""
        if self.init_result is not None:
            self.reply(client, result_line(raw_id, self.init_result))
            return True
        if self.handshake_pid:
            self.init_waiters.append((client, raw_id))
            return True
        return False

    def _track_subscription(self, client, method, params, raw_id):
        """Keep uri -> subscribers; True when the request was answered here (an unsubscribe
        that must not reach the child because other clients still want the updates)."""
        uri = params.get("uri") if params.__class__ is dict else None
        if uri.__class__ is not str:
            return False
        if method == "resources/subscribe":
            self.subscribers.setdefault(uri, set()).add(client)
            client.subscribe(uri)
            return False
        subscribers = self.subscribers.get(uri)
        client.unsubscribe(uri)
        if subscribers is not None:
            subscribers.discard(client)
            if subscribers:
                self.reply(client, result_line(raw_id, b"{}"))
                return True
            del self.subscribers[uri]
        return False

    def _client_notification(self, client, msg, method, line):
        if method == "notifications/initialized":
            if self.child_initialized or self.child_out is None:
                return
            self.child_initialized = True
        elif method == "notifications/cancelled":
            params = msg.get("params")
            if params.__class__ is not dict:
                return
            pid = client.inflight.pop(params.get("requestId"), None)
            if pid is None:
                return  # finished already, or never ours: nothing to cancel
            # The child may never answer a cancelled request; forget it now so nothing
            # waits for it (a late answer is dropped as an orphan).
            pending = self.pending.pop(pid)
            if pending.token is not None:
                self.progress.pop(pending.token, None)
            params["requestId"] = pid
            line = jsonrpc.dumps(msg)
        if self.child_out is not None:
            self._to_child(line + b"\n")

    def _client_response(self, line, msg):
        """A client's answer to a request the child made: back to the child, unchanged."""
        key = msg.get("id")
        client = self.child_requests.pop((key.__class__ is str, key), None)
        if client is None or self.child_out is None:
            self.stats.orphans += 1
            return
        self._to_child(line + b"\n")

    # -- child side ---------------------------------------------------------------------

    def from_child(self, items):
        """Handle a batch of lines read from the child's stdout; flushed soon after."""
        for line in items:
            if line.__class__ is bytes:
                self.stats.bytes_out += len(line) + 1
                if line.strip():
                    self._child_line(line)
            else:
                self._child_oversize(line)
        self._schedule_flush()

    def _child_oversize(self, line):
        self.stats.oversize_responses += 1
        limit = self.settings.max_response_bytes
        raw = jsonrpc.guess_id(line.head, line.tail)
        try:
            pid = _parse(raw)
        except ValueError:
            pid = None
        pending = self.pending.pop(pid, None) if pid.__class__ is int else None
        who = "nobody waiting"
        if pending is not None:
            error = {"code": jsonrpc.MESSAGE_TOO_LARGE,
                     "message": f"the server's response of {line.size} bytes exceeds the limit of {limit} bytes "
                                "(max_response_bytes); it was discarded",
                     "data": {"server": self.name, "size": line.size, "limit": limit}}
            if pid == self.handshake_pid:
                self._handshake_done({"error": error})  # later initializes must not wait for it
            who = self._settle(pending, error_line(pending.raw_id or NULL_ID, error["code"], error["message"],
                                                   error["data"]), {"error": error})
        logger.warning("server {}: {}-byte line from the server, over max_response_bytes={}; discarded ({})",
                       self.name, line.size, limit, who)

    def _child_line(self, line):
        head = response_head(line)
        if head is not None and self._child_response_fast(line, *head):
            return
        try:
            msg = _parse(line)
        except ValueError:
            msg = None
        if msg.__class__ is not dict:
            self._bad_child_line(line, "not a JSON object")
            return
        method = msg.get("method")
        if method is None:
            if "result" in msg or "error" in msg:
                self._child_response(line, msg)
            else:
                self._bad_child_line(line, "neither a request, a notification nor a response")
        elif "id" in msg:
            self._child_request(line, msg, method)
        else:
            self._child_notification(line, msg, method)

    def _bad_child_line(self, line, why):
        self.stats.bad_child_lines += 1
        if self.stats.bad_child_lines <= RECENT_ERRORS or self.stats.bad_child_lines % 1000 == 0:
            logger.warning("server {}: ignored a stdout line that is {} ({} so far): {!r}",
                           self.name, why, self.stats.bad_child_lines, line[:200])

    def _child_response(self, line, msg):
        pid = msg.get("id")
        pending = self.pending.pop(pid, None) if pid.__class__ is int else None
        if pending is None:
            self.stats.orphans += 1
            return
        if pid == self.handshake_pid:
            self._handshake_done(msg)
        self._settle(pending, replace_id(line, id_span(line), pending.raw_id), msg)

    def _child_response_fast(self, line, pid, span):
        """Deliver a response to a client's request without decoding it; False when the
        proxy needs the decoded message (its own requests, the initialize handshake)."""
        pending = self.pending.get(pid)
        if pending is None:
            self.stats.orphans += 1
            return True
        if pending.waiter is not None or pid == self.handshake_pid:
            return False
        del self.pending[pid]
        self._settle(pending, replace_id(line, span, pending.raw_id))
        return True

    def _settle(self, pending, out, msg=None):
        """Deliver the one answer to a pending request; returns who got it, for logs."""
        if pending.token is not None:
            self.progress.pop(pending.token, None)
        if pending.waiter is not None:
            pending.waiter.set(msg)
            return "the proxy"
        client = pending.client
        if client is None:  # its client left; kept only so the handshake result is cached
            self.stats.orphans += 1
            return "nobody waiting"
        client.inflight.pop(pending.key, None)
        self.send(client, out)
        return f"client {client.cid}"

    def _handshake_done(self, msg):
        self.handshake_pid = 0
        waiters, self.init_waiters = self.init_waiters, []
        if "result" in msg:
            self.init_result = jsonrpc.dumps(msg["result"])
            for client, raw_id in waiters:
                self.reply(client, result_line(raw_id, self.init_result))
            if not self.child_initialized:
                # The client whose initialize this was may be gone before it could say so.
                self.child_initialized = True
                self._to_child(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        else:
            self.init_params = None
            error = jsonrpc.dumps(msg.get("error"))
            for client, raw_id in waiters:
                self.reply(client, b'{"jsonrpc":"2.0","id":' + raw_id + b',"error":' + error + b"}\n")

    def _child_request(self, line, msg, method):
        key = msg["id"]
        span = id_span(line)
        raw_id = line[span[0]:span[1]]
        if method == "ping":
            self._to_child(result_line(raw_id, b"{}"))
            return
        client = self._client_for_child_request()
        if client is None:
            self._to_child(error_line(raw_id, jsonrpc.SERVER_UNAVAILABLE,
                                      f"no agent is connected to answer {method}", {"server": self.name}))
            return
        self.child_requests[(key.__class__ is str, key)] = client
        self.send(client, line + b"\n")

    def _client_for_child_request(self):
        """The client whose request the child is most likely working on: the most recent
        in flight, else the most recently active client."""
        for pending in reversed(self.pending.values()):
            if pending.client is not None:
                return pending.client
        return max(self.clients.values(), key=lambda c: c.last_active, default=None)

    def _child_notification(self, line, msg, method):
        params = msg.get("params")
        if method == "notifications/progress":
            token = params.get("progressToken") if params.__class__ is dict else None
            entry = self.progress.get(token) if token.__class__ is int else None
            if entry is not None:
                params["progressToken"] = entry[1]
                self.send(entry[0], jsonrpc.dumps(msg) + b"\n")
        elif method == "notifications/resources/updated":
            uri = params.get("uri") if params.__class__ is dict else None
            for client in self.subscribers.get(uri, ()):
                self.send(client, line + b"\n")
        elif method == "notifications/cancelled":
            key = params.get("requestId") if params.__class__ is dict else None
            client = self.child_requests.pop((key.__class__ is str, key), None)
            if client is not None:
                self.send(client, line + b"\n")
        else:
            out = line + b"\n"
            for client in self.clients.values():
                self.send(client, out)

    # -- output -------------------------------------------------------------------------

    def send(self, client, out):
        """Queue ``out`` for ``client``; a client already holding client_queue_bytes of
        unsent output is too slow and is dropped instead of buffering more."""
        if client.closed:
            return
        if client.outbox.size >= self.settings.client_queue_bytes:
            self.stats.slow_closed += 1
            self.drop_client(client, f"too slow: {client.outbox.size} bytes unsent "
                                     f"(client_queue_bytes={self.settings.client_queue_bytes})")
            return
        if not client.outbox.chunks:
            self.dirty.append(client)
        client.outbox.put(out)

    reply = send  # an answer we make ourselves goes the same way

    def _to_child(self, out):
        if self.held is not None:
            self.held.append(out)
            self.held_bytes += len(out)
        else:
            self.child_out.put(out)

    def _child_backlog(self):
        return self.held_bytes if self.held is not None else self.child_out.size

    def _schedule_flush(self):
        """Flush once the hub has run every greenlet woken in this loop iteration, so lines
        from many clients go to the child in one write (and answers to a client in one)."""
        if not self.flush_scheduled:
            self.flush_scheduled = True
            get_hub().loop.run_callback(self.flush)

    def flush(self):
        self.flush_scheduled = False
        if self.child_out is not None:
            self.child_out.flush()
        dirty, self.dirty = self.dirty, []
        if not dirty:
            return
        now = time.monotonic()  # receiving counts as activity: a listener is not idle
        for client in dirty:
            if not client.closed:
                client.last_active = now
                client.outbox.flush()

    def _unavailable_line(self, raw_id):
        return error_line(raw_id, jsonrpc.SERVER_UNAVAILABLE, f"server {self.name} {self.unavailable}",
                          {"server": self.name, "stderr_tail": self.stderr_tail})

    # -- membership ---------------------------------------------------------------------

    def add_client(self, client):
        self.clients[client.cid] = client

    def drop_client(self, client, reason):
        """Forget a client: its requests, tokens, subscriptions and the child's requests
        routed to it. Idempotent; closes its socket (which ends its reader)."""
        if client.closed:
            return
        client.closed = True
        self.clients.pop(client.cid, None)
        inflight = len(client.inflight)
        for pid in client.inflight.values():
            pending = self.pending.get(pid)
            if pending is None:
                continue
            if pid == self.handshake_pid:
                pending.client = None  # still wanted: its result becomes the cache
                continue
            del self.pending[pid]
            if pending.token is not None:
                self.progress.pop(pending.token, None)
            if self.child_out is not None:
                self._to_child(b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d,'
                               b'"reason":"client disconnected"}}\n' % pid)
        client.inflight.clear()
        for uri in client.subscriptions or ():
            subscribers = self.subscribers.get(uri)
            if subscribers is None:
                continue
            subscribers.discard(client)
            if not subscribers:
                del self.subscribers[uri]
                if self.child_out is not None:
                    self.call_child("resources/unsubscribe", {"uri": uri})
        for key in [k for k, c in self.child_requests.items() if c is client]:
            del self.child_requests[key]
            if self.child_out is not None:
                raw = jsonrpc.dumps(key[1])
                self._to_child(error_line(raw, jsonrpc.SERVER_UNAVAILABLE,
                                          "the agent that was asked disconnected", {"server": self.name}))
        self.init_waiters = [(c, r) for c, r in self.init_waiters if c is not client]
        client.close()
        self.flush()
        logger.info("server {}: client {} left ({}; {} in flight dropped, {} clients remain)",
                    self.name, client.cid, reason, inflight, len(self.clients))

    # -- the proxy's own requests and the child's lifecycle -----------------------------

    def call_child(self, method, params=None):
        """Send the child a request of our own; the AsyncResult gets the reply message,
        or None if the child goes away first."""
        pid = self.next_pid
        self.next_pid = pid + 1
        waiter = AsyncResult()
        self.pending[pid] = Pending(None, b"", pid, method, waiter=waiter)
        message = {"jsonrpc": "2.0", "id": pid, "method": method}
        if params is not None:
            message["params"] = params
        if self.child_out is not None:
            self.child_out.put(jsonrpc.dumps(message) + b"\n")
            self.child_out.flush()
        return waiter

    def attach_child(self, outbox):
        """A new child is up: hold traffic until `release_child()` after the handshake replay."""
        self.child_out = outbox
        self.child_initialized = False
        if self.held is None:
            self.held = []

    def release_child(self):
        """The child is initialized (or needs no replay): let held and new traffic flow."""
        held, self.held = self.held or [], None
        self.held_bytes = 0
        for out in held:
            self.child_out.put(out)
        self.flush()

    def detach_child(self, why, stderr_tail=""):
        """The child is gone: every request waiting on it gets -32001 now."""
        self.child_out = None
        self.held = None
        self.held_bytes = 0
        self.child_initialized = False
        self.unavailable = why
        self.stderr_tail = stderr_tail
        pending, self.pending = self.pending, {}
        self.progress.clear()
        self.child_requests.clear()
        if self.handshake_pid:
            self.handshake_pid = 0
            self.init_params = None
            for client, raw_id in self.init_waiters:
                self.reply(client, self._unavailable_line(raw_id))
            self.init_waiters = []
        for entry in pending.values():
            if entry.waiter is not None:
                entry.waiter.set(None)
            elif entry.client is not None:
                entry.client.inflight.pop(entry.key, None)
                self.reply(entry.client, self._unavailable_line(entry.raw_id))
        self.flush()
        return len(pending)
