"""Whole HTTP requests, random and mutated valid ones, against the real daemon's listener:
every one is answered with a status or a closed connection, never a 500 or a traceback in
the log, while another client's calls keep being answered.

Seeded (FUZZ_SEED) and bounded (FUZZ_REQUESTS, FUZZ_SECONDS): a failure names the seed and
the request, and replays."""
import random
import re
import socket
import time
import urllib.parse

import gevent
from gevent.pool import Pool

from tests.integration.test_http_front_door import session, text_of
from tests.integration.test_pool_lifecycle import call as socket_call, client_of
from tests.support import scripted, wait_for

FUZZ_SEED = 18
FUZZ_REQUESTS = 4000
FUZZ_SECONDS = 20.0
CONCURRENCY = 16
ANSWER_TIMEOUT = 3.0  # seconds to wait for one answer (the request's write side is shut: no waiting for more)
STATUS_LINE = re.compile(rb"(?m)^HTTP/1\.[01] (\d{3}) ")
INTERESTING = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b";", b",", b"\xff", b"\xe9", b"%", b"%25", b"0",
               b"-1", b"99999999999999999999", b"[" * 2000, b"{", b'"', b"\\", b"_", b"/..", b"?token=", b"\x7f"]
BODIES = [b"[" * 100000, b'{"a":' * 50000, b"[" * 900 + b"]" * 900, b'{"jsonrpc":"2.0","id":1e999,"method":"m"}',
          b'{"jsonrpc":"2.0","id":NaN,"method":"m"}', b'{"jsonrpc":"2.0","id":[],"method":"m"}', b"\xff\xfe\x00",
          b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":[]}', b"[]", b"null", b'"' + b"\\" * 999 + b'"',
          b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"m"}', b'{"jsonrpc":"2.0","method":"notifications/cancelled",'
          b'"params":{"requestId":{}}}', b'{"jsonrpc":"2.0","id":9,"result":{}}']


def templates(sid, key):
    """Valid requests of every kind the listener serves: (request line, [(name, value)],
    body or None); the body's Content-Length is added when the request is written."""
    call = (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"f"},'
            b'"_meta":{"progressToken":1}}}')
    init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}'
    host = [(b"Host", b"127.0.0.1")]
    mcp = host + [(b"Accept", b"application/json, text/event-stream"), (b"Content-Type", b"application/json")]
    in_session = mcp + [(b"Mcp-Session-Id", sid.encode()), (b"MCP-Protocol-Version", b"2025-06-18")]
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(call), call)
    envelope = b'"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}'
    modern = mcp + [(b"MCP-Protocol-Version", b"2026-07-28")]
    modern_call = (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"f"},'
                   b'"_meta":{' + envelope + b',"progressToken":1}}}')
    listen = (b'{"jsonrpc":"2.0","id":"l","method":"subscriptions/listen","params":{"notifications":'
              b'{"toolsListChanged":true},"_meta":{' + envelope + b'}}}')
    return [
        (b"POST /mcp/s HTTP/1.1", mcp, init),
        (b"POST /mcp/s HTTP/1.1", in_session, call),
        (b"POST /servers/s/mcp HTTP/1.1", in_session + [(b"MCP-Protocol-Version", b"2025-03-26")], b"[" + call + b"]"),
        (b"POST /mcp/s/p/" + key.encode() + b" HTTP/1.1", in_session, call),
        (b"POST /mcp/s HTTP/1.1", in_session + [(b"Expect", b"100-continue")], call),
        (b"POST /mcp/s HTTP/1.1", in_session + [(b"Transfer-Encoding", b"chunked")], None, chunked),
        (b"POST /servers/s/mcp HTTP/1.1", modern + [(b"Mcp-Method", b"tools/call"), (b"Mcp-Name", b"echo")],
         modern_call),
        (b"POST /servers/s/p/" + key.encode() + b"/mcp HTTP/1.1", modern + [(b"Mcp-Method", b"subscriptions/listen")],
         listen),
        (b"GET /mcp/s HTTP/1.1", host + [(b"Accept", b"text/event-stream"), (b"Mcp-Session-Id", sid.encode()),
                                         (b"Last-Event-ID", b"x-1")], None),
        (b"DELETE /mcp/s HTTP/1.1", host + [(b"Mcp-Session-Id", sid.encode())], None),
        (b"GET /status HTTP/1.1", host + [(b"Connection", b"keep-alive")], None),
        (b"GET /metrics HTTP/1.0", [], None),
        (b"HEAD /?x=1 HTTP/1.1", [(b"Host", b"localhost:1")], None),
        (b"GET /events HTTP/1.1", host + [(b"Accept", b"text/event-stream")], None),
    ]


