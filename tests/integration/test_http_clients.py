"""Real MCP clients of every era and version over the HTTP front door, on shared children
that a client of another era or version reached first, in both orders (issue 19):
the Python SDK 2.x ``Client`` (legacy, auto, 2026-07-28), the TypeScript SDK 2.x
client (the same three; also over the bridge), ``claude mcp list`` and ``gemini mcp list`` on the entries
`agentdeck mcp config` writes (HTTP, and the bridge's stdio entries), and the stock MCP
Inspector CLI against the ``/servers/NAME/mcp`` URL. The children: mcp-server-time
(dual-era), server-everything (npm, legacy only) and the scripted server (legacy).
The npm clients are installed once into tests/artifacts (`npmclients`); a test skips,
saying why, only when one cannot be installed."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentdeck.clientfiles.endpoint import server_url
from tests.integration import npmclients
from tests.integration.everything import server_everything
from tests.mcphttp import McpHttp
from tests.support import REPO, TIME_SERVER, clean_env, rmtree, run_cli, short_tmpdir, wait_for

SDK_HTTP_CLIENT = REPO / "tests" / "sdk_http_client.py"
TS_CLIENT = REPO / "tests" / "ts_era_client.mjs"
MODERN = "2026-07-28"
NEWEST_LEGACY = "2025-11-25"
TIME_CALL = ("get_current_time", {"timezone": "UTC"})
ECHO_CALL = ("echo", {"message": "hi"})  # server-everything's


@pytest.fixture
def daemon(era_daemon):
    return era_daemon


def server_names(daemon):
    return sorted(server["name"] for server in daemon.status()["servers"])


def url(daemon, name):
    return server_url(daemon.info()["status_url"], name)


def python_sdk(daemon, mode, name, call, *options):
    tool, arguments = call
    done = subprocess.run([sys.executable, str(SDK_HTTP_CLIENT), url(daemon, name), tool, json.dumps(arguments), mode,
                           *options], capture_output=True, text=True, timeout=90, cwd=REPO, env=clean_env(daemon.home))
    assert done.returncode == 0, f"Python SDK ({mode}) on {name}: {done.stderr[-3000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["protocol"], report


def typescript_sdk(daemon, mode, name, call, transport="http"):
    """The TypeScript SDK client in ``mode`` on server ``name``, over HTTP or the bridge."""
    found, why = npmclients.typescript_sdk()
    if found is None:
        pytest.skip(why)
    node, package_json = found
    tool, arguments = call
    target = [url(daemon, name)] if transport == "http" else \
        ["--", sys.executable, "-m", "agentdeck", "bridge", name, "--config", str(daemon.config_path)]
    done = subprocess.run([node, str(TS_CLIENT), str(Path(package_json).parent), mode, tool, json.dumps(arguments),
                           *target], capture_output=True, text=True, timeout=90, cwd=REPO,
                          env=clean_env(daemon.home), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"TypeScript SDK ({mode}, {transport}) on {name}: {done.stderr[-3000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["version"], report


SDKS = {"python": python_sdk, "typescript": typescript_sdk}
# mode -> the version a client of that mode ends up speaking through agentdeck
SPOKEN = {"legacy": NEWEST_LEGACY, "auto": MODERN, MODERN: MODERN}
ORDERS = [("t1", (MODERN, "legacy", "auto")), ("t2", ("legacy", "auto", MODERN))]


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_each_sdk_mode_shares_a_dual_era_child_whoever_came_first(daemon, sdk):
    """Before: whichever client reached mcp-server-time first locked it to its era; over
    HTTP a 2026-07-28 request was refused (`missing Mcp-Session-Id`)."""
    for name, modes in ORDERS:
        for mode in modes:
            version, report = SDKS[sdk](daemon, mode, name, TIME_CALL)
            assert version == SPOKEN[mode], (sdk, name, mode, report)
            assert "get_current_time" in report["tools"] and '"timezone": "UTC"' in report["text"], report


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_each_sdk_mode_shares_a_legacy_child_whoever_came_first(daemon, sdk):
    if server_everything()[0] is None:
        pytest.skip(server_everything()[1])
    for name, modes in (("e1", ORDERS[0][1]), ("e2", ORDERS[1][1])):
        for mode in modes:
            version, report = SDKS[sdk](daemon, mode, name, ECHO_CALL)
            assert version == SPOKEN[mode], (sdk, name, mode, report)
            assert report["text"] == "Echo: hi" and not report["is_error"], report


def test_typescript_sdk_modes_over_the_bridge_whoever_came_first(daemon):
    """The bridge carries each era too: the TypeScript SDK on stdio (its auto mode probes
    on a sibling bridge process first), both orders, on the dual-era child."""
    for name, modes in ORDERS:
        for mode in modes:
            version, report = typescript_sdk(daemon, mode, name, TIME_CALL, transport="stdio")
            assert version == SPOKEN[mode], (name, mode, report)
            assert '"timezone": "UTC"' in report["text"] and not report["is_error"], report


def test_the_two_sdks_take_turns_on_one_child(daemon):
    """Each client of one child is spoken to in its own era, whichever SDK it is."""
    turns = [("typescript", MODERN), ("python", "legacy"), ("typescript", "legacy"), ("python", MODERN),
             ("python", "auto"), ("typescript", "auto")]
    for sdk, mode in turns:
        version, report = SDKS[sdk](daemon, mode, "s", ("echo", {"text": f"{sdk} {mode}"}))
        assert (version, report["text"]) == (SPOKEN[mode], f"{sdk} {mode}"), report
    assert daemon.server("s")["http_requests"] == 0  # modern requests leave nothing behind


def test_a_legacy_child_asks_a_modern_http_client_through_input_required(daemon):
    """The scripted child (legacy) asks roots/list while working on a 2026-07-28 client's
    call: the client gets input_required on its POST, retries on a new POST, and gets the
    child's answer; a legacy client is asked on its stream as before. Nothing is kept."""
    for mode in (MODERN, "legacy", "auto"):
        _, report = python_sdk(daemon, mode, "s", ("roots", {}), "--roots")
        assert report["asked"] == ["roots/list"], report
        assert json.loads(report["text"])["result"]["roots"][0]["uri"] == "file:///tmp/http-root", report
    wait_for(lambda: daemon.server("s")["http_requests"] == 0, 10, message="no modern call kept")


