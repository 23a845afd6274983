"""Operations benchmarks, run by hand (not in CI): `python bench/ops_bench.py [--minutes M]`.

Prints:
1. rendering the status documents for 100 servers and 1,000 sessions, built synthetically
   in this process: the session entries from registry records and transcripts, /status
   (JSON), /metrics (Prometheus text) and / (HTML), each the median of RENDER_RUNS, and
   the same three through the real HTTP server; baseline in the same run: a plain
   `json.dumps` of the same data (target: /status <= 50 ms);
2. a real daemon (`run.py`, two pooled servers, one client) whose /metrics is scraped
   once a second for --minutes (default 10): its RSS after a warm-up minute and at the
   end (target: growth <= 1 MiB).

Everything lives in a temporary home, removed at the end.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loguru import logger  # noqa: E402

from agentdeck.daemon.sessionfeed import SessionFeed  # noqa: E402
from agentdeck.sessions.registry import InstanceRecord  # noqa: E402
from agentdeck.sessions.status import HookStatus  # noqa: E402
from agentdeck.web import metrics, page  # noqa: E402
from agentdeck.web.status import StatusServer  # noqa: E402
from tests.support import toml_config  # noqa: E402

SERVERS = 100
SESSIONS = 1000
RENDER_RUNS = 20
STATUS_TARGET = 0.050  # seconds to render /status
RSS_TARGET = 1024 * 1024  # bytes of growth over the scrape run
WARM_UP = 60.0  # seconds of scraping before the baseline RSS is taken
SCRAPE_INTERVAL = 1.0  # seconds
STATUSES = ("running", "waiting", "idle", "dead")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def mib(n):
    return f"{n / (1024 * 1024):.2f} MiB"


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def median_time(fn, runs=RENDER_RUNS):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def synthetic_servers(now):
    return [{"name": f"server-{i:03d}", "state": "running" if i % 10 else "backoff", "since": now - 60 * i,
             "pid": 10000 + i, "clients": i % 7, "in_flight": i % 3, "restarts": i % 4, "failures": 0,
             "last_error": None if i % 10 else "exited with code 1", "stderr_tail": "" if i % 10 else "boom\n" * 20,
             "socket": f"/home/u/.agentdeck/sockets/mcp-server-{i:03d}.sock", "command": f"node server-{i}.js",
             "bytes_in": i * 1000, "bytes_out": i * 5000, "requests": i * 10, "orphans": 0, "oversize_requests": 0,
             "oversize_responses": 0, "bad_child_lines": 0, "idle_closed": i, "slow_closed": 0, "rejected": 0}
            for i in range(SERVERS)]


def synthetic_sessions(tmp, now):
    """(records, live statuses, hooks) for SESSIONS sessions, each with a small transcript."""
    records, live, hooks = [], {}, {}
    for i in range(SESSIONS):
        instance = f"{i:08x}"
        transcript = tmp / f"{instance}.jsonl"
        transcript.write_text(json.dumps({"type": "user", "message": {"role": "user",
                                                                      "content": f"prompt number {i} " * 5}}) + "\n")
        records.append(InstanceRecord(id=instance, profile=f"p{i % 5}", title=f"session {i}", path=f"/src/p{i}",
                                      tool="claude", command="claude", tmux_session=f"agentdeck-{instance}",
                                      status="idle", created=now - 3600, updated=now - 60))
        live[instance] = (STATUSES[i % 4], now - i)
        hooks[instance] = HookStatus(status=STATUSES[i % 4], event="Stop", session_id=instance, cwd="/src",
                                     transcript_path=str(transcript), ts=now - i)
    return records, live, hooks


def bench_render(tmp):
    now = time.time()
    records, live, hooks = synthetic_sessions(tmp, now)
    feed = SessionFeed(registry=None, statuses=lambda: live, hook_of=hooks.get)
    feed.entries(records, live)  # first read of each transcript; later ones read only what was appended
    entries_time = median_time(lambda: feed.entries(records, live))
    snapshot = {"daemon": {"pid": 1, "version": "0.1.0", "uptime": 3600, "rss_bytes": 50 << 20, "config": "/c"},
                "servers": synthetic_servers(now), "sessions": feed.entries(records, live), "sessions_error": "",
                "transitions": {"events_dropped": 0}, "http": {"refused": {}}}
    samples = [(now - 10 * i, (40 << 20) + i * 1000) for i in range(360, 0, -1)]
    baseline = median_time(lambda: json.dumps(snapshot))
    status_time = median_time(lambda: json.dumps(snapshot).encode())
    metrics_time = median_time(lambda: metrics.render(snapshot).encode())
    page_time = median_time(lambda: page.render(snapshot, samples, now).encode())
    sizes = {name: len(body) for name, body in (("status", json.dumps(snapshot)), ("metrics", metrics.render(snapshot)),
                                                ("page", page.render(snapshot, samples, now)))}

    server = StatusServer("127.0.0.1:0", lambda: snapshot, lambda: samples)
    server.start()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def fetch(path):
        with opener.open(server.url + path, timeout=10) as resp:
            resp.read()
    http = {path: median_time(lambda: fetch(path)) for path in ("/status", "/metrics", "/")}
    server.stop()

    print(f"1. rendering with {SERVERS} servers and {SESSIONS} sessions (median of {RENDER_RUNS}):")
    print(f"   baseline json.dumps of the same data: {ms(baseline)}")
    print(f"   session entries from records + transcripts: {ms(entries_time)}")
    print(f"   /status  {ms(status_time)} ({sizes['status'] // 1024} KiB) "
          f"[target <= {ms(STATUS_TARGET)}: {'ok' if status_time <= STATUS_TARGET else 'MISSED'}]; "
          f"with the session entries: {ms(status_time + entries_time)}")
    print(f"   /metrics {ms(metrics_time)} ({sizes['metrics'] // 1024} KiB)")
    print(f"   /        {ms(page_time)} ({sizes['page'] // 1024} KiB)")
    print("   through HTTP (request + render + transfer): " +
          ", ".join(f"{path} {ms(t)}" for path, t in http.items()))


def daemon_rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def bench_scrape(tmp, minutes):
    home = tmp / "home"
    home.mkdir()
    scripted = [sys.executable, str(REPO / "tests" / "scripted_server.py")]
    servers = {name: {"command": scripted[0], "args": scripted[1:]} for name in ("a", "b")}
    config = home / "agentdeck.toml"
    config.write_text(toml_config(home, servers=servers))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTDECK_")} | {"AGENTDECK_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(config), "--log-level", "WARNING"],
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        info_path = home / "daemon.json"
        deadline = time.monotonic() + 30
        while not info_path.exists():
            if time.monotonic() > deadline:
                raise SystemExit("the daemon did not start within 30 s")
            time.sleep(0.1)
        url = json.loads(info_path.read_text())["status_url"] + "/metrics"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        started = time.monotonic()
        end = started + max(minutes * 60, WARM_UP + SCRAPE_INTERVAL)
        scrapes, baseline, peak = 0, None, 0
        while time.monotonic() < end:
            with opener.open(url, timeout=10) as resp:
                resp.read()
            scrapes += 1
            rss = daemon_rss(proc.pid)
            if baseline is None and time.monotonic() - started >= WARM_UP:
                baseline = rss
            peak = max(peak, rss)
            time.sleep(max(0.0, started + scrapes * SCRAPE_INTERVAL - time.monotonic()))
        final = daemon_rss(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    growth = final - baseline
    print(f"2. /metrics scraped every {SCRAPE_INTERVAL:g} s for {(time.monotonic() - started) / 60:.1f} min "
          f"({scrapes} scrapes): daemon RSS after the {WARM_UP:g} s warm-up {mib(baseline)}, at the end {mib(final)}, "
          f"peak {mib(peak)}: growth {mib(growth)} [target <= {mib(RSS_TARGET)}: "
          f"{'ok' if growth <= RSS_TARGET else 'MISSED'}]; daemon exit {proc.returncode}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to scrape /metrics (default 10)")
    args = parser.parse_args()
    logger.remove()  # the in-process status server's access lines would drown the figures
    tmp = Path(tempfile.mkdtemp(prefix="ad-ops-", dir="/tmp"))
    try:
        bench_render(tmp)
        bench_scrape(tmp, args.minutes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
