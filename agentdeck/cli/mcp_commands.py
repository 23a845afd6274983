"""`agentdeck mcp list|json|config|import`: the pooled servers, and the agent clients' files
that point at them (a project's .mcp.json, each client's own config) or feed them (import).

Exit status: 0 when the command did its job; `mcp list` also exits 0 when the daemon is
not running (it lists the configured servers as "not running" and says so on stderr),
so scripts read the state column, not the exit code.
"""
import json
import os
import stat
import sys

NOT_RUNNING = "not running"  # the state of every configured server when no daemon answers
UNKNOWN = "unknown"          # the state of every configured server when the daemon runs but does not answer
PROJECT_FILE = ".mcp.json"
PROJECT_FILE_MODE = 0o644  # a new .mcp.json without a token: meant to be shared with the project
COLUMNS = (("NAME", "name"), ("STATE", "state"), ("PID", "pid"), ("SOCKET-CLIENTS", "socket_clients"),
           ("HTTP-SESSIONS", "http_sessions"),
           ("RESTARTS", "restarts"), ("SOCKET", "socket"))


def register(sub, parent):
    from agentdeck.clientfiles.clients import CLIENTS, HTTP, TRANSPORTS

    p = sub.add_parser("mcp", help="pooled MCP servers: list them, point agent clients at them, import them")
    commands = p.add_subparsers(dest="mcp_command", metavar="COMMAND", required=True)

    c = commands.add_parser("list", parents=[parent], help="servers with state, pid, socket clients and HTTP sessions, restarts, socket")
    c.add_argument("--json", action="store_true", help="print the list as JSON")
    c.set_defaults(func=run_list)

    transport_help = (f"{HTTP}: the daemon's Streamable HTTP URL of each server (default); stdio: run "
                      "`agentdeck bridge NAME`, for clients without HTTP")
    c = commands.add_parser("json", parents=[parent],
                            help="the .mcp.json entries that point a project at the pool")
    c.add_argument("--dir", metavar="D", default=".", help="the project directory (default: the current one)")
    c.add_argument("--transport", choices=TRANSPORTS, default=HTTP, help=transport_help)
    c.add_argument("--write", action="store_true",
                   help="merge the entries into D/.mcp.json, keeping every entry agentdeck does not manage")
    c.set_defaults(func=run_json)

    c = commands.add_parser("config", parents=[parent],
                            help="the entries that point an agent client's own config file at the pool")
    c.add_argument("--client", choices=tuple(CLIENTS), required=True,
                   help="the agent client: " + ", ".join(f"{name} ({client.title})"
                                                         for name, client in CLIENTS.items()))
    c.add_argument("--transport", choices=TRANSPORTS, default=HTTP, help=transport_help)
    c.add_argument("--write", action="store_true",
                   help="merge the entries into the client's file, keeping everything agentdeck does not manage")
    c.add_argument("--file", metavar="F",
                   help="the file to write (default: the client's user file: " +
                        "; ".join(f"{name}: {client.user_file_help}" for name, client in CLIENTS.items()) + ")")
    c.set_defaults(func=run_config)

    c = commands.add_parser("import", parents=[parent],
                            help="add the stdio servers of an agent client's file to the config")
    c.add_argument("file", metavar="FILE",
                   help="a JSON file with mcpServers (.mcp.json, ~/.claude.json, ~/.gemini/settings.json) "
                        "or Codex's ~/.codex/config.toml")
    c.set_defaults(func=run_import)


def run_list(args):
    from agentdeck import config
    from agentdeck.cli.daemonhome import daemon_address
    from agentdeck.daemon.remote import DaemonUnreachable, fetch_status

    address = daemon_address(args.config)
    address.warn()
    try:
        servers = fetch_status(address.home, token=address.status_token)["servers"]
    except DaemonUnreachable as exc:
        print(f"agentdeck: {exc}", file=sys.stderr)
        servers = configured_servers(config.load_default(args.config), UNKNOWN if exc.pid else NOT_RUNNING)
    rows = [{key: server.get(key) for key in (*(key for _, key in COLUMNS), "last_error")} for server in servers]
    if args.json:
        for row, server in zip(rows, servers):
            if server.get("share", "all") != "all":
                row["share"], row["children"] = server["share"], server.get("children", [])
        print(json.dumps(rows, indent=2))
        return 0
    print(table([shown for row, server in zip(rows, servers) for shown in (row, *child_rows(server))]))
    for row in rows:
        if row["last_error"] and row["state"] != "running":
            print(f"{row['name']}: {row['last_error']}")
    return 0


def child_rows(server):
    """One row per child of a server shared per project or per session, named
    ``NAME@PROJECT`` (or ``NAME@session-N``), under the server's own row."""
    if server.get("share", "all") == "all":
        return []
    return [{"name": f"{server['name']}@{child.get('project') or child.get('key')}", "state": child.get("state"),
             "pid": child.get("pid"), "socket_clients": child.get("socket_clients"),
             "http_sessions": child.get("http_sessions"), "restarts": child.get("restarts"), "socket": None}
            for child in server.get("children", [])]


