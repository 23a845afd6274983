"""Log sinks that never take the daemon down and never block its hub.

loguru's own file sink reports a failed write (disk full, I/O error) by printing a
traceback to stderr for every line, and a plain write to stderr blocks the whole
process (every greenlet, signal handling included) once stderr is a pipe nobody reads
or a terminal paused with Ctrl-S. Logs matter less than serving: a sink that cannot
take a line *now* drops it and counts it (``agentdeck_log_lines_lost_total``); a note
saying how many were lost follows on stderr at most once per REPORT_INTERVAL.

- `RotatingFile`: a size-rotated file; a failed write is reported on `Stderr`.
- `Stderr`: the process's stderr, written without ever blocking (see its docstring),
  and `StderrText`, the daemon's ``sys.stderr`` on top of it.
"""
import io
import os
import socket
import stat
import time

from gevent.monkey import get_original

from agentdeck.fsutil import PRIVATE_FILE_MODE

REPORT_INTERVAL = 60.0  # seconds between two notes about lost lines on stderr
OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
STDERR_FD = 2
# A new open file description of fd 2's pipe or terminal, ours alone to make non-blocking.
# O_NOCTTY: a daemon without a controlling terminal must not acquire this one.
REOPEN_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
REOPEN_PATH = "/proc/self/fd/{}"
MAX_PENDING_BYTES = 64 * 1024  # the unwritten tail of one partly written line kept for the next write
CUT_MARK = b" [cut]\n"  # ends a tail longer than MAX_PENDING_BYTES, so the next line starts on its own


class LostLines:
    """Lines every sink failed to write since start; only ever grows (a counter)."""

    def __init__(self):
        self.count = 0


def _nonblocking_send(fd):
    """``send(view)``: writes a memoryview to what ``fd`` is open on and returns the bytes
    written, raising BlockingIOError instead of waiting. Raises OSError when ``fd``
    cannot be written without blocking.

    A pipe, FIFO or terminal is reopened through /proc with O_NONBLOCK: setting the flag
    on ``fd`` itself would change the open file description shared with the parent (the
    shell, the terminal), whose own writes would then fail. A socket gets MSG_DONTWAIT
    per send. A regular file (or anything else) is written plainly: it does not wait for
    a reader, and reopening it would lose the parent's offset or O_APPEND.
    """
    mode = os.fstat(fd).st_mode
    if stat.S_ISSOCK(mode):
        # Not gevent's socket: its send waits (in the hub) for room instead of failing.
        sock = get_original("socket", "socket")(fileno=os.dup(fd))
        return lambda view: sock.send(view, socket.MSG_DONTWAIT)
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        own = os.open(REOPEN_PATH.format(fd), REOPEN_FLAGS)
        return lambda view: os.write(own, view)
    return lambda view: os.write(fd, view)


