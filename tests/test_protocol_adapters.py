"""The per-client era adapters as case tables: each step is a message from the client
(``to_child``) or from the child (``to_client``, with the id key of the client request it
belongs to), and what the adapter returns: (messages for the child, messages for the
client). An expected dict is contained in the message; STATE matches any requestState."""
import pytest

from agentdeck.protocol import versions as v
from agentdeck.protocol.adapters import adapter_for
from agentdeck.protocol.clients import ClientState, Rebind
from agentdeck.protocol.legacyclient import LegacyToModern
from agentdeck.protocol.modernclient import ModernToLegacy
from agentdeck.wire.jsonrpc import id_key

STATE = object()
KEY = b"k" * 32
CAPS = {"elicitation": {}, "sampling": {}}
INFO = {"name": "claude", "version": "2"}
ENV = {v.PROTOCOL_VERSION: "2026-07-28", v.CLIENT_CAPABILITIES: CAPS, v.CLIENT_INFO: INFO}


def req(rid, method, params=None):
    return {"jsonrpc": "2.0", "id": rid, "method": method, **({"params": params} if params is not None else {})}


def note(method, params=None):
    return {"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})}


def res(rid, result):
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def matches(expected, got):
    if expected is STATE:
        return isinstance(got, str) and "." in got
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(k in got and matches(e, got[k]) for k, e in expected.items())
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(matches, expected, got))
    return expected == got and type(expected) is type(got)


