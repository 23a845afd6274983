"""A session's status from what the hooks wrote and what tmux shows.

Hooks only speak when the agent does something; tmux knows whether anything still
runs. `resolve_status` combines the two so every session has a status, with or
without hooks: a session whose tmux session is gone or whose pane has exited is dead
whatever the last hook said.
"""
import dataclasses

from agentdeck.fsutil import read_json_object
from agentdeck.sessions.states import DEAD, IDLE, STATUSES
from agentdeck.sessions.transcript import display_prompt

HOOK_FILE_MAX_BYTES = 64 * 1024  # a status file is a few hundred bytes; anything bigger is not ours
REASON_MAX_CHARS = 40  # ours are a word or two; a longer one was not written by agentdeck


@dataclasses.dataclass(frozen=True)
class HookStatus:
    """The content of ``hooks/<id>.json`` (written by `agentdeck.sessions.hook`)."""
    status: str
    event: str
    session_id: str
    cwd: str
    transcript_path: str  # the latest one any hook of the instance named; "" if none did
    ts: float  # Unix time the hook ran
    prompt: str = ""  # the latest prompt a hook carried (UserPromptSubmit, BeforeAgent), shortened; "" if none
    reason: str = ""  # why the session waits ("question", "permission", ...: hook.HOOK_RULES); "" otherwise


def read_hook_status(path):
    """The HookStatus in ``path``, or None when it is missing, a symlink (never followed),
    over HOOK_FILE_MAX_BYTES, not JSON, or names no known status."""
    raw = read_json_object(path, HOOK_FILE_MAX_BYTES)
    if raw is None or raw.get("status") not in STATUSES:
        return None

    def text(key):
        value = raw.get(key)
        return value if isinstance(value, str) else ""
    ts = raw.get("ts")
    return HookStatus(status=raw["status"], event=text("event"), session_id=text("session_id"), cwd=text("cwd"),
                      transcript_path=text("transcript_path"),
                      ts=float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else 0.0,
                      prompt=display_prompt(raw.get("prompt")), reason=text("reason")[:REASON_MAX_CHARS])


def resolve_status(stored, hook, pane):
    """The status to show.

    ``stored`` is the registry's status, ``hook`` the session's HookStatus (or None),
    ``pane`` its tmux PaneState (None when the tmux session does not exist).
    """
    if pane is None or pane.dead:
        return DEAD
    if hook is not None:
        return hook.status
    # Alive and no hook has spoken: what the registry last knew, unless that was
    # "dead" (the session is plainly not dead now).
    return IDLE if stored == DEAD else stored
