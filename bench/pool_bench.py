"""Benchmark the MCP pool against a baseline measured in the same run.

Run by hand (not in CI), from the repository root:

    .venv/bin/python bench/pool_bench.py            # full run, about two minutes
    .venv/bin/python bench/pool_bench.py --quick    # smaller counts, for a smoke test
    .venv/bin/python bench/pool_bench.py --compare HEAD~1   # that commit's daemon and this one, interleaved

It starts a real `agentdeck serve` pooling bench/echo_server.py twice: as a 2025 server
(echo) and as a 2026-07-28 one (echo26, ``--modern``), and prints:
  - round-trip p50/p99 of a small tools/call and of a 100 KiB one, through the pool and
    written straight to the same server's stdin, with the added latency and the ratio;
    then of a small call for each pair of client era and child era (a 2025 client sends
    bare requests, a 2026-07-28 one carries the ``_meta`` envelope in every request and
    never initializes; where the eras differ the pool translates);
  - requests/s with 1, 10 and 100 concurrent clients, and the daemon's CPU per request
    (utime+stime from /proc/PID/stat over the window), for each pair of eras;
  - daemon RSS per idle client and per client after a request (2025: initialize and a
    call; 2026-07-28: one call), for each pair of eras; RSS growth over
    connect/initialize/call/disconnect cycles after a warm-up; RSS growth (peak and
    after) while 20 clients each send a 16 MiB line at once.
The load generator is plain blocking Python (no gevent) so it measures the daemon only.
With ``--compare REV`` a daemon built from REV's tree runs beside this one and every
figure is measured for both, interleaved (request by request for latency, run by run
for the rest), so both see the same machine.
"""
import argparse
import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ECHO = [sys.executable, str(REPO / "bench" / "echo_server.py")]
CLK_TCK = os.sysconf("SC_CLK_TCK")
KiB, MiB = 1024, 1024 * 1024
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {},
               "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}}
# (client era, child era) -> (the pooled server, whether the client speaks 2026-07-28)
ERAS = {"2025 -> 2025 child": ("echo", False), "2026 -> 2025 child": ("echo", True),
        "2025 -> 2026 child": ("echo26", False), "2026 -> 2026 child": ("echo26", True)}
SAME_ERAS = "2025 -> 2025 child"  # what every pair is compared with: no translation, as before


def call_line(id_, text, modern=False):
    params = {"name": "echo", "arguments": {"text": text}}
    if modern:
        params["_meta"] = MODERN_META
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params}).encode() + b"\n"


# -- /proc readings ---------------------------------------------------------------------

def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * KiB
    raise KeyError(field)


def rss(pid):
    return proc_status(pid, "VmRSS")


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


# -- the daemon -------------------------------------------------------------------------

@contextlib.contextmanager
def source_tree(rev):
    """REV's files (git archive) in a temporary directory."""
    path = Path(tempfile.mkdtemp(prefix="adrev-", dir="/tmp"))
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive, check=True)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def stop_daemon(proc, home, timeout=15):
    """SIGTERM a benchmark's daemon (its process group SIGKILLed if it takes longer than
    ``timeout`` seconds) and remove its home."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    shutil.rmtree(home, ignore_errors=True)


class Daemon:
    def __init__(self, repo=REPO, **pool):
        self.home = Path(tempfile.mkdtemp(prefix="adb-", dir="/tmp"))
        pool_lines = "\n".join(f"{k} = {v}" for k, v in pool.items())
        servers = "".join(f"[mcp.{name}]\ncommand = {json.dumps(cmd[0])}\nargs = {json.dumps(cmd[1:])}\n"
                          for name, cmd in (("echo", ECHO), ("echo26", [*ECHO, "--modern"])))
        (self.home / "agentdeck.toml").write_text(
            f'[daemon]\nhome = "{self.home}"\nstatus_listen = ""\nlog_level = "WARNING"\n'
            f"[pool]\n{pool_lines}\n{servers}")
        self.proc = subprocess.Popen([sys.executable, str(repo / "run.py"), "--config", str(self.home / "agentdeck.toml")],
                                     env={**os.environ, "AGENTDECK_HOME": str(self.home), "PYTHONPATH": str(repo)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.socket = str(self.home / "sockets" / "mcp-echo.sock")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                probe = Conn(self.socket)
                probe.roundtrip(json.dumps(INIT).encode() + b"\n")
                probe.close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("the daemon did not come up")
        self.pid = self.proc.pid
        self.modern = self._serves_modern()

    def path(self, server):
        return str(self.home / "sockets" / f"mcp-{server}.sock")

    def _serves_modern(self):
        """Whether this daemon speaks 2026-07-28 to clients (a --compare REV may not): a
        modern client's result carries resultType, which the 2025 echo never writes."""
        conn = Conn(self.socket)
        try:
            return b'"resultType"' in conn.roundtrip(call_line(1, "probe", modern=True))
        finally:
            conn.close()

    def stop(self):
        stop_daemon(self.proc, self.home)


