"""The deck with many sessions, run by hand (not in CI):

    .venv/bin/python bench/deck_bench.py                   # 500 sessions
    .venv/bin/python bench/deck_bench.py --sessions 100 --idle 10
    .venv/bin/python bench/deck_bench.py --compare HEAD~1  # also the deck of another revision

It starts a real daemon in a temporary home with a private tmux server, registers N
real tmux sessions (each running `sleep`, a quarter of them told by a hook that they
wait, a quarter that they run), and prints:

1. idle CPU: `agentdeck deck` in a real tmux pane (150x45) left alone for --idle seconds,
   its CPU time and its children's (the tmux commands of the preview) from /proc, as a
   percentage of one core (target: under 1 %). Baseline in the same run: a Textual app
   showing one line, in the same kind of pane;
2. redraw latency of a key press: the deck under Textual's headless pilot, `down` pressed
   KEY_PRESSES times, each timed from the press to the next frame composed and rendered
   to terminal text (which a headless app does not write), p50/p99 (target: within 50 ms).
   Baseline in the same run: a bare DataTable of the same N rows and seven columns, the
   same key;
3. hook to screen: a hook written for one session until its row shows the new status, median.

Each measurement of a deck runs in a process of its own (`--child`), so the deck of
another revision (`--compare REV`, its tree from `git archive`) is measured the same way.
"""
import sys

if "--child" not in sys.argv:  # the parent registers sessions through Pony; a deck never runs under gevent
    from gevent import monkey
    monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PANE = ("150", "45")
KEY_PRESSES = 200
HOOK_ROUNDS = 10
CPU_TARGET = 1.0       # % of one core, idle
KEY_TARGET = 0.050     # seconds from a key press to the redrawn screen
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def pane_pid(outer, name):
    out = subprocess.run(["tmux", "-S", outer, "list-panes", "-t", f"={name}:", "-F", "#{pane_pid}"],
                         capture_output=True, text=True, timeout=10).stdout.split()
    return int(out[0])


def idle_cpu(outer, name, command, env, seconds, ready):
    """% of a core used by ``command`` in a fresh pane over ``seconds`` after ``ready(screen)``."""
    subprocess.run(["tmux", "-S", outer, "new-session", "-d", "-s", name, "-x", PANE[0], "-y", PANE[1],
                    *(f"-e{k}={v}" for k, v in env.items()), "exec " + command], check=True, timeout=10)
    pid = pane_pid(outer, name)
    deadline = time.monotonic() + 60
    while not ready(subprocess.run(["tmux", "-S", outer, "capture-pane", "-p", "-t", f"={name}:"],
                                   capture_output=True, text=True, timeout=10).stdout):
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not come up within 60 s")
        time.sleep(0.2)
    time.sleep(2.0)  # start-up work done
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used, elapsed = cpu_seconds(pid) - before, time.monotonic() - started
    subprocess.run(["tmux", "-S", outer, "kill-session", "-t", f"={name}"], timeout=10)
    return 100.0 * used / elapsed


BASELINE_APP = """
from textual.app import App
from textual.widgets import Static
class Baseline(App):
    def compose(self):
        yield Static("baseline-ready")
Baseline().run()
"""


# -- the child: one deck (this tree or REV's), headless, timed ------------------------

async def measure_keys(home, config, sessions, presses):
    from agentdeck.deck.app import DeckApp
    from agentdeck.sessions.hook import record_event

    app = DeckApp(home, config=config)
    result = {}
    async with app.run_test(size=(150, 45)) as pilot:
        deadline = time.monotonic() + 120
        while len(app.table.order) < sessions:
            if time.monotonic() > deadline:
                raise SystemExit(f"the deck showed {len(app.table.order)} of {sessions} sessions after 120 s")
            await pilot.pause(0.1)
        await pilot.pause(1.0)
        result["keys"] = await time_keys(pilot, presses)
        # hook -> screen
        hooks = []
        for round_ in range(HOOK_ROUNDS):
            target = app.table.order[-1]  # an idle or dead one at the bottom: it moves to the top
            event = "Stop" if round_ % 2 == 0 else "UserPromptSubmit"
            status = "waiting" if event == "Stop" else "running"
            started = time.monotonic()
            record_event([json.dumps({"hook_event_name": event, "session_id": "bench"})], None,
                         {"AGENTDECK_INSTANCE_ID": target, "AGENTDECK_HOME": str(home)})
            while app.table.shown.get(target, ("",) * 4)[3] != status:
                if time.monotonic() - started > 10:
                    raise SystemExit("a hook did not reach the screen within 10 s")
                await pilot.pause(0.005)
            hooks.append(time.monotonic() - started)
        result["hook"] = statistics.median(hooks)
    return result


