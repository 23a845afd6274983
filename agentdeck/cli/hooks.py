"""`agentdeck hook`, the handler an agent runs on each hook event, and `agentdeck hooks
install|uninstall`, its entries in Claude Code's settings.

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
    "broken hook never fails the agent's turn. `agentdeck hooks install` adds it to Claude "
    "Code's settings.")


def register(sub, parent):
    h = sub.add_parser("hook", help=HOOK_HELP, description=HOOK_DESCRIPTION)
    h.add_argument("payload", nargs="?", metavar="PAYLOAD", help="the hook JSON (default: read from stdin)")
    h.set_defaults(func=run_hook)

    p = sub.add_parser("hooks", help="add or remove agentdeck's hooks in Claude Code's settings.json")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, text in (("install", run_install, "add the `agentdeck hook` entries (idempotent)"),
                             ("uninstall", run_uninstall, "remove exactly the entries `install` adds")):
        a = actions.add_parser(name, parents=[parent], help=text)
        a.add_argument("--settings", metavar="F",
                       help="settings file (default: $CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json)")
        a.set_defaults(func=func)


def run_hook(args):
    from agentdeck.sessions.hook import main
    return main([args.payload] if args.payload is not None else [])


def _settings_path(args):
    from agentdeck.sessions.claude_settings import default_settings_path
    return args.settings or default_settings_path()


def _report(path, verb, events, backup):
    if not events:
        print(f"{path}: nothing to do (agentdeck hooks already {verb})")
        return
    print(f"{path}: {verb} the agentdeck hook for {', '.join(events)}")
    if backup:
        print(f"previous version kept as {backup}")


def run_install(args):
    from agentdeck.sessions.claude_settings import install
    path = _settings_path(args)
    _report(path, "installed", *install(path))


def run_uninstall(args):
    from agentdeck.sessions.claude_settings import uninstall
    path = _settings_path(args)
    _report(path, "removed", *uninstall(path))
