"""Shared pieces of the soak: the run's clock and stop flag, the request ledger that
checks "exactly one answer per request", /proc readings and small HTTP helpers.

Everything here is plain threads (no gevent): the soak measures the daemon, it must not
share a hub with it."""
import collections
import json
import os
import random
import sys
import threading
import time
import urllib.request

KiB, MiB = 1024, 1024 * 1024


class Run:
    """The run's shared state: when it started, whether load may go on, the event log.

    ``active`` is set while a wave's load runs (cleared while the soak drains to check
    the baseline); ``stopping`` is set once, at the end."""

    def __init__(self, seed):
        self.t0 = time.monotonic()
        self.active = threading.Event()
        self.stopping = threading.Event()
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.wave = 0  # the wave under way (1-based); slots stagger their start when it changes
        self.notes = []  # (seconds since start, text): what the soak did, for the report
        self.failures = collections.defaultdict(list)  # invariant name -> details of each violation

    def now(self):
        return time.monotonic() - self.t0

    def note(self, text):
        """Record what the soak did (for the report) and say it on stderr as it happens."""
        with self.lock:
            self.notes.append((round(self.now(), 1), text))
        print(f"soak {self.now():7.1f} s: {text}", file=sys.stderr, flush=True)

    def fail(self, invariant, detail):
        with self.lock:
            if len(self.failures[invariant]) < 50:  # enough to debug, bounded
                self.failures[invariant].append(f"t={self.now():.1f}s {detail}")
            else:
                self.failures[invariant].append(None)

    def sleep(self, seconds):
        """Sleep unless the run stops first; False once it is stopping."""
        return not self.stopping.wait(seconds)


def _summary(message):
    """An answer in a few words: which error, or that it was a result."""
    error = message.get("error")
    if isinstance(error, dict):
        return f"error {error.get('code')} {str(error.get('message'))[:120]!r}"
    return "a result"


class Ledger:
    """Every request of every client: sent, answered, how. Ids are globally unique strings
    ``<client>:<n>`` so an answer that reaches the wrong client is recognised.

    A request must get exactly one answer before its client closes cleanly; a client that
    is killed or hangs up mid-request abandons what it had in flight (no answer owed); a
    cancelled request may get no answer or one, never two."""

    def __init__(self, run):
        self.run = run
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.open = {}  # id -> (client, kind, sent at)
        self.answered = {}  # id -> what answered it, in short (for duplicate detection; ~1e6 at most)
        self.troubled = set()  # clients that met a duplicate or foreign answer (their bridge's stderr is kept)
        self.cancelled = set()
        self.closed_cancelled = set()  # cancelled ids whose client closed before any answer

    def sent(self, client, rid, kind):
        with self.lock:
            self.open[rid] = (client, kind, time.monotonic())
            self.counts["requests"] += 1
            self.counts[f"requests:{kind}"] += 1

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def cancel(self, rid):
        with self.lock:
            self.cancelled.add(rid)
            self.counts["cancelled"] += 1

    def answer(self, client, rid, message, check=None):
        """Record an answer reaching ``client``; ``check(message)`` returns an error text
        when a server answer has the wrong content. Returns the request's kind or None."""
        with self.lock:
            entry = self.open.pop(rid, None) if isinstance(rid, str) else None
            if entry is None and rid in self.closed_cancelled:
                # Cancelled, given up on by its client, answered after all (the bridge answers
                # what was in flight when its stdin closed): one late answer is allowed.
                self.closed_cancelled.discard(rid)
                self.answered[rid] = _summary(message)
                self.counts["cancelled_answered_late"] += 1
                return None
            if entry is None and rid is None and message.get("error", {}).get("code") == -32003:
                # The proxy refused the connection (max_children, or every reject slot busy)
                # before it saw a request: null is the only id it can answer; the requests
                # in flight are answered by the bridge when the connection closes.
                self.counts["refused_connections"] += 1
                return None
            if entry is None:
                if rid in self.answered:
                    self.counts["duplicates"] += 1
                    problem = ("duplicate_answers", f"{client} got a second answer to {rid!r}: "
                               f"{_summary(message)}; the first: {self.answered[rid]}")
                else:
                    self.counts["foreign"] += 1
                    problem = ("foreign_answers", f"{client} got an answer to {rid!r}, never asked by anyone: "
                               f"{json.dumps(message)[:160]}")
            elif entry[0] != client:
                self.counts["foreign"] += 1
                problem = ("foreign_answers", f"{client} got {entry[0]}'s answer to {rid!r}")
            else:
                problem = None
                self.answered[rid] = _summary(message)
                if "error" in message:
                    self.counts[f"proxy_error:{message['error'].get('code')}"] += 1
                else:
                    self.counts["server_answers"] += 1
                latency = time.monotonic() - entry[2]
                self.counts["latency_max_ms"] = max(self.counts["latency_max_ms"], int(latency * 1000))
        if problem:
            self.troubled.add(client)
            self.run.fail(*problem)
            return None
        if check and "error" not in message:
            wrong = check(message)
            if wrong:
                with self.lock:
                    self.counts["wrong_content"] += 1
                self.run.fail("wrong_content", f"{client} {rid!r}: {wrong}")
        return entry[1]

    def outstanding(self, client):
        with self.lock:
            return [rid for rid, entry in self.open.items() if entry[0] == client]

    def abandon(self, client, why):
        """The client went away on purpose: what it had in flight is owed nothing."""
        with self.lock:
            for rid in [rid for rid, entry in self.open.items() if entry[0] == client]:
                del self.open[rid]
                self.counts["abandoned"] += 1
                self.counts[f"abandoned:{why}"] += 1

    def close(self, client):
        """The client closes cleanly: anything still open was never answered."""
        with self.lock:
            missing = [rid for rid, entry in self.open.items() if entry[0] == client]
            for rid in missing:
                del self.open[rid]
                if rid in self.cancelled:
                    self.counts["cancelled_unanswered"] += 1
                    self.closed_cancelled.add(rid)
                else:
                    self.counts["missing"] += 1
        for rid in missing:
            if rid not in self.cancelled:
                self.run.fail("missing_answers", f"{client} closed with {rid!r} never answered")

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


# -- /proc -------------------------------------------------------------------------------

def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KiB
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def process_table():
    """pid -> (ppid, state, command line) of every process we can see."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        table[int(name)] = (int(rest[1]), rest[0], cmd)
    return table


def descendants(pid, table=None):
    """{pid: (state, cmd)} of every process below ``pid``."""
    table = table if table is not None else process_table()
    children = collections.defaultdict(list)
    for p, (ppid, _, _) in table.items():
        children[ppid].append(p)
    found, todo = {}, list(children[pid])
    while todo:
        p = todo.pop()
        found[p] = table[p][1:]
        todo.extend(children[p])
    return found


# -- HTTP ------------------------------------------------------------------------------

def http_get(url, timeout=10.0):
    """(status, body bytes, seconds) of a GET; status 0 when it failed to connect."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic() - started
    except OSError as exc:
        return 0, str(exc).encode(), time.monotonic() - started


def status_of(url):
    code, body, _ = http_get(url + "/status")
    return json.loads(body) if code == 200 else None


def text_of(message):
    try:
        return message["result"]["content"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return None
