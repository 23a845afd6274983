"""The selected session's terminal as tmux shows it (`capture-pane`), with its colours."""
from rich.text import Text
from textual.widgets import Static


class Preview(Static):
    def show(self, title, screen):
        """``screen``: the pane's text with ANSI colours; trailing blank lines dropped."""
        text = Text.from_ansi(screen.rstrip("\n") or "(empty screen)")
        self.border_title = title
        self.update(text)

    def say(self, title, message):
        self.border_title = title
        self.update(Text(message, style="dim"))
