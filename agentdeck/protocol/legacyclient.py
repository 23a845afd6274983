"""A legacy client (2024-11-05 .. 2025-11-25) of a modern (2026-07-28) child.

- Every request gets the envelope a modern request carries: the child's version, the
  capabilities and clientInfo of this client's ``initialize`` (``{}`` when it declared
  none), and the level of its ``logging/setLevel`` (a modern server logs only for
  requests that carry one).
- ``logging/setLevel`` and ``resources/(un)subscribe`` are answered here. A modern child
  sends change notifications only on a ``subscriptions/listen``, so the adapter holds one
  for this client (all list changes, and the URIs it subscribed to), re-opened when the
  URIs change; what arrives on it reaches the client as the 2025 notification.
- An ``input_required`` result becomes the server requests it names, sent to the client;
  once every one is answered the request is retried with ``inputResponses`` and the
  untouched ``requestState``. That may repeat; the client sees one request and one result.
"""
import copy

from agentdeck.protocol import front
from agentdeck.protocol import versions as v
from agentdeck.wire.jsonrpc import id_key

LIST_CHANGES = {"toolsListChanged": True, "promptsListChanged": True, "resourcesListChanged": True}


def _result(rid, result):
    return {"jsonrpc": "2.0", "id": rid, "result": result}


class Round:
    """One input_required round of a client request."""

    __slots__ = ("request", "waiting", "responses", "state")

    def __init__(self, request, state):
        self.request = request  # the client's request as sent to the child (stamped)
        self.waiting = {}       # id of our request to the client -> (its key in inputRequests, method)
        self.responses = {}     # key in inputRequests -> the client's result
        self.state = state      # requestState to send back untouched, or None


