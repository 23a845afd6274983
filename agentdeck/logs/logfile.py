"""Log sinks that never take the daemon down: a size-rotated file and a guarded stream.

loguru's own file sink reports a failed write (disk full, I/O error) by printing a
traceback to stderr for every line. Logs matter less than serving: these sinks drop
the line, count it (``agentdeck_log_lines_lost_total``) and say so on stderr once per
REPORT_INTERVAL, then try again with the next line.
"""
import os
import sys
import time

from agentdeck.fsutil import PRIVATE_FILE_MODE

REPORT_INTERVAL = 60.0  # seconds between two "cannot write the log" lines on stderr
OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class LostLines:
    """Lines every sink failed to write since start; only ever grows (a counter)."""

    def __init__(self):
        self.count = 0


class GuardedSink:
    """Base of the sinks: `write` never raises OSError; subclasses implement `_write`."""

    def __init__(self, name, lost):
        self.name = name  # what the sink writes to, for the report
        self.lost = lost  # a LostLines shared by every sink
        self._last_report = float("-inf")  # monotonic time of the last report

    def write(self, message):
        try:
            self._write(message)
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc):
        self.lost.count += 1
        now = time.monotonic()
        if now - self._last_report < REPORT_INTERVAL:
            return
        self._last_report = now
        report = (f"agentdeck: cannot write {self.name}: {exc.strerror or exc}; {self.lost.count} log lines "
                  "lost so far; the daemon keeps serving\n")
        try:
            os.write(sys.__stderr__.fileno(), report.encode())
        except (OSError, ValueError, AttributeError):  # no stderr left either: the count is all there is
            return


class GuardedStream(GuardedSink):
    """A text stream such as stderr, written without buffering."""

    def __init__(self, stream, lost):
        super().__init__(getattr(stream, "name", "the log stream"), lost)
        self.stream = stream

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


class RotatingFile(GuardedSink):
    """Appends to ``path`` (created 0600 on first write); once a write would take it past
    ``max_bytes`` the file becomes ``path.1``, ``path.1`` becomes ``path.2`` and so on,
    and ``path.<backups>`` is deleted: at most ``(backups + 1) * max_bytes`` on disk
    (plus one line). One ``os.write`` per line, so lines never interleave."""

    def __init__(self, path, max_bytes, backups, lost):
        super().__init__(str(path), lost)
        self.path = str(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd = None  # open while the sink is in use; opened again after a failure
        self._size = 0  # bytes in the current file

    def _write(self, text):
        data = text.encode("utf-8", "backslashreplace")
        if self._fd is None:
            self._open()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]

    def _open(self):
        self._fd = os.open(self.path, OPEN_FLAGS, PRIVATE_FILE_MODE)
        self._size = os.fstat(self._fd).st_size

    def _rotate(self):
        self.stop()
        for number in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{number}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{number + 1}")
        if self.backups:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._open()

    def stop(self):
        """Close the file (loguru calls this when the sink is removed)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
