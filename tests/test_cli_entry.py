"""The console entry as a user meets it: every command's help, output piped into a reader
that leaves early, and Ctrl-C while the program is still loading. Real processes only."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import REPO, DaemonProcess, clean_env, run_cli, toml_config, wait_for

GEVENT_LOADED = "gevent/libev"  # a shared object in /proc/PID/maps once `agentdeck.entry` imported gevent


def test_hook_help_prints_what_the_hook_does_and_agentdeck_help_lists_it(home):
    """Regression (issue 20, friction 5): `agentdeck hook --help` printed nothing (the hook
    took "--help" for its payload) and `agentdeck --help` did not name the command."""
    hook = run_cli(home, "hook", "--help")
    assert hook.returncode == 0, hook.stderr
    assert hook.stdout.startswith("usage: agentdeck hook")
    assert "AGENTDECK_INSTANCE_ID" in hook.stdout and "always exits 0" in hook.stdout
    overview = run_cli(home, "--help")
    assert overview.returncode == 0
    assert any(line.split()[:1] == ["hook"] for line in overview.stdout.splitlines()), overview.stdout


def test_the_hook_still_takes_its_payload_as_an_argument(home):
    """`hook --help` goes through the parser; a payload argument still goes straight to the hook."""
    payload = '{"hook_event_name": "Stop", "session_id": "s"}'
    env = clean_env(home, AGENTDECK_INSTANCE_ID="inst-1")
    result = run_cli(home, "hook", payload, env=env)
    assert result.returncode == 0 and result.stderr == ""
    assert (home / "hooks" / "inst-1.json").exists()


def test_status_json_into_head_ends_without_a_broken_pipe_traceback(home):
    """Regression (issue 20, friction 9): `agentdeck status --json | head -1` ended in a
    BrokenPipeError traceback. The reader leaves after one line: nothing on stderr, and
    the status a shell reports for a writer whose reader left (141)."""
    daemon = DaemonProcess(home, toml_config(home))
    try:
        daemon.info()
        # `true` leaves before agentdeck has started (head -1 leaves after the first line of
        # an answer larger than the pipe holds): the same broken pipe, without a race.
        cmd = f"{sys.executable} -m agentdeck status --json --config {daemon.config_path} | true; " \
              'echo "exit=${PIPESTATUS[0]}" >&2'
        result = subprocess.run(["bash", "-c", cmd], cwd=REPO, env=clean_env(home), capture_output=True,
                                text=True, timeout=30)
        assert result.stderr.strip() == "exit=141", result.stderr
    finally:
        daemon.stop()


def _gevent_loaded(pid):
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return GEVENT_LOADED in maps.read()
    except FileNotFoundError:
        return True  # it exited: the test reads its output


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.15, 0.2])
def test_ctrl_c_while_serve_starts_prints_no_traceback(home, delay):
    """Regression (issue 20, friction 9): a Ctrl-C in the first 0.2 s of `serve` printed a
    KeyboardInterrupt traceback. From the moment agentdeck's own code runs (gevent is
    loaded first thing; before that the interpreter itself is starting), SIGINT at any
    point ends it with at most one line and no traceback."""
    config = home / "agentdeck.toml"
    config.write_text(toml_config(home))
    proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "serve", "--config", str(config)], cwd=REPO,
                            env=clean_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: _gevent_loaded(proc.pid), 20, interval=0.002, message="gevent loaded")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            pass  # spin rather than sleep: a gevent sleep here could wake late on a busy machine
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode in (0, 130), (proc.returncode, err)
    started = "ready" in err
    assert len([line for line in err.splitlines() if "INFO" not in line]) <= (0 if started else 1), err
