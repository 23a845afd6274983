"""glibc malloc tuning for a process that moves large messages.

By default glibc gives freed memory at the top of the heap back to the kernel as soon
as more than 128 KiB is free, so every 100-KiB message allocates fresh pages and pays a
page fault per 4 KiB (on these VMs that made a 100-KiB splice 15x slower). Keeping a few
MiB is a fixed, configuration-independent cost, so memory stays bounded.
"""
import ctypes
import ctypes.util

from loguru import logger

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
TRIM_THRESHOLD = 4 * 1024 * 1024  # bytes of free heap top kept instead of returned
TOP_PAD = 1024 * 1024             # bytes the heap grows by beyond each request


def tune():
    """Apply the settings; a no-op (logged) where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) and libc.mallopt(M_TOP_PAD, TOP_PAD)
    except (OSError, AttributeError):
        ok = False
    if not ok:
        logger.debug("malloc tuning not applied (C library {} has no mallopt)", name)
