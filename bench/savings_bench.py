"""What agentdeck saves: the memory of N agent sessions' MCP servers, three ways.

Run by hand (not in CI), from the repository root:

    .venv/bin/python bench/savings_bench.py              # 10 sessions
    .venv/bin/python bench/savings_bench.py --sessions 4 # fewer, quicker

Every session uses the same three everyday servers: ``mcp-server-time`` (Python, PyPI),
``@modelcontextprotocol/server-everything`` and ``@modelcontextprotocol/server-filesystem``
(node, npm; installed once under tests/artifacts/node). Each session opens all three,
initializes them and lists their tools, and holds them open while memory is read:

  - directly: each session starts its own three servers (what an agent does without
    agentdeck): 3 N server processes;
  - over HTTP: one agentdeck daemon with its three pooled children; a session is an HTTP
    session at ``/mcp/NAME`` and costs no process;
  - through bridges: the same daemon, and 3 N ``agentdeck bridge NAME`` processes.

Memory is PSS (``/proc/PID/smaps_rollup``: shared pages split among the processes that map
them), summed over every process involved and its descendants. The agents themselves are
not counted: they are the same in all three. The baseline of the ratios is the direct
run, measured in the same run.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.everything import NODE_DIR, server_everything  # noqa: E402

MiB = 1024 * 1024
FILESYSTEM = "@modelcontextprotocol/server-filesystem"
FILESYSTEM_ENTRY = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
READY_TIMEOUT = 60   # seconds for a server to answer initialize and tools/list
SETTLE = 3.0         # seconds after the last session opened before memory is read
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "savings-bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def servers(work):
    """{name: (command, args)} of the three servers; exits with the reason if npm cannot install them."""
    everything, why = server_everything()
    if everything is None:
        sys.exit(f"savings_bench: {why}")
    if not FILESYSTEM_ENTRY.exists():
        subprocess.run(["npm", "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", FILESYSTEM],
                       check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    time_server = shutil.which("mcp-server-time") or str(Path(sys.executable).parent / "mcp-server-time")
    return {"time": (time_server, []),
            "everything": (everything["command"], everything["args"]),
            "filesystem": (shutil.which("node"), [str(FILESYSTEM_ENTRY), str(work)])}


def pss(pid):
    """PSS of one process in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree(roots):
    """The pids of ``roots`` and all their descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


class StdioSession:
    """One MCP conversation over a child's stdin/stdout: a server started directly, or a bridge."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        for message in (INIT, INITIALIZED, LIST):
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def ready(self, deadline):
        """Wait for the tools/list answer; the number of tools."""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.proc.args[0]} closed its stdout")
            message = json.loads(line)
            if message.get("id") == 2:
                return len(message["result"]["tools"])
        raise RuntimeError(f"{self.proc.args[0]}: no tools/list answer in {READY_TIMEOUT} s")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class HttpSession:
    """One MCP Streamable HTTP session on the daemon (no process of its own)."""

    def __init__(self, host, port, name):
        self.conn = http.client.HTTPConnection(host, port, timeout=READY_TIMEOUT)
        self.path = f"/mcp/{name}"
        self.sid = None
        self.headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    def post(self, message):
        headers = dict(self.headers, **({"Mcp-Session-Id": self.sid} if self.sid else {}))
        self.conn.request("POST", self.path, json.dumps(message), headers)
        resp = self.conn.getresponse()
        body = resp.read()
        self.sid = self.sid or resp.getheader("Mcp-Session-Id")
        if resp.status >= 300:
            raise RuntimeError(f"{self.path}: HTTP {resp.status}: {body[:200]!r}")
        if resp.getheader("Content-Type", "").startswith("text/event-stream"):
            body = next(line[5:] for line in body.splitlines() if line.startswith(b"data:"))
        return json.loads(body) if body else None

    def ready(self, deadline):
        self.post(INIT)
        self.post(INITIALIZED)
        return len(self.post(LIST)["result"]["tools"])

    def close(self):
        self.conn.request("DELETE", self.path, headers={"Mcp-Session-Id": self.sid})
        self.conn.getresponse().read()
        self.conn.close()


class Daemon:
    """A real `agentdeck serve` pooling the three servers, on a loopback port of its own."""

    def __init__(self, home, table):
        entries = "".join(f"[mcp.{name}]\ncommand = {json.dumps(cmd)}\nargs = {json.dumps(args)}\n"
                          for name, (cmd, args) in table.items())
        config = home / "agentdeck.toml"
        config.write_text(f'[daemon]\nhome = "{home}"\nstatus_listen = "127.0.0.1:0"\nlog_level = "WARNING"\n'
                          f"[pool]\nmax_clients = 200\n{entries}")
        self.home = home
        self.env = {**os.environ, "AGENTDECK_HOME": str(home), "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(config)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        info = home / "daemon.json"
        while not info.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the daemon did not start")
            time.sleep(0.1)
        self.host, self.port = json.loads(info.read_text())["status_url"].rsplit("/", 1)[-1].rsplit(":", 1)
        self.port = int(self.port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def measure(sessions, roots):
    """(PSS in bytes summed over ``roots`` and their descendants, number of processes), once every
    session answered and the processes settled."""
    deadline = time.monotonic() + READY_TIMEOUT
    tools = [s.ready(deadline) for s in sessions]
    time.sleep(SETTLE)
    pids = tree(roots())
    return sum(pss(pid) for pid in pids), len(pids), sum(tools)


def run(way, n, table, work):
    home = Path(tempfile.mkdtemp(prefix="adsv-", dir="/tmp"))
    daemon = None
    sessions = []
    try:
        if way == "direct":
            sessions = [StdioSession([cmd, *args]) for _ in range(n) for cmd, args in table.values()]
            roots = lambda: [s.proc.pid for s in sessions]  # noqa: E731
        else:
            daemon = Daemon(home, table)
            if way == "http":
                sessions = [HttpSession(daemon.host, daemon.port, name) for _ in range(n) for name in table]
                roots = lambda: [daemon.proc.pid]  # noqa: E731
            else:
                bridge = [sys.executable, "-m", "agentdeck", "bridge"]
                sessions = [StdioSession([*bridge, name], env=daemon.env) for _ in range(n) for name in table]
                roots = lambda: [daemon.proc.pid, *(s.proc.pid for s in sessions)]  # noqa: E731
        return measure(sessions, roots)
    finally:
        for s in sessions:
            s.close()
        if daemon:
            daemon.stop()
        shutil.rmtree(home, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10, help="agent sessions (default 10)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adsv-fs-", dir="/tmp"))
    try:
        table = servers(work)
        print(f"{args.sessions} sessions, each using {', '.join(table)}; PSS of every process involved")
        base = None
        for way, label in (("direct", "each session starts its own servers"),
                           ("http", "through agentdeck over HTTP"),
                           ("bridge", "through agentdeck over the bridge")):
            total, procs, tools = run(way, args.sessions, table, work)
            base = base or total
            print(f"  {label:38} {total / MiB:8.1f} MiB in {procs:3} processes "
                  f"({total / base:.2f}x direct; {tools} tools listed)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
