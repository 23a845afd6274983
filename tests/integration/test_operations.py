"""Operations with the real daemon: the status endpoints and `agentdeck status` over real
HTTP, the token, bad HTTP clients, logs (JSON lines, a full disk), SIGHUP reloads with
clients connected across them, and the ways it stops (SIGTERM, SIGINT, SIGINT twice)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import gevent
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentdeck.web import status as http_status
from tests.support import (REPO, DaemonProcess, LineClient, children_of, clean_env, run_cli, scripted, toml_config,
                           wait_for)

TOKEN = "ops-test-token-0123456789abcdef"
STOP_DEADLINE = 10.0  # seconds: the bound for an ordered stop
HOOK = [sys.executable, "-m", "agentdeck", "hook"]




def http_get(url, headers=None, timeout=5):
    """(status code, body) of a GET, errors included; never through an http_proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metrics_of(daemon, headers=None):
    """{(name, frozenset(labels)): value} from the daemon's /metrics, through prometheus_client's parser."""
    code, body = http_get(daemon.info()["status_url"] + "/metrics", headers)
    assert code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def client_of(daemon, name):
    client = LineClient(daemon.socket_path(name))
    client.initialize()
    return client


def echo(client, id_, text, timeout=None):
    reply = client.request(id_, "tools/call", {"name": "echo", "arguments": {"text": text}}, timeout)
    return reply["result"]["content"][0]["text"]


def env_of(client, id_, name):
    reply = client.request(id_, "tools/call", {"name": "env", "arguments": {"name": name}})
    return json.loads(reply["result"]["content"][0]["text"])


def rewrite_config(daemon, servers, daemon_settings=None):
    daemon.config_path.write_text(toml_config(daemon.home, servers=servers, daemon=daemon_settings))


def exit_code_within(daemon, seconds):
    daemon.proc.wait(timeout=seconds)
    daemon._drain.join(timeout=5)
    return daemon.proc.returncode


# -- status over HTTP and from the CLI ----------------------------------------------------

