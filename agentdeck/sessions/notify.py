"""The ``[notify] command``: tell a person that a session waits for them or died.

A `Notifier` reads transition events from its own `StatusEventWatcher` on
``events/`` (the same path `agentdeck wait` uses) and, for a transition into
waiting or dead, runs the command through ``/bin/sh -c`` with the event as JSON on
stdin and as ``AGENTDECK_EVENT_*`` environment variables. Contracts:

- off the main loop: commands run one at a time in the notifier's greenlet, fed by a
  bounded queue (a full queue drops events and counts them, see the watcher);
- at most once per transition: the watcher delivers each event file version once;
- rate-limited: at most one notification per session every ``min_interval`` seconds
  (later ones inside the interval are skipped and counted);
- bounded in time: a command still running after ``timeout`` seconds is killed with
  its whole process group; its output is discarded, its exit status logged.
"""
import json
import os
import signal
import subprocess
import time

import gevent
from loguru import logger

from agentdeck.sessions.states import DEAD, WAITING
from agentdeck.sessions.statusevents import StatusEventWatcher

NOTIFY_STATUSES = frozenset({WAITING, DEAD})  # transitions into these are worth a person's attention
NOTIFY_QUEUE_EVENTS = 256  # events waiting for the command before new ones are dropped
SHELL = "/bin/sh"
ENV_PREFIX = "AGENTDECK_EVENT_"


def event_environment(event):
    """The ``AGENTDECK_EVENT_*`` variables describing ``event``."""
    return {ENV_PREFIX + key.upper(): str(value) for key, value in event.to_dict().items()}


def _start(command, event):
    """The command started in its own session, or the OSError that stopped it."""
    try:
        return subprocess.Popen([SHELL, "-c", command], stdin=subprocess.PIPE, bufsize=0,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, **event_environment(event)}, start_new_session=True)
    except OSError as exc:
        return exc


def _feed(proc, data):
    """Write ``data`` to the command's stdin and close it. An event is far smaller than a
    pipe's buffer, so this never waits for the command (and `communicate` is not used:
    gevent's applies its timeout to the pipes only, not to the wait for the exit)."""
    try:
        proc.stdin.write(data)
    except BrokenPipeError:  # it exited, or closed stdin, without reading: its exit status tells
        logger.debug("notify: the command did not read its stdin (pid {})", proc.pid)
    finally:
        proc.stdin.close()


def _kill_group(proc):
    """SIGKILL the command's process group (it started its own session) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it exited between the poll and the kill
        pass
    proc.wait()


class Notifier:
    """Runs ``settings.command`` (a `config.NotifySettings`) for the events in ``events_dir``.

    `start` spawns the watcher and the notifier loop into a group; `stop` ends both and
    forgets every session. ``settings`` may be replaced at any time (config reload).
    """

    def __init__(self, events_dir, settings):
        self.settings = settings
        self.watcher = StatusEventWatcher(events_dir, maxsize=NOTIFY_QUEUE_EVENTS)
        self.sent = 0  # commands run that exited 0
        self.failed = 0  # commands that could not start, exited non-zero or timed out
        self.limited = 0  # notifications skipped by the per-session rate limit
        self._last_sent = {}  # instance id -> monotonic time of its last notification

    def start(self, group):
        self.watcher.start(group)
        group.spawn(self._run).link_exception(self._crashed)

    def stop(self):
        """End the watcher (which ends the loop) and forget every session (idempotent)."""
        self.watcher.stop()
        self._last_sent.clear()

    def forget(self, instance_id):
        """Drop what is kept for ``instance_id`` (its instance was removed)."""
        self._last_sent.pop(instance_id, None)

    def retain(self, instance_ids):
        """Drop what is kept for every id not in ``instance_ids``."""
        for instance_id in [i for i in self._last_sent if i not in instance_ids]:
            del self._last_sent[instance_id]

    def tracked(self):
        """Ids with a rate-limit entry (for tests: removed instances leave none)."""
        return set(self._last_sent)

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("notify: the notifier greenlet crashed; "
                                                       "no more notifications")

    def _run(self):
        for event in self.watcher:
            self.handle(event)

    def handle(self, event):
        """Notify about ``event`` if it is a transition into waiting or dead, the command
        is set and the session was not notified within ``min_interval``."""
        settings = self.settings
        if not settings.command or event.to_status not in NOTIFY_STATUSES:
            return
        now = time.monotonic()
        last = self._last_sent.get(event.instance)
        if last is not None and now - last < settings.min_interval:
            self.limited += 1
            logger.debug("notify: session {} {}->{} skipped, last notification {:.1f} s ago (min_interval {:g} s)",
                         event.instance, event.from_status, event.to_status, now - last, settings.min_interval)
            return
        self._last_sent[event.instance] = now
        self._execute(settings, event)

    def _execute(self, settings, event):
        started = time.monotonic()
        # Popen waits (cooperatively) to hear the shell exec'd: a kill landing there would
        # leave a running shell that nobody holds, so Popen runs in a greenlet of its own
        # and a kill waits for it, then kills what it started.
        starting = gevent.spawn(_start, settings.command, event)
        try:
            proc = starting.get()
        except BaseException:
            proc = starting.get()
            if not isinstance(proc, OSError):
                _kill_group(proc)
            raise
        if isinstance(proc, OSError):
            self.failed += 1
            logger.error("notify: session {}: cannot run the notify command: {}", event.instance, proc)
            return
        try:
            _feed(proc, json.dumps(event.to_dict()).encode())
            proc.wait(timeout=settings.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if proc.poll() is None:  # timed out, or this greenlet was killed: never leave the command behind
                _kill_group(proc)
        elapsed = time.monotonic() - started
        if timed_out:
            self.failed += 1
            logger.warning("notify: session {} {}->{}: command killed after {:g} s (timeout)", event.instance,
                           event.from_status, event.to_status, settings.timeout)
        elif proc.returncode != 0:
            self.failed += 1
            logger.warning("notify: session {} {}->{}: command exited {} after {:.2f} s", event.instance,
                           event.from_status, event.to_status, proc.returncode, elapsed)
        else:
            self.sent += 1
            logger.info("notify: session {} {}->{} notified in {:.2f} s", event.instance, event.from_status,
                        event.to_status, elapsed)
