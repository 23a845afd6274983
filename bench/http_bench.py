"""Benchmark the HTTP front door (``/mcp/NAME``) against baselines measured in the same run.

Run by hand (not in CI), from the repository root:

    .venv/bin/python bench/http_bench.py             # full run, about three minutes
    .venv/bin/python bench/http_bench.py --quick     # smaller counts, for a smoke test
    .venv/bin/python bench/http_bench.py --compare          # this commit's parent beside this one
    .venv/bin/python bench/http_bench.py --compare REV      # that commit's daemon beside this one
    .venv/bin/python bench/http_bench.py --profile /tmp/http.txt   # also py-spy the daemon under load

It starts a real `agentdeck serve` pooling bench/echo_server.py
and prints:
  - round-trip p50/p99 of a small tools/call with one session, interleaved request by
    request: straight to the server's stdin (direct), a raw line client on the pool's
    Unix socket (socket), a raw HTTP/1.1 keep-alive client POSTing to /mcp/echo (HTTP),
    and the same HTTP client against bench/http_floor.py, a raw-socket responder that
    answers every POST with a fixed JSON body (floor). "added" = HTTP minus floor;
  - requests/s with 1, 10 and 100 sessions (for MCP 2026-07-28, "HTTP 2026", clients
    with no session), each keeping one request in flight, driven
    by --workers client processes (each a selector over raw keep-alive sockets; their
    own CPU per request is printed, so one can see they are not the limit), for HTTP,
    the socket and the floor; and the daemon's CPU per request (utime+stime from
    /proc/PID/stat over the window); and each tree's listener alone (bench/http_listener.py:
    its HttpServer with a trivial application), the listener's share of that CPU;
  - daemon RSS per idle HTTP session (200 sessions initialized, no connection left
    open), and per session with a GET stream open each;
  - RSS growth over open/call/DELETE cycles (a new connection each) after a warm-up;
  - peak RSS growth (VmHWM after clear_refs) while one 5 MiB answer goes through, over
    the socket and over HTTP, each the first large answer of a fresh daemon.
The load generator is plain blocking Python (no gevent), so it measures the daemon only.
With ``--compare REV`` a daemon built from REV's tree runs beside this one and every
figure is measured for both, interleaved; a REV without the front door gets no HTTP rows.
"""
import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool_bench import (ECHO, INIT, REPO, KiB, MiB, Conn, Pipe, call_line, cpu_seconds, fmt_us,  # noqa: E402
                        churn, percentile, proc_status, reset_peak, settle, source_tree, stop_daemon)

BIG = ECHO  # a large answer: tools/call with {"bytes": N}
FLOOR = [sys.executable, str(REPO / "bench" / "http_floor.py")]
PROTOCOL = "2025-06-18"
IDLE_SESSIONS = 200
ANSWER_BYTES = 5 * MiB
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
TARGETS = {1: " (target <= 120 µs CPU)", 100: " (targets <= 60 µs CPU, >= 15000 req/s)"}  # issue 18 §5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call_body(id_, text="hello"):
    return call_line(id_, text).rstrip(b"\n")


# -- HTTP, by hand ------------------------------------------------------------------------

def http_request(port, path, body=b"", sid=None, method="POST", accept="application/json, text/event-stream"):
    """The bytes of one HTTP/1.1 request, as an MCP Streamable HTTP client sends it."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Accept: {accept}",
            f"MCP-Protocol-Version: {PROTOCOL}"]
    if sid is not None:
        head.append(f"Mcp-Session-Id: {sid}")
    if method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
               "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}}


def modern_request(port, path, id_, text="hello"):
    """The bytes of one MCP 2026-07-28 tools/call POST: no session, its headers mirrored from its body."""
    body = json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": text}, "_meta": MODERN_META}}).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: application/json, text/event-stream",
            f"MCP-Protocol-Version: {MODERN}", "Mcp-Method: tools/call", "Mcp-Name: echo",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def take_response(buffer):
    """(status, headers, body, rest) of the first complete Content-Length response in
    ``buffer``, or None when it is not all there yet."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    if len(buffer) < end + 4 + length:
        return None
    return int(lines[0][9:12]), headers, buffer[end + 4:end + 4 + length], buffer[end + 4 + length:]