class Stderr:
    """The process's stderr (fd 2), written without ever blocking.

    A line stderr cannot take now is dropped and counted in ``lost``; once it takes
    lines again, a note saying how many were dropped comes first (at most one note per
    REPORT_INTERVAL; the count carries over to the next). When only part of a line
    fits, its tail (at most MAX_PENDING_BYTES, else cut) is kept and written before
    anything else, so lines reach the reader whole and in order, never interleaved.
    A tail is only retried by the next write.

    If fd 2 cannot be reopened (a terminal or pipe owned by another user, as after
    ``sudo -u`` or supervisord's ``user=``; no /proc), nothing is written to it: `problem` says why, for the log
    file, which has every line.
    """

    def __init__(self, lost, fd=STDERR_FD):
        self.lost = lost  # a LostLines shared by every sink
        self.problem = ""  # why stderr is not written at all; "" when it is
        try:
            self._send = _nonblocking_send(fd)  # None: stderr is not written at all
        except OSError as exc:
            self._send = None
            self.problem = (f"stderr cannot be written without blocking ({exc.strerror or exc}); "
                            "the daemon logs to its log file only")
        self._pending = b""  # the unwritten tail of the last line: goes out before anything else
        self._dropped = 0  # lines dropped since the last note
        self._last_note = float("-inf")  # monotonic time of the last note

    def write(self, message):
        """loguru's sink call: write one line (str) now, or drop and count it. Never raises OSError."""
        if self._send is None:
            return
        if not self._drain():
            self._drop()
            return
        if self._dropped and time.monotonic() - self._last_note >= REPORT_INTERVAL:
            note = f"agentdeck: {self._dropped} log lines dropped: stderr could not take them (is anyone reading it?)\n"
            if not self._put(note.encode()):
                self._drop()
                return
            self._dropped = 0
            self._last_note = time.monotonic()
        if not self._put(message.encode("utf-8", "backslashreplace")):
            self._drop()

    def report(self, text):
        """Write a note about another sink (one line), if stderr takes it now; else nothing."""
        if self._send is not None and self._drain():
            self._put(text.encode("utf-8", "backslashreplace"))

    def _drop(self):
        self.lost.count += 1
        self._dropped += 1

    def _drain(self):
        """Write what is left of a partly written line; True when nothing is left."""
        if self._pending:
            pending, self._pending = self._pending, b""
            if not self._put(pending):  # none of it went out: it still waits, whole
                self._pending = pending
        return not self._pending

    def _put(self, data):
        """Write ``data`` now; True when it is written or its tail is kept pending, False
        when none of it could be written (it is not kept)."""
        view = memoryview(data)
        try:
            while view:
                view = view[self._send(view):]
        except BlockingIOError:
            if len(view) == len(data):
                return False
        except OSError:  # EPIPE (the reader left), EIO (the terminal hung up): nothing of it arrives
            return False
        if view:
            tail = bytes(view)
            self._pending = tail if len(tail) <= MAX_PENDING_BYTES else tail[:MAX_PENDING_BYTES] + CUT_MARK
        return True


class StderrText(io.TextIOBase):
    """A text stream for ``sys.stderr`` that writes through a `Stderr`, a whole line at a
    time: what else prints there (gevent's hub reporting a crashed greenlet, warnings)
    must not block the hub either. Text without a newline waits for the rest of its line
    (at most MAX_PENDING_BYTES characters of it), even across `flush`: half a line
    written early would interleave with the log's next line."""

    def __init__(self, stderr):
        super().__init__()
        self.stderr = stderr
        self._partial = ""  # the start of a line not ended yet

    def writable(self):
        return True

    def write(self, text):
        self._partial += text
        if "\n" in self._partial:
            lines, _, self._partial = self._partial.rpartition("\n")
            self.stderr.write(lines + "\n")
        elif len(self._partial) > MAX_PENDING_BYTES:
            partial, self._partial = self._partial, ""
            self.stderr.write(partial + "\n")
        return len(text)

    def fileno(self):
        return STDERR_FD


class RotatingFile:
    """Appends to ``path`` (created 0600 on first write); once a write would take it past
    ``max_bytes`` the file becomes ``path.1``, ``path.1`` becomes ``path.2`` and so on,
    and ``path.<backups>`` is deleted: at most ``(backups + 1) * max_bytes`` on disk
    (plus one line). One ``os.write`` per line, so lines never interleave.

    A line that cannot be written (disk full, I/O error) is dropped and counted in
    ``lost``; ``stderr`` (a `Stderr`) says so at most once per REPORT_INTERVAL. The next
    line tries again (reopening the file after a failed open or rotation)."""

    def __init__(self, path, max_bytes, backups, lost, stderr):
        self.path = str(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.lost = lost  # a LostLines shared by every sink
        self.stderr = stderr  # where a failure is reported
        self._fd = None  # open while the sink is in use; opened again after a failure
        self._size = 0  # bytes in the current file
        self._last_report = float("-inf")  # monotonic time of the last report

    def write(self, message):
        """loguru's sink call: append one line (str). Never raises OSError."""
        try:
            self._write(message.encode("utf-8", "backslashreplace"))
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc):
        self.lost.count += 1
        now = time.monotonic()
        if now - self._last_report >= REPORT_INTERVAL:
            self._last_report = now
            self.stderr.report(f"agentdeck: cannot write {self.path}: {exc.strerror or exc}; {self.lost.count} "
                               "log lines lost so far; the daemon keeps serving\n")

    def _write(self, data):
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
