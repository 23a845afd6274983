"""Wait for a session to reach one of some statuses (what `agentdeck wait` does).

With the daemon running, its transition events are authoritative: the wait follows
``events/<id>.json`` through a `StatusEventWatcher`. Without it, nobody writes events,
so the wait follows ``hooks/<id>.json`` through a `StatusFileWatcher` and looks at
tmux every LIVENESS_INTERVAL (a session that dies fires no hook), resolving the
status the way `session show` does. Either way the watcher starts before the first
look, so a change in between is not missed, and a status the session already has
ends the wait at once.
"""
import time

from gevent.event import Event

from agentdeck.sessions.statusevents import StatusEventWatcher
from agentdeck.sessions.statusfiles import StatusFileWatcher

LIVENESS_INTERVAL = 1.0  # seconds between looks at tmux while no daemon runs


def _remaining(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def wait_for_status(control, instance_id, statuses, timeout=None, daemon=False):
    """Wait until session ``instance_id`` has a status in ``statuses``.

    ``control`` is a `control.SessionControl`; ``timeout`` is in seconds (None: no limit);
    ``daemon`` says whether the daemon runs. Returns ``(True, status reached)``, or
    ``(False, latest status seen)`` on timeout. Raises UserError for an unknown id.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if daemon:
        return _follow_events(control, instance_id, frozenset(statuses), deadline)
    return _follow_hooks(control, instance_id, frozenset(statuses), deadline)


def _follow_events(control, instance_id, statuses, deadline):
    watcher = StatusEventWatcher(control.home.events, instances=[instance_id])
    watcher.start()
    try:
        status = control.view(instance_id).status
        if status in statuses:
            return True, status
        event = watcher.wait_for_status(statuses, _remaining(deadline))
        return (True, event.to_status) if event is not None else (False, status)
    finally:
        watcher.stop()


def _follow_hooks(control, instance_id, statuses, deadline):
    changed = Event()

    def on_change(ids):
        if instance_id in ids:
            changed.set()
    watcher = StatusFileWatcher(control.home.hooks, on_change=on_change)
    watcher.start()
    try:
        while True:
            changed.clear()
            status = control.view(instance_id).status
            if status in statuses:
                return True, status
            remaining = _remaining(deadline)
            if remaining == 0:
                return False, status
            changed.wait(LIVENESS_INTERVAL if remaining is None else min(LIVENESS_INTERVAL, remaining))
    finally:
        watcher.stop()
