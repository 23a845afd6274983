"""``/metrics``: the /status document as Prometheus text exposition (format 0.0.4).

`render` is a pure function of the snapshot, so what a scrape costs is one pass over
the servers; nothing is kept between scrapes. Counters come from the pool's per-server
counters, which start again at zero when a server is re-created by a reload (Prometheus
treats that as a counter reset).
"""
from agentdeck.pool import states as server_states
from agentdeck.sessions.states import STATUSES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COUNTER = "counter"
GAUGE = "gauge"

# Per MCP server, labelled {server="NAME"}: (metric, type, key in a server's status, help).
SERVER_METRICS = (
    ("agentdeck_mcp_clients", GAUGE, "clients", "Clients of the pooled server: socket clients and HTTP sessions."),
    ("agentdeck_mcp_socket_clients", GAUGE, "socket_clients", "Clients connected to the server's Unix socket."),
    ("agentdeck_mcp_http_sessions", GAUGE, "http_sessions", "Streamable HTTP sessions of the server."),
    ("agentdeck_mcp_http_requests", GAUGE, "http_requests",
     "MCP 2026-07-28 HTTP requests of the server in flight (they have no session)."),
    ("agentdeck_mcp_in_flight", GAUGE, "in_flight", "Client requests waiting for the server's answer."),
    ("agentdeck_mcp_restarts_total", COUNTER, "restarts", "Times the server's process was restarted."),
    ("agentdeck_mcp_failures", GAUGE, "failures", "Failures since the server was last healthy for long enough."),
    ("agentdeck_mcp_requests_total", COUNTER, "requests", "Client requests forwarded to the server."),
    ("agentdeck_mcp_bytes_in_total", COUNTER, "bytes_in", "Bytes received from clients."),
    ("agentdeck_mcp_bytes_out_total", COUNTER, "bytes_out", "Bytes read from the server's stdout."),
    ("agentdeck_mcp_orphan_responses_total", COUNTER, "orphans",
     "Responses dropped because the client that asked had left."),
    ("agentdeck_mcp_oversize_requests_total", COUNTER, "oversize_requests",
     "Client lines over max_request_bytes, discarded."),
    ("agentdeck_mcp_oversize_responses_total", COUNTER, "oversize_responses",
     "Server lines over max_response_bytes, discarded."),
    ("agentdeck_mcp_bad_server_lines_total", COUNTER, "bad_child_lines",
     "Lines from the server's stdout that were not JSON-RPC."),
    ("agentdeck_mcp_idle_disconnects_total", COUNTER, "idle_closed", "Clients closed after idle_timeout."),
    ("agentdeck_mcp_slow_disconnects_total", COUNTER, "slow_closed",
     "Clients closed because their unsent output passed client_queue_bytes."),
    ("agentdeck_mcp_slow_streams_total", COUNTER, "slow_streams",
     "HTTP streams closed because their unsent events passed client_queue_bytes (the session lived on)."),
    ("agentdeck_mcp_rejected_clients_total", COUNTER, "rejected",
     "Clients refused because max_clients (or max_children) was reached."),
    ("agentdeck_mcp_made_room_total", COUNTER, "made_room",
     "Unused HTTP sessions (no stream, nothing in flight) ended to let a new client in at max_clients."),
    ("agentdeck_mcp_children", GAUGE, "child_count",
     "Children running for the server: one for share = \"all\", one per project or session otherwise."),
)
# The daemon's own numbers: (metric, type, key in snapshot["daemon"], help).
DAEMON_METRICS = (
    ("agentdeck_uptime_seconds", GAUGE, "uptime", "Seconds since the daemon started."),
    ("agentdeck_resident_memory_bytes", GAUGE, "rss_bytes", "Resident set size of the daemon process."),
    ("agentdeck_log_lines_lost_total", COUNTER, "log_lines_lost",
     "Log lines that could not be written (disk full, file unwritable)."),
)
# Session status tracking: (metric, type, key in snapshot["transitions"], help).
TRANSITION_METRICS = (
    ("agentdeck_events_dropped_total", COUNTER, "events_dropped",
     "Session status events dropped because the event watcher's queue was full."),
    ("agentdeck_session_transitions_total", COUNTER, "transitions", "Session status changes published."),
    ("agentdeck_session_missed_turns_total", COUNTER, "missed_turns",
     "Whole turns that happened between two status passes (published as running -> waiting)."),
    ("agentdeck_status_passes_total", COUNTER, "passes", "Status passes over every session."),
    ("agentdeck_status_pass_seconds", GAUGE, "last_pass_seconds", "How long the latest status pass took."),
    ("agentdeck_notify_sent_total", COUNTER, "notify_sent", "Notify commands run."),
    ("agentdeck_notify_failed_total", COUNTER, "notify_failed", "Notify commands that failed or timed out."),
)
# The /events hub (web.events.EventHub.stats): (metric, type, key in snapshot["events"], help).
EVENT_STREAM_METRICS = (
    ("agentdeck_event_streams", GAUGE, "subscribers", "Streams of /events open now."),
    ("agentdeck_event_stream_events_total", COUNTER, "published",
     "Events published to the open /events streams (each once, however many streams it went to)."),
    ("agentdeck_event_streams_dropped_total", COUNTER, "dropped",
     "/events streams ended because their reader fell too far behind (it reconnects from a snapshot)."),
    ("agentdeck_event_streams_refused_total", COUNTER, "refused",
     "/events streams refused with 503 because as many as allowed were open."),
)
# The sections of the snapshot whose numbers are metrics without labels, and their tables.
SECTION_METRICS = (("daemon", DAEMON_METRICS), ("transitions", TRANSITION_METRICS), ("events", EVENT_STREAM_METRICS))
ALL_SERVER_STATES = tuple(server_states.TRANSITIONS)  # every state has an entry there


