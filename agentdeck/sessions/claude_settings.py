"""Add and remove the `agentdeck hook` entries in Claude Code's settings.json.

Claude Code reads hooks from ``{"hooks": {EVENT: [{"matcher": ..., "hooks": [{"type":
"command", "command": ...}]}]}}``. `install` appends one matcher-less group running
`agentdeck hook` to each event of ``HOOK_EVENTS`` that does not run it yet; `uninstall`
takes exactly those entries out again, and drops a group, an event list or the
``hooks`` table only when taking ours out emptied it. Everything else in the file is
kept as it was (key order included). A file that is not valid JSON, or whose
``hooks`` is not shaped as above, is refused and left untouched. Before a change the
file is copied to ``settings.json.bak``; the new content replaces it atomically, and
a settings.json that is a symlink (managed dotfiles) is written through to its target.
"""
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from agentdeck.errors import UserError
from agentdeck.fsutil import PRIVATE_FILE_MODE, atomic_write

ENV_CLAUDE_CONFIG_DIR = "CLAUDE_CONFIG_DIR"
# PostToolUse marks the agent running again after a permission prompt was answered.
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest", "Notification",
               "Stop", "SessionEnd")
HOOK_TIMEOUT = 10  # seconds Claude Code lets our hook run (it takes ~50 ms)
BACKUP_SUFFIX = ".bak"


def default_settings_path():
    """``$CLAUDE_CONFIG_DIR/settings.json``, else ``~/.claude/settings.json``."""
    base = os.environ.get(ENV_CLAUDE_CONFIG_DIR) or os.path.expanduser("~/.claude")
    return Path(base) / "settings.json"


def hook_command():
    """The command line that runs `agentdeck hook`: the installed console script by its
    absolute path (hooks run with Claude Code's PATH, not ours), else this Python."""
    script = shutil.which("agentdeck") or shutil.which("agentdeck", path=os.path.dirname(sys.executable))
    words = [script, "hook"] if script else [sys.executable, "-m", "agentdeck", "hook"]
    return shlex.join(words)


def is_our_entry(entry):
    """True for a hook entry that runs `agentdeck hook` (by any path to agentdeck)."""
    if not isinstance(entry, dict) or entry.get("type") != "command" or not isinstance(entry.get("command"), str):
        return False
    try:
        words = shlex.split(entry["command"])
    except ValueError:
        return False
    return (len(words) == 2 and os.path.basename(words[0]) == "agentdeck" and words[1] == "hook") or \
        words[-3:] == ["-m", "agentdeck", "hook"]


def _load(path):
    """(parsed settings, original bytes or None when the file does not exist)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        settings = json.loads(data) if data.strip() else {}
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); fix it first — nothing was changed") from None
    if not isinstance(settings, dict):
        raise UserError(f"{path}: expected a JSON object at the top level; nothing was changed")
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise UserError(f"{path}: \"hooks\" is not an object; fix it first — nothing was changed")
    for event in HOOK_EVENTS:
        groups = hooks.get(event, [])
        if not isinstance(groups, list) or not all(
                isinstance(g, dict) and isinstance(g.get("hooks", []), list) for g in groups):
            raise UserError(f"{path}: \"hooks\".\"{event}\" is not a list of {{\"hooks\": [...]}} groups; "
                            "fix it first — nothing was changed")
    return settings, data


def _save(path, settings, original):
    """Back up ``original`` and replace the file with ``settings``; returns the backup path."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        mode = PRIVATE_FILE_MODE
    backup = None
    if original is not None:
        backup = target.with_name(target.name + BACKUP_SUFFIX)
        atomic_write(backup, original, mode=mode)
    atomic_write(target, (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode(), mode=mode)
    return backup


def install(path):
    """Add our hook to each of HOOK_EVENTS that lacks it. Returns (events changed, backup
    path or None); ([], None) and no write when everything was already there."""
    settings, original = _load(path)
    command = hook_command()
    hooks = settings.setdefault("hooks", {})
    changed = []
    for event in HOOK_EVENTS:
        groups = hooks.setdefault(event, [])
        ours = [entry for group in groups for entry in group.get("hooks", []) if is_our_entry(entry)]
        if not ours:
            groups.append({"hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT}]})
            changed.append(event)
        elif any(entry["command"] != command for entry in ours):
            for entry in ours:  # agentdeck moved (a new venv): point the entry at it
                entry["command"] = command
            changed.append(event)
    if not changed:
        return [], None
    return changed, _save(path, settings, original)


def uninstall(path):
    """Remove our hook entries. Returns (events changed, backup path or None)."""
    settings, original = _load(path)
    hooks = settings.get("hooks")
    if original is None or not hooks:
        return [], None
    changed = []
    for event in HOOK_EVENTS:
        groups = hooks.get(event)
        if not groups:
            continue
        kept_groups = []
        for group in groups:
            entries = group.get("hooks", [])
            kept = [entry for entry in entries if not is_our_entry(entry)]
            if len(kept) != len(entries):
                changed.append(event)
                if not kept:
                    continue
                group["hooks"] = kept
            kept_groups.append(group)
        if kept_groups:
            hooks[event] = kept_groups
        elif event in changed:
            del hooks[event]
    if not changed:
        return [], None
    if not hooks:
        del settings["hooks"]
    return sorted(set(changed), key=HOOK_EVENTS.index), _save(path, settings, original)
