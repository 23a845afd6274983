"""The router's wire contract as case tables: client lines in, the lines the child gets and
the lines each client gets out, side by side. No hub, sockets or processes: clients are
in-memory implementations of the client port, the child an in-memory outbox.

A step is ``(who, line)``: a client name ("a", "b", ...) or "child" sending a line;
``("leave", name)``: that client disconnects; ``("exit",)``: the child exits;
``("restart",)``: it exits and a new child is attached and given the cached handshake.
An expected line is a str (byte-exact) or a dict (the parsed line contains it).
"""
import json

import pytest

from agentdeck import config
from agentdeck.pool.httpsession import HttpSession
from agentdeck.pool.peer import Peer
from agentdeck.pool.router import Router
from agentdeck.protocol import versions as v
from agentdeck.protocol.child import ChildInfo
from agentdeck.wire.jsonrpc import id_key
from agentdeck.wire.lines import Oversize

SETTINGS = config.build({"pool": {"max_request_bytes": 1024, "max_response_bytes": 2048,
                                  "client_queue_bytes": 65536}}).pool
INIT = '{"jsonrpc":"2.0","id":%s,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}'
INFO = ChildInfo(v.LEGACY, "2025-11-25", {"tools": {}}, {"name": "s", "version": "1"})
INIT_RESULT = ('{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},'
               '"serverInfo":{"name":"s","version":"1"}}}')
INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}'


class MemoryPeer(Peer):
    __slots__ = ("lines", "abouts", "gone")
    kind = "memory"

    def __init__(self, cid):
        super().__init__(cid)
        self.lines = []   # what the client received, newline stripped
        self.abouts = []  # (about, final) of each line
        self.gone = False  # the other side hung up, unnoticed by any reader

    def hung_up(self):
        return self.gone

    def put(self, line, about=None, final=False):
        self.lines.append(line.rstrip(b"\n").decode())
        self.abouts.append((about, final))

    @property
    def queued(self):
        return 0

    def flush(self):
        pass

    def close(self):
        pass


class MemoryOutbox:
    def __init__(self, received):
        self.received = received
        self.size = 0

    def put(self, data):
        self.received.append(bytes(data).rstrip(b"\n").decode())

    def flush(self):
        pass


def oversize(raw_id, size):
    return Oversize(b'{"jsonrpc":"2.0","id":' + raw_id.encode() + b',"result":{"text":"', b'"}}', size)


class Harness:
    def __init__(self, started=True, info=INFO):
        self.callbacks = []
        self.router = Router("s", SETTINGS, self.callbacks.append)
        self.peers = {}
        self.child = []  # every line any child received, in order
        if started:
            self.router.attach_child(MemoryOutbox(self.child))
            self.router.child_ready(info)
            self.router.release_child()

    def peer(self, name):
        if name not in self.peers:
            self.peers[name] = MemoryPeer(len(self.peers) + 1)
            assert self.router.admit(self.peers[name])
        return self.peers[name]

    def step(self, who, *rest):
        if who == "leave":
            self.router.drop_client(self.peers[rest[0]], "test")
        elif who == "exit":
            self.router.detach_child("is restarting: it exited with code 1", "boom")
        elif who == "restart":
            self.router.detach_child("is restarting: it exited with code 1", "boom")
            self.router.attach_child(MemoryOutbox(self.child))
            self.router.child_ready(INFO)
            self.router.release_child()
        else:
            line = rest[0]
            item = line if isinstance(line, Oversize) else line.encode()
            if who == "child":
                self.router.from_child([item])
            else:
                self.router.from_client(self.peer(who), [item])
        while self.callbacks:
            self.callbacks.pop(0)()


def matches(expected, got):
    if isinstance(expected, str):
        return expected == got
    return _contains(json.loads(got), expected)


def _contains(value, expected):
    if isinstance(expected, dict):
        return isinstance(value, dict) and all(k in value and _contains(value[k], v) for k, v in expected.items())
    return value == expected and type(value) is type(expected)


def check(got, expected, who):
    assert len(got) == len(expected) and all(matches(e, g) for e, g in zip(expected, got)), \
        f"{who} got:\n  " + "\n  ".join(got) + "\nexpected:\n  " + "\n  ".join(map(str, expected))


