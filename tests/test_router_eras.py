"""The router with clients of both eras on one child, as case tables (see test_router for
the step language): what the child gets and what each client gets, with ids, progress
tokens and subscription ids rewritten. ``a`` is a legacy client (2025-06-18, it declared
elicitation), ``m`` a modern one; the child is modern (mcp-server-time's shape) or
legacy. Expected lines are dicts contained in what was sent."""
import json

import pytest

from agentdeck.protocol import versions as v
from agentdeck.protocol.child import ChildInfo
from tests.test_router import Harness, check

MODERN_INFO = ChildInfo(v.MODERN, "2026-07-28", {"tools": {}}, {"name": "t", "version": "1"})
LEGACY_INFO = ChildInfo(v.LEGACY, "2025-11-25", {"tools": {}}, {"name": "e", "version": "1"})
ENV = {v.PROTOCOL_VERSION: "2026-07-28", v.CLIENT_CAPABILITIES: {"elicitation": {}}}


def line(**message):
    return json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":"))


INIT_A = line(id=0, method="initialize", params={"protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
                                                  "clientInfo": {"name": "a", "version": "1"}})
INIT_PLAIN = line(id=0, method="initialize", params={"protocolVersion": "2025-11-25", "capabilities": {}})
STAMP = {v.PROTOCOL_VERSION: "2026-07-28", v.CLIENT_CAPABILITIES: {"elicitation": {}},
         v.CLIENT_INFO: {"name": "a", "version": "1"}}
LISTEN = {"id": 1, "method": "subscriptions/listen", "params": {"_meta": STAMP}}
ELICIT = {"method": "elicitation/create", "params": {"mode": "form", "message": "who?"}}

MODERN_CHILD = {
    "a legacy client's requests reach a modern child stamped, behind the listen held for it": (
        [("a", INIT_A), ("a", line(id=7, method="tools/list", params={"_meta": {"progressToken": "p"}}))],
        [LISTEN, {"id": 2, "method": "tools/list", "params": {"_meta": {**STAMP, "progressToken": 2}}}],
        {"a": [{"id": 0, "result": {"protocolVersion": "2025-06-18", "serverInfo": {"name": "t"}}}]}),
    "the held listen's notifications reach the legacy client as 2025 ones": (
        [("a", INIT_A),
         ("child", line(method="notifications/subscriptions/acknowledged",
                        params={"_meta": {v.SUBSCRIPTION_ID: 1}, "notifications": {}})),
         ("child", line(method="notifications/tools/list_changed", params={"_meta": {v.SUBSCRIPTION_ID: 1}}))],
        [LISTEN],
        {"a": [{"id": 0}, '{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}']}),
    "input_required becomes the child's questions to the client; each retry is a new request to the child": (
        [("a", INIT_A), ("a", line(id="c", method="tools/call", params={"name": "x"})),
         ("child", line(id=2, result={"resultType": "input_required", "inputRequests": {"q": ELICIT},
                                      "requestState": "S"})),
         ("a", line(id="agentdeck-input-2", result={"action": "accept"})),
         ("child", line(id=3, result={"resultType": "input_required", "requestState": "T"})),
         ("child", line(id=4, result={"content": [], "resultType": "complete"}))],
        [LISTEN, {"id": 2, "method": "tools/call"},
         {"id": 3, "params": {"requestState": "S", "inputResponses": {"q": {"action": "accept"}}}},
         {"id": 4, "params": {"requestState": "T", "inputResponses": {}}}],
        {"a": [{"id": 0}, {"id": "agentdeck-input-2", "method": "elicitation/create", "params": {"message": "who?"}},
               '{"jsonrpc":"2.0","id":"c","result":{"content":[],"resultType":"complete"}}']}),
    "a modern client's listen: notifications and the end carry its own id, not the proxy's": (
        [("m", line(id="L", method="subscriptions/listen", params={"_meta": ENV, "notifications": {}})),
         ("child", line(method="notifications/tools/list_changed", params={"_meta": {v.SUBSCRIPTION_ID: 1}})),
         ("child", line(method="notifications/tools/list_changed", params={"_meta": {v.SUBSCRIPTION_ID: 99}})),
         ("child", line(id=1, result={"resultType": "complete", "_meta": {v.SUBSCRIPTION_ID: 1}}))],
        [{"id": 1, "method": "subscriptions/listen", "params": {"_meta": ENV}}],
        {"m": ['{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":'
               '{"io.modelcontextprotocol/subscriptionId":"L"}}}',
               '{"jsonrpc":"2.0","id":"L","result":{"resultType":"complete","_meta":'
               '{"io.modelcontextprotocol/subscriptionId":"L"}}}']}),
    "a modern client's requests reach a modern child as they are; discover and bad envelopes are answered here": (
        [("m", line(id=1, method="tools/list", params={"_meta": ENV})),
         ("m", line(id=2, method="server/discover", params={"_meta": ENV})),
         ("m", line(id=3, method="tools/list", params={"_meta": {**ENV, v.PROTOCOL_VERSION: "2030-01-01"}})),
         ("m", line(id=4, method="tools/list"))],
        [{"id": 1, "method": "tools/list", "params": {"_meta": ENV}}],
        {"m": [{"id": 2, "result": {"resultType": "complete", "_meta": {v.SERVER_INFO: {"name": "t"}}}},
               {"id": 3, "error": {"code": -32022, "data": {"requested": "2030-01-01"}}},
               {"id": 4, "error": {"code": -32602}}]}),
    "initialize on a modern connection, an envelope on an initialized legacy one": (
        [("m", line(id=1, method="tools/list", params={"_meta": ENV})), ("m", INIT_A),
         ("a", INIT_A), ("a", line(id=5, method="tools/list", params={"_meta": ENV}))],
        [{"id": 1}, {**LISTEN, "id": 2}],
        {"m": [{"id": 0, "error": {"code": -32022}}], "a": [{"id": 0}, {"id": 5, "error": {"code": -32600}}]}),
}

