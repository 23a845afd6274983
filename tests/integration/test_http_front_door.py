"""The Streamable HTTP front door (/mcp/NAME) against a real daemon: each rule of the
transport, each bad input (answered while other sessions keep working), the bounds,
and sessions that outlive a daemon restart."""
import json
import os
import subprocess
import sys

import gevent
import pytest

from tests.integration.test_pool_lifecycle import call as socket_call, client_of
from tests.mcphttp import INIT_PARAMS, McpHttp
from tests.support import REPO, TIME_SERVER, DaemonProcess, children_of, clean_env, rmtree, scripted, short_tmpdir, toml_config, \
    wait_for

SDK_HTTP_CLIENT = [sys.executable, str(REPO / "tests" / "sdk_http_client.py")]
SDK_CLIENT = REPO / "tests" / "sdk_client.py"


def url_of(daemon, name="s"):
    return daemon.info()["status_url"] + f"/mcp/{name}"


def text_of(message):
    return message["result"]["content"][0]["text"]


def utc_of(message):
    return json.loads(text_of(message))["timezone"] == "UTC"


def session(daemon, name="s", **kwargs):
    client = McpHttp(url_of(daemon, name), **kwargs)
    client.initialize()
    return client


# -- bad input: (what, request as (method, body, header changes), status, JSON-RPC code) --

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
BAD_REQUESTS = [
    ("Accept without text/event-stream", ("POST", LIST, {"Accept": "application/json"}), 406, -32600),
    ("Accept missing", ("POST", LIST, {"Accept": None}), 406, -32600),
    ("a body that is not JSON", ("POST", b"{nope", {}), 400, -32700),
    ("a body nested 100,000 deep (was a RecursionError: 500)", ("POST", b"[" * 100000, {}), 400, -32700),
    ("a session id with a non-ASCII byte (was a TypeError: 500)", ("POST", LIST, {"Mcp-Session-Id": "x.\xe9"}),
     400, -32600),
    ("a session id with a space", ("POST", LIST, {"Mcp-Session-Id": "x y"}), 400, -32600),
    ("a well-formed id of another project's session", ("POST", LIST, {"Mcp-Session-Id": "sub/x.y"}), 404, -32600),
    ("Content-Type text/plain", ("POST", LIST, {"Content-Type": "text/plain"}), 415, -32600),
    ("no Mcp-Session-Id", ("POST", LIST, {"Mcp-Session-Id": None}), 400, -32600),
    ("an unknown session id", ("POST", LIST, {"Mcp-Session-Id": "nonce.forgedmacforgedmacxx"}), 404, -32600),
    ("an unsupported MCP-Protocol-Version", ("POST", LIST, {"MCP-Protocol-Version": "1999-01-01"}), 400, -32600),
    ("a batch from a 2025-06-18 session", ("POST", [LIST], {}), 400, -32600),
    ("an empty batch", ("POST", [], {}), 400, -32600),
    ("a message that is neither request, notification nor response", ("POST", {"jsonrpc": "2.0", "id": 3}, {}),
     400, -32600),
    ("an id that is an object", ("POST", {"jsonrpc": "2.0", "id": {}, "method": "m"}, {}), 400, -32600),
    ("initialize inside a batch", ("POST", [INITIALIZE], {"MCP-Protocol-Version": "2025-03-26"}), 400, -32600),
    ("a page elsewhere (Origin)", ("POST", LIST, {"Origin": "http://evil.example"}), 403, -32600),
    ("GET without Accept: text/event-stream", ("GET", None, {"Accept": "application/json"}), 406, -32600),
    ("PUT", ("PUT", LIST, {}), 405, -32600),
    ("a server that is not pooled", ("POST", LIST, {"path": "/mcp/nosuch"}), 404, -32600),
]


