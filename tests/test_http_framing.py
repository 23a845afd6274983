"""Request framing, as a table: each row's request bytes, the answers a client gets
(the connection closed after the last), and llhttp's own verdict on the same bytes
(a bare httptools.HttpRequestParser fed them whole: does it raise?). Where llhttp
accepts what we refuse, the row says which check of ours refuses it. Then the property
that a valid chunked body gets the same answer however it is split across packets."""
import socket
import time

import httptools
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.test_httpserver import body_of, exchange, server  # noqa: F401 -- the fixture

POST = b"POST /p HTTP/1.1\r\nHost: h\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n"
REFUSES, ACCEPTS = "refuses", "accepts"

FRAMING = [
    # (what, request bytes, statuses answered in order, llhttp's verdict, our own check where llhttp accepts)
    ("Content-Length empty", POST + b"Content-Length: \r\n\r\n", [400], REFUSES, None),
    ("Content-Length not digits", POST + b"Content-Length: 5a\r\n\r\nhello", [400], REFUSES, None),
    ("Content-Length a list", POST + b"Content-Length: 5, 5\r\n\r\nhello", [400], REFUSES, None),
    ("two different Content-Lengths", POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", [400],
     REFUSES, None),
    ("Transfer-Encoding empty", POST + b"Transfer-Encoding: \r\n\r\n", [400], REFUSES, None),
    ("Transfer-Encoding unknown", POST + b"Transfer-Encoding: gzip\r\n\r\n", [400], REFUSES, None),
    ("Transfer-Encoding chunked after another coding", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     [400], ACCEPTS, "Transfer-Encoding must be exactly chunked"),
    ("Transfer-Encoding beside Content-Length", CHUNKED + b"Content-Length: 5\r\n\r\n0\r\n\r\n", [400], REFUSES, None),
    ("Transfer_Encoding frames nothing: its body is the next request", POST + b"Transfer_Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", [200, 400], REFUSES, "names with _ dropped"),
    ("Content_Length frames nothing: its body is the next request", POST + b"Content_Length: 5\r\n\r\nhello\r\n\r\n",
     [200, 400], REFUSES, "names with _ dropped"),
    ("chunk size 0x3a", CHUNKED + b"\r\n0x3a\r\n", [400], REFUSES, None),
    ("chunk size +3a", CHUNKED + b"\r\n+3a\r\n", [400], REFUSES, None),
    ("chunk size 3_a", CHUNKED + b"\r\n3_a\r\n", [400], REFUSES, None),
    ("chunk size ' 3a '", CHUNKED + b"\r\n 3a \r\n", [400], REFUSES, None),
    ("chunk size -0", CHUNKED + b"\r\n-0\r\n\r\n", [400], REFUSES, None),
    ("chunk size past 64 bits: too large, not malformed", CHUNKED + b"\r\n" + b"f" * 20 + b"\r\n", [413], REFUSES,
     None),
    ("chunk size over the body limit, its data not sent", CHUNKED + b"\r\n100000\r\n", [413], ACCEPTS,
     "check_body on each chunk-size line"),
    ("a second chunk taking the body over the limit", CHUNKED + b"\r\n3\r\nabc\r\n3e6\r\n", [413], ACCEPTS,
     "check_body on each chunk-size line"),
    ("bare LF in a chunk extension", CHUNKED + b"\r\n3;a\nb\r\nabc\r\n0\r\n\r\n", [400], REFUSES, None),
    ("bare LF ending a chunk extension", CHUNKED + b"\r\n3;a\nabc\r\n0\r\n\r\n", [400], REFUSES, None),
    ("chunk data not followed by CRLF", CHUNKED + b"\r\n3\r\nabcd\r\n0\r\n\r\n", [400], REFUSES, None),
    ("bare LF inside the header block", POST + b"X: a\nContent-Length: 5\r\n\r\nhello", [400], REFUSES, None),
    ("CR inside a header value", POST + b"X: a\rb\r\n\r\n", [400], REFUSES, None),
    ("LF inside a header value", POST + b"X: a\nb\r\n\r\n", [400], REFUSES, None),
    ("NUL inside a header value", POST + b"X: a\x00b\r\n\r\n", [400], REFUSES, None),
    ("a space inside a header name", POST + b"X Y: a\r\n\r\n", [400], REFUSES, None),
    ("a space before the colon", POST + b"Content-Length : 5\r\n\r\nhello", [400], REFUSES, None),
    ("a separator in a header name", POST + b"X(Y): a\r\n\r\n", [400], REFUSES, None),
    ("a slash in a header name", POST + b"X/Y: a\r\n\r\n", [400], REFUSES, None),
    ("a folded header line", POST + b"X: a\r\n b\r\n\r\n", [400], REFUSES, None),
    ("a control character in the method", b"PO\x01ST /p HTTP/1.1\r\n\r\n", [400], REFUSES, None),
    ("a lower-case method", b"get /p HTTP/1.1\r\n\r\n", [400], REFUSES, None),
    ("a control character in the target", b"GET /p\x01q HTTP/1.1\r\n\r\n", [400], REFUSES, None),
    ("DEL in the target", b"GET /p\x7fq HTTP/1.1\r\n\r\n", [400], REFUSES, None),
    ("a tab in the target", b"GET /p\tq HTTP/1.1\r\n\r\n", [400], REFUSES, None),
    ("HTTP/1.1x", b"GET /p HTTP/1.1x\r\n\r\n", [400], REFUSES, None),
    ("HTTP/1.2", b"GET /p HTTP/1.2\r\n\r\n", [400], REFUSES, None),
    ("a request line of LF only", b"GET /p HTTP/1.1\nHost: h\n\n", [400], REFUSES, None),
    # and what must pass
    ("a chunked body with extensions", CHUNKED + b"Connection: close\r\n\r\n3;x=1\r\nhel\r\n2;y\r\nlo\r\n0\r\n\r\n",
     [200], ACCEPTS, None),
    ("a chunked body with a trailer", CHUNKED + b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", [200],
     ACCEPTS, None),
    ("a Content-Length body", POST + b"Content-Length: 5\r\nConnection: close\r\n\r\nhello", [200], ACCEPTS, None),
]


