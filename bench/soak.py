"""Soak the real daemon: many clients of both MCP eras over the socket and HTTP, server
faults, session waves, operations, for a while; check the invariants all along; print a
report.

Run from the repository root:

    .venv/bin/python bench/soak.py --minutes 30 --report soak.md    # the long run
    .venv/bin/python bench/soak.py --smoke                          # 2 minutes, part of .ci/run
    .venv/bin/python bench/soak.py --plot soak.json --png soak.png  # the run's series as a PNG

Exit code 0 when every invariant held, 1 otherwise. The parts live in bench/soak/
(clients, faults, sessions, operations, invariants, report, plot)."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="how long to run (default %(default)s)")
    p.add_argument("--smoke", action="store_true", help="2 minutes, a smaller fleet: the CI run")
    p.add_argument("--bridges", type=int, default=30, help="socket client slots (agentdeck bridge)")
    p.add_argument("--https", type=int, default=24, help="raw HTTP client slots (2025 sessions)")
    p.add_argument("--moderns", type=int, default=12, help="raw HTTP client slots of MCP 2026-07-28 (no session)")
    p.add_argument("--sdks", type=int, default=6, help="SDK client slots (subprocesses)")
    p.add_argument("--sessions", type=int, default=200, help="sessions over the whole run")
    p.add_argument("--wave", type=float, default=180.0, help="seconds per wave (load, drain, baseline check)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report", metavar="FILE", help="write the report there too")
    p.add_argument("--data", metavar="FILE", help="write the samples as JSON (for --plot); default: beside --report")
    p.add_argument("--plot", metavar="DATA", help="only plot DATA (a --data file) to --png, then exit")
    p.add_argument("--png", metavar="FILE", default="soak.png")
    p.add_argument("--keep", action="store_true", help="keep the daemon's home (kept anyway when an invariant fails)")
    args = p.parse_args(argv)
    if args.plot:
        from soak.plot import plot
        print(plot(args.plot, args.png))
        return 0
    args.duration = args.minutes * 60
    args.life, args.drain = (20.0, 90.0), 20.0
    if args.smoke:
        args.duration, args.wave, args.life = 120.0, 60.0, (10.0, 30.0)
        args.bridges, args.https, args.moderns, args.sdks, args.sessions = 25, 20, 8, 3, 24
    from soak.orchestrate import soak
    rows, text, data, home = soak(args)
    print(text)
    if args.report:
        Path(args.report).write_text(text)
    data_path = args.data or (str(Path(args.report).with_suffix(".json")) if args.report else None)
    if data_path:
        Path(data_path).write_text(data)
    failed = [name for name, ok, _ in rows if not ok]
    if failed:
        print(f"soak: {len(failed)} invariants failed: {'; '.join(failed)} (home kept: {home})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
