"""A client on a pooled server's Unix socket: the socket implementation of the client port."""
import select

import gevent
from gevent.monkey import get_original

from agentdeck.pool.peer import Peer
from agentdeck.wire.fdread import FdReader
from agentdeck.wire.outbox import Outbox

_poll = get_original("select", "poll")  # the C poll: with timeout 0 it never waits
_GONE = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL


class SocketClient(Peer):
    __slots__ = ("sock", "fd", "input", "outbox", "splitter", "reader")
    kind = "socket"

    def __init__(self, cid, sock, on_error, server_name, splitter):
        super().__init__(cid)
        self.sock = sock
        self.fd = sock.fileno()
        self.input = FdReader(self.fd)
        self.outbox = Outbox(self.fd, on_error, f"{server_name}/client {cid}")
        self.splitter = splitter           # LineSplitter of its requests (max_request_bytes)
        self.reader = gevent.getcurrent()  # the greenlet reading this client (created in it)

    def put(self, line, about=None, final=False):
        self.outbox.put(line)

    @property
    def queued(self):
        return self.outbox.size

    def flush(self):
        self.outbox.flush()

    def hung_up(self):
        # The reader ends a client at EOF anyway; a peer that shut down its side is leaving.
        poller = _poll()
        poller.register(self.fd, select.POLLRDHUP)
        return any(events & _GONE for _, events in poller.poll(0))

    def close(self):
        """Drop unsent output, stop the reader and close the socket (watchers before the fd,
        so a reused descriptor number is never watched twice)."""
        self.outbox.close()
        self.input.close()
        if self.reader is not gevent.getcurrent():
            self.reader.kill(block=False)
        self.sock.close()