def test_every_bad_request_gets_a_status_and_a_json_rpc_error_while_another_session_keeps_working(start_daemon):
    daemon = start_daemon({"s": scripted()})
    busy, client = session(daemon), session(daemon)
    slow = gevent.spawn(busy.call, 1, "slow", {"seconds": 1.5, "text": "still here"})
    for what, (method, body, changes), status, code in BAD_REQUESTS:
        changes = dict(changes)
        path = changes.pop("path", None)
        headers = client.headers(changes)
        reply = client.send(method, body, headers, path=path)
        assert reply.status == status, (what, reply.status, reply.body)
        error = reply.json()["error"]
        assert error["code"] == code and error["message"], (what, error)
    assert text_of(slow.get(timeout=10).json()) == "still here"
    assert text_of(client.call(5, "echo", {"text": "fine"}).json()) == "fine"


def test_a_body_over_max_request_bytes_is_refused_unread_with_413(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"max_request_bytes": 4096})
    client = session(daemon)
    big = client.call(1, "echo", {"text": "x" * 10000})
    assert big.status == 413
    error = big.json()["error"]
    assert error["code"] == -32002 and error["data"]["limit"] == 4096
    chunked = client.connection()  # no Content-Length: read bounded, refused all the same
    chunked.putrequest("POST", client.path)
    for name, value in {**client.headers(), "Transfer-Encoding": "chunked"}.items():
        chunked.putheader(name, value)
    chunked.endheaders()
    body = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "m", "params": "y" * 10000}).encode()
    chunked.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    reply = chunked.getresponse()
    assert reply.status == 413 and json.loads(reply.read())["error"]["code"] == -32002
    assert text_of(client.call(3, "echo", {"text": "small"}).json()) == "small"


