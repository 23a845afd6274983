"""Operating the running daemon from the shell, as a user does on a normal day: the signals
log rotators send, `agentdeck reload` and `agentdeck stop`, the file `mcp import` writes,
a config broken on disk, and a bridge to a server that does not exist. Real daemons, real
processes, the real CLI."""
import signal

from tests.support import scripted, wait_for


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
    assert daemon.server("s")["state"] == "running"
    assert "SIGUSR2" in _text(logs / "daemon.log") and "SIGUSR2" not in _text(logs / "daemon.log.rotated")


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
