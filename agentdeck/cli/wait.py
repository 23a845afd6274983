"""`agentdeck wait ID --status S[,S] [--timeout SEC]`: block until a session reaches a status.

Prints the status reached and exits 0 (at once if the session already has it); exits
2 when the timeout passes first; exits 3 with one line when the session is removed
meanwhile (within half a second); exits 1 with one line for an unknown session id or
status. Works with or without the daemon (see `sessions.waiting`).
"""
from agentdeck.errors import UserError
from agentdeck.sessions.states import STATUSES

EXIT_TIMEOUT = 2
EXIT_REMOVED = 3


class WaitTimeout(UserError):
    """The session did not reach the statuses in time."""

    exit_code = EXIT_TIMEOUT


class SessionRemoved(UserError):
    """The session was removed while we waited: it will never reach anything."""

    exit_code = EXIT_REMOVED


def register(sub, parent):
    p = sub.add_parser("wait", parents=[parent], help="block until a session reaches one of some statuses "
                                                     "(exit 0; 2 on timeout; 3 if it is removed meanwhile)")
    p.add_argument("id", metavar="ID", help="the session id (`agentdeck session list`)")
    p.add_argument("--status", required=True, metavar="S[,S]",
                   help="statuses to wait for, comma-separated: " + ", ".join(STATUSES))
    p.add_argument("--timeout", metavar="SEC", help="give up after SEC seconds and exit 2 (default: never)")
    p.set_defaults(func=run_wait)


def parse_statuses(text):
    """The set of statuses in a comma-separated ``text``; a UserError naming a bad one."""
    statuses = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(statuses - set(STATUSES))
    if unknown:
        raise UserError(f"--status {text!r}: unknown status {', '.join(map(repr, unknown))}: "
                        f"use one or more of {', '.join(STATUSES)}, comma-separated")
    if not statuses:
        raise UserError(f"--status {text!r}: name one or more of {', '.join(STATUSES)}, comma-separated")
    return frozenset(statuses)


def parse_timeout(text):
    """Seconds (a number >= 0) or None when not given; a UserError quoting a bad value."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):  # also refuses nan
        raise UserError(f"--timeout {text!r}: expected a number of seconds >= 0")
    return seconds


def run_wait(args):
    from agentdeck.cli.session import session_control
    from agentdeck.daemon.remote import DaemonUnreachable, runtime_info
    from agentdeck.sessions.waiting import REMOVED, TIMED_OUT, wait_for_status
    statuses = parse_statuses(args.status)
    timeout = parse_timeout(args.timeout)
    with session_control(args) as control:
        control.find(args.id)  # an unknown id is an error, not a wait
        try:
            runtime_info(control.home.root)
            daemon = True
        except DaemonUnreachable:
            daemon = False
        outcome, status = wait_for_status(control, args.id, statuses, timeout, daemon=daemon)
    waited = f"waited for {','.join(sorted(statuses))}"
    if outcome == TIMED_OUT:
        raise WaitTimeout(f"session {args.id} is still {status} after {timeout:g} s ({waited})")
    if outcome == REMOVED:
        was = f" (it was {status})" if status else ""
        raise SessionRemoved(f"session {args.id} was removed while we waited{was}: it will not become "
                             f"{' or '.join(sorted(statuses))} ({waited})")
    print(status)
