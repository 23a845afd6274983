"""The bridge's event loop: one thread, a `selectors.PollSelector`, timers, and signals
turned into events.

`poll()` rather than the default epoll: it accepts any descriptor an agent may hand us
(a regular file or /dev/null as stdin is always ready instead of refused with EPERM),
and changing what a descriptor is watched for is a dict update, not a system call, which
matters when interest changes on nearly every event.
"""
import heapq
import itertools
import os
import selectors
import signal
import time

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class Timer:
    """A callback due at a monotonic time; `cancel()` makes it a no-op."""

    __slots__ = ("when", "callback")

    def __init__(self, when, callback):
        self.when = when          # time.monotonic() at which it fires
        self.callback = callback  # called with no arguments; None once cancelled or fired

    def cancel(self):
        self.callback = None


class Loop:
    """Calls handlers for ready descriptors and due timers, one at a time. Handlers must
    not block: every descriptor the bridge watches is non-blocking.

    `watch` declares what a descriptor is waited for (the full set, each time); the loop
    keeps the selector in step. `close()` unregisters everything and restores the signal
    dispositions `catch_signals` changed."""

    def __init__(self):
        self.selector = selectors.PollSelector()
        self.timers = []               # heap of (when, seq, Timer); cancelled ones are skipped when due
        self.seq = itertools.count()   # orders timers due at the same time
        self.watched = {}              # fd -> (events, handler) currently registered
        self.saved_signals = {}        # signum -> the disposition before catch_signals
        self.wakeup = None             # (read fd, write fd) of the signal wakeup pipe
        self.saved_wakeup = -1         # the wakeup fd before catch_signals

    def watch(self, fd, events, handler):
        """Call ``handler(ready_events)`` while ``fd`` is ready for any of ``events``
        (READ | WRITE); 0 stops watching it."""
        current = self.watched.get(fd)
        if current is None:
            if events:
                self.selector.register(fd, events, handler)
                self.watched[fd] = (events, handler)
        elif not events:
            self.selector.unregister(fd)
            del self.watched[fd]
        elif current != (events, handler):
            self.selector.modify(fd, events, handler)
            self.watched[fd] = (events, handler)

    def call_later(self, delay, callback):
        """A `Timer` calling ``callback()`` after ``delay`` seconds."""
        timer = Timer(time.monotonic() + delay, callback)
        heapq.heappush(self.timers, (timer.when, next(self.seq), timer))
        return timer

    def catch_signals(self, signums, handler):
        """Deliver each of ``signums`` to ``handler(signum)`` from the loop, like any other
        event (a Python signal handler only records it, through the wakeup pipe)."""
        self.wakeup = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.saved_wakeup = signal.set_wakeup_fd(self.wakeup[1])
        for signum in signums:
            # The C-level handler writes the signal number to the wakeup pipe; nothing is
            # left to do at Python level, where this handler would interrupt the loop.
            self.saved_signals[signum] = signal.signal(signum, _recorded)

        def deliver(_events):
            for signum in os.read(self.wakeup[0], 64):
                if signum in self.saved_signals:
                    handler(signum)
        self.watch(self.wakeup[0], READ, deliver)

    def run_once(self):
        """Wait for the next event or due timer (forever when there are neither) and
        handle everything that is ready."""
        timeout = None
        while self.timers:
            when, _, timer = self.timers[0]
            if timer.callback is None:
                heapq.heappop(self.timers)
                continue
            timeout = max(0.0, when - time.monotonic())
            break
        for key, events in self.selector.select(timeout):
            watched = self.watched.get(key.fd)
            if watched is not None and watched[1] == key.data:  # not unwatched by an earlier handler
                key.data(events & watched[0])
        now = time.monotonic() if self.timers else 0.0
        while self.timers and self.timers[0][0] <= now:
            timer = heapq.heappop(self.timers)[2]
            callback, timer.callback = timer.callback, None
            if callback is not None:
                callback()

    def close(self):
        for fd in list(self.watched):
            self.watch(fd, 0, None)
        self.selector.close()
        for signum, disposition in self.saved_signals.items():
            signal.signal(signum, disposition)
        if self.wakeup is not None:
            signal.set_wakeup_fd(self.saved_wakeup)
            for fd in self.wakeup:
                os.close(fd)
        self.saved_signals.clear()
        self.wakeup = None


def _recorded(_signum, _frame):
    """The Python-level signal handler: the wakeup pipe already carries the signal."""
