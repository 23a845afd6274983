"""Fixtures of the integration tests: real daemons in their own homes."""
import pytest

from agentdeck.sessions.tmux import Tmux
from tests.support import DaemonProcess, clean_env, rmtree, short_tmpdir, toml_config


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
def tmux_env(home):
    """A private tmux server (never the user's) for sessions the daemon should report."""
    server = Tmux(str(home / "tmux.sock"))
    server.require()
    yield {"AGENTDECK_TMUX_SOCKET": server.socket}
    server.kill_server()
