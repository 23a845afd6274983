"""The status token: no secret reaches a log (the token, in ``Authorization`` and in
``?token=``, and a session id's MAC, even when a request carrying them fails inside the
daemon), and a request without the token learns nothing before its 401."""
import http.client
import secrets
import signal
import socket
import urllib.parse

from tests.mcphttp import McpHttp
from tests.support import REPO, DaemonProcess, rmtree, scripted, short_tmpdir, toml_config

FAULTY_RUN = REPO / "tests" / "faulty_run.py"


def request(daemon, method, path, headers, body=None):
    parts = urllib.parse.urlsplit(daemon.info()["status_url"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def logs_of(daemons):
    """Every log the daemons of a home wrote (its files, rotated ones included) and their
    captured stderr."""
    files = sorted(daemons[0].home.glob("logs/*.log*"))
    assert any(f.name.startswith("daemon.log") for f in files)
    return {str(f): f.read_text(errors="replace") for f in files} | \
        {f"stderr of daemon {i}": d.output for i, d in enumerate(daemons)}


def stop(daemon):
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=15) == 0
    daemon._drain.join(timeout=5)


def test_a_request_that_fails_inside_the_daemon_leaves_no_token_or_mac_in_any_log():
    """Regression: loguru's diagnose printed the variables of every frame of a traceback, and
    a 500 on a request with ?token= wrote the token (and the whole environ) into daemon.log
    and stderr, six times."""
    home = short_tmpdir()
    token = secrets.token_urlsafe(24)
    config = toml_config(home, servers={"s": scripted()}, daemon={"status_token": token, "log_level": "DEBUG"})
    daemon = DaemonProcess(home, config, script=FAULTY_RUN)
    daemons = [daemon]
    try:
        client = McpHttp(daemon.info()["status_url"] + "/mcp/s", token=token)
        client.initialize()
        mac = client.sid.rsplit(".", 1)[1]
        assert client.call(1, "echo", {"text": "hi"}).status == 200
        secret_headers = {"Authorization": f"Bearer {token}", "Mcp-Session-Id": client.sid,
                          "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        query = f"?token={token}"
        assert request(daemon, "GET", "/metrics" + query, secret_headers)[0] == 500  # the planted bug
        assert request(daemon, "POST", "/mcp/s" + query, secret_headers, b"[" * 100000)[0] == 400
        assert request(daemon, "POST", "/mcp/s" + query, {**secret_headers, "Mcp-Session-Id": "x.\xe9"},
                       b"{}")[0] == 400
        assert request(daemon, "GET", "/nowhere" + query, secret_headers)[0] == 404
        address = urllib.parse.urlsplit(daemon.info()["status_url"]).netloc.split(":")
        for malformed in (b"GET /status%s HTTP/1.1x\r\nAuthorization: Bearer %s\r\n\r\n",  # the parser refuses
                          b"GET /status%s HTTP/1.1\r\nAuthorization: Bearer %s\r\nX: a\nB: c\r\n\r\n"):
            got = exchange_head((address[0], int(address[1])), malformed % (query.encode(), token.encode()))
            assert got.startswith(b"HTTP/1.1 400 "), got
        stop(daemon)
        daemon = DaemonProcess(home, config, script=FAULTY_RUN)  # the session is taken up (and logged) again
        daemons.append(daemon)
        client.port = int(daemon.info()["status_url"].rsplit(":", 1)[1])
        assert client.call(2, "echo", {"text": "again"}).status == 200
        assert client.send("DELETE", None, client.headers()).status == 204
        stop(daemon)
        logs = logs_of(daemons)
        assert "KeyError" in logs["stderr of daemon 0"] and "/metrics failed" in logs["stderr of daemon 0"]
        assert "taken up again" in logs["stderr of daemon 1"]
        for name, text in logs.items():
            for secret in (token, mac, "Bearer"):
                assert secret not in text, f"{secret!r} in {name}"
    finally:
        for daemon in daemons:
            daemon.kill()
        rmtree(home)


def exchange_head(address, head, then=b""):
    """Send a request head alone and return the first answer's bytes (the head and what
    came with it); with ``then``, send it after that first answer and read on."""
    sock = socket.create_connection(address, timeout=10)
    try:
        sock.sendall(head)
        first = sock.recv(65536)
        if not then:
            return first
        sock.sendall(then)
        rest = b""
        while b"\r\n\r\n" not in rest or b'"result"' not in rest:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return first + rest
    finally:
        sock.close()


INIT_BODY = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}'
MCP_HEAD = (b"POST /mcp/s%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\n"
            b"Content-Type: application/json\r\n%sContent-Length: %d\r\n%s\r\n")
# (what, query, Authorization header?, Content-Length, more headers, the answer's first bytes, what it must not say)
TOKEN_FIRST = [
    ("a body over max_request_bytes without the token", b"", False, 10 ** 8, b"", b"HTTP/1.1 401 ", b"limit"),
    ("a body over max_request_bytes with a wrong token", b"?token=wrong", False, 10 ** 8, b"", b"HTTP/1.1 401 ",
     b"limit"),
    ("Expect: 100-continue without the token", b"", False, len(INIT_BODY), b"Expect: 100-continue\r\n",
     b"HTTP/1.1 401 ", b"100 Continue"),
    ("a body over max_request_bytes with the token in the query", b"?token=%s", False, 10 ** 8, b"",
     b"HTTP/1.1 413 ", b"100 Continue"),
    ("a body over max_request_bytes with the token in Authorization", b"", True, 10 ** 8, b"", b"HTTP/1.1 413 ",
     b"100 Continue"),
    ("Expect: 100-continue with the token", b"", True, len(INIT_BODY), b"Expect: 100-continue\r\n",
     b"HTTP/1.1 100 Continue\r\n\r\n", b"401"),
]


def test_with_a_token_the_token_is_checked_before_anything_else(start_daemon):
    """Regression: a request without the token learnt the server's name and limits from a
    413, and Expect: 100-continue got its 100 before its 401."""
    token = secrets.token_urlsafe(24)
    daemon = start_daemon({"s": scripted()}, pool={"max_request_bytes": 4096}, daemon={"status_token": token})
    parts = urllib.parse.urlsplit(daemon.info()["status_url"])
    address = (parts.hostname, parts.port)
    for what, query, authorized, length, more, answer, never in TOKEN_FIRST:
        auth = b"Authorization: Bearer %s\r\n" % token.encode() if authorized else b""
        head = MCP_HEAD % (query.replace(b"%s", token.encode()), auth, length, more)
        then = INIT_BODY if answer.startswith(b"HTTP/1.1 100") else b""
        got = exchange_head(address, head, then)
        assert got.startswith(answer) and never not in got, (what, got[:400])
        if then:
            assert b"HTTP/1.1 200 OK" in got and b'"result"' in got, (what, got[:400])
        elif answer == b"HTTP/1.1 401 ":
            assert b"WWW-Authenticate: Bearer" in got and b'"s"' not in got, (what, got[:400])
