"""Every client in its own era and version on one shared child (issue 19 §1, §2), over
the bridge, with the official Python SDK 2.x ``Client`` in its three connect modes
against mcp-server-time (dual-era: the Python SDK's dual-era stdio server) and
server-everything (npm, legacy only). Each child is first reached by a client of
another era or version, in both orders; agentdeck owns every child's handshake."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.everything import server_everything
from tests.support import REPO, TIME_SERVER, DaemonProcess, LineClient, clean_env, scripted, wait_for

ERA_CLIENT = REPO / "tests" / "sdk_era_client.py"
MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def sdk(daemon, mode, server, tool="", arguments=None, *options):
    """Run the SDK client in ``mode`` through `agentdeck bridge server`; its JSON report."""
    done = subprocess.run([sys.executable, str(ERA_CLIENT), mode, tool, json.dumps(arguments or {}), *options, "--",
                           sys.executable, "-m", "agentdeck", "bridge", server, "--config", str(daemon.config_path)],
                          cwd=REPO, env=clean_env(daemon.home), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, f"{mode} client of {server} failed: {done.stderr[-3000:]}"
    return json.loads(done.stdout)


@pytest.fixture
def daemon(era_daemon):
    return era_daemon


def time_call(daemon, mode, server):
    report = sdk(daemon, mode, server, "get_current_time", {"timezone": "UTC"})
    # A client pinned to a version skips server/discover, so it never hears the server's name.
    assert report["server"] == (None if mode == MODERN else "mcp-time"), report
    assert "get_current_time" in report["tools"], report
    assert '"timezone": "UTC"' in report["text"] and not report["is_error"], report
    return report["version"]


def test_a_dual_era_child_serves_each_era_whoever_came_first(daemon):
    """Before: whichever client reached mcp-server-time first locked it to its era, and a
    client of the other era failed. The probe locks it modern, for agentdeck alone."""
    assert time_call(daemon, "legacy", "t1") == "2025-11-25"
    assert time_call(daemon, MODERN, "t1") == MODERN
    assert time_call(daemon, "auto", "t1") == MODERN
    assert time_call(daemon, MODERN, "t2") == MODERN
    assert time_call(daemon, "legacy", "t2") == "2025-11-25"
    assert time_call(daemon, "auto", "t2") == MODERN
    assert "speaks MCP 2026-07-28 (modern)" in daemon.output


def test_each_legacy_version_is_answered_in_its_own(daemon):
    """Before: the cached initialize answered every client with the first one's version
    (Gemini CLI, at most 2025-06-18, then showed the server disconnected)."""
    for first, second in (("2025-11-25", "2025-06-18"), ("2024-11-05", "2025-11-25")):
        a, b = LineClient(daemon.socket_path("t1")), LineClient(daemon.socket_path("t1"))
        try:
            for client, version in ((a, first), (b, second)):
                reply = client.request(1, "initialize", {"protocolVersion": version, "capabilities": {},
                                                          "clientInfo": {"name": "c", "version": "1"}}, timeout=10)
                assert reply["result"]["protocolVersion"] == version, reply
                assert reply["result"]["serverInfo"]["name"] == "mcp-time"
                listed = client.request(2, "tools/list", timeout=10)
                assert {t["name"] for t in listed["result"]["tools"]} >= {"get_current_time"}, listed
        finally:
            a.close()
            b.close()


def test_a_version_agentdeck_does_not_serve_is_32022_with_what_it_serves(daemon):
    client = LineClient(daemon.socket_path("t1"))
    try:
        reply = client.request(1, "tools/list", {"_meta": {**ENVELOPE,
                                                           "io.modelcontextprotocol/protocolVersion": "2099-01-01"}},
                               timeout=10)
        assert reply["error"]["code"] == -32022, reply
        assert reply["error"]["data"]["requested"] == "2099-01-01"
        assert MODERN in reply["error"]["data"]["supported"] and "2025-06-18" in reply["error"]["data"]["supported"]
        reply = client.request(2, "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}},
                               timeout=10)
        assert reply["error"]["code"] == -32602, reply  # clientCapabilities missing
        reply = client.request(3, "server/discover", {"_meta": ENVELOPE}, timeout=10)
        assert reply["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-time", reply
        assert reply["result"]["resultType"] == "complete" and MODERN in reply["result"]["supportedVersions"]
    finally:
        client.close()


def test_a_legacy_child_serves_modern_clients_too(daemon):
    """A legacy-only child (server-everything), initialized by agentdeck: a modern client
    gets server/discover built from that initialize and its calls answered, whoever came
    first."""
    if server_everything()[0] is None:
        pytest.skip(server_everything()[1])
    for order, server in (((MODERN, "legacy", "auto"), "e1"), (("legacy", "auto", MODERN), "e2")):
        for mode in order:
            report = sdk(daemon, mode, server, "echo", {"message": f"from {mode}"})
            assert report["server"] == (None if mode == MODERN else "mcp-servers/everything"), report
            assert report["text"] == f"Echo: from {mode}", report
            assert report["version"] == ("2025-11-25" if mode == "legacy" else MODERN), report


def test_a_child_request_reaches_only_a_client_that_declared_the_capability(daemon):
    """Before: a client that declared no elicitation was sent elicitation/create. Now the
    child is answered for it, and the client's call still gets its one answer; a client
    that declared it is asked, in its own era (a modern one through input_required)."""
    if server_everything()[0] is None:
        pytest.skip(server_everything()[1])
    args = {"message": "name?"}
    for mode in ("legacy", MODERN):
        plain = sdk(daemon, mode, "e1", "trigger-elicitation-request", args)
        assert plain["asked"] == [], plain
        asked = sdk(daemon, mode, "e1", "trigger-elicitation-request", args, "--elicit")
        assert asked["asked"] == ["elicitation/create"] and not asked["is_error"], asked
        assert "ann" in asked["text"], asked


def test_a_restarted_child_is_probed_again_before_held_traffic(start_daemon):
    """A killed mcp-server-time is restarted, probed (server/discover its first line) and
    serves a legacy and a modern client again; the handshake kept on disk says what the
    child is, never a client's version."""
    daemon = start_daemon({"t": {"command": TIME_SERVER}})
    wait_for(lambda: daemon.server("t")["state"] == "running", 60, message="t running")
    assert time_call(daemon, "legacy", "t") == "2025-11-25"
    first = daemon.server("t")["pid"]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: daemon.restarted("t", first), 60, message="t restarted")
    assert time_call(daemon, MODERN, "t") == MODERN
    assert time_call(daemon, "legacy", "t") == "2025-11-25"
    assert daemon.output.count("server t: speaks MCP 2026-07-28 (modern)") == 2
    kept = json.loads((Path(daemon.home) / "handshakes" / "t.json").read_text())
    assert kept["format"] == 2 and kept["child"]["era"] == "modern" and kept["child"]["version"] == MODERN


