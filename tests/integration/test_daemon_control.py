"""Operating the running daemon from the shell, as a user does on a normal day: the signals
log rotators send, `agentdeck reload` and `agentdeck stop`, the file `mcp import` writes,
a config broken on disk, a bridge to a server that does not exist, and what a server that
fails shows. Real daemons, real processes, the real CLI."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.request

import pytest

from tests.support import (REPO, SCRIPTED_SERVER as SCRIPTED, DaemonProcess, clean_env, rmtree, run_cli, scripted,
                           short_tmpdir, toml_config, wait_for)


def test_usr1_reopens_the_log_files_and_usr2_does_no_harm(start_daemon):
    """Regression (issue 20, friction 17): `kill -USR1` ended the daemon (no handler, so the
    default action); log-rotation setups send USR1/USR2 by habit. USR1 reopens the log
    files (a rotator has moved them away), USR2 changes nothing; the daemon serves on."""
    daemon = start_daemon(servers={"s": scripted()})
    daemon.expect(r"server s: started pid")
    logs = daemon.home / "logs"
    (logs / "daemon.log").rename(logs / "daemon.log.rotated")
    daemon.signal(signal.SIGUSR1)
    daemon.expect(r"SIGUSR1: log files reopened")
    wait_for(lambda: "log files reopened" in _text(logs / "daemon.log"), message="a new daemon.log")
    daemon.signal(signal.SIGUSR2)
    daemon.expect(r"SIGUSR2: nothing to do")
    assert daemon.proc.poll() is None
    wait_for(lambda: daemon.server("s")["state"] == "running", message="s running")
    assert "SIGUSR2" in _text(logs / "daemon.log") and "SIGUSR2" not in _text(logs / "daemon.log.rotated")


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


# -- agentdeck reload / stop ----------------------------------------------------------------

def test_reload_says_what_the_daemon_added_removed_restarted_and_kept(start_daemon):
    """Regression (issue 20, friction 2): a reload needed the pid and `kill -HUP`, and what it
    did showed only in the log. `agentdeck reload` prints it, and the config error when
    the file is broken (exit 1, the daemon serving on with what it had)."""
    daemon = start_daemon({"keep": scripted(), "change": scripted(VERSION="1"), "gone": scripted()})
    kept_pid = daemon.server("keep")["pid"]
    daemon.config_path.write_text(toml_config(daemon.home, servers={
        "keep": scripted(), "change": scripted(VERSION="2"), "added": scripted()}))
    result = run_cli(daemon.home, "reload", config=daemon.config_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"reloaded {daemon.config_path}: 1 added (added), 1 removed (gone), 1 restarted (change), 1 unchanged"]
    assert daemon.server("keep")["pid"] == kept_pid
    assert {s["name"] for s in daemon.status()["servers"]} == {"keep", "change", "added"}

    as_json = run_cli(daemon.home, "reload", "--json", config=daemon.config_path)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {"ok": True, "config": str(daemon.config_path), "added": [],
                                          "removed": [], "restarted": [], "unchanged": ["keep", "change", "added"],
                                          "notes": []}

    daemon.config_path.write_text("[pool]\nmax_clients = \"many\"\n")
    broken = run_cli(daemon.home, "reload", "--config", str(daemon.config_path))
    assert broken.returncode == 1 and broken.stdout == ""
    assert broken.stderr.splitlines() == [
        "agentdeck: reload failed; the daemon runs on with the config it had: "
        f"{daemon.config_path}: [pool] max_clients = 'many': expected a whole number >= 1"], broken.stderr
    assert daemon.server("keep")["pid"] == kept_pid


def test_stop_stops_in_order_and_says_how_it_ended(start_daemon):
    """Regression (issue 20, friction 2): stopping needed the pid and `kill`. `agentdeck stop`
    returns once the daemon has stopped in order and exited, with its exit status."""
    daemon = start_daemon({"s": scripted()})
    pid = daemon.info()["pid"]
    child = wait_for(lambda: daemon.server("s")["pid"], message="s started")
    assert stat.S_IMODE(os.stat(daemon.home / "control.sock").st_mode) == 0o600
    result = run_cli(daemon.home, "stop", config=daemon.config_path)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"stopped the agentdeck daemon \(pid {pid}\) in [0-9.]+ s: exit 0\n", result.stdout)
    assert daemon.proc.wait(timeout=10) == 0
    daemon.expect(r"agentdeck stopped \(exit 0\)")
    assert not _alive(child)
    assert not (daemon.home / "daemon.json").exists() and not (daemon.home / "control.sock").exists()

    again = run_cli(daemon.home, "stop", config=daemon.config_path)
    assert again.returncode == 0 and again.stdout.startswith("nothing to stop: the agentdeck daemon is not running")
    reload = run_cli(daemon.home, "reload", config=daemon.config_path)
    assert reload.returncode == 3 and "the agentdeck daemon is not running" in reload.stderr


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- a config broken on disk ----------------------------------------------------------------

@pytest.mark.parametrize("broken, keep_home_env", [
    ('[daemon]\nhome = "{home}"\n\n[pool]\nmax_clients = "many"\n', False),  # the home from the file
    ("[daemon\nnot toml", True),                                             # from AGENTDECK_HOME
])
def test_status_session_list_and_wait_reach_the_daemon_while_the_config_is_broken(start_daemon, tmux_env,
                                                                                   broken, keep_home_env):
    """Regression (issue 20, friction 3): with an error in the config file on disk, `status`,
    `session list` and `wait` failed on it, although the daemon runs on its last good
    config. They reach it, and say once on stderr what is wrong with the file."""
    daemon = start_daemon({"s": scripted()}, env_extra=tmux_env)
    env = clean_env(daemon.home, **tmux_env)
    added = run_cli(daemon.home, "session", "add", str(daemon.home), "--cmd", "sleep 300", env=env,
                    config=daemon.config_path)
    assert added.returncode == 0, added.stderr
    instance = added.stdout.strip()
    daemon.config_path.write_text(broken.format(home=daemon.home))
    if not keep_home_env:
        del env["AGENTDECK_HOME"]

    status = run_cli(daemon.home, "status", env=env, config=daemon.config_path)
    assert status.returncode == 0, status.stderr
    assert f"pid {daemon.info()['pid']}" in status.stdout and instance in status.stdout
    listed = run_cli(daemon.home, "session", "list", env=env, config=daemon.config_path)
    assert listed.returncode == 0 and instance in listed.stdout, listed.stderr
    servers = run_cli(daemon.home, "mcp", "list", env=env, config=daemon.config_path)
    assert servers.returncode == 0 and re.search(r"^s +running", servers.stdout, re.M), servers
    waited = run_cli(daemon.home, "wait", instance, "--status", "running,waiting,idle,dead", "--timeout", "10",
                     env=env, config=daemon.config_path)
    assert waited.returncode == 0, waited.stderr
    for result in (status, listed, servers, waited):
        note, = result.stderr.splitlines()
        assert note.startswith(f"agentdeck: note: {daemon.config_path}: ") and "last good config" in note


# -- mcp import and the file the daemon reads ------------------------------------------------

def _claude_file(path, servers):
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def test_import_after_starting_on_the_checkouts_config_is_served_by_the_next_reload(home):
    """Regression (issue 20, friction 1): after `agentdeck serve` on the checkout's
    conf/agentdeck.toml (no file in the home yet), `mcp import` wrote ~/.agentdeck/agentdeck.toml
    and said "send it SIGHUP"; the reload read the checkout's file again (0 added). The
    daemon, told no file, looks again on reload; import says exactly what to run."""
    from agentdeck.config import DEFAULT_STATUS_LISTEN
    from agentdeck.netaddr import split_host_port

    with socket.socket() as probe:  # the checkout's config listens on the default port
        if probe.connect_ex(split_host_port(DEFAULT_STATUS_LISTEN)) == 0:
            pytest.skip(f"something already listens on {DEFAULT_STATUS_LISTEN}")
    daemon = DaemonProcess(home, None)
    try:
        assert daemon.info()["config"] == str(REPO / "conf" / "agentdeck.toml")
        imported = run_cli(home, "mcp", "import", str(_claude_file(home / "claude.json", {"s": scripted()})))
        assert imported.returncode == 0, imported.stderr
        target = home / "agentdeck.toml"
        assert imported.stdout.splitlines()[-1] == \
            f"added 1 server to {target}: run `agentdeck reload` to serve them"
        reloaded = run_cli(home, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        assert reloaded.stdout.splitlines() == [
            f"reloaded {target}: 1 added (s), 0 removed, 0 restarted, 1 unchanged",
            f"note: reading {target} now, instead of {REPO / 'conf' / 'agentdeck.toml'}"]
        assert daemon.info()["config"] == str(target)
        wait_for(lambda: daemon.server("s")["state"] == "running", message="s running")
    finally:
        daemon.stop()


def test_import_writes_the_file_the_running_daemon_was_told_to_read(start_daemon):
    """Regression (issue 20, friction 1): a daemon started with --config FILE; `mcp import`
    without --config wrote ~/.agentdeck/agentdeck.toml, which that daemon never reads. It
    now writes FILE, and the reload it advises serves the servers."""
    elsewhere = short_tmpdir()
    try:
        daemon = start_daemon({"t": scripted()}, extra_args=("--config", str(elsewhere / "mine.toml")),
                              prepare=lambda home: (elsewhere / "mine.toml").write_text(
                                  toml_config(home, servers={"t": scripted()})))
        assert daemon.info()["config"] == str(elsewhere / "mine.toml")
        imported = run_cli(daemon.home, "mcp", "import",
                           str(_claude_file(elsewhere / "claude.json", {"s": scripted()})))
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.splitlines()[-1] == \
            f"added 1 server to {elsewhere / 'mine.toml'}: run `agentdeck reload` to serve them"
        assert "[mcp.s]" in (elsewhere / "mine.toml").read_text()
        reloaded = run_cli(daemon.home, "reload")
        assert reloaded.stdout.startswith(f"reloaded {elsewhere / 'mine.toml'}: 1 added (s)"), reloaded
    finally:
        rmtree(elsewhere)


# -- a bridge to a server that does not exist ----------------------------------------------

def test_a_bridge_to_an_unknown_server_fails_at_once_naming_the_servers_there_are(start_daemon):
    """Regression (issue 20, friction 4): `agentdeck bridge nosuch` (a typo in an agent's MCP
    config) waited 60 s in silence for a socket that would never come. It fails at once
    with the names there are, while the agent still has its stdin open."""
    daemon = start_daemon({"time": scripted(), "github": scripted()})
    stdin, agent = os.pipe()  # the agent's end stays open: the bridge must not wait for it to close
    err = daemon.home / "bridge.err"
    with open(err, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "bridge", "nosuch", "--config",
                                 str(daemon.config_path)], cwd=REPO, env=clean_env(daemon.home), stdin=stdin,
                                stdout=subprocess.DEVNULL, stderr=err_file)
    os.close(stdin)
    try:
        proc.wait(timeout=15)  # the bridge gives up after 60 s
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    finally:
        os.close(agent)
    assert proc.returncode == 1
    assert err.read_text().splitlines() == [f"agentdeck: no server named nosuch: the pooled servers are time, github (in "
                                f"{daemon.config_path}); check the name in the agent's MCP config"]


# -- a server's error in the CLI and on the page -------------------------------------------

FAILING = {"command": "sh", "args": ["-c", "echo 'GitHub MCP Server starting' >&2; "
                                           "echo 'Error: GITHUB_TOKEN is not set' >&2; exit 3"]}
BANNER = "Secure MCP Filesystem Server running on stdio"  # what a healthy server says on stderr at start


def test_a_failed_servers_last_stderr_line_is_its_error_and_a_healthy_ones_banner_is_not(start_daemon):
    """Regression (issue 20, friction 12): `mcp list` and `status` showed a server that exits
    at start as "did not answer initialize" (or "exited with code 3"), without the line
    on its stderr that says why; the page showed a healthy server's start-up banner in
    its LAST ERROR cell."""
    healthy = {"command": "sh", "args": ["-c", f"echo '{BANNER}' >&2; exec {sys.executable} {SCRIPTED}"]}
    daemon = start_daemon({"github": FAILING, "fs": healthy})
    error = "exited with code 3: Error: GITHUB_TOKEN is not set"
    wait_for(lambda: daemon.server("github")["last_error"] == error, 20,
             message=f"github's last error (now {daemon.server('github')['last_error']!r})")
    wait_for(lambda: daemon.server("fs")["state"] == "running", message="fs running")

    listed = run_cli(daemon.home, "mcp", "list", config=daemon.config_path)
    assert f"github: {error}" in listed.stdout.splitlines(), listed.stdout
    status = run_cli(daemon.home, "status", config=daemon.config_path)
    github_row = next(line for line in status.stdout.splitlines() if line.startswith("github "))
    assert github_row.endswith(error), status.stdout
    fs_row = next(line for line in status.stdout.splitlines() if line.startswith("fs "))
    assert fs_row.endswith(" -"), status.stdout

    fs = daemon.server("fs")
    assert fs["last_error"] is None and fs["stderr_tail"] == ""
    page = urllib.request.urlopen(daemon.info()["status_url"] + "/", timeout=5).read().decode()
    assert BANNER not in page
    assert "Error: GITHUB_TOKEN is not set" in page


@pytest.mark.parametrize("request_bytes", [
    b"nonsense\n",
    b'{"command": "explode"}\n',
    b'["reload"]\n',
    b'{"command": "' + b"x" * 5000 + b'"}\n',  # over the 4 KiB a request may be
])
def test_a_bad_control_request_is_answered_and_changes_nothing(start_daemon, request_bytes):
    daemon = start_daemon({"s": scripted()})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(daemon.home / "control.sock"))
        sock.sendall(request_bytes)
        answer = json.loads(sock.makefile("rb").readline())
    assert answer == {"ok": False, "error": 'expected one JSON line {"command": C} with C one of reload, stop'}
    assert daemon.proc.poll() is None
    assert run_cli(daemon.home, "reload", config=daemon.config_path).returncode == 0


# -- Ctrl-C of a command that waits ---------------------------------------------------------

def test_ctrl_c_of_a_waiting_command_prints_nothing(home, tmux_env):
    """Regression (issue 20, friction 9, every command): a Ctrl-C while `wait` waited (in
    gevent's hub) printed "KeyboardInterrupt" and a timestamp; it ends with 130 and nothing."""
    env = clean_env(home, **tmux_env)
    added = run_cli(home, "session", "add", str(home), "--cmd", "sleep 300", env=env)
    assert added.returncode == 0, added.stderr
    proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "wait", added.stdout.strip(), "--status", "waiting"],
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _waits_in_the_hub(proc.pid), 20, message="wait to block")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert (proc.returncode, out, err) == (130, "", "")


def _waits_in_the_hub(pid):
    """True once process ``pid`` sleeps in epoll (gevent's hub waiting, nothing to do)."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read() == "do_epoll_wait"
    except FileNotFoundError:
        return True
