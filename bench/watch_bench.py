"""Watchers and transitions benchmarks, run by hand (not in CI), from the repository root:

    .venv/bin/python bench/watch_bench.py            # full run, about six minutes
    .venv/bin/python bench/watch_bench.py --quick    # smaller counts, for a smoke test

It starts a real `agentdeck serve` (temporary home, private tmux server, no MCP servers)
and prints:
1. latency from a hook file write (the real hook handler, in this process) to the
   transition event reaching a `StatusEventWatcher` consumer here, p50/p99 over 1,000
   transitions written back to back (each inside the previous one's debounce window:
   the worst case), next to the baseline of one inotify hop (an event file written
   here straight to the same consumer) and to transitions spaced 0.2 s apart
   (target: p99 <= 250 ms);
2. daemon RSS over 100,000 transitions across 500 instances created and removed in
   waves of 100 (target: growth <= 2 MiB after the first wave);
3. daemon CPU while 100 idle sessions exist, next to the same daemon with none
   (target: <= 1% of a core).
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from agentdeck.paths import Home  # noqa: E402
from agentdeck.sessions.control import SessionControl  # noqa: E402
from agentdeck.sessions.events import TransitionEvent, write_event  # noqa: E402
from agentdeck.sessions.hook import record_event  # noqa: E402
from agentdeck.sessions.registry import Registry  # noqa: E402
from agentdeck.sessions.states import IDLE, RUNNING, WAITING  # noqa: E402
from agentdeck.sessions.tmux import Tmux  # noqa: E402
from agentdeck.sessions.transcript import PromptCache  # noqa: E402
from agentdeck.sessions.statusevents import StatusEventWatcher  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024
LATENCY_TARGET = 0.250  # seconds, p99
RSS_GROWTH_TARGET = 2 * MiB
CPU_TARGET = 0.01  # of one core
EVENT_TIMEOUT = 10.0  # seconds one transition may take before the bench gives up
SPACING = 0.2  # seconds between spaced transitions: more than the debounce, so none is coalesced
HOOK_EVENT = {RUNNING: "UserPromptSubmit", WAITING: "Stop"}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def mib(n):
    return f"{n / MiB:+.2f} MiB" if n < 0 else f"{n / MiB:.2f} MiB"


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


def cpu_seconds(pid):
    """(own, own + reaped children) CPU seconds of ``pid`` (utime+stime, cutime+cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return own, own + (int(fields[13]) + int(fields[14])) / CLK_TCK


class Bench:
    """A daemon, a registry and tmux server of our own, and a consumer of its events."""

    def __init__(self, root):
        self.root = root
        self.home = Home(root / "home").ensure()
        self.project = root / "proj"
        self.project.mkdir()
        self.tmux = Tmux(str(root / "tmux.sock"))
        self.registry = Registry(self.home)
        self.control = SessionControl(self.home, self.registry, self.tmux, PromptCache())
        config = root / "agentdeck.toml"
        config.write_text(f'[daemon]\nhome = "{self.home.root}"\nstatus_listen = "127.0.0.1:0"\n')
        env = {**os.environ, "AGENTDECK_HOME": str(self.home.root), "AGENTDECK_TMUX_SOCKET": self.tmux.socket}
        self.daemon = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(config)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.status_url = self._wait_for_daemon()
        self.consumer = StatusEventWatcher(self.home.events, maxsize=100000)
        self.consumer.start()

    def _wait_for_daemon(self):
        info = self.home.root / "daemon.json"
        deadline = time.monotonic() + 30
        while not info.exists():
            if time.monotonic() > deadline or self.daemon.poll() is not None:
                raise SystemExit("the daemon did not come up")
            gevent.sleep(0.05)
        return json.loads(info.read_text())["status_url"]

    @property
    def pid(self):
        return self.daemon.pid

    def transitions(self):
        with urllib.request.urlopen(self.status_url + "/status", timeout=10) as resp:
            return json.loads(resp.read())["transitions"]

    def add(self, count):
        return [self.control.add(str(self.project), command="sleep 3600").id for _ in range(count)]

    def remove(self, ids):
        for instance_id in ids:
            self.control.remove(instance_id)

    def hook(self, instance_id, status):
        record_event([json.dumps({"hook_event_name": HOOK_EVENT[status], "session_id": "bench"})], None,
                     {"AGENTDECK_INSTANCE_ID": instance_id, "AGENTDECK_HOME": str(self.home.root)})

    def expect(self, wanted):
        """Wait until the consumer got an event to ``wanted[id]`` for every id in it."""
        pending = dict(wanted)
        while pending:
            event = self.consumer.get(timeout=EVENT_TIMEOUT)
            if event is None:
                raise SystemExit(f"no event within {EVENT_TIMEOUT:g} s; still waiting for {len(pending)}")
            if pending.get(event.instance) == event.to_status:
                del pending[event.instance]

    def settle(self, sessions):
        """Wait until the daemon tracks exactly ``sessions`` sessions (its prune ran)."""
        deadline = time.monotonic() + 30
        while self.transitions()["sessions"] != sessions:
            if time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not settle on {sessions} sessions")
            gevent.sleep(0.2)

    def close(self):
        self.consumer.stop()
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.daemon.pid, signal.SIGKILL)
            self.daemon.wait()
        self.registry.close()
        self.tmux.kill_server()