def _escape_label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value):
    """A sample value: ints as ints, other numbers as floats; anything else (unknown) as 0."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return "0"


class _Writer:
    """Collects families as lines; one HELP/TYPE header per family."""

    def __init__(self):
        self.lines = []

    def family(self, name, kind, help_text, samples):
        """``samples``: (labels dict or None, value) pairs."""
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if labels:
                label_text = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels.items())
                self.lines.append(f"{name}{{{label_text}}} {_number(value)}")
            else:
                self.lines.append(f"{name} {_number(value)}")

    def text(self):
        return "\n".join(self.lines) + "\n"


def render(snapshot):
    """Prometheus text for ``snapshot`` (the /status document)."""
    out = _Writer()
    daemon = snapshot.get("daemon", {})
    out.family("agentdeck_info", GAUGE, "Always 1; the version is a label.", [({"version": daemon.get("version")}, 1)])
    for section, table in SECTION_METRICS:
        numbers = snapshot.get(section, {})
        for name, kind, key, help_text in table:
            out.family(name, kind, help_text, [(None, numbers.get(key, 0))])
    refused = snapshot.get("http", {}).get("refused", {})
    out.family("agentdeck_http_refused_total", COUNTER, "HTTP requests refused, by reason.",
               [({"reason": reason}, count) for reason, count in sorted(refused.items())])

    servers = snapshot.get("servers", [])
    out.family("agentdeck_mcp_server_state", GAUGE, "1 for the state each pooled server is in, 0 for the others.",
               [({"server": s["name"], "state": state}, int(s.get("state") == state))
                for s in servers for state in ALL_SERVER_STATES])
    for name, kind, key, help_text in SERVER_METRICS:
        out.family(name, kind, help_text, [({"server": s["name"]}, s.get(key, 0)) for s in servers])

    counts = dict.fromkeys(STATUSES, 0)
    for session in snapshot.get("sessions", []):
        counts[session.get("status")] = counts.get(session.get("status"), 0) + 1
    out.family("agentdeck_sessions", GAUGE, "Registered agent sessions, by status.",
               [({"status": status}, count) for status, count in counts.items()])
    return out.text()
