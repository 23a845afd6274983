"""MCP 2026-07-28 over the HTTP front door, against a real daemon: requests with no
session at the same URL as the 2025 sessions, each header rule, JSON or a stream of the
request's own, cancelling by hanging up, nothing left behind, and the bounds."""
import json
import socket

import gevent

from agentdeck.clientfiles.endpoint import server_url
from tests.mcphttp import INIT_PARAMS, McpHttp, ModernHttp, Stream
from tests.support import scripted, wait_for


def url_of(daemon, name="s"):
    return server_url(daemon.info()["status_url"], name)


def text_of(message):
    return message["result"]["content"][0]["text"]


def in_flight(daemon, name="s"):
    return daemon.server(name)["http_requests"]


ECHO = ModernHttp.message(1, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})
LIST = ModernHttp.message(2, "tools/list")
# (what, body, header changes) -> (HTTP status, JSON-RPC code)
BAD_REQUESTS = [
    ("no Mcp-Method", LIST, {"Mcp-Method": None}, 400, -32020),
    ("Mcp-Method of another method", LIST, {"Mcp-Method": "tools/call"}, 400, -32020),
    ("no Mcp-Name on a call", ECHO, {"Mcp-Name": None}, 400, -32020),
    ("Mcp-Name of another tool", ECHO, {"Mcp-Name": "crash"}, 400, -32020),
    ("MCP-Protocol-Version other than the body's", LIST, {"MCP-Protocol-Version": "2027-01-01"}, 400, -32020),
    ("a version too new", {**LIST, "params": {"_meta": {**LIST["params"]["_meta"],
                                                        "io.modelcontextprotocol/protocolVersion": "2027-01-01"}}},
     {"MCP-Protocol-Version": "2027-01-01"}, 400, -32022),
    ("no clientCapabilities", {**LIST, "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}},
     {}, 400, -32602),
    ("a batch", [LIST], {"Mcp-Method": "tools/list"}, 400, -32600),
    ("a notification", {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}, {},
     400, -32600),
    ("a method the server does not know", ModernHttp.message(3, "no/such"), {}, 404, -32601),
    ("a method 2026-07-28 removed", ModernHttp.message(4, "ping"), {}, 404, -32601),
    ("initialize in the 2026-07-28 envelope", ModernHttp.message(5, "initialize"), {}, 404, -32601),
    ("no _meta at all", {"jsonrpc": "2.0", "id": 6, "method": "tools/list"}, {}, 400, -32602),
    ("Accept without text/event-stream", LIST, {"Accept": "application/json"}, 406, -32600),
]


def test_every_bad_modern_request_gets_its_status_and_error_while_a_2025_session_keeps_working(start_daemon):
    daemon = start_daemon({"s": scripted()})
    legacy = McpHttp(url_of(daemon))
    legacy.initialize()
    slow = gevent.spawn(legacy.call, 1, "slow", {"seconds": 1.5, "text": "still here"})
    client = ModernHttp(url_of(daemon))
    for what, body, changes, status, code in BAD_REQUESTS:
        reply = client.post(body, changes)
        assert reply.status == status, (what, reply.status, reply.body)
        error = reply.json()["error"]
        assert error["code"] == code and error["message"], (what, error)
    assert text_of(slow.get(timeout=10).json()) == "still here"
    assert text_of(client.post(ECHO).json()) == "hi"
    assert in_flight(daemon) == 0


def test_a_modern_request_is_answered_as_json_or_on_a_stream_of_its_own(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = ModernHttp(url_of(daemon))
    plain = client.call("a", "echo", {"text": "hi"})
    assert plain.status == 200 and plain.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in plain.headers
    assert plain.json()["id"] == "a" and text_of(plain.json()) == "hi"
    streamed = client.call(7, "progress", {"steps": 3}, meta={"progressToken": "tok"})
    assert streamed.status == 200 and streamed.headers["content-type"] == "text/event-stream"
    events = streamed.events
    assert [(e["params"]["progressToken"], e["params"]["progress"]) for e in events[:3]] == \
        [("tok", 1), ("tok", 2), ("tok", 3)]
    assert events[3]["id"] == 7 and text_of(events[3]) == "done 3" and len(events) == 4


def test_requests_of_many_clients_with_the_same_ids_each_get_their_own_answer(start_daemon):
    """No session, so nothing tells two clients' id 1 apart but their POSTs."""
    daemon = start_daemon({"s": scripted()})
    client = ModernHttp(url_of(daemon))
    calls = [gevent.spawn(client.call, 1, "slow", {"seconds": 0.5, "text": f"client {n}"}) for n in range(6)]
    replies = [c.get(timeout=15).json() for c in calls]
    assert [(r["id"], text_of(r)) for r in replies] == [(1, f"client {n}") for n in range(6)]
    assert in_flight(daemon) == 0 and daemon.server("s")["clients"] == 0


def test_hanging_up_cancels_the_request_at_the_child(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = ModernHttp(url_of(daemon))
    body = ModernHttp.message(1, "tools/call", {"name": "slow", "arguments": {"seconds": 30, "text": "never"}})
    conn = client.connection()
    conn.request("POST", client.path, body=json.dumps(body).encode(), headers=client.modern_headers(body))
    wait_for(lambda: in_flight(daemon) == 1, 10, message="the call to be in flight")
    conn.sock.shutdown(socket.SHUT_RDWR)  # before any answer: the response's headers wait for one
    conn.close()
    wait_for(lambda: in_flight(daemon) == 0, 10, message="the call to be dropped")
    legacy = McpHttp(url_of(daemon))
    legacy.initialize()
    wait_for(lambda: legacy.call(2, "info").json()["result"]["cancelled"], 10,
             message="the child to hear the cancel")


def test_modern_requests_in_flight_are_bounded_by_max_clients(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"max_clients": 2})
    client = ModernHttp(url_of(daemon))
    slow = [gevent.spawn(client.call, n, "slow", {"seconds": 2, "text": "done"}) for n in range(2)]
    wait_for(lambda: in_flight(daemon) == 2, 10, message="two calls in flight")
    refused = client.call(9, "echo", {"text": "no room"})
    assert refused.status == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["id"] == 9 and refused.json()["error"]["code"] == -32003
    assert all(text_of(s.get(timeout=10).json()) == "done" for s in slow)
    assert text_of(client.call(10, "echo", {"text": "room again"}).json()) == "room again"


def test_a_server_with_one_child_per_session_sends_modern_clients_to_initialize(start_daemon):
    daemon = start_daemon({"s": {**scripted(), "share": "session"}})
    reply = ModernHttp(url_of(daemon)).call(1, "echo", {"text": "hi"})
    assert reply.status == 400 and "initialize" in reply.json()["error"]["message"]
    session = McpHttp(url_of(daemon))
    assert session.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}).status == 200