def test_plain_answers_are_json_and_a_call_that_sends_first_is_a_stream(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = session(daemon)
    plain = client.call(1, "echo", {"text": "hi"})
    assert plain.status == 200 and plain.headers["content-type"] == "application/json"
    assert plain.json()["id"] == 1 and text_of(plain.json()) == "hi"
    streamed = client.call("p", "progress", {"steps": 3}, meta={"progressToken": "tok"})
    assert streamed.headers["content-type"] == "text/event-stream"
    events = streamed.events
    assert [e["params"]["progress"] for e in events[:3]] == [1, 2, 3]
    assert all(e["params"]["progressToken"] == "tok" for e in events[:3])
    assert events[3]["id"] == "p" and text_of(events[3]) == "done 3"
    notes = client.post({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
    assert notes.status == 202 and notes.body == b""


def test_ids_of_any_type_and_a_socket_client_with_the_same_ids_share_one_child(start_daemon):
    daemon = start_daemon({"s": scripted()})
    http, sock = session(daemon), client_of(daemon)
    for id_ in (7, "7", 7.5, -1, "x y"):
        answers = [gevent.spawn(http.call, id_, "slow", {"seconds": 0.2, "text": f"http {id_}"}),
                   gevent.spawn(socket_call, sock, id_, "slow", {"seconds": 0.2, "text": f"socket {id_}"})]
        http_reply, socket_reply = [g.get(timeout=10) for g in answers]
        assert http_reply.json()["id"] == id_ and type(http_reply.json()["id"]) is type(id_)
        assert text_of(http_reply.json()) == f"http {id_}" and text_of(socket_reply) == f"socket {id_}"
    assert daemon.server("s")["http_sessions"] == 1 and daemon.server("s")["socket_clients"] == 1
    assert len(children_of(daemon.proc.pid, "scripted_server")) == 1


def test_three_sdk_sessions_share_one_time_server(start_daemon):
    time_server = TIME_SERVER
    daemon = start_daemon({"time": {"command": time_server}})
    procs = [subprocess.Popen([*SDK_HTTP_CLIENT, url_of(daemon, "time"), "get_current_time", '{"timezone": "UTC"}'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(daemon.home))
             for _ in range(3)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["server"] == "mcp-time" and "get_current_time" in r["tools"] for r in results)
    assert all(json.loads(r["text"])["timezone"] == "UTC" for r in results)
    assert len(children_of(daemon.proc.pid, "mcp-server-time")) == 1
    assert daemon.server("time")["restarts"] == 0


def test_unprompted_messages_go_on_the_get_stream_and_a_child_request_on_its_post_stream(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = session(daemon)
    stream = client.open_stream("GET")
    assert stream.status == 200
    sent = client.call(1, "notify", {"method": "notifications/tools/list_changed"})
    assert text_of(sent.json()) == "sent"
    _, message = stream.next_event()
    assert message["method"] == "notifications/tools/list_changed"
    post = client.open_stream("POST", {"jsonrpc": "2.0", "id": "r", "method": "tools/call",
                                       "params": {"name": "roots", "arguments": {}}})
    _, ask = post.next_event()
    assert ask["method"] == "roots/list"
    answered = client.post({"jsonrpc": "2.0", "id": ask["id"], "result": {"roots": [{"uri": "file:///p"}]}})
    assert answered.status == 202
    _, result = post.next_event()
    assert result["id"] == "r" and "file:///p" in text_of(result)
    assert post.next_event() is None  # the POST stream ends with its answer


def broken_progress_call(client):
    """A call of two progress steps whose POST stream the client hangs up after the first
    event; that event's id."""
    post = client.open_stream("POST", {"jsonrpc": "2.0", "id": "long", "method": "tools/call",
                                       "params": {"name": "progress", "arguments": {"steps": 2},
                                                  "_meta": {"progressToken": 1}}})
    event_id, first = post.next_event()
    assert first["method"] == "notifications/progress"
    post.hang_up()
    return event_id


def resumed_after(client, event_id):
    """The messages of the stream resumed after ``event_id`` (GET with Last-Event-ID), to its end."""
    resumed = client.open_stream("GET", extra={"Last-Event-ID": event_id})
    assert resumed.status == 200
    messages = []
    while (event := resumed.next_event()) is not None:
        messages.append(event[1])
    return messages


def test_a_post_stream_that_breaks_is_not_a_cancel_and_resumes_with_last_event_id(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = session(daemon)
    rest = resumed_after(client, broken_progress_call(client))
    assert rest[-1]["id"] == "long" and text_of(rest[-1]) == "done 2"
    assert [m["params"]["progress"] for m in rest[:-1]] == [2]


def test_a_session_whose_stream_broke_a_moment_ago_is_not_ended_to_make_room(start_daemon):
    """Regression (the soak, once in many runs): a client hung up a POST stream after its
    first event and resumed it at once, but its answer had come in between: with no stream
    open and nothing in flight the session counted as abandoned, a new client at
    max_clients ended it, and the resume got 404 ("session gone"): the answer was lost."""
    daemon = start_daemon({"s": scripted()}, pool={"max_clients": 1})
    client = session(daemon)
    event_id = broken_progress_call(client)
    wait_for(lambda: daemon.server("s")["in_flight"] == 0, 10, message="the answer came")
    newcomer = McpHttp(url_of(daemon)).post(INITIALIZE)
    assert newcomer.status == 200 and newcomer.json()["error"]["code"] == -32003  # full, for now
    rest = resumed_after(client, event_id)
    assert rest[-1]["id"] == "long" and text_of(rest[-1]) == "done 2"


def test_a_stream_whose_reader_stops_is_closed_and_the_session_lives_on(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"client_queue_bytes": 65536})
    client = session(daemon)
    stuck = client.open_stream("GET")  # never read from here on
    for i in range(40):  # 40 x 400 KB: far more than the socket buffers between us take
        client.call(i, "notify", {"method": "notifications/message", "params": {"data": "z" * 400000}})
    wait_for(lambda: daemon.server("s")["slow_streams"] >= 1, 15, message="the stuck stream closed")
    assert text_of(client.call(99, "echo", {"text": "alive"}).json()) == "alive"
    stuck.hang_up()


def test_http_sessions_count_toward_max_clients(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"max_clients": 2})
    held = session(daemon), client_of(daemon)  # kept: a socket client that is collected hangs up
    stream = held[0].open_stream("GET")  # a session with its stream open is in use: it keeps its slot
    refused = McpHttp(url_of(daemon)).post(INITIALIZE)
    assert refused.status == 200 and "mcp-session-id" not in refused.headers
    error = refused.json()["error"]
    assert refused.json()["id"] == 1 and error["code"] == -32003 and error["data"]["limit"] == 2
    assert text_of(held[0].call(1, "echo", {"text": "in"}).json()) == "in"
    stream.hang_up()


def test_abandoned_sessions_do_not_lock_out_a_bridge_or_a_fourth_http_client(start_daemon):
    """Regression: `claude mcp list` opens a session per server and never ends it; with
    max_clients = 3 the fourth got `Failed to connect`, and 95 bare initialize POSTs locked
    every agent, bridge and HTTP, out of the server for http_session_idle (24 h). Now the
    least recently used session with no stream and nothing in flight makes room."""
    daemon = start_daemon({"time": {"command": TIME_SERVER}}, pool={"max_clients": 3})
    keeper = client_of(daemon, "time")  # a live bridge-like client, calling throughout
    abandoned = []
    for i in range(40):
        reply = McpHttp(url_of(daemon, "time")).post({**INITIALIZE, "id": i})
        assert reply.status == 200 and "result" in reply.json(), reply.body
        abandoned.append(reply.headers["mcp-session-id"])
        if i % 10 == 0:
            assert utc_of(socket_call(keeper, i, "get_current_time", {"timezone": "UTC"}))
    assert daemon.server("time")["clients"] == 3
    run = dict(capture_output=True, text=True, timeout=60, env=clean_env(daemon.home), cwd=REPO)
    bridge = gevent.spawn(subprocess.run, [sys.executable, str(SDK_CLIENT), "get_current_time", '{"timezone": "UTC"}',
                                           "--", sys.executable, "-m", "agentdeck", "bridge", "time", "--config",
                                           str(daemon.config_path)], **run)
    http = gevent.spawn(subprocess.run, [*SDK_HTTP_CLIENT, url_of(daemon, "time"), "get_current_time",
                                         '{"timezone": "UTC"}'], **run)
    for done in (bridge.get(timeout=70), http.get(timeout=70)):
        assert done.returncode == 0, done.stderr[-3000:]
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        assert json.loads(answer["text"])["timezone"] == "UTC" and not answer["is_error"]
    assert daemon.status()["servers"]  # /status answers
    # 38 initializes made room, and the bridge or the HTTP client or both (the SDK's HTTP
    # client ends its session when done, which may leave the bridge a free slot)
    assert daemon.server("time")["rejected"] == 0 and daemon.server("time")["made_room"] >= 39
    ended = McpHttp(url_of(daemon, "time"))
    ended.sid = abandoned[0]
    assert ended.post(LIST).status == 404  # its client initializes again
    assert utc_of(socket_call(keeper, 99, "get_current_time", {"timezone": "UTC"}))


def test_an_answer_over_max_response_bytes_fails_that_call_only(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"max_response_bytes": 65536})
    client = session(daemon)
    too_big = client.call(1, "huge", {"bytes": 200000}).json()
    assert too_big["id"] == 1 and too_big["error"]["code"] == -32002
    assert text_of(client.call(2, "echo", {"text": "next"}).json()) == "next"


def test_delete_ends_a_session_and_an_idle_one_ends_by_itself(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"http_session_idle": 1})
    client = session(daemon)
    assert client.send("DELETE", None, client.headers()).status == 204
    assert client.call(1, "echo", {"text": "gone"}).status == 404
    idle = session(daemon)
    wait_for(lambda: daemon.server("s")["http_sessions"] == 0, 15, message="the idle session ended")
    assert idle.call(1, "echo", {"text": "late"}).status == 404


def test_a_session_outlives_a_daemon_restart_without_initializing_again():
    home = short_tmpdir()
    config = toml_config(home, servers={"s": scripted()})
    first = DaemonProcess(home, config)
    try:
        first.expect(r"agentdeck .* ready")
        client = session(first)
        assert text_of(client.call(1, "echo", {"text": "before"}).json()) == "before"
        first.stop()
        second = DaemonProcess(home, config)
        second.expect(r"agentdeck .* ready")
        client.port = int(second.info()["status_url"].rsplit(":", 1)[1])
        answer = client.call(2, "echo", {"text": "after"})
        assert answer.status == 200 and text_of(answer.json()) == "after"
        info = client.call(3, "info").json()["result"]
        assert info["initializes"] == 1  # the fresh child was initialized once, from the kept handshake
        second.stop()
    finally:
        first.kill()
        rmtree(home)


def test_after_a_restart_a_last_event_id_the_daemon_does_not_know_gets_the_stream_not_404():
    """Regression: the new daemon answered 404 ("session gone"), and both official SDKs
    then gave the stream up for good: no notification reached the client after a restart."""
    home = short_tmpdir()
    config = toml_config(home, servers={"s": scripted()})
    first = DaemonProcess(home, config)
    try:
        client = session(first, version="2025-11-25")
        stream = client.open_stream("GET")
        client.call(1, "notify", {"method": "notifications/message", "params": {"data": "before"}})
        last_id, message = stream.next_event()
        assert message["params"]["data"] == "before"
        stream.hang_up()
        first.stop()
        second = DaemonProcess(home, config)
        second.expect(r"agentdeck .* ready")
        client.port = int(second.info()["status_url"].rsplit(":", 1)[1])
        resumed = client.open_stream("GET", extra={"Last-Event-ID": last_id})
        assert resumed.status == 200
        client.call(2, "notify", {"method": "notifications/message", "params": {"data": "after"}})
        _, message = resumed.next_event()
        assert message["params"]["data"] == "after"  # nothing replayed before it
        resumed.hang_up()
        second.stop()
    finally:
        first.kill()
        rmtree(home)


def test_a_last_event_id_that_is_not_ours_opens_the_sessions_stream(start_daemon):
    daemon = start_daemon({"s": scripted()})
    client = session(daemon)
    stream = client.open_stream("GET", extra={"Last-Event-ID": "x-9"})
    assert stream.status == 200
    client.call(1, "notify", {"method": "notifications/message", "params": {"data": "live"}})
    assert stream.next_event()[1]["params"]["data"] == "live"
    stream.hang_up()


@pytest.mark.parametrize("version", ["2025-03-26", "2025-11-25"])
def test_older_and_newer_clients(start_daemon, version):
    daemon = start_daemon({"s": scripted()})
    client = session(daemon, version=version)
    if version == "2025-03-26":
        batch = client.post([{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"text": "one"}}},
                             {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"text": "two"}}}])
        assert sorted(text_of(m) for m in batch.events) == ["one", "two"]
    else:
        stream = client.open_stream("GET")
        client.call(1, "notify", {"method": "notifications/message", "params": {"data": "hi"}})
        _, message = stream.next_event()
        assert message["params"]["data"] == "hi"
        assert "-p" in stream.ids[0] and "-p" not in stream.ids[-1]  # the priming event came first


