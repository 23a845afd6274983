"""`n`: a new session: its directory, its tool and its title. Enter in the title (or
ctrl+s) starts it; Escape cancels. The answer is (directory, tool, title) or None."""
import os

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select

from agentdeck.deck.model import TOOLS


class NewSessionScreen(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "start", "Start")]

    def __init__(self, directory=None):
        super().__init__()
        self.directory = directory or os.getcwd()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New session: directory, tool, title")
            yield Input(value=self.directory, placeholder="project directory", id="directory")
            yield Select([(tool, tool) for tool in TOOLS], value="claude", allow_blank=False, id="tool")
            yield Input(placeholder="title (default: the directory's name)", id="title")

    def on_input_submitted(self, event):
        if event.input.id == "title":
            self.action_start()
        else:
            self.focus_next()

    def action_start(self):
        directory = self.query_one("#directory", Input).value.strip()
        if directory:
            self.dismiss((os.path.expanduser(directory), self.query_one("#tool", Select).value,
                          self.query_one("#title", Input).value.strip()))

    def action_cancel(self):
        self.dismiss(None)
