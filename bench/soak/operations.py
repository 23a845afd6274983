"""What an operator does to the daemon while it works, and what the soak watches:

- a scraper GETs /status, /metrics and / every second (each must answer 200);
- a sampler reads, every second, the daemon's RSS, open fds, greenlets (/status) and its
  process tree (children, zombies);
- a probe (a process of its own, prober.py) sends a tiny call every PROBE_INTERVAL to the
  idle `probe` server over its own socket and records the round trip, and how much of
  it the daemon's hub thread and the probe server waited for a CPU: what is left is
  the hub's responsiveness (on 2 cores, 60 client slots and their servers keep a
  dozen processes runnable, and a round trip may wait for the kernel far longer than
  for the hub);
- reloads (SIGHUP with a changed config) and the slow-stderr stretch are called by the
  orchestrator at their times."""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from soak.common import descendants, fd_count, http_get, process_table, rss_bytes

PROBER = Path(__file__).with_name("prober.py")
PROBE_INTERVAL = 0.1  # seconds between two probe calls
PROBE_TIMEOUT = 5.0   # seconds before a probe call counts as lost (and the socket is reopened)
STALL = 1.0           # seconds: a probe slower than this, CPU waits left out, is a stall (a failure)


class Watch:
    def __init__(self, run, daemon):
        self.run, self.daemon = run, daemon
        self.samples = []  # dicts: t, rss, fds, greenlets, children, zombies, clients
        self.probes = []   # (t, seconds, of them waiting for a CPU: the machine's share, not the hub's)
        self.scrapes = {"/status": [], "/metrics": [], "/": []}  # (t, seconds) of answered scrapes
        self.scrape_failures = 0
        self.zombies_seen = {}  # pid -> first time seen as a zombie
        self.last_status = None
        self.clients = lambda: 0

    def start(self):
        for target in (self._scrape, self._sample, self._probe):
            threading.Thread(target=target, daemon=True).start()

    def _scrape(self):
        while not self.run.stopping.is_set():
            started = time.monotonic()
            for path in self.scrapes:
                code, body, seconds = http_get(self.daemon.url + path)
                if code != 200:
                    self.scrape_failures += 1
                    self.run.fail("scrapes", f"GET {path}: {code} {body[:120]!r}")
                    continue
                self.scrapes[path].append((self.run.now(), seconds))
                if path == "/status":
                    self.last_status = json.loads(body)
            self.run.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    def _sample(self):
        pid = self.daemon.pid
        while not self.run.stopping.is_set():
            if self.daemon.proc.poll() is not None:
                self.run.fail("daemon_alive", f"the daemon exited {self.daemon.proc.returncode} during the run; "
                              f"stderr tail: {self.daemon.stderr_text()[-600:]!r}")
                self.run.active.clear()
                self.run.stopping.set()
                return
            try:
                tree = descendants(pid, process_table())
                sample = {"t": round(self.run.now(), 1), "rss": rss_bytes(pid), "fds": fd_count(pid),
                          "children": sum(1 for state, _ in tree.values() if state != "Z"),
                          "zombies": sum(1 for state, _ in tree.values() if state == "Z"),
                          "greenlets": (self.last_status or {}).get("daemon", {}).get("greenlets"),
                          "clients": self.clients()}
            except OSError:
                return  # the daemon is gone
            now = time.monotonic()
            zombies = {p for p, (state, _) in tree.items() if state == "Z"}
            for p in zombies:
                first = self.zombies_seen.setdefault(p, now)
                if now - first > 2.0:  # reaped "at once" means well within a sampling period
                    self.run.fail("zombies", f"pid {p} ({tree[p][1][:60]}) a zombie for {now - first:.1f} s")
                    self.zombies_seen[p] = float("inf")
            for p in set(self.zombies_seen) - zombies:
                del self.zombies_seen[p]
            self.samples.append(sample)
            self.run.sleep(1.0)

    def _probe(self):
        """Run the prober (prober.py) and record what it measures."""
        while self.probe_pid() is None:  # the prober accounts for the probe server's CPU waits too
            if self.run.stopping.is_set():
                return
            self.run.sleep(0.1)
        prober = subprocess.Popen([sys.executable, str(PROBER), str(self.daemon.socket("probe")),
                                   str(PROBE_INTERVAL), str(PROBE_TIMEOUT), str(self.daemon.pid),
                                   str(self.probe_pid())], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            for line in prober.stdout:
                if self.run.stopping.is_set():
                    break
                at, took, rest = line.split(" ", 2)
                t = float(at) - self.run.t0  # the same monotonic clock: the run's time
                if took == "lost":
                    self.probes.append((t, PROBE_TIMEOUT, 0.0))
                    self.run.fail("stalls", f"probe lost: {rest.strip()}")
                    continue
                took, waited = float(took), float(rest)
                self.probes.append((t, took, waited))
                if took - waited > STALL:
                    self.run.fail("stalls", f"probe took {took:.2f} s, {waited:.2f} s of it waiting for a CPU")
        finally:
            prober.kill()
            prober.wait()

    def probe_pid(self):
        """The probe server's pid, from the latest /status (None before it is seen)."""
        servers = (self.last_status or {}).get("servers", [])
        return next((s.get("pid") for s in servers if s.get("name") == "probe"), None)

    def baseline(self):
        """The latest fds, greenlets and children (the last sample)."""
        return {k: self.samples[-1][k] for k in ("fds", "greenlets", "children")} if self.samples else None
