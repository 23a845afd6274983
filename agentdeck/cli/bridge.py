"""`agentdeck bridge NAME|SOCKET`: the stdio <-> socket bridge an agent's .mcp.json runs.

A bridge lives as long as its agent session, one per server per session, so what it
keeps imported is paid many times over. `agentdeck.entry` sends ``bridge`` to `main`
before gevent is imported; `main` resolves the command line and the config (argparse,
tomllib, dataclasses: about 3 MiB once imported) in a forked child that exits when it
has answered, so the bridge itself holds only the standard-library modules it runs on.
"""
import json
import os
import sys

ENV_GIVE_UP = "AGENTDECK_BRIDGE_GIVE_UP"  # seconds without a connection before exiting 1 (tests shorten it)
HELP = "stdio <-> socket bridge for an agent's .mcp.json (reconnects, never drops a line)"


def add_arguments(parser):
    parser.add_argument("target", metavar="NAME|SOCKET",
                        help="a pooled server's name (its socket under the home), or a socket path (contains '/')")


def register(sub, parent):
    p = sub.add_parser("bridge", parents=[parent], help=HELP)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args):
    """The bridge in this process, for callers of `agentdeck.cli.main` (the console
    script comes through `main`)."""
    return bridge(settings(args))


def main(argv):
    """`agentdeck bridge ARGS` before gevent: resolve in a child, then bridge. Returns
    the exit status (the child's, when it printed help or an error instead)."""
    from agentdeck.errors import exit_status

    return exit_status(resolve_and_bridge, argv)


def resolve_and_bridge(argv):
    child = fork_resolver(argv)
    import agentdeck.bridge  # noqa: F401  (loaded while the child reads the config; `bridge` runs it)

    status, resolved = resolver_answer(*child)
    if resolved is None:
        return status
    return bridge(resolved)


def bridge(resolved):
    """Run the bridge for what `settings` resolved; raises `UserError`."""
    from agentdeck.bridge import GIVE_UP_AFTER, Bridge

    return Bridge(**resolved, give_up=give_up_seconds(GIVE_UP_AFTER), project=working_directory()).run()


def working_directory():
    """The real path of the directory the agent runs us in (its project), or None when
    it is gone (the hello is then not sent; a per-project server says what is missing)."""
    try:
        return os.path.realpath(os.getcwd())
    except OSError:
        return None


def fork_resolver(argv):
    """Fork the child that parses ``argv`` and reads the config, writing the keyword
    arguments of `Bridge` to a pipe (or printing --help, a usage error or a `UserError`,
    as any command would, and exiting non-zero). Returns (pid, read end of the pipe)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid:
        os.close(writer)
        return pid, reader
    os.close(reader)  # the child, from here on: never returns
    from agentdeck.errors import exit_status

    status = 1
    try:
        status = exit_status(send_settings, argv, writer)
    except SystemExit as exc:  # argparse printed --help or a usage error
        status = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # a bug: show it, as the command would without the fork
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def resolver_answer(pid, reader):
    """(0, the keyword arguments of `Bridge`) from the child `fork_resolver` started, or
    (its exit status, None) when it printed something instead."""
    chunks = []
    while chunk := os.read(reader, 65536):
        chunks.append(chunk)
    os.close(reader)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status != 0 or not chunks:
        return status, None  # 0 after --help
    return 0, json.loads(b"".join(chunks))


def send_settings(argv, fd):
    import argparse

    from agentdeck.cli.main import common_options

    parser = argparse.ArgumentParser(prog="agentdeck bridge", description=HELP, parents=[common_options()])
    add_arguments(parser)
    os.write(fd, json.dumps(settings(parser.parse_args(argv))).encode())  # a few hundred bytes: one write


def settings(args):
    """The socket, server name and line limits for the parsed command line (keyword
    arguments of `Bridge`, JSON-able); raises `UserError`."""
    from agentdeck import config
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
        socket_path = str(Home(cfg.home).socket_path(name))
        pooled = [spec.name for spec in cfg.pooled()]
        if name not in pooled and not os.path.exists(socket_path):  # a typo would wait out the give-up time
            where = f"(in {cfg.path or 'the built-in defaults'}); check the name in the agent's MCP config"
            raise UserError(f"no server named {name}: " + (f"the pooled servers are {', '.join(pooled)} {where}"
                                                           if pooled else f"no server is pooled {where}"))
    return {"socket_path": socket_path, "name": name, "max_request_bytes": cfg.pool.max_request_bytes,
            "max_response_bytes": cfg.pool.max_response_bytes}


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