class HttpConn:
    """A blocking HTTP/1.1 keep-alive client for answers with a Content-Length."""

    def __init__(self, port, path="/mcp/echo", timeout=30):
        self.port, self.path = port, path
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.sid = None

    def exchange(self, data):
        self.sock.sendall(data)
        while True:
            got = take_response(self.buffer)
            if got is not None:
                status, headers, body, self.buffer = got
                return status, headers, body
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk

    def post(self, body):
        return self.exchange(http_request(self.port, self.path, body, self.sid))

    def open_session(self):
        """initialize and notifications/initialized: a session of our own."""
        self.sid = None
        status, headers, body = self.post(json.dumps(INIT).encode())
        if status != 200 or "mcp-session-id" not in headers:
            raise ConnectionError(f"initialize answered {status}: {body[:200]!r}")
        self.sid = headers["mcp-session-id"]
        status, _, _ = self.post(INITIALIZED)
        assert status == 202, status
        return self.sid

    def delete(self):
        status, _, _ = self.exchange(http_request(self.port, self.path, sid=self.sid, method="DELETE"))
        assert status in (200, 204), status
        self.sid = None

    # the latency loop's interface: prepare outside the timer, then round-trip
    def prepare(self, body):
        return http_request(self.port, self.path, body, self.sid)

    def roundtrip(self, data):
        status, _, body = self.exchange(data)
        assert status == 200, (status, body[:200])
        return body

    def close(self):
        self.sock.close()


class Lines:
    """Pipe or Conn (pool_bench) behind the latency loop's interface."""

    def __init__(self, peer):
        self.peer = peer

    def prepare(self, body):
        return body + b"\n"

    def roundtrip(self, data):
        return self.peer.roundtrip(data)

    def close(self):
        self.peer.close()


# -- the processes ----------------------------------------------------------------------

