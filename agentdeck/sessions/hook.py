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
(the latest prompt a hook carried, at most PROMPT_MAX_CHARS), ``reason`` (why a waiting
session waits: see HOOK_RULES; "" otherwise) and ``ts`` (Unix time in seconds). A hook that names no transcript (Codex's notify, a hand-written hook) keeps
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

CLAUDE, CODEX, GEMINI = "claude", "codex", "gemini"
# Why a session waits (the hook file's "reason"), for `session list/show`, /status and the deck.
STARTED = "started"              # a new session, at its first prompt
QUESTION = "question"            # the agent asks the person something
IDLE_PROMPT = "idle"             # the agent has waited at its prompt for a while (Claude Code: 60 s)
PERMISSION = "permission"        # a tool needs the person's approval
TURN_FINISHED = "turn finished"  # the agent ended its turn
TURN_FAILED = "turn failed"      # the turn ended on an error (the API's)
INTERRUPTED = "interrupted"      # the person stopped the agent mid-tool

# What each status-bearing hook event means, as data, from each client's hook reference
# (Claude Code: code.claude.com/docs/en/hooks; Codex: developers.openai.com/codex/hooks;
# Gemini CLI: geminicli.com/docs/hooks/reference). Read top to bottom: the first row of the
# payload's event whose condition holds (payload[field] == value; None: always) decides;
# a status of None means "no change". An event no row names changes nothing either
# (compaction, subagents, tasks, config and file events, Gemini's per-chunk model events:
# none says whether the person is wanted). ``clients``: who sends it, for `hooks install`.
HOOK_RULES = (
    # event, condition, status, reason, clients
    ("SessionStart", ("source", "compact"), None, "", (CLAUDE,)),  # after a compaction mid-turn: the turn goes on
    ("SessionStart", None, WAITING, STARTED, (CLAUDE, CODEX, GEMINI)),
    ("UserPromptSubmit", None, RUNNING, "", (CLAUDE, CODEX)),
    ("PreToolUse", ("tool_name", "AskUserQuestion"), WAITING, QUESTION, (CLAUDE,)),  # its only hook: the agent asks
    ("PreToolUse", None, RUNNING, "", (CLAUDE, CODEX)),
    ("PermissionRequest", None, WAITING, PERMISSION, (CLAUDE, CODEX)),
    # After a tool (an answered question or permission too) the agent goes on working.
    ("PostToolUse", None, RUNNING, "", (CLAUDE, CODEX)),
    ("PostToolUseFailure", ("is_interrupt", True), WAITING, INTERRUPTED, (CLAUDE,)),  # Esc: no Stop follows
    ("PostToolUseFailure", None, RUNNING, "", (CLAUDE,)),
    ("Notification", ("notification_type", "permission_prompt"), WAITING, PERMISSION, (CLAUDE,)),
    ("Notification", ("notification_type", "idle_prompt"), WAITING, IDLE_PROMPT, (CLAUDE,)),
    ("Notification", ("notification_type", "elicitation_dialog"), WAITING, QUESTION, (CLAUDE,)),
    ("Notification", ("notification_type", "ToolPermission"), WAITING, PERMISSION, (GEMINI,)),
    ("Elicitation", None, WAITING, QUESTION, (CLAUDE,)),  # an MCP server asks the person, through Claude Code
    ("ElicitationResult", None, RUNNING, "", (CLAUDE,)),
    ("Stop", None, WAITING, TURN_FINISHED, (CLAUDE, CODEX)),
    ("StopFailure", None, WAITING, TURN_FAILED, (CLAUDE,)),
    ("SessionEnd", ("reason", "clear"), None, "", (CLAUDE, GEMINI)),  # /clear: a SessionStart follows at once
    ("SessionEnd", None, DEAD, "", (CLAUDE, GEMINI)),
    ("BeforeAgent", None, RUNNING, "", (GEMINI,)),
    ("BeforeTool", None, RUNNING, "", (GEMINI,)),
    ("AfterTool", None, RUNNING, "", (GEMINI,)),
    ("AfterAgent", None, WAITING, TURN_FINISHED, (GEMINI,)),
    # Codex's `notify` program (config.toml's notify, not a hook): the payload's "type" is the event.
    ("agent-turn-complete", None, WAITING, TURN_FINISHED, ()),
)
# Events whose payload's "prompt" is what the person just typed (Claude Code and Codex; Gemini CLI).
PROMPT_EVENTS = frozenset({"UserPromptSubmit", "BeforeAgent"})


def hook_events(client):
    """The events ``client`` sends that bear a status, in table order: what `hooks install` hooks."""
    return tuple(dict.fromkeys(event for event, _, _, _, clients in HOOK_RULES if client in clients))


def classify(payload):
    """``(status, reason)`` a hook payload (a dict) means, or None when it changes nothing;
    ``reason`` says why a waiting session waits ("" for the other statuses)."""
    event = payload.get("hook_event_name") or payload.get("type")
    if not isinstance(event, str):
        return None
    for rule_event, condition, status, reason, _ in HOOK_RULES:
        if rule_event == event and (condition is None or payload.get(condition[0]) == condition[1]):
            return None if status is None else (status, reason)
    return None


def status_for(payload):
    """The status a hook payload means, or None when it changes nothing."""
    meaning = classify(payload)
    return None if meaning is None else meaning[0]


def _field(payload, *keys):
    """The first of ``keys`` that holds a string, cut to MAX_FIELD_CHARS; "" if none does."""
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str):
            return value[:MAX_FIELD_CHARS]
    return ""


def status_record(payload, status, now, previous=None, reason=""):
    """The status file's content for ``payload`` (see the module docstring); ``previous``
    is the instance's HookStatus before this hook, or None; ``reason`` why it waits."""
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
        "reason": reason,
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
    meaning = classify(payload)
    if meaning is None:
        return None
    status, reason = meaning
    home = Home(home_root(environ))
    private_dir(home.root)
    private_dir(home.hooks)
    path = home.hook_file(instance_id)
    record = status_record(payload, status, time.time(), read_hook_status(path), reason)
    atomic_write(path, json.dumps(record).encode())
    return status


def main(argv=()):
    """Entry for `agentdeck hook [PAYLOAD]`; always returns 0 (see the module docstring)."""
    try:
        record_event(list(argv), sys.stdin.buffer if sys.stdin is not None else None, os.environ)
    except Exception as exc:  # a broken hook must never fail the agent's turn; say why, exit 0
        print(f"agentdeck hook: {exc}", file=sys.stderr)
    return 0
