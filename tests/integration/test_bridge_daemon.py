"""`agentdeck bridge`, `mcp json` and `mcp list` against the real daemon and the real
mcp-server-time, driven by the official MCP SDK client."""
import json
import subprocess
import sys

import gevent
import pytest

from tests.support import REPO, TIME_SERVER, DaemonProcess, clean_env, run_cli, toml_config, wait_for

SDK_CLIENT = REPO / "tests" / "sdk_client.py"
LONG_SESSION = REPO / "tests" / "integration" / "sdk_long_session.py"
SERVERS = {"time": {"command": TIME_SERVER}, "missing": {"command": "/nonexistent/agentdeck-test-server"}}


@pytest.fixture
def daemons(home):
    """Start daemons on ``home`` one after another; each is stopped and checked at the end."""
    started = []

    def start():
        daemon = DaemonProcess(home, toml_config(home, servers=SERVERS))
        started.append(daemon)
        daemon.expect(r"agentdeck .* ready")
        return daemon
    yield start
    for daemon in started:
        if daemon.proc.returncode is None:
            daemon.stop()


def test_list_shows_the_running_and_the_failed_server(home, daemons):
    daemon = daemons()
    wait_for(lambda: daemon.server("time")["state"] == "running", 15, message="time running")
    wait_for(lambda: daemon.server("missing")["state"] == "fatal", 15, message="missing fatal")
    result = run_cli(home, "mcp", "list", config=daemon.config_path)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:] if not line.startswith("missing:")}
    assert rows["time"][1:3] == ["running", str(daemon.server("time")["pid"])]
    assert rows["time"][-1] == str(daemon.socket_path("time"))
    assert rows["missing"][1] == "fatal"
    assert any(line.startswith("missing: ") and "/nonexistent/agentdeck-test-server" in line for line in lines)
    as_json = json.loads(run_cli(home, "mcp", "list", "--json", config=daemon.config_path).stdout)
    assert {s["name"]: s["state"] for s in as_json} == {"time": "running", "missing": "fatal"}
    assert "/nonexistent/agentdeck-test-server" in next(s for s in as_json if s["name"] == "missing")["last_error"]


def test_mcp_json_entry_runs_the_sdk_client_through_the_pool(home, daemons):
    daemon = daemons()
    result = run_cli(home, "mcp", "json", "--transport", "stdio", config=daemon.config_path)
    entry = json.loads(result.stdout)["mcpServers"]["time"]
    sdk = subprocess.run([sys.executable, str(SDK_CLIENT), "get_current_time", '{"timezone": "UTC"}', "--",
                          entry["command"], *entry["args"]], cwd=REPO, env=clean_env(home),
                         capture_output=True, text=True, timeout=60)
    assert sdk.returncode == 0, sdk.stderr
    answer = json.loads(sdk.stdout)
    assert answer["server"] == "mcp-time" and "get_current_time" in answer["tools"]
    assert '"timezone": "UTC"' in answer["text"] and not answer["is_error"]


def test_sdk_session_survives_a_daemon_restart(home, daemons):
    """The bridge reconnects to the new daemon and replays the agent's initialize to its
    never-initialized child, so the agent's session just goes on."""
    daemon = daemons()
    go = home / "go"
    session = subprocess.Popen(
        [sys.executable, str(LONG_SESSION), str(go), "--", sys.executable, "-m", "agentdeck", "bridge", "time",
         "--config", str(daemon.config_path)],
        cwd=REPO, env=clean_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = []
        drain = gevent.spawn(lambda: out.extend(session.stdout))
        wait_for(lambda: out, 30, message="the session's first call")
        assert json.loads(out[0])["step"] == 1
        first_child = daemon.server("time")["pid"]
        daemon.stop()
        restarted = daemons()
        wait_for(lambda: restarted.server("time")["state"] == "running", 15, message="time running again")
        assert restarted.server("time")["pid"] != first_child
        go.touch()
        assert session.wait(timeout=60) == 0, session.stderr.read()
        drain.join(5)
        assert [json.loads(line)["step"] for line in out] == [1, 2]
        assert '"timezone": "UTC"' in json.loads(out[1])["text"]
        stderr = session.stderr.read()
        assert "lost the connection" in stderr and "reconnected" in stderr
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(timeout=10)
