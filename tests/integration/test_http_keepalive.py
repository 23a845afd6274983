"""The front door on the wire, through raw sockets: what an agent's HTTP client waits for."""
import contextlib
import json
import socket
import statistics
import time
import urllib.parse

from tests.support import DaemonProcess, scripted, toml_config

ROUND_TRIPS = 20
SLOW = 0.020  # seconds; a delayed ACK holds a segment 40 ms, a healthy round trip takes ~1 ms
HEAD_WITHIN = 3.0  # seconds for a GET stream's response head


def _post(sock, host, body, sid=None):
    head = (f"POST /mcp/s HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n"
            + (f"Mcp-Session-Id: {sid}\r\n" if sid else "") + f"Content-Length: {len(body)}\r\n\r\n")
    sock.sendall(head.encode() + body)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    length = int(fields["Content-Length"])
    while len(rest) < length:
        rest += sock.recv(65536)
    return fields, rest


@contextlib.contextmanager
def _initialized(home):
    """A daemon serving the scripted server as ``s``: (host, a keep-alive socket to its
    front door, the session id it answered an initialize with)."""
    daemon = DaemonProcess(home, toml_config(home, {"s": scripted()}))
    try:
        host = urllib.parse.urlsplit(daemon.info()["status_url"]).netloc
        address, port = host.rsplit(":", 1)
        with socket.create_connection((address, int(port)), timeout=10) as sock:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
            yield host, sock, _post(sock, host, json.dumps(init).encode())[0]["Mcp-Session-Id"]
    finally:
        daemon.stop()


def test_answers_on_a_keepalive_connection_are_not_held_by_nagle(home):
    """A response's head and body in two writes (pywsgi's way): without TCP_NODELAY the body
    waited for the client's delayed ACK, 40 ms on every request after the first."""
    with _initialized(home) as (host, sock, sid):
        _post(sock, host, b'{"jsonrpc":"2.0","method":"notifications/initialized"}', sid)
        times = []
        for i in range(ROUND_TRIPS):
            call = {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "hi"}}}
            start = time.monotonic()
            _, body = _post(sock, host, json.dumps(call).encode(), sid)
            times.append(time.monotonic() - start)
            assert json.loads(body)["result"]["content"][0]["text"] == "hi"
        assert statistics.median(times) < SLOW, f"round trips {[round(t * 1000, 1) for t in times]} ms"


def test_a_get_stream_gets_its_head_before_the_server_sends_anything(home):
    """The GET stream's head waited for the first event: a client waiting for the head
    (the SDK's does, up to its 300 s read timeout, twice, then gives the stream up)
    never listened on a quiet server."""
    with _initialized(home) as (host, _, sid):
        address, port = host.rsplit(":", 1)
        stream = socket.create_connection((address, int(port)), timeout=HEAD_WITHIN)
        stream.sendall(f"GET /mcp/s HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                       f"MCP-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: {sid}\r\n\r\n".encode())
        head = b""
        deadline = time.monotonic() + HEAD_WITHIN
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            try:
                head += stream.recv(65536)
            except TimeoutError:
                break
        stream.close()
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, head
