"""A modern (2026-07-28) client of a legacy child (initialized by agentdeck).

- Requests lose the modern envelope (a dual-era server locked legacy refuses it);
  results gain ``resultType`` (and ``ttlMs``/``cacheScope`` where cacheable).
- A request the child makes while working on this client's request cannot reach a
  modern client as a request: it becomes an ``input_required`` result on that request,
  whose ``requestState`` names it (bound to this client, tamper-evident, expiring:
  `requeststate`). The retry's ``inputResponses`` answer the child's waiting requests,
  and the retry's id takes over the original's place (`Rebind`): it gets the child's
  final answer. A client that never retries leaves nothing waiting: after ``wait``
  seconds `expire` answers the child with an error and drops the final answer.
- ``subscriptions/listen`` is acknowledged here; list changes the child announces and
  updates of the URIs it names reach the client tagged with the listen's id, until the
  client cancels it.
"""
from agentdeck.protocol import front, requeststate
from agentdeck.protocol import versions as v
from agentdeck.protocol.clients import Rebind
from agentdeck.wire.jsonrpc import SERVER_UNAVAILABLE, id_key

WAIT = 300.0  # seconds a child's request waits for the client's retry
LIST_CHANGES = {"notifications/tools/list_changed": "toolsListChanged",
                "notifications/prompts/list_changed": "promptsListChanged",
                "notifications/resources/list_changed": "resourcesListChanged"}


def _error(rid, code, message, data=None):
    return {"jsonrpc": "2.0", "id": rid, "error": front.error(code, message, data)}


class Parked:
    """A client request answered with input_required, waiting for its retry."""

    __slots__ = ("key", "asked", "later", "final", "expires")

    def __init__(self, key, expires):
        self.key = key          # id key the client's request waits under at the router
        self.asked = {}         # name in inputRequests -> the child's request (sent to the client)
        self.later = {}         # the same, for child requests that came after the result went out
        self.final = None       # the child's answer, when it came before the retry
        self.expires = expires  # monotonic time after which the child is answered with an error


