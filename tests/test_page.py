"""The HTML page, its sparkline, the units people read, and `agentdeck status`'s text:
pure functions of a /status snapshot."""
import re
from html.parser import HTMLParser

import pytest

from agentdeck.cli.status import describe
from agentdeck.web import page, sparkline, units

NOW = 1_800_000_000.0

SNAPSHOT = {
    "daemon": {"pid": 4321, "version": "0.1.0", "uptime": 7384, "rss_bytes": 48 * 1024 * 1024,
               "config": "/home/me/.agentdeck/agentdeck.toml"},
    "servers": [
        {"name": "time", "state": "running", "since": NOW - 3700, "pid": 99, "clients": 5, "socket_clients": 3,
         "http_sessions": 2, "in_flight": 1,
         "restarts": 0, "last_error": None, "stderr_tail": ""},
        {"name": "git<b>", "state": "fatal", "since": NOW - 65, "pid": None, "clients": 0, "socket_clients": 0,
         "http_sessions": 0, "in_flight": 0,
         "restarts": 3, "last_error": "exited with code 1: " + "a-very-long-word" * 40, "stderr_tail": "Error: <token> missing"},
    ],
    "sessions": [
        {"id": "dead0001", "title": "old", "profile": "default", "tool": "claude", "status": "dead",
         "since": NOW - 86400 * 2, "prompt": "", "ended": "exit status 127 (command not found)"},
        {"id": "run00001", "title": "refactor", "profile": "work", "tool": "claude", "status": "running",
         "since": NOW - 30, "prompt": "make the <tests> pass & commit"},
        {"id": "wait0001", "title": "docs", "profile": "default", "tool": "codex", "status": "waiting",
         "since": NOW - 125, "prompt": "x" * 300, "reason": "permission", "hook_event": "PermissionRequest"},
    ],
}


class Cells(HTMLParser):
    """Text of every table row, by table id; also checks the document is well nested."""

    def __init__(self):
        super().__init__()
        self.tables, self.stack, self.table, self.row = {}, [], None, None
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in ("meta", "br", "rect", "polyline"):
            self.stack.append(tag)
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(attrs[key])
        if tag == "table":
            self.table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr":
            self.row = []
            self.table.append(self.row)
        elif tag == "td":
            self.row.append("")

    def handle_endtag(self, tag):
        if tag in ("rect", "polyline"):
            return
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        if self.row is not None and self.row and self.stack and "td" in self.stack:
            self.row[-1] += data


def cells(html):
    parser = Cells()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], parser.stack
    assert parser.external == []
    return parser.tables


def test_page_shows_servers_and_sessions_with_status_why_time_clients_restarts():
    html = page.render(SNAPSHOT, [(NOW - 20, 40 << 20), (NOW - 10, 44 << 20)], NOW)
    tables = cells(html)
    servers = [row for row in tables["servers"] if row]
    assert servers[0][:8] == ["time", "running", "1h01m", "99", "3", "2", "1", "0"]
    assert servers[1][:8] == ["git<b>", "fatal", "1m05s", "-", "0", "0", "0", "3"]
    sessions = [row for row in tables["sessions"] if row]
    assert [row[1] for row in sessions] == ["waiting", "running", "dead"], "who waits for the person comes first"
    assert sessions[1][0] == "refactorrun00001" and sessions[1][3] == "30s"
    assert sessions[1][6] == "make the <tests> pass & commit"
    assert len(sessions[0][6]) == page.PROMPT_CHARS
    assert sessions[2][3] == "2d00h"
    # beside its status: why a waiting session waits, how a dead one ended
    assert [row[2] for row in sessions] == ["permission request", "-", "exit status 127 (command not found)"]


