"""Watch one directory with inotify from a greenlet, without ever blocking the hub.

A `DirectoryWatch` owns one inotify file descriptor and one greenlet. The greenlet
waits for the descriptor with `gevent.socket.wait_read` (reading an inotify fd is
not cooperative, so it only reads what FIONREAD says is there) and calls its
handler with the names that changed:

- ``handler(names, rescan=False)``: these entries were written, renamed in or out,
  or deleted; the handler looks at each to see which;
- ``handler(names, rescan=True)``: ``names`` is the whole current listing, and an
  entry the handler knew that is not in it is gone. That happens when the watch is
  (re-)armed, after the kernel's event queue overflowed (``IN_Q_OVERFLOW``), and with
  an empty listing when the directory itself is deleted or moved away.

Bursts are coalesced: the first change after a quiet spell is delivered at once (a
lone hook write is seen within milliseconds), and the changes that arrive during
the next ``debounce`` seconds are delivered together when it ends, so a directory
gets at most one delivery per ``debounce`` however fast it is written.

When the directory is deleted or moved away, the watch waits for a directory of that
name to appear again (watching the parent for its creation, or polling while the
parent is missing too), then re-arms and rescans. A symlink in its place is not
followed; it counts as missing.
"""
import errno
import os
import time
from pathlib import Path

import gevent
from gevent.pool import Group
from gevent.socket import wait_read
from inotify_simple import INotify, flags
from loguru import logger

from agentdeck.errors import UserError

DEBOUNCE = 0.1  # seconds during which further changes after a delivery are coalesced
REARM_RETRY = 1.0  # seconds between attempts while neither the directory nor its parent exists

# Entries renamed in or out, written in place, deleted; and the directory's own end.
# Not IN_CREATE or IN_MODIFY: an atomic write (temp + rename) shows up as IN_MOVED_TO.
DIRECTORY_MASK = (flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.DELETE_SELF
                  | flags.MOVE_SELF | flags.ONLYDIR | flags.DONT_FOLLOW | flags.EXCL_UNLINK)
# On the parent while the directory is missing: an entry of that name appearing.
PARENT_MASK = flags.CREATE | flags.MOVED_TO | flags.ONLYDIR | flags.DONT_FOLLOW
DIRECTORY_GONE = flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED
MISSING_ERRNOS = (errno.ENOENT, errno.ENOTDIR)  # what add_watch says of a missing (or symlinked) path


