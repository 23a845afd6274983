"""`m`: the pooled MCP servers: state, children, clients, restarts, the last error with
the tail of the server's stderr, and when it is tried again; `r` restarts the selected one.

The rows follow the app's model (kept live by ``server`` events); `refresh_rows` is
called by the app when one changes.
"""
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from agentdeck.deck.model import SERVER_STYLE, age

COLUMNS = (("name", "SERVER"), ("state", "STATE"), ("for", "FOR"), ("pid", "PID"), ("children", "CHILDREN"),
           ("clients", "CLIENTS"), ("restarts", "RESTARTS"), ("error", "LAST ERROR"))
BACKOFF_NOTE = "at least 5 s after its last start, at most 3 starts a minute; given up after 10 failures"


def server_cells(entry, now):
    state = entry.get("state") or ""
    error = " ".join(str(entry.get("last_error") or "").split())
    return (entry["name"], Text(state, style=SERVER_STYLE.get(state, "")), age(entry.get("since"), now),
            str(entry.get("pid") or ""), str(entry.get("child_count", "")), str(entry.get("clients", 0)),
            str(entry.get("restarts", 0)), error)


def details(entry, now=None):
    """The selected server in full: its error, its stderr tail, and what happens next."""
    now = time.time() if now is None else now
    lines = [f"[b]{entry['name']}[/b]  {entry.get('command', '')}"]
    if entry.get("last_error"):
        lines.append(f"last error: {entry['last_error']}")
    if entry.get("stderr_tail"):
        lines.append("stderr:\n" + entry["stderr_tail"].rstrip())
    state = entry.get("state")
    if state == "backoff":
        when = f"in {max(0, entry['next_start'] - now):.0f} s" if entry.get("next_start") else "soon"
        lines.append(f"next retry: {when} ({BACKOFF_NOTE})")
    elif state == "fatal":
        lines.append("next retry: none; `r` (or a reload) starts it again")
    for child in entry.get("children", ()):
        if child.get("key"):
            lines.append(f"  child {child.get('project') or child['key']}: {child.get('state')}, "
                         f"pid {child.get('pid') or '-'}, {child.get('clients', 0)} clients")
    return "\n".join(lines)


class ServersScreen(Screen):
    BINDINGS = [Binding("r", "restart", "Restart server"), Binding("escape,m", "app.pop_screen", "Sessions")]

    def compose(self) -> ComposeResult:
        yield Static("MCP servers", classes="bar")
        yield DataTable(cursor_type="row", id="servers")
        yield Static("", id="server-details")
        yield Footer()

    def on_mount(self):
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.refresh_rows()

    def refresh_rows(self):
        table = self.query_one(DataTable)
        if not table.columns:  # an event before on_mount: on_mount fills the rows
            return
        keep = table.cursor_row
        table.clear()
        now = time.time()
        for name in sorted(self.app.model.servers):
            table.add_row(*server_cells(self.app.model.servers[name], now), key=name)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1), animate=False)
        self._show_details()

    @property
    def selected(self):
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def on_data_table_row_highlighted(self, event):
        self._show_details()

    def _show_details(self):
        name = self.selected
        entry = self.app.model.servers.get(name) if name else None
        self.query_one("#server-details", Static).update(details(entry) if entry else "no pooled servers")

    def action_restart(self):
        if self.selected:
            self.app.restart_server(self.selected)
