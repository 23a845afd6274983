"""The core of the router: every line from a client or from the child is parsed,
classified and dispatched here (DESIGN.md, "The socket proxy: wire contract").

Request ids are replaced by proxy ids (`pending`) and restored in the answer, which goes
only to the client that asked; each client request gets exactly one answer, the
child's or an error of ours. The handshake, the routes of what is not an answer and the
child's stdin keep their own state (`handshake`, `routes`, `childlink`). Output, client
membership and the child's lifecycle are `router.Router`'s, which builds on this.
"""
from loguru import logger

from agentdeck.pool import replies
from agentdeck.pool.childlink import GONE, ChildLink
from agentdeck.pool.handshake import Handshake
from agentdeck.pool.pending import LEFT, PROXY, Pending, PendingTable
from agentdeck.pool.routes import ChildRequests, ProgressRoutes, Subscriptions
from agentdeck.pool.stats import Stats
from agentdeck.wire import jsonrpc
from agentdeck.wire.jsonrpc import (ID_TYPES, NOTIFICATION, NULL_ID, REQUEST, RESPONSE, classify, id_key, id_span,
                                    replace_id, response_head, result_line)

_parse = jsonrpc.parse
RECENT_ERRORS = 5  # bad lines from the child logged in full before they are only counted


class Dispatcher:
    def __init__(self, name, settings, schedule):
        self.name = name
        self.settings = settings  # PoolSettings: the one copy the server reads; replaced on reload
        self.schedule = schedule  # schedule(callback): run callback once the current batch is handled
        self.clients = {}         # cid -> Peer
        self.pending = PendingTable()
        self.handshake = Handshake()
        self.progress = ProgressRoutes()
        self.subscriptions = Subscriptions()
        self.child_requests = ChildRequests()
        self.routes = (self.progress, self.subscriptions, self.child_requests)
        self.link = ChildLink()
        self.stats = Stats()

    # -- from clients -------------------------------------------------------------------

    def from_client(self, peer, items):
        """Handle a batch of lines (bytes, or `lines.Oversize`) read from one client."""
        for line in items:
            if line.__class__ is bytes:
                self.stats.bytes_in += len(line) + 1
                if line.strip():
                    self._client_line(peer, line)
            else:
                self.stats.oversize_requests += 1
                limit = self.settings.max_request_bytes
                logger.warning("server {}: client {} sent a {}-byte line, over max_request_bytes={}; discarded",
                               self.name, peer.cid, line.size, limit)
                self.send(peer, replies.request_too_large(jsonrpc.guess_id(line.head, line.tail), self.name,
                                                          line.size, limit))
        self._schedule_flush()

    def _client_line(self, peer, line):
        try:
            msg = _parse(line)
        except ValueError:
            self.send(peer, replies.parse_error(self.name))
            return
        kind, why = classify(msg)
        if kind is REQUEST:
            self._client_request(peer, line, msg)
        elif kind is NOTIFICATION:
            self._client_notification(peer, line, msg)
        elif kind is RESPONSE:
            self._client_response(line, msg)
        else:
            self._invalid(peer, line, msg, why)

    def _invalid(self, peer, line, msg, why):
        known = msg.__class__ is dict and msg.get("id").__class__ in ID_TYPES
        self.send(peer, replies.invalid(line[slice(*id_span(line))] if known else NULL_ID, why, self.name))

    def _client_request(self, peer, line, msg):
        if msg["id"].__class__ not in ID_TYPES:
            self._invalid(peer, line, msg, "id must be a string or a number")
            return
        span = id_span(line)
        raw_id = line[span[0]:span[1]]
        key = id_key(msg["id"])
        method = msg["method"]
        if key in peer.inflight:
            self.send(peer, replies.invalid(raw_id, "this id is already in flight on this connection", self.name))
            return
        if method == "initialize" and self._initialize_here(peer, raw_id, key):
            return
        link = self.link
        if link.state is GONE:
            self.send(peer, replies.unavailable(raw_id, self.name, link.why, link.stderr_tail), key, True)
            return
        if link.backlog > self.settings.client_queue_bytes:
            self.send(peer, replies.not_reading(raw_id, self.name, link.backlog), key, True)
            return
        params = msg.get("params")
        if method.startswith("resources/") and self.subscriptions.answered_here(peer, method, params):
            self.send(peer, result_line(raw_id, b"{}"), key, True)
            return
        pid = self.pending.allocate()
        token = None
        meta = params.get("_meta") if params.__class__ is dict else None
        if meta.__class__ is dict and "progressToken" in meta:
            token = pid
            self.progress.add(token, peer, meta["progressToken"], key)
            meta["progressToken"] = token
            msg["id"] = pid
            out = jsonrpc.dumps(msg) + b"\n"
        else:
            out = replace_id(line, span, b"%d" % pid)
        if method == "initialize":
            self.handshake.begin(pid, params)
        self.pending[pid] = Pending(peer, raw_id, key, method, token)
        peer.inflight[key] = pid
        self.stats.requests += 1
        link.put(out)

    def _initialize_here(self, peer, raw_id, key):
        """Answer an initialize from the cache, or queue it behind the one in flight;
        False when this one must go to the child."""
        if self.handshake.result is not None:
            self.send(peer, result_line(raw_id, self.handshake.result), key, True)
            return True
        return self.handshake.wait(peer, raw_id, key)

    def _client_notification(self, peer, line, msg):
        method = msg["method"]
        if method == "notifications/initialized":
            if self.link.state is GONE or not self.handshake.mark_initialized():
                return  # the child hears it once, whichever client says it
        elif method == "notifications/roots/list_changed":
            self.child_requests.roots_changed_by = peer
        elif method == "notifications/cancelled":
            params = msg.get("params")
            request_id = params.get("requestId") if params.__class__ is dict else None
            pid = peer.inflight.pop(id_key(request_id), None) if request_id.__class__ in ID_TYPES else None
            if pid is None:
                return  # finished already, or never ours: nothing to cancel
            # The child may never answer a cancelled request: forget it now (a late answer is an orphan).
            pending = self.pending.pop(pid)
            if pending.token is not None:
                self.progress.discard(pending.token)
            params["requestId"] = pid
            line = jsonrpc.dumps(msg)
        self.link.put(line + b"\n")

    def _client_response(self, line, msg):
        """A client's answer to a request the child made: back to the child, unchanged."""
        value = msg.get("id")
        asked = self.child_requests.pop(id_key(value)) if value.__class__ in ID_TYPES else None
        if asked is None or self.link.state is GONE:
            self.stats.orphans += 1
            return
        self.link.put(line + b"\n")

    # -- from the child -----------------------------------------------------------------

    def from_child(self, items):
        """Handle a batch of lines (bytes, or `lines.Oversize`) read from the child's stdout."""
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
        try:
            pid = _parse(jsonrpc.guess_id(line.head, line.tail))
        except ValueError:
            pid = None
        pending = self.pending.pop(pid, None) if pid.__class__ is int else None
        who = "nobody waiting"
        if pending is not None:
            error = replies.response_too_large(self.name, line.size, limit)
            if pid == self.handshake.pid:
                self._handshake_done({"error": error})  # later initializes must not wait for it
            who = self._settle(pending, jsonrpc.error_line(pending.raw_id, error["code"], error["message"],
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
        kind, why = classify(msg)
        if kind is RESPONSE:
            self._child_response(line, msg)
        elif kind is REQUEST and msg["id"].__class__ in ID_TYPES:
            self._child_request(line, msg)
        elif kind is NOTIFICATION:
            self._child_notification(line, msg)
        elif msg.__class__ is not dict:
            self._bad_child_line(line, "not a JSON object")
        else:
            self._bad_child_line(line, why or "a request whose id is not a string or a number")

    def _bad_child_line(self, line, why):
        self.stats.bad_child_lines += 1
        if self.stats.bad_child_lines <= RECENT_ERRORS or self.stats.bad_child_lines % 1000 == 0:
            logger.warning("server {}: ignored a stdout line: {} ({} so far): {!r}",
                           self.name, why, self.stats.bad_child_lines, line[:200])

    def _child_response_fast(self, line, pid, span):
        """Deliver an answer to a client's request without decoding it; False when the
        proxy needs the decoded message (its own requests, the initialize handshake)."""
        pending = self.pending.get(pid)
        if pending is None:
            self.stats.orphans += 1
            return True
        if pending.client is PROXY or pid == self.handshake.pid:
            return False
        del self.pending[pid]
        self._settle(pending, replace_id(line, span, pending.raw_id))
        return True

    def _child_response(self, line, msg):
        pid = msg.get("id")
        pending = self.pending.pop(pid, None) if pid.__class__ is int else None
        if pending is None:
            self.stats.orphans += 1
            return
        if pid == self.handshake.pid:
            self._handshake_done(msg)
        self._settle(pending, pending.client is not PROXY and replace_id(line, id_span(line), pending.raw_id), msg)

    def _settle(self, pending, out, msg=None):
        """Deliver the one answer to a pending request; returns who got it, for logs."""
        if pending.token is not None:
            self.progress.discard(pending.token)
        client = pending.client
        if client is PROXY:
            pending.on_reply(msg)
            return client
        if client is LEFT:
            self.stats.orphans += 1
            return client
        client.inflight.pop(pending.key, None)
        self.send(client, out, pending.key, True)
        return f"client {client.cid}"

    def _handshake_done(self, msg):
        for peer, answer, key in self.handshake.finish(msg):
            self.send(peer, answer, key, True)
        if self.handshake.result is not None:
            self.handshake_cached()

    def _child_request(self, line, msg):
        span = id_span(line)
        raw_id = line[span[0]:span[1]]
        method = msg["method"]
        if method == "ping":
            self.link.put(result_line(raw_id, b"{}"))
            return
        peer, about = self.child_requests.choose(method, self.pending, self.clients)
        if peer is None:
            self.link.put(jsonrpc.error_line(raw_id, jsonrpc.SERVER_UNAVAILABLE,
                                             f"no agent is connected to answer {method}", {"server": self.name}))
            return
        self.child_requests.add(id_key(msg["id"]), peer, about, raw_id)
        self.send(peer, line + b"\n", about)

    def _child_notification(self, line, msg):
        method = msg["method"]
        params = msg.get("params")
        if params.__class__ is not dict:
            params = {}
        if method == "notifications/progress":
            entry = self.progress.get(params.get("progressToken"))
            if entry is not None:
                params["progressToken"] = entry[1]
                self.send(entry[0], jsonrpc.dumps(msg) + b"\n", entry[2])
        elif method == "notifications/resources/updated":
            uri = params.get("uri")
            for peer in self.subscriptions.of(uri) if uri.__class__ is str else ():
                self.send(peer, line + b"\n")
        elif method == "notifications/cancelled":
            value = params.get("requestId")
            asked = self.child_requests.pop(id_key(value)) if value.__class__ in ID_TYPES else None
            if asked is not None:
                self.send(asked[0], line + b"\n", asked[1])
        else:
            out = line + b"\n"
            for peer in self.clients.values():
                self.send(peer, out)
