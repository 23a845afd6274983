"""Agent sessions in waves: each one started with `agentdeck session add` (a tmux
session on the run's private tmux server), fed Claude Code, Codex or Gemini CLI hook
events through `agentdeck hook`, waited on with `agentdeck wait` after every status
change and by one consumer waiting for `dead` all its life; at the wave's end killed and
removed.

Checked: the status the daemon reports matches the last hook event; every transition
gave exactly one update of events/<id>.json (an inotify watch counts them); remove
leaves no hook or event file."""
import collections
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from inotify_simple import INotify, flags

from soak.common import status_of
from soak.daemon import REPO

# Hook scripts per tool: (event payload, status it means, or None for "no change").
CLAUDE = [({"hook_event_name": "SessionStart"}, "waiting"),
          ({"hook_event_name": "UserPromptSubmit", "prompt": "soak the daemon"}, "running"),
          ({"hook_event_name": "PreToolUse", "tool_name": "Bash"}, None),
          ({"hook_event_name": "PostToolUse", "tool_name": "Bash"}, None),
          ({"hook_event_name": "Notification", "notification_type": "permission_prompt"}, "waiting"),
          ({"hook_event_name": "PreToolUse", "tool_name": "Edit"}, "running"),
          ({"hook_event_name": "Stop"}, "waiting"),
          # Claude Code's idle_prompt comes a minute after the turn ended (a Stop after it would be a
          # turn the passes missed: a transition of its own)
          ({"hook_event_name": "Notification", "notification_type": "idle_prompt"}, "waiting")]
CODEX = [({"hook_event_name": "SessionStart"}, "waiting"),
         ({"hook_event_name": "UserPromptSubmit", "prompt": "codex soak"}, "running"),
         ({"type": "agent-turn-complete", "thread-id": "t", "turn-id": "1"}, "waiting"),  # notify: as argument
         ({"hook_event_name": "UserPromptSubmit", "prompt": "again"}, "running"),
         ({"type": "agent-turn-complete", "thread-id": "t", "turn-id": "2"}, "waiting")]
GEMINI = [({"hook_event_name": "SessionStart"}, "waiting"),
          ({"hook_event_name": "BeforeAgent", "prompt": "gemini soak"}, "running"),
          ({"hook_event_name": "BeforeTool", "tool_name": "shell"}, None),
          ({"hook_event_name": "AfterTool", "tool_name": "shell"}, None),
          ({"hook_event_name": "Notification", "notification_type": "ToolPermission"}, "waiting"),
          ({"hook_event_name": "BeforeTool", "tool_name": "write"}, "running"),
          ({"hook_event_name": "AfterAgent"}, "waiting")]
SCRIPTS = {"claude": CLAUDE, "codex": CODEX, "gemini": GEMINI}
WAIT_TIMEOUT = 30  # seconds `agentdeck wait` may take for a status the hook just wrote
STATUS_LAG = 5.0  # seconds /status may take to show the status the event files already show
PROFILES = ("default", "soak-b")


class EventCounter:
    """Counts updates of events/<id>.json (renames into place) with inotify, in a thread."""

    def __init__(self, events_dir):
        os.makedirs(events_dir, exist_ok=True)
        self.inotify = INotify()
        self.inotify.add_watch(str(events_dir), flags.MOVED_TO | flags.CLOSE_WRITE)
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            for event in self.inotify.read():
                if event.name.endswith(".json") and not event.name.startswith("."):
                    with self.lock:
                        self.counts[event.name[:-5]] += 1

    def count(self, instance_id):
        with self.lock:
            return self.counts[instance_id]


