"""The MCP reference server (npm @modelcontextprotocol/server-everything) pooled as a stdio
server and used through /mcp/everything by the official Python SDK's Streamable HTTP
client: what the server does for one session lands in that session, while another
session keeps the same server busy, and the other session sees none of it.

Each test runs tests/integration/everything_sessions.py (two SDK sessions, A causing,
B busy with a long operation) and reads its report.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.everything import server_everything
from tests.integration.everything_sessions import A_ROOT, A_STEPS, B_ROOT, BUSY_STEPS, CHATTY_REPEATS
from tests.support import DaemonProcess, rmtree, short_tmpdir, toml_config, wait_for

SESSIONS = Path(__file__).with_name("everything_sessions.py")
RUN_TIMEOUT = 60  # seconds for one run of the two sessions


@pytest.fixture(scope="module")
def everything():
    """The daemon pooling server-everything; yields its /mcp/everything URL."""
    entry, why = server_everything()
    if entry is None:
        pytest.skip(f"server-everything is not available: {why}")
    home = short_tmpdir()
    daemon = DaemonProcess(home, toml_config(home, {"everything": entry}))
    try:
        url = daemon.info()["status_url"] + "/mcp/everything"
        # agentdeck initializes the child itself, declaring sampling, elicitation and roots,
        # so the server registers the tools that use them (no client's initialize reaches
        # it; the roots/list it sends at start finds no agent and is answered with an error).
        wait_for(lambda: daemon.server("everything")["state"] == "running", 30, message="server-everything running")
        yield url, daemon
        daemon.stop()
    finally:
        daemon.kill()
        rmtree(home)


def run_sessions(url, feature, daemon, busy_how="quiet"):
    try:
        done = subprocess.run([sys.executable, str(SESSIONS), url, feature, busy_how], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{feature}: the SDK sessions took over {RUN_TIMEOUT} s\n{exc.stderr}\n"
                             f"--- daemon:\n{daemon.output}") from None
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"{feature}: exit {done.returncode}\n{done.stderr[-4000:]}\n" \
                                           f"--- daemon:\n{daemon.output[-4000:]}"
    return json.loads(lines[-1])


def of(session, kind):
    return [detail for k, detail in session["events"] if k == kind]


def assert_b_saw_none_of_it(report):
    """B, busy the whole time, got its own progress and answer and nothing of A's."""
    b = report["b"]
    assert report["b_busy_when_a_done"], "A's feature must run while B's operation is in flight"
    assert of(b, "sampling") == [] and of(b, "elicitation") == [] and of(b, "roots") == [], b["events"]
    assert of(b, "progress") == [BUSY_STEPS] * BUSY_STEPS, b["events"]
    assert [total for _, total in b["progress"]] == [BUSY_STEPS] * BUSY_STEPS
    assert of(b, "exception") == [], b["events"]
    assert "Long running operation completed" in b["result"]


@pytest.mark.timeout(90)
def test_progress_lands_in_the_session_that_asked(everything):
    report = run_sessions(*everything[:1], "progress", everything[1])
    a = report["a"]
    assert [total for _, total in a["progress"]] == [A_STEPS] * A_STEPS
    assert of(a, "progress") == [A_STEPS] * A_STEPS, a["events"]
    assert f"Steps: {A_STEPS}" in a["result"]
    assert_b_saw_none_of_it(report)


@pytest.mark.timeout(90)
def test_sampling_lands_in_the_session_that_asked(everything):
    report = run_sessions(everything[0], "sampling", everything[1])
    a = report["a"]
    assert "trigger-sampling-request" in report["tools"]
    assert len(of(a, "sampling")) == 1 and "hello from A" in of(a, "sampling")[0], a["events"]
    assert "answer from A" in a["result"]
    assert_b_saw_none_of_it(report)


@pytest.mark.xfail(strict=True, reason="known limit of sharing: a stdio line names no session, so with two "
                   "sessions busy a child's sampling request goes to the one with the newest request in flight "
                   "(routes.ChildRequests.choose); servers that ask their clients want share = 'session'")
@pytest.mark.timeout(90)
def test_sampling_lands_in_the_session_that_asked_while_another_sends_call_after_call(everything):
    report = run_sessions(everything[0], "sampling", everything[1], "chatty")
    a, b = report["a"], report["b"]
    assert b["echoes"] > CHATTY_REPEATS, "B must be sending calls all along"
    misrouted = [text for text in of(b, "sampling")]
    assert misrouted == [] and a["result"].count("answer from A") == CHATTY_REPEATS, \
        f"{len(misrouted)} of {CHATTY_REPEATS} sampling requests of A went to B: {misrouted[:3]}"
    assert len(of(a, "sampling")) == CHATTY_REPEATS


@pytest.mark.timeout(90)
def test_elicitation_lands_in_the_session_that_asked(everything):
    report = run_sessions(everything[0], "elicitation", everything[1])
    a = report["a"]
    assert "trigger-elicitation-request" in report["tools"]
    assert len(of(a, "elicitation")) == 1, a["events"]
    assert "Name: session A" in a["result"]
    assert_b_saw_none_of_it(report)


@pytest.mark.timeout(90)
def test_roots_are_asked_of_the_session_whose_roots_changed(everything):
    report = run_sessions(everything[0], "roots", everything[1])
    a = report["a"]
    assert len(of(a, "roots")) == 1 and of(report["b"], "roots") == [], report
    assert A_ROOT in a["result"] and B_ROOT not in a["result"], a["result"]
    assert_b_saw_none_of_it(report)


@pytest.mark.timeout(90)
def test_logging_reaches_the_session_that_turned_it_on(everything):
    """Log lines themselves go to every session (DESIGN.md: notifications/message go to
    every client; a stdio child's log line names no session or request), so B may see
    them too; nothing else of A's reaches B."""
    report = run_sessions(everything[0], "logging", everything[1])
    a = report["a"]
    assert any("level" in line and "message" in line for line in of(a, "log")), a["events"]  # "Debug-level message", "Alert level-message"
    assert "Stopped simulated logging" in a["result"]
    assert_b_saw_none_of_it(report)
