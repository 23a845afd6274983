"""The soak's probe, a process of its own: a ping every INTERVAL to the idle `probe`
server over one socket, a line per ping on stdout: ``<monotonic> <seconds> <overslept>``
(the round trip, and how late this process's own sleep before it woke: the machine's
share), or ``<monotonic> lost <why>``.

Not a thread of the soak: its ~100 client threads parse multi-MiB JSON under one GIL, so
a thread there measured its own wait for the GIL along with the hub's answer.

    python prober.py SOCKET INTERVAL TIMEOUT
"""
import json
import socket
import sys
import time

INITIALIZE = (b'{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":'
              b'"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}\n')


def main(path, interval, timeout):
    n, overslept = 0, 0.0
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(timeout)
                s.connect(path)
                f = s.makefile("rwb")
                f.write(INITIALIZE)
                f.flush()
                f.readline()
                while True:
                    n += 1
                    started = time.monotonic()
                    f.write(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % n)
                    f.flush()
                    while json.loads(f.readline()).get("id") != n:
                        pass
                    took = time.monotonic() - started
                    print(f"{started:.4f} {took:.5f} {overslept:.5f}", flush=True)
                    pause = max(0.0, interval - took)
                    woke = time.monotonic() + pause
                    time.sleep(pause)
                    overslept = time.monotonic() - woke
        except (OSError, ValueError) as exc:
            print(f"{time.monotonic():.4f} lost {type(exc).__name__}: {exc}", flush=True)
            time.sleep(0.5)


if __name__ == "__main__":
    try:
        main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
    except (KeyboardInterrupt, BrokenPipeError):
        pass
