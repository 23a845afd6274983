"""The socket proxy's wire contract, rule by rule, through real sockets to a real child
(tests/scripted_server.py) run by a real `agentdeck serve`."""
import json
import os
import stat

import gevent
import pytest

from tests.support import DaemonProcess, LineClient, rmtree, scripted, short_tmpdir, toml_config, wait_for

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def daemon():
    home = short_tmpdir()
    proc = DaemonProcess(home, toml_config(home, servers={
        "s": scripted(),
        "tail": scripted("--id-last"),
        "broken": {"command": "agentdeck-no-such-server"},
    }, pool={"max_response_bytes": MiB}))
    proc.expect(r"agentdeck .* ready")
    yield proc
    proc.stop()
    rmtree(home)


@pytest.fixture
def connect(daemon):
    """Open initialized clients to a server of the module daemon; closed after the test."""
    opened = []

    def open_client(server="s", initialize=True):
        client = LineClient(daemon.socket_path(server))
        opened.append(client)
        if initialize:
            client.initialize()
        return client
    yield open_client
    for client in opened:
        client.close()


def call(client, id_, tool, arguments=None, meta=None, timeout=None):
    params = {"name": tool, "arguments": arguments or {}}
    if meta:
        params["_meta"] = meta
    return client.request(id_, "tools/call", params, timeout)


def send_call(client, id_, tool, arguments=None):
    client.send({"jsonrpc": "2.0", "id": id_, "method": "tools/call",
                 "params": {"name": tool, "arguments": arguments or {}}})


def text_of(reply):
    return reply["result"]["content"][0]["text"]


def info(client):
    return call(client, "info", "info")["result"]


# -- ids --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw_id", [b"7", b"-3", b"0", b"1.5", b"1e3", b"2E-2", b'"abc"', b'"caf\\u00e9 \\"x\\""',
                                    b'"\xc3\xa9t\xc3\xa9"', b"12345678901234567890"])
@pytest.mark.parametrize("server", ["s", "tail"])
def test_ids_of_any_json_type_round_trip_byte_exact(connect, raw_id, server):
    client = connect(server)
    client.send_raw(b'{"jsonrpc":"2.0","id":' + raw_id + b',"method":"tools/call",'
                    b'"params":{"name":"echo","arguments":{"text":"ok"}}}\n')
    line = client.read_line()
    assert b'"id":' + raw_id in line.replace(b'"id": ', b'"id":')
    assert json.loads(line)["result"]["content"][0]["text"] == "ok"


def test_same_id_from_two_clients_each_gets_its_own_answer(connect):
    a, b = connect(), connect()
    send_call(a, 1, "slow", {"seconds": 0.3, "text": "for a"})
    send_call(b, 1, "slow", {"seconds": 0.1, "text": "for b"})
    assert text_of(b.read()) == "for b"
    assert text_of(a.read()) == "for a"


def test_id_in_the_middle_of_a_request_is_rewritten(connect):
    client = connect()
    client.send_raw(b'{"jsonrpc":"2.0","method":"tools/call","id":"mid",'
                    b'"params":{"name":"echo","arguments":{"text":"m","id":99}}}\n')
    reply = client.read()
    assert reply["id"] == "mid" and text_of(reply) == "m"


def test_a_second_request_with_an_id_already_in_flight_is_refused(connect):
    client = connect()
    send_call(client, 5, "slow", {"seconds": 0.3, "text": "first"})
    send_call(client, 5, "echo", {"text": "second"})
    refused = client.read()
    assert refused["id"] == 5 and refused["error"]["code"] == -32600
    assert text_of(client.read()) == "first"


# -- initialize -------------------------------------------------------------------------

def test_initialize_reaches_the_child_once_and_later_clients_get_the_cache(connect):
    probe = connect()
    before = info(probe)["initializes"]
    replies = [connect(initialize=False).request(f"init-{i}", "initialize", {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}})
        for i in range(3)]
    assert [r["id"] for r in replies] == ["init-0", "init-1", "init-2"]
    assert all(r["result"]["serverInfo"]["name"] == "scripted" for r in replies)
    assert info(probe)["initializes"] == before <= 1


# -- notifications from the child -------------------------------------------------------