def daemon_tcp_states(daemon):
    """TCP states (hex, as /proc/net/tcp writes them) of the daemon's connected sockets."""
    inodes = {os.readlink(f"/proc/{daemon.proc.pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{daemon.proc.pid}/fd")
              if os.readlink(f"/proc/{daemon.proc.pid}/fd/{fd}").startswith("socket:")}
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sorted(row[3] for row in rows if row[9] in inodes and row[3] != "0A")  # 0A: LISTEN


def test_a_get_stream_whose_client_vanished_is_closed_and_its_session_can_idle_out(start_daemon):
    # Regression (soak): the GET stream's writer slept until a message came for it, so a
    # client killed with its stream open left the daemon a CLOSE-WAIT connection, a greenlet
    # and a session that never idled out (a session with a stream open is not idle).
    daemon = start_daemon({"s": scripted()}, pool={"http_session_idle": 1})
    client = session(daemon)
    stream = client.open_stream("GET")
    assert stream.status == 200
    stream.hang_up()  # what the kernel does for a killed client: FIN, and nothing more
    wait_for(lambda: daemon.server("s")["http_sessions"] == 0, 10, message="the session to idle out")
    wait_for(lambda: "08" not in daemon_tcp_states(daemon), 5,  # 08: CLOSE_WAIT
             message=f"no CLOSE-WAIT connection left (states {daemon_tcp_states(daemon)})")
