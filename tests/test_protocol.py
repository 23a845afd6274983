"""The protocol eras as data (agentdeck.protocol): versions, the handshake with a child
of each era, what clients are answered about the child, and the envelope checks.
Inputs and expected outputs side by side; no hub, sockets or processes."""
import pytest

from agentdeck.protocol import child, front
from agentdeck.protocol import versions as v
from agentdeck.protocol.child import ChildInfo, Incompatible

TIME_DISCOVER = {"jsonrpc": "2.0", "id": 1, "result": {
    "cacheScope": "private", "capabilities": {"tools": {"listChanged": False}}, "resultType": "complete",
    "supportedVersions": ["2026-07-28"], "ttlMs": 0, "_meta": {v.SERVER_INFO: {"name": "mcp-time", "version": "1"}}}}
LEGACY_INIT = {"jsonrpc": "2.0", "id": 2, "result": {
    "protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "everything", "version": "2"},
    "instructions": "read me"}}
MODERN_CHILD = ChildInfo(v.MODERN, "2026-07-28", {"tools": {"listChanged": False}}, {"name": "mcp-time", "version": "1"})
LEGACY_CHILD = ChildInfo(v.LEGACY, "2025-11-25", {"tools": {}}, {"name": "everything", "version": "2"}, "read me")


def err(code, data=None):
    return {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "x", **({"data": data} if data else {})}}


# -- the probe: what a child's answer to server/discover (or its silence) says it is
DISCOVER_CASES = {
    "a DiscoverResult naming 2026-07-28: modern": (TIME_DISCOVER, MODERN_CHILD),
    "method not found (a legacy SDK server): legacy": (err(-32601), None),
    "invalid params (a legacy server wanting initialize first): legacy": (err(-32602), None),
    "silence (the caller's timeout): legacy": (None, None),
    "-32022 naming a legacy version: legacy": (err(-32022, {"supported": ["2025-06-18"]}), None),
    "a DiscoverResult naming only handshake versions: legacy": (
        {"jsonrpc": "2.0", "id": 1, "result": {"supportedVersions": ["2025-11-25"], "capabilities": {}}}, None),
    "-32022 naming only versions agentdeck does not serve": (err(-32022, {"supported": ["2030-01-01"]}), Incompatible),
}


@pytest.mark.parametrize("name", list(DISCOVER_CASES))
def test_reading_the_probe(name):
    reply, expected = DISCOVER_CASES[name]
    if expected is Incompatible:
        with pytest.raises(Incompatible):
            child.read_discover(reply)
    else:
        assert child.read_discover(reply) == expected


INITIALIZE_REPLY_CASES = {
    "a legacy child's result": (LEGACY_INIT, LEGACY_CHILD),
    "a version agentdeck does not serve": (
        {"jsonrpc": "2.0", "id": 2, "result": {"protocolVersion": "2024-01-01", "capabilities": {}}}, Incompatible),
    "an error": (err(-32603), Incompatible),
    "no answer": (None, Incompatible),
}


@pytest.mark.parametrize("name", list(INITIALIZE_REPLY_CASES))
def test_reading_the_initialize_agentdeck_sent(name):
    reply, expected = INITIALIZE_REPLY_CASES[name]
    if expected is Incompatible:
        with pytest.raises(Incompatible):
            child.read_initialize(reply)
    else:
        assert child.read_initialize(reply) == expected


def test_what_agentdeck_sends_a_new_child():
    """The probe at the newest modern version with the full envelope; the initialize of a
    legacy child with the newest legacy version and every capability agentdeck routes."""
    assert child.discover_params() == {"_meta": {
        v.PROTOCOL_VERSION: "2026-07-28", v.CLIENT_CAPABILITIES: {"roots": {"listChanged": True}, "sampling": {},
                                                                   "elicitation": {}},
        v.CLIENT_INFO: child.CLIENT_INFO}}
    assert child.initialize_params() == {"protocolVersion": "2025-11-25", "capabilities": v.ROUTABLE_CAPABILITIES,
                                         "clientInfo": child.CLIENT_INFO}


