"""TransitionDaemon: notice when a session's status changes, record it and publish it.

Inside `agentdeck serve`, one greenlet runs a pass over every profile: each
instance's status is its hook status (kept current by a `StatusFileWatcher`)
combined with its tmux liveness (`status.resolve_status`; one `tmux list-panes` call
per pass). A status that differs from the previous pass is stored in the registry
and written to ``events/<id>.json`` (`sessions.events`), where `agentdeck wait` and
the `Notifier` pick it up. Passes run every ACTIVE_INTERVAL while a session is
running, every QUIET_INTERVAL when none is, and at once when a hook file changes.

Rules worth knowing:

- tmux liveness wins: a session whose tmux session is gone or whose pane exited is
  dead, whatever its hook file says and however recent it is; the only exception is
  an instance younger than START_GRACE with no tmux session and no hook yet, because
  `session add` registers an instance just before it starts its tmux session;
- a turn too fast for two passes to see (waiting, then running and waiting again,
  all between them) is still a transition: a hook file written since the previous
  pass whose event ends a turn (TURN_END_EVENTS) yields ``running -> waiting``;
- a tmux or registry failure skips what it affects for that pass (nothing is
  declared dead because tmux did not answer) and is logged, at most once a minute;
- state of an instance is dropped as soon as a pass no longer finds it (or its
  registry row is gone when its status is stored): the daemon's maps, the hook
  map and the notifier's rate limit;
- a transition is stored and its event file written in one registry write
  transaction that first checks the row is there, and `session remove` deletes the
  row and the files in one too: an event file never reappears after a removal; a
  hook file the removed session's agent still wrote (a hook in flight) goes at the
  next pass;
- a profile whose registry disappeared has its store closed; `stop` closes every
  store and empties every map.
"""
import os
import time

from gevent.event import Event
from gevent.pool import Group
from loguru import logger

from agentdeck.errors import UserError
from agentdeck.fsutil import private_dir
from agentdeck.sessions.events import TransitionEvent, write_event
from agentdeck.sessions.notify import Notifier
from agentdeck.sessions.registry import Registry
from agentdeck.sessions.states import RUNNING, WAITING
from agentdeck.sessions.status import resolve_status
from agentdeck.sessions.tmux import Tmux
from agentdeck.sessions.statusfiles import StatusFileWatcher

ACTIVE_INTERVAL = 1.0  # seconds between passes while some session is running
QUIET_INTERVAL = 3.0  # seconds between passes while none is
START_GRACE = 10.0  # seconds a new instance may have no tmux session yet without being dead
PROBLEM_LOG_INTERVAL = 60.0  # seconds between two log lines about the same failing tmux or registry
KILL_TIMEOUT = 1.0  # seconds a second SIGINT gives our greenlets (and a notify command) to end
# Hook events that end an agent's turn (Claude Code, Gemini CLI, Codex's notify): a new
# one while the previous pass already saw waiting means a whole turn fell between two
# passes. Not the attention events (PermissionRequest, Notification): they follow one
# another while the agent waits, with no turn between them.
TURN_END_EVENTS = frozenset({"Stop", "StopFailure", "AfterAgent", "agent-turn-complete"})


def current_status(record, hook, pane, now):
    """The status of ``record`` (an InstanceRecord) given its HookStatus (or None), its
    tmux PaneState (None: no tmux session) and the Unix time ``now``."""
    # A hook proves the tmux session existed: only a silent newcomer gets the grace.
    if pane is None and hook is None and now - record.created < START_GRACE:
        return record.status
    return resolve_status(record.status, hook, pane)


def missed_turn(previous, status, hook, hook_is_new):
    """True when a whole turn happened between two passes that both saw waiting."""
    return (previous == status == WAITING and hook is not None and hook_is_new and hook.status == WAITING
            and hook.event in TURN_END_EVENTS)