class Conn:
    """A blocking JSON-lines client."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:  # listen backlog full for a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
        self.buffer = b""

    def read_line(self):
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line, self.buffer = self.buffer[:newline], self.buffer[newline + 1:]
                return line
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk

    def roundtrip(self, line):
        self.sock.sendall(line)
        return self.read_line()

    def close(self):
        self.sock.close()


# -- measurements -----------------------------------------------------------------------

class Pipe:
    """The echo server on our own pipes: the baseline with no proxy at all."""

    def __init__(self):
        self.child = subprocess.Popen(ECHO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def roundtrip(self, line):
        self.child.stdin.write(line)
        self.child.stdin.flush()
        return self.child.stdout.readline()

    def close(self):
        self.child.stdin.close()
        self.child.wait()


@contextlib.contextmanager
def raw_relay():
    """bench/raw_relay.py (a gevent relay that parses nothing) on a socket: this machine's
    floor for any gevent proxy; yields its socket path."""
    path = tempfile.mktemp(prefix="adr-", suffix=".sock", dir="/tmp")
    relay = subprocess.Popen([sys.executable, str(REPO / "bench" / "raw_relay.py"), path],
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise SystemExit("raw relay did not start")
            time.sleep(0.05)
        yield path
    finally:
        relay.kill()
        relay.wait()
        os.unlink(path)


def latencies(daemons, text, count):
    """Round-trip times of a tools/call straight to the server's stdin, through the
    no-parse relay and through each daemon's pool, interleaved request by request so that
    drift and noise on this machine hit them all alike."""
    with raw_relay() as relay_path:
        peers = {"direct": Pipe(), "floor": Conn(relay_path), **{name: Conn(d.socket) for name, d in daemons.items()}}
        times = {name: [] for name in peers}
        for peer in peers.values():
            peer.roundtrip(json.dumps(INIT).encode() + b"\n")
        for i in range(count):
            line = call_line(i + 1, text)
            for name, peer in peers.items():
                start = time.perf_counter()
                peer.roundtrip(line)
                times[name].append(time.perf_counter() - start)
        for peer in peers.values():
            peer.close()
    return times


def era_latencies(daemons, count):
    """Round-trip times of a small tools/call for each daemon and pair of eras (ERAS),
    interleaved request by request."""
    peers = {(name, eras): (Conn(d.path(server)), modern) for name, d in daemons.items() if d.modern
             for eras, (server, modern) in ERAS.items()}
    for conn, modern in peers.values():
        if not modern:
            conn.roundtrip(json.dumps(INIT).encode() + b"\n")
    times = {key: [] for key in peers}
    for i in range(count):
        for key, (conn, modern) in peers.items():
            line = call_line(i + 1, "hello", modern)
            start = time.perf_counter()
            conn.roundtrip(line)
            times[key].append(time.perf_counter() - start)
    for conn, _ in peers.values():
        conn.close()
    return times


def throughput(daemon, clients, seconds, server="echo", modern=False):
    """Each client keeps one request in flight; returns (requests/s, daemon CPU µs per request)."""
    selector = selectors.DefaultSelector()
    conns = [Conn(daemon.path(server)) for _ in range(clients)]
    line = call_line(1, "hello", modern)
    for conn in conns:
        conn.sock.setblocking(False)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        conn.sock.sendall(line)
    done = 0
    cpu_start, start = cpu_seconds(daemon.pid), time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for key, _ in selector.select(timeout=1):
            conn = key.data
            conn.buffer += conn.sock.recv(65536)
            replies = conn.buffer.count(b"\n")
            if replies:
                conn.buffer = conn.buffer[conn.buffer.rfind(b"\n") + 1:]
                done += replies
                conn.sock.sendall(line * replies)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(daemon.pid) - cpu_start
    for conn in conns:
        selector.unregister(conn.sock)
        conn.close()
    return done / elapsed, cpu / max(done, 1) * 1e6


def settle(pid, seconds=1.0):
    time.sleep(seconds)
    return rss(pid)


def idle_client_cost(daemon, clients, server="echo", modern=False):
    """RSS per client connected and idle, and per client after a request (a 2025 client:
    initialize and a call; a 2026-07-28 one: a call, its first line)."""
    base = settle(daemon.pid)
    conns = [Conn(daemon.path(server)) for _ in range(clients)]
    idle = settle(daemon.pid)
    for conn in conns:
        if not modern:
            conn.roundtrip(json.dumps(INIT).encode() + b"\n")
        conn.roundtrip(call_line(1, "x", modern))
    used = settle(daemon.pid)
    for conn in conns:
        conn.close()
    return (idle - base) / clients, (used - base) / clients


def churn(pid, warmup, cycles, once):
    """RSS growth of ``pid`` over ``cycles`` calls of ``once(i)`` after ``warmup`` of them."""
    for i in range(warmup):
        once(i)
    before = settle(pid)
    for i in range(cycles):
        once(i)
    return settle(pid) - before


def socket_cycle(daemon):
    """One connect/initialize/call/disconnect on the pool's socket, for `churn`."""
    def once(i):
        conn = Conn(daemon.socket)
        conn.roundtrip(json.dumps(INIT).encode() + b"\n")
        conn.roundtrip(call_line(i, "churn"))
        conn.close()
    return once


