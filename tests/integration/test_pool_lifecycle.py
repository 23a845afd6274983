"""The pool's bounds and the life of its children: limits, slow and idle clients,
crashes, hangs, restarts with the handshake replayed, clean stops, socket ownership."""
import json
import os
import signal
import socket
import subprocess

import gevent

from tests.support import REPO, LineClient, children_of, clean_env, connect_unix, scripted, toml_config, wait_for

MiB = 1024 * 1024




def call(client, id_, tool, arguments=None, timeout=None):
    return client.request(id_, "tools/call", {"name": tool, "arguments": arguments or {}}, timeout)


def text_of(reply):
    return reply["result"]["content"][0]["text"]


def client_of(daemon, name="s"):
    client = LineClient(daemon.socket_path(name))
    client.initialize()
    return client


def test_client_over_max_clients_gets_an_error_with_its_id_and_others_keep_working(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"max_clients": 2})
    a, b = client_of(daemon), client_of(daemon)
    extra = LineClient(daemon.socket_path("s"))
    refused = extra.request("third", "tools/list")
    assert refused["id"] == "third" and refused["error"]["code"] == -32003
    assert refused["error"]["data"]["limit"] == 2
    assert extra.closed(timeout=5)
    assert text_of(call(a, 1, "echo", {"text": "a"})) == "a"
    assert text_of(call(b, 1, "echo", {"text": "b"})) == "b"
    silent = LineClient(daemon.socket_path("s"))  # sends nothing: answered with id null, not kept waiting
    refused = silent.read(timeout=10)
    assert refused["id"] is None and refused["error"]["code"] == -32003
    assert silent.closed(timeout=5)
    assert daemon.server("s")["rejected"] == 2


def test_many_clients_flooding_long_lines_at_once_cost_about_two_lines_of_memory(start_daemon):
    """Clients assembling lines over 64 KiB share two pool-wide slots; the rest wait their turn."""
    daemon = start_daemon({"s": scripted()}, pool={"max_request_bytes": 2 * MiB})
    clients = [client_of(daemon) for _ in range(8)]
    rss_before = daemon.status()["daemon"]["rss_bytes"]
    head = b'{"jsonrpc":"2.0","id":"flood","method":"tools/call","params":{"name":"echo","arguments":{"text":"'
    senders = [gevent.spawn(c.send_raw, head + b"x" * (6 * MiB) + b'"}}}\n') for c in clients]
    peak = rss_before
    replies = []
    for client in clients:
        reply = client.read(timeout=60)
        peak = max(peak, daemon.status()["daemon"]["rss_bytes"])
        replies.append(reply)
    gevent.joinall(senders, timeout=60)
    assert [(r["id"], r["error"]["code"]) for r in replies] == [("flood", -32002)] * 8
    # 8 clients x 2 MiB would be 16 MiB if each held its line; the slots keep it near 2 x 2 MiB.
    assert peak - rss_before < 8 * MiB
    assert all(text_of(call(c, 1, "echo", {"text": "ok"})) == "ok" for c in clients)


def test_idle_client_is_closed_but_one_waiting_for_an_answer_is_not(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"idle_timeout": 1})
    idle, busy = client_of(daemon), client_of(daemon)
    busy.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "slow", "arguments": {"seconds": 2.5, "text": "worth the wait"}}})
    assert idle.closed(timeout=5)
    assert text_of(busy.read(timeout=5)) == "worth the wait"
    assert daemon.server("s")["idle_closed"] >= 1


def test_client_that_never_reads_is_dropped_and_does_not_stall_the_others(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"client_queue_bytes": MiB})
    stuck, healthy = client_of(daemon), client_of(daemon)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for i in range(12):
        stuck.send({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "huge", "arguments": {"bytes": 512 * 1024}}})
    for i in range(20):
        assert text_of(call(healthy, i, "echo", {"text": f"m{i}"})) == f"m{i}"
    wait_for(lambda: daemon.server("s")["slow_closed"] == 1, 15, message="the stuck client dropped")
    assert daemon.server("s")["clients"] == 1
    assert text_of(call(healthy, 99, "echo", {"text": "still fine"})) == "still fine"