class DirectoryWatch:
    """Calls ``handler(names, rescan)`` in its greenlet for the entries of ``path`` that
    ``accept(name)`` admits (see the module docstring).

    The handler runs in the watch greenlet: it must not block for long (file reads
    are fine) and must not call `stop`. An exception in it ends the watch and is
    logged by the greenlet's exception link.
    """

    def __init__(self, path, handler, accept=None, debounce=DEBOUNCE):
        self.path = Path(path)
        self.handler = handler
        self.accept = accept or (lambda name: True)
        self.debounce = debounce  # seconds; see the module docstring
        self.deliveries = 0  # handler calls so far
        self.rescans = 0  # of which full rescans
        self.overflows = 0  # kernel event queue overflows seen
        self.rearms = 0  # times the directory came back after going away
        self._inotify = None  # the INotify while running
        self._greenlet = None  # the watch greenlet while running
        self._last_delivery = float("-inf")  # monotonic time of the last handler call

    def start(self, group=None):
        """Spawn the watch greenlet into ``group`` (a `gevent.pool.Group`; a private one if
        None). The first delivery is the initial rescan, as soon as the directory exists.
        A UserError when no inotify instance is left."""
        if self._greenlet is not None:
            return
        try:
            self._inotify = INotify(nonblocking=True)
        except OSError as exc:  # EMFILE: out of file descriptors or of inotify instances
            raise UserError(f"cannot watch {self.path}: {exc.strerror} (the open-file limit, or the "
                            "sysctl fs.inotify.max_user_instances, is reached)") from None
        self._greenlet = (group if group is not None else Group()).spawn(self._run)
        self._greenlet.link_exception(self._crashed)

    def stop(self):
        """End the greenlet and close the inotify descriptor (idempotent). No handler call
        happens after it returns."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=True)
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("watch {}: the watch greenlet crashed; changes there are "
                                                       "no longer seen", self.path)

    # -- in the watch greenlet

    def _run(self):
        armed_before = False
        while True:
            wd = self._arm()
            if armed_before:
                self.rearms += 1
                logger.info("watch {}: directory is back, watching again (re-armed {} times)", self.path,
                            self.rearms)
            armed_before = True
            self._rescan()
            self._follow(wd)
            logger.warning("watch {}: directory went away; waiting for it to be created again", self.path)
            self._deliver(set(), rescan=True)

    def _read(self):
        """The events queued on the descriptor now (never waits)."""
        return self._inotify.read(timeout=0)

    def _wait(self):
        """Wait (cooperatively) until the descriptor is readable, then read its events."""
        wait_read(self._inotify.fileno())
        return self._read()

    def _arm(self):
        """Watch the directory, waiting as long as it takes for it to exist; returns the wd."""
        while True:
            wd = self._add_watch(self.path, DIRECTORY_MASK)
            if wd is not None:
                return wd
            parent_wd = self._add_watch(self.path.parent, PARENT_MASK)
            if parent_wd is None:
                gevent.sleep(REARM_RETRY)
                continue
            try:
                # It may have appeared between the failed watch above and the parent's.
                wd = self._add_watch(self.path, DIRECTORY_MASK)
                if wd is not None:
                    return wd
                self._await_entry(parent_wd, self.path.name)
            finally:
                self._unwatch(parent_wd)

    def _add_watch(self, path, mask):
        """The wd of a new watch on directory ``path``; None when it is missing or not a
        real directory (a symlink is not followed)."""
        try:
            return self._inotify.add_watch(path, mask)
        except OSError as exc:
            if exc.errno in MISSING_ERRNOS:
                return None
            raise

    def _await_entry(self, parent_wd, name):
        """Return once the parent reports an entry called ``name``, or the parent itself
        went away (the caller then tries again from the start)."""
        while True:
            for event in self._wait():
                if event.wd != parent_wd:
                    continue  # left over from an earlier watch of the directory
                if event.mask & flags.IGNORED or event.name == name or event.mask & flags.Q_OVERFLOW:
                    return

    def _unwatch(self, wd):
        try:
            self._inotify.rm_watch(wd)
        except OSError as exc:  # EINVAL: the kernel dropped it already (its directory is gone)
            if exc.errno != errno.EINVAL:
                raise

    def _follow(self, wd):
        """Deliver the directory's changes until it goes away."""
        while True:
            names, rescan, gone = self._collect(self._wait(), wd)
            if not (names or rescan or gone):
                continue
            delay = self._last_delivery + self.debounce - time.monotonic()
            if delay > 0 and not gone:
                gevent.sleep(delay)
                more, rescan_more, gone = self._collect(self._read(), wd)
                names |= more
                rescan = rescan or rescan_more
            if gone:
                self._unwatch(wd)
                return
            if rescan:
                self.overflows += 1
                logger.warning("watch {}: the kernel's event queue overflowed ({} times); rescanning",
                               self.path, self.overflows)
                self._rescan()
            else:
                self._deliver(names, rescan=False)

    def _collect(self, events, wd):
        """(names accepted, overflowed, directory gone) from a batch of events."""
        names, overflow, gone = set(), False, False
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                overflow = True
            elif event.wd != wd:
                continue  # from the parent watch or an earlier arming
            elif event.mask & DIRECTORY_GONE:
                gone = True
            elif self.accept(event.name):
                names.add(event.name)
        return names, overflow, gone

    def _rescan(self):
        try:
            listing = {name for name in os.listdir(self.path) if self.accept(name)}
        except OSError as exc:
            # Gone again already: the watch reports that next; deliver what we know (nothing).
            logger.debug("watch {}: cannot list ({})", self.path, exc.strerror)
            listing = set()
        self._deliver(listing, rescan=True)

    def _deliver(self, names, rescan):
        self.deliveries += 1
        self.rescans += rescan
        self._last_delivery = time.monotonic()
        self.handler(names, rescan)
