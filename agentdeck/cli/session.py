"""`agentdeck session add|list|show|send|attach|restart|rename|kill|remove`: the
session registry and the sessions' tmux panes from the shell.

These work with or without the daemon: they open the profile's SQLite registry
directly and ask tmux for liveness themselves.
"""
import contextlib
import json
import os
import time

from agentdeck.sessions.names import DEFAULT_PROFILE
from agentdeck.sessions.states import BY_ATTENTION, DEAD

LIST_COLUMNS = ("id", "profile", "status", "for", "why", "tool", "title", "prompt")
PROMPT_COLUMN_CHARS = 60  # `list` cuts prompts to this; `show` prints them whole


def register(sub, parent):
    p = sub.add_parser("session", help="start, list, show, kill and remove agent sessions (tmux)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("add", parents=[parent], help="start an agent in a new tmux session and print its id")
    a.add_argument("path", metavar="PATH", help="the project directory the session starts in")
    a.add_argument("--title", metavar="T", help="a name to show (default: the directory's name)")
    a.add_argument("--cmd", metavar="C", default="", help="the command to run, e.g. claude (default: a shell)")
    a.add_argument("--profile", metavar="P", default=DEFAULT_PROFILE, help="registry profile (default: %(default)s)")
    a.set_defaults(func=run_add)

    ls = actions.add_parser("list", parents=[parent], help="every session with its status, for how long, and its "
                                                          "latest prompt; waiting ones first")
    ls.add_argument("--profile", metavar="P", help="only this profile")
    ls.add_argument("--status", metavar="S[,S]", help="only sessions with one of these statuses, comma-separated")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)

    show = actions.add_parser("show", parents=[parent], help="one session in full")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)

    send = actions.add_parser("send", parents=[parent], help="type TEXT into a session's pane and press Enter")
    send.add_argument("id", metavar="ID")
    send.add_argument("text", metavar="TEXT", help="what to type, e.g. a prompt for the agent")
    send.set_defaults(func=run_send)

    attach = actions.add_parser("attach", parents=[parent], help="show a session in this terminal (inside tmux: "
                                                                 "switch to it; outside: attach to it)")
    attach.add_argument("id", metavar="ID")
    attach.set_defaults(func=run_attach)

    restart = actions.add_parser("restart", parents=[parent], help="start a session's command again, in its own "
                                                                   "tmux session and directory")
    restart.add_argument("id", metavar="ID")
    restart.add_argument("--json", action="store_true", help="print the session as JSON")
    restart.set_defaults(func=run_restart)

    rename = actions.add_parser("rename", parents=[parent], help="give a session a new title")
    rename.add_argument("id", metavar="ID")
    rename.add_argument("title", metavar="TITLE")
    rename.add_argument("--json", action="store_true", help="print the session as JSON")
    rename.set_defaults(func=run_rename)

    kill = actions.add_parser("kill", parents=[parent], help="stop a session's tmux session; it stays listed as dead")
    kill.add_argument("id", metavar="ID")
    kill.set_defaults(func=run_kill)

    remove = actions.add_parser("remove", parents=[parent], help="kill a session and delete it and its status files")
    remove.add_argument("id", metavar="ID")
    remove.set_defaults(func=run_remove)


@contextlib.contextmanager
def session_control(args):
    """A SessionControl over the configured home (also while the config file is broken: see
    `daemonhome`); its registry is closed on exit."""
    from agentdeck.cli.daemonhome import daemon_address
    from agentdeck.paths import Home
    from agentdeck.sessions.control import SessionControl
    from agentdeck.sessions.registry import Registry
    from agentdeck.sessions.tmux import Tmux
    from agentdeck.sessions.transcript import PromptCache
    address = daemon_address(args.config)
    address.warn()
    home = Home(address.home).ensure()
    registry = Registry(home)
    try:
        yield SessionControl(home, registry, Tmux(), PromptCache())
    finally:
        registry.close()


def run_add(args):
    """Print the new session's id; exit 1 with one line when its command fails at once
    (the session stays, dead, for `session show`)."""
    from agentdeck.errors import UserError
    with session_control(args) as control:
        record = control.add(args.path, title=args.title, command=args.cmd, profile=args.profile)
        print(record.id, flush=True)
        failure = control.start_failure(record)
    if failure:
        raise UserError(f"session {record.id}: `{record.command or 'the shell'}` failed at once: {failure}: "
                        f"see `agentdeck session show {record.id}`, then `agentdeck session remove {record.id}`")


