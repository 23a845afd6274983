"""``/``: one HTML page a person reads at a glance — the daemon, its MCP servers and the
agent sessions, each status in colour with why (what a waiting one waits for, how a dead
one ended) and how long it has held, and an RSS sparkline.

Self-contained: inline CSS and SVG, no scripts, no external assets; it reloads itself
every REFRESH_SECONDS (a meta refresh keeps the URL, so a ``?token=`` stays with it).
`render` is a pure function of the /status snapshot and the RSS samples.
"""
from html import escape

from agentdeck.pool import states as server_states
from agentdeck.sessions import states as session_states
from agentdeck.sessions.view import why
from agentdeck.web.sparkline import sparkline
from agentdeck.web.units import age, duration, size

REFRESH_SECONDS = 5
PROMPT_CHARS = 120  # a longer prompt is cut on the page (the JSON has it whole)
# Sessions that want the person come first.
SESSION_ORDER = {session_states.WAITING: 0, session_states.RUNNING: 1, session_states.IDLE: 2,
                 session_states.DEAD: 3}
# Status word -> colour class. Green: working; amber: needs a look; red: broken; grey: not running.
STATUS_CLASSES = {
    server_states.RUNNING: "ok", server_states.STARTING: "warn", server_states.BACKOFF: "warn",
    server_states.FATAL: "bad", server_states.STOPPING: "off", server_states.STOPPED: "off",
    server_states.EXTERNAL: "info",
    session_states.WAITING: "warn", session_states.IDLE: "off", session_states.DEAD: "bad",
}  # session "running" and server "running" are the same word and the same colour

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:12px 20px;background:#1d2430;color:#fff}
header h1{font-size:20px;margin:0}
header .facts{color:#c9d1dc}
header .spark-frame{fill:#26303f;stroke:#3a4656}
header .spark-line{stroke:#6cc4ff;stroke-width:1.5}
main{padding:8px 20px 20px}
h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:5px 10px;text-align:left;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6675;background:#eef1f5}
.num{text-align:right;font-variant-numeric:tabular-nums}
.spark-box{display:flex;align-items:center;gap:8px;color:#c9d1dc;font-size:12px}
.badge{display:inline-block;min-width:64px;padding:1px 8px;border-radius:10px;font-weight:600;
text-align:center;color:#fff;background:#2e9d57}
.badge.warn{background:#d9890b}.badge.bad{background:#c73a3a}.badge.off{background:#8a94a3}
.badge.info{background:#3a7bd5}
.muted{color:#8a94a3}
.prompt{max-width:48em;overflow-wrap:anywhere}
.error,.why{max-width:40em;overflow-wrap:anywhere}
details pre{white-space:pre-wrap;margin:4px 0 0;font-size:12px;color:#5b6675}
footer{padding:0 20px 16px;color:#8a94a3;font-size:12px}
"""


def _badge(status):
    return f'<span class="badge {STATUS_CLASSES.get(status, "ok")}">{escape(status)}</span>'


def _or_dash(text):
    return escape(text) if text else '<span class="muted">-</span>'


def _error_cell(server):
    error = server.get("last_error") or ""
    tail = server.get("stderr_tail") or ""
    if not error:  # a healthy server's stderr (its start-up banner) is no error
        return '<td class="muted">-</td>'
    summary = escape(error)
    if not tail:
        return f'<td class="error">{summary}</td>'
    return f'<td class="error"><details><summary>{summary}</summary><pre>{escape(tail)}</pre></details></td>'


def _server_rows(servers, now):
    if not servers:
        return ['<tr><td colspan="9" class="muted">no pooled servers: add an [mcp.NAME] table to the config</td></tr>']
    return [f"<tr><td>{escape(s['name'])}</td><td>{_badge(s.get('state', '?'))}</td>"
            f"<td class=\"num\">{age(s.get('since'), now)}</td><td class=\"num\">{s.get('pid') or '-'}</td>"
            f"<td class=\"num\">{s.get('socket_clients', 0)}</td><td class=\"num\">{s.get('http_sessions', 0)}</td>"
            f"<td class=\"num\">{s.get('in_flight', 0)}</td>"
            f"<td class=\"num\">{s.get('restarts', 0)}</td>{_error_cell(s)}</tr>"
            for s in _with_children(servers)]


def _with_children(servers):
    """Each server, then a row per child of one shared per project or per session."""
    for server in servers:
        share = server.get("share", "all")
        if share == "all":
            yield server
            continue
        yield {**server, "name": f"{server['name']} (one per {share})"}
        for child in server.get("children", []):
            yield {**child, "name": f"{server['name']} @ {child.get('project') or child.get('key')}"}


def _session_rows(sessions, now):
    if not sessions:
        return ['<tr><td colspan="7" class="muted">no sessions: start one with '
                '<code>agentdeck session add PATH --cmd claude</code></td></tr>']
    ordered = sorted(sessions, key=lambda s: (SESSION_ORDER.get(s.get("status"), len(SESSION_ORDER)),
                                              -(s.get("since") or 0)))
    rows = []
    for s in ordered:
        prompt = s.get("prompt") or ""
        if len(prompt) > PROMPT_CHARS:
            prompt = prompt[:PROMPT_CHARS - 1] + "…"
        rows.append(f"<tr><td>{escape(s.get('title') or '')}<br><span class=\"muted\">{escape(s['id'])}</span></td>"
                    f"<td>{_badge(s.get('status', '?'))}</td>"
                    f"<td class=\"why\">{_or_dash(why(s))}</td>"
                    f"<td class=\"num\">{age(s.get('since'), now)}</td>"
                    f"<td>{escape(s.get('profile') or '')}</td><td>{escape(s.get('tool') or '')}</td>"
                    f"<td class=\"prompt\">{_or_dash(prompt)}</td></tr>")
    return rows


def _title(sessions):
    waiting = sum(1 for s in sessions if s.get("status") == session_states.WAITING)
    return f"agentdeck: {waiting} waiting" if waiting else "agentdeck"


def render(snapshot, rss_samples, now, query=""):
    """The page for ``snapshot`` (the /status document); ``rss_samples`` are (unix time,
    bytes) oldest first; ``now`` is the Unix time the ages are counted to; ``query`` (the
    request's ``?...``, e.g. a token) is kept on the links to /status and /metrics."""
    daemon = snapshot.get("daemon", {})
    servers = snapshot.get("servers", [])
    sessions = snapshot.get("sessions", [])
    facts = (f"pid {daemon.get('pid', '?')} · up {duration(daemon.get('uptime'))} · "
             f"RSS {size(daemon.get('rss_bytes', 0))} · {len(servers)} servers · {len(sessions)} sessions")
    sessions_error = snapshot.get("sessions_error")
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(_title(sessions))}</title><style>{STYLE}</style></head><body>",
        f'<header><h1>agentdeck {escape(str(daemon.get("version", "")))}</h1>'
        f'<span class="facts">{escape(facts)}</span>'
        f'<span class="spark-box">{sparkline(rss_samples)}RSS, last hour</span></header><main>',
        f'<h2>MCP servers ({len(servers)})</h2><table id="servers"><thead><tr><th>server</th><th>state</th>'
        "<th class=\"num\">for</th><th class=\"num\">pid</th><th class=\"num\">socket clients</th>"
        "<th class=\"num\">HTTP sessions</th>"
        "<th class=\"num\">in flight</th><th class=\"num\">restarts</th><th>last error</th>"
        "</tr></thead><tbody>",
        *_server_rows(servers, now),
        f'</tbody></table><h2>Sessions ({len(sessions)})</h2>',
        f'<p class="muted">{escape(sessions_error)}</p>' if sessions_error else "",
        '<table id="sessions"><thead><tr><th>session</th><th>status</th><th>why</th><th class="num">for</th>'
        "<th>profile</th><th>tool</th><th>latest prompt</th></tr></thead><tbody>",
        *_session_rows(sessions, now),
        f'</tbody></table></main><footer>config {escape(str(daemon.get("config") or "(built-in defaults)"))} · '
        f"refreshes every {REFRESH_SECONDS} s · JSON at <a href=\"status{escape(query)}\">/status</a>, "
        f'Prometheus at <a href="metrics{escape(query)}">/metrics</a></footer></body></html>',
    ]
    return "".join(parts)
