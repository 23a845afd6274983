"""`agentdeck hook`, the handler an agent runs on each hook event, and `agentdeck hooks
install|uninstall [--client claude|codex|gemini]`, its entries in that client's hook settings.

`agentdeck.entry` runs `hook` before the parser is even imported (it must be fast); it
is registered here so that `agentdeck --help` lists it and `agentdeck hook --help` says
what it does.
"""
HOOK_HELP = "the handler an agent runs on each hook event: sets the session's status (always exits 0)"
HOOK_DESCRIPTION = (
    "Reads the agent's hook JSON on stdin (or as its single argument, Codex's notify "
    "convention) and writes the status it means to <home>/hooks/<id>.json, where the daemon "
    "picks it up. AGENTDECK_INSTANCE_ID names the session (`agentdeck session add` sets it in "
    "the session's environment); without it the hook does nothing. It always exits 0, so a "
    "broken hook never fails the agent's turn. `agentdeck hooks install --client claude|codex|"
    "gemini` adds it to that client's hook settings.")


def register(sub, parent):
    h = sub.add_parser("hook", help=HOOK_HELP, description=HOOK_DESCRIPTION)
    h.add_argument("payload", nargs="?", metavar="PAYLOAD", help="the hook JSON (default: read from stdin)")
    h.set_defaults(func=run_hook)

    from agentdeck.sessions.hook_settings import HOOK_CLIENTS

    p = sub.add_parser("hooks", help="add or remove agentdeck's hooks in an agent client's hook settings "
                                     "(Claude Code, Codex, Gemini CLI)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, text in (("install", run_install, "add the `agentdeck hook` entry to every event that bears "
                                                      "a status (idempotent; the old file kept as F.bak)"),
                             ("uninstall", run_uninstall, "remove exactly the entries `install` adds")):
        a = actions.add_parser(name, parents=[parent], help=text)
        a.add_argument("--client", choices=tuple(HOOK_CLIENTS), default="claude",
                       help="the agent client (default: %(default)s)")
        a.add_argument("--settings", metavar="F",
                       help="the client's hook settings file (default: " +
                            "; ".join(f"{c.name}: {c.path_help}" for c in HOOK_CLIENTS.values()) + ")")
        a.set_defaults(func=func)


def run_hook(args):
    from agentdeck.sessions.hook import main
    return main([args.payload] if args.payload is not None else [])


def _settings_path(args):
    from agentdeck.sessions.hook_settings import default_settings_path
    return args.settings or default_settings_path(args.client)


def _report(path, verb, events, backup):
    if not events:
        print(f"{path}: nothing to do (agentdeck hooks already {verb})")
        return
    print(f"{path}: {verb} the agentdeck hook for {', '.join(events)}")
    if backup:
        print(f"previous version kept as {backup}")


def run_install(args):
    from agentdeck.sessions.hook_settings import install
    path = _settings_path(args)
    _report(path, "installed", *install(path, args.client))


def run_uninstall(args):
    from agentdeck.sessions.hook_settings import uninstall
    path = _settings_path(args)
    _report(path, "removed", *uninstall(path, args.client))
