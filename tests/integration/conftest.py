"""Fixtures of the integration tests: real daemons in their own homes."""
import pytest

from agentdeck.sessions.tmux import Tmux
from tests.integration.everything import server_everything
from tests.support import TIME_SERVER, DaemonProcess, clean_env, rmtree, scripted, short_tmpdir, toml_config, wait_for


@pytest.fixture
def start_daemon():
    """Start daemons with their own homes (``servers`` maps name -> command entry, the other
    tables as dicts); each is stopped (exit 0, no traceback) afterwards unless the test
    stopped it itself. ``ready`` waits until the daemon has started."""
    started = []

    def start(servers=None, pool=None, daemon=None, prepare=None, extra_args=(), env_extra=None, ready=True):
        home = short_tmpdir()
        if prepare:
            prepare(home)
        proc = DaemonProcess(home, toml_config(home, servers=servers, pool=pool, daemon=daemon), extra_args,
                             env=clean_env(home, **(env_extra or {})))
        started.append(proc)
        if ready:
            proc.info()  # daemon.json is written once everything is started, whatever the log level
        return proc
    yield start
    for proc in started:
        if proc.proc.returncode is None:
            proc.stop()
        else:
            proc.kill()
        rmtree(proc.home)


@pytest.fixture
def tmux(home):
    """A private tmux server for this test (never the user's), killed afterwards."""
    server = Tmux(str(home / "tmux.sock"))
    server.require()  # no tmux: a clear error, not a skip
    yield server
    server.kill_server()


@pytest.fixture
def tmux_env(tmux):
    """The environment that points the daemon and the CLI at the test's tmux server."""
    return {"AGENTDECK_TMUX_SOCKET": tmux.socket}


@pytest.fixture
def era_daemon(start_daemon):
    """Children for clients of every era: t1, t2 mcp-server-time (dual-era), e1, e2
    server-everything (legacy; when npm can install it), s the scripted server; all running."""
    servers = {"t1": {"command": TIME_SERVER}, "t2": {"command": TIME_SERVER}, "s": scripted()}
    entry, _ = server_everything()
    if entry is not None:
        servers.update(e1=entry, e2=entry)
    daemon = start_daemon(servers)
    for name in servers:
        wait_for(lambda name=name: daemon.server(name)["state"] == "running", 60, message=f"{name} running")
    return daemon
