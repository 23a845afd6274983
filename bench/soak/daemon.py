"""The daemon under soak: its home, its config (and the two changed configs sent with
SIGHUP), the process itself with its stderr in a pipe that the soak reads, slowly for
one stretch, and the checks of an ordered stop."""
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agentdeck.wire.hello import project_key

from soak.common import MiB, descendants, process_table

REPO = Path(__file__).resolve().parents[2]
SCRIPTED = [sys.executable, str(REPO / "tests" / "scripted_server.py")]
TIME_SERVER = os.path.join(os.path.dirname(sys.executable), "mcp-server-time")
STOP_LIMIT = 10.0  # seconds SIGTERM may take (README, "Stopping")
# Limits of the soak's config: calls go up to 5 MiB each way, the fault "oversize" sends
# a line over max_response_bytes; the first reload raises max_request_bytes. Every call
# fits under the first limit too, so the load is the same all along and RSS levels of
# different minutes can be compared (with 4 MiB, the raise let more large calls through).
MAX_REQUEST_BYTES = 6 * MiB
RAISED_MAX_REQUEST_BYTES = 8 * MiB
MAX_RESPONSE_BYTES = 6 * MiB


HTTP_PROJECTS = ("http-a", "http-b")  # project directories HTTP clients name on the project server
PROJECT_IDLE_STOP = 3  # seconds: a project child without clients stops before the next wave settles


def share_supported():
    """True once the config takes ``share = "all" | "project" | "session"`` per server."""
    from agentdeck.config import SERVER_SETTINGS
    return any(s.key == "share" for s in SERVER_SETTINGS)


def servers(stage):
    """name -> (command list, share or None) for config ``stage`` 0, 1 or 2.

    ``probe`` serves only the latency probe (never faulted); ``shared`` (share all),
    ``project``/``session`` (when scopes exist) and ``time`` take the clients and the
    faults; ``spare`` is removed by the first reload and ``extra`` added (the second
    reload swaps them back)."""
    scoped = share_supported()
    table = {"probe": (SCRIPTED, "all" if scoped else None), "shared": (SCRIPTED, "all" if scoped else None),
             "time": ([TIME_SERVER], None)}
    if scoped:
        table["project"] = (SCRIPTED, "project")
        table["session"] = (SCRIPTED, "session")
    table["spare" if stage != 1 else "extra"] = (SCRIPTED, None)
    return table


def standing_children(stage):
    """How many children run with no client at all: one per server shared by all (project
    children stop after PROJECT_IDLE_STOP, session children with their client)."""
    return sum(1 for _, share in servers(stage).values() if share in (None, "all"))


def client_servers():
    """The servers clients load and faults hit (scripted ones speak our test tools)."""
    return [name for name in ("shared", "project", "session") if name in servers(0)]


def config_text(home, stage):
    from agentdeck.config import _toml_value
    limit = MAX_REQUEST_BYTES if stage == 0 else RAISED_MAX_REQUEST_BYTES
    lines = ["[daemon]", f"home = {_toml_value(str(home))}", 'status_listen = "127.0.0.1:0"',
             'log_level = "INFO"', "", "[pool]", f"max_request_bytes = {limit}",
             f"max_response_bytes = {MAX_RESPONSE_BYTES}", "max_clients = 150",
             "idle_timeout = 30", "http_session_idle = 20", "ping_interval = 4", "ping_timeout = 3",
             "client_queue_bytes = 33554432", "", "[notify]", ""]
    for name, (command, share) in servers(stage).items():
        lines += [f"[mcp.{name}]", f"command = {_toml_value(command[0])}", f"args = {_toml_value(command[1:])}"]
        if share:
            lines.append(f"share = {_toml_value(share)}")
        if share == "project":
            lines.append(f"idle_stop = {PROJECT_IDLE_STOP}")  # its children leave between waves
        lines.append("")
    return "\n".join(lines)


