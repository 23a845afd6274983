"""Hostile clients of a real daemon's HTTP listener, each attack past the listener's
bounds (http_connections = 64, so /mcp/ traffic may hold 24), and while it runs another
client's MCP call through the front door and a /status request must be answered:
slow bodies, unread GET streams, slow heads, idle keep-alive connections, a share
full of calls in flight (503 with Retry-After at once), Expect: 100-continue and no body."""
import json
import socket
import time
import urllib.parse
import urllib.request

import gevent
import pytest
from gevent.pool import Group

from tests.mcphttp import McpHttp
from tests.support import read_heads, scripted

CONNECTIONS = 64
ATTACKERS = 100          # connections the attack keeps open (reopening the ones cut off)
ROUNDS = 3               # another client's call and /status, this many times during the attack
ANSWER_WITHIN = 5.0      # seconds each may take


@pytest.fixture
def daemon(start_daemon):
    return start_daemon({"s": scripted()}, daemon={"http_connections": CONNECTIONS}, pool={"max_clients": 300})


def address_of(daemon):
    url = urllib.parse.urlsplit(daemon.info()["status_url"])
    return url.hostname, url.port


def session(daemon):
    client = McpHttp(daemon.info()["status_url"] + "/mcp/s", timeout=ANSWER_WITHIN)
    client.initialize()
    return client


def status_code(daemon):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(daemon.info()["status_url"] + "/status", timeout=ANSWER_WITHIN) as resp:
        json.loads(resp.read())
        return resp.status


def others_are_answered(daemon, client):
    """Another client's MCP call and /status, ROUNDS times, each within ANSWER_WITHIN."""
    for i in range(ROUNDS):
        started = time.monotonic()
        reply = client.call(100 + i, "echo", {"text": f"still here {i}"})
        assert reply.status == 200, (reply.status, reply.body)
        assert reply.json()["result"]["content"][0]["text"] == f"still here {i}"
        assert status_code(daemon) == 200
        assert time.monotonic() - started < ANSWER_WITHIN
        gevent.sleep(0.3)


class Attack:
    """ATTACKERS connections, each opened by ``begin(sock)`` and then fed by ``go_on(sock)``
    every ``every`` seconds; one cut off by the daemon is counted and opened again."""

    def __init__(self, daemon, begin, go_on=None, every=0.5, count=ATTACKERS):
        self.address = address_of(daemon)
        self.begin, self.go_on, self.every = begin, go_on, every
        self.answers = []  # the first bytes of what each cut-off connection was told
        self.group = Group()
        for _ in range(count):
            self.group.spawn(self._one)
            gevent.sleep(0.005)

    def _one(self):
        while True:
            try:
                with socket.create_connection(self.address, timeout=30) as sock:
                    self.begin(sock)
                    while True:
                        if self.go_on is not None:
                            self.go_on(sock)
                        sock.settimeout(self.every)
                        try:
                            got = sock.recv(65536)
                        except socket.timeout:
                            continue
                        if not got:
                            self.answers.append(b"")
                            break
                        if got.startswith(b"HTTP/1.1 100") or self.go_on is None and b"event-stream" in got:
                            continue  # an unread stream's head, or an interim answer: it goes on
                        self.answers.append(got[:12])
                        break
            except OSError:
                self.answers.append(b"")
            gevent.sleep(0.05)

    def stop(self):
        self.group.kill(block=True, timeout=5)


@pytest.fixture
def attacks():
    running = []
    yield running.append
    for attack in running:
        attack.stop()


def mcp_post_head(length, extra=b""):
    return (b"POST /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\n" + extra + b"Content-Length: %d\r\n\r\n" % length)


def test_slow_bodies_are_cut_off_and_do_not_lock_out_a_call_or_the_status_page(daemon, attacks):
    """Regression: 1,040 connections each announcing a 1,000-byte body and sending one byte
    every 8 s made every /status probe time out for 30 s."""
    client = session(daemon)
    attack = Attack(daemon, lambda sock: sock.sendall(mcp_post_head(1000)), lambda sock: sock.sendall(b" "))
    attacks(attack)
    others_are_answered(daemon, client)
    assert any(answer.startswith(b"HTTP/1.1 408") for answer in attack.answers), attack.answers[:10]


def test_unread_get_streams_do_not_hold_every_connection(daemon, attacks):
    """Regression: 1,040 GET streams that nobody reads held every connection for good."""
    client = session(daemon)
    sessions = [session(daemon).sid for _ in range(ATTACKERS)]
    heads = iter(b"GET /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                 b"MCP-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: %s\r\n\r\n" % sid.encode() for sid in sessions)

    def begin(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(next(heads, b"GET /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
    attack = Attack(daemon, begin)
    attacks(attack)
    gevent.sleep(1)
    others_are_answered(daemon, client)
    stream = client.open_stream()  # the other client's own stream opens too
    assert stream.status == 200
    stream.hang_up()
    assert attack.answers, "no stream was closed to make room"


def test_slow_heads_do_not_lock_out_a_call_or_the_status_page(daemon, attacks):
    client = session(daemon)
    attack = Attack(daemon, lambda sock: sock.sendall(b"POST /mcp/s HTTP/1.1\r\n"),
                    lambda sock: sock.sendall(b"X-Slow: y\r\n"))
    attacks(attack)
    others_are_answered(daemon, client)


def test_idle_keep_alive_connections_make_room_for_a_call_and_the_status_page(daemon, attacks):
    client = session(daemon)

    def begin(sock):
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(65536)
    attack = Attack(daemon, begin, count=ATTACKERS, every=1.0)
    attacks(attack)
    others_are_answered(daemon, client)


def test_a_share_full_of_calls_in_flight_answers_the_next_call_503_at_once_and_status_still_200(daemon):
    client = session(daemon)
    callers = [session(daemon) for _ in range(CONNECTIONS - 40)]
    calls = [gevent.spawn(c.call, 1, "slow", {"seconds": 4, "text": "done"}) for c in callers]
    gevent.sleep(1)
    started = time.monotonic()
    refused = client.call(1, "echo", {"text": "now?"})
    assert refused.status == 503 and refused.headers["retry-after"] == "1", (refused.status, refused.body)
    assert time.monotonic() - started < 1
    assert status_code(daemon) == 200
    assert all(call.get(timeout=10).status == 200 for call in calls)
    assert client.call(2, "echo", {"text": "now"}).json()["result"]["content"][0]["text"] == "now"


def test_expect_100_continue_without_a_body_is_answered_within_the_body_deadline(daemon, attacks):
    client = session(daemon)
    with socket.create_connection(address_of(daemon), timeout=15) as sock:
        sock.sendall(mcp_post_head(50, b"Expect: 100-continue\r\n"))
        started = time.monotonic()
        others_are_answered(daemon, client)
        answer = read_heads(sock, 2, timeout=15)
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 408"), answer
        assert b"Connection: close" in answer and b'"error"' in answer
        assert time.monotonic() - started < 12  # status.BODY_TIMEOUT is 10 s
