"""The soak's report: the invariants table, the per-minute series (RSS, fds, greenlets,
children, clients, probe latency), the counts, and the run's data as JSON for --plot."""
import json
import statistics

from soak.common import MiB
from soak.invariants import per_minute, rss_levels


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


def series_rows(samples, probes):
    levels = rss_levels(samples)
    rss = per_minute(samples, "rss")
    fds = per_minute(samples, "fds")
    greenlets = per_minute([s for s in samples if s["greenlets"] is not None], "greenlets")
    children = per_minute(samples, "children")
    clients = per_minute(samples, "clients")
    probe, own = {}, {}  # own: the hub's share, the round trip less its CPU waits
    for t, seconds, waited in probes:
        probe.setdefault(int(t // 60) + 1, []).append(seconds * 1000)
        own.setdefault(int(t // 60) + 1, []).append((seconds - waited) * 1000)
    rows = []
    for m in sorted(rss):
        rows.append((m, levels[m] / MiB, statistics.median(rss[m]) / MiB, max(rss[m]) / MiB, min(fds[m]), max(fds[m]),
                     min(greenlets.get(m, [0])), max(greenlets.get(m, [0])), max(children[m]),
                     max(clients.get(m, [0])), percentile(probe.get(m, []), 99), max(probe.get(m, [0])),
                     max(own.get(m, [0]))))
    return rows


def render(rows, samples, probes, ledger, fleet, sessions, faults, waves, run, args):
    out = [f"# agentdeck soak: {args}", "", "## Invariants", "", "| invariant | result | detail |", "|---|---|---|"]
    out += [f"| {name} | {'PASS' if ok else 'FAIL'} | {detail} |" for name, ok, detail in rows]
    out += ["", "## Per minute", "",
            "| min | RSS MiB (level: p10) | RSS median | RSS max | fds min | fds max | greenlets min | greenlets max "
            "| children max | clients max | probe p99 ms | probe max ms | probe max less CPU waits ms |",
            "|" + "---|" * 13]
    out += ["| {} | {:.1f} | {:.1f} | {:.1f} | {} | {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {:.1f} |".format(*r)
            for r in series_rows(samples, probes)]
    out += ["", "## Waves (quiet state after each, against the baseline)", ""]

    def rss(w):
        return f"RSS under load {w['load_rss'] / MiB:.1f} MiB, at rest {w['rss'] / MiB:.1f} MiB"
    if waves:
        base = waves[0]["base"]
        out += [f"- wave 1 (the baseline): fds {base['fds']}, greenlets {base['greenlets']}, children "
                f"{base['children']}, {rss(base)}"]
    out += [f"- wave {w['wave']}: settled in {w['settle']:.1f} s: fds {w['fds']} (baseline {w['base']['fds']}), "
            f"greenlets {w['greenlets']} ({w['base']['greenlets']}), children {w['children']} "
            f"({w['base']['children']}), {rss(w)}{'' if w['ok'] else '  <-- NOT BACK'}"
            for w in waves]
    counts = ledger.snapshot()
    out += ["", "## Counts", "", "- requests by kind: " + ", ".join(
        f"{k.split(':', 1)[1]} {v}" for k, v in sorted(counts.items()) if k.startswith("requests:")),
        "- answers: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())
                                  if not k.startswith("requests:") and k != "requests"),
        f"- client lives: {fleet.lives}; SDK lives by mode: {fleet.sdk_lives}; SDK: {fleet.sdk_counts}",
        f"- sessions: {dict(sessions.stats)}",
        f"- faults ({len(faults.done)}): " + ", ".join(f"{t:.0f}s {kind}@{server}" for t, kind, server, _ in faults.done)]
    if run.failures:
        out += ["", "## Violations (each invariant's first 50)", ""]
        for name, found in sorted(run.failures.items()):
            kept = [f for f in found if f is not None]
            out += [f"- {name} ({len(found)}):"] + [f"  - {f}" for f in kept]
    out += ["", "## What the soak did", ""] + [f"- {t:.0f} s: {text}" for t, text in run.notes]
    return "\n".join(out) + "\n"


def data(samples, probes, rows, waves):
    return json.dumps({"samples": samples, "probes": [(round(t, 2), round(s, 5), round(w, 5)) for t, s, w in probes],
                       "rss_reference": waves[0]["base"] if waves else None,
                       "invariants": [{"name": n, "ok": ok, "detail": d} for n, ok, d in rows]})