def exact(expected, got):
    """Key sets equal too (what a legacy client must not see, it must not get)."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and expected.keys() == got.keys() and all(exact(expected[k], got[k])
                                                                            for k in expected)
    return matches(expected, got)


# -- a legacy client of a modern child ----------------------------------------------------
LISTEN = {"method": "subscriptions/listen", "params": {
    "notifications": {"toolsListChanged": True, "promptsListChanged": True, "resourcesListChanged": True}}}
CALL = req(5, "tools/call", {"name": "ask", "arguments": {}})
STAMPED_CALL = {"id": 5, "method": "tools/call", "params": {"name": "ask", "_meta": ENV}}
ELICIT = {"method": "elicitation/create", "params": {"mode": "form", "message": "name?", "requestedSchema": {}}}

LEGACY_CASES = {
    "every request is stamped with the version, capabilities and clientInfo": [
        ("client", req(1, "tools/list"), ([{"id": 1, "params": {"_meta": ENV}}], [])),
        ("client", req(2, "tools/list", {"_meta": {"progressToken": "p"}}),
         ([{"params": {"_meta": {**ENV, "progressToken": "p"}}}], [])),
    ],
    "a client that declared no capabilities is stamped {}": [
        ("as", "2025-06-18", None, None),
        ("client", req(1, "tools/list"),
         ([{"params": {"_meta": {v.PROTOCOL_VERSION: "2026-07-28", v.CLIENT_CAPABILITIES: {}}}}], [])),
    ],
    "logging/setLevel is answered here and its level rides on later requests": [
        ("client", req(1, "logging/setLevel", {"level": "debug"}), ([], [res(1, {})])),
        ("client", req(2, "tools/list"), ([{"params": {"_meta": {v.LOG_LEVEL: "debug"}}}], [])),
    ],
    "the handshake notification and roots/list_changed do not reach a modern child": [
        ("client", note("notifications/initialized"), ([], [])),
        ("client", note("notifications/roots/list_changed"), ([], [])),
    ],
    "the held listen: list changes reach the client as 2025 notifications": [
        ("start", ([{"id": "agentdeck-listen-1", **LISTEN}], [])),
        ("child", note("notifications/subscriptions/acknowledged",
                       {"_meta": {v.SUBSCRIPTION_ID: "agentdeck-listen-1"}, "notifications": {}}), None, ([], [])),
        ("child", note("notifications/tools/list_changed", {"_meta": {v.SUBSCRIPTION_ID: "agentdeck-listen-1"}}), None,
         ([], [note("notifications/tools/list_changed", {})])),
    ],
    "subscribe becomes a new listen naming the URI; updates come as resources/updated": [
        ("start", ([{"id": "agentdeck-listen-1"}], [])),
        ("client", req(3, "resources/subscribe", {"uri": "file:///a"}),
         ([note("notifications/cancelled", {"requestId": "agentdeck-listen-1"}),
           {"id": "agentdeck-listen-2", "params": {"notifications": {"resourceSubscriptions": ["file:///a"]}}}],
          [res(3, {})])),
        ("child", note("notifications/resources/updated", {"uri": "file:///a",
                                                            "_meta": {v.SUBSCRIPTION_ID: "agentdeck-listen-1"}}),
         None, ([], [])),  # the old listen's, already replaced
        ("child", note("notifications/resources/updated", {"uri": "file:///a",
                                                            "_meta": {v.SUBSCRIPTION_ID: "agentdeck-listen-2"}}),
         None, ([], [note("notifications/resources/updated", {"uri": "file:///a"})])),
        ("child", res("agentdeck-listen-1", {"resultType": "complete"}), None, ([], [])),
        ("client", req(4, "resources/unsubscribe", {"uri": "file:///a"}),
         ([note("notifications/cancelled", {"requestId": "agentdeck-listen-2"}),
           {"id": "agentdeck-listen-3", **LISTEN}], [res(4, {})])),
    ],
    "input_required becomes the named requests; the retry carries the answers and the state untouched": [
        ("client", CALL, ([STAMPED_CALL], [])),
        ("child", res(5, {"resultType": "input_required", "inputRequests": {"who": ELICIT}, "requestState": "s1"}),
         id_key(5), ([], [req("agentdeck-input-1", "elicitation/create", ELICIT["params"])])),
        ("client", res("agentdeck-input-1", {"action": "accept", "content": {"name": "ann"}}),
         ([{**STAMPED_CALL, "params": {"name": "ask", "requestState": "s1",
                                       "inputResponses": {"who": {"action": "accept"}}}}], [])),
        ("child", res(5, {"resultType": "complete", "content": []}), id_key(5),
         ([], [res(5, {"resultType": "complete", "content": []})])),
    ],
    "input_required is a loop: it may come again, with only a requestState": [
        ("client", CALL, ([STAMPED_CALL], [])),
        ("child", res(5, {"resultType": "input_required", "requestState": "s1"}), id_key(5),
         ([{"id": 5, "params": {"requestState": "s1", "inputResponses": {}}}], [])),
        ("child", res(5, {"resultType": "input_required", "inputRequests": {"a": ELICIT, "b": {
            "method": "sampling/createMessage", "params": {"maxTokens": 9}}}, "requestState": "s2"}), id_key(5),
         ([], [req("agentdeck-input-1", "elicitation/create"), req("agentdeck-input-2", "sampling/createMessage")])),
        ("client", res("agentdeck-input-2", {"role": "assistant"}), ([], [])),
        ("client", {"jsonrpc": "2.0", "id": "agentdeck-input-1", "error": {"code": -1, "message": "no"}},
         ([{"params": {"requestState": "s2", "inputResponses": {"a": {"action": "decline"},
                                                                 "b": {"role": "assistant"}}}}], [])),
        ("child", res(5, {"content": []}), id_key(5), ([], [res(5, {"content": []})])),
    ],
    "a 2025-06-18 client gets elicitation without mode": [
        ("as", "2025-06-18", CAPS, INFO),
        ("client", CALL, ([{"id": 5}], [])),
        ("child", res(5, {"resultType": "input_required", "inputRequests": {"who": ELICIT}}), id_key(5),
         ([], [req("agentdeck-input-1", "elicitation/create", {"message": "name?", "requestedSchema": {}})])),
    ],
    "an input the client did not declare is not asked of it": [
        ("as", "2025-11-25", {"sampling": {}}, INFO),
        ("client", CALL, ([{"id": 5}], [])),
        ("child", res(5, {"resultType": "input_required", "inputRequests": {"who": ELICIT}, "requestState": "s"}),
         id_key(5), ([{"id": 5, "params": {"inputResponses": {}, "requestState": "s"}}], [])),
    ],
    "other answers and progress pass unchanged": [
        ("client", req(1, "tools/list"), ([{"id": 1}], [])),
        ("child", note("notifications/progress", {"progressToken": "p", "progress": 1}), id_key(1),
         ([], [note("notifications/progress", {"progressToken": "p", "progress": 1})])),
        ("child", res(1, {"tools": [], "resultType": "complete"}), id_key(1),
         ([], [res(1, {"tools": [], "resultType": "complete"})])),
    ],
}


# -- a modern client of a legacy child ----------------------------------------------------
MCALL = req(5, "tools/call", {"name": "ask", "_meta": {**ENV, "progressToken": 3}})
ROOTS = req("srv-1", "roots/list", {})
MODERN_CASES = {
    "the envelope is taken off; other _meta stays": [
        ("client", MCALL, ([req(5, "tools/call", {"name": "ask", "_meta": {"progressToken": 3}})], [])),
        ("client", req(6, "tools/list", {"_meta": ENV}), ([req(6, "tools/list", {})], [])),
    ],
    "results gain resultType, and cacheable ones ttlMs and cacheScope": [
        ("client", req(6, "tools/list", {"_meta": ENV}), ([{"id": 6}], [])),
        ("child", res(6, {"tools": []}), id_key(6),
         ([], [res(6, {"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private"})])),
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", res(5, {"content": []}), id_key(5), ([], [res(5, {"content": [], "resultType": "complete"})])),
    ],
    "a child request during the call is an input_required result; the retry answers it and takes its place": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", ROOTS, id_key(5), ([], [res(5, {"resultType": "input_required", "requestState": STATE,
                                                   "inputRequests": {"agentdeck-1": {"method": "roots/list"}}})])),
        ("retry", 6, {"agentdeck-1": {"roots": []}},
         ([res("srv-1", {"roots": []}), Rebind(5, 6)], [])),
        ("child", res(5, {"content": []}), id_key(6), ([], [res(5, {"content": [], "resultType": "complete"})])),
    ],
    "a child request while the state is out joins the next round": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", ROOTS, id_key(5), ([], [res(5, {"resultType": "input_required"})])),
        ("child", req("srv-2", "sampling/createMessage", {"maxTokens": 1}), id_key(5), ([], [])),
        ("retry", 6, {"agentdeck-1": {"roots": []}},
         ([res("srv-1", {"roots": []}), Rebind(5, 6)],
          [res(6, {"resultType": "input_required", "requestState": STATE, "inputRequests": {
              "agentdeck-3": {"method": "sampling/createMessage"}}})])),
        ("retry", 7, {"agentdeck-3": {"role": "assistant"}}, ([res("srv-2", {"role": "assistant"}), Rebind(6, 7)],
                                                              [])),
    ],
    "the child answered before the retry: the retry gets that answer": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", ROOTS, id_key(5), ([], [res(5, {"resultType": "input_required"})])),
        ("child", res(5, {"content": ["late"]}), id_key(5), ([], [])),
        ("retry", 6, {"agentdeck-1": {"roots": []}},
         ([res("srv-1", {"roots": []})], [res(6, {"content": ["late"], "resultType": "complete"})])),
    ],
    "a tampered requestState is invalid params": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", ROOTS, id_key(5), ([], [res(5, {"resultType": "input_required"})])),
        ("retry", 6, {}, "tamper", ([], [{"id": 6, "error": {"code": -32602}}])),
    ],
    "another client's requestState is invalid params": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", ROOTS, id_key(5), ([], [res(5, {"resultType": "input_required"})])),
        ("retry", 6, {}, "other client", ([], [{"id": 6, "error": {"code": -32602}}])),
    ],
    "a client that never retries: after the wait the child gets an error, its late answer is dropped": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", ROOTS, id_key(5), ([], [res(5, {"resultType": "input_required"})])),
        ("expire", 301.0, [{"id": "srv-1", "error": {"code": -32001}}]),
        ("child", res(5, {"content": []}), id_key(5), ([], [])),
        ("retry", 6, {"agentdeck-1": {"roots": []}}, ([], [{"id": 6, "error": {"code": -32602}}])),
    ],
    "a child request outside any call of the client is refused to the child": [
        ("child", ROOTS, None, ([{"id": "srv-1", "error": {"code": -32001}}], [])),
    ],
    "subscriptions/listen is acknowledged here; list changes and updates come tagged with its id": [
        ("client", req("L", "subscriptions/listen", {"_meta": ENV, "notifications": {
            "toolsListChanged": True, "resourceSubscriptions": ["file:///a"]}}),
         ([req("agentdeck-sub-1", "resources/subscribe", {"uri": "file:///a"})],
          [note("notifications/subscriptions/acknowledged", {"_meta": {v.SUBSCRIPTION_ID: "L"}})])),
        ("child", res("agentdeck-sub-1", {}), None, ([], [])),
        ("child", note("notifications/tools/list_changed"), None,
         ([], [note("notifications/tools/list_changed", {"_meta": {v.SUBSCRIPTION_ID: "L"}})])),
        ("child", note("notifications/prompts/list_changed"), None, ([], [])),
        ("child", note("notifications/resources/updated", {"uri": "file:///a"}), None,
         ([], [note("notifications/resources/updated", {"uri": "file:///a", "_meta": {v.SUBSCRIPTION_ID: "L"}})])),
        ("client", note("notifications/cancelled", {"requestId": "L"}),
         ([req("agentdeck-sub-2", "resources/unsubscribe", {"uri": "file:///a"})], [])),
        ("child", note("notifications/tools/list_changed"), None, ([], [])),
    ],
    "unprompted log messages do not reach a modern client; those of its request do": [
        ("client", MCALL, ([{"id": 5}], [])),
        ("child", note("notifications/message", {"level": "info"}), None, ([], [])),
        ("child", note("notifications/message", {"level": "info"}), id_key(5),
         ([], [note("notifications/message", {"level": "info"})])),
    ],
}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run(adapter, steps, clock=None):
    states = {}
    for step in steps:
        kind = step[0]
        if kind == "as":
            adapter.client = ClientState(v.LEGACY, *step[1:])
            continue
        if kind == "start":
            got, expected = adapter.start(), step[1]
        elif kind == "client":
            got, expected = adapter.to_child(step[1]), step[2]
        elif kind == "child":
            got, expected = adapter.to_client(step[1], step[2]), step[3]
            for m in got[1]:
                if isinstance(m.get("result"), dict) and "requestState" in m["result"]:
                    states[m["id"]] = m["result"]["requestState"]
        elif kind == "retry":
            state = states[max(states)] if states else None
            if step[3:] and step[3] == "tamper":
                state = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
            if step[3:] and step[3] == "other client":
                adapter.cid, saved = 99, adapter.cid
            got = adapter.to_child(req(step[1], "tools/call", {"name": "ask", "_meta": ENV, "requestState": state,
                                                                "inputResponses": step[2]}))
            if step[3:] and step[3] == "other client":
                adapter.cid = saved
            expected = step[-1]
            for m in got[1]:
                if isinstance(m.get("result"), dict) and "requestState" in m["result"]:
                    states[m["id"]] = m["result"]["requestState"]
        elif kind == "expire":
            clock.now = step[1]
            assert matches(step[2], adapter.expire(clock.now)), adapter.expire(clock.now)
            continue
        for which, want, have in (("child", expected[0], got[0]), ("client", expected[1], got[1])):
            assert len(want) == len(have) and all(
                (w == h) if isinstance(w, Rebind) else matches(w, h) for w, h in zip(want, have)), \
                f"to the {which}: got {have!r}\nexpected {want!r}"


@pytest.mark.parametrize("name", list(LEGACY_CASES))
def test_legacy_client_of_a_modern_child(name):
    run(LegacyToModern(ClientState(v.LEGACY, "2025-11-25", CAPS, INFO)), LEGACY_CASES[name])


@pytest.mark.parametrize("name", list(MODERN_CASES))
def test_modern_client_of_a_legacy_child(name):
    clock = Clock()
    run(ModernToLegacy(ClientState(v.MODERN, "2026-07-28", CAPS, INFO), KEY, cid=1, clock=clock),
        MODERN_CASES[name], clock)


def test_a_stamped_notification_a_legacy_client_gets_has_no_subscription_id_left():
    adapter = LegacyToModern(ClientState(v.LEGACY, "2025-11-25", CAPS, INFO))
    adapter.start()
    _, out = adapter.to_client(note("notifications/tools/list_changed", {
        "_meta": {v.SUBSCRIPTION_ID: "agentdeck-listen-1"}}))
    assert exact([note("notifications/tools/list_changed", {})], out)


@pytest.mark.parametrize("client, child, kind", [
    (v.LEGACY, v.LEGACY, type(None)), (v.MODERN, v.MODERN, type(None)),
    (v.LEGACY, v.MODERN, LegacyToModern), (v.MODERN, v.LEGACY, ModernToLegacy)])
def test_the_adapter_is_chosen_by_the_pair_of_eras(client, child, kind):
    adapter = adapter_for(ClientState(client), child, key=KEY, cid=1, clock=Clock())
    assert type(adapter) is kind
