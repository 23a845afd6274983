"""The agent's descriptors: switched to non-blocking mode for the bridge's life (and
restored), stdout written through a bounded backlog, notes on stderr. Nothing here
ever blocks."""
import collections
import contextlib
import itertools
import os

STDOUT_BYTES = 4 * 1048576  # stdout backlog at which the bridge stops reading the socket and stdin
WRITEV_CHUNKS = 64          # backlog chunks handed to one writev()
PIPE_BUF = 4096             # a pipe write up to this size is atomic: a note is whole or not at all


@contextlib.contextmanager
def nonblocking(*fds):
    """Switch ``fds`` to non-blocking mode for the block, then restore each one's mode: a
    terminal shares its mode with the shell that started us, which would break if it were
    left non-blocking. A descriptor that is not open is left alone.

    Every mode is read before any is changed: stdin, stdout and stderr are often one
    terminal, whose mode is one, and the second reading would see the first change."""
    saved = []
    for fd in fds:
        try:
            saved.append((fd, os.get_blocking(fd)))
        except OSError:
            continue
    for fd, _ in saved:
        os.set_blocking(fd, False)
    try:
        yield
    finally:
        for fd, blocking in saved:
            with contextlib.suppress(OSError):  # the agent may have closed it meanwhile
                os.set_blocking(fd, blocking)


class Output:
    """Bytes for the agent's stdout, in order: written at once as far as the pipe takes
    them, the rest kept for `flush()` when it is writable again.

    The backlog is bounded by its user, not here: while `full`, the bridge reads neither
    the socket nor stdin, so the backlog can exceed `STDOUT_BYTES` only by what one
    socket read completes (one line of at most the response limit) plus the answers the
    bridge writes itself for requests already open."""

    __slots__ = ("fd", "chunks", "size", "broken")

    def __init__(self, fd):
        self.fd = fd
        self.chunks = collections.deque()  # bytes (or memoryviews of them) not yet written
        self.size = 0                      # their total length
        self.broken = False                # the agent closed its end: nothing is written any more

    @property
    def full(self):
        return self.size >= STDOUT_BYTES

    @property
    def waiting(self):
        """Bytes wait for stdout to become writable."""
        return bool(self.chunks)

    def write(self, data):
        if self.broken or not data:
            return
        if not self.chunks:
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                written = 0
            except OSError:
                self.broken = True
                return
            if written == len(data):
                return
            data = memoryview(data)[written:]
        self.chunks.append(data)
        self.size += len(data)

    def flush(self):
        """Write what the pipe takes now; sets `broken` when the agent is gone."""
        chunks = self.chunks
        try:
            while chunks:
                if len(chunks) == 1:
                    written = os.write(self.fd, chunks[0])
                else:
                    written = os.writev(self.fd, list(itertools.islice(chunks, WRITEV_CHUNKS)))
                self.size -= written
                while written:
                    head = chunks[0]
                    if written < len(head):
                        # A memoryview: a 16 MiB line written 64 KiB at a time is not copied each time.
                        chunks[0] = memoryview(head)[written:]
                        break
                    written -= len(head)
                    chunks.popleft()
        except BlockingIOError:
            return
        except OSError:
            self.broken = True
            chunks.clear()
            self.size = 0


def note(name, message, fd=2):
    """One line on stderr, which agents keep in their MCP server log. Never blocks: a line
    that does not fit in a full pipe is dropped, and a closed stderr is ignored."""
    line = f"agentdeck bridge ({name}): {message}".encode(errors="replace")[:PIPE_BUF - 1] + b"\n"
    with contextlib.suppress(OSError):
        os.write(fd, line)
