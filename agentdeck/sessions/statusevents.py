"""StatusEventWatcher: transition events as they are written, on a bounded queue.

The transition daemon writes ``events/<id>.json`` on each transition (see
`sessions.events`). The watcher reads each version of a file once, through
inotify, and puts its `TransitionEvent` on a bounded `gevent.queue.Queue`:

- the events already there when `start` is called are not delivered, only later ones;
- each version of a file (told apart by `TransitionEvent.key`) is delivered at most
  once, even when a rescan reads it again;
- writes closer together than the watch's debounce may be coalesced: the latest
  version of a file is always delivered, an intermediate one may not be;
- a full queue never blocks the watcher: the event is dropped and counted in ``dropped``;
- `stop` puts `StopIteration` on the queue, so ``for event in watcher:`` ends and
  every greenlet blocked on the watcher wakes (the marker is put back for the next).
"""
import time

from gevent.queue import Empty, Full, Queue
from loguru import logger

from agentdeck.sessions.events import read_event
from agentdeck.watchers.dirwatch import DirectoryWatch
from agentdeck.sessions.statusfiles import instance_of

DEFAULT_QUEUE_EVENTS = 1024  # events held for a slow consumer before new ones are dropped
DROP_LOG_INTERVAL = 10.0  # seconds between two log lines about dropped events


class StatusEventWatcher:
    """Transition events from ``events_dir``, of the instances in ``instances`` only
    (an iterable of ids; None for all), on a queue of at most ``maxsize`` events."""

    def __init__(self, events_dir, instances=None, maxsize=DEFAULT_QUEUE_EVENTS):
        self.maxsize = maxsize
        self.instances = frozenset(instances) if instances is not None else None
        self.dropped = 0  # events dropped because the queue was full
        self.delivered = 0  # events put on the queue
        self._queue = Queue(maxsize)
        self._seen = {}  # instance id -> key of the version of its event file last read
        self._last_drop_log = float("-inf")  # monotonic time of the last drop warning
        self._watch = DirectoryWatch(events_dir, self._changed, accept=self._accept)

    def start(self, group=None):
        """Note the events already there, then watch for new ones (see `DirectoryWatch.start`)."""
        try:
            names = [entry.name for entry in self._watch.path.iterdir() if self._accept(entry.name)]
        except OSError:  # no events directory yet: nothing to skip
            names = []
        for event in self._read(names):
            self._seen[event.instance] = event.key
        self._watch.start(group)

    def stop(self):
        """Stop watching, forget what was read and end every iteration (idempotent)."""
        self._watch.stop()
        self._seen.clear()
        self._put_stop()

    def __iter__(self):
        return self

    def __next__(self):
        event = self._queue.get()
        if event is StopIteration:
            self._put_stop()
            raise StopIteration
        return event

    def get(self, timeout=None):
        """The next event; None after ``timeout`` seconds without one, or once stopped."""
        try:
            event = self._queue.get(timeout=timeout)
        except Empty:
            return None
        if event is StopIteration:
            self._put_stop()
            return None
        return event

    def wait_for_status(self, statuses, timeout=None):
        """The next event whose ``to`` is in ``statuses``; None if none comes within
        ``timeout`` seconds (None: no limit) or the watcher stops first."""
        statuses = frozenset(statuses)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            event = self.get(remaining)
            if event is None or event.to_status in statuses:
                return event

    def qsize(self):
        return self._queue.qsize()

    def seen_instances(self):
        """Ids whose event file version is remembered (bounded by the files there are)."""
        return set(self._seen)

    @property
    def watch(self):
        """The underlying DirectoryWatch (its counters are for metrics and tests)."""
        return self._watch

    def _accept(self, name):
        instance_id = instance_of(name)
        return instance_id is not None and (self.instances is None or instance_id in self.instances)

    def _put_stop(self):
        """Put the end marker, making room for it if a slow consumer filled the queue."""
        while True:
            try:
                self._queue.put_nowait(StopIteration)
                return
            except Full:
                self._queue.get_nowait()

    def _read(self, names):
        """The valid events in the files ``names``, oldest first; a file whose content names
        another instance than its file name is not trusted."""
        events = []
        for name in names:
            event = read_event(self._watch.path / name)
            if event is not None and event.instance == instance_of(name):
                events.append(event)
        return sorted(events, key=lambda e: e.time)

    def _changed(self, names, rescan):
        if rescan:
            ids = {instance_of(name) for name in names}
            for instance_id in [i for i in self._seen if i not in ids]:
                del self._seen[instance_id]
        events = self._read(names)
        readable = {event.instance for event in events}
        for name in names:
            if instance_of(name) not in readable:
                self._seen.pop(instance_of(name), None)  # deleted, or no longer a valid event
        for event in events:
            if self._seen.get(event.instance) != event.key:
                self._seen[event.instance] = event.key
                self._offer(event)

    def _offer(self, event):
        try:
            self._queue.put_nowait(event)
        except Full:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log >= DROP_LOG_INTERVAL:
                self._last_drop_log = now
                logger.warning("events {}: consumer queue full ({} events); dropped {} so far (latest: {} {}->{})",
                               self._watch.path, self.maxsize, self.dropped, event.instance, event.from_status,
                               event.to_status)
            return
        self.delivered += 1
