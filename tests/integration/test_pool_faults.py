"""Regression tests for faults found when agentdeck was tried as a new user would: each
failed before its fix."""
import signal
import socket
import time

from tests.integration.test_pool_lifecycle import call, client_of, text_of
from tests.support import LineClient, rmtree, scripted, short_tmpdir, toml_config, DaemonProcess, wait_for


def test_max_clients_counts_only_live_connections_not_a_probe_that_already_closed(start_daemon):
    """A probe that connected and closed used to hold a place until its reader ran, so the
    last of max_clients real clients got -32003 with only max_clients - 1 connected."""
    daemon = start_daemon({"s": scripted()}, pool={"max_clients": 3})
    path = str(daemon.socket_path("s"))
    client_of(daemon).close()  # the child is up and the handshake cached
    wait_for(lambda: daemon.server("s")["clients"] == 0, 10, message="the first client gone")
    daemon.signal(signal.SIGSTOP)  # every connection below waits in the backlog: one accept batch
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
        clients = [LineClient(path) for _ in range(3)]
    finally:
        daemon.signal(signal.SIGCONT)
    for i, client in enumerate(clients):
        reply = client.request(i, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                 "clientInfo": {"name": "t", "version": "1"}}, timeout=10)
        assert "result" in reply, reply
    assert daemon.server("s")["rejected"] == 0


def test_a_reload_that_raises_max_clients_lets_the_new_clients_in(start_daemon):
    """After SIGHUP raised max_clients from 2 to 30, the 11th client hung with no answer:
    the accept pool kept its old size (max_clients + 8)."""
    daemon = start_daemon({"s": scripted()}, pool={"max_clients": 2})
    daemon.config_path.write_text(toml_config(daemon.home, servers={"s": scripted()}, pool={"max_clients": 30}))
    daemon.signal(signal.SIGHUP)
    daemon.expect(r"config reloaded: 0 added, 0 removed, 0 restarted, 1 unchanged")
    clients = [client_of(daemon) for _ in range(30)]
    assert all(text_of(call(c, 1, "echo", {"text": "in"}, timeout=10)) == "in" for c in clients)
    refused = LineClient(daemon.socket_path("s")).request("31st", "tools/list", timeout=10)
    assert refused["error"]["code"] == -32003 and refused["error"]["data"]["limit"] == 30


def test_one_hung_server_does_not_delay_another_servers_health_check(start_daemon):
    """The monitor used to join every server's ping: a hung server that ignores SIGTERM
    held the next round for the whole stop grace (5 s), so a second hung server went
    unnoticed that long."""
    servers = {"stubborn": scripted("--ignore-term"), "other": scripted()}
    daemon = start_daemon(servers, pool={"ping_interval": 0.3, "ping_timeout": 0.5})
    stubborn, other = client_of(daemon, "stubborn"), client_of(daemon, "other")
    assert text_of(call(stubborn, 1, "hang")) == "hanging"
    daemon.expect(r"server stubborn: pid \d+ hung", timeout=10)  # its stop now takes the 5 s grace
    assert text_of(call(other, 1, "hang")) == "hanging"
    hung_at = time.monotonic()
    daemon.expect(r"server other: pid \d+ hung", timeout=10)
    assert time.monotonic() - hung_at < 3.0, "the second server's hang was noticed late"


def test_stop_interrupts_a_restart_back_off():
    """A server in back-off kept stop() waiting for the supervisor's join (3 s) because its
    sleep could not be interrupted."""
    home = short_tmpdir()
    daemon = DaemonProcess(home, toml_config(home, servers={"s": scripted("--exit-at-start", "1")}))
    try:
        daemon.expect(r"agentdeck .* ready")
        wait_for(lambda: daemon.server("s")["state"] == "backoff", 10, message="the server in back-off")
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        daemon.proc.wait(timeout=10)
        assert time.monotonic() - started < 2.0
    finally:
        daemon.stop()
        rmtree(home)


def test_a_restarted_child_slower_to_start_than_ping_timeout_is_waited_for(start_daemon):
    """The soak: mcp-server-time, restarted after a kill on a loaded machine, took over
    ping_timeout (3 s) to answer the replayed initialize, was stopped as not answering,
    restarted, stopped again, and given up on after 10 such failures (state fatal). A first
    start slower than ping_timeout (npx fetching a package) was stopped as hung the same way."""
    daemon = start_daemon({"s": scripted("--slow-start", "2")}, pool={"ping_interval": 0.3, "ping_timeout": 0.5})
    client = client_of(daemon)
    call(client, 1, "crash", {"code": 1}, timeout=10)
    wait_for(lambda: daemon.output.count("server s: started pid") == 2, 15, message="the child started again")
    reply = call(client, 2, "echo", {"text": "back"}, timeout=20)
    assert "result" in reply and text_of(reply) == "back", reply
    assert "did not answer the replayed initialize" not in daemon.output


def test_stop_during_the_handshake_does_not_crash_the_supervisor():
    """A stop that came while a new child was being probed set the server stopping; the
    child's answer, arriving during its stop grace, then set it running from stopping, an
    illegal change that crashed the supervisor with a traceback (found by a full CI run)."""
    home = short_tmpdir()
    daemon = DaemonProcess(home, toml_config(home, servers={"s": scripted("--ignore-term", "--slow-start", "1.5")}))
    try:
        daemon.expect(r"server s: started pid")
        daemon.signal(signal.SIGTERM)  # the child answers the probe 1.5 s after its start, while it is being stopped
        daemon.proc.wait(timeout=15)
        assert "illegal server state change" not in daemon.output, daemon.output
    finally:
        daemon.stop()
        rmtree(home)
