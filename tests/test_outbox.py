"""Outbox over real socketpairs: writes what fits at once, drains the rest in a greenlet
only while needed, keeps order, reports a gone peer once and stops on close."""
import os
import random
import socket
import time

import pytest

from agentdeck.wire.outbox import IOV_MAX, Outbox
from tests.support import wait_for

READ_TIMEOUT = 10.0  # seconds to receive what was written
BIG = 4 * 1024 * 1024  # far more than a socketpair buffers


class Wire:
    """An Outbox writing into one end of a socketpair; the test reads the other end."""

    def __init__(self):
        self.ours, self.peer = socket.socketpair()
        self.ours.setblocking(False)
        self.errors = []
        self.box = Outbox(self.ours.fileno(), self.errors.append, "test")

    def read(self, size, timeout=READ_TIMEOUT):
        """Exactly ``size`` bytes from the peer end, or fail at the deadline."""
        deadline = time.monotonic() + timeout
        data = bytearray()
        while len(data) < size:
            self.peer.settimeout(max(0.0, deadline - time.monotonic()))
            try:
                chunk = self.peer.recv(min(size - len(data), 1 << 20))
            except socket.timeout:
                chunk = None
            assert chunk, f"peer got {len(data)} of {size} bytes before the deadline"
            data += chunk
        return bytes(data)

    def read_now(self):
        """What the peer can read without waiting (the descriptor is non-blocking)."""
        try:
            return os.read(self.peer.fileno(), 1 << 20)
        except BlockingIOError:
            return b""

    def queued(self):
        return sum(len(c) for c in self.box.chunks)

    def close(self):
        self.box.close()
        self.ours.close()
        self.peer.close()


@pytest.fixture
def wire():
    w = Wire()
    yield w
    w.close()


def payload(size, seed=1):
    return random.Random(seed).randbytes(size)


def test_small_write_goes_out_at_once_without_a_drainer(wire):
    wire.box.put(b'{"jsonrpc":"2.0","id":1,"result":{}}\n')
    wire.box.flush()
    assert wire.box.drainer is None and wire.box.size == 0 and not wire.box.chunks
    assert wire.read_now() == b'{"jsonrpc":"2.0","id":1,"result":{}}\n'  # no hub switch needed


def test_several_puts_go_out_in_one_flush_in_order(wire):
    lines = [b"line %d\n" % i for i in range(50)]
    for line in lines:
        wire.box.put(line)
    assert wire.box.size == sum(map(len, lines)) and wire.read_now() == b""  # put alone writes nothing
    wire.box.flush()
    assert wire.box.drainer is None and wire.box.size == 0
    assert wire.read_now() == b"".join(lines)


def test_flush_with_nothing_queued_does_nothing(wire):
    wire.box.flush()
    assert wire.box.drainer is None and wire.read_now() == b"" and not wire.errors


def test_big_write_leaves_a_drainer_that_finishes_once_the_peer_reads(wire):
    data = payload(BIG)
    wire.box.put(data)
    wire.box.flush()
    assert wire.box.drainer is not None
    assert 0 < wire.box.size < BIG and wire.queued() == wire.box.size
    assert wire.read(BIG) == data
    wait_for(lambda: wire.box.drainer is None, message="the drainer to finish")
    assert wire.box.size == 0 and not wire.box.chunks and not wire.errors


def test_puts_while_draining_keep_their_order(wire):
    first = payload(BIG, seed=2)
    wire.box.put(first)
    wire.box.flush()
    drainer = wire.box.drainer
    assert drainer is not None
    more = [b"after %d\n" % i for i in range(100)]
    for line in more:
        wire.box.put(line)
        wire.box.flush()  # a no-op while the drainer runs; it picks these up
    assert wire.box.drainer is drainer
    expected = first + b"".join(more)
    assert wire.read(len(expected)) == expected
    wait_for(lambda: wire.box.drainer is None and wire.box.size == 0, message="the outbox to empty")


@pytest.mark.parametrize("count", [IOV_MAX - 1, IOV_MAX, IOV_MAX + 1, 3 * IOV_MAX + 17, 20000])
def test_order_preserved_across_many_chunks(wire, count):
    rng = random.Random(count)
    chunks = [b"%d:" % i + b"x" * rng.randrange(0, 200) + b"\n" for i in range(count)]
    for chunk in chunks:
        wire.box.put(chunk)
    wire.box.flush()
    expected = b"".join(chunks)
    assert wire.read(len(expected)) == expected
    wait_for(lambda: wire.box.drainer is None and wire.box.size == 0, message="the outbox to empty")
    assert wire.read_now() == b""


def test_peer_closed_before_a_small_write_calls_on_error_once(wire):
    wire.peer.close()
    wire.box.put(b"hello\n")
    wire.box.put(b"world\n")
    wire.box.flush()
    assert len(wire.errors) == 1 and isinstance(wire.errors[0], OSError)
    assert wire.box.size == 0 and not wire.box.chunks and wire.box.drainer is None
    wire.box.flush()
    assert len(wire.errors) == 1


def test_peer_closed_while_draining_calls_on_error_once_and_drops_the_queue(wire):
    wire.box.put(payload(BIG))
    wire.box.flush()
    drainer = wire.box.drainer
    assert drainer is not None
    wire.read(1000)
    wire.peer.close()
    wait_for(lambda: drainer.dead, message="the drainer to stop")  # nobody left to report twice
    assert wire.box.drainer is None
    assert len(wire.errors) == 1 and isinstance(wire.errors[0], OSError)
    assert wire.box.size == 0 and not wire.box.chunks


def test_close_stops_the_drainer_and_drops_the_queue(wire):
    wire.box.put(payload(BIG))
    wire.box.flush()
    drainer = wire.box.drainer
    assert drainer is not None
    wire.box.close()
    assert wire.box.drainer is None and wire.box.size == 0 and not wire.box.chunks
    wait_for(lambda: drainer.dead, message="the drainer to die")
    received = 0
    while True:  # whatever was written before close arrives; nothing after it
        chunk = wire.read_now()
        if not chunk:
            break
        received += len(chunk)
    assert 0 < received < BIG and not wire.errors


def test_close_of_an_idle_outbox_is_harmless(wire):
    wire.box.close()
    wire.box.close()
    assert wire.box.drainer is None and not wire.errors


@pytest.mark.timeout(10)
def test_empty_put_does_not_leave_a_spinning_drainer(wire):
    """Regression: an empty chunk left behind by a write (os.write/writev returned 0 for it)
    was never popped, so the drainer looped on a writable socket forever."""
    wire.box.put(b"x")
    wire.box.put(b"")
    wire.box.flush()
    wait_for(lambda: wire.box.drainer is None, timeout=2.0, message="the drainer to finish")
    wire.box.put(b"")
    wire.box.flush()
    assert wire.box.drainer is None and wire.box.size == 0 and not wire.box.chunks
    assert wire.read(1) == b"x"
