"""The HTTP status server in-process, with real sockets: routes, the token, the Host
check, and the bounds (a huge body, a slow-loris client) that must not affect anyone else."""
import json
import socket
import time
import urllib.error
import urllib.request

import gevent
import pytest

from agentdeck.errors import UserError
from agentdeck.web import httprequest, status

TOKEN = "s3cret-token-0123456789"
SNAPSHOT = {"daemon": {"pid": 1, "version": "0.1.0", "uptime": 1, "rss_bytes": 1}, "servers": [], "sessions": []}
HEAD_TIMEOUT = 1.0  # seconds; the real one is longer, the behaviour is the same
TEN_MIB = 10 * 1024 * 1024


@pytest.fixture
def make_server():
    servers = []

    def make(token="", listen="127.0.0.1:0"):
        server = status.StatusServer(listen, lambda: SNAPSHOT, lambda: [], token=token, head_timeout=HEAD_TIMEOUT)
        server.start()
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop()


def get(url, headers=None, timeout=5):
    """(status code, headers, body) of a GET, errors included."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def raw_connection(server):
    sock = socket.create_connection(server.server.address[:2], timeout=5)
    return sock


def read_all(sock, timeout=5):
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_routes_answer_json_metrics_and_html(make_server):
    server = make_server()
    code, headers, body = get(server.url + "/status")
    assert code == 200 and headers["Content-Type"] == "application/json" and json.loads(body) == SNAPSHOT
    code, headers, body = get(server.url + "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"agentdeck_resident_memory_bytes 1" in body
    code, headers, body = get(server.url + "/")
    assert code == 200 and body.startswith(b"<!doctype html>") and headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert get(server.url + "/nope")[0] == 404


def test_only_get_and_head_are_served(make_server):
    server = make_server()
    sock = raw_connection(server)
    sock.sendall(b"DELETE /status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in reply


def test_a_ten_mib_body_is_refused_before_any_of_it_is_read(make_server):
    server = make_server()
    sock = raw_connection(server)
    sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % TEN_MIB)
    assert read_all(sock).startswith(b"HTTP/1.1 413"), "answered on the headers alone, then closed"
    assert server.stats()["refused"] == {"body_too_large": 1}


def test_a_ten_mib_body_sent_at_once_does_not_hold_up_anyone(make_server):
    server = make_server()
    sock = raw_connection(server)

    def send():
        try:
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % TEN_MIB
                         + b"x" * TEN_MIB)
        except OSError:  # reset by the server: it does not read what it refused
            return
    sender = gevent.spawn(send)
    assert get(server.url + "/status")[0] == 200
    try:
        reply = read_all(sock)
    except ConnectionResetError:  # closed with the body still arriving: the reset may beat the 413
        reply = b""
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413")
    sender.join(timeout=5)
    assert sender.dead
    sock.close()
    assert get(server.url + "/status")[0] == 200
    assert server.stats()["refused"] == {"body_too_large": 1}


def test_a_chunked_body_is_refused(make_server):
    server = make_server()
    sock = raw_connection(server)
    sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert read_all(sock).startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("stage", ["request line", "headers"])
def test_a_slow_loris_is_cut_off_and_others_are_served_meanwhile(make_server, stage):
    server = make_server()
    sock = raw_connection(server)
    head = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n" if stage == "headers" else b"GET /sta"

    def dribble():
        sock.sendall(head)
        for i in range(100):  # one byte every 0.1 s: never a whole head
            gevent.sleep(0.1)
            sock.sendall(b"X-Slow-%d: y\r\n" % i if stage == "headers" else b"t")
    dribbler = gevent.spawn(dribble)
    started = time.monotonic()
    for _ in range(5):
        assert get(server.url + "/status", timeout=2)[0] == 200
    assert time.monotonic() - started < HEAD_TIMEOUT, "the others did not wait for the slow client"
    reply = read_all(sock, timeout=HEAD_TIMEOUT + 5)
    assert time.monotonic() - started < HEAD_TIMEOUT + 3
    assert reply in (b"", httprequest.REFUSE_408)
    dribbler.kill()
    assert server.stats()["refused"] == {"timeout": 1}


def test_more_slow_clients_than_connections_delay_others_by_at_most_the_head_timeout(make_server):
    server = make_server()
    loris = [raw_connection(server) for _ in range(status.MAX_CONNECTIONS + 4)]
    for sock in loris:
        sock.sendall(b"GET / HTTP/1.1\r\n")
    started = time.monotonic()
    assert get(server.url + "/status", timeout=HEAD_TIMEOUT * 3 + 5)[0] == 200
    assert time.monotonic() - started < HEAD_TIMEOUT * 2 + 2
    for sock in loris:
        sock.close()


def test_with_a_token_every_request_needs_it(make_server):
    server = make_server(token=TOKEN)
    code, headers, _ = get(server.url + "/status")
    assert code == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert get(server.url + "/status", {"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
    assert get(server.url + "/metrics?token=nope")[0] == 401
    assert get(server.url + "/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    code, _, body = get(server.url + f"/?token={TOKEN}")
    assert code == 200 and f'href="status?token={TOKEN}"'.encode() in body
    assert server.stats()["refused"] == {"unauthorized": 3}


def test_with_a_token_any_host_header_is_fine(make_server):
    server = make_server(token=TOKEN)
    assert get(server.url + "/status", {"Authorization": f"Bearer {TOKEN}", "Host": "box.lan:8420"})[0] == 200


@pytest.mark.parametrize("host, code", [("127.0.0.1:8420", 200), ("localhost", 200), ("[::1]:80", 200),
                                        ("LOCALHOST:1", 200), ("attacker.example:8420", 403),
                                        ("127.0.0.1.evil.example", 403)])
def test_without_a_token_only_loopback_host_headers_are_answered(make_server, host, code):
    server = make_server()
    assert get(server.url + "/status", {"Host": host})[0] == code


def test_a_port_in_use_is_a_clear_error_naming_it(make_server):
    server = make_server()
    port = server.server.address[1]
    clash = status.StatusServer(f"127.0.0.1:{port}", lambda: SNAPSHOT, lambda: [])
    with pytest.raises(UserError, match=f"cannot serve status on 127.0.0.1:{port}: Address already in use \\(set"):
        clash.start()


def test_a_wildcard_bind_is_reached_through_loopback(make_server):
    server = make_server(token=TOKEN, listen="0.0.0.0:0")
    assert server.url.startswith("http://127.0.0.1:")
    assert get(server.url + "/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