class HttpDaemon:
    """`agentdeck serve` from ``tree`` pooling the echo and big-answer servers, with its
    status server (and so the front door) on a port of its own."""

    def __init__(self, tree, **pool):
        self.home = Path(tempfile.mkdtemp(prefix="adh-", dir="/tmp"))
        self.port = free_port()
        pool_lines = "\n".join(f"{k} = {v}" for k, v in pool.items())
        servers = "".join(f"[mcp.{name}]\ncommand = {json.dumps(cmd[0])}\nargs = {json.dumps(cmd[1:])}\n"
                          for name, cmd in (("echo", ECHO), ("big", BIG)))
        (self.home / "agentdeck.toml").write_text(
            f'[daemon]\nhome = "{self.home}"\nstatus_listen = "127.0.0.1:{self.port}"\nlog_level = "WARNING"\n'
            f"[pool]\n{pool_lines}\n{servers}")
        self.proc = subprocess.Popen([sys.executable, str(tree / "run.py"), "--config", str(self.home / "agentdeck.toml")],
                                     env={**os.environ, "AGENTDECK_HOME": str(self.home), "PYTHONPATH": str(tree)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        self.socket = str(self.home / "sockets" / "mcp-echo.sock")
        self.big_socket = str(self.home / "sockets" / "mcp-big.sock")
        deadline = time.monotonic() + 20
        while True:
            try:
                for path in (self.socket, self.big_socket):
                    probe = Conn(path, timeout=5)
                    probe.roundtrip(json.dumps(INIT).encode() + b"\n")
                    probe.close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"the daemon of {tree} did not come up") from None
                time.sleep(0.05)
        self.http = self._has_front_door()
        self.modern = self.http and self._serves_modern()

    def _serves_modern(self):
        """Whether this daemon answers MCP 2026-07-28 requests (a --compare REV may not)."""
        conn = HttpConn(self.port)
        try:
            status, _, body = conn.exchange(modern_request(self.port, conn.path, 1))
            return status == 200 and b'"result"' in body
        except ConnectionError:
            return False
        finally:
            conn.close()

    def _has_front_door(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = HttpConn(self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
        try:
            conn.open_session()
            conn.delete()
            return True
        except (ConnectionError, AssertionError):
            return False
        finally:
            conn.close()

    def stop(self):
        stop_daemon(self.proc, self.home)


@contextlib.contextmanager
def http_floor():
    """bench/http_floor.py running; yields its port."""
    proc = subprocess.Popen(FLOOR, stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def http_listener(tree):
    """bench/http_listener.py serving with ``tree``'s listener; yields (port, pid)."""
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "http_listener.py"), str(tree)],
                            stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline()), proc.pid
    finally:
        proc.kill()
        proc.wait()


# -- latency ----------------------------------------------------------------------------

def latencies(daemons, floor_port, count):
    """Round-trip times of a small tools/call, every path interleaved request by request."""
    peers = {"direct": Lines(Pipe())}
    for name, d in daemons.items():
        peers[f"{name} socket"] = Lines(Conn(d.socket))
        if d.http:
            peers[f"{name} HTTP"] = HttpConn(d.port)
            peers[f"{name} HTTP"].open_session()
    peers["floor"] = HttpConn(floor_port)
    peers["floor"].sid = "floor"
    for name, peer in peers.items():
        if isinstance(peer, Lines):
            peer.roundtrip(json.dumps(INIT).encode() + b"\n")
    times = {name: [] for name in peers}
    for i in range(count):
        body = call_body(i + 1)
        for name, peer in peers.items():
            data = peer.prepare(body)
            start = time.perf_counter()
            peer.roundtrip(data)
            times[name].append(time.perf_counter() - start)
    for peer in peers.values():
        if isinstance(peer, HttpConn) and peer.sid not in (None, "floor"):
            peer.delete()
        peer.close()
    return times


# -- throughput -------------------------------------------------------------------------

def _worker(kind, address, sessions, barrier, start_at, end_at, results):
    """One load process: ``sessions`` connections, each keeping one request in flight
    from start_at to end_at; puts (answers in the window, own CPU seconds)."""
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(sessions):
        if kind == "socket":
            conn = Conn(address)
            conn.roundtrip(json.dumps(INIT).encode() + b"\n")
            request = call_line(1, "hello")
        elif kind == "modern":  # no session: every request stands alone
            conn = HttpConn(address)
            request = modern_request(address, conn.path, 1)
        else:
            conn = HttpConn(address)
            conn.sid = "floor" if kind == "floor" else conn.open_session()
            request = http_request(address, conn.path, call_body(1), conn.sid)
        conn.sock.setblocking(False)
        conns.append((conn, request))
    barrier.wait()
    time.sleep(max(0.0, start_at.value - time.monotonic()))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    for conn, request in conns:
        selector.register(conn.sock, selectors.EVENT_READ, (conn, request))
        conn.sock.sendall(request)
    done = 0
    http = kind != "socket"
    while time.monotonic() < end_at.value:
        for key, _ in selector.select(timeout=0.5):
            conn, request = key.data
            buf = conn.buffer + conn.sock.recv(65536)
            answers = 0
            if http:
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    at = buf.find(b"Content-Length: ", 0, end)
                    stop = end + 4 + int(buf[at + 16:buf.find(b"\r", at)])
                    if len(buf) < stop:
                        break
                    buf = buf[stop:]
                    answers += 1
            else:
                answers = buf.count(b"\n")
                if answers:
                    buf = buf[buf.rfind(b"\n") + 1:]
            conn.buffer = buf
            if answers:
                done += answers
                conn.sock.sendall(request * answers)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((done, usage.ru_utime + usage.ru_stime - cpu0))
    for conn, _ in conns:
        selector.unregister(conn.sock)
        if kind == "http":
            conn.sock.setblocking(True)  # the request in flight is answered; then the session ends
            with contextlib.suppress(OSError, ConnectionError, AssertionError):
                conn.exchange(b"")  # its last answer
                conn.delete()
        conn.close()


def throughput(kind, address, pid, sessions, workers, seconds):
    """(requests/s, daemon CPU µs per request or None, client CPU µs per request)."""
    ctx = multiprocessing.get_context("fork")
    workers = min(workers, sessions)
    barrier = ctx.Barrier(workers + 1)
    start_at, end_at = ctx.Value("d", 0.0), ctx.Value("d", 0.0)
    results = ctx.Queue()
    shares = [sessions // workers + (1 if i < sessions % workers else 0) for i in range(workers)]
    procs = [ctx.Process(target=_worker, args=(kind, address, n, barrier, start_at, end_at, results))
             for n in shares]
    for p in procs:
        p.start()
    start_at.value = time.monotonic() + 0.2
    end_at.value = start_at.value + seconds
    barrier.wait(60)
    time.sleep(max(0.0, start_at.value - time.monotonic()))
    cpu0 = cpu_seconds(pid) if pid else 0.0
    time.sleep(max(0.0, end_at.value - time.monotonic()))
    cpu = cpu_seconds(pid) - cpu0 if pid else None
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    done = sum(d for d, _ in got)
    client_cpu = sum(c for _, c in got)
    return done / seconds, (cpu / max(done, 1) * 1e6 if cpu is not None else None), client_cpu / max(done, 1) * 1e6


# -- memory -----------------------------------------------------------------------------

def idle_session_cost(daemon, sessions):
    """RSS per idle session (initialized, no connection open), then per session with a
    GET stream open each; the sessions are ended afterwards."""
    warm = HttpConn(daemon.port)
    for _ in range(50):
        warm.open_session()
        warm.delete()
    warm.close()
    base = settle(daemon.pid)
    opener = HttpConn(daemon.port)
    sids = [opener.open_session() for _ in range(sessions)]
    opener.close()
    idle = settle(daemon.pid)
    streams = []
    for sid in sids:
        conn = HttpConn(daemon.port)
        conn.sock.settimeout(1)
        conn.sock.sendall(http_request(daemon.port, "/mcp/echo", sid=sid, method="GET", accept="text/event-stream"))
        streams.append(conn)
    streaming = settle(daemon.pid)
    try:  # the response head of a GET stream with nothing to send yet
        head = streams[0].sock.recv(65536)
    except TimeoutError:
        head = b""
    if not head.startswith(b"HTTP/1.1 200"):
        print(f"  (a GET stream got no response head within 1 s of opening: {head[:40]!r})")
    for conn in streams:
        conn.close()
    ender = HttpConn(daemon.port)
    for sid in sids:
        ender.sid = sid
        ender.delete()
    ender.close()
    return (idle - base) / sessions, (streaming - base) / sessions


def idle_modern_cost(daemon, clients):
    """RSS per 2026-07-28 client once answered: ``clients`` connections, one request
    each, then closed. Such a request leaves nothing behind, so this should be 0."""
    def one(i):
        conn = HttpConn(daemon.port)
        conn.roundtrip(modern_request(daemon.port, conn.path, i))
        conn.close()
    for i in range(50):
        one(i)
    base = settle(daemon.pid)
    for i in range(clients):
        one(i)
    return (settle(daemon.pid) - base) / clients


def http_cycle(daemon):
    """One open/call/DELETE of an HTTP session, for `pool_bench.churn`."""
    def once(i):
        conn = HttpConn(daemon.port)
        conn.open_session()
        conn.roundtrip(conn.prepare(call_body(i, "churn")))
        conn.delete()
        conn.close()
    return once


def big_answer(daemon, transport):
    """(peak RSS growth, growth after) while one ANSWER_BYTES answer goes through."""
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "big", "arguments": {"bytes": ANSWER_BYTES}}}).encode()
    if transport == "socket":
        conn = Conn(daemon.big_socket)
        conn.roundtrip(json.dumps(INIT).encode() + b"\n")
    else:
        conn = HttpConn(daemon.port, "/mcp/big")
        conn.open_session()
    before = settle(daemon.pid)
    reset_peak(daemon.pid)
    answer = conn.roundtrip(body + b"\n") if transport == "socket" else conn.roundtrip(conn.prepare(body))
    peak = proc_status(daemon.pid, "VmHWM")
    assert len(answer) > ANSWER_BYTES, len(answer)
    if transport == "http":
        conn.delete()
    conn.close()
    return peak - before, settle(daemon.pid) - before