def test_no_restart_brings_back_the_first_clients_version(start_daemon):
    """Before: handshakes/NAME.json kept the first client's initialize, so after a daemon
    restart every client was answered with that client's protocolVersion (Gemini CLI, at
    most 2025-06-18, showed the server disconnected after Claude Code asked for 2025-11-25)."""
    def initialize(daemon, version):
        client = LineClient(daemon.socket_path("t"))
        try:
            reply = client.request(1, "initialize", {"protocolVersion": version, "capabilities": {}}, timeout=30)
            assert reply["result"]["serverInfo"]["name"] == "mcp-time", reply
            return reply["result"]["protocolVersion"]
        finally:
            client.close()
    daemon = start_daemon({"t": {"command": TIME_SERVER}})
    assert initialize(daemon, "2025-11-25") == "2025-11-25"
    daemon.stop()
    again = DaemonProcess(daemon.home, daemon.config_path.read_text(), env=clean_env(daemon.home))
    try:
        again.info()
        assert initialize(again, "2025-06-18") == "2025-06-18"
    finally:
        again.stop()


@pytest.fixture
def modern_daemon(start_daemon):
    daemon = start_daemon({"m": scripted("--modern")})
    wait_for(lambda: daemon.server("m")["state"] == "running", 60, message="m running")
    return daemon


def test_a_modern_child_asks_a_legacy_client_through_input_required(modern_daemon):
    """The child answers input_required naming an elicitation; agentdeck sends the legacy
    client elicitation/create and retries with its answer and the untouched requestState:
    the client sees one call and one result. The child offers `ask` only to clients that
    declared elicitation, and each client sees its own list."""
    asked = sdk(modern_daemon, "legacy", "m", "ask", {}, "--elicit")
    assert asked["version"] == "2025-11-25" and asked["asked"] == ["elicitation/create"], asked
    assert asked["text"] == "hello ann" and "ask" in asked["tools"], asked
    plain = sdk(modern_daemon, "legacy", "m", "echo", {"text": "hi"})
    assert "ask" not in plain["tools"] and plain["text"] == "hi", plain
    modern = sdk(modern_daemon, MODERN, "m", "ask", {}, "--elicit")
    assert modern["asked"] == ["elicitation/create"] and modern["text"] == "hello ann", modern
    assert "ask" not in sdk(modern_daemon, "auto", "m")["tools"]


