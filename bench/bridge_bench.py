"""Benchmark `agentdeck bridge` against a client on the pool's socket directly, in the same run.

Run by hand (not in CI), from the repository root:

    .venv/bin/python bench/bridge_bench.py                 # about half a minute
    .venv/bin/python bench/bridge_bench.py --quick         # smaller counts, for a smoke test
    .venv/bin/python bench/bridge_bench.py --compare HEAD~1   # also the bridge of another revision

It starts a real `agentdeck serve` (this checkout) pooling bench/echo_server.py and runs
the console script `agentdeck bridge` of each variant against it:
  - "this": this checkout's tree, through the venv's console script (PYTHONPATH points
    the import at the tree, ahead of the editable-install finder);
  - "this, regular install": the same tree in a throw-away venv whose site-packages only
    lists the tree in a .pth file, as a regular (non-editable) install does: the venv's
    editable finder imports pathlib, urllib and more into every process (about 2 MiB,
    12 ms), which no installed agentdeck pays;
  - with --compare REV: REV's tree (`git archive`), through the venv's console script.
For each it prints:
  - RSS and RssAnon (private) of a bridge after initialize and one call (targets 12 / 6 MiB);
  - start-up: exec -> the answer to initialize, minus the same request on a fresh socket
    connection, medians, every variant and the direct client taking turns (target 80 ms);
  - added round trip of a small tools/call over the direct client, p50/p99, every
    variant and the direct client taking turns request by request, in a shuffled order
    (target 40 µs p50);
    "floor" is bench/stdio_relay.py, a poll() loop copying bytes and parsing nothing:
    what the extra process and its two pipe hops cost on this machine by themselves.
The load generator is plain blocking Python; reads and writes use os.read/os.write on
both paths so the client costs the same.
"""
import argparse
import contextlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from pool_bench import INIT, MiB, Conn, Daemon, call_line, fmt_us, percentile, proc_status