# -- the report -------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke test)")
    parser.add_argument("--compare", metavar="REV", nargs="?", const="HEAD~1",
                        help="also measure the daemon of git revision REV (default: this commit's parent), interleaved")
    parser.add_argument("--workers", type=int, default=4, help="client processes driving the load (default 4)")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the daemon during a 100-session HTTP run into FILE")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        trees = {"this": REPO}
        if args.compare:
            trees[args.compare] = stack.enter_context(source_tree(args.compare))
        floor_port = stack.enter_context(http_floor())
        listeners = {name: stack.enter_context(http_listener(tree)) for name, tree in trees.items()}
        run(trees, floor_port, listeners, args)


def start_daemon(tree):
    return HttpDaemon(tree, max_clients=IDLE_SESSIONS + 150, max_request_bytes=MiB, max_response_bytes=16 * MiB)


def run(trees, floor_port, listeners, args):
    quick = args.quick
    n_lat = 500 if quick else 3000
    seconds = 1.0 if quick else 3.0
    rounds = 2 if len(trees) > 1 else 1
    daemons = {}
    try:
        for name, tree in trees.items():
            daemons[name] = start_daemon(tree)
        print(f"agentdeck HTTP front door benchmark ({'quick' if quick else 'full'}, {os.cpu_count()} CPUs): "
              + ", ".join(f"{name} pid {d.pid}{'' if d.http else ' (no front door)'}" for name, d in daemons.items()))

        print(f"\nround trip of a small tools/call, one session, {n_lat} interleaved requests")
        times = latencies(daemons, floor_port, n_lat)
        p50 = {name: statistics.median(t) for name, t in times.items()}
        d50, f50 = p50["direct"], p50["floor"]
        for name, t in times.items():
            line = f"  {name:>14} p50 {fmt_us(p50[name])} p99 {fmt_us(percentile(t, 99))}"
            if name != "direct":
                line += f" | {p50[name] / d50:5.2f}x direct"
            if name.endswith("HTTP"):
                sock50 = p50[name.replace("HTTP", "socket")]
                line += (f" | {p50[name] / sock50:5.2f}x socket | added p50 (HTTP minus floor) "
                         f"{fmt_us(p50[name] - f50)} (target <= 150 µs)")
            print(line)

        print(f"\nthroughput (one request in flight per session; load from up to {args.workers} client processes)")
        for sessions in (1, 10, 100):
            rows = {}
            for _ in range(rounds):
                for name, d in daemons.items():
                    rows.setdefault(f"{name} socket", []).append(
                        throughput("socket", d.socket, d.pid, sessions, args.workers, seconds))
                    if d.http:
                        rows.setdefault(f"{name} HTTP", []).append(
                            throughput("http", d.port, d.pid, sessions, args.workers, seconds))
                    if d.modern:
                        rows.setdefault(f"{name} HTTP 2026", []).append(
                            throughput("modern", d.port, d.pid, sessions, args.workers, seconds))
                for name, (port, pid) in listeners.items():
                    rows.setdefault(f"{name} listener", []).append(
                        throughput("floor", port, pid, sessions, args.workers, seconds))
            rows["floor"] = [throughput("floor", floor_port, None, sessions, args.workers, seconds)]
            for name, runs in rows.items():
                rate = statistics.mean(r for r, _, _ in runs)
                client = statistics.mean(c for _, _, c in runs)
                line = f"  {name:>14} {sessions:3} sessions: {rate:8.0f} req/s"
                if runs[0][1] is not None:
                    cpu = statistics.mean(c for _, c, _ in runs)
                    line += f", daemon CPU {cpu:6.1f} µs/request ({rate * cpu / 1e4:3.0f}% of a core)"
                line += f", client CPU {client:5.1f} µs/request ({min(args.workers, sessions)} processes)"
                if name.endswith("HTTP 2026"):
                    sock = statistics.mean(r for r, _, _ in rows[name.replace("HTTP 2026", "socket")])
                    line += f" | {rate / sock:4.2f}x socket"
                elif name.endswith("HTTP"):
                    sock = statistics.mean(r for r, _, _ in rows[name.replace("HTTP", "socket")])
                    line += f" | {rate / sock:4.2f}x socket"
                    line += TARGETS.get(sessions, "")
                print(line)

        if args.profile:
            profile(daemons["this"], args.workers, args.profile)
        print("\nmemory (daemon RSS; fresh daemons, so what the load above freed is not reused)")
        for name, tree in trees.items():
            daemons.pop(name).stop()
            daemons[name] = start_daemon(tree)
        http_daemons = {name: d for name, d in daemons.items() if d.http}
        warm, cycles = (100, 1000) if quick else (300, 3000)
        for name, d in http_daemons.items():
            idle, streaming = idle_session_cost(d, IDLE_SESSIONS)
            print(f"  {name:>8} per idle HTTP session ({IDLE_SESSIONS}, no stream):   {idle / KiB:7.2f} KiB   "
                  "(target <= 16 KiB)")
            print(f"  {name:>8} per HTTP session with a GET stream open:   {streaming / KiB:7.2f} KiB")
            if d.modern:
                print(f"  {name:>8} per 2026-07-28 client after its request ({IDLE_SESSIONS}):  "
                      f"{idle_modern_cost(d, IDLE_SESSIONS) / KiB:7.2f} KiB   (no session: target 0)")
        for name, d in http_daemons.items():
            grown = churn(d.pid, warm, cycles, http_cycle(d))
            print(f"  {name:>8} growth over {cycles} open/call/DELETE cycles (after {warm}): {grown / MiB:6.2f} MiB   "
                  "(target <= 1 MiB)")
        for name, tree in trees.items():
            for transport in ("socket", "http") if daemons[name].http else ("socket",):
                fresh = start_daemon(tree)  # the first big answer of its life: no freed memory to reuse
                try:
                    peak, after = big_answer(fresh, transport)
                finally:
                    fresh.stop()
                print(f"  {name:>8} one {ANSWER_BYTES // MiB} MiB answer over {transport:6}: peak "
                      f"+{peak / MiB:5.2f} MiB ({peak / ANSWER_BYTES:4.2f}x the answer), after +{after / MiB:5.2f} MiB"
                      + ("   (target <= 2x)" if transport == "http" else ""))
    finally:
        for daemon in daemons.values():
            daemon.stop()