def test_crash_answers_in_flight_requests_restarts_and_replays_the_handshake(start_daemon):
    daemon = start_daemon({"s": scripted()})
    waiting, crasher = client_of(daemon), client_of(daemon)
    first = call(waiting, "i", "info")["result"]
    waiting.send({"jsonrpc": "2.0", "id": "slow-1", "method": "tools/call",
                  "params": {"name": "slow", "arguments": {"seconds": 30}}})
    crasher.send({"jsonrpc": "2.0", "id": "boom", "method": "tools/call",
                  "params": {"name": "crash", "arguments": {"code": 7}}})
    for client, id_ in ((waiting, "slow-1"), (crasher, "boom")):
        error = client.read(timeout=10)
        assert error["id"] == id_ and error["error"]["code"] == -32001
        assert "crashing on demand" in error["error"]["data"]["stderr_tail"]
    # While it backs off, requests fail fast with a reason instead of hanging.
    early = call(waiting, "early", "echo", {"text": "x"})
    assert early["error"]["code"] == -32001 and "restarting" in early["error"]["message"]
    wait_for(lambda: daemon.restarted("s", first["pid"]), 15, message="the restarted child running")
    # Both clients go on without initializing again; the new child was initialized by the proxy.
    second = call(waiting, "i2", "info")["result"]
    assert second["pid"] != first["pid"] and second["initializes"] == 1
    assert text_of(call(crasher, "after", "echo", {"text": "back"})) == "back"
    status = daemon.server("s")
    assert status["restarts"] == 1 and "code 7" in status["last_error"]


def test_hung_child_is_detected_by_ping_and_restarted(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"ping_interval": 0.5, "ping_timeout": 0.5})
    client = client_of(daemon)
    pid = call(client, 1, "info")["result"]["pid"]
    assert text_of(call(client, 2, "hang")) == "hanging"
    wait_for(lambda: daemon.server("s")["restarts"] == 1 and daemon.server("s")["state"] == "running", 20,
             message="hung child restarted")
    assert "hung" in daemon.server("s")["last_error"]
    assert call(client, 3, "info")["result"]["pid"] != pid
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5, message="the hung child gone")


def test_child_that_stops_reading_stdin_gets_requests_refused_then_restarted(start_daemon):
    daemon = start_daemon({"s": scripted()}, pool={"client_queue_bytes": 256 * 1024, "ping_interval": 1,
                                                    "ping_timeout": 1})
    client = client_of(daemon)
    assert text_of(call(client, 0, "stop_reading")) == "no longer reading"
    payload = "y" * 60_000
    errors = []
    for i in range(1, 40):
        client.send({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                     "params": {"name": "echo", "arguments": {"text": payload}}})
    for _ in range(39):
        reply = client.read(timeout=20)
        errors.append(reply["error"]["code"])
    assert set(errors) == {-32001}  # refused at once or answered when the stuck child was replaced
    wait_for(lambda: daemon.server("s")["restarts"] >= 1 and daemon.server("s")["state"] == "running", 20,
             message="restart of the child that stopped reading")
    assert text_of(call(client, 100, "echo", {"text": "fresh"})) == "fresh"


def test_child_is_started_in_its_own_process_group_without_loader_variables(start_daemon):
    daemon = start_daemon({"s": scripted(LD_PRELOAD="/tmp/evil.so", SAFE_VAR="kept")})
    client = client_of(daemon)
    pid = call(client, 1, "info")["result"]["pid"]
    assert os.getpgid(pid) == pid
    assert json.loads(text_of(call(client, 2, "env", {"name": "LD_PRELOAD"}))) is None
    assert json.loads(text_of(call(client, 3, "env", {"name": "SAFE_VAR"}))) == "kept"
    daemon.expect(r"env LD_PRELOAD refused")


