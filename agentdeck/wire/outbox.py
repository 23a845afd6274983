"""Bytes queued for one file descriptor (a client socket or a child's stdin).

`flush()` writes what the descriptor takes right now with one non-blocking writev and
never blocks the caller; only when bytes are left over does a drain greenlet exist,
waiting for the descriptor to become writable. Idle connections therefore cost no
greenlet, and one stuck reader never stalls the greenlet that feeds everybody.
"""
import os

import gevent
from gevent.socket import wait_write
from loguru import logger

IOV_MAX = 1024  # buffers one writev takes on Linux


class Outbox:
    __slots__ = ("fd", "chunks", "size", "drainer", "on_error", "label")

    def __init__(self, fd, on_error, label):
        self.fd = fd                  # non-blocking descriptor; owned (closed) by the caller
        self.chunks = []              # bytes or memoryviews not yet written (a list: a deque's
                                      # first block alone costs ~600 bytes per idle client)
        self.size = 0                 # their total length
        self.drainer = None           # greenlet waiting for writability, while bytes are left over
        self.on_error = on_error      # called once with the OSError when the peer is gone
        self.label = label            # for logs: "time/client 7", "time/stdin"

    def put(self, data):
        if not data:  # writes of 0 bytes would stay queued and keep the drainer spinning
            return
        self.chunks.append(data)
        self.size += len(data)

    def flush(self):
        """Write what fits now; leave the rest to the drain greenlet."""
        if self.drainer is not None or not self.chunks:
            return
        if self._write_some():
            self.drainer = gevent.spawn(self._drain)

    def close(self):
        """Drop queued bytes and stop draining; the caller closes the descriptor."""
        self.chunks.clear()
        self.size = 0
        if self.drainer is not None and self.drainer is not gevent.getcurrent():
            self.drainer.kill(block=False)
        self.drainer = None

    def _write_some(self):
        """One writev; True while bytes remain queued."""
        chunks = self.chunks
        try:
            if len(chunks) == 1:
                written = os.write(self.fd, chunks[0])
            else:
                written = os.writev(self.fd, chunks[:IOV_MAX])
        except BlockingIOError:
            return True
        except OSError as exc:
            self.close()
            self.on_error(exc)
            return False
        self.size -= written
        done = 0  # chunks written whole
        while written and len(chunks[done]) <= written:
            written -= len(chunks[done])
            done += 1
        del chunks[:done]
        if written:
            chunks[0] = memoryview(chunks[0])[written:]
        return bool(chunks)

    def _drain(self):
        try:
            while True:
                wait_write(self.fd)
                if not self._write_some():
                    break
        except OSError as exc:  # the descriptor was closed under us
            logger.debug("{}: drain stopped: {}", self.label, exc)
        finally:
            if self.drainer is gevent.getcurrent():
                self.drainer = None