def clean_env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTDECK_", "PYTEST_"))}
    env.update(AGENTDECK_HOME=str(home), AGENTDECK_CONFIG=str(home / "agentdeck.toml"), PYTHONUNBUFFERED="1",
               AGENTDECK_TMUX_SOCKET=str(home / "tmux.sock"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


class SoakDaemon:
    """`python run.py` in its own process group, in a fresh home under /tmp."""

    def __init__(self, run):
        self.run = run
        self.home = Path(tempfile.mkdtemp(prefix="soak-", dir="/tmp"))
        self.config = self.home / "agentdeck.toml"
        self.env = clean_env(self.home)
        self.proc = None
        self.stage = 0  # the config stage in force (0 at start, then 1 and 2 after each SIGHUP)
        self.stderr_lines = 0
        self.stderr_tail = collections.deque(maxlen=200)  # the last chunks of its stderr, for a post-mortem
        self.slow_until = 0.0  # monotonic time until which stderr is read slowly
        self.temp_before = set(os.listdir(tempfile.gettempdir()))

    def cli(self, *args, timeout=60, input=None):
        """`python -m agentdeck ARGS` to completion (text)."""
        return subprocess.run([sys.executable, "-m", "agentdeck", *args], cwd=REPO, env=self.env, input=input,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def start(self):
        self.config.write_text(config_text(self.home, 0))
        self.proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(self.config)],
                                     cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=self._read_stderr, daemon=True).start()
        info = self.home / "daemon.json"
        deadline = time.monotonic() + 30
        while not info.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start (exit {self.proc.poll()}); see {self.home}/logs")
            time.sleep(0.05)
        import json
        self.url = json.loads(info.read_text())["status_url"]
        self.pid = self.proc.pid

    def mcp_url(self, server, rng):
        """The URL of ``server`` for an HTTP client; a project server's names one of
        HTTP_PROJECTS (the bridges run in the repository, a project of its own)."""
        if server != "project":
            return f"{self.url}/mcp/{server}"
        project = self.home / "projects" / rng.choice(HTTP_PROJECTS)
        project.mkdir(parents=True, exist_ok=True)
        return f"{self.url}/mcp/project/p/{project_key(str(project.resolve()))}"

    def _read_stderr(self):
        """Read the daemon's stderr; while ``slow_until`` is ahead, 512 bytes a second."""
        fd = self.proc.stderr.fileno()
        while True:
            slow = time.monotonic() < self.slow_until
            data = os.read(fd, 512 if slow else 65536)
            if not data:
                return
            self.stderr_lines += data.count(b"\n")
            self.stderr_tail.append(data)
            if slow:
                time.sleep(1.0)

    def read_stderr_slowly(self, seconds):
        self.run.note(f"stderr read slowly (512 B/s) for {seconds:.0f} s")
        self.slow_until = time.monotonic() + seconds

    @property
    def request_limit(self):
        """max_request_bytes of the config in force."""
        return MAX_REQUEST_BYTES if self.stage == 0 else RAISED_MAX_REQUEST_BYTES

    def reload(self, stage):
        self.stage = stage
        self.config.write_text(config_text(self.home, stage))
        self.proc.send_signal(signal.SIGHUP)
        self.run.note(f"SIGHUP with config stage {stage}: servers {sorted(servers(stage))}")

    def socket(self, name):
        return self.home / "sockets" / f"mcp-{name}.sock"

    def stderr_text(self):
        return b"".join(self.stderr_tail).decode(errors="replace")

    def daemon_log(self):
        path = self.home / "logs" / "daemon.log"
        parts = sorted(path.parent.glob("daemon*.log*"), key=lambda p: p.stat().st_mtime)
        return "\n".join(p.read_text(errors="replace") for p in parts)

    def stop(self):
        """SIGTERM; returns (exit code, seconds taken, leftovers: list of texts)."""
        tree_before = descendants(self.pid)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        time.sleep(0.5)
        table = process_table()
        left = [f"process {pid} ({cmd[:80]}) outlived the daemon" for pid, (_, cmd) in tree_before.items()
                if pid in table and table[pid][2] == cmd]
        left += [f"socket file {p} left" for p in (self.home / "sockets").glob("*")]
        if (self.home / "daemon.json").exists():
            left.append("daemon.json left")
        # Temp files: the daemon's atomic writes (".NAME.*.tmp" beside the target) and anything
        # named for agentdeck in /tmp (other programs' temp files are not ours to judge).
        left += [f"temp file {p} left" for p in self.home.rglob(".*.tmp")]
        left += [f"temp file {n} left" for n in set(os.listdir(tempfile.gettempdir())) - self.temp_before
                 if n.startswith("agentdeck")]
        if code is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        return code, took, left

    def cleanup(self, keep):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass
        subprocess.run(["tmux", "-S", str(self.home / "tmux.sock"), "kill-server"], capture_output=True)
        if not keep:
            shutil.rmtree(self.home, ignore_errors=True)
