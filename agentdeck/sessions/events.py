"""The transition event file, ``events/<id>.json``: the latest status change of a session.

The transition daemon writes it atomically (temp file + rename, 0600) on each
transition; event watchers read it back. It is a JSON object: ``instance``,
``title``, ``profile``, ``from`` and ``to`` (statuses, see `states`), ``time`` (Unix
time of the transition, seconds), ``hook_event`` (the hook event behind it; ""
when tmux liveness decided it) and ``reason`` (why a session that now waits waits, as
that hook said: "question", "permission", "turn finished"...; "" otherwise).
"""
import dataclasses
import json

from agentdeck.fsutil import atomic_write, read_json_object
from agentdeck.sessions.names import is_valid_name
from agentdeck.sessions.states import STATUSES

EVENT_FILE_MAX_BYTES = 64 * 1024  # an event is a few hundred bytes; anything bigger is not ours


@dataclasses.dataclass(frozen=True)
class TransitionEvent:
    instance: str
    title: str
    profile: str
    from_status: str  # "from" in the file
    to_status: str  # "to" in the file
    time: float  # Unix time of the transition
    hook_event: str = ""
    reason: str = ""

    def to_dict(self):
        return {"instance": self.instance, "title": self.title, "profile": self.profile, "from": self.from_status,
                "to": self.to_status, "time": self.time, "hook_event": self.hook_event, "reason": self.reason}

    @property
    def key(self):
        """What tells two versions of one instance's event file apart."""
        return (self.time, self.from_status, self.to_status)


def write_event(path, event):
    """Write ``event`` to ``path`` atomically."""
    atomic_write(path, json.dumps(event.to_dict()).encode())


def read_event(path):
    """The TransitionEvent in ``path``, or None when it is missing, a symlink (never
    followed), over EVENT_FILE_MAX_BYTES, or not a valid event."""
    raw = read_json_object(path, EVENT_FILE_MAX_BYTES)
    if raw is None:
        return None
    texts = [raw.get(key) for key in ("instance", "title", "profile", "from", "to")]
    when = raw.get("time")
    hook_event = raw.get("hook_event", "")
    reason = raw.get("reason", "")
    if (not all(isinstance(t, str) for t in texts) or not is_valid_name(texts[0])
            or texts[3] not in STATUSES or texts[4] not in STATUSES or not isinstance(hook_event, str)
            or not isinstance(reason, str)
            or isinstance(when, bool) or not isinstance(when, (int, float))):
        return None
    instance, title, profile, from_status, to_status = texts
    return TransitionEvent(instance=instance, title=title, profile=profile, from_status=from_status,
                           to_status=to_status, time=float(when), hook_event=hook_event, reason=reason)
