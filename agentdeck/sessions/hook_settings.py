"""Add and remove the `agentdeck hook` entries in an agent client's hook settings.

Claude Code (``settings.json``), Codex (``hooks.json``) and Gemini CLI (``settings.json``)
read hooks in one shape: ``{"hooks": {EVENT: [{"matcher": ..., "hooks": [{"type":
"command", "command": ..., "timeout": ...}]}]}}`` (Gemini counts the timeout in
milliseconds and names each hook). `install` appends one matcher-less group running
`agentdeck hook` to each event of the client that bears a status (`hook.hook_events`)
and does not run it yet; `uninstall` takes exactly those entries out again, from any
event, and drops a group, an event list or the ``hooks`` table only when taking ours out
emptied it. Everything else in the file is kept as it was (key order included). A file
that is not valid JSON, or whose ``hooks`` is not shaped as above, is refused and left
untouched. Before a change the file is copied to ``<file>.bak``; the new content
replaces it atomically, and a file that is a symlink (managed dotfiles) is written
through to its target.
"""
import dataclasses
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from agentdeck.errors import UserError
from agentdeck.fsutil import PRIVATE_FILE_MODE, atomic_write
from agentdeck.sessions.hook import CLAUDE, CODEX, GEMINI, hook_events

ENV_CLAUDE_CONFIG_DIR = "CLAUDE_CONFIG_DIR"
ENV_CODEX_HOME = "CODEX_HOME"
HOOK_TIMEOUT = 10  # seconds a client lets our hook run (it takes ~50 ms)
BACKUP_SUFFIX = ".bak"


@dataclasses.dataclass(frozen=True)
class HookClient:
    name: str  # the --client value
    title: str
    default_path: object  # () -> Path of its user-wide hook settings, from the environment as it reads it
    path_help: str  # where that is, for --help
    entry: dict  # our hook entry but its command: the client's own keys and units

    @property
    def events(self):
        return hook_events(self.name)


def _claude_path():
    return Path(os.environ.get(ENV_CLAUDE_CONFIG_DIR) or os.path.expanduser("~/.claude")) / "settings.json"


def _codex_path():
    return Path(os.environ.get(ENV_CODEX_HOME) or os.path.expanduser("~/.codex")) / "hooks.json"


def _gemini_path():
    return Path(os.path.expanduser("~/.gemini")) / "settings.json"


HOOK_CLIENTS = {client.name: client for client in (
    HookClient(CLAUDE, "Claude Code", _claude_path, f"${ENV_CLAUDE_CONFIG_DIR}/settings.json, else "
               "~/.claude/settings.json", {"type": "command", "timeout": HOOK_TIMEOUT}),
    HookClient(CODEX, "Codex", _codex_path, f"${ENV_CODEX_HOME}/hooks.json, else ~/.codex/hooks.json",
               {"type": "command", "timeout": HOOK_TIMEOUT}),
    HookClient(GEMINI, "Gemini CLI", _gemini_path, "~/.gemini/settings.json",
               {"type": "command", "name": "agentdeck", "timeout": HOOK_TIMEOUT * 1000}),  # milliseconds
)}


def default_settings_path(client=CLAUDE):
    """The user-wide hook settings file of ``client`` (see HOOK_CLIENTS)."""
    return HOOK_CLIENTS[client].default_path()


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


def _load(path, events):
    """(parsed settings, original bytes or None when the file does not exist); ``events``
    are those whose hook lists must be well shaped."""
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
    for event in events:
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


def install(path, client=CLAUDE):
    """Add our hook to each status-bearing event of ``client`` that lacks it. Returns
    (events changed, backup path or None); ([], None) and no write when everything was
    already there."""
    spec = HOOK_CLIENTS[client]
    settings, original = _load(path, spec.events)
    command = hook_command()
    hooks = settings.setdefault("hooks", {})
    changed = []
    for event in spec.events:
        groups = hooks.setdefault(event, [])
        ours = [entry for group in groups for entry in group.get("hooks", []) if is_our_entry(entry)]
        if not ours:
            groups.append({"hooks": [{**spec.entry, "command": command}]})
            changed.append(event)
        elif any(entry["command"] != command for entry in ours):
            for entry in ours:  # agentdeck moved (a new venv): point the entry at it
                entry["command"] = command
            changed.append(event)
    if not changed:
        return [], None
    return changed, _save(path, settings, original)


def uninstall(path, client=CLAUDE):
    """Remove our hook entries, from whichever events hold them. Returns (events changed,
    backup path or None)."""
    events = HOOK_CLIENTS[client].events
    settings, original = _load(path, events)
    hooks = settings.get("hooks")
    if original is None or not hooks:
        return [], None
    changed = []
    for event, groups in list(hooks.items()):
        if not isinstance(groups, list) or not groups:
            continue  # not a hook list we could have written: not ours to touch
        kept_groups = []
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(entries, list):
                kept = [entry for entry in entries if not is_our_entry(entry)]
                if len(kept) != len(entries):
                    if event not in changed:
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
    changed.sort(key=lambda event: events.index(event) if event in events else len(events))  # the client's order
    return changed, _save(path, settings, original)
