"""The client fleet: socket agents (through `agentdeck bridge`), raw HTTP agents of both
eras (2025 sessions, 2026-07-28 requests with no session) and SDK agents (subprocesses,
each life in one connect mode: legacy, auto or 2026-07-28), each slot living one random
life after another while a wave is active. Slots are plain threads.

A server shared per session has no session to give a 2026-07-28 client (the front door
sends it to initialize), so modern lives pick among the others."""
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from soak.daemon import client_servers
from soak.httpclient import HttpClient
from soak.modernclient import ModernHttpClient
from soak.socketclient import BridgeClient

SDK_WORKER = Path(__file__).resolve().parent / "sdk_worker.py"
SDK_MODES = ("legacy", "auto", "2026-07-28")
CLIENTS = {"bridge": BridgeClient, "http": HttpClient, "modern": ModernHttpClient}


def servers_for(modern):
    return [s for s in client_servers() if not (modern and s == "session")]


class Fleet:
    def __init__(self, run, daemon, ledger, bridges, https, moderns, sdks, life=(20, 90)):
        self.run, self.daemon, self.ledger = run, daemon, ledger
        self.sizes = {"bridge": bridges, "http": https, "modern": moderns, "sdk": sdks}
        self.life = life  # seconds: (shortest, longest) life of one client
        self.live = dict.fromkeys(self.sizes, 0)
        self.lives = dict.fromkeys(self.sizes, 0)
        self.sdk_lives = dict.fromkeys(SDK_MODES, 0)
        self.lock = threading.Lock()
        self.sdk_counts = {}
        self.threads = []

    def start(self):
        for kind, n in self.sizes.items():
            for i in range(n):
                t = threading.Thread(target=self._slot, args=(kind, i), name=f"{kind}-{i}", daemon=True)
                t.start()
                self.threads.append(t)

    def clients(self):
        with self.lock:
            return sum(self.live.values())

    def _slot(self, kind, i):
        rng = self.run.random.__class__(self.run.random.random())
        n, wave = 0, 0
        while not self.run.stopping.is_set():
            if not self.run.active.wait(1.0):
                continue
            if wave != self.run.wave:  # a new wave: do not all start in the same second
                wave = self.run.wave
                if not self.run.sleep(rng.uniform(0, 10)) or not self.run.active.is_set():
                    continue
            n += 1
            seconds = rng.uniform(*self.life)
            with self.lock:
                self.live[kind] += 1
                self.lives[kind] += 1
            try:
                if kind == "sdk":
                    self._sdk_life(rng, f"sdk{i}.{n}", seconds, SDK_MODES[(i + n) % len(SDK_MODES)])
                else:
                    server = rng.choice(servers_for(kind == "modern"))
                    CLIENTS[kind](self, server, f"{kind}{i}.{n}").life(seconds)
            except Exception as exc:  # a bug of the soak itself: say so, keep the slot going
                self.run.fail("soak_errors", f"{kind}{i}.{n}: {type(exc).__name__}: {exc}")
            finally:
                with self.lock:
                    self.live[kind] -= 1
            self.run.sleep(rng.uniform(0.2, 2.0))

    def _sdk_life(self, rng, cid, seconds, mode):
        server = rng.choice([*servers_for(mode != "legacy"), "time"])
        with self.lock:
            self.sdk_lives[mode] += 1
        proc = subprocess.Popen([sys.executable, str(SDK_WORKER), self.daemon.mcp_url(server, rng), str(seconds),
                                 str(rng.randint(0, 10 ** 9)), mode], env=self.daemon.env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        kill_at = time.monotonic() + rng.uniform(2, seconds) if rng.random() < 0.25 else None
        deadline = time.monotonic() + seconds + 120
        while proc.poll() is None:
            now = time.monotonic()
            if (kill_at and now > kill_at) or not self.run.active.is_set() or now > deadline:
                # killed at a random point (mid-request as likely as not), or the wave ends
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                if now > deadline:
                    self.run.fail("sdk_clients", f"{cid}: the SDK client did not finish 120 s after its life")
                self._add_sdk({"killed": 1})
                return
            time.sleep(0.2)
        out, _ = proc.communicate()
        if proc.returncode != 0 or not out.strip():
            self.run.fail("sdk_clients", f"{cid} ({mode}): the SDK client exited {proc.returncode}")
            return
        counts = json.loads(out.strip().splitlines()[-1])
        if counts.get("wrong"):
            self.run.fail("wrong_content", f"{cid} ({mode}): {counts['wrong']} SDK calls got another answer")
        self._add_sdk(counts)

    def _add_sdk(self, counts):
        with self.lock:
            for key, value in counts.items():
                if isinstance(value, dict):
                    inner = self.sdk_counts.setdefault(key, {})
                    for k, v in value.items():
                        inner[k] = inner.get(k, 0) + v
                else:
                    self.sdk_counts[key] = self.sdk_counts.get(key, 0) + value

    def wait_idle(self, timeout):
        """After ``run.active`` is cleared: wait until every life has ended."""
        deadline = time.monotonic() + timeout
        while self.clients() and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.clients() == 0
