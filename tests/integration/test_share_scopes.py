"""Sharing scopes against a real daemon: ``share = "project"`` runs one child per project
directory, ``share = "session"`` one per client; each child is supervised on its own.
The scripted server's ``whoami`` tells its pid, cwd and the value it was told to
``remember`` (per-process state). Through raw socket clients (with the bridge's hello),
through the HTTP front door and through the bridge itself."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.test_pool_lifecycle import call
from tests.mcphttp import McpHttp
from tests.support import REPO, DaemonProcess, LineClient, children_of, clean_env, rmtree, scripted, short_tmpdir, toml_config, \
    wait_for

from agentdeck.clientfiles.endpoint import server_url
from agentdeck.pool.unit import file_tag
from agentdeck.wire.hello import hello_line, project_key


@pytest.fixture
def projects():
    """Two project directories, and a symlink to the first (the same project by real path)."""
    root = short_tmpdir("ad-proj-")
    a, b = root / "alpha", root / "beta"
    a.mkdir()
    b.mkdir()
    (root / "alpha-link").symlink_to(a)
    yield os.path.realpath(a), os.path.realpath(b), str(root / "alpha-link")
    rmtree(root)


def per_project(**more):
    return {"s": {**scripted(), "share": "project", **more}}


def client_in(daemon, project, name="s"):
    """A socket client that says hello from ``project`` (as the bridge does) and initializes."""
    client = LineClient(daemon.socket_path(name))
    if project is not None:
        client.send_raw(hello_line(project))
    client.initialize()
    return client


def whoami(client, id_=90):
    reply = call(client, id_, "whoami")
    return reply["result"]


def children(daemon, name="s"):
    return daemon.server(name)["children"]


def gone(pid):
    """True once ``pid`` is reaped (no zombie left: a zombie still has a /proc entry)."""
    return not os.path.exists(f"/proc/{pid}")


def sockets_of(pid):
    """How many sockets process ``pid`` holds open."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


# -- share = "project" over the socket ------------------------------------------------

def test_two_projects_get_two_children_that_never_see_each_others_state(start_daemon, projects):
    alpha, beta, alpha_link = projects
    daemon = start_daemon(per_project())
    a1, b1 = client_in(daemon, alpha), client_in(daemon, beta)
    assert call(a1, 1, "remember", {"value": "alpha's"})["result"]["content"][0]["text"] == "remembered"
    a, b = whoami(a1), whoami(b1)
    assert a["pid"] != b["pid"]
    assert (a["cwd"], b["cwd"]) == (alpha, beta)  # the default cwd of a project child is its project
    assert (a["memory"], b["memory"]) == ("alpha's", None)
    call(b1, 2, "remember", {"value": "beta's"})
    assert whoami(a1, 3)["memory"] == "alpha's"
    # A second session of alpha, reached through a symlink, shares alpha's child.
    a2 = client_in(daemon, alpha_link)
    assert whoami(a2) == {**a, "memory": "alpha's"}
    status = daemon.server("s")
    assert status["share"] == "project" and status["clients"] == 3 and status["child_count"] == 2
    by_project = {c["project"]: c for c in status["children"]}
    assert by_project[alpha]["pid"] == a["pid"] and by_project[alpha]["clients"] == 2
    assert by_project[beta]["pid"] == b["pid"] and by_project[beta]["clients"] == 1
    assert (daemon.home / "handshakes" / f"s@{file_tag(alpha)}.json").exists()


def test_cwd_args_and_env_take_the_project(start_daemon, projects):
    alpha, beta, _ = projects
    os.mkdir(os.path.join(alpha, "sub"))
    entry = per_project(cwd="{project}/sub")
    entry["s"]["args"] = [*entry["s"]["args"], "--root={project}"]
    entry["s"]["env"] = {"ROOT": "{project}"}
    daemon = start_daemon(entry)
    client = client_in(daemon, alpha)
    me = whoami(client)
    assert me["cwd"] == os.path.join(alpha, "sub") and me["argv"][-1] == f"--root={alpha}"
    assert json.loads(call(client, 2, "env", {"name": "ROOT"})["result"]["content"][0]["text"]) == alpha


