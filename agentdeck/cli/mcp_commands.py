"""`agentdeck mcp list|json|import`: the pooled servers, seen from a project and from Claude files.

Exit status: 0 when the command did its job; `mcp list` also exits 0 when the daemon is
not running (it lists the configured servers as "not running" and says so on stderr),
so scripts read the state column, not the exit code.
"""
import json
import sys

NOT_RUNNING = "not running"  # the state of every configured server when no daemon answers
UNKNOWN = "unknown"          # the state of every configured server when the daemon runs but does not answer
COLUMNS = (("NAME", "name"), ("STATE", "state"), ("PID", "pid"), ("CLIENTS", "clients"),
           ("RESTARTS", "restarts"), ("SOCKET", "socket"))


def register(sub, parent):
    p = sub.add_parser("mcp", help="pooled MCP servers: list them, point a project at them, import them")
    commands = p.add_subparsers(dest="mcp_command", metavar="COMMAND", required=True)

    c = commands.add_parser("list", parents=[parent], help="servers with state, pid, clients, restarts, socket")
    c.add_argument("--json", action="store_true", help="print the list as JSON")
    c.set_defaults(func=run_list)

    c = commands.add_parser("json", parents=[parent],
                            help="the .mcp.json entries that point a project at the pool")
    c.add_argument("--dir", metavar="D", default=".", help="the project directory (default: the current one)")
    c.add_argument("--write", action="store_true",
                   help="merge the entries into D/.mcp.json, keeping every entry agentdeck does not manage")
    c.set_defaults(func=run_json)

    c = commands.add_parser("import", parents=[parent],
                            help="add the stdio servers of a Claude-style mcpServers JSON file to the config")
    c.add_argument("file", metavar="FILE", help="e.g. a project's .mcp.json or ~/.claude.json")
    c.set_defaults(func=run_import)


def run_list(args):
    from agentdeck import config
    from agentdeck.daemon.remote import DaemonUnreachable, fetch_status

    cfg = config.load_default(args.config)
    try:
        servers = fetch_status(cfg.home, token=cfg.daemon.status_token)["servers"]
    except DaemonUnreachable as exc:
        print(f"agentdeck: {exc}", file=sys.stderr)
        servers = configured_servers(cfg, UNKNOWN if exc.pid else NOT_RUNNING)
    rows = [{key: server.get(key) for key in (*(key for _, key in COLUMNS), "last_error")} for server in servers]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table(rows))
    for row in rows:
        if row["last_error"] and row["state"] != "running":
            print(f"{row['name']}: {row['last_error']}")
    return 0


def configured_servers(cfg, state):
    """Rows for the pooled servers of ``cfg`` when the daemon cannot tell their state."""
    from agentdeck.paths import Home

    home = Home(cfg.home)
    return [{"name": spec.name, "state": state, "pid": None, "clients": 0, "restarts": 0,
             "socket": str(home.socket_path(spec.name)), "last_error": None} for spec in cfg.pooled()]


def table(rows):
    """An aligned text table of ``rows`` under the `COLUMNS` headers ("-" for no value)."""
    from agentdeck.cli.tables import text_table
    return text_table(COLUMNS, rows)


def run_json(args):
    from agentdeck import config, mcpfiles
    from agentdeck.errors import UserError

    cfg = config.load_default(args.config)
    entries = mcpfiles.project_entries([spec.name for spec in cfg.pooled()], args.config)
    if not args.write:
        print(json.dumps({"mcpServers": entries}, indent=2))
        return 0
    if not entries:
        raise UserError(f"no pooled MCP servers in {cfg.path or 'the built-in defaults'}: add an [mcp.NAME] "
                        "table (or `agentdeck mcp import FILE`) and check [pool]; nothing was written")
    path, replaced = mcpfiles.merge_project_file(args.dir, entries)
    names = ", ".join(entries)
    note = f" (replaced {', '.join(replaced)})" if replaced else ""
    print(f"wrote {count_servers(len(entries))} to {path}: {names}{note}")
    return 0


def count_servers(count):
    return f"{count} server" if count == 1 else f"{count} servers"


def run_import(args):
    from agentdeck import mcpfiles

    plan = mcpfiles.plan_import(args.file, args.config)
    mcpfiles.write_import(plan)
    for name, _ in plan.added:
        print(f"added {name}")
    for name, reason in plan.skipped:
        print(f"skipped {name}: {reason}")
    if plan.added:
        print(f"added {count_servers(len(plan.added))} to {plan.target}: restart the daemon (or send it SIGHUP) "
              "to serve them")
    else:
        print(f"nothing to add; {plan.target} is unchanged")
    return 0
