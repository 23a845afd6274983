"""`hooks install/uninstall` on each client's hook settings (Claude Code's settings.json,
Codex's hooks.json, Gemini CLI's settings.json): idempotent, keeps everything it does not
own, backs up, refuses broken files without touching them, and uninstall takes out
exactly what install put in."""
import json
import os

import pytest

from agentdeck.errors import UserError
from agentdeck.sessions.hook import hook_events
from agentdeck.sessions.hook_settings import (BACKUP_SUFFIX, default_settings_path, hook_command, install, is_our_entry,
                                              uninstall)

HOOK_EVENTS = hook_events("claude")

USER_SETTINGS = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "model": "opus",
    "permissions": {"allow": ["Bash(npm run lint)"], "deny": ["Read(./.env)"]},
    "env": {"FOO": "bar"},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/audit.sh", "timeout": 5}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
        "PostToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "prettier --write"}]}],
    },
    "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"},
}


def write(path, data):
    path.write_text(json.dumps(data, indent=2))
    return path


def our_commands(settings, event):
    return [e["command"] for g in settings.get("hooks", {}).get(event, []) for e in g.get("hooks", [])
            if is_our_entry(e)]


def test_install_into_a_missing_file_creates_it(tmp_path):
    path = tmp_path / "claude" / "settings.json"
    events, backup = install(path)
    assert events == list(HOOK_EVENTS) and backup is None
    settings = json.loads(path.read_text())
    for event in HOOK_EVENTS:
        assert our_commands(settings, event) == [hook_command()]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_install_keeps_every_other_key_and_hook(tmp_path):
    path = write(tmp_path / "settings.json", USER_SETTINGS)
    os.chmod(path, 0o644)
    install(path)
    settings = json.loads(path.read_text())
    for key in ("$schema", "model", "permissions", "env", "statusLine"):
        assert settings[key] == USER_SETTINGS[key]
    assert list(settings) == list(USER_SETTINGS)  # key order kept
    assert settings["hooks"]["PostToolUse"][0] == USER_SETTINGS["hooks"]["PostToolUse"][0]
    assert settings["hooks"]["PreToolUse"][0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    assert settings["hooks"]["Stop"][0] == USER_SETTINGS["hooks"]["Stop"][0]
    assert our_commands(settings, "Stop") == [hook_command()]
    assert os.stat(path).st_mode & 0o777 == 0o644  # the user's mode stays


def test_install_twice_adds_nothing(tmp_path):
    path = write(tmp_path / "settings.json", USER_SETTINGS)
    install(path)
    once = path.read_bytes()
    events, backup = install(path)
    assert (events, backup) == ([], None)
    assert path.read_bytes() == once
    assert all(len(our_commands(json.loads(once), e)) == 1 for e in HOOK_EVENTS)


def test_install_keeps_a_backup_of_the_previous_file(tmp_path):
    path = write(tmp_path / "settings.json", USER_SETTINGS)
    original = path.read_bytes()
    _, backup = install(path)
    assert backup == tmp_path / ("settings.json" + BACKUP_SUFFIX)
    assert backup.read_bytes() == original


def test_install_repoints_an_entry_whose_agentdeck_moved(tmp_path):
    old = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "/old/venv/bin/agentdeck hook",
                                          "timeout": 10}]}]}}
    path = write(tmp_path / "settings.json", old)
    events, _ = install(path)
    assert "Stop" in events
    settings = json.loads(path.read_text())
    assert our_commands(settings, "Stop") == [hook_command()]
    assert len(settings["hooks"]["Stop"]) == 1


BROKEN_FILES = {
    "not-json": b'{"model": "opus",,}',
    "trailing-garbage": b'{"model": "opus"} extra',
    "top-level-list": b'["hooks"]',
    "hooks-not-object": b'{"hooks": ["SessionStart"]}',
    "event-not-list": b'{"hooks": {"Stop": {"command": "x"}}}',
    "group-not-object": b'{"hooks": {"Stop": ["agentdeck hook"]}}',
    "group-hooks-not-list": b'{"hooks": {"Stop": [{"hooks": "agentdeck hook"}]}}',
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
@pytest.mark.parametrize("action", [install, uninstall])
def test_broken_file_is_refused_and_left_untouched(tmp_path, name, action):
    path = tmp_path / "settings.json"
    path.write_bytes(BROKEN_FILES[name])
    with pytest.raises(UserError) as info:
        action(path)
    message = str(info.value)
    assert str(path) in message and "nothing was changed" in message and "\n" not in message
    assert path.read_bytes() == BROKEN_FILES[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]  # no backup, no temp file


def test_uninstall_restores_exactly_what_was_there(tmp_path):
    path = write(tmp_path / "settings.json", USER_SETTINGS)
    install(path)
    events, backup = uninstall(path)
    assert events == list(HOOK_EVENTS) and backup is not None
    assert json.loads(path.read_text()) == USER_SETTINGS


def test_uninstall_after_install_into_nothing_leaves_no_hooks_key(tmp_path):
    path = write(tmp_path / "settings.json", {"model": "opus"})
    install(path)
    uninstall(path)
    assert json.loads(path.read_text()) == {"model": "opus"}


def test_uninstall_keeps_hooks_that_share_a_group_with_ours(tmp_path):
    shared = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "agentdeck hook"},
                                            {"type": "command", "command": "notify-send done"}]}],
                        "SessionEnd": []}}
    path = write(tmp_path / "settings.json", shared)
    uninstall(path)
    assert json.loads(path.read_text()) == {"hooks": {"Stop": [{"hooks": [{"type": "command",
                                                                           "command": "notify-send done"}]}],
                                                      "SessionEnd": []}}


def test_uninstall_without_our_hooks_changes_nothing(tmp_path):
    path = write(tmp_path / "settings.json", USER_SETTINGS)
    before = path.read_bytes()
    assert uninstall(path) == ([], None)
    assert path.read_bytes() == before
    assert uninstall(tmp_path / "missing.json") == ([], None)
    assert not (tmp_path / "missing.json").exists()


def test_symlinked_settings_are_written_through_to_the_target(tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = write(dotfiles / "claude-settings.json", {"model": "opus"})
    link = tmp_path / "settings.json"
    link.symlink_to(target)
    install(link)
    assert link.is_symlink()
    assert our_commands(json.loads(target.read_text()), "Stop") == [hook_command()]


@pytest.mark.parametrize("command,ours", [
    ("agentdeck hook", True),
    ("/home/u/.venv/bin/agentdeck hook", True),
    ("'/path with space/agentdeck' hook", True),
    ("/usr/bin/python3 -m agentdeck hook", True),
    ("agentdeck hooks install", False),
    ("agentdeck hook --extra", False),
    ("my-agentdeck hook", False),
    ("notify-send 'agentdeck hook'", False),
    ("unbalanced 'quote", False),
])
def test_which_entries_are_ours(command, ours):
    assert is_our_entry({"type": "command", "command": command}) is ours


def test_hook_command_runs_agentdeck_hook():
    assert is_our_entry({"type": "command", "command": hook_command()})


def test_default_settings_path_follows_claude_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path))
    assert default_settings_path() == tmp_path / "settings.json"
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_settings_path() == tmp_path / ".claude" / "settings.json"
