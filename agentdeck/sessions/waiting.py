"""Wait for a session to reach one of some statuses (what `agentdeck wait` does).

With the daemon running, its transition events are authoritative: the wait follows
``events/<id>.json`` through a `StatusEventWatcher`. Without it, nobody writes events,
so the wait follows ``hooks/<id>.json`` through a `StatusFileWatcher` and looks at
tmux every REMOVED_CHECK (a session that dies fires no hook), resolving the
status the way `session show` does. Either way the watcher starts before the first
look, so a change in between is not missed, and a status the session already has
ends the wait at once. A session removed meanwhile ends it too, within
REMOVED_CHECK: nothing would ever come.
"""
import time

from gevent.event import Event

from agentdeck.sessions.statusevents import StatusEventWatcher
from agentdeck.sessions.statusfiles import StatusFileWatcher

REMOVED_CHECK = 0.5  # seconds between looks at the registry for a session removed meanwhile
# What a wait ends with.
REACHED = "reached"
TIMED_OUT = "timed out"
REMOVED = "removed"


def _remaining(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def wait_for_status(control, instance_id, statuses, timeout=None, daemon=False):
    """Wait until session ``instance_id`` has a status in ``statuses``.

    ``control`` is a `control.SessionControl`; ``timeout`` is in seconds (None: no limit);
    ``daemon`` says whether the daemon runs. Returns ``(REACHED, status reached)``,
    ``(TIMED_OUT, latest status seen)``, or ``(REMOVED, latest status seen)`` when the
    session was removed meanwhile. Raises UserError for an unknown id.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if daemon:
        return _follow_events(control, instance_id, frozenset(statuses), deadline)
    return _follow_hooks(control, instance_id, frozenset(statuses), deadline)


def _slice(deadline, interval):
    """Seconds to wait before the next look: ``interval``, or less if the deadline is nearer."""
    remaining = _remaining(deadline)
    return interval if remaining is None else min(interval, remaining)


def _follow_events(control, instance_id, statuses, deadline):
    watcher = StatusEventWatcher(control.home.events, instances=[instance_id])
    watcher.start()
    try:
        status = control.view(instance_id).status
        if status in statuses:
            return REACHED, status
        while True:
            event = watcher.wait_for_status(statuses, _slice(deadline, REMOVED_CHECK))
            if event is not None:
                return REACHED, event.to_status
            if control.registry.find(instance_id) is None:
                return REMOVED, status
            if _remaining(deadline) == 0:
                return TIMED_OUT, status
    finally:
        watcher.stop()


def _follow_hooks(control, instance_id, statuses, deadline):
    changed = Event()

    def on_change(ids):
        if instance_id in ids:
            changed.set()
    watcher = StatusFileWatcher(control.home.hooks, on_change=on_change)
    watcher.start()
    status = None
    try:
        while True:
            changed.clear()
            view = control.lookup(instance_id)
            if view is None:
                return REMOVED, status
            status = view.status
            if status in statuses:
                return REACHED, status
            if _remaining(deadline) == 0:
                return TIMED_OUT, status
            changed.wait(_slice(deadline, REMOVED_CHECK))
    finally:
        watcher.stop()
