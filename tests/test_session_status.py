"""Status from hooks and tmux: every session has one, tmux has the last word on death;
hook files are read bounded and never through a symlink."""
import json

import pytest

from agentdeck.sessions.control import tool_of
from agentdeck.sessions.status import HOOK_FILE_MAX_BYTES, HookStatus, read_hook_status, resolve_status
from agentdeck.sessions.tmux import PaneState

ALIVE = PaneState(pane_id=3, dead=False, pid=100)
EXITED = PaneState(pane_id=3, dead=True, pid=100)


def hook(status):
    return HookStatus(status=status, event="Stop", session_id="s", cwd="/p", transcript_path="", ts=1.0)


# (stored status, hook status or None, pane or None, expected), side by side.
RESOLVE_CASES = [
    ("idle", None, ALIVE, "idle"),  # a plain shell: alive, no hooks
    ("idle", None, None, "dead"),  # its tmux session is gone
    ("idle", None, EXITED, "dead"),  # its command exited (pane kept by remain-on-exit)
    ("idle", "running", ALIVE, "running"),
    ("running", "waiting", ALIVE, "waiting"),
    ("running", "running", None, "dead"),  # killed mid-turn: tmux wins over the last hook
    ("waiting", "waiting", EXITED, "dead"),
    ("idle", "dead", ALIVE, "dead"),  # SessionEnd while the pane's shell lives on
    ("dead", None, ALIVE, "idle"),  # stored dead but plainly alive
    ("waiting", None, ALIVE, "waiting"),  # hook file gone or unreadable: the last stored status
]


@pytest.mark.parametrize("stored,hook_status,pane,expected", RESOLVE_CASES)
def test_resolve_status(stored, hook_status, pane, expected):
    assert resolve_status(stored, hook(hook_status) if hook_status else None, pane) == expected


def test_reads_a_hook_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"status": "waiting", "event": "Stop", "session_id": "s1", "cwd": "/p",
                                "transcript_path": "/t.jsonl", "ts": 12.5}))
    assert read_hook_status(path) == HookStatus("waiting", "Stop", "s1", "/p", "/t.jsonl", 12.5)


@pytest.mark.parametrize("content", [
    b"not json",
    b'["waiting"]',
    b'{"status": "sleeping"}',
    b'{"event": "Stop"}',
    b'{"status": "waiting", "pad": "' + b"x" * HOOK_FILE_MAX_BYTES + b'"}',
])
def test_unusable_hook_file_reads_as_none(tmp_path, content):
    path = tmp_path / "a.json"
    path.write_bytes(content)
    assert read_hook_status(path) is None


def test_odd_field_types_are_tolerated(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"status": "running", "event": 5, "cwd": None, "ts": True}))
    assert read_hook_status(path) == HookStatus("running", "", "", "", "", 0.0)


def test_hook_file_symlink_is_not_followed(tmp_path):
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"status": "running"}))
    link = tmp_path / "a.json"
    link.symlink_to(target)
    assert read_hook_status(link) is None
    assert read_hook_status(tmp_path / "missing.json") is None


@pytest.mark.parametrize("command,tool", [
    ("claude", "claude"),
    ("claude --resume abc", "claude"),
    ("/usr/local/bin/codex --full-auto", "codex"),
    ("gemini -m gemini-2.5-pro", "gemini"),
    ("", "shell"),
    ("bash -l", "shell"),
    ("claude 'unbalanced", "claude"),
])
def test_tool_of_command(command, tool):
    assert tool_of(command) == tool