def listen(client, id_, wanted):
    """A subscriptions/listen POST left open: its Stream."""
    body = ModernHttp.message(id_, "subscriptions/listen", {"notifications": wanted})
    conn = client.connection()
    conn.request("POST", client.path, body=json.dumps(body).encode(), headers=client.modern_headers(body))
    return Stream(conn, conn.getresponse(), client.timeout)


def test_a_listen_gets_what_it_asked_for_under_its_own_id_until_it_hangs_up(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = ModernHttp(url_of(daemon))
    tools = listen(client, "mine", {"toolsListChanged": True})
    assert tools.status == 200 and tools.resp.getheader("content-type") == "text/event-stream"
    _, ack = tools.next_event()
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "mine"
    prompts = listen(client, 1, {"promptsListChanged": True})
    prompts.next_event()
    assert in_flight(daemon) == 2
    for method in ("notifications/tools/list_changed", "notifications/prompts/list_changed"):
        assert text_of(client.call(5, "notify", {"method": method}).json()) == "sent"
    _, changed = tools.next_event()
    assert changed["method"] == "notifications/tools/list_changed"
    assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "mine"
    _, changed = prompts.next_event()
    assert changed["method"] == "notifications/prompts/list_changed"
    assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 1
    tools.hang_up()
    prompts.hang_up()
    wait_for(lambda: in_flight(daemon) == 0, 10, message="the listens to end with their streams")


def test_a_modern_response_nobody_reads_is_closed_at_client_queue_bytes(start_daemon):
    """A client that stops reading its stream costs the daemon client_queue_bytes at most."""
    daemon = start_daemon({"s": scripted()}, pool={"client_queue_bytes": 65536})
    client = ModernHttp(url_of(daemon))
    body = ModernHttp.message(1, "tools/call", {"name": "progress", "arguments": {"steps": 60000}},
                              meta={"progressToken": "t"})
    conn = client.connection()
    conn.request("POST", client.path, body=json.dumps(body).encode(), headers=client.modern_headers(body))
    # Never read: the socket buffers fill, then what waits for it reaches the limit.
    wait_for(lambda: daemon.server("s")["slow_streams"] == 1, 60, message="the stream closed as too slow")
    conn.close()
    wait_for(lambda: in_flight(daemon) == 0, 10, message="the call to be dropped")
    assert text_of(client.call(2, "echo", {"text": "others go on"}).json()) == "others go on"