class SessionWaves:
    def __init__(self, run, daemon, per_wave, workers=6):
        self.run, self.daemon = run, daemon
        self.per_wave = per_wave
        self.workers = workers
        self.events = EventCounter(daemon.home / "events")
        self.stats = collections.Counter()
        self.lock = threading.Lock()
        self.sessions = []  # (id, tool, expected final status, transitions expected) of the wave
        self.consumers = []  # `agentdeck wait ID --status dead` processes of the wave
        self.rng = run.random.__class__(run.random.random())

    def bump(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def cli(self, *args, input=None, env=None, timeout=60):
        return subprocess.run([sys.executable, "-m", "agentdeck", *args], cwd=REPO, env=env or self.daemon.env,
                              input=input, capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def start_wave(self, wave):
        """Create this wave's sessions and play their hooks (in a pool of threads)."""
        self.sessions, self.consumers = [], []
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(lambda i: self._one(wave, i), range(self.per_wave)))

    def _one(self, wave, i):
        if not self.run.active.is_set():
            return
        tool = ("claude", "codex", "gemini")[i % 3]
        profile = PROFILES[i % 2]
        workdir = self.daemon.home / "projects" / f"w{wave}-{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        added = self.cli("session", "add", str(workdir), "--title", f"soak {wave}.{i}", "--cmd", "sleep 86400",
                         "--profile", profile)
        if added.returncode != 0:
            self.run.fail("sessions", f"session add failed: {added.stderr.strip()[-300:]}")
            with open(self.daemon.home / "cli-failures.log", "a") as f:  # the whole stderr
                f.write(f"--- session add {workdir}: exit {added.returncode}\n{added.stderr}\n")
            return
        sid = added.stdout.strip().split()[-1]
        self.bump("added")
        consumer = subprocess.Popen([sys.executable, "-m", "agentdeck", "wait", sid, "--status", "dead",
                                     "--timeout", "900"], cwd=REPO, env=self.daemon.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        script = SCRIPTS[tool][:self.rng.randint(2, len(SCRIPTS[tool]))]
        status, transitions = "idle", 0
        for payload, new in script:
            payload = {"session_id": f"agent-{sid}", "cwd": str(workdir), **payload}
            env = dict(self.daemon.env, AGENTDECK_INSTANCE_ID=sid)
            if "type" in payload:  # Codex's notify program: the payload is the argument
                hook = self.cli("hook", json.dumps(payload), env=env)
            else:
                hook = self.cli("hook", input=json.dumps(payload), env=env)
            self.bump("hooks")
            if hook.returncode != 0:
                self.run.fail("sessions", f"{sid}: agentdeck hook exited {hook.returncode}")
            if new is not None and new != status:
                status, transitions = new, transitions + 1
                waited = self.cli("wait", sid, "--status", new, "--timeout", str(WAIT_TIMEOUT))
                self.bump("waits")
                if waited.returncode != 0:
                    self.run.fail("session_status", f"{sid} ({tool}): wait --status {new} exited "
                                  f"{waited.returncode}: {waited.stderr.strip()[-300:]}")
                    with open(self.daemon.home / "cli-failures.log", "a") as f:  # the whole stderr
                        f.write(f"--- wait {sid} --status {new}: exit {waited.returncode}\n{waited.stderr}\n")
            time.sleep(self.rng.uniform(0, 0.3))
        with self.lock:
            self.sessions.append((sid, tool, status, transitions))
            self.consumers.append((sid, consumer))

    def end_wave(self):
        """Check final statuses and event counts, then kill and remove every session."""
        # `agentdeck wait` follows the event files; /status serves a list up to a second old
        # (daemon/sessionfeed.py MAX_AGE), so it is read again until it agrees or STATUS_LAG passes.
        deadline = time.monotonic() + STATUS_LAG
        while True:
            status = status_of(self.daemon.url) or {}
            reported = {s["id"]: s["status"] for s in status.get("sessions", [])}
            if all(reported.get(sid) == expected for sid, _, expected, _ in self.sessions) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for sid, tool, expected, _ in self.sessions:
            if reported.get(sid) != expected:
                self.run.fail("session_status", f"{sid} ({tool}): daemon reports {reported.get(sid)!r}, "
                              f"its last hook means {expected!r}")
            else:
                self.bump("status_ok")
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self._kill, self.sessions))
        for sid, consumer in self.consumers:
            try:
                out, err = consumer.communicate(timeout=WAIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                consumer.kill()
                out, err = consumer.communicate()
            if consumer.returncode != 0:
                self.run.fail("session_status", f"{sid}: the consumer waiting for dead exited "
                              f"{consumer.returncode}: {err.strip()[:160]}")
            else:
                self.bump("consumers_ok")
        deadline = time.monotonic() + 10
        for sid, tool, _, transitions in self.sessions:  # +1: the kill's transition to dead
            while self.events.count(sid) < transitions + 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        time.sleep(1.0)  # a duplicate update would arrive about now
        for sid, tool, _, transitions in self.sessions:
            seen = self.events.count(sid)
            if seen != transitions + 1:
                self.run.fail("event_updates", f"{sid} ({tool}): {seen} event-file updates for "
                              f"{transitions + 1} transitions")
            else:
                self.bump("event_counts_ok")
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self._remove, self.sessions))
        self.sessions, self.consumers = [], []

    def abort(self):
        """The run ends early: no consumer outlives it."""
        for _, consumer in self.consumers:
            if consumer.poll() is None:
                consumer.kill()
                consumer.communicate()

    def _kill(self, session):
        sid = session[0]
        killed = self.cli("session", "kill", sid)
        if killed.returncode != 0:
            self.run.fail("sessions", f"session kill {sid}: {killed.stderr.strip()[:160]}")
        self.bump("killed")

    def _remove(self, session):
        sid = session[0]
        removed = self.cli("session", "remove", sid)
        if removed.returncode != 0:
            self.run.fail("sessions", f"session remove {sid}: {removed.stderr.strip()[:160]}")
        left = [p for p in (self.daemon.home / "hooks" / f"{sid}.json", self.daemon.home / "events" / f"{sid}.json")
                if p.exists()]
        if left:
            self.run.fail("sessions", f"remove {sid} left {[str(p) for p in left]}")
        self.bump("removed")
