"""Where a message from the child goes when it is not an answer: progress by token,
resource updates by subscription, a request of the child to the client asked to answer.

Each route forgets a client with `drop(peer, router)`, telling the router what the child
must hear about it, so dropping a client is a loop over the routes. Every table is
bounded by clients x requests in flight (or x subscriptions), never by uptime.
"""
from agentdeck.wire import jsonrpc


class ProgressRoutes:
    """Proxy progress token (an int) -> (peer, the client's own token, id key of its request)."""

    __slots__ = ("tokens",)

    def __init__(self):
        self.tokens = {}

    def add(self, token, peer, client_token, key):
        self.tokens[token] = (peer, client_token, key)

    def get(self, token):
        return self.tokens.get(token) if token.__class__ is int else None

    def discard(self, token):
        self.tokens.pop(token, None)

    def rekey(self, token, key):
        """The request of ``token`` is known by the id key ``key`` now (a modern retry)."""
        entry = self.tokens.get(token)
        if entry is not None:
            self.tokens[token] = (entry[0], entry[1], key)

    def drop(self, peer, router):
        for token in [t for t, entry in self.tokens.items() if entry[0] is peer]:
            del self.tokens[token]

    def clear(self):
        self.tokens.clear()


class Subscriptions:
    """Resource URI -> the clients subscribed to it. The child is asked to unsubscribe only
    when the last subscriber leaves; an unsubscribe while others remain is answered here."""

    __slots__ = ("subscribers",)

    def __init__(self):
        self.subscribers = {}

    def answered_here(self, peer, method, params):
        """Track a resources/(un)subscribe request; True when it is an unsubscribe to be
        answered here because other clients still want the updates."""
        uri = params.get("uri") if params.__class__ is dict else None
        if uri.__class__ is not str:
            return False
        if method == "resources/subscribe":
            self.subscribe(peer, uri)
            return False
        return method == "resources/unsubscribe" and self.unsubscribe(peer, uri)

    def subscribe(self, peer, uri):
        self.subscribers.setdefault(uri, set()).add(peer)
        if peer.subscriptions is None:
            peer.subscriptions = set()
        peer.subscriptions.add(uri)

    def unsubscribe(self, peer, uri):
        """Forget one subscription; True when others still hold the URI (the child keeps it)."""
        if peer.subscriptions is not None:
            peer.subscriptions.discard(uri)
        subscribers = self.subscribers.get(uri)
        if subscribers is None:
            return False
        subscribers.discard(peer)
        if subscribers:
            return True
        del self.subscribers[uri]
        return False

    def of(self, uri):
        return self.subscribers.get(uri, ())

    def uris(self):
        return list(self.subscribers)

    def drop(self, peer, router):
        for uri in list(peer.subscriptions or ()):
            if not self.unsubscribe(peer, uri) and router.child_reachable():
                router.call_child("resources/unsubscribe", {"uri": uri})
        peer.subscriptions = None

    def clear(self):
        """Nothing: subscriptions outlive a child (they are replayed to the next one)."""


class ChildRequests:
    """Id key of a request the child made -> (the peer asked to answer, id key of that
    peer's request it belongs to or None, the child's raw id).

    A stdio line names no session, so who is asked is a guess (`choose`); with several
    sessions busy on a server that asks its clients (sampling, elicitation), the guess can
    be wrong: such servers want ``share = "session"``."""

    __slots__ = ("asked", "roots_changed_by")

    def __init__(self):
        self.asked = {}
        self.roots_changed_by = None  # the client that last said its roots changed

    def choose(self, method, pending, clients):
        """(peer, id key of its request or None) to ask: for ``roots/list`` the client whose
        roots changed (the child asks because it said so); else the client of the most
        recent request in flight; else the most recently active client."""
        if method == "roots/list" and self.roots_changed_by is not None and not self.roots_changed_by.closed:
            return self.roots_changed_by, None
        newest = pending.newest_client_request()
        if newest is not None:
            return newest.client, newest.key
        return max(clients.values(), key=lambda c: c.last_active, default=None), None

    def add(self, key, peer, about, raw_id):
        self.asked[key] = (peer, about, raw_id)

    def pop(self, key):
        return self.asked.pop(key, None)

    def rekey(self, peer, old, new):
        """``peer``'s request ``old`` is known by the id key ``new`` now (a modern retry)."""
        for key, entry in self.asked.items():
            if entry[0] is peer and entry[1] == old:
                self.asked[key] = (peer, new, entry[2])

    def drop(self, peer, router):
        if self.roots_changed_by is peer:
            self.roots_changed_by = None
        for key in [k for k, entry in self.asked.items() if entry[0] is peer]:
            raw_id = self.asked.pop(key)[2]
            router.to_child(jsonrpc.error_line(raw_id, jsonrpc.SERVER_UNAVAILABLE,
                                               "the agent that was asked disconnected", {"server": router.name}))

    def clear(self):
        self.asked.clear()
