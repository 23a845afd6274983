"""The soak's probe, a process of its own: a ping every INTERVAL to the idle `probe`
server over one socket, a line per ping on stdout: ``<monotonic> <seconds> <waited>``
(the round trip, and the part of it that the daemon's hub thread and the probe server
spent runnable but waiting for a CPU, from /proc/PID/task/TID/schedstat: the machine's
share, not the hub's), or ``<monotonic> lost <why>``.

Not a thread of the soak: its ~100 client threads parse multi-MiB JSON under one GIL, so
a thread there measured its own wait for the GIL along with the hub's answer.

    python prober.py SOCKET INTERVAL TIMEOUT DAEMON_PID PROBE_SERVER_PID
"""
import json
import socket
import sys
import time

INITIALIZE = (b'{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":'
              b'"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}\n')


def run_queue_wait(pids):
    """Seconds the main threads of ``pids`` have waited on a run queue since they started
    (a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def main(path, interval, timeout, pids):
    n = 0
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
                    started, waited = time.monotonic(), run_queue_wait(pids)
                    f.write(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % n)
                    f.flush()
                    while json.loads(f.readline()).get("id") != n:
                        pass
                    took, waited = time.monotonic() - started, run_queue_wait(pids) - waited
                    print(f"{started:.4f} {took:.5f} {min(waited, took):.5f}", flush=True)
                    time.sleep(max(0.0, interval - took))
        except (OSError, ValueError) as exc:
            print(f"{time.monotonic():.4f} lost {type(exc).__name__}: {exc}", flush=True)
            time.sleep(0.5)


if __name__ == "__main__":
    try:
        main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), [int(p) for p in sys.argv[4:]])
    except (KeyboardInterrupt, BrokenPipeError):
        pass