def test_sigterm_stops_children_by_process_group_and_removes_sockets(start_daemon):
    daemon = start_daemon({"s": scripted(), "t": scripted("--id-last")})
    client = client_of(daemon)
    pid = call(client, 1, "info")["result"]["pid"]
    client.send({"jsonrpc": "2.0", "id": "pending", "method": "tools/call",
                 "params": {"name": "slow", "arguments": {"seconds": 60}}})
    gevent.sleep(0.2)
    daemon.signal(signal.SIGTERM)
    error = client.read(timeout=10)
    assert error["id"] == "pending" and error["error"]["code"] == -32001
    daemon.proc.wait(timeout=10)
    assert daemon.proc.returncode == 0
    assert not os.path.exists(f"/proc/{pid}")  # reaped: not even a zombie
    assert not list((daemon.home / "sockets").iterdir())
    assert not (daemon.home / "daemon.json").exists()


def test_stale_socket_is_replaced_and_a_live_one_is_left_alone(start_daemon):
    holder = {}

    def prepare(home):
        sockets = home / "sockets"
        sockets.mkdir(mode=0o700, parents=True)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(sockets / "mcp-stale.sock"))
        stale.close()  # file left behind, nobody listening
        live = socket.socket(socket.AF_UNIX)
        live.bind(str(sockets / "mcp-live.sock"))
        live.listen(1)
        holder["live"] = live

    daemon = start_daemon({"stale": scripted(), "live": scripted()}, prepare=prepare)
    wait_for(lambda: daemon.server("stale")["state"] == "running", 10, message="stale socket server running")
    assert daemon.server("live")["state"] == "external"
    assert text_of(call(client_of(daemon, "stale"), 1, "echo", {"text": "new owner"})) == "new owner"
    probe = connect_unix(daemon.socket_path("live"))  # still the other owner's listener
    conn, _ = holder["live"].accept()
    conn.close()
    probe.close()
    holder["live"].close()


def test_three_sdk_clients_share_one_time_server_through_the_bridge(start_daemon):
    """Must-show: three official MCP SDK clients through `agentdeck bridge time` at once,
    and exactly one mcp-server-time process."""
    daemon = start_daemon({"time": {"command": "mcp-server-time"}})
    sdk = [subprocess.Popen(
        [os.sys.executable, "tests/sdk_client.py", "get_current_time", '{"timezone": "UTC"}', "--",
         os.sys.executable, "-m", "agentdeck", "bridge", "time"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(daemon.home))
        for _ in range(3)]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in sdk]
    assert all(p.returncode == 0 for p in sdk)
    for result in results:
        assert result["server"] == "mcp-time"
        assert "get_current_time" in result["tools"]
        assert json.loads(result["text"])["timezone"] == "UTC" and not result["is_error"]
    assert children_of(daemon.proc.pid, "mcp-server-time") == [daemon.server("time")["pid"]]


def test_socket_path_over_the_unix_limit_is_a_clear_start_up_error(home):
    long_home = home / ("h" * 90)
    config = home / "agentdeck.toml"
    config.write_text(toml_config(long_home, servers={"s": scripted()}))
    result = subprocess.run([os.sys.executable, str(REPO / "run.py"), "--config", str(config)], cwd=REPO,
                            env=clean_env(long_home), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "over the Unix limit of 107" in result.stderr and "mcp-s.sock" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_client_that_only_listens_to_notifications_is_not_idle(start_daemon):
    """Regression: only reads counted as activity, so a subscriber was closed as idle."""
    daemon = start_daemon({"s": scripted()}, pool={"idle_timeout": 1})
    listener, talker = client_of(daemon), client_of(daemon)
    for i in range(12):  # 3 s of list_changed notifications, 4 per second
        call(talker, i, "notify", {"method": "notifications/tools/list_changed"})
        assert listener.read(timeout=5)["method"] == "notifications/tools/list_changed"
        gevent.sleep(0.25)
    assert text_of(call(listener, "still", "echo", {"text": "here"})) == "here"
