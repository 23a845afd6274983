"""The core of the router: every line from a client or from the child is parsed,
classified and dispatched here (DESIGN.md, "The socket proxy: wire contract").

Request ids are replaced by proxy ids (`pending`) and restored in the answer, which goes
only to the client that asked; each client request gets exactly one answer, the
child's or an error of ours. Each client is spoken to in its own era (`clienteras`:
its initialize, ping and server/discover answered here, its adapter to the child's
era). The routes of what is not an answer and the child's stdin keep their own state
(`routes`, `childlink`). Output, client membership and the child's lifecycle are
`router.Router`'s, which builds on this.
"""
from loguru import logger

from agentdeck.pool import replies
from agentdeck.pool.childlink import GONE, ChildLink
from agentdeck.pool.clienteras import ClientEras
from agentdeck.pool.pending import PROXY, Pending, PendingTable, from_client, held_listen
from agentdeck.pool.routes import ChildRequests, ProgressRoutes, Subscriptions
from agentdeck.pool.stats import Stats
from agentdeck.protocol import front
from agentdeck.protocol import versions as v
from agentdeck.protocol.clients import Rebind
from agentdeck.wire import jsonrpc
from agentdeck.wire.jsonrpc import (ID_TYPES, NOTIFICATION, NULL_ID, REQUEST, RESPONSE, classify, id_key, id_span,
                                    replace_id, response_head, result_line)
from agentdeck.wire.lines import Oversize

_parse = jsonrpc.parse
RECENT_ERRORS = 5  # bad lines from the child logged in full before they are only counted


