"""`agentdeck bridge SOCKET` as a real subprocess against a small JSON-lines server on a
real Unix socket: what an agent sees on stdout and what the daemon sees on the socket."""
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import termios

import gevent
import pytest

from tests.support import REPO, clean_env, run_cli, toml_config, wait_for

HOLD = "test/hold"  # requests with this method are never answered by the server


class Connection:
    """One accepted connection: every line it carried, in order."""

    def __init__(self, sock, server):
        self.sock = sock
        self.lines = []  # bytes, without the newline (the hello excepted)
        self.hello = None  # the project the bridge's hello named
        self.reader = gevent.spawn(self._read, server) if server.reading else None

    def _read(self, server):
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b'{"jsonrpc":"2.0","method":"agentdeck/hello"'):
                    self.hello = json.loads(line)["params"]["cwd"]  # consumed, as the proxy does
                    continue
                self.lines.append(line)
                server.answer(self, line)

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


class LineServer:
    """Stands in for the daemon's proxy: answers each request with
    ``{"result": {"method": M}}`` (an error for methods in `failing`, nothing for `HOLD`),
    and can drop connections and stop."""

    def __init__(self, path):
        self.path = str(path)
        self.failing = set()  # methods answered with an error
        self.reading = True   # new connections are read (else what the bridge sends stays in the socket)
        self.connections = []
        self.listener = None
        self.acceptor = None

    def start(self):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        self.acceptor = gevent.spawn(self._accept, self.listener)
        return self

    def _accept(self, listener):
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            self.connections.append(Connection(sock, self))

    def answer(self, conn, line):
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict) or "id" not in message or message.get("method") in (None, HOLD):
            return
        reply = {"jsonrpc": "2.0", "id": message["id"]}
        if message["method"] in self.failing:
            reply["error"] = {"code": -32603, "message": "failed"}
        else:
            reply["result"] = {"method": message["method"]}
        conn.send(json.dumps(reply).encode() + b"\n")

    def connection(self, index, timeout=10.0):
        return wait_for(lambda: len(self.connections) > index and self.connections[index], timeout,
                        message=f"connection #{index + 1} from the bridge")

    def drop(self):
        for conn in self.connections:
            conn.close()

    def stop(self):
        if self.listener is not None:
            self.listener.close()
            self.acceptor.join(5)
            self.listener = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.drop()


class BridgeProcess:
    """`python -m agentdeck bridge TARGET` with stdout/stderr drained into lists (stdout
    only once `read_stdout()` is called, with ``read_stdout=False``)."""

    def __init__(self, target, home, give_up=30, read_stdout=True, **env):
        env = clean_env(home, AGENTDECK_BRIDGE_GIVE_UP=give_up, **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "bridge", str(target)], cwd=REPO,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = []   # stdout lines (bytes)
        self.err = []   # stderr lines (text)
        self.seen = 0   # stdout lines already returned by read()
        self.drains = [gevent.spawn(self._drain, self.proc.stderr, self.err, bytes.decode)]
        if read_stdout:
            self.read_stdout()

    def read_stdout(self):
        self.drains.append(gevent.spawn(self._drain, self.proc.stdout, self.out, bytes))

    @staticmethod
    def _drain(stream, into, convert):
        for line in stream:
            into.append(convert(line.rstrip(b"\n")))

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        self.send_raw(json.dumps(message).encode() + b"\n")

    def read_raw(self, timeout=10.0):
        wait_for(lambda: len(self.out) > self.seen, timeout,
                 message=f"a line on the bridge's stdout (stderr: {self.err})")
        self.seen += 1
        return self.out[self.seen - 1]

    def read(self, timeout=10.0):
        return json.loads(self.read_raw(timeout))

    def wait_stderr(self, text, timeout=10.0):
        return wait_for(lambda: any(text in line for line in self.err), timeout,
                        message=f"{text!r} on the bridge's stderr (have {self.err})")

    def close_stdin(self):
        self.proc.stdin.close()

    def exit_code(self, timeout=10.0):
        self.proc.wait(timeout=timeout)
        for drain in self.drains:
            drain.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def server(home):
    srv = LineServer(home / "s.sock").start()
    yield srv
    srv.stop()