async def time_keys(pilot, presses):
    """Seconds from each key press to the next frame the app composed and rendered to
    terminal text (headless, the frame is not written; its text is still made)."""
    app = pilot.app
    frames = []
    display = app._display

    def timed_display(screen, renderable):
        if renderable is not None:
            if hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            frames.append(time.monotonic())
        display(screen, renderable)
    app._display = timed_display
    times = []
    for n in range(presses):
        await pilot.pause(0.02)  # let the previous frame go: each press starts from rest
        started = time.monotonic()
        await pilot.press("down" if n % 40 < 20 else "up")
        deadline = started + 5
        while not any(t > started for t in frames):
            if time.monotonic() > deadline:
                raise SystemExit("no frame within 5 s of a key press")
            await pilot.pause(0.001)
        times.append(next(t for t in frames if t > started) - started)
        frames.clear()
    times.sort()
    return {"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99) - 1]}


async def measure_baseline(rows, presses):
    from textual.app import App
    from textual.widgets import DataTable

    class Table(App):
        def compose(self):
            yield DataTable(cursor_type="row")

        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("TITLE", "PROJECT", "TOOL", "STATUS", "FOR", "WHY", "LATEST PROMPT")
            for n in range(rows):
                table.add_row(f"session {n}", "project", "claude", "idle", "3m", "", f"prompt number {n}")
            table.focus()

    async with Table().run_test(size=(150, 45)) as pilot:
        await pilot.pause(0.5)
        return {"keys": await time_keys(pilot, presses)}


def child(args):
    import asyncio
    if args.child == "baseline":
        result = asyncio.run(measure_baseline(args.sessions, args.presses))
    else:
        result = asyncio.run(measure_keys(Path(args.home), args.config, args.sessions, args.presses))
    print(json.dumps(result))


# -- the parent: daemon, sessions, children -------------------------------------------

@contextlib.contextmanager
def trees(compare):
    """[(label, PYTHONPATH)]: this checkout, and REV's tree when asked."""
    found = [("this", str(REPO))]
    temp = None
    if compare:
        temp = tempfile.mkdtemp(prefix="deck-rev-")
        archive = subprocess.run(["git", "-C", str(REPO), "archive", compare], capture_output=True, timeout=60)
        if archive.returncode != 0:
            raise SystemExit(f"git archive {compare}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", temp], input=archive.stdout, check=True, timeout=60)
        if (Path(temp) / "agentdeck" / "deck").exists():
            found.append((compare, temp))
        else:
            print(f"({compare} has no deck: only this checkout is measured)")
    try:
        yield found
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


