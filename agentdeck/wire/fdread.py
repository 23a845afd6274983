"""Read a non-blocking descriptor on one persistent io watcher.

gevent's socket.recv and os.nb_read read until EAGAIN and (nb_read) create a watcher
for every wait; on the proxy's per-message path that is a wasted syscall and a watcher
start/stop per message. Here a short read is taken to mean "drained": the next read
waits for the hub to report the descriptor readable first.
"""
import os
import select

from gevent import get_hub
from gevent.monkey import get_original

CHUNK_SIZE = 65536  # bytes per read
_poll = get_original("select", "poll")  # the C poll: with timeout 0 it never waits
_GONE = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL


def hung_up(fd):
    """True when the peer on socket ``fd`` has shut its side, reset or closed; never waits.
    (Our clients send nothing more once they leave, so a peer that shut down is gone.)"""
    poller = _poll()
    poller.register(fd, select.POLLRDHUP)
    return any(events & _GONE for _, events in poller.poll(0))


class FdReader:
    __slots__ = ("fd", "hub", "watcher", "drained")

    def __init__(self, fd, drained=True):
        self.fd = fd            # non-blocking; owned by the caller
        self.hub = get_hub()
        self.watcher = self.hub.loop.io(fd, 1)
        self.drained = drained  # the last read came back short (or none yet): wait before reading

    def read(self, size=CHUNK_SIZE):
        """The next bytes (at most ``size``), b"" at EOF; OSErrors (a reset peer) propagate.
        Blocks only this greenlet; kill it to stop a read that waits."""
        while True:
            if self.drained:
                self.hub.wait(self.watcher)
            try:
                data = os.read(self.fd, size)
            except BlockingIOError:
                self.drained = True
                continue
            self.drained = len(data) < size
            return data

    def close(self):
        """Stop watching; call before the descriptor is closed."""
        self.watcher.close()
