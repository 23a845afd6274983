"""The deck: every session with its status, waiting ones first, live from the daemon's
``/events``; a preview of the selected session's terminal; a key for everything.

Work that waits on I/O (the stream, the CLI, tmux) runs in Textual workers, never in a
key handler; each action's answer is one line in the message bar. When the daemon does
not run, the bar says so in one line and the rows come from the registry
(`agentdeck session list --json`); the deck keeps looking for the daemon and goes live
when it starts.
"""
import asyncio
import subprocess

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from agentdeck.daemon.remote import DaemonUnreachable
from agentdeck.deck.actions import ActionError, Actions
from agentdeck.deck.ask import AskScreen
from agentdeck.deck.client import EventStream, StreamError, events_url
from agentdeck.deck.confirm import ConfirmScreen
from agentdeck.deck.model import DeckModel, Filter
from agentdeck.deck.newsession import NewSessionScreen
from agentdeck.deck.preview import Preview
from agentdeck.deck.servers import ServersScreen
from agentdeck.deck.sessiontable import SessionTable
from agentdeck.sessions.states import IDLE, RUNNING, WAITING

RETRY_INTERVAL = 2.0     # seconds between two looks for a daemon that is not running or whose stream broke
TICK_INTERVAL = 1.0      # seconds between two refreshes of ages and of the preview
SYNC_DELAY = 0.03        # seconds events are gathered before the rows are redrawn
# Ticks between two looks at the selected session's pane, by its status. A waiting or dead
# session's screen changes only when something happens that the daemon tells us about
# (or the person attached, after which we look again), so it is captured on those only:
# a capture is a tmux process, and the deck's idle budget is 1 % of a core.
PREVIEW_EVERY = {RUNNING: 1, IDLE: 5}
PREVIEW_DELAY = 0.15     # seconds the cursor rests on a row before its pane is captured