def llhttp_refuses(data):
    """llhttp's own verdict on ``data``, fed whole to a bare parser."""
    try:
        httptools.HttpRequestParser(object()).feed_data(data)
    except httptools.HttpParserError:
        return REFUSES
    return ACCEPTS


def statuses_of(reply):
    return [int(part[:3]) for part in reply.split(b"HTTP/1.1 ")[1:] if part[:3].isdigit()]


@pytest.mark.parametrize("what, data, statuses, llhttp, ours", FRAMING, ids=[row[0] for row in FRAMING])
def test_framing_table(server, what, data, statuses, llhttp, ours):  # noqa: F811
    assert llhttp_refuses(data) == llhttp, "llhttp's verdict changed: look at our own checks again"
    assert ours is None or llhttp == ACCEPTS or statuses[0] == 200, "our own check only where llhttp lets it by"
    started = time.monotonic()
    reply = exchange(server, data, timeout=3)
    assert statuses_of(reply) == statuses, reply[:400]
    assert time.monotonic() - started < 2, "answered at once, not after a timeout"
    if statuses[-1] != 200:
        assert reply.rpartition(b"HTTP/1.1 ")[2].count(b"Connection: close\r\n") == 1, reply[-300:]
    if statuses[0] == 200:  # the body is what the framing headers say, no more
        assert body_of(reply.split(b"HTTP/1.1 ")[1])["body"] == ("" if ours else "hello"), reply[:400]


def test_a_header_with_an_underscore_never_reaches_the_route(server):  # noqa: F811
    reply = exchange(server, b"GET /p HTTP/1.1\r\nX_Thing: smuggled\r\nX-Thing: real\r\nConnection: close\r\n\r\n")
    assert body_of(reply)["x"] == "real"


# -- a valid chunked body, however it is split

def chunked_request(text, sizes):
    body, at = [], 0
    for size in sizes:
        piece = text[at:at + size]
        if not piece:
            break
        body.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        at += len(piece)
    if at < len(text):
        body.append(b"%x\r\n%s\r\n" % (len(text) - at, text[at:]))
    return CHUNKED + b"Connection: close\r\n\r\n" + b"".join(body) + b"0\r\n\r\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.binary(min_size=0, max_size=900).map(lambda b: bytes(97 + c % 26 for c in b)),
       sizes=st.lists(st.integers(1, 64), max_size=40),
       cuts=st.lists(st.integers(1, 60), min_size=1, max_size=25))
def test_a_valid_chunked_body_gets_the_same_answer_however_it_is_split(server, text, sizes, cuts):  # noqa: F811
    data = chunked_request(text, sizes)
    with socket.create_connection(server.address[:2], timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        at = 0
        for cut in cuts:  # each piece its own packet, a little apart, so the server reads them one by one
            sock.sendall(data[at:at + cut])
            at += cut
            time.sleep(0.001)
        sock.sendall(data[at:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert statuses_of(reply) == [200], reply[:300]
    assert body_of(reply)["body"] == text.decode()
