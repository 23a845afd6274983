"""The floor for any gevent proxy here: relay one client's bytes to an echo server's
stdin and its stdout back, with no parsing, routing or bounds. pool_bench.py measures
it in the same run, so the pool's cost can be told apart from this machine's wake-ups.

    python bench/raw_relay.py SOCKET_PATH
"""
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402
from gevent.socket import wait_write  # noqa: E402

from agentdeck.wire.fdread import FdReader  # noqa: E402

ECHO = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "echo_server.py")]


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            wait_write(fd)


def main(path):
    child = subprocess.Popen(ECHO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    to_child, from_child = child.stdin.fileno(), child.stdout.fileno()
    os.set_blocking(to_child, False)
    os.set_blocking(from_child, False)
    client = {}

    def pump_child():
        reader = FdReader(from_child)
        while data := reader.read():
            write_all(client["fd"], data)

    def serve(sock, _address):
        client["fd"] = sock.fileno()
        reader = FdReader(sock.fileno())
        while data := reader.read():
            write_all(to_child, data)

    gevent.spawn(pump_child)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(8)
    StreamServer(listener, serve).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
