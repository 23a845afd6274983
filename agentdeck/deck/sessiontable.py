"""The sessions, one row each, in the deck's order (`model.DeckModel.visible`).

A change that keeps the order updates only the cells that changed; a change of order
(a status changed, a session came or went, the filter changed) rebuilds the rows and
keeps the cursor on the session it was on. `tick` refreshes the "for" column of the
rows on screen only, so an idle deck with 500 sessions redraws a screenful a second.
"""
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from agentdeck.deck.model import STATUS_STYLE

COLUMNS = (("title", "TITLE"), ("project", "PROJECT"), ("tool", "TOOL"), ("status", "STATUS"), ("for", "FOR"),
           ("why", "WHY"), ("prompt", "LATEST PROMPT"))
STATUS_COLUMN = 3


class SessionTable(DataTable):
    """Row keys are session ids. ``model`` is the app's DeckModel."""

    BINDINGS = [Binding("enter", "app.attach", "Attach")]  # not DataTable's "select"

    def __init__(self, model, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.model = model
        self.order = []  # session ids in row order
        self.shown = {}  # id -> the cells (text) its row shows

    def on_mount(self):
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected(self):
        """The id of the session under the cursor, or None."""
        if not self.order or not 0 <= self.cursor_row < len(self.order):
            return None
        return self.order[self.cursor_row]

    def sync(self, now=None):
        """Show the model: in place when the order held, else rebuilt."""
        entries = self.model.visible()
        order = [entry["id"] for entry in entries]
        if order != self.order:
            self._rebuild(entries, order, now)
            return
        for entry in entries:
            self._update(entry, now)

    def tick(self, now=None):
        """Refresh what time changes ("for") on the rows on screen."""
        top = self.scroll_offset.y
        for row in range(max(0, top - 1), min(len(self.order), top + self.size.height)):
            entry = self.model.sessions.get(self.order[row])
            if entry is not None:
                self._update(entry, now)

    def _rebuild(self, entries, order, now):
        keep = self.selected
        self.clear()
        self.shown = {}
        for entry in entries:
            cells = self.model.cells(entry, now)
            self.shown[entry["id"]] = cells
            self.add_row(*_styled(cells), key=entry["id"])
        self.order = order
        if keep in order:
            self.move_cursor(row=order.index(keep), animate=False)

    def _update(self, entry, now):
        cells = self.model.cells(entry, now)
        old = self.shown.get(entry["id"])
        if cells == old:
            return
        self.shown[entry["id"]] = cells
        styled = _styled(cells)
        for index, (key, _) in enumerate(COLUMNS):
            if old is None or cells[index] != old[index]:
                self.update_cell(entry["id"], key, styled[index])


def _styled(cells):
    status = cells[STATUS_COLUMN]
    return (*cells[:STATUS_COLUMN], Text(status, style=STATUS_STYLE.get(status, "")), *cells[STATUS_COLUMN + 1:])