def test_status_metrics_page_and_cli_show_servers_clients_and_sessions(start_daemon, tmux_env, home):
    daemon = start_daemon({"s": scripted()}, env_extra=tmux_env)
    env = clean_env(daemon.home, **tmux_env)
    project = home / "proj"
    project.mkdir()
    added = run_cli(daemon.home, "session", "add", str(project), "--title", "fix the parser", "--cmd", "sleep 300",
                    env=env)
    assert added.returncode == 0, added.stderr
    instance = added.stdout.strip()
    transcript = home / "transcript.jsonl"
    transcript.write_text(json.dumps({"type": "user", "message": {"role": "user", "content": "make tests pass"}})
                          + "\n")
    for event in ("UserPromptSubmit", "Stop"):
        payload = {"session_id": "s1", "transcript_path": str(transcript), "cwd": str(project),
                   "hook_event_name": event}
        subprocess.run(HOOK, input=json.dumps(payload).encode(), env={**env, "AGENTDECK_INSTANCE_ID": instance},
                       cwd=REPO, check=True, timeout=30, capture_output=True)
    client = client_of(daemon, "s")
    assert echo(client, 1, "hello") == "hello"

    def session_waiting():
        sessions = daemon.status()["sessions"]
        return sessions if sessions and sessions[0]["status"] == "waiting" and sessions[0]["prompt"] else None
    [session] = wait_for(session_waiting, 20, interval=0.2, message="the session to be waiting with its prompt")
    assert session["id"] == instance and session["title"] == "fix the parser" and session["profile"] == "default"
    assert session["prompt"] == "make tests pass" and time.time() - 60 < session["since"] <= time.time()

    doc = daemon.status()
    info = doc["daemon"]
    assert info["pid"] == daemon.proc.pid and info["rss_bytes"] > 1 << 20 and info["uptime"] >= 0
    assert info["greenlets"] >= 2  # the hub and the main greenlet at least
    assert info["config"] == str(daemon.config_path) and info["version"]
    [server] = doc["servers"]
    assert server["state"] == "running" and server["clients"] == 1 and server["pid"] > 0
    assert server["requests"] >= 1 and server["bytes_in"] > 0 and server["bytes_out"] > 0
    assert server["restarts"] == 0 and "last_error" in server and "stderr_tail" in server

    samples = metrics_of(daemon)
    assert samples[("agentdeck_mcp_clients", frozenset({("server", "s")}))] == 1
    assert samples[("agentdeck_sessions", frozenset({("status", "waiting")}))] == 1
    assert samples[("agentdeck_resident_memory_bytes", frozenset())] > 1 << 20

    code, page = http_get(daemon.info()["status_url"] + "/")
    assert code == 200 and b"fix the parser" in page and b"make tests pass" in page and b"<svg" in page

    shown = run_cli(daemon.home, "status", config=daemon.config_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"pid {daemon.proc.pid}" in shown.stdout
    assert any(line.split()[:2] == ["s", "running"] for line in shown.stdout.splitlines())
    assert any(line.split()[:2] == [instance, "waiting"] and "make tests pass" in line
               for line in shown.stdout.splitlines())
    as_json = run_cli(daemon.home, "status", "--json", config=daemon.config_path, env=env)
    assert json.loads(as_json.stdout)["sessions"][0]["id"] == instance
    client.close()


def test_status_command_says_when_the_daemon_is_not_running(home):
    shown = run_cli(home, "status")
    assert shown.returncode == 3
    assert shown.stderr.startswith("agentdeck: the agentdeck daemon is not running") and "agentdeck serve" in \
        shown.stderr
    assert "Traceback" not in shown.stderr and shown.stdout == ""


# -- access and bad HTTP clients ----------------------------------------------------------

def test_non_loopback_status_listen_without_a_token_is_refused_at_start(home):
    config = home / "agentdeck.toml"
    config.write_text(toml_config(home, daemon={"status_listen": "0.0.0.0:0"}))
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), "--config", str(config)], cwd=REPO,
                          env=clean_env(home), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"agentdeck: {config}: [daemon] status_listen = '0.0.0.0:0': expected a loopback address such as "
        "127.0.0.1:7420, or set [daemon] status_token so that every request to this address must carry it"]


def test_with_a_token_any_address_serves_and_every_request_needs_it(start_daemon):
    daemon = start_daemon(daemon={"status_listen": "0.0.0.0:0", "status_token": TOKEN})
    url = daemon.info()["status_url"]
    assert url.startswith("http://127.0.0.1:")
    assert http_get(url + "/status")[0] == 401
    assert http_get(url + "/metrics")[0] == 401
    assert http_get(url + "/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert http_get(url + f"/?token={TOKEN}")[0] == 200
    shown = run_cli(daemon.home, "status", config=daemon.config_path)
    assert shown.returncode == 0 and f"pid {daemon.proc.pid}" in shown.stdout, shown.stderr


def test_a_port_in_use_is_one_line_naming_the_port(home):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = home / "agentdeck.toml"
    config.write_text(toml_config(home, servers={"s": scripted()}, daemon={"status_listen": f"127.0.0.1:{port}"}))
    try:
        proc = subprocess.run([sys.executable, str(REPO / "run.py"), "--config", str(config)], cwd=REPO,
                              env=clean_env(home), capture_output=True, text=True, timeout=30)
    finally:
        taken.close()
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"agentdeck: cannot serve status on 127.0.0.1:{port}: Address already in use "
        '(set [daemon] status_listen to a free port, or "" to turn it off)')
    assert "Traceback" not in proc.stderr
    assert not (home / "sockets" / "mcp-s.sock").exists()


