"""No secret reaches a log: the status token (in ``Authorization`` and in ``?token=``) and
a session id's MAC, even when a request carrying them fails inside the daemon."""
import http.client
import secrets
import signal
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
