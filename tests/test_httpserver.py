"""The HTTP/1.1 server under the status listener, on real sockets: raw requests and the
answers a client sees, side by side; keep-alive, pipelining, chunked bodies both ways."""
import gc
import json
import socket
import time

import gevent
import pytest

from agentdeck.web import httprequest, httpserver

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0


def app(environ, start_response):
    """Echoes what a route sees: method, path, query, a header and the body it reads."""
    path = environ["PATH_INFO"]
    if path == "/stream":  # no Content-Length: chunked on HTTP/1.1
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return iter([b"one", b"", b"two"])
    if path == "/boom":
        raise RuntimeError("a bug in a route")
    if path == "/value-error":
        raise ValueError("a bug in a route that happens to raise ValueError")
    body = environ["wsgi.input"].read(int(environ.get("HTTP_X_READ", "-1")))
    answer = json.dumps({"method": environ["REQUEST_METHOD"], "path": path, "query": environ["QUERY_STRING"],
                         "type": environ.get("CONTENT_TYPE"), "x": environ.get("HTTP_X_THING"),
                         "body": body.decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def server():
    refused = []

    def check_body(environ, length, chunked):
        return httprequest.raw_response("413 Content Too Large", b"too big\n") if length > 1000 else None
    srv = httpserver.HttpServer(("127.0.0.1", 0), app, lambda reason, client, detail="": refused.append(reason),
                                check_body, head_timeout=HEAD_TIMEOUT, io_timeout=5.0, body_timeout=BODY_TIMEOUT,
                                capacity=16)
    srv.start()
    srv.refused = refused
    yield srv
    srv.stop(timeout=1)


def exchange(server, data, timeout=5):
    """Everything the server sends back for ``data`` until it closes (or goes quiet)."""
    with socket.create_connection(server.address[:2], timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except socket.timeout:
            pass
        return got


def body_of(reply):
    return json.loads(reply.partition(b"\r\n\r\n")[2])


CLOSE = b"Connection: close\r\n"
CASES = [
    # (request bytes, the answer's start, something the answer must contain)
    (b"GET /a/b%20c?x=1 HTTP/1.1\r\nHost: h\r\nX-Thing: yes\r\n" + CLOSE + b"\r\n",
     b"HTTP/1.1 200 OK", b'"path": "/a/b c", "query": "x=1"'),
    (b"POST /p HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n" + CLOSE + b"\r\nhello",
     b"HTTP/1.1 200 OK", b'"body": "hello"'),
    (b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + CLOSE + b"\r\n3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\n\r\n",
     b"HTTP/1.1 200 OK", b'"body": "hello"'),
    (b"GET /p HTTP/1.1\r\nX-Thing: a\r\nX-Thing: b\r\n" + CLOSE + b"\r\n", b"HTTP/1.1 200 OK", b'"x": "a,b"'),
    (b"\r\nGET /p HTTP/1.1\r\n" + CLOSE + b"\r\n", b"HTTP/1.1 200 OK", b'"path": "/p"'),  # a stray CRLF first
    (b"HEAD /p HTTP/1.1\r\n" + CLOSE + b"\r\n", b"HTTP/1.1 200 OK", b"Content-Length: "),
    (b"GET /stream HTTP/1.1\r\n" + CLOSE + b"\r\n", b"HTTP/1.1 200 OK",
     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"),
    (b"GET /stream HTTP/1.0\r\n\r\n", b"HTTP/1.1 200 OK", b"Connection: close\r\n\r\nonetwo"),
    (b"GET /p HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", b"HTTP/1.1 413", b"too big"),
    (b"GET /boom HTTP/1.1\r\n\r\n", b"HTTP/1.1 500", b"see the agentdeck log"),
    # a route's ValueError is its own bug, not a malformed request
    (b"GET /value-error HTTP/1.1\r\n\r\n", b"HTTP/1.1 500", b"Connection: close"),
    # percent-decoded once, after the query is split off
    (b"GET /mcp/%2574ime HTTP/1.1\r\n" + CLOSE + b"\r\n", b"HTTP/1.1 200 OK", b'"path": "/mcp/%74ime"'),
    (b"GET /a%3Fb?x=1 HTTP/1.1\r\n" + CLOSE + b"\r\n", b"HTTP/1.1 200 OK", b'"path": "/a?b", "query": "x=1"'),
    (b"NONSENSE\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p FTP/1.0\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p HTTP/1.1\r\nno colon here\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p HTTP/1.1\r\nX-A: 1\r\n folded: 2\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"HTTP/1.1 400", b"malformed"),
    (b"GET /p HTTP/1.1\r\nX-Big: " + b"x" * 70000 + b"\r\n\r\n", b"HTTP/1.1 431", b"over 64 KiB"),
]


@pytest.mark.parametrize("request_bytes, start, contains", CASES, ids=range(len(CASES)))
def test_requests_and_their_answers(server, request_bytes, start, contains):
    reply = exchange(server, request_bytes)
    assert reply.startswith(start), reply[:200]
    assert contains in reply, reply[:300]


def test_a_head_answer_has_no_body(server):
    reply = exchange(server, b"HEAD /p HTTP/1.1\r\n" + CLOSE + b"\r\n")
    assert reply.endswith(b"\r\n\r\n")


def test_pipelined_requests_on_one_keep_alive_connection_get_their_answers_in_order(server):
    requests = b"".join(b"POST /%d HTTP/1.1\r\nContent-Length: 1\r\n\r\n%d" % (n, n) for n in range(3))
    reply = exchange(server, requests + b"GET /last HTTP/1.1\r\n" + CLOSE + b"\r\n")
    answers = reply.split(b"HTTP/1.1 200 OK")[1:]
    assert [body_of(b"x" + a)["path"] for a in answers] == ["/0", "/1", "/2", "/last"]
    assert [body_of(b"x" + a)["body"] for a in answers] == ["0", "1", "2", ""]


def test_a_body_the_route_did_not_read_to_its_end_closes_the_connection_after_the_answer(server):
    reply = exchange(server, b"POST /p HTTP/1.1\r\nX-Read: 2\r\nContent-Length: 5\r\n\r\nhelloGET /p HTTP/1.1\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200") == 1 and b'"body": "he"' in reply


def test_expect_100_continue_is_answered_before_the_body_is_read(server):
    with socket.create_connection(server.address[:2], timeout=5) as sock:
        sock.sendall(b"POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n" + CLOSE + b"\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ok")
        assert b'"body": "ok"' in sock.recv(65536)


def test_an_idle_keep_alive_connection_is_closed_quietly_and_a_slow_head_gets_408(server):
    with socket.create_connection(server.address[:2], timeout=5) as idle, \
            socket.create_connection(server.address[:2], timeout=5) as slow:
        slow.sendall(b"GET /p HTTP/1.1\r\n")
        started = time.monotonic()
        assert idle.recv(100) == b""
        assert slow.recv(1000) == httprequest.REFUSE_408
        assert time.monotonic() - started < HEAD_TIMEOUT + 2
    assert server.refused == [httprequest.TIMEOUT]  # the idle one is no refusal


def test_a_client_that_stops_reading_holds_only_its_own_connection(server):
    """A streamed answer to a client that reads nothing blocks its own greenlet up to the
    write timeout; the others are answered meanwhile."""
    with socket.create_connection(server.address[:2], timeout=5) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(200):
            stuck.sendall(b"POST /p HTTP/1.1\r\nContent-Length: 900\r\n\r\n" + b"x" * 900)
        with gevent.Timeout(5):
            reply = exchange(server, b"GET /p HTTP/1.1\r\n" + CLOSE + b"\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK")


BIG = 4 << 20           # an answer far larger than the socket buffers
WRITE_TIMEOUT = 0.5


@pytest.fixture
def big_server():
    """Answers every request with BIG bytes; a write may wait WRITE_TIMEOUT for the client."""
    def big(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(BIG))])
        return [b"x" * BIG]
    srv = httpserver.HttpServer(("127.0.0.1", 0), big, lambda *args: None, lambda *args: None,
                                head_timeout=HEAD_TIMEOUT, io_timeout=WRITE_TIMEOUT, body_timeout=BODY_TIMEOUT,
                                capacity=4)
    srv.start()
    yield srv
    srv.stop(timeout=1)


def test_a_client_that_reads_nothing_is_cut_off_after_the_write_timeout(big_server):
    """Sockets have no timeout of their own: the slots' sweep ends the stalled write
    (reading what was sent takes a minute through a 4 KiB window, so it is not read)."""
    with socket.create_connection(big_server.address[:2], timeout=5) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /big HTTP/1.1\r\n\r\n")
        with gevent.Timeout(2):
            while not big_server.slots.conns:  # accepted and writing
                gevent.sleep(0.01)
        started = time.monotonic()
        with gevent.Timeout(WRITE_TIMEOUT + 3):
            while big_server.slots.conns:
                gevent.sleep(0.05)
        assert WRITE_TIMEOUT <= time.monotonic() - started  # closed, and its slot free for another


def test_a_slow_reader_that_keeps_reading_gets_a_large_answer_whole(big_server):
    """The write timeout is for a client that reads nothing, not a total: each bit of
    progress gives the next write another WRITE_TIMEOUT."""
    with socket.create_connection(big_server.address[:2], timeout=5) as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.sendall(b"GET /big HTTP/1.1\r\n" + CLOSE + b"\r\n")
        started, got = time.monotonic(), b""
        while chunk := slow.recv(32768):
            got += chunk
            gevent.sleep(0.01)
        assert time.monotonic() - started > WRITE_TIMEOUT * 2, "the reader was not slow: the test shows nothing"
        assert len(got.partition(b"\r\n\r\n")[2]) == BIG


def _heads_seconds(*heads_lines, runs=7):
    """CPU seconds to read a head of each list of header lines (best of ``runs``, the heads
    interleaved, so that a slow stretch of the process (the allocator, a collection)
    slows them all alike)."""
    heads = [b"GET /p HTTP/1.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n" for lines in heads_lines]
    best = [None] * len(heads)
    gc.disable()  # a collection of the whole suite's heap inside one run would be timed too
    ours, theirs = socket.socketpair()  # the head is in the reader's buffer: nothing is read from it
    try:
        for _ in range(runs):
            for index, head in enumerate(heads):
                reader = httprequest.Reader(ours, 5.0)
                reader.buffer = head
                started = time.thread_time()
                httprequest.read_head(reader, 5.0, ("127.0.0.1", 1))
                spent = time.thread_time() - started
                best[index] = spent if best[index] is None else min(best[index], spent)
                reader.close()
    finally:
        gc.enable()
        ours.close()
        theirs.close()
    return best


def test_a_head_of_one_repeated_header_costs_no_more_than_one_of_distinct_headers():
    """Each repeat was joined onto the value so far (quadratic): 64 KiB of one header cost
    22 ms of CPU, 1.3x a head of as many distinct headers."""
    repeated, distinct = _heads_seconds([b"X-Thing: a"] * 5000, [b"X-%05d: a" % i for i in range(5000)])  # near 64 KiB
    assert repeated < distinct * 1.15, f"{repeated * 1000:.2f} ms repeated, {distinct * 1000:.2f} ms distinct"