def configured_servers(cfg, state):
    """Rows for the pooled servers of ``cfg`` when the daemon cannot tell their state."""
    from agentdeck.paths import Home

    home = Home(cfg.home)
    return [{"name": spec.name, "state": state, "pid": None, "socket_clients": 0, "http_sessions": 0, "restarts": 0,
             "socket": str(home.socket_path(spec.name)), "last_error": None} for spec in cfg.pooled()]


def table(rows):
    """An aligned text table of ``rows`` under the `COLUMNS` headers ("-" for no value)."""
    from agentdeck.cli.tables import text_table
    return text_table(COLUMNS, rows)


def run_json(args):
    from agentdeck.clientfiles.clients import PROJECT_CLIENT
    from agentdeck.errors import UserError

    if args.write and not os.path.isdir(args.dir):
        raise UserError(f"{args.dir}: no such directory (--dir)")
    return _point(args, PROJECT_CLIENT, os.path.join(args.dir, PROJECT_FILE), create_parent=False, shared=True,
                  project=args.dir)


def run_config(args):
    from agentdeck.clientfiles.clients import CLIENTS

    client = CLIENTS[args.client]
    # The client's own directory (~/.codex) may not exist before it first ran; a --file's must.
    return _point(args, client, args.file or client.user_file(), create_parent=not args.file)


def _point(args, client, path, create_parent, shared=False, project=None):
    """Print the entries that point ``client`` at the pooled servers, or with ``--write``
    merge them into ``path``. A new ``shared`` file (a project's, meant to be committed)
    is readable by all unless it holds the status token."""
    from agentdeck import config
    from agentdeck.clientfiles import clients
    from agentdeck.errors import UserError

    cfg = config.load_default(args.config)
    names = [spec.name for spec in cfg.pooled()]
    entries, skipped = clients.build_entries(client, args.transport, names, cfg, args.config, project)
    for name in skipped:
        print(f"agentdeck: note: skipped {name}: it runs one child per project, and {client.title}'s own file "
              "names no project; `agentdeck mcp json --dir DIR` writes its URL into that project's .mcp.json "
              "(or use --transport stdio)", file=sys.stderr)
    if not args.write:
        print(clients.render(client, entries), end="")
        return 0
    if not entries:
        why = "every pooled server needs a project" if skipped else \
            f"no pooled MCP servers in {cfg.path or 'the built-in defaults'}: add an [mcp.NAME] table (or " \
            "`agentdeck mcp import FILE`) and check [pool]"
        raise UserError(f"{why}; nothing was written")
    secret = args.transport == clients.HTTP and bool(cfg.daemon.status_token)
    default_mode = PROJECT_FILE_MODE if shared and not secret else clients.CLIENT_FILE_MODE
    # A client's own file is the user's: its previous content is kept. A project's .mcp.json
    # is the project's, under its version control (a .bak there would be committed).
    merged = clients.merge(client, path, entries, default_mode, create_parent, backup=not shared)
    count, listed = count_servers(len(entries)), ", ".join(entries)
    if not merged.changed:
        print(f"{merged.path} already points {client.title} at {count}: {listed}; nothing was written")
        return 0
    note = f" (replaced {', '.join(merged.replaced)})" if merged.replaced else ""
    print(f"wrote {count} to {merged.path}: {listed}{note}")
    if merged.backup:
        print(f"previous version kept as {merged.backup}")
    _warn_replaced(merged, cfg)
    if secret:
        _warn_if_readable(merged.path)
    return 0


def _warn_replaced(merged, cfg):
    """One line per server whose entry was the user's own definition, unlike the pool's."""
    from agentdeck.clientfiles.replaced import difference

    specs = {spec.name: spec for spec in cfg.pooled()}
    kept = f"; the previous file is {merged.backup}" if merged.backup else ""
    for name, entry in merged.previous.items():
        differs = difference(entry, specs[name])
        if differs:
            print(f"agentdeck: warning: {merged.path}: replaced your own definition of server {name!r} by the pool's "
                  f"({differs}){kept}", file=sys.stderr)


def _warn_if_readable(path):
    """A note when a file that now holds the status token can be read by others."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        print(f"agentdeck: note: {path} holds [daemon] status_token and others can read it (mode {mode:04o}): "
              f"chmod 600 {path}", file=sys.stderr)


def count_servers(count):
    return f"{count} server" if count == 1 else f"{count} servers"


def run_import(args):
    from agentdeck import mcpfiles
    from agentdeck.cli.daemonhome import daemon_address, file_to_edit, running_daemon, serve_advice

    daemon = running_daemon(daemon_address(args.config).home)
    plan = mcpfiles.plan_import(args.file, args.config or file_to_edit(daemon))
    mcpfiles.write_import(plan)
    for name, _, note in plan.added:
        print(f"added {name}{note}")
    for name, reason in plan.skipped:
        print(f"skipped {name}: {reason}")
    if plan.added:
        print(f"added {count_servers(len(plan.added))} to {plan.target}: {serve_advice(plan.target, daemon)}")
    else:
        print(f"nothing to add; {plan.target} is unchanged")
    return 0