def test_an_initialize_refused_with_a_modern_version_means_a_modern_child():
    assert child.refused_as_modern(err(-32022, {"supported": ["2026-07-28"], "requested": "2025-11-25"}))
    assert not child.refused_as_modern(err(-32022, {"supported": ["2025-06-18"]}))
    assert not child.refused_as_modern(LEGACY_INIT)


# -- a legacy client's initialize: its own version when served, else the newest legacy one
INITIALIZE_ANSWER_CASES = [
    ("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"), ("2025-06-18", "2025-06-18"),
    ("2025-11-25", "2025-11-25"), ("2026-07-28", "2025-11-25"), ("1999-01-01", "2025-11-25"), (None, "2025-11-25"),
]


@pytest.mark.parametrize("child_info", [MODERN_CHILD, LEGACY_CHILD], ids=["modern child", "legacy child"])
@pytest.mark.parametrize("requested, answered", INITIALIZE_ANSWER_CASES)
def test_initialize_answered_in_the_clients_version(child_info, requested, answered):
    result = child_info.initialize_result(requested)
    assert result["protocolVersion"] == answered
    assert result["serverInfo"] == child_info.server_info and result["capabilities"] == child_info.capabilities
    assert result.get("instructions") == child_info.instructions


@pytest.mark.parametrize("child_info", [MODERN_CHILD, LEGACY_CHILD], ids=["modern child", "legacy child"])
def test_server_discover_answered(child_info):
    expected = {"resultType": "complete", "supportedVersions": list(v.SERVED), "capabilities": child_info.capabilities,
                "_meta": {v.SERVER_INFO: child_info.server_info}, "ttlMs": 0, "cacheScope": "private"}
    if child_info.instructions:
        expected["instructions"] = child_info.instructions
    assert child_info.discover_result() == expected


# -- the envelope of a modern request
FULL = {v.PROTOCOL_VERSION: "2026-07-28", v.CLIENT_CAPABILITIES: {}}
ENVELOPE_CASES = {
    "complete": ({"_meta": FULL}, None),
    "with clientInfo and logLevel": ({"_meta": {**FULL, v.CLIENT_INFO: {"name": "c"}, v.LOG_LEVEL: "info"}}, None),
    "no params": (None, {"code": -32602}),
    "no _meta": ({"name": "t"}, {"code": -32602}),
    "no clientCapabilities": ({"_meta": {v.PROTOCOL_VERSION: "2026-07-28"}}, {"code": -32602}),
    "clientCapabilities not an object": ({"_meta": {**FULL, v.CLIENT_CAPABILITIES: []}}, {"code": -32602}),
    "no protocolVersion": ({"_meta": {v.CLIENT_CAPABILITIES: {}}}, {"code": -32602}),
    "an unknown version": ({"_meta": {**FULL, v.PROTOCOL_VERSION: "2099-01-01"}},
                           {"code": -32022, "data": {"supported": list(v.SERVED), "requested": "2099-01-01"}}),
    "a legacy version in the envelope": ({"_meta": {**FULL, v.PROTOCOL_VERSION: "2025-06-18"}},
                                         {"code": -32022, "data": {"supported": list(v.SERVED),
                                                                   "requested": "2025-06-18"}}),
}


@pytest.mark.parametrize("name", list(ENVELOPE_CASES))
def test_envelope_checks(name):
    params, expected = ENVELOPE_CASES[name]
    got = front.check_envelope(params)
    if expected is None:
        assert got is None
    else:
        assert {k: got[k] for k in expected} == expected and got["message"]