class Dispatcher:
    def __init__(self, name, settings, schedule):
        self.name = name
        self.settings = settings  # PoolSettings: the one copy the server reads; replaced on reload
        self.schedule = schedule  # schedule(callback): run callback once the current batch is handled
        self.clients = {}         # cid -> Peer
        self.pending = PendingTable()
        self.eras = ClientEras(self)
        self.progress = ProgressRoutes()
        self.subscriptions = Subscriptions()
        self.child_requests = ChildRequests()
        self.routes = (self.progress, self.subscriptions, self.child_requests)
        self.link = ChildLink()
        self.stats = Stats()

    # -- from clients -------------------------------------------------------------------

    def from_client(self, peer, items, messages=None):
        """Handle a batch of lines (bytes, or `lines.Oversize`) read from one client;
        ``messages``, when given, are those lines as the caller already decoded them
        (the HTTP route), so none is decoded twice."""
        for index, line in enumerate(items):
            if line.__class__ is not Oversize:
                self.stats.bytes_in += len(line) + 1
                if line and not line.isspace():  # not strip(), which copies a bytearray
                    self._client_line(peer, line, None if messages is None else messages[index])
            else:
                self.stats.oversize_requests += 1
                limit = self.settings.max_request_bytes
                logger.warning("server {}: client {} sent a {}-byte line, over max_request_bytes={}; discarded",
                               self.name, peer.cid, line.size, limit)
                self.send(peer, replies.request_too_large(jsonrpc.guess_id(line.head, line.tail), self.name,
                                                          line.size, limit))
        self._schedule_flush()

    def _client_line(self, peer, line, msg=None):
        if self.eras.child is None and self.link.state is not GONE:
            self.eras.hold(peer, line)  # nothing is known of the child yet: its probe comes first
            return
        if msg is None:
            try:
                msg = _parse(line)
            except ValueError:
                self.send(peer, replies.parse_error(self.name))
                return
        kind, why = classify(msg)
        if kind is REQUEST:
            self._client_request(peer, line, msg)
        elif kind is NOTIFICATION:
            if peer.adapter is not None:
                self.adapted(peer, *peer.adapter.to_child(msg))
            else:
                self._client_notification(peer, line, msg)
        elif kind is RESPONSE:
            if peer.adapter is not None:
                self.adapted(peer, *peer.adapter.to_child(msg))
            else:
                self._answer_child(line, msg)
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
        if self.eras.answered_here(peer, raw_id, key, method, msg.get("params")):
            return
        if peer.adapter is not None:
            self.adapted(peer, *peer.adapter.to_child(msg))
            return
        self._forward(peer, line, msg, raw_id, key, span)

    def _forward(self, peer, line, msg, raw_id, key, span):
        """Send a client's request to the child under a proxy id (``line`` None: encode ``msg``,
        an adapter's, which it may keep to retry: its id and progress token change in copies)."""
        if line is None:
            msg = {**msg}
        method = msg["method"]
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
            if line is None:
                meta = {**meta}
                msg["params"] = {**params, "_meta": meta}
            meta["progressToken"] = token
        if token is not None or line is None:
            msg["id"] = pid
            out = jsonrpc.dumps(msg) + b"\n"
        else:
            out = replace_id(line, span, b"%d" % pid)
        pending = self.pending[pid] = Pending(peer, raw_id, key, method, token)
        peer.inflight[key] = pid
        peer.held += held_listen(pending)
        self.stats.requests += 1
        link.put(out)

    def adapted(self, peer, to_child, to_client):
        """Carry out what ``peer``'s adapter returned: messages to the client as they are,
        and to the child requests (in the client's id space), notifications, answers to
        the child's requests and `Rebind`s."""
        for msg in to_client:
            final = "method" not in msg
            self.put(peer, jsonrpc.dumps(msg) + b"\n", id_key(msg["id"]) if final else None, final)
        for msg in to_child:
            if msg.__class__ is Rebind:
                self._rebind(peer, id_key(msg.old), msg.new)
            elif "method" not in msg:
                self._answer_child(None, msg)
            elif "id" in msg:
                rid = msg["id"]
                if id_key(rid) in peer.inflight:
                    continue  # an adapter's own request already under way
                self._forward(peer, None, msg, jsonrpc.dumps(rid), id_key(rid), None)
            else:
                self._client_notification(peer, None, msg)

    def _rebind(self, peer, old, new):
        """The client's request ``old`` waits under the id ``new`` from now on."""
        pid = peer.inflight.pop(old, None)
        if pid is None:
            return
        key = id_key(new)
        pending = self.pending[pid]
        pending.raw_id, pending.key = jsonrpc.dumps(new), key
        peer.inflight[key] = pid
        if pending.token is not None:
            self.progress.rekey(pending.token, key)
        self.child_requests.rekey(peer, old, key)

    def _client_notification(self, peer, line, msg):
        method = msg["method"]
        if method == "notifications/initialized":
            return  # agentdeck initialized the child itself
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
            peer.held -= held_listen(pending)
            if pending.token is not None:
                self.progress.discard(pending.token)
            params["requestId"] = pid
            line = jsonrpc.dumps(msg)
        self.link.put((line if line is not None else jsonrpc.dumps(msg)) + b"\n")

    def _answer_child(self, line, msg):
        """A client's answer to a request the child made: back to the child, unchanged
        (``line`` None: an adapter's answer, encoded here)."""
        value = msg.get("id")
        asked = self.child_requests.pop(id_key(value)) if value.__class__ in ID_TYPES else None
        if asked is None or self.link.state is GONE:
            self.stats.orphans += 1
            return
        self.link.put((line if line is not None else jsonrpc.dumps(msg)) + b"\n")

    # -- from the child -----------------------------------------------------------------

    def from_child(self, items):
        """Handle a batch of lines (bytes, or `lines.Oversize`) read from the child's stdout."""
        for line in items:
            if line.__class__ is not Oversize:
                self.stats.bytes_out += len(line) + 1
                if line and not line.isspace():  # not strip(), which copies a bytearray
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
        proxy needs the decoded message (its own requests, the end of a listen)."""
        pending = self.pending.get(pid)
        if pending is None:
            self.stats.orphans += 1
            return True
        if pending.client is PROXY or pending.method == "subscriptions/listen":
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
        if pending.method == "subscriptions/listen" and from_client(pending):
            line = self._tag_subscription(msg, msg.get("result"), pending)  # the listen ended: its tag is the client's
        self._settle(pending, pending.client is not PROXY and replace_id(line, id_span(line), pending.raw_id), msg)

    def _settle(self, pending, out, msg=None):
        """Deliver the one answer to a pending request; returns who got it, for logs."""
        if pending.token is not None:
            self.progress.discard(pending.token)
        client = pending.client
        if client is PROXY:
            pending.on_reply(msg)
            return client
        client.inflight.pop(pending.key, None)
        client.held -= held_listen(pending)
        self.send(client, out, pending.key, True)
        return f"client {client.cid}"

    @staticmethod
    def _tag_subscription(msg, where, pending):
        """``msg`` encoded with the subscription id in ``where``'s ``_meta`` (the proxy id
        of the listen, as the child saw it) replaced by the client's own listen id."""
        meta = front.meta_of(where)
        if meta is not None and v.SUBSCRIPTION_ID in meta:
            meta[v.SUBSCRIPTION_ID] = _parse(pending.raw_id)
        return jsonrpc.dumps(msg)

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
        line = self.eras.child_request_for(peer, line, msg, raw_id)
        if line is None:
            return  # that client cannot be asked: the child was answered
        self.child_requests.add(id_key(msg["id"]), peer, about, raw_id)
        self.send(peer, line + b"\n", about)

    def _child_notification(self, line, msg):
        method = msg["method"]
        params = msg.get("params")
        if params.__class__ is not dict:
            params = {}
        meta = params.get("_meta")
        if meta.__class__ is dict and v.SUBSCRIPTION_ID in meta:
            self._listen_notification(msg, params, meta[v.SUBSCRIPTION_ID])
        elif method == "notifications/progress":
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

    def _listen_notification(self, msg, params, tag):
        """A notification on a subscriptions/listen goes to the client that opened it,
        tagged with that client's own id of the listen."""
        pending = self.pending.get(tag) if tag.__class__ is int else None
        if pending is None or not from_client(pending):
            self.stats.orphans += 1
            return
        self.send(pending.client, self._tag_subscription(msg, params, pending) + b"\n", pending.key)
