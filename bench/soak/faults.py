"""Server faults, injected at random while waves run: a child SIGKILLed, made to hang
(stops answering ping), to write a garbage line, a line over max_response_bytes, or to
stop reading its stdin. Each fault class must show in the daemon log as one readable
line and never as a traceback (checked at the end).

Faults that make the daemon restart a child respect its restart policy so the run never
turns a server permanently failed on purpose: per server at most BURST of them, at
least SPACING apart, then REST seconds of peace (the policy forgives failures after 300
s of healthy running)."""
import json
import os
import signal
import socket
import time

from agentdeck.wire.hello import hello_line

from soak.common import status_of
from soak.daemon import MAX_RESPONSE_BYTES, client_servers

RESTARTING = ("kill", "hang", "stop_reading")
HARMLESS = ("garbage", "oversize")
SPACING = 25.0   # seconds between two restarting faults on one server
SETTLE = 15.0    # seconds after a restarting fault before a harmless one on that server
BURST = 3        # restarting faults per server before a rest
FIRST_ROUND_INTERVAL = (2.0, 4.0)  # seconds between attempts until every class was injected once
REST = 330.0     # seconds of rest after a burst (> the policy's HEALTHY_RESET of 300 s)
# The one readable log line each class must produce (a regex on daemon.log).
LOG_LINES = {
    "kill": r"server \S+: pid \d+ killed by signal 9",
    "hang": r"server \S+: pid \d+ .*(ping|answer).*restarting it",
    "stop_reading": r"server \S+: pid \d+ .*restarting it",
    "garbage": r"server \S+: ignored a stdout line",
    "oversize": r"server \S+: \d+-byte line from the server, over max_response_bytes",
}


class FaultInjector:
    def __init__(self, run, daemon, interval=(6.0, 14.0)):
        self.run, self.daemon = run, daemon
        self.interval = interval
        self.done = []  # (t, class, server, detail)
        self.budget = {}  # server -> [times of restarting faults in the current burst]
        self.rng = run.random.__class__(run.random.random())

    def targets(self):
        return [*client_servers(), "time"]

    def allowed(self, server, now):
        times = self.budget.setdefault(server, [])
        if len(times) >= BURST:
            if now - times[-1] < REST:
                return False
            times.clear()
        return not times or now - times[-1] >= SPACING

    def loop(self):
        # Every class early, so a short run sees all of them: the restarting ones first (one
        # server takes one only every SPACING seconds), the harmless ones after, close together.
        restarting, harmless = list(RESTARTING), list(HARMLESS)
        self.rng.shuffle(restarting)
        self.rng.shuffle(harmless)
        first = restarting + harmless
        while not self.run.stopping.is_set():
            pause = FIRST_ROUND_INTERVAL if first else self.interval
            if not self.run.active.wait(1.0) or not self.run.sleep(self.rng.uniform(*pause)):
                continue
            if not self.run.active.is_set():
                continue
            status = status_of(self.daemon.url)
            running = {s["name"]: s for s in (status or {}).get("servers", []) if s.get("state") == "running"}
            now = time.monotonic()
            # A restarting fault needs a standing child: a project or session server may have none.
            choices = [(kind, server) for kind in RESTARTING for server in self.targets()
                       if server in running and running[server].get("pid") and self.allowed(server, now)
                       and (kind == "kill" or server != "time")]
            # Not on the session server: a connection of our own may find it at max_children;
            # nor on one whose child a restarting fault hit lately: it answers -32001 then.
            choices += [(kind, server) for kind in HARMLESS for server in client_servers()
                        if server in running and server != "session"
                        and now - max(self.budget.get(server) or [-SETTLE]) >= SETTLE]
            if first:
                wanted = [c for c in choices if c[0] == first[0]]
                if not wanted:
                    continue
                first.pop(0)
                choices = wanted
            if not choices:
                continue
            kind, server = self.rng.choice(choices)
            try:
                detail = self.inject(kind, server, running[server])
            except OSError as exc:
                detail = f"could not inject: {exc}"
            if kind in RESTARTING:
                self.budget[server].append(now)
            self.done.append((round(self.run.now(), 1), kind, server, detail))
            self.run.note(f"fault {kind} on {server}: {detail}")

    def inject(self, kind, server, info):
        if kind == "kill":
            os.kill(info["pid"], signal.SIGKILL)
            return f"SIGKILL pid {info['pid']}"
        tool, arguments = {"hang": ("hang", {}), "stop_reading": ("stop_reading", {}),
                           "garbage": ("garbage", {}),
                           "oversize": ("huge", {"bytes": MAX_RESPONSE_BYTES + 1024 * 1024})}[kind]
        reply = self.call(server, tool, arguments)
        if kind == "oversize":
            code = (reply or {}).get("error", {}).get("code")
            if code != -32002:
                self.run.fail("fault_answers", f"oversize answer on {server} got {str(reply)[:200]} not -32002")
            return f"answered {code}"
        return "answered " + ("ok" if reply and "result" in reply else str(reply)[:100])

    def call(self, server, tool, arguments, timeout=30.0):
        """One tools/call on a connection of our own; the answer (or None)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(self.daemon.socket(server)))
            f = s.makefile("rwb")
            project = self.daemon.home / "projects" / "faults"  # a project server's faults hit a child of their own
            project.mkdir(parents=True, exist_ok=True)
            f.write(hello_line(str(project.resolve())))  # as the bridge does; a server shared by all ignores it
            for message in ({"jsonrpc": "2.0", "id": "fault-init", "method": "initialize",
                             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                        "clientInfo": {"name": "soak-faults", "version": "1"}}},
                            {"jsonrpc": "2.0", "method": "notifications/initialized"},
                            {"jsonrpc": "2.0", "id": "fault", "method": "tools/call",
                             "params": {"name": tool, "arguments": arguments}}):
                f.write(json.dumps(message).encode() + b"\n")
            f.flush()
            try:
                for line in f:
                    message = json.loads(line)
                    if message.get("id") == "fault":
                        return message
            except (socket.timeout, ValueError):
                return None
        return None

    def classes_seen(self):
        return sorted({kind for _, kind, _, _ in self.done})
