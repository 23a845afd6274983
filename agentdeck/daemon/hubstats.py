"""Counts of the daemon's own greenlets, for /status (the soak checks that they return
to their baseline after each wave of clients)."""
import gc

from greenlet import greenlet


def greenlet_count():
    """Greenlets of this process that have started and not finished (the hub and the main
    greenlet included). Walks the GC's objects: a few ms, fine once a second; do not call
    it per request."""
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet) and bool(o))
