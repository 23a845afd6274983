"""The run: start the daemon, the watchers, the fleet, the faults; play the waves
(load, then drain and check the baseline); the reloads and the slow-stderr stretch at
their times; SIGTERM; evaluate and report."""
import threading
import time

from agentdeck.daemon.malloc import TRIM_INTERVAL

from soak.clients import Fleet
from soak.common import Ledger, Run, status_of
from soak.daemon import SoakDaemon, servers, standing_children
from soak.faults import FaultInjector
from soak.invariants import evaluate, floor
from soak.operations import Watch
from soak.report import data, render
from soak.sessions import SessionWaves

SETTLE_TIMEOUT = 45.0  # seconds a drained daemon has to come back to its baseline
RAMP = 20.0  # seconds of a wave before its load is steady (clients starting on 2 cores)


def settle(run, daemon, watch, base, stage):
    """Wait until the daemon's fds, greenlets and children are back at ``base`` (and every
    server of ``stage`` is running); returns the wave's record."""
    started = time.monotonic()
    want_children = standing_children(stage)
    while True:
        time.sleep(1.0)
        last = watch.samples[-1]
        st = watch.last_status or {}
        running = sum(1 for s in st.get("servers", []) if s.get("state") == "running")
        # A 2026-07-28 request leaves nothing behind once answered (or hung up on).
        modern_left = sum(s.get("http_requests", 0) for s in st.get("servers", []))
        ok = (last["fds"] <= base["fds"] and (last["greenlets"] or 0) <= base["greenlets"]
              and last["children"] == base["children"] == want_children and running == len(servers(stage))
              and modern_left == 0)
        if not ok and time.monotonic() - started > SETTLE_TIMEOUT:
            run.note(f"not back at baseline: {diagnose(daemon, st)}")
        if ok or time.monotonic() - started > SETTLE_TIMEOUT:
            settled = time.monotonic() - started
            return {"fds": last["fds"], "greenlets": last["greenlets"], "children": last["children"],
                    "modern_left": modern_left, "base": base, "ok": ok, "settle": settled, "rss": quiet_rss(watch)}


def quiet_rss(watch):
    """The daemon's RSS at rest: the lowest sample over the next heap trim's interval (what
    a burst left free is given back by then)."""
    since = len(watch.samples)
    time.sleep(TRIM_INTERVAL + 1.0)
    return min(s["rss"] for s in watch.samples[since - 1:])


def diagnose(daemon, status):
    """What the daemon holds: its fds by kind, and each server's clients and streams."""
    import collections
    import os
    kinds = collections.Counter()
    for fd in os.listdir(f"/proc/{daemon.pid}/fd"):
        try:
            kinds[os.readlink(f"/proc/{daemon.pid}/fd/{fd}").split(":")[0].split("/")[-1][:20]] += 1
        except OSError:
            pass
    servers = {s["name"]: {k: s[k] for k in ("socket_clients", "http_sessions", "in_flight", "state")}
               for s in status.get("servers", [])}
    try:
        import subprocess
        ss = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        tcp = collections.Counter(line.split()[0] for line in ss.splitlines() if f"pid={daemon.pid}," in line)
    except OSError:
        tcp = {}
    return f"fds {dict(kinds)}; tcp {dict(tcp)}; servers {servers}; http {status.get('http')}"


def check_reload(run, daemon, stage):
    """After SIGHUP to ``stage``: the added server answers, the removed one is gone."""
    added, removed = ("extra", "spare") if stage == 1 else ("spare", "extra")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = status_of(daemon.url) or {}
        names = {s["name"]: s["state"] for s in st.get("servers", [])}
        if names.get(added) == "running" and removed not in names and not daemon.socket(removed).exists():
            return {"ok": True, "detail": f"stage {stage}: {added} running, {removed} gone"}
        time.sleep(0.5)
    return {"ok": False, "detail": f"stage {stage}: servers {names} after 20 s"}