def test_a_huge_body_and_a_slow_loris_leave_the_daemon_serving_everyone(start_daemon):
    daemon = start_daemon({"s": scripted()})
    host, port = daemon.info()["status_url"].removeprefix("http://").split(":")
    client = client_of(daemon, "s")
    big = socket.create_connection((host, int(port)), timeout=10)
    big.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (10 * 1024 * 1024))
    assert big.recv(4096).startswith(b"HTTP/1.1 413")
    loris = socket.create_connection((host, int(port)), timeout=10)
    loris.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    def dribble():
        try:
            while True:
                loris.sendall(b"X-Slow: y\r\n")
                gevent.sleep(0.5)
        except OSError:  # cut off by the server: what this test waits for
            return
    dribbler = gevent.spawn(dribble)
    started = time.monotonic()
    for i in range(3):
        assert http_get(daemon.info()["status_url"] + "/status", timeout=3)[0] == 200
        assert echo(client, i, f"still here {i}", timeout=3) == f"still here {i}"
    assert time.monotonic() - started < 3, "a slow client held up the others"
    dribbler.join(timeout=http_status.HEAD_TIMEOUT + 5)
    assert dribbler.dead, "the slow client was not cut off"
    refused = daemon.status()["http"]["refused"]
    assert refused == {"body_too_large": 1, "timeout": 1}
    big.close()
    loris.close()
    client.close()


# -- logs ---------------------------------------------------------------------------------

def test_json_log_lines_and_each_servers_stderr_in_its_own_log(start_daemon):
    daemon = start_daemon({"s": scripted()}, daemon={"log_json": True})
    client = client_of(daemon, "s")
    client.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "crash", "arguments": {"code": 3}}})
    assert client.read()["error"]["code"] == -32001
    log = daemon.home / "logs"
    wait_for(lambda: (log / "mcp-s.log").exists() and (log / "mcp-s.log").read_text(), 10, message="mcp-s.log")
    client.close()
    daemon.stop()
    records = [json.loads(line) for line in (log / "daemon.log").read_text().splitlines()]
    assert any("ready" in r["message"] for r in records)
    assert records[-1]["message"] == "agentdeck stopped (exit 0)", "the last line is flushed before exit"
    assert all(set(r) >= {"time", "level", "message"} for r in records)
    assert "crash" in (log / "mcp-s.log").read_text().lower()


def test_log_level_from_the_config_and_from_the_command_line(start_daemon):
    quiet = start_daemon(daemon={"log_level": "WARNING"})
    http_get(quiet.info()["status_url"] + "/status")
    verbose = start_daemon(daemon={"log_level": "WARNING"}, extra_args=("--log-level", "debug"))
    http_get(verbose.info()["status_url"] + "/status")
    verbose.expect(r"DEBUG +http: .*GET /status")
    quiet_log = quiet.home / "logs" / "daemon.log"  # created by the first line written
    assert not quiet_log.exists() or "ready" not in quiet_log.read_text()
    assert "INFO" not in quiet.output


def test_a_log_sink_with_no_space_left_does_not_stop_the_daemon(start_daemon):
    def full_disk(home):
        (home / "logs").mkdir(mode=0o700)
        os.symlink("/dev/full", home / "logs" / "daemon.log")
    daemon = start_daemon({"s": scripted()}, prepare=full_disk)
    daemon.expect("cannot write .*daemon.log: No space left on device; .* the daemon keeps serving")
    client = client_of(daemon, "s")
    assert echo(client, 1, "served anyway") == "served anyway"
    samples = metrics_of(daemon)
    assert samples[("agentdeck_log_lines_lost_total", frozenset())] > 0
    client.close()
    daemon.stop()  # exit 0, no traceback


CONNECTIONS = 1200  # each one logs a join and a leave: several times what a 64 KiB pipe holds


def join_and_leave(path, timeout=5.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))


def read_available(fd, deadline, until):
    """What the pipe ``fd`` (non-blocking) holds, read until ``until`` is in it or the deadline."""
    data = b""
    while until not in data and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            gevent.sleep(0.05)
            continue
        data += chunk
    return data