LEGACY_CHILD = {
    "a modern client's request loses its envelope; the result gains resultType": (
        [("m", line(id="x", method="tools/list", params={"_meta": ENV})),
         ("child", line(id=1, result={"tools": []}))],
        ['{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'],
        {"m": [{"id": "x", "result": {"tools": [], "resultType": "complete", "ttlMs": 0}}]}),
    "the child's question during a modern call: input_required; the retry answers it and gets the result": (
        [("m", line(id="c", method="tools/call", params={"name": "x", "_meta": ENV})),
         ("child", line(id="q1", **ELICIT)),
         ("m", "RETRY c2 {\"agentdeck-1\": {\"action\": \"accept\"}}"),
         ("child", line(id=1, result={"content": ["done"]}))],
        ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}',
         '{"jsonrpc":"2.0","id":"q1","result":{"action":"accept"}}'],
        {"m": [{"id": "c", "result": {"resultType": "input_required",
                                      "inputRequests": {"agentdeck-1": {"method": "elicitation/create"}}}},
               {"id": "c2", "result": {"content": ["done"], "resultType": "complete"}}]}),
    "a child's question for a client that did not declare it: the child gets an error, the client nothing": (
        [("a", INIT_PLAIN), ("a", line(id=1, method="tools/call", params={"name": "x"})),
         ("child", line(id="q1", **ELICIT)), ("child", line(id=1, result={"content": []}))],
        ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}',
         {"id": "q1", "error": {"code": -32601}}],
        {"a": [{"id": 0}, '{"jsonrpc":"2.0","id":1,"result":{"content":[]}}']}),
    "methods 2026-07-28 removed, in its envelope: -32601, nothing reaches the child; a 2025 ping is answered": (
        [("m", line(id=1, method="ping", params={"_meta": ENV})),
         ("m", line(id=2, method="initialize", params={"_meta": ENV})),
         ("m", line(id=3, method="logging/setLevel", params={"level": "info", "_meta": ENV})),
         ("m", line(id=4, method="resources/subscribe", params={"uri": "a", "_meta": ENV})),
         ("m", line(id=5, method="resources/unsubscribe", params={"uri": "a", "_meta": ENV})),
         ("a", INIT_A), ("a", line(id=6, method="ping"))],
        [],
        {"m": [{"id": i, "error": {"code": -32601}} for i in range(1, 6)],
         "a": [{"id": 0}, '{"jsonrpc":"2.0","id":6,"result":{}}']}),
    "a 2025-06-18 client is asked without mode": (
        [("a", INIT_A), ("a", line(id=1, method="tools/call", params={"name": "x"})), ("child", line(id="q1", **ELICIT))],
        ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}'],
        {"a": [{"id": 0}, '{"jsonrpc":"2.0","id":"q1","method":"elicitation/create","params":{"message":"who?"}}']}),
}


def run(info, steps):
    harness = Harness(info=info)
    state = {}
    for step in steps:
        if step[0] != "child" and step[1].startswith("RETRY"):
            _, rid, responses = step[1].split(" ", 2)
            step = (step[0], line(id=rid, method="tools/call", params={
                "name": "x", "_meta": ENV, "requestState": state["s"], "inputResponses": json.loads(responses)}))
        harness.step(*step)
        for peer in harness.peers.values():
            for got in peer.lines:
                result = json.loads(got).get("result")
                if isinstance(result, dict) and "requestState" in result:
                    state["s"] = result["requestState"]
    return harness


@pytest.mark.parametrize("info, cases, name", [(MODERN_INFO, MODERN_CHILD, n) for n in MODERN_CHILD] +
                         [(LEGACY_INFO, LEGACY_CHILD, n) for n in LEGACY_CHILD])
def test_router_eras_case(info, cases, name):
    steps, child, clients = cases[name]
    harness = run(info, steps)
    check(harness.child, child, "the child")
    for who, expected in clients.items():
        check(harness.peer(who).lines, expected, f"client {who}")


def test_the_listen_held_for_a_legacy_client_keeps_it_neither_busy_nor_from_idling():
    """Regression: the listen agentdeck holds for a legacy client of a modern child is never
    answered; counted as in flight, it kept every such HTTP session from being ended to make
    room (the fourth client of a max_clients = 3 server was refused) and every such socket
    client from its idle timeout."""
    harness = Harness(info=MODERN_INFO)
    harness.step("a", INIT_A)
    peer = harness.peer("a")
    assert len(peer.inflight) == 1 and not peer.busy()
    harness.step("a", line(id=3, method="tools/list"))
    assert peer.busy()


def test_a_legacy_client_answering_the_childs_question_is_busy_not_idle():
    """While its request is between input_required rounds the router has nothing of it in
    flight: the adapter's round keeps the client from being closed as idle meanwhile."""
    harness = Harness(info=MODERN_INFO)
    harness.step("a", INIT_A)
    harness.step("a", line(id="c", method="tools/call", params={"name": "x"}))
    harness.step("child", line(id=2, result={"resultType": "input_required", "inputRequests": {"q": ELICIT}}))
    peer = harness.peer("a")
    assert len(peer.inflight) == 1 and peer.busy()  # only the held listen is in flight
    harness.step("a", line(id="agentdeck-input-2", result={"action": "decline"}))
    harness.step("child", line(id=3, result={"content": []}))
    assert not peer.busy()
