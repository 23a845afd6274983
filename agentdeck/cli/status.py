"""`agentdeck status [--json]`: what the running daemon reports, from its HTTP /status.

Exit status: 0 when the daemon answered; NOT_RUNNING_EXIT when it is not running or did
not answer (the line on stderr says which and what to do).
"""
NOT_RUNNING_EXIT = 3  # as `systemctl status` and LSB init scripts report a stopped service
CELL_CHARS = 60  # a longer prompt or error is cut in the table (--json has it whole)
SERVER_COLUMNS = (("SERVER", "name"), ("STATE", "state"), ("FOR", "for"), ("PID", "pid"), ("SOCKET", "socket_clients"),
                  ("HTTP", "http_sessions"),
                  ("IN-FLIGHT", "in_flight"), ("RESTARTS", "restarts"), ("LAST ERROR", "last_error"))
SESSION_COLUMNS = (("SESSION", "id"), ("STATUS", "status"), ("FOR", "for"), ("PROFILE", "profile"),
                   ("TITLE", "title"), ("PROMPT", "prompt"))


def register(sub, parent):
    p = sub.add_parser("status", parents=[parent], help="the running daemon: servers, sessions, memory")
    p.add_argument("--json", action="store_true", help="print the daemon's /status JSON")
    p.set_defaults(func=run)


def run(args):
    import json

    from agentdeck.cli.daemonhome import daemon_address
    from agentdeck.daemon.remote import DaemonUnreachable, fetch_status

    address = daemon_address(args.config)
    address.warn()
    try:
        status = fetch_status(address.home, token=address.status_token)
    except DaemonUnreachable as exc:
        exc.exit_code = NOT_RUNNING_EXIT
        raise
    print(json.dumps(status, indent=2) if args.json else describe(status))
    return 0


def _cut(text):
    text = " ".join(str(text or "").split())
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"


def describe(status, now=None):
    """The /status document as the text `agentdeck status` prints."""
    import time

    from agentdeck.cli.tables import text_table
    from agentdeck.web.units import age, duration, size

    now = time.time() if now is None else now
    daemon = status.get("daemon", {})
    servers = status.get("servers", [])
    sessions = status.get("sessions", [])
    lines = [f"agentdeck {daemon.get('version', '?')}: pid {daemon.get('pid', '?')}, up {duration(daemon.get('uptime'))}, "
             f"RSS {size(daemon.get('rss_bytes') or 0)}, config {daemon.get('config') or '(built-in defaults)'}", ""]
    if servers:
        rows = [{**s, "for": age(s.get("since"), now), "last_error": _cut(s.get("last_error")) or None}
                for s in servers]
        lines.append(text_table(SERVER_COLUMNS, rows))
    else:
        lines.append("no pooled servers")
    lines.append("")
    if sessions:
        rows = [{**s, "for": age(s.get("since"), now), "prompt": _cut(s.get("prompt")) or None} for s in sessions]
        lines.append(text_table(SESSION_COLUMNS, rows))
    else:
        lines.append("no sessions")
    if status.get("sessions_error"):
        lines.append(f"(sessions may be incomplete: {status['sessions_error']})")
    return "\n".join(lines)
