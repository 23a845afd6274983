"""What a child of a server shared per project costs the daemon (not the child itself).

Run by hand (not in CI), from the repository root:

    .venv/bin/python bench/share_bench.py            # 50 live children, 1,000 cycles
    .venv/bin/python bench/share_bench.py --quick    # 10 and 100, a smoke test

It starts a real `agentdeck serve` with two ``share = "project"`` servers running
bench/echo_server.py, and plain blocking socket clients (no gevent) that say hello from
a project directory as the bridge does, then prints:
  - the daemon's RSS per live project child (its unit: router, supervisor, pipes, log
    sink, handshake cache), the clients gone: (RSS with N children - RSS with none) / N;
  - the daemon's RSS growth over 1,000 project children started and stopped (connect
    with a hello from a new directory, initialize, one call, disconnect; the child is
    stopped by ``idle_stop``), after a warm-up of 100. Bound: 1 MiB. gevent keeps the
    exit status of every reaped child for 60 s (`gevent.os._watched_children`, pruned at
    the next child exit after that), so at this bench's rate of about 20 children a
    second it holds about 1,200 of them: both readings are taken once that cache has
    expired (61 s without a child exit, then one more child), and the growth right after
    the run is printed too.
The child processes are never counted: their RSS is theirs.

What the growth is (measured in-process, 2,400 project children without clients, RSS
every 400: +0.17 KiB per child, all of it given back by glibc's ``malloc_trim(0)``;
tracemalloc over 600 and over 1,500 children: the same ~126 KiB of live Python objects,
gevent's and loguru's, not growing with the count): heap the allocator keeps after
the objects are freed, not bookkeeping that stays alive.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pool_bench import stop_daemon  # bench/ is the script's own directory

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agentdeck.wire.hello import hello_line  # noqa: E402  (standard library only)

ECHO = [sys.executable, str(REPO / "bench" / "echo_server.py")]
KiB, MiB = 1024, 1024 * 1024
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}
GROWTH_BOUND = MiB
GEVENT_CHILD_CACHE = 60  # seconds gevent keeps a reaped child's exit status


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KiB
    raise KeyError("VmRSS")


def children(pid):
    """Pids of the daemon's child processes (its MCP children)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def server_table(name, idle_stop, max_children):
    return (f"[mcp.{name}]\ncommand = {json.dumps(ECHO[0])}\nargs = {json.dumps(ECHO[1:])}\n"
            f'share = "project"\nidle_stop = {idle_stop}\nmax_children = {max_children}\n')


class Daemon:
    def __init__(self, live):
        self.home = Path(tempfile.mkdtemp(prefix="adsb-", dir="/tmp"))
        (self.home / "agentdeck.toml").write_text(
            f'[daemon]\nhome = "{self.home}"\nstatus_listen = ""\nlog_level = "WARNING"\n[pool]\n'
            + server_table("kept", 600, live + 1) + server_table("cycled", 0.2, 64))
        self.proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(self.home / "agentdeck.toml")],
                                     env={**os.environ, "AGENTDECK_HOME": str(self.home), "PYTHONPATH": str(REPO)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        while not (self.home / "daemon.json").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the daemon did not come up")
            time.sleep(0.05)

    def socket(self, name):
        return str(self.home / "sockets" / f"mcp-{name}.sock")

    def stop(self):
        stop_daemon(self.proc, self.home, timeout=30)


def session(path, project):
    """Connect with a hello from ``project``, initialize, make one call, hang up."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    sock.sendall(hello_line(project) + json.dumps(INIT).encode() + b"\n" + json.dumps(CALL).encode() + b"\n")
    buffer = b""
    while buffer.count(b"\n") < 2:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit(f"the daemon closed the connection: {buffer[:300]!r}")
        buffer += chunk
    answers = [json.loads(line) for line in buffer.splitlines()]
    if any("error" in a for a in answers):
        raise SystemExit(f"refused: {answers}")
    sock.close()


def settled_rss(daemon, expected_children, timeout=60):
    """The daemon's RSS once it runs ``expected_children`` children and is quiet."""
    deadline = time.monotonic() + timeout
    while len(children(daemon.pid)) != expected_children:
        if time.monotonic() > deadline:
            raise SystemExit(f"expected {expected_children} children, have {len(children(daemon.pid))}")
        time.sleep(0.05)
    time.sleep(0.5)
    samples = []
    for _ in range(5):
        samples.append(rss(daemon.pid))
        time.sleep(0.1)
    return sorted(samples)[len(samples) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cycles", type=int, default=1000, help="project children started and stopped (measured)")
    args = parser.parse_args()
    live, warmup, cycles = (10, 20, 100) if args.quick else (50, 100, args.cycles)
    root = Path(tempfile.mkdtemp(prefix="adsb-projects-", dir="/tmp"))
    daemon = Daemon(live)
    try:
        dirs = []
        for n in range(max(live, warmup + cycles)):
            (root / f"p{n}").mkdir()
            dirs.append(str(root / f"p{n}"))
        # Warm the code paths (imports, first log records) with one child of each server.
        session(daemon.socket("kept"), dirs[0])
        session(daemon.socket("cycled"), dirs[0])
        base = settled_rss(daemon, 1)
        for d in dirs[1:live + 1] if live + 1 <= len(dirs) else dirs[1:]:
            session(daemon.socket("kept"), d)
        count = len(children(daemon.pid))
        with_live = settled_rss(daemon, count)
        per_child = (with_live - base) / max(count - 1, 1)
        print(f"RSS per live project child (daemon side): {per_child / KiB:.1f} KiB "
              f"({count - 1} children: {base / MiB:.1f} -> {with_live / MiB:.1f} MiB)")

        def run(some):
            for d in some:
                session(daemon.socket("cycled"), d)
                # Never more than a few at once: the next one waits for idle_stop to catch up.
                while len(children(daemon.pid)) > count + 8:
                    time.sleep(0.02)
        def expired_rss():
            """RSS once gevent's 60 s cache of dead children's statuses is pruned."""
            time.sleep(GEVENT_CHILD_CACHE + 1)
            run(dirs[:1])  # a child exit prunes the cache
            return settled_rss(daemon, count)
        started = time.monotonic()
        run(dirs[:warmup])
        before = expired_rss()
        run(dirs[warmup:warmup + cycles])
        took = time.monotonic() - started
        right_after = settled_rss(daemon, count)
        after = expired_rss()
        growth = after - before
        verdict = "ok" if growth <= GROWTH_BOUND else f"OVER the {GROWTH_BOUND // KiB} KiB bound"
        print(f"RSS growth over {cycles} project children started and stopped (after {warmup} warm-up): "
              f"{growth / KiB:+.1f} KiB ({before / MiB:.1f} -> {after / MiB:.1f} MiB), {verdict}; right after the "
              f"run, with gevent's dead-child cache full: {(right_after - before) / KiB:+.1f} KiB; "
              f"{took / (warmup + cycles) * 1000:.0f} ms per child")
        return 0 if growth <= GROWTH_BOUND else 1
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
