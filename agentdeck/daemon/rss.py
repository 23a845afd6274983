"""The daemon's resident memory: now, and a bounded history for the status page's sparkline."""
import collections
import os
import time

import gevent

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_INTERVAL = 10.0   # seconds between two samples
HISTORY_SAMPLES = 360    # samples kept: one hour at SAMPLE_INTERVAL


def rss_bytes():
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


class RssHistory:
    """(unix time, rss bytes) samples, oldest first, at most ``size`` of them."""

    def __init__(self, size=HISTORY_SAMPLES, interval=SAMPLE_INTERVAL):
        self.interval = interval  # seconds between samples taken by `run`
        self._samples = collections.deque(maxlen=size)

    def sample(self):
        self._samples.append((time.time(), rss_bytes()))

    def samples(self):
        """The samples kept, plus one taken now, so the chart always ends at the present."""
        return [*self._samples, (time.time(), rss_bytes())]

    def run(self):
        """Sample every ``interval`` seconds until killed (a background greenlet)."""
        while True:
            self.sample()
            gevent.sleep(self.interval)