def flood(daemon, clients, size):
    """``clients`` threads each send one ``size``-byte line at once; every one must get -32002."""
    before = settle(daemon.pid)
    reset_peak(daemon.pid)
    conns = [Conn(daemon.socket) for _ in range(clients)]
    head = b'{"jsonrpc":"2.0","id":"flood","method":"tools/call","params":{"name":"echo","arguments":{"text":"'
    body = b"x" * (size - len(head) - 5) + b'"}}}\n'
    codes = []

    def send(conn):
        conn.sock.sendall(head)
        conn.sock.sendall(body)
        codes.append(json.loads(conn.read_line())["error"]["code"])
    threads = [threading.Thread(target=send, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    peak = proc_status(daemon.pid, "VmHWM")
    for conn in conns:
        conn.close()
    assert codes == [-32002] * clients, codes
    return peak - before, settle(daemon.pid) - before


def fmt_us(seconds):
    return f"{seconds * 1e6:8.1f} µs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke test)")
    parser.add_argument("--compare", metavar="REV", help="also measure the daemon of git revision REV, interleaved")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        trees = {"this": REPO}
        if args.compare:
            trees[args.compare] = stack.enter_context(source_tree(args.compare))
        run(trees, args.quick)


def run(trees, quick):
    n_lat = 500 if quick else 3000
    seconds = 1.0 if quick else 3.0
    idle_n = 200 if quick else 1000
    rounds = 2 if len(trees) > 1 else 1  # alternate the daemons run by run
    daemons = {}
    try:
        for name, tree in trees.items():
            daemons[name] = Daemon(tree, max_clients=idle_n + 50, max_request_bytes=MiB, max_response_bytes=16 * MiB)
        print(f"agentdeck pool benchmark ({'quick' if quick else 'full'}): "
              + ", ".join(f"{name} pid {d.pid}" for name, d in daemons.items()))
        print("\nround trip of tools/call (echo server), pool vs. the server's stdin directly (interleaved)")
        for label, text in (("small", "hello"), ("100 KiB", "x" * (100 * KiB))):
            times = latencies(daemons, text, n_lat)
            direct, floor = times["direct"], times["floor"]
            d50, f50 = statistics.median(direct), statistics.median(floor)
            print(f"  {label:8} direct p50 {fmt_us(d50)} p99 {fmt_us(percentile(direct, 99))} | floor (a gevent "
                  f"relay with no parsing) adds {fmt_us(f50 - d50)} p50")
            for name in daemons:
                pooled = times[name]
                p50 = statistics.median(pooled)
                print(f"  {name:>8} pool p50 {fmt_us(p50)} p99 {fmt_us(percentile(pooled, 99))} | "
                      f"added p50 {fmt_us(p50 - d50)} | ratio {p50 / d50:.2f}x | pool minus floor {fmt_us(p50 - f50)}")
        times = era_latencies(daemons, n_lat)
        if times:
            print("\nround trip of a small tools/call by client era -> child era (interleaved)")
        for (name, eras), pooled in times.items():
            same = statistics.median(times[name, SAME_ERAS])
            p50 = statistics.median(pooled)
            print(f"  {name:>8} {eras}: p50 {fmt_us(p50)} p99 {fmt_us(percentile(pooled, 99))} | "
                  f"{p50 / same:.2f}x {SAME_ERAS}")

        print("\nthroughput (one request in flight per client), by client era -> child era")
        runs_of = {(name, eras): ERAS[eras] for name, d in daemons.items()
                   for eras in (ERAS if d.modern else (SAME_ERAS,))}
        for clients in (1, 10, 100):
            results = {key: [] for key in runs_of}
            for _ in range(rounds):
                for (name, eras), (server, modern) in runs_of.items():
                    results[name, eras].append(throughput(daemons[name], clients, seconds, server, modern))
            for (name, eras), runs in results.items():
                rate = statistics.mean(r for r, _ in runs)
                cpu_us = statistics.mean(c for _, c in runs)
                spread = (max(r for r, _ in runs) - min(r for r, _ in runs)) / rate * 100
                same = statistics.mean(r for r, _ in results[name, SAME_ERAS])
                print(f"  {name:>8} {eras} {clients:3} clients: {rate:9.0f} req/s (spread {spread:4.1f}%), "
                      f"daemon CPU {cpu_us:6.1f} µs/request | {rate / same:4.2f}x {SAME_ERAS}")

        print("\nmemory (daemon RSS)")
        warm, cycles = (100, 1000) if quick else (300, 3000)
        for (name, eras), (server, modern) in runs_of.items():
            idle, used = idle_client_cost(daemons[name], idle_n, server, modern)
            if eras == SAME_ERAS:
                print(f"  {name:>8} per idle client ({idle_n} clients, connected, nothing sent): {idle / KiB:7.2f} KiB"
                      "   (target <= 12 KiB)")
            print(f"  {name:>8} {eras} per client after a request: {used / KiB:7.2f} KiB   (target <= 16 KiB)")
        for name, daemon in daemons.items():
            grown = churn(daemon.pid, warm, cycles, socket_cycle(daemon))
            print(f"  {name:>8} growth over {cycles} connect cycles (after {warm}): {grown / MiB:7.2f} MiB   "
                  "(target <= 1 MiB)")
        for name, daemon in daemons.items():
            peak, after = flood(daemon, 20, 16 * MiB)
            print(f"  {name:>8} 20 clients x 16 MiB line at once: peak +{peak / MiB:.2f} MiB, after "
                  f"+{after / MiB:.2f} MiB   (target <= 4 MiB)")
    finally:
        for daemon in daemons.values():
            daemon.stop()


if __name__ == "__main__":
    main()
