"""glibc malloc tuning for a process that moves large messages, and trimming its heap.

By default glibc gives freed memory at the top of the heap back to the kernel as soon
as more than 128 KiB is free, so every 100-KiB message allocates fresh pages and pays a
page fault per 4 KiB (on these VMs that made a 100-KiB splice 15x slower). Keeping a few
MiB is a fixed, configuration-independent cost, so memory stays bounded.

Free memory below the top (holes between live objects, left by a burst of messages) is
never given back by free() itself: `trim_every` returns it every few seconds, so the
resident size follows what is live rather than the largest burst so far.
"""
import ctypes
import ctypes.util
import functools
import time

import gevent
from loguru import logger

from agentdeck.daemon.rss import rss_bytes

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
TRIM_THRESHOLD = 4 * 1024 * 1024  # bytes of free heap top kept instead of returned
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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def free_below_top():
    """Bytes of free heap between live objects (all arenas; the releasable top not counted)."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return 0
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return info.fordblks - info.keepcost


def trim():
    """Return the heap's free pages to the kernel, keeping TRIM_THRESHOLD at the top, once
    more than TRIM_THRESHOLD lies free between live objects (less is kept, like the top,
    for the next messages to reuse without page faults). Returns the bytes of resident
    memory this gave back (0 where it did not or cannot trim)."""
    libc = _glibc()
    if libc is None or free_below_top() <= TRIM_THRESHOLD:
        return 0
    before, started = rss_bytes(), time.perf_counter()
    libc.malloc_trim(TRIM_THRESHOLD)
    freed = before - rss_bytes()
    logger.debug("heap trimmed: {:.1f} MiB returned in {:.1f} ms", freed / 2**20,
                 (time.perf_counter() - started) * 1000)
    return freed


def trim_every(interval=TRIM_INTERVAL):
    """`trim` every ``interval`` seconds until killed (a background greenlet)."""
    while True:
        gevent.sleep(interval)
        trim()