CASES = {
    # -- ids of every JSON type round-trip exactly; 1, 1.0 and "1" are three ids
    "integer id": (
        [("a", '{"jsonrpc":"2.0","id":7,"method":"tools/list"}'), ("child", '{"jsonrpc":"2.0","id":1,"result":{}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"tools/list"}'],
        {"a": ['{"jsonrpc":"2.0","id":7,"result":{}}']}),
    "string, float and exponent ids": (
        [("a", '{"jsonrpc":"2.0","id":"x-1","method":"m"}'), ("a", '{"jsonrpc":"2.0","id":1.0,"method":"m"}'),
         ("a", '{"jsonrpc":"2.0","id":1e3,"method":"m"}'),
         ("child", '{"jsonrpc":"2.0","id":3,"result":3}'), ("child", '{"jsonrpc":"2.0","id":1,"result":1}'),
         ("child", '{"jsonrpc":"2.0","id":2,"result":2}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}', '{"jsonrpc":"2.0","id":2,"method":"m"}',
         '{"jsonrpc":"2.0","id":3,"method":"m"}'],
        {"a": ['{"jsonrpc":"2.0","id":1e3,"result":3}', '{"jsonrpc":"2.0","id":"x-1","result":1}',
               '{"jsonrpc":"2.0","id":1.0,"result":2}']}),
    "1, 1.0 and \"1\" are three ids in flight at once": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("a", '{"jsonrpc":"2.0","id":1.0,"method":"m"}'),
         ("a", '{"jsonrpc":"2.0","id":"1","method":"m"}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}', '{"jsonrpc":"2.0","id":2,"method":"m"}',
         '{"jsonrpc":"2.0","id":3,"method":"m"}'],
        {"a": []}),
    "the same id from two clients goes back to each": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("b", '{"jsonrpc":"2.0","id":1,"method":"m"}'),
         ("child", '{"jsonrpc":"2.0","id":2,"result":"b"}'), ("child", '{"jsonrpc":"2.0","id":1,"result":"a"}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}', '{"jsonrpc":"2.0","id":2,"method":"m"}'],
        {"a": ['{"jsonrpc":"2.0","id":1,"result":"a"}'], "b": ['{"jsonrpc":"2.0","id":1,"result":"b"}']}),
    "an id already in flight on the connection": (
        [("a", '{"jsonrpc":"2.0","id":4,"method":"m"}'), ("a", '{"jsonrpc":"2.0","id":4,"method":"m"}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}'],
        {"a": [{"id": 4, "error": {"code": -32600}}]}),
    "an id in the middle or at the end of the message": (
        [("a", '{"method":"m","id":"mid","jsonrpc":"2.0","params":{"id":9}}'),
         ("child", '{"result":{"id":9},"jsonrpc":"2.0","id":1}')],
        ['{"method":"m","id":1,"jsonrpc":"2.0","params":{"id":9}}'],
        {"a": ['{"result":{"id":9},"jsonrpc":"2.0","id":"mid"}']}),
    # -- bad input from a client: an error it can act on, nothing sent to the child
    "not JSON": ([("a", "{nope")], [], {"a": [{"id": None, "error": {"code": -32700}}]}),
    "a batch array": ([("a", '[{"jsonrpc":"2.0","id":1,"method":"m"}]')], [],
                      {"a": [{"id": None, "error": {"code": -32600}}]}),
    "no method and no result": ([("a", '{"jsonrpc":"2.0","id":3}')], [],
                                {"a": [{"id": 3, "error": {"code": -32600}}]}),
    "an id that is an object": ([("a", '{"jsonrpc":"2.0","id":{"x":1},"method":"m"}')], [],
                                {"a": [{"id": None, "error": {"code": -32600}}]}),
    "a method that is not a string": ([("a", '{"jsonrpc":"2.0","id":5,"method":7}')], [],
                                      {"a": [{"id": 5, "error": {"code": -32600}}]}),
    "a request over max_request_bytes": (
        [("a", Oversize(b'{"jsonrpc":"2.0","id":"big","method":"m","params":"', b'"}', 5000))], [],
        {"a": [{"id": "big", "error": {"code": -32002, "data": {"size": 5000, "limit": 1024}}}]}),
    # -- initialize and ping: answered here, each client in its own version; never sent to the child
    "initialize answered here in each client's own version": (
        [("a", INIT % 1), ("a", INITIALIZED),
         ("b", '{"jsonrpc":"2.0","id":"b1","method":"initialize","params":{"protocolVersion":"2024-11-05"}}'),
         ("c", '{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2099-01-01"}}')],
        [],
        {"a": [INIT_RESULT % 1], "b": [{"id": "b1", "result": {"protocolVersion": "2024-11-05"}}],
         "c": [{"id": 3, "result": {"protocolVersion": "2025-11-25"}}]}),
    "ping answered here": (
        [("a", '{"jsonrpc":"2.0","id":"p","method":"ping"}')], [], {"a": ['{"jsonrpc":"2.0","id":"p","result":{}}']}),
    "a restarted child gets held traffic once it is known again": (
        [("a", INIT % 1), ("restart",), ("a", '{"jsonrpc":"2.0","id":2,"method":"m"}'),
         ("child", '{"jsonrpc":"2.0","id":1,"result":"after"}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}'],
        {"a": [INIT_RESULT % 1, '{"jsonrpc":"2.0","id":2,"result":"after"}']}),
    # -- progress tokens are rewritten like ids and go only to the asking client
    "progress by token": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"tok"}}}'),
         ("b", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"tok"}}}'),
         ("child", '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":1}}'),
         ("child", '{"jsonrpc":"2.0","id":2,"result":{}}'),
         ("child", '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":2}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":1}}}',
         '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"progressToken":2}}}'],
        {"a": [], "b": ['{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok",'
                        '"progress":1}}', '{"jsonrpc":"2.0","id":1,"result":{}}']}),
    # -- cancel: the request id is rewritten; the request is forgotten, a late answer dropped
    "cancel rewrite": (
        [("a", '{"jsonrpc":"2.0","id":"c","method":"m"}'),
         ("a", '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}'),
         ("child", '{"jsonrpc":"2.0","id":1,"result":"late"}'),
         ("a", '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"unknown"}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}',
         '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}'],
        {"a": []}),
    "a client leaving cancels its requests at the child": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("leave", "a"), ("child", '{"jsonrpc":"2.0","id":1,"result":1}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}',
         {"method": "notifications/cancelled", "params": {"requestId": 1, "reason": "client disconnected"}}],
        {"a": []}),
    # -- requests from the child go to the client it works for; its answer goes back unchanged
    "a child request to the client whose request is in flight": (
        [("b", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'),
         ("child", '{"jsonrpc":"2.0","id":"r1","method":"roots/list"}'),
         ("a", '{"jsonrpc":"2.0","id":"r1","result":{"roots":[]}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}', '{"jsonrpc":"2.0","id":2,"method":"m"}',
         '{"jsonrpc":"2.0","id":"r1","result":{"roots":[]}}'],
        {"a": ['{"jsonrpc":"2.0","id":"r1","method":"roots/list"}'], "b": []}),
    "a child request with nothing in flight goes to the most recently active client": (
        [("a", '{"jsonrpc":"2.0","method":"notifications/x"}'),
         ("child", '{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"}')],
        ['{"jsonrpc":"2.0","method":"notifications/x"}'],
        {"a": ['{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"}']}),
    "roots/list goes to the client whose roots changed, not to the busy one": (
        [("a", '{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}'),
         ("b", '{"jsonrpc":"2.0","id":1,"method":"m"}'),
         ("child", '{"jsonrpc":"2.0","id":"q","method":"roots/list"}'),
         ("a", '{"jsonrpc":"2.0","id":"q","result":{"roots":[]}}')],
        ['{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}', '{"jsonrpc":"2.0","id":1,"method":"m"}',
         '{"jsonrpc":"2.0","id":"q","result":{"roots":[]}}'],
        {"a": ['{"jsonrpc":"2.0","id":"q","method":"roots/list"}'], "b": []}),
    "a child request when no client is connected gets an error": (
        [("child", '{"jsonrpc":"2.0","id":7,"method":"elicitation/create"}')],
        [{"id": 7, "error": {"code": -32001}}], {}),
    "the asked client leaves: the child gets an error for its request": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("child", '{"jsonrpc":"2.0","id":"q","method":"roots/list"}'),
         ("leave", "a")],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}', {"method": "notifications/cancelled"},
         {"id": "q", "error": {"code": -32001}}],
        {"a": ['{"jsonrpc":"2.0","id":"q","method":"roots/list"}']}),
    "the child cancels its request at the client it asked": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("child", '{"jsonrpc":"2.0","id":"q","method":"roots/list"}'),
         ("child", '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"q"}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}'],
        {"a": ['{"jsonrpc":"2.0","id":"q","method":"roots/list"}',
               '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"q"}}']}),
    "the child's ping is answered by the proxy": (
        [("a", '{"jsonrpc":"2.0","method":"notifications/x"}'), ("child", '{"jsonrpc":"2.0","id":"p","method":"ping"}')],
        ['{"jsonrpc":"2.0","method":"notifications/x"}', '{"jsonrpc":"2.0","id":"p","result":{}}'],
        {"a": []}),
    # -- notifications from the child
    "list_changed and log messages go to every client": (
        [("a", INITIALIZED), ("b", INITIALIZED),
         ("child", '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}')],
        [],
        {"a": ['{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'],
         "b": ['{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}']}),
    "resource updates go to the subscribers of that uri": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}'),
         ("child", '{"jsonrpc":"2.0","id":1,"result":{}}'), ("b", INITIALIZED),
         ("child", '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"u"}}'),
         ("child", '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"other"}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}'],
        {"a": ['{"jsonrpc":"2.0","id":1,"result":{}}',
               '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"u"}}'], "b": []}),
    "unsubscribe while another client holds the uri is answered here": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}'),
         ("b", '{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}'),
         ("a", '{"jsonrpc":"2.0","id":2,"method":"resources/unsubscribe","params":{"uri":"u"}}'),
         ("b", '{"jsonrpc":"2.0","id":2,"method":"resources/unsubscribe","params":{"uri":"u"}}')],
        ['{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}',
         '{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"u"}}',
         '{"jsonrpc":"2.0","id":3,"method":"resources/unsubscribe","params":{"uri":"u"}}'],
        {"a": ['{"jsonrpc":"2.0","id":2,"result":{}}'], "b": []}),
    "the last subscriber leaving unsubscribes at the child": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}'),
         ("child", '{"jsonrpc":"2.0","id":1,"result":{}}'), ("leave", "a")],
        ['{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}',
         '{"jsonrpc":"2.0","id":2,"method":"resources/unsubscribe","params":{"uri":"u"}}'],
        {"a": ['{"jsonrpc":"2.0","id":1,"result":{}}']}),
    "subscriptions are replayed to a restarted child": (
        [("a", INIT % 1),
         ("a", '{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"u"}}'),
         ("child", '{"jsonrpc":"2.0","id":1,"result":{}}'), ("restart",)],
        ['{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"u"}}',
         '{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"u"}}'],
        {"a": [INIT_RESULT % 1, '{"jsonrpc":"2.0","id":2,"result":{}}']}),
    # -- answers nobody waits for are dropped, never broadcast
    "orphan answers are dropped": (
        [("a", INITIALIZED), ("child", '{"jsonrpc":"2.0","id":99,"result":{}}'),
         ("child", '{"jsonrpc":"2.0","id":"zz","result":{}}'), ("a", '{"jsonrpc":"2.0","id":"nobody","result":{}}')],
        [], {"a": []}),
    "garbage from the child is ignored": (
        [("a", INITIALIZED), ("child", "not json"), ("child", '{"jsonrpc":"2.0"}')], [], {"a": []}),
    # -- an answer over max_response_bytes is an error for that call only
    "an oversize answer": (
        [("a", '{"jsonrpc":"2.0","id":"o","method":"m"}'), ("b", '{"jsonrpc":"2.0","id":1,"method":"m"}'),
         ("child", oversize("1", 9000)), ("child", '{"jsonrpc":"2.0","id":2,"result":"fine"}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}', '{"jsonrpc":"2.0","id":2,"method":"m"}'],
        {"a": [{"id": "o", "error": {"code": -32002, "data": {"size": 9000, "limit": 2048}}}],
         "b": ['{"jsonrpc":"2.0","id":1,"result":"fine"}']}),
    # -- the child goes away: every request in flight gets -32001 with the stderr tail
    "the child exits with requests in flight": (
        [("a", '{"jsonrpc":"2.0","id":1,"method":"m"}'), ("exit",), ("a", '{"jsonrpc":"2.0","id":2,"method":"m"}')],
        ['{"jsonrpc":"2.0","id":1,"method":"m"}'],
        {"a": [{"id": 1, "error": {"code": -32001, "data": {"stderr_tail": "boom"}}},
               {"id": 2, "error": {"code": -32001}}]}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_router_case(name):
    steps, child, clients = CASES[name]
    harness = Harness()
    for step in steps:
        harness.step(*step)
    check(harness.child, child, "the child")
    for who, expected in clients.items():
        check(harness.peer(who).lines, expected, f"client {who}")


def test_requests_before_the_first_child_are_held_then_sent_in_order():
    """Before anything is known of the child even its initialize waits (it is answered
    from what the child says); then the held traffic goes in order."""
    harness = Harness(started=False)
    harness.step("a", INIT % 1)
    harness.step("a", '{"jsonrpc":"2.0","id":2,"method":"m"}')
    assert harness.child == [] and harness.peer("a").lines == []
    harness.router.attach_child(MemoryOutbox(harness.child))
    harness.router.child_ready(INFO)
    harness.router.release_child()
    check(harness.child, ['{"jsonrpc":"2.0","id":1,"method":"m"}'], "the child")
    check(harness.peer("a").lines, [INIT_RESULT % 1], "client a")


def test_each_line_names_the_request_it_belongs_to():
    """What an HTTP session needs to pick the stream: answers and progress carry the id key
    of their request, and only the answer is final; what is unprompted carries None."""
    harness = Harness()
    harness.step("a", '{"jsonrpc":"2.0","id":"t","method":"m","params":{"_meta":{"progressToken":1}}}')
    harness.step("child", '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}}')
    harness.step("child", '{"jsonrpc":"2.0","id":"r","method":"roots/list"}')
    harness.step("child", '{"jsonrpc":"2.0","method":"notifications/message","params":{}}')
    harness.step("child", '{"jsonrpc":"2.0","id":1,"result":{}}')
    key = id_key("t")
    assert harness.peer("a").abouts == [(key, False), (key, False), (None, False), (key, True)]


def test_max_clients_counts_live_clients_only():
    harness = Harness()
    router = harness.router
    router.settings = config.build({"pool": {"max_clients": 2}}).pool
    first, second = harness.peer("a"), harness.peer("b")
    assert not router.admit(MemoryPeer(3))
    second.gone = True  # the peer closed; its reader has not run yet
    assert router.admit(MemoryPeer(4))
    assert list(router.clients) == [first.cid, 4] and second.closed


def test_at_max_clients_the_least_recently_used_abandoned_session_makes_room():
    """Regression: HTTP sessions nobody ends (`claude mcp list` never sends DELETE) held
    their slots for http_session_idle (24 h), and every new client was refused."""
    harness = Harness()
    router = harness.router
    router.settings = config.build({"pool": {"max_clients": 3}}).pool
    harness.peer("socket")  # a socket client is never abandoned: its connection is its life
    forgotten = []
    older, newer = (HttpSession(cid, f"sid{cid}", "2025-06-18", lambda: router.settings, "run", forgotten.append,
                                router.stats) for cid in (10, 11))
    assert router.admit(older) and router.admit(newer)
    older.last_active -= 5
    assert router.admit(MemoryPeer(12))
    assert older.closed and forgotten == [older] and not newer.closed and router.stats.made_room == 1
    newer.open_get()  # a session with a stream open is live: it keeps its slot
    assert not router.admit(MemoryPeer(13))
    assert router.stats.rejected == 1 and not newer.closed
    router.drop_client(router.clients[12], "left")
    waiting = HttpSession(14, "sid14", "2025-06-18", lambda: router.settings, "run", forgotten.append, router.stats)
    assert router.admit(waiting)
    router.from_client(waiting, [b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'])
    assert waiting.inflight and not router.admit(MemoryPeer(15))  # nor one with a request in flight