def test_a_client_that_names_no_project_gets_a_clear_error_and_a_shared_server_takes_any(start_daemon, projects):
    alpha, _, _ = projects
    daemon = start_daemon({**per_project(), "all": scripted()})
    anonymous = LineClient(daemon.socket_path("s"))  # like `nc -U`: no hello
    reply = anonymous.request("first", "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
    assert reply["id"] == "first" and reply["error"]["code"] == -32600
    assert "agentdeck bridge s" in reply["error"]["message"] and "/servers/s/p/<key>/mcp" in reply["error"]["message"]
    assert anonymous.closed(timeout=5)
    # share = "all": a client without a hello is served, and one with a hello has it consumed.
    plain, greeting = client_in(daemon, None, "all"), client_in(daemon, alpha, "all")
    assert whoami(plain)["pid"] == whoami(greeting)["pid"]
    assert daemon.server("all")["share"] == "all" and len(daemon.server("all")["children"]) == 1


def test_idle_stop_stops_an_unused_project_child_and_the_next_client_gets_the_cached_handshake(start_daemon, projects):
    alpha, _, _ = projects
    daemon = start_daemon(per_project(idle_stop=1))
    first = client_in(daemon, alpha)
    pid = whoami(first)["pid"]
    first.close()
    wait_for(lambda: not children(daemon), 10, message="the idle project child to be stopped")
    wait_for(lambda: gone(pid), 10, message="the stopped child to be reaped")
    nxt = client_in(daemon, alpha)  # its initialize is answered from the handshake kept on disk
    me = whoami(nxt)
    assert me["pid"] != pid and me["initializes"] == 1  # the replayed one: the client's did not reach it
    assert daemon.server("s")["children"][0]["pid"] == me["pid"]


def test_max_children_refuses_the_next_project_with_32003(start_daemon, projects):
    alpha, beta, _ = projects
    third = short_tmpdir("ad-proj3-")
    try:
        daemon = start_daemon(per_project(max_children=2))
        a, b = client_in(daemon, alpha), client_in(daemon, beta)
        over = LineClient(daemon.socket_path("s"))
        over.send_raw(hello_line(str(third)))
        reply = over.request(7, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
        assert reply["id"] == 7 and reply["error"]["code"] == -32003
        assert "max_children = 2" in reply["error"]["message"] and reply["error"]["data"]["limit"] == 2
        assert over.closed(timeout=5)
        assert whoami(a)["cwd"] == alpha and whoami(b)["cwd"] == beta  # both still served
        assert daemon.server("s")["rejected"] >= 1
    finally:
        rmtree(third)


def test_a_crash_in_one_projects_child_leaves_the_other_projects_untouched(start_daemon, projects):
    alpha, beta, _ = projects
    daemon = start_daemon(per_project())
    a, b = client_in(daemon, alpha), client_in(daemon, beta)
    a_pid, b_pid = whoami(a)["pid"], whoami(b)["pid"]
    crashed = call(a, 1, "crash", {"code": 7})
    assert crashed["error"]["code"] == -32001 and "crashing on demand" in crashed["error"]["data"]["stderr_tail"]
    assert whoami(b, 2)["pid"] == b_pid  # the other project's child and client go on
    by_project = {c["project"]: c for c in children(daemon)}
    assert by_project[beta]["restarts"] == 0 and by_project[beta]["state"] == "running"
    wait_for(lambda: {c["project"]: c for c in children(daemon)}[alpha]["state"] == "running" and
             {c["project"]: c for c in children(daemon)}[alpha]["pid"] not in (None, a_pid), 20,
             message="alpha's child to be restarted")
    assert whoami(a, 3)["pid"] != a_pid  # the same client, served by the restarted child
    alpha_log = (daemon.home / "logs" / f"mcp-s@{file_tag(alpha)}.log").read_text()
    beta_log = daemon.home / "logs" / f"mcp-s@{file_tag(beta)}.log"
    assert "crashing on demand" in alpha_log
    assert not beta_log.exists() or "crashing on demand" not in beta_log.read_text()


# -- share = "session" ------------------------------------------------------------------

def test_a_session_child_ends_when_its_client_leaves(start_daemon):
    daemon = start_daemon({"s": {**scripted(), "share": "session"}})
    baseline = sockets_of(daemon.proc.pid)
    one, two = client_in(daemon, None), client_in(daemon, None)
    pid_one, pid_two = whoami(one)["pid"], whoami(two)["pid"]
    assert pid_one != pid_two and len(children(daemon)) == 2
    one.close()
    wait_for(lambda: gone(pid_one), 10, message="the session child to exit and be reaped")
    wait_for(lambda: [c["pid"] for c in children(daemon)] == [pid_two], 10, message="one child left")
    assert pid_one not in children_of(daemon.proc.pid, "scripted_server")
    two.close()
    wait_for(lambda: not children(daemon) and gone(pid_two), 10, message="no session child left")
    # Every connection (and the children's pipes) closed: the daemon holds what it held before.
    wait_for(lambda: sockets_of(daemon.proc.pid) <= baseline, 10, message="the daemon's sockets back to baseline")


# -- reload -----------------------------------------------------------------------------

def test_reload_restarts_the_children_of_a_server_whose_cwd_changed_and_keeps_the_others(start_daemon, projects):
    alpha, _, _ = projects
    os.mkdir(os.path.join(alpha, "sub"))
    servers = {**per_project(), "keep": {**scripted(), "share": "project"}}
    daemon = start_daemon(servers)
    changed, kept = client_in(daemon, alpha), client_in(daemon, alpha, "keep")
    changed_pid, kept_pid = whoami(changed)["pid"], whoami(kept)["pid"]
    servers["s"] = {**servers["s"], "cwd": "{project}/sub"}
    servers["keep"] = {**servers["keep"], "max_children": 3}  # a bound alone: applied in place
    daemon.config_path.write_text(toml_config(daemon.home, servers=servers))
    daemon.signal(signal.SIGHUP)
    daemon.expect(r"config reloaded: 0 added, 0 removed, 1 restarted, 1 unchanged")
    assert changed.closed(timeout=10)
    assert whoami(client_in(daemon, alpha))["cwd"] == os.path.join(alpha, "sub")
    assert whoami(kept, 2)["pid"] == kept_pid and daemon.server("keep")["max_children"] == 3
    wait_for(lambda: gone(changed_pid), 10, message="the old child to exit")


# -- the HTTP front door --------------------------------------------------------------

def http_in(daemon, project, name="s"):
    """A session at the URL `agentdeck mcp json --dir PROJECT` writes (/servers/NAME/p/KEY/mcp)."""
    client = McpHttp(server_url(daemon.info()["status_url"], name, project))
    client.initialize()
    return client


def http_whoami(client, id_=90):
    return client.call(id_, "whoami").json()["result"]


def test_http_projects_get_their_own_children_and_sessions_of_a_project_share_one(start_daemon, projects):
    alpha, beta, alpha_link = projects
    daemon = start_daemon(per_project(max_children=2))
    a1, b1 = http_in(daemon, alpha), http_in(daemon, beta)
    a1.call(1, "remember", {"value": "alpha's"})
    a, b = http_whoami(a1), http_whoami(b1)
    assert a["pid"] != b["pid"] and (a["cwd"], b["cwd"]) == (alpha, beta) and b["memory"] is None
    a2 = http_in(daemon, alpha_link)  # the same project by its real path
    assert http_whoami(a2) == {**a, "memory": "alpha's"}
    socket_client = client_in(daemon, alpha)  # a bridge session of the same project joins it too
    assert whoami(socket_client)["pid"] == a["pid"]
    # The first spelling of a project's URL reaches the same child.
    legacy = McpHttp(daemon.info()["status_url"] + f"/mcp/s/p/{project_key(alpha)}")
    legacy.initialize()
    assert http_whoami(legacy)["pid"] == a["pid"]
    # No project in the URL: a clear 400. A third project while both children are in use
    # (beta's session has its stream open): -32003 (max_children).
    stream = b1.open_stream("GET")
    reply = McpHttp(daemon.info()["status_url"] + "/mcp/s").post(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
    assert reply.status == 400 and "mcp json --dir" in reply.json()["error"]["message"]
    third = short_tmpdir("ad-proj3-")
    try:
        over = McpHttp(daemon.info()["status_url"] + f"/mcp/s/p/{project_key(str(third))}").post(
            {"jsonrpc": "2.0", "id": "x", "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
        assert over.json()["id"] == "x" and over.json()["error"]["code"] == -32003
    finally:
        rmtree(third)
    stream.hang_up()
    bad = McpHttp(daemon.info()["status_url"] + "/mcp/s/p/bm90IGFic29sdXRl").post(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    assert bad.status == 404 and "project key" in bad.json()["error"]["message"]


def test_http_session_children_end_with_their_session(start_daemon):
    daemon = start_daemon({"s": {**scripted(), "share": "session"}})
    one, two = http_in(daemon, None), http_in(daemon, None)
    pid_one, pid_two = http_whoami(one)["pid"], http_whoami(two)["pid"]
    assert pid_one != pid_two
    assert one.send("DELETE", None, one.headers()).status == 204
    wait_for(lambda: gone(pid_one), 10, message="the session's child to exit")
    assert [c["pid"] for c in children(daemon)] == [pid_two] and http_whoami(two, 2)["pid"] == pid_two


def test_a_session_id_works_only_at_the_project_it_was_issued_for(start_daemon, projects):
    """Regression: the MAC covered scope/nonce unseparated, so an id issued for /p/sub
    worked as sub/<id> on /p (a session of another project's child)."""
    alpha, _, _ = projects
    sub = os.path.join(alpha, "sub")
    os.mkdir(sub)
    daemon = start_daemon(per_project())
    client = http_in(daemon, sub)
    assert http_whoami(client)["cwd"] == sub
    parent = McpHttp(server_url(daemon.info()["status_url"], "s", alpha))
    for sid in ("sub/" + client.sid, client.sid, client.sid.replace(".", ".sub/", 1)):
        parent.sid = sid
        assert parent.call(1, "whoami").status == 404, sid
    assert [c["project"] for c in children(daemon)] == [sub]  # no child was started for the parent


def test_a_child_that_serves_only_abandoned_sessions_makes_room_at_max_children(start_daemon, projects):
    """Regression: on a server shared per session each bare initialize (`claude mcp list`
    never ends its session) took a child for http_session_idle, and max_children of them
    locked every new client out. Now the least recently used child serving nobody live
    (no stream, nothing in flight) is stopped for the newcomer; one in use never is."""
    daemon = start_daemon({"s": {**scripted(), "share": "session", "max_children": 2}})
    live = http_in(daemon, None)
    stream = live.open_stream("GET")  # in use: never stopped for anyone
    flood = [http_in(daemon, None) for _ in range(4)]  # each ends the one before it
    newcomer = http_in(daemon, None)
    mine = http_whoami(newcomer)
    assert http_whoami(live)["pid"] != mine["pid"]
    assert all(f.call(1, "whoami").status == 404 for f in flood)  # ended: their clients initialize again
    assert daemon.server("s")["made_room"] == 4 and daemon.server("s")["rejected"] == 0
    wait_for(lambda: len(children(daemon)) == 2, 10, message="the stopped children to leave the table")
    # The log says why each went (it said "its client left" when the daemon had ended it).
    wait_for(lambda: daemon.output.count("made room for another (max_children)") == 4, 10,
             message="four 'made room' lines in the log")
    assert "its client left" not in daemon.output
    newcomer_stream = newcomer.open_stream("GET")
    over = McpHttp(server_url(daemon.info()["status_url"], "s", None)).post(
        {"jsonrpc": "2.0", "id": "x", "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
    assert over.json()["error"]["code"] == -32003  # both children in use: refused
    stream.hang_up()
    newcomer_stream.hang_up()


def test_an_http_project_session_outlives_a_daemon_restart_in_a_new_child_of_its_project(projects):
    alpha, beta, _ = projects
    home = short_tmpdir()
    config = toml_config(home, servers=per_project())
    first = DaemonProcess(home, config)
    try:
        client = http_in(first, alpha)
        http_in(first, beta)
        pid = http_whoami(client)["pid"]
        first.stop()
        second = DaemonProcess(home, config)
        client.port = int(second.info()["status_url"].rsplit(":", 1)[1])
        # Taken up again without a new initialize, by a new child of the same project,
        # which got the handshake kept on disk replayed.
        me = http_whoami(client, 2)
        assert me["pid"] != pid and me["cwd"] == alpha and me["initializes"] == 1
        assert [c["project"] for c in children(second)] == [alpha]  # beta's child waits for a client
        # The same session id at another project's URL is not that project's session.
        elsewhere = McpHttp(second.info()["status_url"] + f"/mcp/s/p/{project_key(beta)}")
        elsewhere.sid = client.sid
        assert elsewhere.call(3, "whoami").status == 404
        second.stop()
    finally:
        first.kill()
        rmtree(home)


# -- the bridge -----------------------------------------------------------------------

def bridge_in(daemon, project, name="s"):
    return subprocess.Popen([sys.executable, "-m", "agentdeck", "bridge", "--config", str(daemon.config_path), name],
                            cwd=project, env={**clean_env(daemon.home), "PYTHONPATH": str(REPO)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def bridge_session(daemon, project, *tools, name="s"):
    """One agent session through a real bridge run in ``project``: initialize, call each
    tool (name or (name, arguments)), close stdin. Its replies by id (1 = initialize)."""
    proc = bridge_in(daemon, project, name)
    lines = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}},
             {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    for n, tool in enumerate(tools, 2):
        name, arguments = (tool, {}) if isinstance(tool, str) else tool
        lines.append({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name,
                                                                                  "arguments": arguments}})
    out, err = proc.communicate(b"".join(json.dumps(m).encode() + b"\n" for m in lines), timeout=30)
    assert proc.returncode == 0, err
    return {m["id"]: m for m in map(json.loads, out.splitlines())}


def bridge_whoami(daemon, project):
    replies = bridge_session(daemon, project, "whoami")
    assert "result" in replies[1], replies
    return replies[2]["result"]


def test_bridges_in_two_projects_reach_two_children_and_two_in_one_project_share_one(start_daemon, projects):
    alpha, beta, alpha_link = projects
    daemon = start_daemon(per_project())
    keeper = client_in(daemon, alpha)  # keeps alpha's child alive between the bridges
    first, second, other = (bridge_whoami(daemon, d) for d in (alpha, alpha_link, beta))
    assert first["pid"] == second["pid"] == whoami(keeper)["pid"] and first["cwd"] == alpha
    assert other["pid"] != first["pid"] and other["cwd"] == beta


def test_through_bridges_a_crash_idle_stop_max_children_and_session_children(start_daemon, projects):
    alpha, beta, _ = projects
    third = short_tmpdir("ad-proj3-")
    try:
        daemon = start_daemon({**per_project(idle_stop=1, max_children=2), "solo": {**scripted(), "share": "session"}})
        keeper = client_in(daemon, beta)  # beta's child stays up throughout
        beta_pid = whoami(keeper)["pid"]
        # A crash in alpha's child: that bridge's call gets -32001; beta is untouched.
        crashed = bridge_session(daemon, alpha, "whoami", ("crash", {"code": 5}))
        alpha_pid = crashed[2]["result"]["pid"]
        assert crashed[3]["error"]["code"] == -32001
        assert whoami(keeper, 2)["pid"] == beta_pid
        # alpha's child has no client: idle_stop stops it; the next bridge gets a new child,
        # initialized with the cached handshake (the bridge's own initialize never reaches it).
        wait_for(lambda: [c["project"] for c in children(daemon)] == [beta] and gone(alpha_pid), 20,
                 message="alpha's child stopped by idle_stop")
        me = bridge_whoami(daemon, alpha)
        assert me["pid"] != alpha_pid and me["initializes"] == 1 and me["cwd"] == alpha
        # Two projects with a client each: a bridge in a third is over max_children = 2.
        held = client_in(daemon, alpha)
        over = bridge_session(daemon, str(third))[1]
        assert over["error"]["code"] == -32003 and "max_children = 2" in over["error"]["message"]
        assert whoami(held, 3)["cwd"] == alpha
        # share = "session": the bridge's own child, ended with the bridge.
        solo = bridge_session(daemon, alpha, "whoami", name="solo")[2]["result"]
        assert solo["pid"] not in (beta_pid, me["pid"])
        wait_for(lambda: gone(solo["pid"]) and not children(daemon, "solo"), 10, message="the session child to end")
    finally:
        rmtree(third)


def test_through_http_idle_stop_replays_the_handshake_and_a_crash_stays_in_its_project(start_daemon, projects):
    alpha, beta, _ = projects
    daemon = start_daemon(per_project(idle_stop=1))
    a, b = http_in(daemon, alpha), http_in(daemon, beta)
    a_pid, b_pid = http_whoami(a)["pid"], http_whoami(b)["pid"]
    crashed = a.call(1, "crash", {"code": 4}).json()
    assert crashed["error"]["code"] == -32001
    assert http_whoami(b, 2)["pid"] == b_pid
    assert a.send("DELETE", None, a.headers()).status == 204  # alpha's child has no client now
    wait_for(lambda: [c["project"] for c in children(daemon)] == [beta] and gone(a_pid), 20,
             message="alpha's child stopped by idle_stop")
    again = http_in(daemon, alpha)  # answered from the handshake kept on disk
    me = http_whoami(again)
    assert me["pid"] != a_pid and me["initializes"] == 1 and me["cwd"] == alpha


def test_mcp_list_status_metrics_and_the_page_show_each_child(start_daemon, projects):
    from urllib.request import urlopen

    from tests.support import run_cli

    alpha, beta, _ = projects
    daemon = start_daemon({**per_project(), "all": scripted()})
    a, b = client_in(daemon, alpha), client_in(daemon, beta)
    pids = {alpha: whoami(a)["pid"], beta: whoami(b)["pid"]}
    listed = run_cli(daemon.home, "mcp", "list", config=daemon.config_path)
    assert listed.returncode == 0, listed.stderr
    for project, pid in pids.items():
        row = next(line for line in listed.stdout.splitlines() if line.startswith(f"s@{project}"))
        assert "running" in row and str(pid) in row
    rows = json.loads(run_cli(daemon.home, "mcp", "list", "--json", config=daemon.config_path).stdout)
    served = next(r for r in rows if r["name"] == "s")
    assert served["share"] == "project" and {c["project"]: c["pid"] for c in served["children"]} == pids
    base = daemon.info()["status_url"]
    with urlopen(base + "/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'agentdeck_mcp_children{server="s"} 2' in metrics and 'agentdeck_mcp_children{server="all"} 1' in metrics
    with urlopen(base + "/", timeout=5) as resp:
        page = resp.read().decode()
    assert "s (one per project)" in page and f"s @ {alpha}" in page and f"s @ {beta}" in page


def test_connections_that_have_not_said_who_they_are_count_toward_max_clients(start_daemon):
    """Regression guard: a server that reads a first line before placing a client must
    not let silent connections pile up beyond max_clients."""
    daemon = start_daemon({"s": {**scripted(), "share": "session"}}, pool={"max_clients": 2})
    silent = [LineClient(daemon.socket_path("s")) for _ in range(2)]  # accepted (and waited on) in order
    extra = LineClient(daemon.socket_path("s"))
    refused = extra.request("x", "tools/list")
    assert refused["id"] == "x" and refused["error"]["code"] == -32003
    for client in silent:
        client.close()

    def served():
        try:
            return whoami(client_in(daemon, None))["pid"]
        except (KeyError, ConnectionError):  # the proxy has not yet seen the silent ones leave
            return None
    assert wait_for(served, 10, message="a client served once the silent ones left")



def _refused(daemon, alpha, send):
    """The answer of a client refused by a session server whose only child is taken, after
    it said hello and then ``send(sock)``; the keeper's child is served on meanwhile."""
    keeper = client_in(daemon, alpha, "solo")  # holds the only child
    pid = whoami(keeper)["pid"]
    over = LineClient(daemon.socket_path("solo"))
    over.send_raw(hello_line(alpha))
    time.sleep(0.3)  # the hello is read (and the refusal decided) before the request comes
    send(over)
    reply = over.read()
    assert over.closed(timeout=5)
    assert whoami(keeper, 91)["pid"] == pid
    keeper.sock.close()
    return reply


BIG_CALL = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"text": "x" * (1 << 20)}}}).encode() + b"\n"


def test_a_refusal_names_no_request_it_did_not_read_whole(start_daemon, projects):
    """Regression (the soak: a bridge got "a second answer", -32003 and then the server's
    result): the refusal took the id from the first 4 KiB of a request still being written;
    the bridge, which had not finished writing it, sent it whole on its next connection."""
    daemon = start_daemon({"solo": {**scripted(), "share": "session", "max_children": 1}})
    reply = _refused(daemon, projects[0], lambda over: over.send_raw(BIG_CALL[:65536]))  # never finished
    assert reply["id"] is None and reply["error"]["code"] == -32003, reply


def test_a_big_request_on_a_refused_connection_is_answered_by_its_id(start_daemon, projects):
    """Regression (the soak: bridge requests "unanswered after 90 s"): a request too big to
    be written at once was answered null, so the bridge sent it again on every connection,
    each refused the same way while the server stayed at max_children."""
    daemon = start_daemon({"solo": {**scripted(), "share": "session", "max_children": 1}})

    def in_pieces(over):
        for at in range(0, len(BIG_CALL), 65536):
            over.send_raw(BIG_CALL[at:at + 65536])
            time.sleep(0.01)
    reply = _refused(daemon, projects[0], in_pieces)
    assert reply["id"] == 7 and reply["error"]["code"] == -32003, reply
