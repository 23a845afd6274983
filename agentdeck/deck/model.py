"""What the deck shows, with no I/O and no widgets: the sessions and servers as the
daemon last described them, in the deck's order, filtered, and each cell's text.

Session entries are the daemon's /status entries (`sessions.view.SessionView.to_dict`):
a snapshot fills the model, each ``session`` / ``session_removed`` event changes one.
"""
import dataclasses
import os
import time

from agentdeck.sessions.states import DEAD, IDLE, RUNNING, WAITING
from agentdeck.sessions.view import why

ORDER = {WAITING: 0, RUNNING: 1, IDLE: 2, DEAD: 3}  # waiting first: they need the person
STATUS_STYLE = {WAITING: "bold yellow", RUNNING: "green", IDLE: "blue", DEAD: "red"}
SERVER_STYLE = {"running": "green", "starting": "cyan", "backoff": "yellow", "fatal": "bold red", "stopped": "dim",
                "stopping": "dim", "external": "magenta"}
TOOLS = {"claude": "claude", "codex": "codex", "gemini": "gemini", "shell": ""}  # tool -> command for `session add`


def age(since, now):
    """A duration a person reads at a glance: <1m, 7m, 3h05m, 2d. No seconds: a cell that
    changes every second would redraw every young row every second."""
    if not since:
        return ""
    seconds = max(0, int(now - since))
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


def project(entry):
    return os.path.basename((entry.get("path") or "").rstrip("/")) or entry.get("path") or ""


def sort_key(entry):
    """Waiting first, then running, idle, dead; longest in its status first."""
    return ORDER.get(entry.get("status"), len(ORDER)), entry.get("since") or 0.0, entry.get("title") or ""


@dataclasses.dataclass(frozen=True)
class Filter:
    """``/`` text: words that must all appear in a session's title, project, tool, id or
    prompt; a status name (``waiting``, or ``is:waiting``) keeps only sessions in it."""
    words: tuple = ()
    statuses: frozenset = frozenset()

    @classmethod
    def parse(cls, text):
        words, statuses = [], set()
        for word in text.lower().split():
            name = word.removeprefix("is:")
            if name in ORDER:
                statuses.add(name)
            else:
                words.append(word)
        return cls(tuple(words), frozenset(statuses))

    def __bool__(self):
        return bool(self.words or self.statuses)

    def keeps(self, entry):
        if self.statuses and entry.get("status") not in self.statuses:
            return False
        haystack = " ".join(str(entry.get(k) or "") for k in ("title", "path", "tool", "id", "prompt")).lower()
        return all(word in haystack for word in self.words)


class DeckModel:
    """Sessions by id and servers by name, as the daemon (or the registry) described them."""

    def __init__(self):
        self.sessions = {}  # id -> /status session entry
        self.servers = {}  # name -> /status server entry
        self.filter = Filter()

    def load(self, status):
        """Replace everything with a /status document (a snapshot)."""
        self.sessions = {s["id"]: s for s in status.get("sessions", ())}
        self.servers = {s["name"]: s for s in status.get("servers", ())}

    def apply(self, kind, data):
        """Apply one /events event; returns the id or name it changed, or None."""
        if kind == "session":
            self.sessions[data["id"]] = data
            return data["id"]
        if kind == "session_removed":
            self.sessions.pop(data["id"], None)
            return data["id"]
        if kind == "server":
            self.servers[data["name"]] = data
            return data["name"]
        if kind == "server_removed":
            self.servers.pop(data["name"], None)
            return data["name"]
        return None

    def visible(self):
        """The sessions to show, in order."""
        return sorted((s for s in self.sessions.values() if self.filter.keeps(s)), key=sort_key)

    def cells(self, entry, now=None):
        """(title, project, tool, status, for, why, prompt) of one session row, as text."""
        now = time.time() if now is None else now
        return (entry.get("title") or "", project(entry), entry.get("tool") or "", entry.get("status") or "",
                age(entry.get("since"), now), why(entry),
                " ".join((entry.get("prompt") or "").split()))
