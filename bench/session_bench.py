"""Session benchmarks, run by hand (not in CI): `python bench/session_bench.py [--instances N]`.

Prints:
1. `agentdeck hook` wall time, p50 and p95 over 20 runs, interpreter start-up included,
   run the way Claude Code runs it (the command `hooks install` writes, through sh);
2. in one daemon-like (monkey-patched) process: RSS after creating and killing the first
   1,000 instances, and after 10,000, each with its hook file written and its prompt
   cache filled from a transcript before the kill (target: growth <= 2 MiB);
3. open SQLite file descriptors and sqlite3 connections after 1,000 operations from
   1,000 spawned greenlets (target: 1, however many greenlets).

Everything lives in a temporary home and a private tmux server, removed at the end.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent.pool  # noqa: E402

from agentdeck.paths import Home  # noqa: E402
from agentdeck.sessions.hook_settings import hook_command  # noqa: E402
from agentdeck.sessions.control import SessionControl  # noqa: E402
from agentdeck.sessions.hook import record_event  # noqa: E402
from agentdeck.sessions.registry import Registry  # noqa: E402
from agentdeck.sessions.tmux import Tmux  # noqa: E402
from agentdeck.sessions.transcript import PromptCache  # noqa: E402

HOOK_RUNS = 20
WARM_INSTANCES = 1000  # RSS is compared with the value after this many
GREENLET_OPERATIONS = 1000
RSS_GROWTH_TARGET = 2 * 1024 * 1024  # bytes
TRANSCRIPT_TURNS = 200  # user/assistant pairs in the shared transcript (~100 KiB)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def mib(n):
    return f"{n / (1024 * 1024):.2f} MiB"


def payload(event, transcript):
    return json.dumps({"session_id": "bench", "transcript_path": str(transcript), "cwd": "/tmp",
                       "hook_event_name": event}).encode()


def write_transcript(path):
    with open(path, "w") as f:
        for n in range(TRANSCRIPT_TURNS):
            f.write(json.dumps({"type": "user", "message": {"role": "user", "content": f"prompt number {n} " * 10}})
                    + "\n")
            f.write(json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
                {"type": "text", "text": "an answer " * 30}]}}) + "\n")


def bench_hook(home, transcript):
    env = {"PATH": "/usr/bin:/bin", "AGENTDECK_HOME": str(home.root), "AGENTDECK_INSTANCE_ID": "hookbench"}
    data = payload("PreToolUse", transcript)
    times = []
    for _ in range(HOOK_RUNS):
        start = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", hook_command()], input=data, env=env, check=True, timeout=30)
        times.append(time.perf_counter() - start)
    p95 = statistics.quantiles(times, n=20)[18]
    print(f"hook: {hook_command()}")
    print(f"hook wall time over {HOOK_RUNS} runs: p50 {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms, max {max(times) * 1000:.1f} ms (target < 150 ms)")


def create_and_kill(control, project, transcript, count):
    for _ in range(count):
        record = control.add(str(project), command="sleep 600")
        record_event([], _Bytes(payload("UserPromptSubmit", transcript)),
                     {"AGENTDECK_INSTANCE_ID": record.id, "AGENTDECK_HOME": str(control.home.root)})
        view = control.view(record.id)
        assert view.prompt.startswith("prompt number"), view
        control.kill(record.id)


class _Bytes:
    """A stdin stand-in for record_event."""

    def __init__(self, data):
        self.data = data

    def read(self, size):
        return self.data[:size]


def bench_memory(home, tmux, project, transcript, instances):
    registry = Registry(home)
    prompts = PromptCache()
    control = SessionControl(home, registry, tmux, prompts)
    try:
        started = time.monotonic()
        create_and_kill(control, project, transcript, WARM_INSTANCES)
        gc.collect()
        warm = rss_bytes()
        create_and_kill(control, project, transcript, instances - WARM_INSTANCES)
        gc.collect()
        end = rss_bytes()
        elapsed = time.monotonic() - started
        rows = len(registry.store().list_instances())
    finally:
        registry.close()
    growth = end - warm
    print(f"RSS after {WARM_INSTANCES} instances created+killed: {mib(warm)}; after {instances}: {mib(end)}; "
          f"growth {mib(growth)} (target <= {mib(RSS_GROWTH_TARGET)}) "
          f"[{rows} rows kept, prompt cache entries now {len(prompts)}, {elapsed:.0f} s]")


def bench_connections(home):
    registry = Registry(home)
    store = registry.store("fds")
    try:
        for n in range(10):
            store.add(f"fd{n:06d}", title="t", path="/tmp", tool="shell", command="", tmux_session=f"s{n}",
                      status="idle")

        def operate(n):
            instance_id = f"fd{n % 10:06d}"
            if n % 2:
                store.set_status(instance_id, ("running", "waiting")[n % 4 // 2])
            else:
                store.get(instance_id)

        group = gevent.pool.Group()
        for n in range(GREENLET_OPERATIONS):
            group.spawn(operate, n)
        group.join(raise_error=True)
        gc.collect()
        connections = sum(isinstance(o, sqlite3.Connection) for o in gc.get_objects())
        print(f"after {GREENLET_OPERATIONS} operations from {GREENLET_OPERATIONS} greenlets: "
              f"{store.open_fd_count()} open SQLite file descriptor(s), {connections} sqlite3 connection(s)")
    finally:
        registry.close()
    print(f"after close: {store.open_fd_count()} open SQLite file descriptor(s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10000, help="instances to create and kill (default 10000)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="adbench-", dir="/tmp"))
    tmux = Tmux(str(root / "tmux.sock"))
    try:
        home = Home(root / "home").ensure()
        project = root / "proj"
        project.mkdir()
        transcript = root / "transcript.jsonl"
        write_transcript(transcript)
        bench_hook(home, transcript)
        bench_connections(home)
        bench_memory(home, tmux, project, transcript, max(args.instances, WARM_INSTANCES))
    finally:
        tmux.kill_server()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