ERA_CASES = [
    ("initialize", {"protocolVersion": "2025-06-18"}, v.LEGACY),
    ("initialize", {"_meta": FULL}, v.LEGACY),  # initialize does not exist at 2026 versions
    ("server/discover", {"_meta": FULL}, v.MODERN),
    ("tools/list", {"_meta": {v.PROTOCOL_VERSION: "2026-07-28"}}, v.MODERN),  # half an envelope: -32602 later
    ("tools/list", {"_meta": {"progressToken": 1}}, None),
    ("tools/list", None, None),
]


@pytest.mark.parametrize("method, params, era", ERA_CASES)
def test_the_era_a_request_opens(method, params, era):
    assert front.opening_era(method, params) == era


# (method, params) -> a 2026-07-28 request of a method that era removed (-32601)?
REMOVED_CASES = [
    ("ping", {"_meta": FULL}, True),
    ("initialize", {"_meta": FULL}, True),
    ("logging/setLevel", {"level": "info", "_meta": FULL}, True),
    ("resources/subscribe", {"uri": "a", "_meta": FULL}, True),
    ("resources/unsubscribe", {"uri": "a", "_meta": FULL}, True),
    ("ping", None, False),                                            # a 2025 client's: answered
    ("initialize", {"protocolVersion": "2025-11-25"}, False),
    ("logging/setLevel", {"level": "info", "_meta": {"progressToken": 1}}, False),
    ("tools/list", {"_meta": FULL}, False),
    ("subscriptions/listen", {"_meta": FULL}, False),
]


@pytest.mark.parametrize("method, params, removed", REMOVED_CASES)
def test_a_method_2026_07_28_removed(method, params, removed):
    assert front.removed_in_modern(method, params) is removed


LEGACY_PARAMS_CASES = {
    "form elicitation to 2025-06-18 loses mode": (
        "elicitation/create", {"mode": "form", "message": "m"}, "2025-06-18", {"message": "m"}),
    "form elicitation to 2025-11-25 keeps it": (
        "elicitation/create", {"mode": "form", "message": "m"}, "2025-11-25", {"mode": "form", "message": "m"}),
    "url elicitation cannot be asked of 2025-06-18": (
        "elicitation/create", {"mode": "url", "url": "https://x"}, "2025-06-18", None),
    "url elicitation to 2025-11-25 as it is": (
        "elicitation/create", {"mode": "url", "url": "https://x"}, "2025-11-25", {"mode": "url", "url": "https://x"}),
    "sampling unchanged": ("sampling/createMessage", {"maxTokens": 5}, "2024-11-05", {"maxTokens": 5}),
    "roots/list without params unchanged": ("roots/list", None, "2024-11-05", None),
}


@pytest.mark.parametrize("name", list(LEGACY_PARAMS_CASES))
def test_what_a_legacy_client_is_sent(name):
    method, params, version, expected = LEGACY_PARAMS_CASES[name]
    carried = front.can_carry(method, params, version)
    assert carried is (expected is not None or params is None)
    if carried:
        assert front.for_legacy_client(method, params, version) == expected


CAPABILITY_CASES = [
    ({"roots": {}}, "roots/list", True), ({}, "roots/list", False), ({"sampling": {}}, "elicitation/create", False),
    ({"elicitation": {"form": {}}}, "elicitation/create", True), ({}, "sampling/createMessage", False),
    (None, "elicitation/create", True),  # a raw socket client that never said initialize: as before
    ({}, "ping", True),
]


@pytest.mark.parametrize("capabilities, method, allowed", CAPABILITY_CASES)
def test_a_client_is_asked_only_what_it_declared(capabilities, method, allowed):
    assert front.declares(capabilities, method) is allowed


def test_the_child_info_kept_on_disk_round_trips_and_a_mismatched_one_is_refused():
    for info in (MODERN_CHILD, LEGACY_CHILD):
        assert ChildInfo.from_json(info.to_json()) == info
    assert ChildInfo.from_json({**LEGACY_CHILD.to_json(), "era": v.MODERN}) is None  # 2025-11-25 is not modern
    assert ChildInfo.from_json({"params": {}, "result": {}}) is None  # the file format before eras