class TransitionDaemon:
    """The passes, the hook watcher and the notifier of one home (a `paths.Home`).

    ``notify_settings`` is a `config.NotifySettings`. ``registry`` and ``tmux`` default to
    a `Registry` of the home and a `Tmux` honouring AGENTDECK_TMUX_SOCKET; the daemon
    closes the registry on `stop` whoever made it. Use `start`/`stop` from one greenlet.

    ``on_change(record, status, since)``, if given, is called in the pass for every
    instance whose status, latest hook or title changed, or that appeared after the first
    pass; ``on_removed(id)`` for every instance that left the registry. Neither may block.
    """

    def __init__(self, home, notify_settings, registry=None, tmux=None, on_change=None, on_removed=None):
        self.home = home
        self.on_change = on_change
        self.on_removed = on_removed
        self.registry = registry if registry is not None else Registry(home)
        self.tmux = tmux if tmux is not None else Tmux()
        self.hooks = StatusFileWatcher(home.hooks, on_change=self._hooks_changed)
        self.notifier = Notifier(home.events, notify_settings)
        self.group = Group()  # every greenlet of ours: the pass loop, two watches, the notifier
        self.passes = 0  # passes completed
        self.transitions = 0  # event files written
        self.missed_turns = 0  # of which turns that fell between two passes
        self.last_pass_seconds = 0.0  # how long the latest pass took
        self._wake = Event()  # set when a hook file changed: run a pass now
        self._busy = False  # some session was running at the latest pass
        self._last = {}  # instance id -> status at the latest pass (the stored one at first sight)
        self._since = {}  # instance id -> Unix time it entered that status, as far as we know
        self._hook_ts = {}  # instance id -> ts of the hook file the latest pass used (None: no file)
        self._shown = {}  # instance id -> (status, hook ts, title, how it ended) last given to on_change
        self._dead_panes = {}  # instance id -> its tmux PaneState while dead on screen (its exit status)
        self._problems = {}  # what failed ("tmux", profile name) -> monotonic time it was last logged

    def start(self):
        """Start the hook watcher, the notifier and the pass loop."""
        self.hooks.start(self.group)
        self.notifier.start(self.group)
        self.group.spawn(self._loop).link_exception(self._crashed)
        logger.info("transitions: watching {} and {}; passes every {:g}-{:g} s, notify {}", self.home.hooks,
                    self.home.events, ACTIVE_INTERVAL, QUIET_INTERVAL,
                    "on" if self.notifier.settings.command else "off")

    def kill_now(self):
        """Second SIGINT: end our greenlets at once; a notify command still running is killed
        with its process group (the notifier's own clean-up), nothing else is waited for."""
        self.group.kill(block=True, timeout=KILL_TIMEOUT)

    def stop(self):
        """Stop every greenlet (a notify command running is killed), close every store and
        empty every map. Idempotent."""
        self.notifier.stop()
        self.group.kill(block=True)
        self.hooks.stop()
        closed = self.registry.open_profiles()
        self.registry.close()
        self._last.clear()
        self._since.clear()
        self._hook_ts.clear()
        self._shown.clear()
        self._dead_panes.clear()
        self._problems.clear()
        logger.info("transitions: stopped after {} passes and {} transitions; closed {} profile stores",
                    self.passes, self.transitions, len(closed))

    def reload(self, notify_settings):
        """Use new ``[notify]`` settings from the next event on."""
        self.notifier.settings = notify_settings

    def statuses(self):
        """{instance id: (status, since)} as of the latest pass (a copy)."""
        return {i: (status, self._since.get(i)) for i, status in self._last.items()}

    def tracked(self):
        """Every instance id any of our maps holds (for tests: removed ones leave none)."""
        return (set(self._last) | set(self._since) | set(self._hook_ts) | set(self._shown) | set(self._dead_panes)
                | self.notifier.tracked())

    def dead_pane(self, instance_id):
        """The instance's tmux PaneState as of the latest pass if its command has ended (its
        exit status), else None."""
        return self._dead_panes.get(instance_id)

    def stats(self):
        """Counters for the status page and metrics."""
        watcher = self.notifier.watcher
        return {"passes": self.passes, "transitions": self.transitions, "missed_turns": self.missed_turns,
                "last_pass_seconds": round(self.last_pass_seconds, 4), "sessions": len(self._last),
                "hook_statuses": len(self.hooks), "events_dropped": watcher.dropped,
                "notify_sent": self.notifier.sent, "notify_failed": self.notifier.failed,
                "notify_limited": self.notifier.limited, "hook_overflows": self.hooks.watch.overflows,
                "event_overflows": watcher.watch.overflows}

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("transitions: the pass loop crashed; statuses are no "
                                                       "longer tracked")

    def _hooks_changed(self, ids):
        self._wake.set()

    def _loop(self):
        while True:
            self._wake.clear()
            self.run_pass()
            self._wake.wait(ACTIVE_INTERVAL if self._busy else QUIET_INTERVAL)

    def _problem(self, what, message, *args):
        """Log a failure of ``what`` unless the same one was logged within PROBLEM_LOG_INTERVAL."""
        now = time.monotonic()
        if now - self._problems.get(what, float("-inf")) >= PROBLEM_LOG_INTERVAL:
            self._problems[what] = now
            logger.warning(message, *args)

    def run_pass(self):
        """Compare every instance of every profile with the latest pass; returns the number
        of transitions written. Called by the loop; tests may call it directly."""
        started = time.monotonic()
        listed_at = time.time()  # a hook file older than this belongs to an instance the listing has
        profiles = self.registry.profiles()
        for profile in self.registry.open_profiles():
            if profile not in profiles:
                self.registry.close_profile(profile)
                self._problems.pop(profile, None)
                logger.info("transitions: profile {} is gone; closed its store", profile)
        listings, complete = [], True
        for profile in profiles:
            store = self.registry.store(profile)
            try:
                listings.append((store, store.list_instances()))
            except UserError as exc:
                complete = False
                self._problem(profile, "transitions: profile {} skipped: {}", profile, exc)
        panes = {}
        if any(records for _, records in listings):
            try:
                panes = self.tmux.panes()
            except UserError as exc:
                self._problem("tmux", "transitions: pass skipped, tmux failed: {}", exc)
                return 0
        now = time.time()
        present, written = set(), 0
        for store, records in listings:
            present.update(record.id for record in records)
            try:
                for record in records:
                    written += self._update(store, record, panes.get(record.tmux_session), now)
            except UserError as exc:  # its database failed mid-pass: the next pass tries again
                self._problem(store.profile, "transitions: profile {} not updated: {}", store.profile, exc)
        if complete:
            self._prune(present, listed_at)
        self._busy = RUNNING in self._last.values()
        self.passes += 1
        self.last_pass_seconds = time.monotonic() - started
        return written

    def _update(self, store, record, pane, now):
        """Bring one instance up to date; returns 1 if a transition was written, else 0."""
        instance_id = record.id
        hook = self.hooks.get(instance_id)
        hook_ts = hook.ts if hook is not None else None
        status = current_status(record, hook, pane, now)
        if instance_id in self._last:
            previous = self._last[instance_id]
            missed = missed_turn(previous, status, hook, hook_ts != self._hook_ts[instance_id])
        else:  # first sight: compare with what was stored (changes while no daemon ran count)
            previous, missed = record.status, False
            self._since[instance_id] = record.updated
        changed = status != previous or missed
        if changed:
            said = hook is not None and hook.status == status  # the hook, not tmux, decided it
            event = TransitionEvent(instance=instance_id, title=record.title, profile=record.profile,
                                    from_status=RUNNING if missed else previous, to_status=status, time=now,
                                    hook_event=hook.event if said else "", reason=hook.reason if said else "")
            # Stored and published under the registry's write lock, which `session remove`
            # holds while it deletes the row and the files: no event outlives a removal.
            stored = store.record_transition(instance_id, status, lambda: self._publish(event))
        else:
            stored = store.set_status(instance_id, status) if status != record.status else record
        if stored is None:
            self._forget(instance_id)  # removed since it was listed
            return 0
        self._last[instance_id] = status
        self._hook_ts[instance_id] = hook_ts
        if pane is not None and pane.dead:
            self._dead_panes[instance_id] = pane
        else:
            self._dead_panes.pop(instance_id, None)
        if not changed:
            self._show(record, status, hook_ts)
            return 0
        self._since[instance_id] = now
        self._show(record, status, hook_ts)
        self.transitions += 1
        self.missed_turns += missed
        logger.info("session {} ({}): {} -> {}{}", instance_id, record.profile, event.from_status, status,
                    f" (hook {event.hook_event}{', turn between passes' if missed else ''})"
                    if event.hook_event else "")
        return 1

    def _show(self, record, status, hook_ts):
        """Tell on_change about ``record`` if what a person sees of it changed. An instance
        first seen in the first pass is not news: every listener starts from a listing."""
        if self.on_change is None:
            return
        # How a dead pane ended is news too: tmux reaps the command a moment after the pane
        # reads as dead, so the pass that saw the death may not have had the exit status.
        pane = self._dead_panes.get(record.id)
        ended = None if pane is None else (pane.exit_status, pane.exit_signal)
        shown = (status, hook_ts, record.title, ended)
        previous = self._shown.get(record.id)
        self._shown[record.id] = shown
        if shown != previous and (previous is not None or self.passes):
            self.on_change(record, status, self._since.get(record.id))

    def _publish(self, event):
        path = self.home.event_file(event.instance)
        try:
            write_event(path, event)
        except FileNotFoundError:  # somebody deleted events/: make it again (the watchers re-arm)
            private_dir(self.home.events)
            write_event(path, event)

    def _forget(self, instance_id):
        for table in (self._last, self._since, self._hook_ts, self._shown, self._dead_panes):
            table.pop(instance_id, None)
        self.hooks.forget(instance_id)
        self.notifier.forget(instance_id)
        if self.on_removed is not None:
            self.on_removed(instance_id)

    def _prune(self, present, listed_at):
        """Drop everything kept for instances that no longer exist, and the hook file of
        one written before ``listed_at`` (a Unix time before the listing of ``present``):
        a hook the agent of a removed session still had in flight when `remove` ran. A
        live instance's row always precedes its hooks, so such a file is never one of a
        session that is about to be listed."""
        late = [i for i, hook in self.hooks.items() if i not in present and hook.ts < listed_at]
        for instance_id in [i for i in self._last if i not in present]:
            self._forget(instance_id)
            logger.info("session {}: removed; state dropped", instance_id)
        for instance_id in late:
            try:
                os.unlink(self.home.hook_file(instance_id))
                logger.info("session {}: removed; deleted a hook file written after its removal", instance_id)
            except FileNotFoundError:
                pass
        self.hooks.retain(present)
        self.notifier.retain(present)