def test_a_stderr_pipe_nobody_reads_never_freezes_the_daemon(home):
    """Regression: with stderr a pipe nobody read, the daemon froze after ~550 connections
    (a blocking write to fd 2 blocks the hub): every call hung and SIGTERM was ignored."""
    unread, stderr = os.pipe()
    os.set_blocking(unread, False)
    try:
        daemon = DaemonProcess(home, toml_config(home, servers={"s": scripted()}), ("--log-level", "debug"),
                               stderr=stderr)
    finally:
        os.close(stderr)
    try:
        daemon.info()
        deadline = time.monotonic() + 30
        for n in range(CONNECTIONS):
            assert time.monotonic() < deadline, f"only {n} connections in 30 s"
            try:
                join_and_leave(daemon.socket_path("s"))
            except TimeoutError:
                pytest.fail(f"connection {n + 1} not accepted within 5 s: the daemon froze")
        client = LineClient(daemon.socket_path("s"), timeout=5)
        client.initialize()
        assert echo(client, 1, "still serving") == "still serving"
        assert metrics_of(daemon)[("agentdeck_log_lines_lost_total", frozenset())] > 0
        # Someone reads again: the next line is preceded by how many were lost.
        output = read_available(unread, time.monotonic() + 1, b"could not take")
        join_and_leave(daemon.socket_path("s"))
        output += read_available(unread, time.monotonic() + 5, b"could not take")
        assert re.search(rb"\nagentdeck: \d+ log lines dropped: stderr could not take them", output), output[-2000:]
        broken = [line for line in output.splitlines() if not re.match(rb"\d{4}-\d\d-\d\d |agentdeck: ", line)]
        assert not broken, f"lines broken up on stderr: {broken[:5]}"
        client.close()
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert exit_code_within(daemon, STOP_DEADLINE) == 0
        assert time.monotonic() - started < STOP_DEADLINE
        assert "agentdeck stopped (exit 0)" in (daemon.home / "logs" / "daemon.log").read_text()
    finally:
        daemon.kill()
        os.close(unread)


# -- reload -------------------------------------------------------------------------------

def test_sighup_starts_added_stops_removed_restarts_changed_and_keeps_untouched_clients(start_daemon):
    servers = {"keep": scripted(), "change": scripted(VERSION="1"), "gone": scripted()}
    daemon = start_daemon(servers)
    clients = {name: client_of(daemon, name) for name in servers}
    assert env_of(clients["change"], 1, "VERSION") == "1"
    before = {name: daemon.server(name)["pid"] for name in servers}
    gone_pid = before["gone"]

    rewrite_config(daemon, {"keep": scripted(), "change": scripted(VERSION="2"), "added": scripted()})
    daemon.signal(signal.SIGHUP)
    daemon.expect(r"config reloaded: 1 added, 1 removed, 1 restarted, 1 unchanged")

    assert echo(clients["keep"], 2, "same connection") == "same connection"
    assert daemon.server("keep")["pid"] == before["keep"] and daemon.server("keep")["clients"] == 1
    assert clients["change"].closed(timeout=10) and clients["gone"].closed(timeout=10)
    assert env_of(client_of(daemon, "change"), 3, "VERSION") == "2"
    assert daemon.server("change")["pid"] != before["change"]
    assert echo(client_of(daemon, "added"), 4, "new") == "new"
    assert not daemon.socket_path("gone").exists()
    wait_for(lambda: not children_of(daemon.proc.pid, "scripted_server") or gone_pid not in
             children_of(daemon.proc.pid, "scripted_server"), 10, message="the removed server's child to exit")
    assert {s["name"] for s in daemon.status()["servers"]} == {"keep", "change", "added"}


def test_a_reload_that_changes_a_limit_while_an_http_session_is_open_keeps_the_daemon_up(start_daemon):
    # Regression (soak): apply_settings set `splitter.limit` on every client, and an HTTP
    # session has no splitter: the AttributeError ended the main greenlet, the daemon died.
    from tests.mcphttp import McpHttp
    daemon = start_daemon({"s": scripted()})
    http = McpHttp(daemon.info()["status_url"] + "/mcp/s")
    http.initialize()
    sock = client_of(daemon, "s")
    daemon.config_path.write_text(toml_config(daemon.home, servers={"s": scripted()},
                                              pool={"max_request_bytes": 2 * 1048576}))
    daemon.signal(signal.SIGHUP)
    daemon.expect(r"config reloaded: 0 added, 0 removed, 0 restarted, 1 unchanged")
    assert echo(sock, 1, "x" * 1500000) == "x" * 1500000  # the raised limit, in force on the open connection
    reply = http.call(2, "echo", {"text": "y" * 1500000})
    assert reply.status == 200 and reply.json()["result"]["content"][0]["text"] == "y" * 1500000
    assert daemon.proc.poll() is None