@pytest.fixture
def bridges():
    started = []

    def start(target, home, **kw):
        bridge = BridgeProcess(target, home, **kw)
        started.append(bridge)
        return bridge
    yield start
    for bridge in started:
        bridge.kill()


def request(id_, method="tools/list"):
    return {"jsonrpc": "2.0", "id": id_, "method": method}


INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}

# Lines an agent writes, byte for byte what the server must receive (odd spacing,
# non-ASCII, ids of both types, a notification, and a line that is not JSON).
AGENT_LINES = [
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}',
    b'{"method":"tools/call","params":{"name":"t","arguments":{"q":"\xc3\xa9t\xc3\xa9"}},"id":"abc","jsonrpc":"2.0"}',
    b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}',
    b'this is not json',
    b'\xff\xfe binary \x00 garbage',
]
# Lines the server writes, byte for byte what the agent must receive.
SERVER_LINES = [
    b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}',
    b'{ "id" : 7 , "jsonrpc":"2.0", "method":"roots/list" }',
    b'{"jsonrpc":"2.0","id":"abc","result":{"content":[{"type":"text","text":"\xc3\xa9"}]}}',
]


def test_lines_pass_both_ways_unchanged(home, server, bridges):
    bridge = bridges(server.path, home)
    for line in AGENT_LINES:
        bridge.send_raw(line + b"\n")
    conn = server.connection(0)
    wait_for(lambda: len(conn.lines) >= len(AGENT_LINES), message="the agent's lines at the server")
    assert conn.lines == AGENT_LINES
    assert bridge.read() == {"jsonrpc": "2.0", "id": 1, "result": {"method": "tools/list"}}
    assert bridge.read() == {"jsonrpc": "2.0", "id": "abc", "result": {"method": "tools/call"}}
    for line in SERVER_LINES:
        conn.send(line + b"\n")
    assert [bridge.read_raw() for _ in SERVER_LINES] == SERVER_LINES
    # The agent's answer to the server's roots/list request goes back unchanged.
    bridge.send_raw(b'{"jsonrpc":"2.0","id":7,"result":{"roots":[]}}\n')
    wait_for(lambda: conn.lines[-1] == b'{"jsonrpc":"2.0","id":7,"result":{"roots":[]}}',
             message="the agent's response at the server")


def test_lines_over_a_mib_pass_both_ways_and_the_bridge_stays_up(home, server, bridges):
    """Regression: a line past 1 MiB comes out of the splitter as a bytearray, which the
    bridge took for an oversize marker: it crashed (exit 1) and every request in flight
    went unanswered (the 30-minute soak's bridges, on their 1-5 MiB answers)."""
    (home / "agentdeck.toml").write_text(toml_config(home, pool={"max_request_bytes": 8 << 20}))
    bridge = bridges(server.path, home)
    big_request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                              "params": {"blob": "q" * (2 << 20)}}).encode()
    bridge.send_raw(big_request + b"\n")
    conn = server.connection(0)
    wait_for(lambda: conn.lines, 15, message="the big request at the server")
    assert conn.lines == [big_request]
    assert bridge.read()["id"] == 1
    big_line = json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                           "params": {"level": "info", "data": "a" * (3 << 20)}}).encode()
    conn.send(big_line + b"\n")
    assert bridge.read_raw() == big_line
    bridge.send(request(2))
    assert bridge.read()["id"] == 2


def test_every_connection_starts_with_a_hello_naming_the_real_working_directory(home, server, bridges):
    """The proxy of a per-project server learns the agent's project from it (share = "project")."""
    bridge = bridges(server.path, home)
    bridge.send(request(1))
    assert bridge.read()["id"] == 1
    first = server.connection(0)
    assert first.hello == os.path.realpath(REPO)
    server.drop()
    bridge.wait_stderr("lost the connection")
    bridge.send(request(2))
    assert bridge.read()["id"] == 2
    assert server.connection(1).hello == os.path.realpath(REPO)
    assert not any(b"agentdeck/hello" in line for line in bridge.out)