REPO = Path(__file__).resolve().parent.parent
VENV_SCRIPT = Path(sys.executable).with_name("agentdeck")
FLOOR = REPO / "bench" / "stdio_relay.py"
INIT_LINE = json.dumps(INIT).encode() + b"\n"
CONSOLE_SCRIPT = """#!{python}
import re
import sys
from agentdeck.entry import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


class Bridge:
    """One bridge process (or ``command``); round trips through its stdin and stdout."""

    def __init__(self, variant, socket_path, command=None):
        command = command or [variant.script, "bridge", socket_path]
        self.proc = subprocess.Popen(command, env=variant.env, cwd=variant.tree,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.stdin, self.stdout = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.buffer = b""

    def roundtrip(self, line):
        os.write(self.stdin, line)
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                reply, self.buffer = self.buffer[:newline], self.buffer[newline + 1:]
                return reply
            chunk = os.read(self.stdout, 1 << 20)
            if not chunk:
                raise ConnectionError("the bridge closed its stdout")
            self.buffer += chunk

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


class Direct(Conn):
    """The baseline: a client on the socket itself."""

    def roundtrip(self, line):
        os.write(self.sock.fileno(), line)
        return self.read_line()


class Variant:
    def __init__(self, label, tree, script, pythonpath=True):
        self.label = label
        self.tree = str(tree)
        self.script = str(script)
        self.env = dict(os.environ)
        self.env.pop("PYTHONPATH", None)
        if pythonpath:
            self.env["PYTHONPATH"] = self.tree


@contextlib.contextmanager
def variants(compare):
    scratch = Path(tempfile.mkdtemp(prefix="adbb-", dir="/tmp"))
    try:
        found = [Variant("this", REPO, VENV_SCRIPT)]
        venv = scratch / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next((venv / "lib").glob("python*/site-packages"))
        (site / "agentdeck-tree.pth").write_text(str(REPO) + "\n")
        script = venv / "bin" / "agentdeck"
        script.write_text(CONSOLE_SCRIPT.format(python=venv / "bin" / "python"))
        script.chmod(0o755)
        found.append(Variant("this, regular install", scratch, script, pythonpath=False))
        if compare:
            tree = scratch / "rev"
            tree.mkdir()
            archive = subprocess.run(["git", "archive", compare, "agentdeck", "conf"], cwd=REPO, check=True,
                                     capture_output=True).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(tree)
            found.append(Variant(compare, tree, VENV_SCRIPT))
        for variant in found:  # as pip does at install: the start-up then reads bytecode
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(variant.tree) / "agentdeck")],
                           check=True, stdout=subprocess.DEVNULL)
        yield found
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def memory(variant, socket_path):
    bridge = Bridge(variant, socket_path)
    try:
        bridge.roundtrip(INIT_LINE)
        bridge.roundtrip(call_line(1, "hello"))
        time.sleep(0.3)
        return proc_status(bridge.proc.pid, "VmRSS"), proc_status(bridge.proc.pid, "RssAnon")
    finally:
        bridge.close()


def startup(found, socket_path, count):
    """Seconds from exec to the answer to initialize, per variant, and for a direct client
    from connect(); medians, all taking turns."""
    times = {v.label: [] for v in found}
    times["direct"] = []
    for _ in range(count):
        start = time.perf_counter()
        direct = Direct(socket_path)
        direct.roundtrip(INIT_LINE)
        times["direct"].append(time.perf_counter() - start)
        direct.close()
        for variant in found:
            start = time.perf_counter()
            bridge = Bridge(variant, socket_path)
            bridge.roundtrip(INIT_LINE)
            times[variant.label].append(time.perf_counter() - start)
            bridge.close()
    return {label: statistics.median(values) for label, values in times.items()}


def latencies(found, socket_path, count):
    peers = {"direct": Direct(socket_path), "floor": Bridge(found[0], socket_path, [sys.executable, str(FLOOR),
                                                                                   socket_path]),
             **{v.label: Bridge(v, socket_path) for v in found}}
    times = {label: [] for label in peers}
    try:
        for peer in peers.values():
            peer.roundtrip(INIT_LINE)
        order = list(peers.items())
        shuffle = random.Random(0).shuffle
        for i in range(count):
            line = call_line(i + 1, "hello")
            shuffle(order)  # no peer always comes right after the same one
            for label, peer in order:
                start = time.perf_counter()
                peer.roundtrip(line)
                times[label].append(time.perf_counter() - start)
    finally:
        for peer in peers.values():
            peer.close()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke test)")
    parser.add_argument("--compare", metavar="REV", help="also measure the bridge of git revision REV")
    args = parser.parse_args()
    n_start = 10 if args.quick else 30
    n_lat = 1000 if args.quick else 5000

    daemon = Daemon(max_request_bytes=MiB, max_response_bytes=16 * MiB)
    try:
        with variants(args.compare) as found:
            print(f"agentdeck bridge benchmark ({'quick' if args.quick else 'full'}), daemon pid {daemon.pid}")
            print("\nmemory of one bridge after initialize and a call (targets: RSS <= 12 MiB, RssAnon <= 6 MiB)")
            for variant in found:
                vm_rss, anon = memory(variant, daemon.socket)
                print(f"  {variant.label:24} RSS {vm_rss / MiB:6.2f} MiB   RssAnon {anon / MiB:6.2f} MiB")

            print(f"\nstart-up: exec -> initialize answered, median of {n_start} (target: <= 80 ms over direct)")
            medians = startup(found, daemon.socket, n_start)
            print(f"  {'direct (connect + call)':24} {medians['direct'] * 1e3:7.1f} ms")
            for variant in found:
                own = medians[variant.label]
                print(f"  {variant.label:24} {own * 1e3:7.1f} ms   over direct {(own - medians['direct']) * 1e3:7.1f} ms")

            print(f"\nround trip of a small tools/call, {n_lat} each, interleaved (target: <= 40 µs added p50)")
            times = latencies(found, daemon.socket, n_lat)
            d50, d99 = statistics.median(times["direct"]), percentile(times["direct"], 99)
            print(f"  {'direct':24} p50 {fmt_us(d50)} p99 {fmt_us(d99)}")
            for label in ("floor", *(v.label for v in found)):
                own = times[label]
                p50, p99 = statistics.median(own), percentile(own, 99)
                print(f"  {label:24} p50 {fmt_us(p50)} p99 {fmt_us(p99)} | added p50 {fmt_us(p50 - d50)} "
                      f"p99 {fmt_us(p99 - d99)} | ratio {p50 / d50:.2f}x")
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