@pytest.mark.parametrize("broken", [
    "[daemon\nnot toml",
    '[pool]\nmax_clients = "many"\n',
    "[mcp.s]\nargs = []\n",  # no command
])
def test_a_config_broken_before_sighup_is_logged_and_the_old_one_stays(start_daemon, broken):
    daemon = start_daemon({"s": scripted()})
    client = client_of(daemon, "s")
    pid = daemon.server("s")["pid"]
    daemon.config_path.write_text(broken)
    daemon.signal(signal.SIGHUP)
    daemon.expect(rf"ERROR +reload failed, keeping the running config: {daemon.config_path}: ")
    assert echo(client, 1, "unchanged") == "unchanged"
    assert daemon.server("s")["pid"] == pid
    rewrite_config(daemon, {"s": scripted(), "t": scripted()})  # fixed: the next reload applies it
    daemon.signal(signal.SIGHUP)
    daemon.expect(r"config reloaded: 1 added, 0 removed, 0 restarted, 1 unchanged")
    assert echo(client, 2, "still the same connection") == "still the same connection"


def test_a_reload_applies_a_new_log_level(start_daemon):
    daemon = start_daemon({"s": scripted()})
    rewrite_config(daemon, {"s": scripted()}, {"log_level": "DEBUG"})
    daemon.signal(signal.SIGHUP)
    daemon.expect(r"config reloaded")
    http_get(daemon.info()["status_url"] + "/status")
    daemon.expect(r"DEBUG +http: .*GET /status")


# -- stopping -----------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_everything_in_order_and_exits_0_within_10_s(start_daemon, signum):
    daemon = start_daemon({"a": scripted(), "b": scripted()})
    busy, idle = client_of(daemon, "a"), client_of(daemon, "b")
    busy.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
               "params": {"name": "slow", "arguments": {"seconds": 60, "text": "too late"}}})
    wait_for(lambda: daemon.server("a")["in_flight"] == 1, 10, message="the request to be in flight")
    children = children_of(daemon.proc.pid, "scripted_server")
    assert len(children) == 2
    started = time.monotonic()
    daemon.signal(signum)
    assert busy.read(timeout=STOP_DEADLINE)["error"]["code"] == -32001
    assert exit_code_within(daemon, STOP_DEADLINE) == 0
    assert time.monotonic() - started < STOP_DEADLINE
    assert idle.closed(timeout=1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in children)
    assert os.listdir(daemon.home / "sockets") == []
    assert not (daemon.home / "daemon.json").exists()
    assert daemon.lines[-1].endswith("agentdeck stopped (exit 0)")
    assert "Traceback" not in daemon.output


def test_a_second_sigint_stops_at_once(start_daemon):
    daemon = start_daemon({"a": scripted()})
    busy = client_of(daemon, "a")
    busy.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "slow", "arguments": {"seconds": 60, "text": "too late"}}})
    wait_for(lambda: daemon.server("a")["in_flight"] == 1, 10, message="the request to be in flight")
    [child] = children_of(daemon.proc.pid, "scripted_server")
    daemon.signal(signal.SIGINT)
    daemon.expect("stopping: 1 servers")  # the ordered stop waits for the request in flight...
    started = time.monotonic()
    daemon.signal(signal.SIGINT)  # ...a second SIGINT does not
    assert exit_code_within(daemon, 5) == 130
    assert time.monotonic() - started < 2
    assert "second SIGINT: stopping now" in daemon.output
    wait_for(lambda: not os.path.exists(f"/proc/{child}"), 5, message="the child to be killed")
    assert os.listdir(daemon.home / "sockets") == []
    assert "Traceback" not in daemon.output