def by_attention(views):
    """``views`` waiting first, then running, idle, dead; the latest change first within each."""
    return sorted(views, key=lambda v: (BY_ATTENTION.index(v.status), -v.since))


def run_list(args):
    from agentdeck.cli.wait import parse_statuses
    statuses = parse_statuses(args.status) if args.status is not None else None
    with session_control(args) as control:
        views = by_attention(v for v in control.views(args.profile) if statuses is None or v.status in statuses)
    if args.json:
        print(json.dumps([v.to_dict() for v in views], indent=2))
    elif views:
        now = time.time()
        print(_table([_list_row(v, now) for v in views]))
    elif statuses is not None:
        print(f"no {' or '.join(sorted(statuses))} sessions")
    else:
        print("no sessions: start one with `agentdeck session add PATH --cmd claude`")


def run_show(args):
    with session_control(args) as control:
        view = control.view(args.id)
    if args.json:
        print(json.dumps(view.to_dict(), indent=2))
    else:
        print(_describe(view))


def _print_session(args, control, record, line):
    print(json.dumps(control.view(record.id).to_dict(), indent=2) if args.json else line)


def run_send(args):
    with session_control(args) as control:
        record = control.send(args.id, args.text)
    print(f"sent to {record.id} ({record.title})")


def run_attach(args):
    with session_control(args) as control:
        argv, env = control.attach_argv(args.id, os.environ)
    if "TMUX" not in env and not os.isatty(0):
        from agentdeck.errors import UserError
        raise UserError(f"`session attach` needs a terminal: run it in one (or `{' '.join(argv)}`)")
    os.execve(argv[0], argv, env)  # the terminal is tmux's from here; its exit status is ours


def run_restart(args):
    with session_control(args) as control:
        record = control.restart(args.id)
        _print_session(args, control, record, f"restarted {record.id} ({record.title})")


def run_rename(args):
    with session_control(args) as control:
        record = control.rename(args.id, args.title)
        _print_session(args, control, record, f"renamed {record.id} to {record.title!r}")


def run_kill(args):
    with session_control(args) as control:
        record = control.kill(args.id)
    print(f"killed {record.id} ({record.title})")


def run_remove(args):
    with session_control(args) as control:
        record = control.remove(args.id)
    print(f"removed {record.id} ({record.title})")


def _clock(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _list_row(view, now):
    from agentdeck.web.units import age
    prompt = view.prompt
    if len(prompt) > PROMPT_COLUMN_CHARS:
        prompt = prompt[:PROMPT_COLUMN_CHARS - 1] + "…"
    r = view.record
    return {"id": r.id, "profile": r.profile, "status": view.status, "for": age(view.since, now),
            "why": view.reason or _short_end(view) or "-", "tool": r.tool, "title": r.title, "prompt": prompt or "-"}


def _short_end(view):
    """How a dead session ended, in a word for the list: "exit 127", "signal 9"; "" if unknown."""
    if view.status != DEAD:
        return ""
    if view.exit_signal is not None:
        return f"signal {view.exit_signal}"
    return f"exit {view.exit_status}" if view.exit_status is not None else ""


def _table(rows):
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in LIST_COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in LIST_COLUMNS)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in LIST_COLUMNS) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _describe(view):
    r, hook = view.record, view.hook
    last_hook = f"{hook.event} at {_clock(hook.ts)}" if hook else "none yet"
    ended = f" ({view.reason or view.ended})" if view.reason or view.ended else ""
    fields = [("id", r.id), ("title", r.title), ("profile", r.profile),
              ("status", f"{view.status} since {_clock(view.since)}{ended}"),
              ("last hook", last_hook), ("tool", r.tool), ("command", r.command or "(shell)"), ("path", r.path),
              ("tmux", f"{r.tmux_session} (attach: tmux attach -t {r.tmux_session})"),
              ("created", _clock(r.created)), ("updated", _clock(r.updated)), ("prompt", view.prompt or "-")]
    width = max(len(name) for name, _ in fields) + 1
    return "\n".join(f"{(name + ':').ljust(width)} {value}" for name, value in fields)