def write(line, headers, body, raw_body=None):
    """The bytes of a request; a body gets its Content-Length, a raw body is sent as it is."""
    head = [line] + [name + b": " + value for name, value in headers]
    if body is not None:
        head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + (body if body is not None else raw_body or b"")


def mutate(rng, data):
    """``data`` with one to four random changes of the kinds that break parsers."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(7)
        if kind == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:
            data[at:at] = rng.choice(INTERESTING)
        elif kind == 2:
            del data[at:at + rng.randint(1, 40)]
        elif kind == 3:
            data[at:at] = data[at:at + rng.randint(1, 200)]
        elif kind == 4:
            del data[at:]
        elif kind == 5:
            data = bytearray(bytes(data).replace(b"\r\n", b"\n", rng.randint(1, 3)))
        else:
            data[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(data)


def fuzz_request(rng, valid):
    """Random bytes, a valid request, or one mutated as a whole, in its body (framed right)
    or in one header's value."""
    roll = rng.random()
    if roll < 0.1:
        return rng.randbytes(rng.randint(0, 3000))
    line, headers, body, *raw = rng.choice(valid)
    if roll < 0.15:
        return write(line, headers, body, *raw)
    if roll < 0.25 and body is not None:
        return write(line, headers, rng.choice(BODIES))
    if roll < 0.4 and body is not None:
        return write(line, headers, mutate(rng, body))
    if roll < 0.6 and headers:
        headers = list(headers)
        at = rng.randrange(len(headers))
        headers[at] = (headers[at][0], mutate(rng, headers[at][1]) if rng.random() < 0.5 else rng.choice(INTERESTING))
        return write(line, headers, body, *raw)
    return mutate(rng, write(line, headers, body, *raw))


def exchange(address, data):
    """Send ``data`` on a new connection, shut the write side, and return what came back."""
    sock = socket.create_connection(address, timeout=ANSWER_TIMEOUT)
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        got = b""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got
    except OSError:  # reset by the daemon (it closes what it will not read): an answer too
        return b""
    finally:
        sock.close()


def test_fuzzed_requests_get_a_status_or_a_close_never_a_500_and_other_clients_go_on(start_daemon):
    daemon = start_daemon({"s": scripted()})
    parts = urllib.parse.urlsplit(daemon.info()["status_url"])
    address = (parts.hostname, parts.port)
    target = session(daemon)
    keeper_http, keeper_socket = session(daemon), client_of(daemon)
    rng = random.Random(FUZZ_SEED)
    valid = templates(target.sid, "L3RtcA")
    answered, failures = [], []

    def keep_calling():
        i = 0
        while True:
            i += 1
            reply = keeper_http.call(i, "echo", {"text": f"http {i}"})
            if reply.status != 200 or text_of(reply.json()) != f"http {i}":
                failures.append(("http", i, reply.status, reply.body[:200]))
            if text_of(socket_call(keeper_socket, i, "echo", {"text": f"socket {i}"})) != f"socket {i}":
                failures.append(("socket", i))
            answered.append(i)
            gevent.sleep(0.05)

    keeper = gevent.spawn(keep_calling)
    pool = Pool(CONCURRENCY)
    statuses = {}
    deadline = time.monotonic() + FUZZ_SECONDS
    sent = 0
    while sent < FUZZ_REQUESTS and time.monotonic() < deadline and not keeper.dead:
        data = fuzz_request(rng, valid)
        sent += 1

        def one(data=data, n=sent):
            got = exchange(address, data)
            answers = STATUS_LINE.findall(got)  # a 100 Continue first, or pipelined requests' answers
            final = answers[-1] if answers else b"---"
            statuses[final] = statuses.get(final, 0) + 1
            if any(status.startswith(b"5") and status != b"503" for status in answers):
                failures.append(("fuzz", n, got[:300], data[:300]))
        pool.spawn(one)
    pool.join(timeout=ANSWER_TIMEOUT * 3, raise_error=True)
    keeper.kill()
    assert not keeper.exception, keeper.exception
    assert sent >= 500, f"only {sent} requests in {FUZZ_SECONDS} s"
    assert not failures, (FUZZ_SEED, failures[:5])
    assert len(answered) >= 10, f"the other client's calls stalled: {len(answered)} answered while fuzzing"
    assert text_of(keeper_http.call("after", "echo", {"text": "after"}).json()) == "after"
    assert daemon.status()["servers"]
    # 2026-07-28 requests leave nothing behind, answered or hung up on
    wait_for(lambda: daemon.server("s")["http_requests"] == 0, 10, message="no modern request left")
    log = daemon.output
    assert "Traceback" not in log and " ERROR " not in log, log[-5000:]
    print(f"{sent} fuzzed requests, seed {FUZZ_SEED}: {dict(sorted(statuses.items()))}")
