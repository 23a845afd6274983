"""conf/supervisord.conf as shipped, under a real supervisord (from the `test` extra):
agentdeck runs, serves a pooled MCP server, reloads on `signal HUP`, and
`supervisorctl stop` leaves no process and no socket behind.

HOME points at a temporary directory, so the shipped config's ``%(ENV_HOME)s/.agentdeck``
and agentdeck's default home are both in it; PATH starts with this venv's bin, so the
config's ``python run.py`` is this interpreter.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, LineClient, children_of, clean_env, rmtree, scripted, short_tmpdir, toml_config, \
    wait_for

CONF = REPO / "conf" / "supervisord.conf"
BIN = Path(sys.executable).parent
SUPERVISOR_TIMEOUT = 30.0  # seconds for supervisord to start agentdeck, or to stop it


@pytest.fixture
def supervised():
    """A supervisord running the shipped config against a temporary HOME; shut down afterwards."""
    assert (BIN / "supervisord").exists(), f"supervisord is not installed in {BIN}: pip install -e '.[test]'"
    home = short_tmpdir("ad-sv-")
    agentdeck_home = home / ".agentdeck"
    (agentdeck_home / "logs").mkdir(parents=True, mode=0o700)
    (agentdeck_home / "agentdeck.toml").write_text(toml_config(agentdeck_home, servers={"s": scripted()}))
    env = clean_env(agentdeck_home, HOME=home, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    del env["AGENTDECK_HOME"]  # the default, ~/.agentdeck, is what the shipped config expects
    proc = subprocess.Popen([str(BIN / "supervisord"), "--nodaemon", "-c", str(CONF)], env=env, cwd=home,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    run = Supervised(env, agentdeck_home)
    yield run
    run.ctl("shutdown")
    try:
        proc.wait(timeout=SUPERVISOR_TIMEOUT)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        rmtree(home)


class Supervised:
    def __init__(self, env, agentdeck_home):
        self.env = env
        self.agentdeck_home = agentdeck_home

    def ctl(self, *args):
        """(exit code, output) of supervisorctl with the shipped config."""
        proc = subprocess.run([str(BIN / "supervisorctl"), "-c", str(CONF), *args], env=self.env,
                              capture_output=True, text=True, timeout=SUPERVISOR_TIMEOUT)
        return proc.returncode, proc.stdout + proc.stderr

    def state(self):
        """agentdeck's state word in `supervisorctl status` (RUNNING, STOPPED, ...), or None."""
        _, out = self.ctl("status", "agentdeck")
        words = out.split()
        return words[1] if len(words) > 1 and words[0] == "agentdeck" else None

    def log(self):
        path = self.agentdeck_home / "logs" / "supervisord.log"
        return path.read_text() if path.exists() else ""


def test_supervisord_runs_agentdeck_serves_mcp_and_stops_it_leaving_nothing(supervised):
    wait_for(lambda: supervised.state() == "RUNNING", SUPERVISOR_TIMEOUT, interval=0.2,
             message=f"agentdeck RUNNING under supervisord\n{supervised.log()}")
    daemon_json = supervised.agentdeck_home / "daemon.json"
    wait_for(daemon_json.exists, SUPERVISOR_TIMEOUT, message="daemon.json")
    pid = json.loads(daemon_json.read_text())["pid"]
    assert f"pid {pid}," in supervised.ctl("status", "agentdeck")[1]

    socket_path = supervised.agentdeck_home / "sockets" / "mcp-s.sock"
    client = LineClient(socket_path)
    client.initialize()
    reply = client.request(1, "tools/call", {"name": "echo", "arguments": {"text": "via supervisord"}})
    assert reply["result"]["content"][0]["text"] == "via supervisord"
    children = children_of(pid, "scripted_server")
    assert len(children) == 1

    code, out = supervised.ctl("signal", "HUP", "agentdeck")
    assert code == 0, out
    assert client.request(2, "ping")["result"] == {}, "a reload keeps an untouched server's clients"

    code, out = supervised.ctl("stop", "agentdeck")
    assert code == 0 and "agentdeck: stopped" in out, out
    assert supervised.state() == "STOPPED"
    assert "stopped: agentdeck (exit status 0)" in supervised.log()
    assert client.closed(timeout=5)
    for gone in (pid, *children):
        assert not os.path.exists(f"/proc/{gone}"), f"process {gone} outlived the stop"
    assert os.listdir(supervised.agentdeck_home / "sockets") == []
    assert not daemon_json.exists()
    client.close()
