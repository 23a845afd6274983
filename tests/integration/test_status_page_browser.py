"""The status page in a real headless browser (Debian's chromium): what it renders for a
daemon with a healthy and a failing server and sessions in three statuses, plus a
screenshot kept in tests/artifacts/ for a person to look at."""
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from agentdeck.sessions.tmux import Tmux
from tests.support import REPO, DaemonProcess, LineClient, clean_env, run_cli, scripted, toml_config, wait_for

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_TIMEOUT = 60  # seconds for one headless run (start-up included) on a busy machine
WINDOW = "1280,800"
HOOK = [sys.executable, "-m", "agentdeck", "hook"]


def chromium(home, *args):
    """Run headless chromium with a throwaway profile; returns its stdout."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: apt-get install -y chromium (see .ci/run)"
    proc = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={home / 'chromium'}",
                           f"--window-size={WINDOW}", *args],
                          capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Rendered(HTMLParser):
    """The rendered DOM: the title, each table's rows as cell texts, the badge colours."""

    def __init__(self):
        super().__init__()
        self.title, self.tables, self.badges, self.svg_lines = "", {}, {}, 0
        self._in_title = False
        self._table = self._row = None
        self._badge = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._in_title = tag == "title"
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag == "td" and self._row is not None:
            self._row.append("")
        elif tag == "span" and "badge" in attrs.get("class", ""):
            self._badge = attrs["class"].split()[-1]
        elif tag == "polyline":
            self.svg_lines += 1

    def handle_endtag(self, tag):
        self._in_title = False
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._badge is not None:
            self.badges[data] = self._badge
            self._badge = None
        if self._row:
            self._row[-1] += data


@pytest.fixture
def tmux_socket(home):
    server = Tmux(str(home / "tmux.sock"))
    server.require()
    yield server.socket
    server.kill_server()


def hook(env, instance, event, transcript, project):
    payload = {"session_id": instance, "transcript_path": str(transcript), "cwd": str(project),
               "hook_event_name": event}
    subprocess.run(HOOK, input=json.dumps(payload).encode(), env={**env, "AGENTDECK_INSTANCE_ID": instance},
                   cwd=REPO, check=True, timeout=30, capture_output=True)


def test_status_page_renders_servers_and_sessions_in_a_real_browser(home, tmux_socket):
    env = clean_env(home, AGENTDECK_TMUX_SOCKET=tmux_socket)
    servers = {"github": scripted(), "broken": scripted("--exit-at-start", "2")}
    daemon = DaemonProcess(home, toml_config(home, servers=servers), env=env)
    try:
        url = daemon.info()["status_url"]
        project = home / "proj"
        project.mkdir()
        sessions = {}
        for title, prompt, events in (("refactor parser", "split the parser into modules", ("UserPromptSubmit",)),
                                      ("write docs", "document the status page", ("UserPromptSubmit", "Stop")),
                                      ("plain shell", "", ())):
            added = run_cli(home, "session", "add", str(project), "--title", title, "--cmd", "sleep 600", env=env)
            assert added.returncode == 0, added.stderr
            instance = sessions[title] = added.stdout.strip()
            transcript = home / f"{instance}.jsonl"
            transcript.write_text(json.dumps({"type": "user", "message": {"role": "user", "content": prompt}}) + "\n")
            for event in events:
                hook(env, instance, event, transcript, project)
        client = LineClient(daemon.socket_path("github"))
        client.initialize()

        def settled():
            doc = daemon.status()
            states = sorted(s["status"] for s in doc["sessions"])
            prompts = sum(1 for s in doc["sessions"] if s["prompt"])
            return states == ["idle", "running", "waiting"] and prompts == 2 and doc["servers"][0]["clients"] == 1
        wait_for(settled, 20, interval=0.2, message="the sessions' statuses and prompts in /status")

        page = Rendered()
        page.feed(chromium(home, "--dump-dom", url + "/"))
        assert page.title == "agentdeck: 1 waiting"
        servers_rows = {row[0]: row for row in page.tables["servers"] if row}
        assert servers_rows["github"][1] == "running" and servers_rows["github"][4] == "1"  # its socket client
        assert servers_rows["broken"][1] in ("backoff", "fatal", "starting")
        assert "exited with code 2" in servers_rows["broken"][8]
        session_rows = [row for row in page.tables["sessions"] if row]
        assert [row[1] for row in session_rows] == ["waiting", "running", "idle"]
        assert session_rows[0][0].startswith("write docs") and session_rows[0][6] == "document the status page"
        assert session_rows[0][2] == "finished turn", "why it waits, beside its status"
        assert session_rows[1][6] == "split the parser into modules"
        assert page.badges["running"] == "ok" and page.badges["waiting"] == "warn" and page.badges["idle"] == "off"
        assert page.svg_lines == 1, "the RSS sparkline is drawn"

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        chromium(home, f"--screenshot={shot}", url + "/")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        client.close()
    finally:
        daemon.stop()
