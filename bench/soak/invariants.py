"""The invariants of the soak, each a row (name, passed, detail) computed from what the
run recorded. Violations seen while running are in ``run.failures`` (by name); the rest
is computed here at the end from the samples, the log and the stop."""
import re

from soak.common import MiB
from soak.faults import LOG_LINES

RSS_SLACK = 4 * MiB  # RSS stays within this of wave 1's, under load and at rest
STOP_LIMIT = 10.0    # seconds


def per_minute(samples, key, t_key="t"):
    """minute (1-based) -> list of values."""
    minutes = {}
    for s in samples:
        minutes.setdefault(int(s[t_key] // 60) + 1, []).append(s[key])
    return minutes


def floor(values):
    """The 10th percentile: what is held between the messages in flight (a 5 MiB answer
    passing through lifts the samples of its seconds, not this)."""
    ordered = sorted(values)
    return ordered[int(0.1 * (len(ordered) - 1))]


def rss_levels(samples):
    """minute -> the RSS level of that minute: its floor."""
    return {m: floor(v) for m, v in per_minute(samples, "rss").items()}


def rss_row(waves):
    """RSS compared like with like, wave by wave against wave 1: the level under load (the
    floor of a wave's samples once its clients are up) and the RSS at rest after it. A
    minute's level depends on which minutes a drain falls in and how many large calls
    happen to be in flight; a wave's does not. Growth is what must not happen; a level
    below wave 1's is memory given back (the heap trim), not a failure."""
    name = "RSS at most 4 MiB above wave 1's, under load and at rest"
    if not waves:
        return (name, False, "the run had a single wave")
    base = waves[0]["base"]
    load = [(w["wave"], w["load_rss"] - base["load_rss"]) for w in waves]
    rest = [(w["wave"], w["rss"] - base["rss"]) for w in waves]
    ok = max(v for _, v in load) <= RSS_SLACK and max(v for _, v in rest) <= RSS_SLACK

    def spread(pairs):
        low, high = min(pairs, key=lambda p: p[1]), max(pairs, key=lambda p: p[1])
        return f"{low[1] / MiB:+.2f} (wave {low[0]}) to {high[1] / MiB:+.2f} MiB (wave {high[0]})"
    return (name, ok, f"under load {base['load_rss'] / MiB:.1f} MiB in wave 1, later waves {spread(load)}; "
                      f"at rest {base['rss'] / MiB:.1f} MiB after wave 1, later waves {spread(rest)}")


def failures_of(run, *names):
    found = []
    for name in names:
        found += [f for f in run.failures.get(name, []) if f]
    more = sum(1 for name in names for f in run.failures.get(name, []) if f is None)
    return found, more


def row(run, name, names, ok_detail):
    found, more = failures_of(run, *names)
    if found:
        detail = f"{len(found) + more} violations; first: " + " | ".join(found[:3])
        return (name, False, detail)
    return (name, True, ok_detail)


def evaluate(run, ledger, watch, waves, faults, sessions, stop, log_text, reloads):
    counts = ledger.snapshot()
    rows = []
    modern = sum(v for k, v in counts.items() if k.startswith("requests:modern-"))
    answered = counts.get("server_answers", 0) + sum(v for k, v in counts.items() if k.startswith("proxy_error:"))
    rows.append(row(run, "every request got exactly one answer (its own)",
                    ("missing_answers", "duplicate_answers", "foreign_answers", "wrong_content", "garbage_to_client",
                     "misrouted_notifications", "http_status", "resume", "http_client_error", "sdk_clients",
                     "bridge_exit", "fault_answers"),
                    f"{counts.get('requests', 0)} requests ({modern} of them MCP 2026-07-28, no session): "
                    f"{counts.get('server_answers', 0)} server answers, "
                    f"{answered - counts.get('server_answers', 0)} proxy errors, {counts.get('abandoned', 0)} "
                    f"abandoned by a client that left on purpose, 0 missing, 0 duplicate, 0 foreign, 0 wrong"))
    rows.append(row(run, "the daemon stayed up until SIGTERM", ("daemon_alive",), "up all along"))
    rows.append(row(run, "no zombie processes at any time", ("zombies",),
                    f"{len(watch.samples)} process-tree samples, none with a zombie older than 2 s"))
    code, took, left = stop
    ok = code == 0 and took <= STOP_LIMIT and not left
    rows.append(("SIGTERM: exit 0 within 10 s, no child/socket/temp file left", ok,
                 f"exit {code} after {took:.2f} s" + ("; " + "; ".join(left[:5]) if left else "; nothing left")))
    bad = [w for w in waves if not w["ok"]]
    rows.append(("fds, greenlets, children back to baseline after each wave, no 2026-07-28 request left",
                 not bad and bool(waves),
                 "; ".join(f"wave {w['wave']}: fds {w['fds']}/{w['base']['fds']} greenlets {w['greenlets']}/"
                           f"{w['base']['greenlets']} children {w['children']}/{w['base']['children']} "
                           f"2026-07-28 requests {w['modern_left']}"
                           f"{'' if w['ok'] else ' NOT BACK'}" for w in waves)))
    rows.append(rss_row(waves))
    rows.append(row(run, "sessions: final status = last hook; one event-file update per transition",
                    ("session_status", "event_updates", "sessions"),
                    f"{sessions.stats['added']} sessions, {sessions.stats['hooks']} hooks, {sessions.stats['waits']} "
                    f"waits; {sessions.stats['status_ok']} statuses, {sessions.stats['event_counts_ok']} event "
                    f"counts and {sessions.stats['consumers_ok']} dead-consumers right"))
    tracebacks = log_text.count("Traceback")  # daemon.log and the daemon's stderr
    missing = [k for k in faults.classes_seen() if not re.search(LOG_LINES[k], log_text)]
    not_injected = sorted(set(LOG_LINES) - set(faults.classes_seen()))
    rows.append(("daemon log: no traceback; every fault class as one readable line",
                 not tracebacks and not missing and not not_injected,
                 f"{tracebacks} tracebacks; {len(faults.done)} faults injected "
                 f"({', '.join(f'{k} {sum(1 for f in faults.done if f[1] == k)}' for k in sorted(LOG_LINES))})"
                 + (f"; no log line for {missing}" if missing else "")
                 + (f"; never injected {not_injected}" if not_injected else "")))
    probe_max = max((p for _, p, _ in watch.probes), default=None)
    own_max = max((p - w for _, p, w in watch.probes), default=0.0)
    found, _ = failures_of(run, "stalls")
    rows.append(("event loop never stalls (probe every 100 ms, none over 1 s less its waits for a CPU)",
                 not found and probe_max is not None,
                 (f"{len(watch.probes)} probes, max {probe_max * 1000:.0f} ms, less CPU waits "
                  f"{own_max * 1000:.0f} ms" if probe_max is not None else "no probe")
                 + (f"; {found[:2]}" if found else "")))
    rows.append(row(run, "/status, /metrics and / answer every second", ("scrapes",),
                    f"{sum(len(v) for v in watch.scrapes.values())} scrapes, all 200"))
    rows.append(("SIGHUP reloads applied (server added, one removed, limit raised)",
                 all(r["ok"] for r in reloads) and len(reloads) == 2,
                 "; ".join(r["detail"] for r in reloads) or "no reload"))
    rows.append(row(run, "the soak itself ran without errors", ("soak_errors",), "no errors"))
    return rows
