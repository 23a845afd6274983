"""An agent on the socket side: `agentdeck bridge NAME` as a subprocess, JSON lines on its
stdin and stdout, one life from initialize to a clean close or a kill at a random point.

Every answer goes through the ledger; notifications are checked for routing: progress
only for our own tokens, resources/updated only for the URI we subscribed to."""
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time

from soak import payloads
from soak.daemon import REPO

ANSWER_TIMEOUT = 90.0  # seconds any one request may wait for its answer (faults restart children within ~15 s)


class BridgeClient:
    def __init__(self, fleet, server, cid):
        self.fleet, self.run, self.ledger = fleet, fleet.run, fleet.ledger
        self.server, self.cid = server, cid
        self.rng = fleet.run.random.__class__(fleet.run.random.random())
        self.n = 0
        self.waiters = {}  # rid -> threading.Event, set when answered
        self.uri = f"soak://{cid}"
        self.tokens = set()
        self.proc = None
        self.write_lock = threading.Lock()

    def rid(self):
        self.n += 1
        return f"{self.cid}:{self.n}"

    def send(self, message, check=None, kind=None):
        rid = message.get("id")
        if rid is not None:
            self.waiters[rid] = threading.Event()
            self.ledger.sent(self.cid, rid, kind or message.get("method"))
            self.checks[rid] = check
        with self.write_lock:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        return rid

    def wait(self, rid, timeout=ANSWER_TIMEOUT):
        if not self.waiters[rid].wait(timeout):
            alive = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
            self.run.fail("missing_answers", f"{self.cid} {rid!r} unanswered after {timeout:.0f} s "
                          f"(its bridge: {alive}; its stderr in cli-failures.log)")
            self.ledger.troubled.add(self.cid)
            return False
        return True

    def ask(self, message, check=None, kind=None):
        return self.wait(self.send(message, check, kind))

    def _read(self):
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self.run.fail("garbage_to_client", f"{self.cid} got a non-JSON line {line[:80]!r}")
                continue
            if "method" in message:
                self._incoming(message)
            else:
                rid = message.get("id")
                kind = self.ledger.answer(self.cid, rid, message, self.checks.pop(rid, None))
                if kind is not None and rid in self.waiters:
                    self.waiters[rid].set()

    def _incoming(self, message):
        method, params = message["method"], message.get("params") or {}
        if method == "notifications/progress" and params.get("progressToken") not in self.tokens:
            self.run.fail("misrouted_notifications", f"{self.cid} got progress for {params.get('progressToken')!r}")
        elif method == "notifications/resources/updated" and params.get("uri") != self.uri:
            self.run.fail("misrouted_notifications", f"{self.cid} got resources/updated for {params.get('uri')!r}")
        elif "id" in message:  # a request from the server: roots/list, ping
            answer = {"roots": [{"uri": f"file:///soak/{self.cid}", "name": self.cid}]} \
                if method == "roots/list" else {}
            with self.write_lock:
                self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": answer}).encode()
                                      + b"\n")
                self.proc.stdin.flush()

    def life(self, seconds):
        """Connect, initialize, act for ``seconds``, then close one way or another."""
        self.checks = {}
        notes = tempfile.TemporaryFile()  # the bridge's stderr, kept if this life meets a wrong answer
        self.proc = subprocess.Popen([sys.executable, "-m", "agentdeck", "bridge", self.server], cwd=REPO,
                                     env=self.fleet.daemon.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=notes, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            self._act(seconds)
        except (BrokenPipeError, OSError) as exc:
            self.run.note(f"{self.cid}: bridge pipe broke ({exc})")
            self._kill("broken pipe")
        self.reader.join(timeout=30)
        if self.cid in self.ledger.troubled:
            notes.seek(0)
            with open(self.fleet.daemon.home / "cli-failures.log", "a") as f:
                f.write(f"--- bridge {self.cid} ({self.server}), exit {self.proc.poll()}, its stderr:\n"
                        f"{notes.read().decode(errors='replace')}\n")
        notes.close()

    def _act(self, seconds):
        rng = self.rng
        self.ask(payloads.request(self.rid(), "initialize", payloads.INITIALIZE))
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        if rng.random() < 0.5:
            self.ask(payloads.request(self.rid(), "resources/subscribe", {"uri": self.uri}))
            self.subscribed = True
        else:
            self.subscribed = False
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.run.active.is_set():
            self.action(rng)
            if not self.run.sleep(rng.uniform(0.1, 1.5)):
                break
        pick = rng.random()
        if pick < 0.6 or not self.run.active.is_set():
            self._close()
        elif pick < 0.85:
            self.send(*payloads.slow(self.rid(), 2.0), kind="slow")  # mid-request
            time.sleep(rng.uniform(0.05, 0.5))
            self._kill("mid-request")
        else:
            self._kill("idle")

    def action(self, rng):
        pick = rng.random()
        if pick < 0.45:
            self.ask(*payloads.echo(self.rid(), rng), kind="echo")
        elif pick < 0.6:
            self.ask(*payloads.huge(self.rid(), rng), kind="huge")
        elif pick < 0.7:
            rid = self.rid()
            self.tokens.add(rid)
            self.ask(*payloads.progress(rid, rng.randint(1, 20)), kind="progress")
        elif pick < 0.78 and self.subscribed:
            self.ask(*payloads.updated(self.rid(), self.uri), kind="notify")
        elif pick < 0.86:  # a call cancelled while the server works on it
            rid = self.send(*payloads.slow(self.rid(), 1.5), kind="slow")
            time.sleep(rng.uniform(0.05, 0.5))
            self.ledger.cancel(rid)
            self.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                       "params": {"requestId": rid, "reason": "soak"}})
            self.waiters[rid].wait(3.0)  # an answer may or may not come; never two
        elif pick < 0.92:
            self.ask(payloads.call(self.rid(), "roots", {}), kind="roots")
        else:  # a few requests at once
            rids = [self.send(*payloads.echo(self.rid(), rng), kind="echo") for _ in range(rng.randint(2, 6))]
            for rid in rids:
                self.wait(rid)

    def _close(self):
        """Clean close: everything asked was answered (or is owed), then stdin closes."""
        for rid in list(self.waiters):
            if not self.waiters[rid].is_set() and rid not in self.ledger.cancelled:
                self.wait(rid)
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            code = None
            self.run.fail("bridge_exit", f"{self.cid}: the bridge did not exit 20 s after stdin closed")
            self.proc.kill()
            self.proc.wait()
        if code not in (0, None):
            self.run.fail("bridge_exit", f"{self.cid}: the bridge exited {code} after stdin closed")
        self.ledger.close(self.cid)

    def _kill(self, why):
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        # What the bridge wrote before it died is still in the pipe: read it all before
        # what is left open counts as abandoned, or its late answers look foreign.
        self.reader.join(timeout=30)
        self.ledger.abandon(self.cid, why)