def profile(daemon, workers, path, sessions=100):
    """py-spy (when installed) samples the daemon while ``sessions`` HTTP sessions load it."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(spy):
        print("\nprofile: py-spy is not installed (pip install py-spy)")
        return
    record = subprocess.Popen([spy, "record", "--pid", str(daemon.pid), "--duration", "8", "--rate", "500",
                               "--format", "raw", "--output", path, "--nonblocking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rate, cpu, _ = throughput("http", daemon.port, daemon.pid, sessions, workers, 8.0)
    record.wait(60)
    print(f"\nprofile (py-spy, {sessions} sessions, {rate:.0f} req/s, {cpu:.1f} µs/request under the sampler): {path}")
    for line in summarize(path):
        print("  " + line)


def summarize(path, top=25):
    """Self and inclusive shares of the busiest functions in a py-spy raw (collapsed) file."""
    own, inclusive, total = {}, {}, 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                      for frame in stack.split(";")]
            own[frames[-1]] = own.get(frames[-1], 0) + n
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + n
    lines = [f"{total} samples; self time:"]
    lines += [f"{n / total * 100:5.1f}%  {name}" for name, n in sorted(own.items(), key=lambda x: -x[1])[:top]]
    lines += ["inclusive time:"]
    lines += [f"{n / total * 100:5.1f}%  {name}" for name, n in sorted(inclusive.items(), key=lambda x: -x[1])[:top]]
    return lines


if __name__ == "__main__":
    main()