# -- agent CLIs: `claude mcp list`, `gemini mcp list` --------------------------------

def first_reached_by_others(daemon):
    """Each server's first client is of another era or version than the CLIs: a modern
    SDK client, a 2024-11-05 session, a legacy SDK client."""
    first = iter([("python", MODERN), ("raw", "2024-11-05"), ("python", "legacy"), ("python", "auto"),
                  ("raw", "2025-03-26")])
    for name in server_names(daemon):
        kind, mode = next(first)
        if kind == "raw":
            session = McpHttp(url(daemon, name), version=mode)
            reply = session.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": mode, "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}})
            assert reply.json()["result"]["protocolVersion"] == mode, reply.body
        else:
            python_sdk(daemon, mode, name, ("", {}))  # connects and lists the tools


def agent_home(daemon, client, transport):
    """A HOME (and project folder) for an agent CLI, with the entries `agentdeck mcp
    config --client CLIENT` writes into its user file."""
    home = short_tmpdir(f"ad-{client}-")
    user_file = {"claude": home / ".claude.json", "gemini": home / ".gemini" / "settings.json"}[client]
    user_file.parent.mkdir(exist_ok=True)
    done = run_cli(daemon.home, "mcp", "config", "--client", client, "--transport", transport, "--write", "--file",
                   str(user_file), config=daemon.config_path)
    assert done.returncode == 0, done.stderr
    if client == "gemini":  # Gemini CLI runs no MCP server of a folder it was not told to trust
        (home / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(home): "TRUST_FOLDER"}))
    return home


def agent_env(daemon, home):
    env = clean_env(daemon.home, HOME=home, CLAUDE_CONFIG_DIR=home)
    for key in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(key, None)
    return env


# client -> its installer; a connected server is listed as "NAME: URL - ✔ Connected"
# (Claude Code) or "✓ NAME: URL (http) - Connected" (Gemini CLI)
AGENT_CLIS = {"claude": npmclients.claude_code, "gemini": npmclients.gemini_cli}


def agent_list(daemon, client, transport):
    found, why = AGENT_CLIS[client]()
    if found is None:
        pytest.skip(why)
    home = agent_home(daemon, client, transport)
    try:
        done = npmclients.run(found, "mcp", "list", timeout=180, env=agent_env(daemon, home), cwd=home)
    finally:
        rmtree(home)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr  # Gemini CLI lists on stderr


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_claude_then_gemini_show_every_server_connected(daemon, transport):
    """Before: after Claude Code (2025-11-25) reached a server, Gemini CLI (at most
    2025-06-18) was answered 2025-11-25 and showed it Disconnected, over HTTP and over the
    bridge. Each server here was first reached by a client of yet another era or version."""
    first_reached_by_others(daemon)
    names = server_names(daemon)
    for client in ("claude", "gemini"):
        listed = agent_list(daemon, client, transport)
        for name in names:
            rows = [line for line in listed.splitlines() if re.match(rf"[^\w]*{re.escape(name)}: ", line)]
            assert len(rows) == 1 and re.search(r"[✔✓] Connected|- Connected", rows[0]) and \
                "Disconnected" not in rows[0], (client, transport, name, listed)


def test_a_fourth_claude_mcp_list_connects_to_a_server_of_three_clients(start_daemon):
    """Regression: `claude mcp list` opens a session (and a GET stream that carries
    nothing), then leaves without DELETE. With max_clients = 3 the fourth run got `Failed
    to connect`; and again when every event stream that ended held its session for the
    resume grace, not only one that carried events its client may not have read."""
    daemon = start_daemon({"time": {"command": TIME_SERVER}}, pool={"max_clients": 3})
    for run in range(4):
        rows = [line for line in agent_list(daemon, "claude", "http").splitlines() if line.startswith("time: ")]
        assert len(rows) == 1 and "Connected" in rows[0] and "Failed" not in rows[0], (run, rows)
    assert daemon.server("time")["made_room"] >= 1 and daemon.server("time")["rejected"] == 0


# -- the MCP Inspector CLI ----------------------------------------------------------

@pytest.mark.parametrize("version", ["0", "latest"])
def test_the_inspector_cli_reaches_a_server_at_its_mcp_url(daemon, version):
    """The Inspector CLI 0.x rewrites any URL path not ending in /mcp to /mcp, so it could
    not reach /mcp/NAME; /servers/NAME/mcp is what `agentdeck mcp config` writes. The
    current Inspector (Node 22 or later) reaches it too."""
    found, why = npmclients.inspector(version)
    if found is None:
        pytest.skip(why)
    python_sdk(daemon, MODERN, "t1", TIME_CALL)  # reached first by a modern client
    done = npmclients.run(found, "--cli", url(daemon, "t1"), "--transport", "http", "--method", "tools/call",
                          "--tool-name", "get_current_time", "--tool-arg", "timezone=UTC", timeout=120,
                          env={**os.environ, "HOME": str(daemon.home)}, cwd=daemon.home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(json.loads(done.stdout)["content"][0]["text"])["timezone"] == "UTC", done.stdout
