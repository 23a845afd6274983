"""The daemon raises its open-file limit to what its configuration can hold at once."""
import resource
import sys

from tests.support import REPO, DaemonProcess, short_tmpdir, toml_config

LAUNCHER = """import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
sys.argv[0] = {run!r}
runpy.run_path({run!r}, run_name="__main__")
"""


def soft_open_files(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    return int(line.split()[3])


def test_a_daemon_started_with_1024_open_files_can_hold_every_http_connection():
    """Regression: with the usual soft limit of 1024 the default 1,040 HTTP connections
    could not all be accepted (EMFILE), let alone the pooled servers' clients."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    home = short_tmpdir()
    launcher = home / "launch.py"
    launcher.write_text(LAUNCHER.format(run=str(REPO / "run.py")))
    config = toml_config(home, servers={"s": {"command": sys.executable, "args": [str(REPO / "tests" / "scripted_server.py")]}},
                         pool={"max_clients": 100}, daemon={"http_connections": 1040})
    daemon = DaemonProcess(home, config, script=launcher)
    try:
        daemon.expect(r"agentdeck .* ready")
        needed = 1040 + 100 + 256
        assert soft_open_files(daemon.proc.pid) == (needed if hard == resource.RLIM_INFINITY else min(hard, needed))
        assert hard < needed or "open files" not in daemon.output
    finally:
        daemon.stop()
