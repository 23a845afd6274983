"""Helpers shared by the tests: short temp homes, a real daemon in a subprocess,
the CLI as a subprocess, and polling against deadlines (never sleep-and-hope)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gevent

REPO = Path(__file__).resolve().parent.parent
TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")  # from the test extra, beside our python
SCRIPTED_SERVER = REPO / "tests" / "scripted_server.py"


def short_tmpdir(prefix="ad-"):
    """A fresh directory under /tmp with a short name (Unix socket paths max 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def polled(predicate, timeout, message, detail=lambda: ""):
    """The tries of ``predicate``: None after each falsy one (the caller waits, its own
    way, and asks again), then its first truthy value; AssertionError after ``timeout``
    seconds, naming ``message`` and ``detail()``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            yield value
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}{detail()}")
        yield None


def wait_for(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    for value in polled(predicate, timeout, message):
        if value:
            return value
        gevent.sleep(interval)


async def until(pilot, predicate, what, timeout=20.0):
    """``wait_for`` for a Textual pilot: poll between the app's own steps, so timers and redraws run.
    20 s by default: a step of the deck may run a CLI command on a loaded machine."""
    for value in polled(predicate, timeout, what, lambda: f"; message: {pilot.app.message!r}"):
        if value:
            return value
        await pilot.pause(0.05)


def toml_config(home, servers=None, pool=None, daemon=None, notify=None):
    """Config text: ``servers`` maps name -> {"command", "args", "env"}."""
    from agentdeck.config import _toml_value, server_toml
    daemon = {"status_listen": "127.0.0.1:0", **(daemon or {})}
    lines = ["[daemon]", f"home = {_toml_value(str(home))}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in daemon.items()]
    lines += ["", "[pool]"] + [f"{k} = {_toml_value(v)}" for k, v in (pool or {}).items()] + [""]
    lines += ["[notify]"] + [f"{k} = {_toml_value(v)}" for k, v in (notify or {}).items()] + [""]
    for name, spec in (servers or {}).items():
        more = {k: v for k, v in spec.items() if k not in ("command", "args", "env")}  # share, cwd, ...
        lines.append(server_toml(name, spec["command"], spec.get("args", ()), spec.get("env"), **more))
    return "\n".join(lines)


def write_hook(home, instance_id, event, **fields):
    """Run the real hook handler in-process for Claude Code hook ``event`` (payload as its
    argument, the Codex convention); returns the status it wrote, or None."""
    from agentdeck.sessions.hook import record_event
    payload = json.dumps({"hook_event_name": event, "session_id": "test-session", **fields})
    return record_event([payload], None, {"AGENTDECK_INSTANCE_ID": instance_id, "AGENTDECK_HOME": str(home)})


def scripted(*args, **env):
    """A server entry running tests/scripted_server.py with the given arguments."""
    return {"command": sys.executable, "args": [str(SCRIPTED_SERVER), *args], "env": env}


def clean_env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTDECK_", "PYTEST_"))}
    env["AGENTDECK_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(home, *args, config=None, timeout=30, input=None, env=None):
    """Run `python -m agentdeck ARGS` to completion; returns CompletedProcess (text)."""
    cmd = [sys.executable, "-m", "agentdeck", *args]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd, cwd=REPO, env=env or clean_env(home), capture_output=True, text=True,
                          timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)


class DaemonProcess:
    """A real `agentdeck serve` in its own process group, its output drained and searchable
    (modelled on locust's TestProcess). ``stderr`` (an fd) takes the daemon's stderr
    instead of the drained output, e.g. the write end of a pipe nobody reads. ``script``
    is what runs it (run.py; a test's launcher may plant a fault first). With
    ``config_text`` None no config is written nor named: the daemon looks for one itself."""

    def __init__(self, home, config_text, extra_args=(), env=None, stderr=subprocess.STDOUT, script=REPO / "run.py"):
        self.home = Path(home)
        self.config_path = self.home / "agentdeck.toml"
        self.home.mkdir(parents=True, exist_ok=True)
        if config_text is not None:
            self.config_path.write_text(config_text)
            extra_args = ("--config", str(self.config_path), *extra_args)
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *extra_args],
            cwd=REPO, env=env or clean_env(self.home), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
        self._drain = gevent.spawn(self._read_output)

    def _read_output(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self):
        return "\n".join(self.lines)

    def expect(self, pattern, timeout=15.0):
        """Wait for an output line matching regex ``pattern``; returns the match."""
        regex = re.compile(pattern)

        def found():
            for line in self.lines:
                m = regex.search(line)
                if m:
                    return m
            if self.proc.poll() is not None and self._drain.dead:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) before {pattern!r}:\n{self.output}")
            return None
        return wait_for(found, timeout, message=f"daemon output {pattern!r}\n--- output:\n{self.output}")

    def info(self):
        """The daemon's runtime file: pid and status URL."""
        path = self.home / "daemon.json"
        wait_for(path.exists, 15, message=f"{path}\n--- output:\n{self.output}")
        return json.loads(path.read_text())

    def status(self):
        from urllib.request import urlopen
        with urlopen(self.info()["status_url"] + "/status", timeout=5) as resp:
            return json.loads(resp.read())

    def server(self, name):
        return next(s for s in self.status()["servers"] if s["name"] == name)

    def restarted(self, name, old_pid):
        """True once server ``name`` runs a child other than ``old_pid``, from one /status
        read (two may see the old child running, then no child at all: pid None)."""
        server = self.server(name)
        return server["state"] == "running" and server["pid"] not in (None, old_pid)

    def socket_path(self, name):
        return self.home / "sockets" / f"mcp-{name}.sock"

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=15.0):
        """SIGTERM, then insist on exit code 0 and no traceback in the output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        self._drain.join(timeout=5)
        assert self.proc.returncode == 0, f"daemon exited {self.proc.returncode}:\n{self.output}"
        assert "Traceback" not in self.output, self.output

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)


def connect_unix(path, timeout=10.0):
    """A client socket connected to ``path``, retrying until the daemon listens."""
    def attempt():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return s
        except OSError:
            s.close()
            return None
    return wait_for(attempt, timeout, message=f"a listener on {path}")


def read_heads(sock, count, timeout):
    """The bytes ``sock`` receives until ``count`` HTTP response heads have arrived (an
    interim 100 Continue and then the answer, say) or the peer closes; each read waits at
    most ``timeout`` seconds (socket.timeout past it)."""
    sock.settimeout(timeout)
    data = b""
    while data.count(b"\r\n\r\n") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class LineClient:
    """A raw JSON-lines client on a Unix socket, with deadlines on every read."""

    def __init__(self, path, timeout=10.0):
        self.sock = connect_unix(path, timeout)
        self.buffer = b""
        self.timeout = timeout

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, message):
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def read_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line within {timeout or self.timeout} s (have {self.buffer[:200]!r})")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("connection closed by the proxy")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def read(self, timeout=None):
        return json.loads(self.read_line(timeout))

    def request(self, id_, method, params=None, timeout=None):
        message = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.read(timeout)

    def initialize(self, id_=0):
        reply = self.request(id_, "initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {"roots": {"listChanged": True}},
            "clientInfo": {"name": "agentdeck-tests", "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def closed(self, timeout=None):
        """True once the proxy has closed this connection (EOF), within the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.buffer += chunk
        return False

    def close(self):
        self.sock.close()


def children_of(ppid, pattern):
    """Pids of ``ppid``'s children whose command line contains ``pattern``."""
    out = subprocess.run(["pgrep", "-P", str(ppid), "-f", pattern], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