def test_progress_goes_only_to_the_client_whose_request_carried_the_token(connect):
    a, b = connect(), connect()
    a.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "same"}}})
    b.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "same"}}})
    for client, steps in ((a, 3), (b, 2)):
        seen = [client.read() for _ in range(steps + 1)]
        progress = [m for m in seen if m.get("method") == "notifications/progress"]
        assert [p["params"]["progressToken"] for p in progress] == ["same"] * steps
        assert [p["params"]["progress"] for p in progress] == list(range(1, steps + 1))
        assert text_of(seen[-1]) == f"done {steps}"


def test_list_changed_and_log_messages_go_to_every_client(connect):
    a, b, c = connect(), connect(), connect()
    reply = call(a, 1, "notify", {"method": "notifications/tools/list_changed"})
    # The notification was written before the answer, so a sees it first.
    assert reply["method"] == "notifications/tools/list_changed"
    assert text_of(a.read()) == "sent"
    for other in (b, c):
        assert other.read()["method"] == "notifications/tools/list_changed"


def test_resource_updates_go_only_to_subscribers(connect):
    sub, other = connect(), connect()
    assert sub.request(1, "resources/subscribe", {"uri": "file:///watched"})["result"] == {}
    reply = call(other, 1, "notify", {"method": "notifications/resources/updated", "params": {"uri": "file:///watched"}})
    assert text_of(reply) == "sent"
    update = sub.read()
    assert update["method"] == "notifications/resources/updated"
    assert update["params"]["uri"] == "file:///watched"
    # `other` saw only its own answer: its next line is the answer to its next call.
    assert text_of(call(other, 2, "echo", {"text": "next"})) == "next"


def test_unsubscribe_of_one_client_keeps_the_subscription_for_the_others(connect):
    a, b = connect(), connect()
    a.request(1, "resources/subscribe", {"uri": "file:///shared"})
    b.request(1, "resources/subscribe", {"uri": "file:///shared"})
    assert a.request(2, "resources/unsubscribe", {"uri": "file:///shared"})["result"] == {}
    assert "file:///shared" in call(a, 3, "info")["result"]["subscriptions"]
    b.close()  # the last subscriber leaves: the proxy unsubscribes for it
    probe = connect()
    wait_for(lambda: "file:///shared" not in info(probe)["subscriptions"], 5, message="unsubscribe on leave")


# -- requests from the child ------------------------------------------------------------

def test_roots_request_goes_to_the_client_whose_call_is_in_flight(connect):
    bystander, asker = connect(), connect()
    send_call(asker, "r1", "roots")
    request = asker.read()
    assert request["method"] == "roots/list"
    asker.send({"jsonrpc": "2.0", "id": request["id"], "result": {"roots": [{"uri": "file:///proj"}]}})
    answer = json.loads(text_of(asker.read()))
    assert answer["result"]["roots"] == [{"uri": "file:///proj"}]
    assert text_of(call(bystander, 1, "echo", {"text": "quiet"})) == "quiet"


def test_childs_ping_is_answered_by_the_proxy(connect):
    client = connect()
    answer = json.loads(text_of(call(client, 1, "ping_client")))
    assert answer["result"] == {}


# -- cancellation, orphans --------------------------------------------------------------

def test_cancelled_notification_reaches_the_child_with_the_proxy_id(connect):
    client = connect()
    send_call(client, "to-cancel", "slow", {"seconds": 1, "text": "late"})
    gevent.sleep(0.1)
    client.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "to-cancel"}})
    probe = connect()
    cancelled = wait_for(lambda: info(probe)["cancelled"], 5, message="cancel seen by the server")
    assert all(isinstance(c, int) for c in cancelled)  # the proxy's id, not "to-cancel"


def test_response_for_a_client_that_left_is_dropped_and_counted(daemon, connect):
    leaver, stayer = connect(), connect()
    before = daemon.server("s")["orphans"]
    send_call(leaver, 1, "slow", {"seconds": 0.3, "text": "nobody"})
    gevent.sleep(0.05)
    leaver.close()
    wait_for(lambda: daemon.server("s")["orphans"] > before, 5, message="orphan counted")
    assert text_of(call(stayer, 1, "echo", {"text": "still here"})) == "still here"


# -- bad input from clients -------------------------------------------------------------

