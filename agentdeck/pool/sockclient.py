"""A client on a pooled server's Unix socket: the socket implementation of the client port."""
import gevent

from agentdeck.pool.peer import Peer
from agentdeck.wire.fdread import FdReader, hung_up as fd_hung_up
from agentdeck.wire.outbox import Outbox


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
        return fd_hung_up(self.fd)  # the reader ends a client at EOF anyway: one that shut down is leaving

    def close(self):
        """Drop unsent output, stop the reader and close the socket (watchers before the fd,
        so a reused descriptor number is never watched twice)."""
        self.outbox.close()
        self.input.close()
        if self.reader is not gevent.getcurrent():
            self.reader.kill(block=False)
        self.sock.close()
