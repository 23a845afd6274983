"""`agentdeck hook`: turn an agent's hook event into the session's status file.

The agent runs this inside its own turn (Claude Code runs a command hook
synchronously), so it must be fast and must never fail the agent:

- it imports only the standard library and small agentdeck modules (no gevent,
  Pony, loguru or daemon code) and exits 0 whatever happens;
- ``AGENTDECK_INSTANCE_ID`` names the session; without it the agent was not started
  by agentdeck and the hook does nothing; an id that could escape ``hooks/`` is ignored;
- it reads at most ``MAX_PAYLOAD_BYTES`` of the JSON payload from stdin (or takes it
  from its single argument: Codex's ``notify`` program convention); a larger payload,
  one that is not a JSON object, or an event that does not change the status
  writes nothing, so the previous status stands;
- it writes ``hooks/<id>.json`` atomically (temp file + rename, 0600). The rename
  replaces a symlink planted there instead of writing through it.

The status file is a JSON object: ``status`` (see `states`), ``event`` (the hook
event name), ``session_id`` (the agent's own session id), ``cwd``,
``transcript_path`` (the agent's JSONL transcript, for the latest prompt), ``prompt``
(the latest prompt a hook carried, at most PROMPT_MAX_CHARS) and ``ts`` (Unix time in
seconds). A hook that names no transcript (Codex's notify, a hand-written hook) keeps
the previous file's ``transcript_path`` and ``prompt``; one that names the same
transcript keeps its ``prompt`` unless it carries one; one that names another starts
afresh. Readers: `agentdeck.sessions.status.read_hook_status`.
"""
import json
import os
import sys
import time

from agentdeck.fsutil import atomic_write, private_dir
from agentdeck.paths import ENV_HOME, Home, home_path
from agentdeck.sessions.names import is_valid_name
from agentdeck.sessions.states import DEAD, RUNNING, WAITING
from agentdeck.sessions.status import read_hook_status
from agentdeck.sessions.transcript import display_prompt

ENV_INSTANCE = "AGENTDECK_INSTANCE_ID"
MAX_PAYLOAD_BYTES = 1024 * 1024  # hook JSON read from stdin; a larger payload is ignored
MAX_FIELD_CHARS = 4096  # a path or id longer than PATH_MAX is not one; keeps the file small

# Event name -> status. Events not listed leave the status unchanged.
EVENT_STATUS = {
    # Claude Code (Codex's hooks use the same names for the events it has).
    "SessionStart": WAITING,
    "UserPromptSubmit": RUNNING,
    "PreToolUse": RUNNING,
    # DESIGN.md says waiting; but after a tool the agent goes on working (and a person who
    # just approved a permission prompt should see it running again), so: running.
    "PostToolUse": RUNNING,
    "Stop": WAITING,
    "StopFailure": WAITING,  # the turn ended on an API error: the agent is back at its prompt
    "PermissionRequest": WAITING,
    "SessionEnd": DEAD,
    # Gemini CLI.
    "BeforeAgent": RUNNING,
    "AfterAgent": WAITING,
    "BeforeTool": RUNNING,
    "AfterTool": RUNNING,  # as PostToolUse
    # Codex's `notify` program: the payload's "type" is the event.
    "agent-turn-complete": WAITING,
}
# Notifications that mean the agent waits for the person (Claude Code's
# notification_type values; Gemini CLI's); other notifications change nothing.
NOTIFICATION_EVENT = "Notification"
ATTENTION_NOTIFICATIONS = frozenset({"permission_prompt", "elicitation_dialog", "ToolPermission"})
# Events whose payload's "prompt" is what the person just typed (Claude Code and Codex; Gemini CLI).
PROMPT_EVENTS = frozenset({"UserPromptSubmit", "BeforeAgent"})


def status_for(payload):
    """The status a hook payload (a dict) means, or None when it changes nothing."""
    event = payload.get("hook_event_name") or payload.get("type")
    if event == NOTIFICATION_EVENT:
        kind = payload.get("notification_type") or payload.get("matcher")
        return WAITING if kind in ATTENTION_NOTIFICATIONS else None
    return EVENT_STATUS.get(event) if isinstance(event, str) else None


def _field(payload, *keys):
    """The first of ``keys`` that holds a string, cut to MAX_FIELD_CHARS; "" if none does."""
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str):
            return value[:MAX_FIELD_CHARS]
    return ""


def status_record(payload, status, now, previous=None):
    """The status file's content for ``payload`` (see the module docstring); ``previous``
    is the instance's HookStatus before this hook, or None."""
    event = _field(payload, "hook_event_name", "type")
    transcript = _field(payload, "transcript_path")
    prompt = display_prompt(payload.get("prompt")) if event in PROMPT_EVENTS else ""
    if previous is not None and transcript in ("", previous.transcript_path):
        transcript = previous.transcript_path
        prompt = prompt or previous.prompt
    return {
        "status": status,
        "event": event,
        "session_id": _field(payload, "session_id", "thread-id"),
        "cwd": _field(payload, "cwd"),
        "transcript_path": transcript,
        "prompt": prompt,
        "ts": now,
    }


def home_root(environ):
    """AGENTDECK_HOME, else the config's ``[daemon] home``, else the default home."""
    if environ.get(ENV_HOME):
        return home_path(environ=environ)
    from agentdeck.config import load_default  # only on this path: it costs ~30 ms of imports
    from agentdeck.errors import ConfigError
    try:
        return load_default().home
    except ConfigError:
        return home_path(environ=environ)


def read_payload(argv, stdin):
    """The payload bytes: the single argument (Codex ``notify``), else stdin, or None when
    there is none or it is over MAX_PAYLOAD_BYTES."""
    if len(argv) == 1:
        data = os.fsencode(argv[0])
    elif stdin is None:
        return None
    else:
        data = stdin.read(MAX_PAYLOAD_BYTES + 1)
    return data if 0 < len(data) <= MAX_PAYLOAD_BYTES else None


def record_event(argv, stdin, environ):
    """Write the status file for one hook invocation; returns the status written or None."""
    instance_id = environ.get(ENV_INSTANCE)
    if not instance_id or not is_valid_name(instance_id):
        return None
    data = read_payload(argv, stdin)
    if data is None:
        return None
    try:
        payload = json.loads(data)
    except ValueError:  # not JSON, or not UTF-8
        return None
    if not isinstance(payload, dict):
        return None
    status = status_for(payload)
    if status is None:
        return None
    home = Home(home_root(environ))
    private_dir(home.root)
    private_dir(home.hooks)
    path = home.hook_file(instance_id)
    record = status_record(payload, status, time.time(), read_hook_status(path))
    atomic_write(path, json.dumps(record).encode())
    return status


def main(argv=()):
    """Entry for `agentdeck hook [PAYLOAD]`; always returns 0 (see the module docstring)."""
    try:
        record_event(list(argv), sys.stdin.buffer if sys.stdin is not None else None, os.environ)
    except Exception as exc:  # a broken hook must never fail the agent's turn; say why, exit 0
        print(f"agentdeck hook: {exc}", file=sys.stderr)
    return 0