BAD_LINES = [
    (b"this is not json", -32700),
    (b"[1, 2, 3]", -32600),
    (b"42", -32600),
    (b'{"jsonrpc":"2.0"}', -32600),
    (b'{"jsonrpc":"2.0","id":1,"method":7}', -32600),
    (b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', -32600),
    (bytes(range(256)).replace(b"\n", b""), -32700),
    (b"\xff\xfe{\"id\":1}", -32700),
    # Regression: RecursionError in the parser killed the client's reader (and its connection).
    (b"[" * 100000, -32700),
    (b'{"jsonrpc":"2.0","id":1,"method":"m","params":' + b"[" * 100000, -32700),
]


@pytest.mark.parametrize("line,code", BAD_LINES)
def test_bad_lines_get_an_error_and_the_connection_stays_usable(connect, line, code):
    client = connect()
    client.send_raw(line + b"\n")
    error = client.read()
    assert error["error"]["code"] == code and error["error"]["message"]
    assert text_of(call(client, 2, "echo", {"text": "after"})) == "after"


def test_24_mib_request_line_is_refused_with_its_id_and_never_buffered_whole(daemon, connect):
    client, bystander = connect(), connect()
    rss_before = daemon.status()["daemon"]["rss_bytes"]
    head = b'{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"echo","arguments":{"text":"'
    client.send_raw(head)
    sender = gevent.spawn(client.send_raw, b"x" * (24 * MiB) + b'"}}}\n')
    error = client.read(timeout=30)
    sender.join(timeout=30)
    assert error["id"] == "big" and error["error"]["code"] == -32002
    assert error["error"]["data"]["limit"] == MiB and error["error"]["data"]["size"] > 24 * MiB
    assert daemon.status()["daemon"]["rss_bytes"] - rss_before < 8 * MiB
    assert text_of(call(client, 2, "echo", {"text": "usable"})) == "usable"
    assert text_of(call(bystander, 1, "echo", {"text": "unaffected"})) == "unaffected"


def test_half_a_line_then_disconnect_affects_nobody(connect):
    bystander = connect()
    half = connect()
    half.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"tools/ca')
    half.close()
    assert text_of(call(bystander, 1, "echo", {"text": "fine"})) == "fine"


# -- bad output from the child ----------------------------------------------------------

@pytest.mark.parametrize("server", ["s", "tail"])
def test_oversize_response_gets_an_error_with_the_callers_id(daemon, connect, server):
    client, bystander = connect(server), connect(server)
    reply = call(client, "huge-1", "huge", {"bytes": 3 * MiB}, timeout=30)
    assert reply["id"] == "huge-1" and reply["error"]["code"] == -32002
    assert reply["error"]["data"]["limit"] == MiB
    assert text_of(call(client, 2, "echo", {"text": "next"})) == "next"
    assert text_of(call(bystander, 1, "echo", {"text": "unaffected"})) == "unaffected"


def test_non_json_stdout_line_is_skipped_and_counted(daemon, connect):
    client = connect()
    before = daemon.server("s")["bad_child_lines"]
    assert text_of(call(client, 1, "garbage")) == "after garbage"
    assert daemon.server("s")["bad_child_lines"] == before + 1


def test_a_command_that_does_not_exist_is_fatal_with_a_clear_error(daemon, connect):
    broken = daemon.server("broken")
    assert broken["state"] == "fatal"
    assert "agentdeck-no-such-server" in broken["last_error"] and "not found" in broken["last_error"]
    client = connect("broken", initialize=False)
    error = client.request(1, "tools/list")
    assert error["error"]["code"] == -32001 and "broken" in error["error"]["message"]
    assert text_of(call(connect(), 1, "echo", {"text": "others fine"})) == "others fine"


# -- files ------------------------------------------------------------------------------

def test_socket_dir_is_private_and_sockets_are_0600(daemon):
    assert stat.S_IMODE(os.stat(daemon.home / "sockets").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(daemon.home).st_mode) == 0o700
    for name in ("s", "tail"):
        st = os.stat(daemon.socket_path(name))
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600


def test_requests_sent_the_moment_the_daemon_is_ready_wait_for_the_child():
    """Regression: a client that connected before the first child was spawned got -32001."""
    home = short_tmpdir()
    proc = DaemonProcess(home, toml_config(home, servers={"s": scripted()}))
    try:
        # Connect and ask within a millisecond of the socket appearing: before the child is up.
        wait_for(proc.socket_path("s").exists, 20, interval=0.001, message="the socket")
        client = LineClient(proc.socket_path("s"), timeout=20)
        assert client.initialize()["result"]["serverInfo"]["name"] == "scripted"
        assert text_of(call(client, 1, "echo", {"text": "first"})) == "first"
        client.close()
    finally:
        proc.stop()
        rmtree(home)
