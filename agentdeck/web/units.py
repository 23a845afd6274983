"""Numbers as a person reads them, shared by the HTML page and `agentdeck status`."""

KIB = 1024
SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
MINUTE = 60  # seconds
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def size(nbytes):
    """``1536`` -> ``"1.5 KiB"``; whole bytes below 1 KiB."""
    if nbytes < KIB:
        return f"{int(nbytes)} B"
    value = nbytes / KIB
    for unit in SIZE_UNITS[1:-1]:
        if value < KIB:
            return f"{value:.1f} {unit}"
        value /= KIB
    return f"{value:.1f} {SIZE_UNITS[-1]}"


def duration(seconds):
    """A compact age: ``"42s"``, ``"7m05s"``, ``"3h12m"``, ``"2d04h"``; ``"-"`` when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    if seconds < MINUTE:
        return f"{seconds}s"
    if seconds < HOUR:
        return f"{seconds // MINUTE}m{seconds % MINUTE:02d}s"
    if seconds < DAY:
        return f"{seconds // HOUR}h{seconds % HOUR // MINUTE:02d}m"
    return f"{seconds // DAY}d{seconds % DAY // HOUR:02d}h"


def age(since, now):
    """How long ago Unix time ``since`` was, as `duration`; ``"-"`` when ``since`` is unset."""
    return duration(now - since) if since else "-"
