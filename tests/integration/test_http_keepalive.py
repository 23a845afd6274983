"""The front door over one keep-alive connection, as an agent's HTTP client uses it."""
import json
import socket
import statistics
import time
import urllib.parse

from tests.support import DaemonProcess, scripted, toml_config

ROUND_TRIPS = 20
SLOW = 0.020  # seconds; a delayed ACK holds a segment 40 ms, a healthy round trip takes ~1 ms


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


def test_answers_on_a_keepalive_connection_are_not_held_by_nagle(home):
    """pywsgi sends a response's head and body in two writes; without TCP_NODELAY the body
    waited for the client's delayed ACK, 40 ms on every request after the first."""
    daemon = DaemonProcess(home, toml_config(home, {"s": scripted()}))
    try:
        host = urllib.parse.urlsplit(daemon.info()["status_url"]).netloc
        address, port = host.rsplit(":", 1)
        sock = socket.create_connection((address, int(port)), timeout=10)
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
        fields, _ = _post(sock, host, json.dumps(init).encode())
        sid = fields["Mcp-Session-Id"]
        _post(sock, host, b'{"jsonrpc":"2.0","method":"notifications/initialized"}', sid)
        times = []
        for i in range(ROUND_TRIPS):
            call = {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "hi"}}}
            start = time.monotonic()
            _, body = _post(sock, host, json.dumps(call).encode(), sid)
            times.append(time.monotonic() - start)
            assert json.loads(body)["result"]["content"][0]["text"] == "hi"
        sock.close()
        assert statistics.median(times) < SLOW, f"round trips {[round(t * 1000, 1) for t in times]} ms"
    finally:
        daemon.stop()
