"""The sessions, one row each, in the deck's order (`model.DeckModel.visible`).

A change updates only the cells that changed; a change of order (a status changed, a
session came or went, the filter changed) adds and removes only the rows that came and
went and sorts the rest in place (DataTable.sort reorders its index, it redraws nothing
else), keeping the cursor on the session it was on. `tick` refreshes the "for" column
of the rows on screen only. Every cell is `rich.text.Text`, never a str, which
DataTable would read as markup (a prompt "fix [b]" must show as typed).
"""
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from agentdeck.deck.model import STATUS_STYLE

COLUMNS = (("title", "TITLE"), ("project", "PROJECT"), ("tool", "TOOL"), ("status", "STATUS"), ("for", "FOR"),
           ("why", "WHY"), ("prompt", "LATEST PROMPT"))
STATUS_COLUMN = 3


class TitleCell(Text):
    """A title that knows its session, so that rows can be sorted by the model's order."""

    def __init__(self, text, session):
        super().__init__(text)
        self.session = session


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
        """Show the model: cells in place, rows added and removed, then sorted if the order changed."""
        entries = self.model.visible()
        order = [entry["id"] for entry in entries]
        if order == self.order:
            for entry in entries:
                self._update(entry, now)
            return
        keep = self.selected
        wanted = set(order)
        for gone in [i for i in self.order if i not in wanted]:
            self.remove_row(gone)
            del self.shown[gone]
        for entry in entries:
            if entry["id"] in self.shown:
                self._update(entry, now)
            else:
                cells = self.model.cells(entry, now)
                self.shown[entry["id"]] = cells
                self.add_row(*_styled(entry["id"], cells), key=entry["id"])
        position = {session: index for index, session in enumerate(order)}
        self.sort("title", key=lambda title: position[title.session])
        self.order = order
        if keep in position:
            self.move_cursor(row=position[keep], animate=False)

    def tick(self, now=None):
        """Refresh what time changes ("for") on the rows on screen."""
        top = self.scroll_offset.y
        for row in range(max(0, top - 1), min(len(self.order), top + self.size.height)):
            entry = self.model.sessions.get(self.order[row])
            if entry is not None:
                self._update(entry, now)

    def _update(self, entry, now):
        cells = self.model.cells(entry, now)
        old = self.shown.get(entry["id"])
        if cells == old:
            return
        self.shown[entry["id"]] = cells
        styled = _styled(entry["id"], cells)
        for index, (key, _) in enumerate(COLUMNS):
            if old is None or cells[index] != old[index]:
                self.update_cell(entry["id"], key, styled[index])


def _styled(session, cells):
    status = cells[STATUS_COLUMN]
    return (TitleCell(cells[0], session), *map(Text, cells[1:STATUS_COLUMN]),
            Text(status, style=STATUS_STYLE.get(status, "")), *map(Text, cells[STATUS_COLUMN + 1:]))