def test_stdin_eof_exits_0(home, server, bridges):
    bridge = bridges(server.path, home)
    bridge.send(request(1))
    assert bridge.read()["id"] == 1
    bridge.close_stdin()
    assert bridge.exit_code(timeout=5) == 0
    assert bridge.err == []


def test_stdin_eof_while_the_daemon_is_down_answers_what_was_queued_and_exits_0(home, bridges):
    bridge = bridges(home / "down.sock", home)
    bridge.send(request("q"))
    bridge.send(INITIALIZED)  # a notification gets no answer
    bridge.close_stdin()
    assert bridge.exit_code(timeout=5) == 0
    answer = bridge.read()
    assert answer["id"] == "q" and answer["error"]["code"] == -32001
    assert bridge.out == [bridge.out[0]]


def test_answer_arriving_after_stdin_eof_is_still_delivered(home, server, bridges):
    bridge = bridges(server.path, home)
    bridge.send(request(5, HOLD))
    conn = server.connection(0)
    wait_for(lambda: conn.lines, message="the held request at the server")
    bridge.close_stdin()
    conn.send(b'{"jsonrpc":"2.0","id":5,"result":{}}\n')
    assert bridge.read() == {"jsonrpc": "2.0", "id": 5, "result": {}}
    assert bridge.exit_code(timeout=5) == 0


def test_dropped_connection_answers_requests_in_flight_with_their_ids(home, server, bridges):
    bridge = bridges(server.path, home)
    bridge.send(request(1, HOLD))
    bridge.send(request("one", HOLD))
    bridge.send({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"id": 3}})
    bridge.send({"jsonrpc": "2.0", "id": 4, "result": {}})  # a response is not waited on either
    conn = server.connection(0)
    wait_for(lambda: len(conn.lines) == 4, message="four lines at the server")
    server.drop()
    answers = [bridge.read(), bridge.read()]
    assert [a["id"] for a in answers] == [1, "one"]  # exact JSON types
    for answer in answers:
        assert answer["error"]["code"] == -32001
        assert "s.sock" in answer["error"]["message"] and "again" in answer["error"]["message"]
        assert answer["error"]["data"]["server"] == "s.sock"
    # It reconnects by itself and the new connection works.
    bridge.send(request(2))
    assert bridge.read() == {"jsonrpc": "2.0", "id": 2, "result": {"method": "tools/list"}}
    assert server.connection(1).lines == [json.dumps(request(2)).encode()]
    bridge.wait_stderr("lost the connection")


def test_server_name_in_error_data_comes_from_the_socket_name(home, bridges):
    srv = LineServer(home / "mcp-time.sock").start()
    try:
        bridge = bridges(srv.path, home)
        bridge.send(request(1, HOLD))
        conn = srv.connection(0)
        wait_for(lambda: conn.lines, message="the held request")
        srv.drop()
        answer = bridge.read()
        assert answer["error"]["data"]["server"] == "time"
        assert "MCP server time is unavailable" in answer["error"]["message"]
    finally:
        srv.stop()


