"""`agentdeck serve`: run the daemon in the foreground."""


def register(sub, parent):
    p = sub.add_parser("serve", parents=[parent], help="run the daemon in the foreground (SIGHUP reloads)")
    p.add_argument("--log-level", metavar="LEVEL", help="override [daemon] log_level")
    p.set_defaults(func=run)


def run(args):
    from agentdeck.daemon.server import serve
    return serve(args.config, log_level=args.log_level)
