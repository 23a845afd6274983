"""`agentdeck reload` and `agentdeck stop`: ask the running daemon, through its control
socket, and print what it did.

Exit status: 0 done; 1 the reload found the config broken (the daemon runs on, with the
config it had); NOT_RUNNING_EXIT when no daemon runs or it did not answer (`stop` of a
daemon that is not running is not an error: there is nothing to stop).
"""
import json
import time

from agentdeck.cli.status import NOT_RUNNING_EXIT
from agentdeck.errors import UserError

RELOAD_TIMEOUT = 60.0  # seconds: a reload stops removed servers (5 s grace each, in parallel)
STOP_TIMEOUT = 30.0    # seconds: an ordered stop takes at most ~10
EXIT_TIMEOUT = 5.0     # seconds the process may take to exit after its answer


def register(sub, parent):
    p = sub.add_parser("reload", parents=[parent],
                       help="reload the running daemon's config and print what changed (as SIGHUP does)")
    p.add_argument("--json", action="store_true", help="print the daemon's report as JSON")
    p.set_defaults(func=run_reload)
    p = sub.add_parser("stop", parents=[parent],
                       help="stop the running daemon in order and wait until it has exited (as SIGTERM does)")
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    p.set_defaults(func=run_stop)


def _ask(args, command, timeout):
    from agentdeck.cli.daemonhome import daemon_address
    from agentdeck.daemon.remote import DaemonUnreachable, control

    try:  # a broken config is no reason not to ask: the daemon's reload report names the error
        return control(daemon_address(args.config).home, command, timeout)
    except DaemonUnreachable as exc:
        exc.exit_code = NOT_RUNNING_EXIT
        raise


def run_reload(args):
    report = _ask(args, "reload", RELOAD_TIMEOUT)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report.get("ok") else 1
    if not report.get("ok"):
        raise UserError(f"reload failed; the daemon runs on with the config it had: {report.get('error')}")
    print(describe_reload(report))
    return 0


def describe_reload(report):
    """The report of a reload as the lines `agentdeck reload` prints: each count, with the
    names of the servers that changed."""
    def counted(key):
        names = report.get(key) or []
        return f"{len(names)} {key}" + (f" ({', '.join(names)})" if names and key != "unchanged" else "")
    lines = [f"reloaded {report.get('config') or 'the built-in defaults'}: "
             + ", ".join(map(counted, ("added", "removed", "restarted", "unchanged")))]
    lines += [f"note: {note}" for note in report.get("notes") or []]
    return "\n".join(lines)


def run_stop(args):
    from agentdeck.daemon.remote import DaemonUnreachable

    try:
        answer = _ask(args, "stop", STOP_TIMEOUT)
    except DaemonUnreachable as exc:
        if exc.pid is not None:
            raise
        print(f"nothing to stop: {exc}")
        return 0
    if not answer.get("ok"):
        raise UserError(f"the daemon did not stop: {answer.get('error')}")
    exited = _wait_exit(answer["pid"])
    if args.json:
        print(json.dumps({**answer, "exited": exited}, indent=2))
        return 0
    print(f"stopped the agentdeck daemon (pid {answer['pid']}) in {answer['seconds']:g} s: exit {answer['exit']}"
          + ("" if exited else f"; its process is still finishing (pid {answer['pid']})"))
    return 0


def _wait_exit(pid):
    """True once process ``pid`` is gone or a zombie (it exits right after answering),
    within EXIT_TIMEOUT."""
    deadline = time.monotonic() + EXIT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[:1]
        except FileNotFoundError:
            return True
        if state == [b"Z"]:
            return True
        time.sleep(0.02)
    return False