def test_lines_written_while_the_daemon_is_down_are_delivered_in_order(home, server, bridges):
    bridge = bridges(server.path, home)
    bridge.send(request(1))
    assert bridge.read()["id"] == 1
    server.stop()
    bridge.wait_stderr("lost the connection")
    sent = [request(10), {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
            request("eleven"), request(12)]
    for message in sent:
        bridge.send(message)
    gevent.sleep(0.5)  # the bridge retries meanwhile; nothing may be lost while it does
    server.start()
    conn = server.connection(1)
    wait_for(lambda: len(conn.lines) == len(sent), message="the queued lines at the restarted server")
    assert [json.loads(line) for line in conn.lines] == sent
    assert [bridge.read()["id"] for _ in range(3)] == [10, "eleven", 12]
    bridge.wait_stderr("reconnected")


def test_first_connect_waits_for_a_starting_daemon(home, bridges):
    path = home / "late.sock"
    bridge = bridges(path, home)
    bridge.send(request(1))
    gevent.sleep(0.3)
    srv = LineServer(path).start()
    try:
        assert bridge.read(timeout=10) == {"jsonrpc": "2.0", "id": 1, "result": {"method": "tools/list"}}
    finally:
        srv.stop()


def test_initialize_is_replayed_after_a_reconnect_and_its_answer_swallowed(home, server, bridges):
    bridge = bridges(server.path, home)
    bridge.send(INITIALIZE)
    assert bridge.read()["result"] == {"method": "initialize"}
    bridge.send(INITIALIZED)
    bridge.send(request(1))
    assert bridge.read()["id"] == 1
    server.stop()
    bridge.wait_stderr("lost the connection")
    bridge.send(request(2))
    server.start()
    conn = server.connection(1)
    wait_for(lambda: len(conn.lines) == 3, message="replayed handshake and the queued request")
    replayed, initialized, queued = (json.loads(line) for line in conn.lines)
    assert replayed["method"] == "initialize" and replayed["params"] == INITIALIZE["params"]
    assert isinstance(replayed["id"], str) and replayed["id"].startswith("agentdeck-bridge-replay-")
    assert initialized == INITIALIZED
    assert queued == request(2)
    assert bridge.read() == {"jsonrpc": "2.0", "id": 2, "result": {"method": "tools/list"}}
    assert not any(b"agentdeck-bridge-replay" in line for line in bridge.out)


def test_failed_initialize_is_not_replayed(home, server, bridges):
    """Only a handshake the agent saw succeed is repeated for it."""
    server.failing.add("initialize")
    bridge = bridges(server.path, home)
    bridge.send(INITIALIZE)
    assert bridge.read()["error"]["message"] == "failed"
    server.drop()
    server.connection(1)  # reconnected
    bridge.send(request(2))
    assert bridge.read()["id"] == 2
    assert server.connections[1].lines == [json.dumps(request(2)).encode()]


def test_gives_up_after_the_deadline_with_exit_1(home, bridges):
    path = home / "nobody.sock"
    bridge = bridges(path, home, give_up=1)
    bridge.send(request(1))
    assert bridge.exit_code(timeout=10) == 1
    assert [line for line in bridge.err if line.startswith("agentdeck:")] == [bridge.err[-1]]
    assert str(path) in bridge.err[-1] and "agentdeck serve" in bridge.err[-1]
    answer = bridge.read()
    assert answer["id"] == 1 and answer["error"]["code"] == -32001


def test_oversize_request_is_answered_and_not_forwarded(home, server, bridges):
    (home / "agentdeck.toml").write_text(toml_config(home, pool={"max_request_bytes": 2048}))
    bridge = bridges(server.path, home)
    bridge.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"blob": "x" * 100_000}})
    answer = bridge.read()
    assert answer["id"] == 3 and answer["error"]["code"] == -32002
    assert answer["error"]["data"]["limit"] == 2048
    bridge.send(request(4))
    assert bridge.read()["id"] == 4
    assert server.connection(0).lines == [json.dumps(request(4)).encode()]


def test_bad_give_up_setting_is_one_clear_line(home, bridges):
    bridge = bridges(home / "x.sock", home, give_up="soon")
    assert bridge.exit_code() == 1
    assert bridge.err == ["agentdeck: AGENTDECK_BRIDGE_GIVE_UP='soon': expected a number of seconds > 0 "
                          "(or unset it for 60)"]


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_a_64_mib_stdin_line_does_not_grow_the_bridges_memory(home, server, bridges):
    """An oversize line is skipped as it streams by, never held whole (default limit 1 MiB)."""
    bridge = bridges(server.path, home)
    bridge.send(request(1))
    assert bridge.read()["id"] == 1  # started and connected
    before = peak_rss_bytes(bridge.proc.pid)
    bridge.send_raw(b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"blob":"'
                    + b"x" * (64 * 1024 * 1024) + b'"}}\n')
    answer = bridge.read(timeout=30)
    assert answer["id"] == 2 and answer["error"]["code"] == -32002
    assert peak_rss_bytes(bridge.proc.pid) - before < 8 * 1024 * 1024
    assert server.connection(0).lines == [json.dumps(request(1)).encode()]


