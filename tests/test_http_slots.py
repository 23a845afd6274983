"""The listener's connection slots on real sockets, at a small capacity: the pages'
reserve, who is closed to make room (idle, slow, the oldest stream), 503 when nobody
can be, the total body deadline, and Connection: close on every answer that closes."""
import json
import socket
import time

import gevent
import pytest
from gevent.event import Event

from agentdeck.web import httprequest, httpserver
from tests.support import read_heads

CAPACITY, RESERVE = 6, 2       # /mcp/ may hold 4
BODY_TIMEOUT = 1.0
HEAD_TIMEOUT = 3.0


def make_app(release):
    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path.endswith("/block"):  # a call in flight: holds its connection until released
            release.wait()
        if path.endswith("/stream"):  # a GET stream that writes now and then, forever
            start_response("200 OK", [("Content-Type", "text/event-stream")])
            return _stream()
        if path.endswith("/forbidden"):  # refused without reading the body
            start_response("403 Forbidden", [("Content-Length", "2")])
            return [b"no"]
        body = environ["wsgi.input"].read()
        answer = json.dumps({"path": path, "body": body.decode()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]
    return app


def _stream():
    yield b"data: hello\n\n"
    while True:
        gevent.sleep(0.2)
        yield b": keep-alive\n\n"


@pytest.fixture
def listener():
    refused, release = [], Event()

    def check_body(environ, length, chunked):
        return httprequest.raw_response("413 Content Too Large", b"too big\n") if length > 5000 else None
    srv = httpserver.HttpServer(("127.0.0.1", 0), make_app(release),
                                lambda reason, client, detail="": refused.append(reason), check_body,
                                head_timeout=HEAD_TIMEOUT, io_timeout=5.0, body_timeout=BODY_TIMEOUT,
                                capacity=CAPACITY, reserve=RESERVE, limited=lambda path: path.startswith("/mcp/"))
    srv.start()
    srv.refused, srv.release = refused, release
    yield srv
    release.set()
    srv.stop(timeout=1)


def connect(srv):
    sock = socket.create_connection(srv.address[:2], timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock, timeout=3):
    """One whole Content-Length answer (head and body), or what came before the close."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:")), b"0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def request(srv, data, sock=None):
    own = sock is None
    sock = sock or connect(srv)
    try:
        sock.sendall(data)
        return read_answer(sock)
    finally:
        if own:
            sock.close()


def get(path, close=True):
    return b"GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n" % (path.encode(), b"Connection: close\r\n" if close else b"")


def post_head(path, length):
    return b"POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (path.encode(), length)


def closed(sock, timeout=3):
    """True when the server closed ``sock`` (after whatever it still had to say)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except (socket.timeout, ConnectionResetError):
        return False


def busy(srv, count, path="/mcp/block"):
    """``count`` connections with a call in flight each."""
    socks = [connect(srv) for _ in range(count)]
    for sock in socks:
        sock.sendall(get(path))
    gevent.sleep(0.2)
    return socks


def test_the_pages_keep_their_reserve_and_mcp_traffic_past_its_share_gets_503_at_once(listener):
    held = busy(listener, CAPACITY - RESERVE)
    started = time.monotonic()
    refused = request(listener, get("/mcp/echo"))
    assert refused.startswith(b"HTTP/1.1 503") and b"Retry-After: 1\r\n" in refused, refused
    assert b"Connection: close\r\n" in refused and time.monotonic() - started < 1
    assert request(listener, get("/status")).startswith(b"HTTP/1.1 200")
    listener.release.set()
    assert all(read_answer(sock).startswith(b"HTTP/1.1 200") for sock in held)
    assert request(listener, get("/mcp/echo")).startswith(b"HTTP/1.1 200")
    assert listener.refused.count(httpserver.FULL) == 1


def test_a_full_listener_answers_the_newest_connection_503_at_once(listener):
    held = busy(listener, CAPACITY - RESERVE) + busy(listener, RESERVE, "/page/block")
    started = time.monotonic()
    refused = request(listener, get("/status"))
    assert refused.startswith(b"HTTP/1.1 503") and b"Retry-After: 1\r\n" in refused, refused
    assert time.monotonic() - started < 1
    listener.release.set()
    assert all(read_answer(sock).startswith(b"HTTP/1.1 200") for sock in held)


def test_an_idle_keep_alive_connection_is_closed_to_make_room(listener):
    idle = [connect(listener) for _ in range(CAPACITY)]
    for sock in idle:
        assert request(listener, get("/status", close=False), sock).startswith(b"HTTP/1.1 200")
    assert request(listener, get("/status")).startswith(b"HTTP/1.1 200")
    assert closed(idle[0])  # the oldest idle one made room
    assert request(listener, get("/status", close=False), idle[-1]).startswith(b"HTTP/1.1 200")


def test_the_slowest_body_is_closed_with_408_to_make_room_for_a_call(listener):
    slow = []
    for _ in range(CAPACITY - RESERVE):
        sock = connect(listener)
        sock.sendall(post_head("/mcp/echo", 1000) + b"x")
        slow.append(sock)
        gevent.sleep(0.05)
    answer = request(listener, post_head("/mcp/echo", 2) + b"ok")
    assert answer.startswith(b"HTTP/1.1 200") and b'"body": "ok"' in answer
    evicted = read_answer(slow[0])
    assert evicted.startswith(b"HTTP/1.1 408") and b"Connection: close\r\n" in evicted
    assert httpserver.EVICTED in listener.refused


def test_the_oldest_get_stream_is_closed_to_make_room_for_a_call(listener):
    streams = [connect(listener) for _ in range(CAPACITY - RESERVE)]
    for sock in streams:
        sock.sendall(get("/mcp/stream", close=False))
        gevent.sleep(0.05)
    gevent.sleep(0.2)
    answer = request(listener, post_head("/mcp/echo", 2) + b"ok")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert closed(streams[0])
    streams[1].settimeout(1)
    assert streams[1].recv(65536)  # the others go on


def test_a_body_must_arrive_within_one_deadline_however_it_trickles(listener):
    sock = connect(listener)
    sock.sendall(post_head("/page/echo", 100))
    started = time.monotonic()
    answer = b""
    for _ in range(40):  # one byte every 0.1 s: each read is quick, the whole body never comes
        try:
            sock.sendall(b"x")
        except OSError:
            break
        sock.settimeout(0.1)
        try:
            answer += sock.recv(65536)
        except socket.timeout:
            continue
        if answer:
            break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert BODY_TIMEOUT - 0.1 < time.monotonic() - started < BODY_TIMEOUT + 1
    assert b"Connection: close\r\n" in answer


def test_expect_100_continue_without_a_body_is_answered_within_the_body_deadline(listener):
    sock = connect(listener)
    sock.sendall(b"POST /mcp/echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
    started = time.monotonic()
    answer = read_heads(sock, 2, timeout=BODY_TIMEOUT + 2)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 408"), answer
    assert time.monotonic() - started < BODY_TIMEOUT + 1
    assert closed(sock)


CLOSING = [
    # (what, request bytes): every one of these answers closes the connection and says so
    ("400 malformed", b"GET /p HTTP/1.1x\r\n\r\n"),
    ("413 announced", post_head("/p", 9000)),
    ("431 head", b"GET /p HTTP/1.1\r\nX: " + b"x" * 70000 + b"\r\n\r\n"),
    ("403 with its body unread", post_head("/forbidden", 5) + b"hello"),
    ("503 full share", None),
]


@pytest.mark.parametrize("what, data", CLOSING, ids=[row[0] for row in CLOSING])
def test_every_answer_after_which_the_connection_closes_says_so(listener, what, data):
    held = busy(listener, CAPACITY - RESERVE) if data is None else []
    sock = connect(listener)
    sock.sendall(data or get("/mcp/echo", close=False))
    answer = read_answer(sock)
    assert b"Connection: close" in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"), answer[:300]
    assert closed(sock)
    listener.release.set()
    for other in held:
        other.close()


def test_a_connection_that_has_not_sent_its_first_request_yet_is_not_taken_for_idle(listener):
    """Regression: a new connection, before its head arrived, looked like an idle keep-alive
    one, so each reconnecting slow client closed the newest honest connection instead."""
    slow = [connect(listener) for _ in range(CAPACITY)]
    for sock in slow:
        sock.sendall(b"GET /status HTTP/1.1\r\n")
        gevent.sleep(0.02)
    honest = connect(listener)   # makes room: the oldest slow head goes
    gevent.sleep(0.1)
    another = connect(listener)  # makes room too: the next slow head, not the honest newcomer
    gevent.sleep(0.1)
    assert request(listener, get("/status"), honest).startswith(b"HTTP/1.1 200")
    assert read_answer(slow[0]).startswith(b"HTTP/1.1 408") and read_answer(slow[1]).startswith(b"HTTP/1.1 408")
    another.close()