class LegacyToModern:
    def __init__(self, client):
        self.client = client    # ClientState
        self.log_level = None   # from logging/setLevel
        self.uris = []          # resource URIs the client subscribed to, in order
        self.listen = None      # id of the listen held for it (in its id space), or None
        self.next = 0           # numbers the ids agentdeck makes up for this client
        self.calls = {}         # id key -> the stamped request, for requests that may need input
        self.rounds = {}        # id key of the client's request -> Round in progress
        self.asked = {}         # id of our request to the client -> id key of its request

    def _mint(self, what):
        self.next += 1
        return f"agentdeck-{what}-{self.next}"

    # -- the client's side

    def start(self):
        """What the child must get for a new client (or a new child): the held listen."""
        return self._relisten(), []

    def to_child(self, msg):
        method = msg.get("method")
        if method is None:
            return self._client_answer(msg)
        if "id" not in msg:
            if method in ("notifications/initialized", "notifications/roots/list_changed"):
                return [], []  # no handshake, and roots ride on each request now
            if method == "notifications/cancelled":
                cancelled = (msg.get("params") or {}).get("requestId")
                if cancelled.__class__ in (int, float, str):
                    self.forget(id_key(cancelled))
            return [msg], []
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if method == "logging/setLevel":
            self.log_level = params.get("level")
            return [], [_result(msg["id"], {})]
        if method in ("resources/subscribe", "resources/unsubscribe"):
            uri = params.get("uri")
            if method == "resources/subscribe" and uri not in self.uris:
                self.uris.append(uri)
            elif method == "resources/unsubscribe" and uri in self.uris:
                self.uris.remove(uri)
            return self._relisten(), [_result(msg["id"], {})]
        msg = self.stamp(msg)
        if method in v.MRTR_METHODS:
            self.calls[id_key(msg["id"])] = msg
        return [msg], []

    def stamp(self, msg):
        """``msg`` with the modern envelope in its ``params._meta`` (a copy)."""
        msg = dict(msg)
        params = dict(msg.get("params") or {})
        meta = dict(front.meta_of(params) or {})
        client = self.client
        meta[v.PROTOCOL_VERSION] = v.NEWEST_MODERN
        meta[v.CLIENT_CAPABILITIES] = client.capabilities or {}
        if client.client_info is not None:
            meta[v.CLIENT_INFO] = client.client_info
        if self.log_level is not None:
            meta[v.LOG_LEVEL] = self.log_level
        params["_meta"] = meta
        msg["params"] = params
        return msg

    def _relisten(self):
        """End the listen held now and open one for the current URIs."""
        out = []
        if self.listen is not None:
            out.append({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": self.listen}})
        self.listen = self._mint("listen")
        notifications = dict(LIST_CHANGES)
        if self.uris:
            notifications["resourceSubscriptions"] = list(self.uris)
        out.append(self.stamp({"jsonrpc": "2.0", "id": self.listen, "method": "subscriptions/listen",
                               "params": {"notifications": notifications}}))
        return out

    def _client_answer(self, msg):
        """The client answered one of the requests an input_required named."""
        rid = msg.get("id")
        key = self.asked.pop(rid, None) if isinstance(rid, str) else None
        round_ = self.rounds.get(key)
        if round_ is None:
            return [], []  # not ours, or its request was cancelled meanwhile
        name, method = round_.waiting.pop(rid)
        if isinstance(msg.get("result"), dict):
            round_.responses[name] = msg["result"]
        elif method == "elicitation/create":
            round_.responses[name] = {"action": "decline"}  # an error is no answer: the user said no
        if round_.waiting:
            return [], []
        return [self._retry(key)], []

    def _retry(self, key):
        round_ = self.rounds.pop(key)
        retry = copy.deepcopy(round_.request)
        params = retry["params"]
        params.pop("requestState", None)
        params["inputResponses"] = round_.responses
        if round_.state is not None:
            params["requestState"] = round_.state
        self.calls[key] = retry
        return retry

    # -- the child's side

    def to_client(self, msg, about=None):
        method = msg.get("method")
        if method is None:
            return self._child_answer(msg, about)
        meta = front.meta_of(msg.get("params"))
        if meta is not None and v.SUBSCRIPTION_ID in meta:
            if meta[v.SUBSCRIPTION_ID] != self.listen or method == "notifications/subscriptions/acknowledged":
                return [], []  # an older listen of ours, or the child's acknowledgement
            params = dict(msg["params"])
            meta = {k: val for k, val in meta.items() if k != v.SUBSCRIPTION_ID}
            if meta:
                params["_meta"] = meta
            else:
                del params["_meta"]
            return [], [{**msg, "params": params}]
        if method == "notifications/cancelled" and about is not None:
            self.calls.pop(about, None)
        return [], [msg]

    def _child_answer(self, msg, about):
        rid = msg.get("id")
        if isinstance(rid, str) and rid.startswith("agentdeck-listen-"):
            return [], []  # a listen ended (the child's graceful end, or our cancel)
        key = about if about is not None else (id_key(rid) if rid.__class__ in (int, float, str) else None)
        request = self.calls.pop(key, None)
        result = msg.get("result")
        if request is None or not isinstance(result, dict) or result.get("resultType") != "input_required":
            return [], [msg]
        return self._ask(key, request, result)

    def _ask(self, key, request, result):
        """An input_required for the client's request ``key``: the requests it names go
        to the client; with none, the retry goes to the child at once."""
        state = result.get("requestState")
        round_ = self.rounds[key] = Round(request, state if isinstance(state, str) else None)
        out = []
        inputs = result.get("inputRequests") if isinstance(result.get("inputRequests"), dict) else {}
        for name, asked in inputs.items():
            method = asked.get("method") if isinstance(asked, dict) else None
            params = asked.get("params") if method else None
            if not method or not front.declares(self.client.capabilities, method) or \
                    not front.can_carry(method, params, self.client.version):
                continue  # it cannot be asked: the child asks again or decides without it
            params = front.for_legacy_client(method, params, self.client.version)
            rid = self._mint("input")
            round_.waiting[rid] = (name, method)
            self.asked[rid] = key
            out.append({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        if not round_.waiting:
            return [self._retry(key)], []
        return [], out

    def waiting(self):
        """The client owes answers to questions of an input_required round."""
        return bool(self.rounds)

    def forget(self, key):
        """The client cancelled its request ``key``: its round ends."""
        self.calls.pop(key, None)
        round_ = self.rounds.pop(key, None)
        for rid in round_.waiting if round_ is not None else ():
            self.asked.pop(rid, None)