def bench_latency(bench, count, spaced_count):
    (instance_id,) = bench.add(1)
    bench.settle(1)

    def through_daemon(n):
        status = (RUNNING, WAITING)[n % 2]
        started = time.perf_counter()
        bench.hook(instance_id, status)
        bench.expect({instance_id: status})
        return time.perf_counter() - started

    def one_hop(n):
        started = time.perf_counter()
        write_event(bench.home.event_file("hop"), TransitionEvent(instance="hop", title="t", profile="p",
                                                                  from_status=IDLE, to_status=RUNNING,
                                                                  time=time.time()))
        bench.expect({"hop": RUNNING})
        return time.perf_counter() - started

    def spaced(run):
        def measure(n):
            gevent.sleep(SPACING)
            return run(n)
        return measure

    rows = [("hook write -> daemon -> consumer, back to back", [through_daemon(n) for n in range(count)]),
            ("event file write -> consumer (one inotify hop), back to back", [one_hop(n) for n in range(count)]),
            (f"hook write -> daemon -> consumer, {SPACING:g} s apart",
             [spaced(through_daemon)(n) for n in range(spaced_count)]),
            (f"event file write -> consumer, {SPACING:g} s apart", [spaced(one_hop)(n) for n in range(spaced_count)])]
    for label, times in rows:
        print(f"latency {label}: n={len(times)} p50 {ms(percentile(times, 50))}, p99 {ms(percentile(times, 99))}, "
              f"max {ms(max(times))}" + (f" (target p99 <= {ms(LATENCY_TARGET)})" if "hook" in label else ""))
    os.unlink(bench.home.event_file("hop"))
    bench.remove([instance_id])
    bench.settle(0)


def bench_memory(bench, waves, wave_size, transitions):
    rounds = transitions // (waves * wave_size)  # transitions per instance
    started, baseline = time.monotonic(), rss(bench.pid)
    before = bench.transitions()["transitions"]
    readings = []
    for wave in range(waves):
        ids = bench.add(wave_size)
        bench.settle(wave_size)
        for n in range(rounds):
            status = (RUNNING, WAITING)[n % 2]
            for instance_id in ids:
                bench.hook(instance_id, status)
            bench.expect({instance_id: status for instance_id in ids})
        bench.remove(ids)
        bench.settle(0)
        readings.append(rss(bench.pid))
        print(f"  wave {wave + 1}/{waves}: {wave_size} instances x {rounds} transitions, removed; "
              f"daemon RSS {mib(readings[-1])}")
    done = bench.transitions()["transitions"] - before
    growth = readings[-1] - readings[0]
    print(f"RSS: {done} transitions across {waves * wave_size} instances in {waves} waves "
          f"({time.monotonic() - started:.0f} s): idle daemon {mib(baseline)}, after the first wave "
          f"{mib(readings[0])}, after the last {mib(readings[-1])}; growth after warm-up {mib(growth)} "
          f"(target <= {mib(RSS_GROWTH_TARGET)})")


def bench_cpu(bench, sessions, window):
    def measure():
        gevent.sleep(1)  # let the previous step's work finish
        own, total = cpu_seconds(bench.pid)
        gevent.sleep(window)
        own_after, total_after = cpu_seconds(bench.pid)
        return (own_after - own) / window, (total_after - total) / window
    base_own, base_total = measure()
    ids = bench.add(sessions)
    for n, instance_id in enumerate(ids):  # some have spoken, some not: all are idle or waiting
        if n % 2:
            bench.hook(instance_id, WAITING)
    bench.settle(sessions)
    own, total = measure()
    print(f"CPU over {window:g} s: no sessions {base_own:.2%} of a core ({base_total:.2%} with its tmux calls); "
          f"{sessions} idle sessions {own:.2%} ({total:.2%} with its tmux calls) (target <= {CPU_TARGET:.0%})")
    bench.remove(ids)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke test")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="adwb-", dir="/tmp"))
    bench = Bench(root)
    try:
        if args.quick:
            bench_latency(bench, 100, 20)
            bench_memory(bench, waves=3, wave_size=20, transitions=1200)
            bench_cpu(bench, sessions=100, window=10)
        else:
            bench_latency(bench, 1000, 100)
            bench_memory(bench, waves=5, wave_size=100, transitions=100000)
            bench_cpu(bench, sessions=100, window=60)
    finally:
        bench.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
