"""`agentdeck hooks install|uninstall`: the `agentdeck hook` entries in Claude Code's settings."""


def register(sub, parent):
    p = sub.add_parser("hooks", help="add or remove agentdeck's hooks in Claude Code's settings.json")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, text in (("install", run_install, "add the `agentdeck hook` entries (idempotent)"),
                             ("uninstall", run_uninstall, "remove exactly the entries `install` adds")):
        a = actions.add_parser(name, parents=[parent], help=text)
        a.add_argument("--settings", metavar="F",
                       help="settings file (default: $CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json)")
        a.set_defaults(func=func)


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
