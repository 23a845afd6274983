"""What the deck shows, as data: the order, why a session waits, the filter, ages, and
the SSE grammar its stream parser follows."""
import pytest

from agentdeck.deck.model import DeckModel, Filter, age, why
from agentdeck.deck.sse import SseError, SseParser

NOW = 1_000_000.0


def entry(id_, status, since=NOW - 60, **more):
    return {"id": id_, "title": id_, "path": f"/src/{id_}", "tool": "claude", "status": status, "since": since,
            **more}


def test_waiting_first_then_running_idle_dead_longest_first():
    model = DeckModel()
    model.load({"sessions": [entry("d", "dead"), entry("r", "running"), entry("w-new", "waiting", NOW - 5),
                             entry("i", "idle"), entry("w-old", "waiting", NOW - 500)]})
    assert [e["id"] for e in model.visible()] == ["w-old", "w-new", "r", "i", "d"]


WHY_CASES = [  # (status, hook_event, reason, ended, shown)
    ("waiting", "PermissionRequest", "permission", "", "permission request"),
    ("waiting", "PreToolUse", "question", "", "question"),
    ("waiting", "Notification", "idle", "", "idle, waiting for input"),
    ("waiting", "Stop", "turn finished", "", "finished turn"),
    ("waiting", "StopFailure", "turn failed", "", "turn failed"),
    ("waiting", "SessionStart", "started", "", "new session"),
    ("waiting", "Stop", "something new", "", "something new"),
    ("waiting", "PermissionRequest", "", "", "permission request"),  # an entry from before reasons
    ("waiting", "Stop", "", "", "finished turn"),
    ("waiting", "", "", "", "waiting"),
    ("running", "UserPromptSubmit", "", "", ""),
    ("dead", "SessionEnd", "", "exit status 127 (command not found)", "exit status 127 (command not found)"),
    ("dead", "", "", "", "ended"),
]


@pytest.mark.parametrize("status, hook_event, reason, ended, shown", WHY_CASES)
def test_why(status, hook_event, reason, ended, shown):
    assert why(entry("a", status, hook_event=hook_event, reason=reason, ended=ended)) == shown


FILTER_CASES = [  # (filter text, ids kept)
    ("", ["w", "r", "d"]),
    ("waiting", ["w"]),
    ("is:dead", ["d"]),
    ("waiting running", ["w", "r"]),
    ("parser", ["r"]),
    ("PARSER running", ["r"]),
    ("parser dead", []),
    ("src/w", ["w"]),
]


@pytest.mark.parametrize("text, kept", FILTER_CASES)
def test_filter(text, kept):
    model = DeckModel()
    model.load({"sessions": [entry("w", "waiting"), entry("r", "running", prompt="fix the Parser"),
                             entry("d", "dead")]})
    model.filter = Filter.parse(text)
    assert [e["id"] for e in model.visible()] == kept


@pytest.mark.parametrize("seconds, shown", [(0, "<1m"), (59, "<1m"), (60, "1m"), (3599, "59m"), (3600, "1h00m"),
                                            (3 * 3600 + 5 * 60, "3h05m"), (2 * 86400 + 5, "2d")])
def test_age(seconds, shown):
    assert age(NOW - seconds, NOW) == shown


def test_events_change_one_session_or_server():
    model = DeckModel()
    model.load({"sessions": [entry("a", "idle")], "servers": [{"name": "time", "state": "running"}]})
    assert model.apply("session", entry("a", "waiting")) == "a"
    assert model.apply("session", entry("b", "running")) == "b"
    assert model.apply("session_removed", {"id": "a"}) == "a"
    assert model.apply("server", {"name": "time", "state": "backoff"}) == "time"
    assert model.apply("unknown", {}) is None
    assert [e["id"] for e in model.visible()] == ["b"] and model.servers["time"]["state"] == "backoff"


SSE_CASES = [  # (bytes fed in pieces, events)
    ([b"event: session\ndata: {}\n\n"], [("session", "{}")]),
    ([b"data: a\ndata: b\n\n"], [("message", "a\nb")]),
    ([b"event: x\r\ndata:1\r\n\r\n"], [("x", "1")]),
    ([b"event: x\rdata: 1\r\r"], []),  # a CR last may be half of a CRLF: the blank line waits
    ([b"event: x\rdata: 1\r\r", b"\r"], [("x", "1")]),
    ([b"event: x\r", b"\ndata: 1\r", b"\n\r\n"], [("x", "1")]),
    ([b": keep-alive\n\n", b"retry: 1000\n\n"], []),
    ([b"event: x\n", b"data: {\"a\"", b": 1}\n", b"\n"], [("x", '{"a": 1}')]),
    ([b"event: only\n\n", b"data: next\n\n"], [("message", "next")]),
    ([b"data:\n\n"], [("message", "")]),
]


@pytest.mark.parametrize("pieces, events", SSE_CASES)
def test_sse_parser(pieces, events):
    parser = SseParser()
    assert [e for piece in pieces for e in parser.feed(piece)] == events


def test_sse_an_event_over_the_limit_is_an_error():
    parser = SseParser(max_event=100)
    with pytest.raises(SseError):
        parser.feed(b"data: " + b"x" * 200)
    parser = SseParser(max_event=100)
    with pytest.raises(SseError):
        parser.feed(b"data: " + b"x" * 60 + b"\ndata: " + b"x" * 60 + b"\n")


def test_a_server_backing_off_says_when_it_is_tried_again():
    from agentdeck.deck.servers import details
    entry = {"name": "github", "command": "github-mcp", "state": "backoff", "last_error": "exited with code 3",
             "stderr_tail": "Error: GITHUB_TOKEN is not set\n", "next_start": NOW + 4}
    assert details(entry, NOW).splitlines() == [
        "[b]github[/b]  github-mcp", "last error: exited with code 3", "stderr:", "Error: GITHUB_TOKEN is not set",
        "next retry: in 4 s (at least 5 s after its last start, at most 3 starts a minute; given up after 10 failures)"]
