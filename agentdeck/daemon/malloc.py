"""glibc malloc tuning for a process that moves large messages, and trimming its heap.

By default glibc gives freed memory at the top of the heap back to the kernel as soon
as more than 128 KiB is free, so every 100-KiB message allocates fresh pages and pays a
page fault per 4 KiB (on these VMs that made a 100-KiB splice 15x slower). Between two
trims up to TRIM_THRESHOLD stays at the top instead, for the next messages.

Free memory below the top (holes between live objects, left by a burst of messages) is
never given back by free() itself. `trim_every` returns all free pages, holes and top,
every TRIM_INTERVAL: the resident size follows what is live rather than the largest
burst so far, to within what the last TRIM_INTERVAL freed. Any threshold on what lies
free would add its size to the resident size at rest, differently from one quiet
stretch to the next; a trim that finds little costs a full garbage collection and a walk
of the heap (a few milliseconds) and the next messages a page fault per 4 KiB they reuse.
"""
import ctypes
import ctypes.util
import functools
import gc
import time

import gevent
from loguru import logger

from agentdeck.daemon.rss import rss_bytes

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
TRIM_THRESHOLD = 4 * 1024 * 1024  # bytes of free heap top kept between two trims
TOP_PAD = 1024 * 1024             # bytes the heap grows by beyond each request
TRIM_INTERVAL = 10.0              # seconds between two trims


@functools.cache
def _glibc():
    """The C library if it is glibc (has mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune():
    """Apply the settings; a no-op (logged) where the C library is not glibc."""
    libc = _glibc()
    if libc is None or not (libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) and libc.mallopt(M_TOP_PAD, TOP_PAD)):
        logger.debug("malloc tuning not applied (the C library is not glibc)")


def trim():
    """Free the garbage in reference cycles, then return every free page of the heap to
    the kernel (where the C library is glibc). Returns the bytes of resident memory this
    gave back.

    Cycles that outlive the young generations (a dropped client's greenlet, frames and
    buffers; an exception and its traceback) wait for CPython's next full collection,
    which comes only once a quarter more objects have grown old: until then they hold
    their memory, and the pages around it, as if live."""
    before, started = rss_bytes(), time.perf_counter()
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
    freed = before - rss_bytes()
    if freed > 0:
        logger.debug("heap trimmed: {:.1f} MiB returned in {:.1f} ms", freed / 2**20,
                     (time.perf_counter() - started) * 1000)
    return freed


def trim_every(interval=TRIM_INTERVAL):
    """`trim` every ``interval`` seconds until killed (a background greenlet)."""
    while True:
        gevent.sleep(interval)
        trim()