class DeckApp(App):
    CSS_PATH = "deck.tcss"
    TITLE = "agentdeck deck"
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("s", "send", "Send prompt"),
        Binding("r", "restart", "Restart"),
        Binding("k", "kill", "Kill"),
        Binding("x", "remove", "Remove"),
        Binding("e", "rename", "Rename"),
        Binding("slash", "filter", "Filter"),
        Binding("m", "servers", "MCP servers"),
        Binding("R", "reload", "Reload config"),
        Binding("question_mark", "toggle_keys", "Keys"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, home, token="", config=None):
        super().__init__()
        self.home = home            # the agentdeck home (its daemon.json says where the daemon listens)
        self.token = token          # [daemon] status_token, or ""
        self.actions = Actions(config)
        self.model = DeckModel()
        self.daemon_pid = None      # the daemon streaming to us; None while offline
        self.offline_reason = ""    # why there is no stream, one line
        self.message = ""           # the latest action's answer
        self._sync_pending = False
        self._preview_stale = False  # the selected session changed since its pane was captured
        self._capture_timer = None  # the capture after the cursor moved, until it fires
        self.ticks = 0  # clock ticks since start (the preview of an idle session is captured every few)

    def compose(self) -> ComposeResult:
        yield Static("", id="bar", classes="bar")
        yield SessionTable(self.model, id="sessions")
        yield Preview("", id="preview")
        yield Static("", id="message")
        yield Footer()

    def on_mount(self):
        # Kept, not queried: workers may still report while the app shuts down.
        self.table = self.query_one(SessionTable)
        self.preview = self.query_one(Preview)
        self.bar = self.query_one("#bar", Static)
        self.message_line = self.query_one("#message", Static)
        self.table.focus()
        self._show_bar()
        self.live()
        self.set_interval(TICK_INTERVAL, self._tick)

    # -- the live stream

    @work(exclusive=True, group="live")
    async def live(self):
        while True:
            try:
                url, pid = events_url(self.home)
            except DaemonUnreachable as exc:
                await self._go_offline(str(exc))
                await asyncio.sleep(RETRY_INTERVAL)
                continue
            stream = EventStream(url, self.token)
            try:
                await stream.open()
                async for kind, data in stream:
                    self._event(pid, kind, data)
                reason = f"the daemon (pid {pid}) ended its event stream"
            except StreamError as exc:
                reason = str(exc)
            finally:
                stream.close()
            await self._go_offline(reason)
            await asyncio.sleep(RETRY_INTERVAL)

    def _event(self, pid, kind, data):
        if kind == "snapshot":
            self.daemon_pid, self.offline_reason = pid, ""
            self.model.load(data)
            self._preview_stale = True
        else:
            if self.model.apply(kind, data) == self.table.selected:
                self._preview_stale = True
            if kind.startswith("server") and isinstance(self.screen, ServersScreen):
                self.screen.refresh_rows()
        self._schedule_sync()

    async def _go_offline(self, reason):
        was_live = self.daemon_pid is not None or not self.offline_reason
        self.daemon_pid, self.offline_reason = None, reason
        if was_live:
            await self._load_registry()
        self._show_bar()

    async def _load_registry(self):
        try:
            sessions = await self.actions.registry_sessions()
        except (ActionError, ValueError) as exc:
            self.say(f"cannot read the registry: {exc}")
            return
        self.model.load({"sessions": sessions, "servers": []})
        self._preview_stale = True
        self._schedule_sync()

    def _schedule_sync(self):
        if not self._sync_pending:
            self._sync_pending = True
            self.set_timer(SYNC_DELAY, self._sync)

    def _sync(self):
        self._sync_pending = False
        self.table.sync()
        self._show_bar()
        if self._preview_stale:
            self._preview_stale = False
            self._capture()

    def _show_bar(self):
        sessions = self.model.sessions.values()
        waiting = sum(1 for s in sessions if s.get("status") == WAITING)
        where = f"daemon pid {self.daemon_pid}, live" if self.daemon_pid else \
            f"{self.offline_reason}; showing the registry's sessions"
        count = f"{len(sessions)} session{'' if len(sessions) == 1 else 's'}"
        if self.model.filter:
            count = f"{len(self.table.order)} of {count} shown (filter: {self.filter_text})"
        self.bar.update(f"{count}, {waiting} waiting · {where}")

    @property
    def filter_text(self):
        return " ".join((*self.model.filter.words, *sorted(self.model.filter.statuses)))

    # -- the preview and the clock

    def _tick(self):
        if self.screen is not self.screen_stack[0]:
            return
        self.ticks += 1
        if not self._sync_pending:  # a pending sync redraws every row in order; a tick would show new cells in old places
            self.table.tick()
        entry = self.selected_entry()
        every = PREVIEW_EVERY.get(entry.get("status")) if entry else None
        if every and self.ticks % every == 0:
            self._capture()

    def on_data_table_row_highlighted(self, event):
        # Captured once the cursor rests: a tmux process per row passed would slow the keys.
        if event.data_table is self.table:
            if self._capture_timer is not None:
                self._capture_timer.stop()
            self._capture_timer = self.set_timer(PREVIEW_DELAY, self._capture)

    @work(exclusive=True, group="preview")
    async def _capture(self):
        entry = self.selected_entry()
        if entry is None:
            self.preview.say("preview", "no session selected")
            return
        title = f"{entry.get('title')} ({entry['id']})"
        try:
            self.preview.show(title, await self.actions.capture(entry["tmux_session"]))
        except ActionError as exc:
            self.preview.say(title, f"no terminal: {exc}")

    # -- helpers

    def selected_entry(self):
        selected = self.table.selected
        return self.model.sessions.get(selected) if selected else None

    def say(self, message):
        self.message = message
        self.message_line.update(message)

    def _need_session(self):
        entry = self.selected_entry()
        if entry is None:
            self.say("no session selected")
        return entry

    @work(group="action")
    async def _act(self, doing, coroutine):
        """Run one action and say how it went; offline, the rows are read again after it."""
        try:
            result = await coroutine
        except ActionError as exc:
            self.say(f"{doing} failed: {exc}")
            return
        self.say(result or f"{doing}: done")
        self._capture()
        if self.daemon_pid is None:
            await self._load_registry()

    # -- keys

    def action_attach(self):
        entry = self._need_session()
        if entry is None:
            return
        argv, env = self.actions.attach_argv(entry["tmux_session"])
        if "switch-client" in argv:
            self._act(f"switch to {entry['title']}", self._switch(entry, argv, env))
            return
        with self.suspend():  # the terminal is tmux's until the person detaches
            code = subprocess.run(argv, env=env).returncode
        self.say(f"back from {entry['title']}" if code == 0 else f"tmux attach exited {code}")
        self._capture()

    async def _switch(self, entry, argv, env):
        await self.actions.switch(argv, env)
        return f"switched to {entry['title']}; tmux's `switch-client -l` (prefix L) comes back"

    def action_new(self):
        def start(answer):
            if answer:
                directory, tool, title = answer
                self._act("new session", self._add(directory, tool, title))
        self.push_screen(NewSessionScreen(), start)

    async def _add(self, directory, tool, title):
        return f"started {await self.actions.add(directory, tool, title)}"

    def action_send(self):
        entry = self._need_session()
        if entry is None:
            return

        def send(text):
            if text:
                self._act(f"send to {entry['title']}", self._cli("session", "send", entry["id"], "--", text))
        self.push_screen(AskScreen(f"Prompt for {entry['title']}:"), send)

    def _session_command(self, verb, *more):
        entry = self._need_session()
        if entry is not None:
            self._act(f"{verb} {entry['title']}", self._cli("session", verb, entry["id"], *more))

    async def _cli(self, *args):
        return (await self.actions.cli(*args)).strip()

    def action_restart(self):
        self._session_command("restart")

    def action_kill(self):
        self._session_command("kill")

    def action_remove(self):
        entry = self._need_session()
        if entry is None:
            return

        def remove(yes):
            if yes:
                self._act(f"remove {entry['title']}", self._cli("session", "remove", entry["id"]))
        self.push_screen(ConfirmScreen(f"Remove {entry['title']} ({entry['id']}) and its files?"), remove)

    def action_rename(self):
        entry = self._need_session()
        if entry is None:
            return

        def rename(title):
            if title and title != entry.get("title"):
                self._act(f"rename {entry['title']}", self._cli("session", "rename", entry["id"], "--", title))
        self.push_screen(AskScreen(f"New title for {entry['id']}:", value=entry.get("title") or ""), rename)

    def action_filter(self):
        def apply(text):
            if text is not None:
                self.model.filter = Filter.parse(text)
                self._sync()
        self.push_screen(AskScreen("Filter (words; waiting/running/idle/dead for a status; empty: all):",
                                   value=self.filter_text), apply)

    def action_servers(self):
        self.push_screen(ServersScreen())

    def action_toggle_keys(self):
        if self.screen.query("KeyPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_reload(self):
        self._act("reload", self._reload())

    async def _reload(self):
        """`agentdeck reload`: what the daemon added, removed and restarted, or its config error."""
        return " ".join((await self.actions.cli("reload")).split())

    def restart_server(self, name):
        """The servers screen's `r`: its children get SIGTERM and the pool starts them
        again; a server with no child (failed for good) is started again by a reload."""
        entry = self.model.servers.get(name) or {}
        pids = [p for p in [entry.get("pid"), *(c.get("pid") for c in entry.get("children", ()))] if p]
        if pids:
            for pid in set(pids):
                self.actions.signal_process(pid)
            self.say(f"restarting {name}: SIGTERM to pid {', '.join(map(str, sorted(set(pids))))}")
        else:
            self._act(f"restart {name} (by a reload)", self._reload())