def test_a_legacy_clients_requests_carry_its_own_envelope_and_get_list_changes(modern_daemon):
    """Each request of a legacy client reaches the modern child with the version, the
    capabilities ({} when it declared none) and clientInfo of its initialize and the level
    of its logging/setLevel; list changes come on the listen agentdeck holds for it, as
    the 2025 notification."""
    client = LineClient(modern_daemon.socket_path("m"))
    try:
        client.request(1, "initialize", {"protocolVersion": "2025-06-18", "clientInfo": {"name": "gem", "version": "9"}},
                       timeout=30)
        assert client.request(2, "logging/setLevel", {"level": "debug"}, timeout=10)["result"] == {}
        reply = client.request(3, "tools/call", {"name": "envelope", "arguments": {}}, timeout=10)
        meta = json.loads(reply["result"]["content"][0]["text"])
        assert meta == {"io.modelcontextprotocol/protocolVersion": MODERN,
                        "io.modelcontextprotocol/clientCapabilities": {},
                        "io.modelcontextprotocol/clientInfo": {"name": "gem", "version": "9"},
                        "io.modelcontextprotocol/logLevel": "debug"}, meta
        client.send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "changed"}})
        got = [client.read(10), client.read(10)]
        assert {"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {}} in got, got
        assert any(m.get("id") == 4 and m["result"]["content"][0]["text"] == "changed" for m in got), got
    finally:
        client.close()


@pytest.mark.parametrize("child", ["modern", "legacy"])
def test_a_listen_gets_its_notifications_under_the_clients_own_id(start_daemon, child):
    """A modern client's subscriptions/listen: the acknowledgement and the list changes
    carry the client's own id (the child saw a proxy id, or for a legacy child no listen
    at all), whoever else listens; after its cancel the client hears no more."""
    daemon = start_daemon({"s": scripted("--modern") if child == "modern" else scripted()})
    wait_for(lambda: daemon.server("s")["state"] == "running", 60, message="s running")
    listeners = [LineClient(daemon.socket_path("s")) for _ in range(2)]
    try:
        for n, client in enumerate(listeners):
            client.send({"jsonrpc": "2.0", "id": f"L{n}", "method": "subscriptions/listen",
                         "params": {"_meta": ENVELOPE, "notifications": {"toolsListChanged": True}}})
            ack = client.read(30)
            assert ack["method"] == "notifications/subscriptions/acknowledged", ack
            assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == f"L{n}", ack
        caller = listeners[0]
        if child == "modern":
            call = {"name": "changed", "_meta": ENVELOPE}
        else:
            call = {"name": "notify", "arguments": {"method": "notifications/tools/list_changed"}, "_meta": ENVELOPE}
        caller.send({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": call})
        got = [caller.read(10), caller.read(10)]
        change = next(m for m in got if m.get("method") == "notifications/tools/list_changed")
        assert change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L0", got
        other = listeners[1].read(10)
        assert other["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L1", other
        caller.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "L0"}})
        caller.send({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": call})
        assert caller.read(10)["id"] == 10  # the call's answer, and no change on the cancelled listen
        assert listeners[1].read(10)["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L1"
    finally:
        for client in listeners:
            client.close()


def test_the_probe_is_the_childs_first_line_and_no_clients_initialize_reaches_it(start_daemon):
    """agentdeck alone initializes a legacy child, after server/discover came first (a
    dual-era server locks itself to the era of the first line it reads), however many
    clients initialize, and again after a restart."""
    daemon = start_daemon({"s": scripted()}, pool={"ping_interval": 0.2})
    wait_for(lambda: daemon.server("s")["state"] == "running", 60, message="s running")
    clients = [LineClient(daemon.socket_path("s")) for _ in range(3)]
    try:
        for n, client in enumerate(clients):
            version = ("2024-11-05", "2025-06-18", "2025-11-25")[n]
            assert client.initialize()["result"]["serverInfo"]["name"] == "scripted"
            reply = client.request(n + 1, "initialize", {"protocolVersion": version, "capabilities": {}}, timeout=10)
            assert reply["result"]["protocolVersion"] == version
        info = clients[0].request(9, "tools/call", {"name": "info", "arguments": {}}, timeout=10)["result"]
        assert info["first"] == "server/discover" and info["initializes"] == 1, info
        clients[0].request(10, "tools/call", {"name": "crash", "arguments": {"code": 1}}, timeout=10)
        wait_for(lambda: daemon.restarted("s", info["pid"]), 60, message="s restarted")
        again = clients[1].request(11, "tools/call", {"name": "info", "arguments": {}}, timeout=30)["result"]
        assert again["first"] == "server/discover" and again["initializes"] == 1, again
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("first", ["legacy", MODERN])
def test_sampling_and_roots_of_a_legacy_child_reach_the_client_of_either_era(daemon, first):
    """server-everything asks for sampling and roots while working on a call: a legacy
    client that declared them is asked as a 2025 server request, a modern one through
    input_required; one that did not declare sampling is not asked and gets its answer."""
    if server_everything()[0] is None:
        pytest.skip(server_everything()[1])
    other = MODERN if first == "legacy" else "legacy"
    roots = sdk(daemon, first, "e2", "get-roots-list", {}, "--roots")
    assert roots["asked"] == ["roots/list"] and "era-root" in roots["text"], roots
    for mode in (first, other):
        sampled = sdk(daemon, mode, "e2", "trigger-sampling-request", {"prompt": "hi", "maxTokens": 5}, "--sample")
        assert sampled["asked"] == ["sampling/createMessage"] and "sampled by era" in sampled["text"], sampled
        plain = sdk(daemon, mode, "e2", "trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
        assert plain["asked"] == [], plain
