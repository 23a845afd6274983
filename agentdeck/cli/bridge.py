"""`agentdeck bridge NAME|SOCKET`: the stdio <-> socket bridge an agent's .mcp.json runs."""
import os

ENV_GIVE_UP = "AGENTDECK_BRIDGE_GIVE_UP"  # seconds without a connection before exiting 1 (tests shorten it)


def register(sub, parent):
    p = sub.add_parser("bridge", parents=[parent],
                       help="stdio <-> socket bridge for an agent's .mcp.json (reconnects, never drops a line)")
    p.add_argument("target", metavar="NAME|SOCKET",
                   help="a pooled server's name (its socket under the home), or a socket path (contains '/')")
    p.set_defaults(func=run)


def run(args):
    from agentdeck import bridge, config
    from agentdeck.errors import UserError
    from agentdeck.paths import UNIX_PATH_MAX, Home, server_of_socket

    cfg = config.load_default(args.config)
    if "/" in args.target:
        socket_path = os.path.abspath(args.target)
        if len(os.fsencode(socket_path)) > UNIX_PATH_MAX:
            raise UserError(f"socket path {socket_path} is over the Unix limit of {UNIX_PATH_MAX} bytes: "
                            "use a shorter path")
        name = server_of_socket(socket_path)
    else:
        name = args.target
        if not config.NAME_RE.match(name):
            raise UserError(f"bridge: {name!r} is not a server name (letters, digits, '_', '.', '-') "
                            "nor a socket path (which contains '/')")
        socket_path = Home(cfg.home).socket_path(name)
    return bridge.Bridge(socket_path, name, cfg.pool.max_request_bytes, cfg.pool.max_response_bytes,
                         give_up=give_up_seconds(bridge.GIVE_UP_AFTER)).run()


def give_up_seconds(default):
    from agentdeck.errors import UserError

    raw = os.environ.get(ENV_GIVE_UP)
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise UserError(f"{ENV_GIVE_UP}={raw!r}: expected a number of seconds > 0 (or unset it for {default:g})")
    return seconds
