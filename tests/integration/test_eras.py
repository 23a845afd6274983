"""Every client in its own era and version on one shared child (issue 19 §1, §2), over
the bridge, with the official Python SDK 2.x ``Client`` in its three connect modes
against mcp-server-time (dual-era: the Python SDK's dual-era stdio server) and
server-everything (npm, legacy only). Each child is first reached by a client of
another era or version, in both orders; agentdeck owns every child's handshake."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.everything import server_everything
from tests.support import REPO, LineClient, clean_env, scripted, wait_for

TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")
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
def daemon(start_daemon):
    servers = {"t1": {"command": TIME_SERVER}, "t2": {"command": TIME_SERVER}, "s": scripted()}
    entry, _ = server_everything()
    if entry is not None:
        servers.update(e1=entry, e2=entry)
    daemon = start_daemon(servers)
    for name in servers:
        wait_for(lambda name=name: daemon.server(name)["state"] == "running", 60, message=f"{name} running")
    return daemon


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