def run_child(pythonpath, env, *args):
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=900,
                          env={**env, "PYTHONPATH": pythonpath})
    if proc.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_sessions(home, count):
    from agentdeck.paths import Home
    from agentdeck.sessions.control import SessionControl
    from agentdeck.sessions.hook import record_event
    from agentdeck.sessions.registry import Registry
    from agentdeck.sessions.tmux import Tmux
    from agentdeck.sessions.transcript import PromptCache

    deck_home = Home(home).ensure()
    registry = Registry(deck_home)
    project = Path(home) / "project"
    project.mkdir(exist_ok=True)
    try:
        control = SessionControl(deck_home, registry, Tmux(), PromptCache())
        for n in range(count):
            record = control.add(str(project), title=f"agent {n:03d}", command="sleep 3600")
            event = {0: "Stop", 1: "UserPromptSubmit"}.get(n % 4)
            if event:
                record_event([json.dumps({"hook_event_name": event, "session_id": f"s{n}",
                                          "prompt": f"make change number {n}"})], None,
                             {"AGENTDECK_INSTANCE_ID": record.id, "AGENTDECK_HOME": str(home)})
    finally:
        registry.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured per variant")
    parser.add_argument("--presses", type=int, default=KEY_PRESSES)
    parser.add_argument("--compare", metavar="REV", help="also measure the deck of git revision REV")
    parser.add_argument("--child", choices=("deck", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sys.path.insert(0, str(REPO))
    from tests.support import toml_config

    home = Path(tempfile.mkdtemp(prefix="dkb-", dir="/tmp"))
    tmux_socket, outer = str(home / "tmux.sock"), str(home / "outer.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "PYTHONPATH")}
    env.update(AGENTDECK_HOME=str(home), AGENTDECK_TMUX_SOCKET=tmux_socket, TERM="xterm-256color")
    os.environ.update(AGENTDECK_HOME=str(home), AGENTDECK_TMUX_SOCKET=tmux_socket)
    config = home / "agentdeck.toml"
    config.write_text(toml_config(home))
    daemon = None
    try:
        started = time.monotonic()
        make_sessions(home, args.sessions)
        print(f"deck benchmark: {args.sessions} sessions (registered in {time.monotonic() - started:.1f} s), "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        daemon = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(config)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while not (home / "daemon.json").exists():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("the daemon did not start")
            time.sleep(0.1)
        with trees(args.compare) as found:
            print(f"\n1. idle CPU over {args.idle:g} s in a {'x'.join(PANE)} tmux pane, deck and its children "
                  f"(target: under {CPU_TARGET:g} % of a core)")
            base = idle_cpu(outer, "baseline", f"{sys.executable} -c '{BASELINE_APP}'", env, args.idle,
                            lambda screen: "baseline-ready" in screen)
            print(f"   {'baseline (one-line Textual app)':34} {base:6.2f} %")
            for label, tree in found:
                cpu = idle_cpu(outer, f"deck-{len(label)}", f"{sys.executable} -m agentdeck deck --config {config}",
                               {**env, "PYTHONPATH": tree}, args.idle,
                               lambda screen: "live" in screen and "agent" in screen)
                ratio = f"x{cpu / base:.2f}" if base else "n/a (baseline 0)"
                print(f"   {'deck ' + label:34} {cpu:6.2f} %   {ratio} baseline   "
                      f"{'ok' if cpu < CPU_TARGET else 'OVER TARGET'}")
            print(f"\n2. redraw latency of a key press, {args.presses} presses, headless "
                  f"(target: within {KEY_TARGET * 1000:g} ms)")
            base = run_child(str(REPO), env, "--child", "baseline", "--sessions", str(args.sessions),
                             "--presses", str(args.presses))["keys"]
            print(f"   {'baseline (bare DataTable, same rows)':38} p50 {base['p50'] * 1000:6.1f} ms   "
                  f"p99 {base['p99'] * 1000:6.1f} ms")
            hooks = []
            for label, tree in found:
                result = run_child(tree, env, "--child", "deck", "--home", str(home), "--config", str(config),
                                   "--sessions", str(args.sessions), "--presses", str(args.presses))
                keys = result["keys"]
                print(f"   {'deck ' + label:38} p50 {keys['p50'] * 1000:6.1f} ms   p99 {keys['p99'] * 1000:6.1f} ms"
                      f"   x{keys['p50'] / base['p50']:.2f} baseline (p50)   "
                      f"{'ok' if keys['p99'] <= KEY_TARGET else 'OVER TARGET'}")
                hooks.append((label, result["hook"]))
            print(f"\n3. a hook to the screen, median of {HOOK_ROUNDS} (the issue's bound: 1 s)")
            for label, seconds in hooks:
                print(f"   {'deck ' + label:38} {seconds * 1000:6.1f} ms")
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=30)
        for socket in (outer, tmux_socket):
            subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
