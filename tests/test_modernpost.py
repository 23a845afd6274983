"""The 2026-07-28 HTTP binding's checks of one POST, as data: headers and body in, the
refusal (HTTP status, JSON-RPC code) out, or None when the request goes on."""
import pytest

from agentdeck.web import modernpost

V = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}}


def request(method, **params):
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": {**params, "_meta": dict(META)}}


def headers(method, name=None, version=V):
    out = {"mcp-protocol-version": version, "mcp-method": method}
    if name is not None:
        out["mcp-name"] = name
    return out


CALL = request("tools/call", name="get_time", arguments={})
READ = request("resources/read", uri="file:///a b/ü.txt")
LIST = request("tools/list")
OLD = {"jsonrpc": "2.0", "id": 7, "method": "tools/list",
       "params": {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2027-01-01"}}}
NO_CAPS = {"jsonrpc": "2.0", "id": 7, "method": "tools/list",
           "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": V}}}

# (what, headers, body) -> None, or (HTTP status, JSON-RPC code)
CASES = [
    ("a listing", headers("tools/list"), LIST, None),
    ("discover", headers("server/discover"), request("server/discover"), None),
    ("a call named in its header", headers("tools/call", "get_time"), CALL, None),
    ("a resource named in Base64", headers("resources/read", "=?base64?ZmlsZTovLy9hIGIvw7wudHh0?="), READ, None),
    ("Mcp-Name on a method that names nothing is not looked at", headers("tools/list", "x"), LIST, None),
    ("no Mcp-Method", {"mcp-protocol-version": V}, LIST, ("400 Bad Request", -32020)),
    ("another Mcp-Method", headers("tools/call", "get_time"), LIST, ("400 Bad Request", -32020)),
    ("methods are case-sensitive", headers("Tools/List"), LIST, ("400 Bad Request", -32020)),
    ("no Mcp-Name on a call", headers("tools/call"), CALL, ("400 Bad Request", -32020)),
    ("another Mcp-Name", headers("tools/call", "rm_rf"), CALL, ("400 Bad Request", -32020)),
    ("a Base64 name of another", headers("tools/call", "=?base64?cm1fcmY=?="), CALL, ("400 Bad Request", -32020)),
    ("a Base64 name that does not decode", headers("tools/call", "=?base64?!!?="), CALL, ("400 Bad Request", -32020)),
    ("a prompt without Mcp-Name", headers("prompts/get"), request("prompts/get", name="p"),
     ("400 Bad Request", -32020)),
    ("header and body versions differ", headers("tools/list", version="2027-01-01"), LIST,
     ("400 Bad Request", -32020)),
    # No envelope to compare the header with: invalid params (the conformance suite's sep-2575 checks).
    ("no _meta in the body", headers("tools/list"), {"jsonrpc": "2.0", "id": 7, "method": "tools/list"},
     ("400 Bad Request", -32602)),
    ("no version in the body's _meta", headers("tools/list"), {**NO_CAPS, "params": {"_meta": {
        "io.modelcontextprotocol/clientCapabilities": {}}}}, ("400 Bad Request", -32602)),
    ("a version agentdeck does not serve", headers("tools/list", version="2027-01-01"), OLD,
     ("400 Bad Request", -32022)),
    ("no clientCapabilities in _meta", headers("tools/list"), NO_CAPS, ("400 Bad Request", -32602)),
    ("a batch", headers("tools/list"), [LIST], ("400 Bad Request", -32600)),
    ("a notification", headers("notifications/cancelled"),
     {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}, ("400 Bad Request", -32600)),
    ("a response", headers("x"), {"jsonrpc": "2.0", "id": 1, "result": {}}, ("400 Bad Request", -32600)),
    ("a null id", headers("tools/list"), {**LIST, "id": None}, ("400 Bad Request", -32600)),
    ("not JSON-RPC", headers("tools/list"), {"id": 1}, ("400 Bad Request", -32600)),
]


@pytest.mark.parametrize("what, given, body, expected", CASES, ids=[c[0] for c in CASES])
def test_a_modern_post_is_checked_against_its_headers(what, given, body, expected):
    refusal = modernpost.check(given, body)
    assert (refusal if refusal is None else (refusal.status, refusal.code)) == expected


def test_a_refusal_answers_the_request_by_its_id_and_names_what_differs():
    refusal = modernpost.check(headers("tools/call", "rm_rf"), CALL)
    assert refusal.raw_id == b"7"
    assert refusal.message == "Header mismatch: Mcp-Name header value 'rm_rf' does not match body value " \
                              "'get_time' (params.name)"
    unsupported = modernpost.check(headers("tools/list", version="2027-01-01"), OLD)
    assert unsupported.data == {"supported": ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", V],
                                "requested": "2027-01-01"}


# (MCP-Protocol-Version, Mcp-Session-Id, method, params) -> modern?
ERAS = [
    (V, None, "tools/list", None, True),
    ("2027-01-01", None, "tools/list", None, True),  # too new: answered -32022 with what is served
    (V, "sid", "tools/list", None, False),           # a session is legacy: its router client refuses the envelope
    ("2025-06-18", None, "tools/list", None, False),  # a 2025 request without a session: 400, initialize first
    (None, None, "tools/list", None, False),
    (V, None, "initialize", {"protocolVersion": "2025-11-25"}, False),  # opens a legacy session
    (V, None, "initialize", {"_meta": META}, True),  # a 2026-07-28 request of a removed method: -32601
]


@pytest.mark.parametrize("version, sid, method, params, modern", ERAS)
def test_which_posts_are_modern(version, sid, method, params, modern):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, **({"params": params} if params else {})}
    assert modernpost.is_modern(version, sid, body) is modern