def soak(args):
    run = Run(args.seed)
    daemon = SoakDaemon(run)
    daemon.start()
    run.note(f"daemon pid {daemon.pid}, home {daemon.home}, servers {sorted(servers(0))}")
    ledger = Ledger(run)
    watch = Watch(run, daemon)
    fleet = Fleet(run, daemon, ledger, args.bridges, args.https, args.moderns, args.sdks, life=args.life)
    watch.clients = fleet.clients
    faults = FaultInjector(run, daemon)
    n_waves = max(2, int(args.duration // args.wave))
    sessions = SessionWaves(run, daemon, per_wave=max(1, args.sessions // n_waves))
    watch.start()
    time.sleep(3.0)
    pre = watch.baseline()
    run.note(f"quiet before any load: {pre}")
    fleet.start()
    threading.Thread(target=faults.loop, daemon=True).start()
    wave_seconds = args.duration / n_waves
    schedule = sorted([(args.duration * 0.35, "reload", 1), (args.duration * 0.7, "reload", 2),
                       (args.duration * 0.15, "stderr", min(60.0, args.duration * 0.1))])
    waves, reloads, stage, base = [], [], 0, None
    for wave in range(1, n_waves + 1):
        if run.stopping.is_set():
            break
        wave_start, wave_end = run.now(), run.now() + wave_seconds - args.drain
        run.note(f"wave {wave} starts ({sessions.per_wave} sessions)")
        run.wave = wave
        run.active.set()
        session_thread = threading.Thread(target=sessions.start_wave, args=(wave,), daemon=True)
        session_thread.start()
        while run.now() < wave_end and not run.stopping.is_set():
            while schedule and schedule[0][0] <= run.now():
                _, what, value = schedule.pop(0)
                if what == "reload":
                    daemon.reload(value)
                    stage = value
                    reloads.append(check_reload(run, daemon, value))
                    run.note(reloads[-1]["detail"])
                else:
                    daemon.read_stderr_slowly(value)
            time.sleep(0.5)
        run.active.clear()
        run.note(f"wave {wave} drains")
        session_thread.join()
        idle = fleet.wait_idle(90)
        sessions.end_wave()
        if not idle:
            run.fail("soak_errors", f"wave {wave}: {fleet.clients()} clients still busy after 90 s")
        load_rss = floor([s["rss"] for s in watch.samples if wave_start + RAMP <= s["t"] < wave_end] or [0])
        if base is None:  # the quiet state after the first wave is the baseline of the others
            time.sleep(5.0)
            base = settle(run, daemon, watch, {"fds": 10 ** 6, "greenlets": 10 ** 6,
                                               "children": standing_children(stage)}, stage)
            base = {"fds": base["fds"], "greenlets": base["greenlets"], "children": base["children"],
                    "rss": base["rss"], "load_rss": load_rss}
            run.note(f"baseline after wave 1: {base}")
            continue
        waves.append(dict(settle(run, daemon, watch, base, stage), wave=wave, load_rss=load_rss))
        run.note(f"wave {wave} quiet: {waves[-1]}")
    run.stopping.set()
    time.sleep(1.5)
    sessions.abort()
    stop = daemon.stop()
    run.note(f"stopped: exit {stop[0]} in {stop[1]:.2f} s")
    rows = evaluate(run, ledger, watch, waves, faults, sessions, stop, daemon.daemon_log() + daemon.stderr_text(), reloads)
    text = render(rows, watch.samples, watch.probes, ledger, fleet, sessions, faults, waves, run,
                  f"{args.duration:.0f} s, {args.bridges} bridge + {args.https} HTTP + {args.moderns} HTTP "
                  f"2026-07-28 + {args.sdks} SDK client slots, "
                  f"{args.sessions} sessions, seed {args.seed}")
    daemon.cleanup(keep=args.keep or not all(ok for _, ok, _ in rows))
    return rows, text, data(watch.samples, watch.probes, rows, waves), daemon.home