def flood_until_stalled(send, count, what):
    """Send ``count`` ~1 KB notifications from a greenlet until the writes stall (nobody
    takes more); returns the greenlet and [how many were sent]."""
    sent = [0]

    def flood():
        for n in range(count):
            send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n, "pad": "p" * 1000}})
            sent[0] = n + 1
    writer = gevent.spawn(flood)

    def stalled():
        mark = sent[0]
        gevent.sleep(0.3)  # a window in which a reader would take many lines
        return 0 < mark == sent[0]
    wait_for(stalled, 20, message=f"{what} to stall")
    return writer, sent


def test_a_flood_written_while_the_daemon_is_down_is_held_back_not_lost(home, server, bridges):
    """Beyond what the bridge queues (4 MiB), the agent's writes wait in its pipe; once the
    daemon is back every line arrives, in order."""
    bridge = bridges(server.path, home)
    bridge.send(request(0))
    assert bridge.read()["id"] == 0
    server.stop()
    bridge.wait_stderr("lost the connection")
    before = peak_rss_bytes(bridge.proc.pid)
    count = 8000  # about 8 MiB
    writer, written = flood_until_stalled(lambda message: bridge.send(message), count, "the agent's writes")
    assert written[0] < count
    assert peak_rss_bytes(bridge.proc.pid) - before < 16 * 1024 * 1024
    server.start()
    writer.join(30)
    assert writer.successful()
    conn = server.connection(1)
    wait_for(lambda: len(conn.lines) == count, 30, message=f"{count} lines at the restarted server")
    assert [json.loads(line)["params"]["n"] for line in conn.lines] == list(range(count))


def test_the_bridge_imports_neither_gevent_nor_pony_nor_loguru(home, server, bridges):
    """The bridge runs once per server per agent session: it stands on the standard
    library (and resolves its config in a child that imports no more than that either)."""
    bridge = bridges(server.path, home, PYTHONPROFILEIMPORTTIME=1)
    bridge.send(request(1))
    assert bridge.read()["id"] == 1
    bridge.close_stdin()
    assert bridge.exit_code() == 0
    imported = [line.rsplit("|", 1)[1].strip() for line in bridge.err if line.startswith("import time:")]
    assert "agentdeck.bridge.relay" in imported
    assert not [name for name in imported if name.split(".")[0] in ("gevent", "greenlet", "pony", "loguru")]


def test_a_last_line_without_a_newline_is_sent_at_stdin_eof(home, server, bridges):
    bridge = bridges(server.path, home)
    bridge.send_raw(json.dumps(request(1)).encode())
    bridge.close_stdin()
    assert bridge.read() == {"jsonrpc": "2.0", "id": 1, "result": {"method": "tools/list"}}
    assert bridge.exit_code(timeout=5) == 0


def test_stdin_eof_answers_what_is_still_in_flight_after_the_drain(home, server, bridges):
    """The drain waits EOF_DRAIN (5 s) for answers, then the agent gets -32001 for the rest."""
    bridge = bridges(server.path, home)
    bridge.send(request("held", HOLD))
    conn = server.connection(0)
    wait_for(lambda: conn.lines, message="the held request at the server")
    bridge.close_stdin()
    answer = bridge.read(timeout=15)
    assert answer["id"] == "held" and answer["error"]["code"] == -32001
    assert "stdin closed" in answer["error"]["message"]
    assert bridge.exit_code(timeout=5) == 0


