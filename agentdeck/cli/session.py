"""`agentdeck session add|list|show|kill|remove`: the session registry from the shell.

These work with or without the daemon: they open the profile's SQLite registry
directly and ask tmux for liveness themselves.
"""
import contextlib
import json
import time

from agentdeck.sessions.names import DEFAULT_PROFILE

LIST_COLUMNS = ("id", "profile", "status", "tool", "title", "prompt")
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

    ls = actions.add_parser("list", parents=[parent], help="every session with its status and latest prompt")
    ls.add_argument("--profile", metavar="P", help="only this profile")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)

    show = actions.add_parser("show", parents=[parent], help="one session in full")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)

    kill = actions.add_parser("kill", parents=[parent], help="stop a session's tmux session; it stays listed as dead")
    kill.add_argument("id", metavar="ID")
    kill.set_defaults(func=run_kill)

    remove = actions.add_parser("remove", parents=[parent], help="kill a session and delete it and its status files")
    remove.add_argument("id", metavar="ID")
    remove.set_defaults(func=run_remove)


@contextlib.contextmanager
def session_control(args):
    """A SessionControl over the configured home; its registry is closed on exit."""
    from agentdeck.config import load_default
    from agentdeck.paths import Home
    from agentdeck.sessions.control import SessionControl
    from agentdeck.sessions.registry import Registry
    from agentdeck.sessions.tmux import Tmux
    from agentdeck.sessions.transcript import PromptCache
    home = Home(load_default(args.config).home).ensure()
    registry = Registry(home)
    try:
        yield SessionControl(home, registry, Tmux(), PromptCache())
    finally:
        registry.close()


def run_add(args):
    with session_control(args) as control:
        record = control.add(args.path, title=args.title, command=args.cmd, profile=args.profile)
    print(record.id)


def run_list(args):
    with session_control(args) as control:
        views = control.views(args.profile)
    if args.json:
        print(json.dumps([v.to_dict() for v in views], indent=2))
    elif views:
        print(_table([_list_row(v) for v in views]))
    else:
        print("no sessions: start one with `agentdeck session add PATH --cmd claude`")


def run_show(args):
    with session_control(args) as control:
        view = control.view(args.id)
    if args.json:
        print(json.dumps(view.to_dict(), indent=2))
    else:
        print(_describe(view))


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


def _list_row(view):
    prompt = view.prompt
    if len(prompt) > PROMPT_COLUMN_CHARS:
        prompt = prompt[:PROMPT_COLUMN_CHARS - 1] + "…"
    r = view.record
    return {"id": r.id, "profile": r.profile, "status": view.status, "tool": r.tool, "title": r.title,
            "prompt": prompt or "-"}


def _table(rows):
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in LIST_COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in LIST_COLUMNS)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in LIST_COLUMNS) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _describe(view):
    r, hook = view.record, view.hook
    last_hook = f"{hook.event} at {_clock(hook.ts)}" if hook else "none yet"
    fields = [("id", r.id), ("title", r.title), ("profile", r.profile), ("status", view.status),
              ("last hook", last_hook), ("tool", r.tool), ("command", r.command or "(shell)"), ("path", r.path),
              ("tmux", f"{r.tmux_session} (attach: tmux attach -t {r.tmux_session})"),
              ("created", _clock(r.created)), ("updated", _clock(r.updated)), ("prompt", view.prompt or "-")]
    width = max(len(name) for name, _ in fields) + 1
    return "\n".join(f"{(name + ':').ljust(width)} {value}" for name, value in fields)