def test_page_escapes_everything_it_was_given():
    html = page.render(SNAPSHOT, [], NOW)
    assert "<b>" not in html and "<tests>" not in html and "<token>" not in html
    assert "git&lt;b&gt;" in html and "Error: &lt;token&gt; missing" in html
    odd = page.render({"sessions": [{"id": "w0000001", "status": "waiting", "reason": "<odd>"}]}, [], NOW)
    assert "<odd>" not in odd and cells(odd)["sessions"][1][2] == "<odd>"


def test_statuses_are_coloured_by_meaning():
    html = page.render(SNAPSHOT, [], NOW)
    badges = dict((word, cls) for cls, word in re.findall(r'<span class="badge (\w+)">(\w+)</span>', html))
    assert badges == {"running": "ok", "fatal": "bad", "waiting": "warn", "dead": "bad"}


def test_page_refreshes_itself_and_tells_the_person_what_waits():
    html = page.render(SNAPSHOT, [], NOW)
    assert f'<meta http-equiv="refresh" content="{page.REFRESH_SECONDS}">' in html
    assert "<title>agentdeck: 1 waiting</title>" in html
    assert "<script" not in html


def test_links_keep_the_token_query():
    html = page.render(SNAPSHOT, [], NOW, query="?token=abc&amp")
    assert 'href="status?token=abc&amp;amp"' in html and 'href="metrics?token=abc&amp;amp"' in html


def test_empty_daemon_says_what_to_do():
    tables = cells(page.render({"daemon": {}, "servers": [], "sessions": []}, [], NOW))
    assert "add an [mcp.NAME] table" in tables["servers"][1][0]
    assert "agentdeck session add" in tables["sessions"][1][0]


def test_sparkline_scales_samples_into_the_box():
    samples = [(0, 10 << 20), (50, 30 << 20), (100, 20 << 20)]
    svg = sparkline.sparkline(samples)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    xs, ys = zip(*points)
    assert xs[0] == sparkline.PADDING and xs[-1] == sparkline.WIDTH - sparkline.PADDING
    assert min(ys) == sparkline.PADDING and max(ys) == sparkline.HEIGHT - sparkline.PADDING
    assert ys[1] < ys[2] < ys[0], "higher RSS is drawn higher"


def test_sparkline_of_a_flat_or_missing_series():
    assert "polyline" not in sparkline.sparkline([(0, 5)])
    flat = sparkline.sparkline([(0, 5 << 20), (10, 5 << 20)])
    ys = {p.split(",")[1] for p in re.search(r'points="([^"]+)"', flat).group(1).split()}
    assert ys == {f"{sparkline.HEIGHT / 2:.1f}"}


@pytest.mark.parametrize("nbytes, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                          (48 * 1024 * 1024, "48.0 MiB"), (3 << 40, "3.0 TiB"), (5 << 50, "5120.0 TiB")])
def test_size(nbytes, text):
    assert units.size(nbytes) == text


@pytest.mark.parametrize("seconds, text", [(None, "-"), (-1, "-"), (0, "0s"), (59.9, "59s"), (60, "1m00s"),
                                           (3599, "59m59s"), (3600, "1h00m"), (86399, "23h59m"), (90000, "1d01h")])
def test_duration(seconds, text):
    assert units.duration(seconds) == text


def test_status_command_text_has_the_same_facts():
    text = describe(SNAPSHOT, now=NOW)
    lines = text.splitlines()
    assert lines[0] == ("agentdeck 0.1.0: pid 4321, up 2h03m, RSS 48.0 MiB, "
                        "config /home/me/.agentdeck/agentdeck.toml")
    assert re.search(r"^time\s+running\s+1h01m\s+99\s+3\s+2\s+1\s+0\s+-$", text, re.M)
    assert re.search(r"^git<b>\s+fatal\s+1m05s\s+-\s+0\s+0\s+0\s+3\s+exited with code 1: a-very-long", text, re.M)
    assert re.search(r"^wait0001\s+waiting\s+2m05s\s+default\s+docs\s+x{59}…$", text, re.M)
    assert "no sessions" in describe({"daemon": {}, "servers": [], "sessions": []}, now=NOW)