class ModernToLegacy:
    def __init__(self, client, key, cid, clock, wait=WAIT):
        self.client = client  # ClientState
        self.key = key        # HMAC key of requestState
        self.cid = cid        # the client's id: a state is valid for it only
        self.clock = clock    # monotonic clock
        self.wait = wait
        self.methods = {}     # id key of a request in flight -> its method (for the result's shape)
        self.parked = {}      # ticket -> Parked
        self.by_key = {}      # id key -> ticket, while parked
        self.next = 0
        self.listens = {}     # id key of a listen -> (its id, its notification filter)

    # -- the client's side

    def to_child(self, msg):
        method = msg.get("method")
        if method is None:
            return [], []  # a modern client answers no requests
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if "id" not in msg:
            if method == "notifications/cancelled":
                return self._cancelled(msg, params.get("requestId"))
            return [msg], []
        if method == "subscriptions/listen":
            return self._listen(msg, params)
        if "requestState" in params or "inputResponses" in params:
            return self._retried(msg, params)
        if "params" in msg:
            msg = dict(msg, params=front.strip_envelope(params))
        self.methods[id_key(msg["id"])] = method
        return [msg], []

    def _listen(self, msg, params):
        wanted = params.get("notifications") if isinstance(params.get("notifications"), dict) else {}
        rid = msg["id"]
        self.listens[id_key(rid)] = (rid, wanted)
        ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"_meta": {v.SUBSCRIPTION_ID: rid}, "notifications": wanted}}
        return self._subscriptions("resources/subscribe", wanted), [ack]

    def _subscriptions(self, method, wanted):
        """(Un)subscribe at the child to the URIs of a listen's filter; answered to nobody."""
        out = []
        for uri in wanted.get("resourceSubscriptions") or ():
            if isinstance(uri, str):
                out.append({"jsonrpc": "2.0", "id": f"agentdeck-sub-{self._count()}", "method": method,
                            "params": {"uri": uri}})
        return out

    def _cancelled(self, msg, rid):
        key = id_key(rid) if rid.__class__ in (int, float, str) else None
        listen = self.listens.pop(key, None)
        if listen is not None:  # a cancelled request is not answered (basic/patterns/cancellation)
            return self._subscriptions("resources/unsubscribe", listen[1]), []
        self.methods.pop(key, None)
        return [msg], []

    def _retried(self, msg, params):
        rid = msg["id"]
        ticket = requeststate.verify(self.key, self.cid, params.get("requestState"), self.clock())
        parked = self.parked.get(ticket)
        if parked is None:
            return [], [_error(rid, v.INVALID_PARAMS, front.STATE_ERROR)]
        responses = params.get("inputResponses") if isinstance(params.get("inputResponses"), dict) else {}
        to_child = []
        for name, asked in list(parked.asked.items()):
            if name in responses:
                del parked.asked[name]
                to_child.append({"jsonrpc": "2.0", "id": asked["id"], "result": responses[name]})
        parked.asked.update(parked.later)
        parked.later = {}
        new_key = id_key(rid)
        del self.by_key[parked.key]
        if parked.final is not None:  # the child finished before the retry came
            del self.parked[ticket]
            return to_child, [self._shaped(dict(parked.final, id=rid), self.methods.pop(parked.key, None))]
        to_child.append(Rebind(parked.key[1], rid))
        self.methods[new_key] = self.methods.pop(parked.key, None)
        if not parked.asked:
            del self.parked[ticket]
            return to_child, []
        parked.key = new_key  # still waiting on the client for some: ask again on the retry
        self.by_key[new_key] = ticket
        return to_child, [self._input_required(rid, ticket, parked)]

    # -- the child's side

    def to_client(self, msg, about=None):
        method = msg.get("method")
        if method is None:
            return self._answer(msg, about)
        if "id" in msg:
            return self._child_request(msg, about)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        flag = LIST_CHANGES.get(method)
        if flag is not None or method == "notifications/resources/updated":
            uri = params.get("uri")
            return [], [self._tagged(msg, rid) for rid, wanted in self.listens.values()
                        if (wanted.get(flag) if flag else uri in (wanted.get("resourceSubscriptions") or ()))]
        if about is None and method == "notifications/message":
            return [], []  # a modern server logs only for a request that asked
        return [], [msg]

    @staticmethod
    def _tagged(msg, rid):
        params = dict(msg.get("params") or {})
        params["_meta"] = dict(front.meta_of(params) or {}, **{v.SUBSCRIPTION_ID: rid})
        return dict(msg, params=params)

    def _answer(self, msg, about):
        rid = msg.get("id")
        if isinstance(rid, str) and rid.startswith("agentdeck-sub-"):
            return [], []
        ticket = self.by_key.get(about)
        if ticket is not None:  # parked: the answer waits for the retry
            parked = self.parked[ticket]
            if parked.expires is None:  # expired: nobody will ask for it
                del self.parked[ticket]
                del self.by_key[about]
            else:
                parked.final = msg
            return [], []
        return [], [self._shaped(msg, self.methods.pop(about, None))]

    @staticmethod
    def _shaped(msg, method):
        if "result" not in msg:
            return msg
        return dict(msg, result=front.completed(method, msg["result"]))

    def _child_request(self, msg, about):
        method = msg.get("method")
        if about is None or about not in self.methods:
            return [_error(msg["id"], SERVER_UNAVAILABLE, f"{method} reached no request of a 2026-07-28 client "
                           "(such a client is asked only while one of its requests is in flight)")], []
        asked = {"id": msg["id"], "method": method, "params": msg.get("params") or {}}
        name = f"agentdeck-{self._count()}"
        ticket = self.by_key.get(about)
        if ticket is not None:  # already answered input_required: this one joins the next round
            self.parked[ticket].later[name] = asked
            return [], []
        ticket = self._count()
        parked = self.parked[ticket] = Parked(about, self.clock() + self.wait)
        parked.asked[name] = asked
        self.by_key[about] = ticket
        return [], [self._input_required(about[1], ticket, parked)]

    def _count(self):
        self.next += 1
        return self.next

    def _input_required(self, rid, ticket, parked):
        requests = {name: {"method": a["method"], "params": a["params"]} for name, a in parked.asked.items()}
        state = requeststate.issue(self.key, self.cid, ticket, parked.expires)
        return {"jsonrpc": "2.0", "id": rid, "result": {"resultType": "input_required", "inputRequests": requests,
                                                         "requestState": state}}

    def waiting(self):
        """Nothing: a parked request is still in flight at the router until the child answers."""
        return False

    def expire(self, now):
        """Answer the child's requests of states whose client never retried; what the
        child answers after that is dropped. Returns the messages for the child."""
        out = []
        for parked in self.parked.values():
            if parked.expires is not None and now >= parked.expires:
                parked.expires = None
                for asked in (*parked.asked.values(), *parked.later.values()):
                    out.append(_error(asked["id"], SERVER_UNAVAILABLE, "the 2026-07-28 client never retried its "
                                      "request with an answer"))
                parked.asked, parked.later = {}, {}
        return out