@pytest.mark.parametrize("end, status", [("eof", 0), ("sigterm", 128 + 15)])
def test_a_terminal_is_blocking_again_when_the_bridge_ends(home, server, end, status):
    """A terminal's blocking mode is shared with the shell that started the bridge (and
    stdin, stdout and stderr are one terminal): the bridge makes it non-blocking while it
    runs and blocking again when it ends, by stdin EOF (Ctrl-D) or SIGTERM."""
    master, terminal = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "bridge", server.path], cwd=REPO,
                            env=clean_env(home), stdin=terminal, stdout=terminal, stderr=terminal)
    try:
        server.connection(0)
        wait_for(lambda: not os.get_blocking(terminal), message="the bridge to make the terminal non-blocking")
        if end == "eof":
            os.write(master, b"\x04")
        else:
            proc.terminate()
        assert proc.wait(timeout=10) == status
        assert os.get_blocking(terminal)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
        os.close(terminal)


def test_a_broken_stdout_ends_the_bridge_with_0(home, server):
    proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "bridge", server.path], cwd=REPO,
                            env=clean_env(home), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        conn = server.connection(0)
        proc.stdout.close()  # the agent is gone
        conn.send(b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n')
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdin.close()
        proc.stderr.close()


def test_an_agent_that_stops_reading_stdout_costs_the_bridge_a_bounded_backlog(home, server, bridges):
    """What the bridge holds for a stdout nobody reads is bounded (STDOUT_BYTES, 4 MiB): it
    stops reading the socket, so the rest waits at the sender; once the agent reads again
    every line arrives, in order."""
    bridge = bridges(server.path, home, read_stdout=False)
    conn = server.connection(0)
    gevent.sleep(0.2)  # let the bridge finish starting before its peak memory is taken
    before = peak_rss_bytes(bridge.proc.pid)
    count = 32000  # about 32 MiB
    sender, sent = flood_until_stalled(lambda message: conn.send(json.dumps(message).encode() + b"\n"), count,
                                       "the server's writes")
    assert sent[0] < count
    assert peak_rss_bytes(bridge.proc.pid) - before < 12 * 1024 * 1024
    bridge.read_stdout()
    sender.join(30)
    assert sender.successful()
    wait_for(lambda: len(bridge.out) == count, 30, message=f"{count} lines on stdout")
    assert [json.loads(line)["params"]["n"] for line in bridge.out] == list(range(count))


def unread_bytes(sock):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def test_a_line_cut_short_by_a_dropped_connection_is_sent_whole_on_the_next(home, server, bridges):
    """The bridge writes as much as the socket takes, which ends mid-line; when that
    connection drops the cut line is sent again whole, and no line twice. (A Unix socket
    takes a write up to about half its buffer whole or not at all: the lines are long.)"""
    server.reading = False
    bridge = bridges(server.path, home)
    stuck = server.connection(0)
    count = 16  # 200 KiB each: more than a socket buffer, less than the bridge's queue
    for n in range(count):
        bridge.send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n, "pad": "p" * 204800}})

    def socket_full():
        size = unread_bytes(stuck.sock)
        gevent.sleep(0.2)
        return 0 < size == unread_bytes(stuck.sock)
    wait_for(socket_full, message="the first connection's buffer to fill")
    # A peek leaves the buffer full: the bridge cannot write more before the close.
    written = stuck.sock.recv(unread_bytes(stuck.sock), socket.MSG_PEEK)
    assert len(written) == unread_bytes(stuck.sock)
    *whole, cut = written.split(b"\n")
    assert cut  # the socket took part of a line
    whole = [line for line in whole if b'"agentdeck/hello"' not in line]  # the proxy consumes the hello
    server.reading = True
    stuck.close()
    conn = server.connection(1)
    wait_for(lambda: conn.lines and json.loads(conn.lines[-1])["params"]["n"] == count - 1, 20,
             message="the last line on the second connection")
    assert [json.loads(line)["params"]["n"] for line in whole + conn.lines] == list(range(count))


def test_help_exits_0(home):
    result = run_cli(home, "bridge", "--help")
    assert result.returncode == 0 and "NAME|SOCKET" in result.stdout and result.stderr == ""
