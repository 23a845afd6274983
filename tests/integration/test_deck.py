"""The deck driven key by key through Textual's headless pilot, against a real daemon,
real tmux sessions on a private tmux server, and the real `agentdeck` CLI."""
import asyncio
import io
import os
import shutil
import subprocess
import sys
import time

import pytest
from rich.console import Console

from agentdeck.deck.app import DeckApp
from agentdeck.deck.servers import ServersScreen
from agentdeck.sessions.tmux import Tmux
from tests.support import REPO, DaemonProcess, clean_env, run_cli, scripted, toml_config, until, wait_for, write_hook

HOOK_TO_SCREEN = 1.0  # seconds: the bound from a hook to the screen
SIZE = (160, 45)


@pytest.fixture
def tmux(tmux, monkeypatch):
    """The test's tmux server, for the daemon, the CLI and the deck alike."""
    monkeypatch.setenv("AGENTDECK_TMUX_SOCKET", tmux.socket)
    monkeypatch.delenv("TMUX", raising=False)
    return tmux


@pytest.fixture
def daemon(start_daemon, tmux, monkeypatch):
    started = start_daemon(servers={"echo": scripted()}, env_extra={"AGENTDECK_TMUX_SOCKET": tmux.socket})
    monkeypatch.setenv("AGENTDECK_HOME", str(started.home))
    return started


def cli(home, *args):
    proc = run_cli(home, *args, env=clean_env(home, AGENTDECK_TMUX_SOCKET=os.environ["AGENTDECK_TMUX_SOCKET"]))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def add(home, path, title, command="sleep 600"):
    return cli(home, "session", "add", str(path), "--title", title, "--cmd", command)


def drive(app, scenario):
    """Run ``scenario(pilot)`` against ``app`` headless, the whole of it within a deadline."""
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(scenario(pilot), 240)
    asyncio.run(main())


def rows(app):
    return [app.table.shown[i] for i in app.table.order]


def by_title(app, title):
    return next((cells for cells in rows(app) if cells[0] == title), None)


async def select(pilot, title):
    app = pilot.app
    row = await until(pilot, lambda: [c[0] for c in rows(app)].index(title) + 1 if by_title(app, title) else 0,
                      f"row {title}")
    app.table.move_cursor(row=row - 1)
    await pilot.pause(0.05)


async def live(pilot):
    await until(pilot, lambda: pilot.app.daemon_pid, "the deck to go live")


def test_sessions_waiting_first_with_why_exit_status_prompt_and_preview(daemon, tmp_path):
    home = daemon.home
    idle = add(home, tmp_path, "idle-one")
    running = add(home, tmp_path, "running-one")
    waiting = add(home, tmp_path, "waiting-one")
    add(home, tmp_path, "dead-one", "sh -c 'sleep 2; exit 3'")  # not at once: `add` would refuse it
    add(home, tmp_path, "shows-text", "sh -c 'echo hello-from-the-pane; sleep 600'")
    write_hook(home, running, "UserPromptSubmit", prompt="refactor the [b]parser[/b]")  # text, not markup
    write_hook(home, waiting, "Stop")
    app = DeckApp(home, config=str(daemon.config_path))

    async def scenario(pilot):
        await live(pilot)
        await until(pilot, lambda: [c[3] for c in rows(app)] == ["waiting", "running", "idle", "idle", "dead"],
                    "the order waiting, running, idle, dead")
        assert by_title(app, "waiting-one")[5] == "finished turn"
        assert by_title(app, "running-one")[6] == "refactor the [b]parser[/b]"
        assert "[b]parser[/b]" in app.export_screenshot()
        assert by_title(app, "running-one")[2] == "shell" and by_title(app, "running-one")[1] == tmp_path.name
        await until(pilot, lambda: by_title(app, "dead-one")[5] == "exit status 3", "the dead session's exit status")
        # A hook reaches the screen within a second.
        write_hook(home, idle, "PermissionRequest")
        written = time.monotonic()
        await until(pilot, lambda: by_title(app, "idle-one")[3:6:2] == ("waiting", "permission request"),
                    "the permission request", timeout=HOOK_TO_SCREEN)
        assert time.monotonic() - written < HOOK_TO_SCREEN
        assert [c[0] for c in rows(app)][:2] == ["waiting-one", "idle-one"]  # the longest waiting first
        await select(pilot, "shows-text")
        await until(pilot, lambda: "hello-from-the-pane" in str(app.preview.content), "the pane in the preview")
    drive(app, scenario)


def test_keys_new_send_kill_remove_filter_and_help(daemon, tmp_path):
    home = daemon.home
    add(home, tmp_path, "cat-one", "cat")
    add(home, tmp_path, "other")
    app = DeckApp(home, config=str(daemon.config_path))
    project = tmp_path / "newproj"
    project.mkdir()

    async def scenario(pilot):
        await live(pilot)
        await until(pilot, lambda: len(rows(app)) == 2, "two rows")
        # n: a new session from the dialog
        await pilot.press("n")
        dialog = await until(pilot, lambda: app.screen if type(app.screen).__name__ == "NewSessionScreen" else None,
                             "the new-session dialog")
        dialog.query_one("#directory").value = str(project)
        dialog.query_one("#tool").value = "shell"
        dialog.query_one("#title").focus()
        await pilot.press(*"fresh", "enter")
        await until(pilot, lambda: by_title(app, "fresh"), "the new session's row")
        assert by_title(app, "fresh")[1:3] == ("newproj", "shell")
        # s: a prompt typed into the pane
        await select(pilot, "cat-one")
        await pilot.press("s")
        await until(pilot, lambda: type(app.screen).__name__ == "AskScreen", "the prompt dialog")
        await pilot.press(*"-ping-deck", "enter")  # a leading "-" is text, not an option
        await until(pilot, lambda: str(app.preview.content).count("ping-deck") >= 2,
                    "the prompt and cat's echo in the pane")
        # k: kill
        await pilot.press("k")
        await until(pilot, lambda: by_title(app, "cat-one")[3] == "dead", "cat-one dead")
        # x: remove, asked once
        await select(pilot, "cat-one")
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the question")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert by_title(app, "cat-one")
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the question")
        await pilot.press("y")
        await until(pilot, lambda: not by_title(app, "cat-one") and "removed" in app.message, "cat-one removed")
        # /: filter by text, then by status
        await pilot.press("slash")
        await until(pilot, lambda: type(app.screen).__name__ == "AskScreen", "the filter dialog")
        await pilot.press(*"fresh", "enter")
        await until(pilot, lambda: [c[0] for c in rows(app)] == ["fresh"], "only fresh")
        await pilot.press("slash")
        await until(pilot, lambda: type(app.screen).__name__ == "AskScreen", "the filter dialog")
        app.screen.query_one("#answer").value = ""
        await pilot.press(*"dead", "enter")
        await until(pilot, lambda: rows(app) == [], "no dead session left")
        await pilot.press("slash")
        await until(pilot, lambda: type(app.screen).__name__ == "AskScreen", "the filter dialog")
        app.screen.query_one("#answer").value = ""
        await pilot.press("enter")
        await until(pilot, lambda: len(rows(app)) == 2, "every session again")
        # ?: every key, generated from the bindings
        await pilot.press("question_mark")
        panel = await until(pilot, lambda: app.screen.query("KeyPanel"), "the key panel")
        await pilot.pause(0.2)
        console = Console(width=120, file=io.StringIO())
        console.print(panel.first().query_one("BindingsTable").render())
        text = console.file.getvalue()
        for description in ("Attach", "New", "Send prompt", "Restart", "Kill", "Remove", "Rename", "Filter",
                            "MCP servers", "Reload config"):
            assert description in text
    drive(app, scenario)


def test_rename_key(daemon, tmp_path):
    add(daemon.home, tmp_path, "before")
    app = DeckApp(daemon.home, config=str(daemon.config_path))

    async def scenario(pilot):
        await live(pilot)
        await select(pilot, "before")
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "AskScreen", "the title dialog")
        app.screen.query_one("#answer").value = "-after"
        await pilot.press("enter")
        await until(pilot, lambda: by_title(app, "-after"), "the new title")
    drive(app, scenario)


def test_restart_key(daemon, tmp_path):
    add(daemon.home, tmp_path, "again")
    app = DeckApp(daemon.home, config=str(daemon.config_path))

    async def scenario(pilot):
        await live(pilot)
        await select(pilot, "again")
        await pilot.press("k")
        await until(pilot, lambda: by_title(app, "again")[3] == "dead", "dead")
        await pilot.press("r")
        await until(pilot, lambda: by_title(app, "again")[3] != "dead", "alive again")
    drive(app, scenario)


def test_servers_screen_restart_and_reload(daemon, tmp_path):
    app = DeckApp(daemon.home, config=str(daemon.config_path))

    async def scenario(pilot):
        await live(pilot)
        await pilot.press("m")
        def servers_table():  # the screen is pushed before its widgets are mounted
            found = app.screen.query("#servers") if isinstance(app.screen, ServersScreen) else ()
            return (app.screen, found.first()) if found else None
        screen, table = await until(pilot, servers_table, "the servers screen")
        await until(pilot, lambda: table.row_count == 1 and app.model.servers["echo"]["pid"], "echo running")
        pid = app.model.servers["echo"]["pid"]
        assert str(table.get_row_at(0)[1]) == "running"
        await pilot.press("r")
        await until(pilot, lambda: app.model.servers["echo"]["pid"] not in (None, pid)
                    and app.model.servers["echo"]["state"] == "running", "echo restarted", timeout=30)
        assert app.model.servers["echo"]["restarts"] == 1
        await until(pilot, lambda: str(table.get_row_at(0)[6]) == "1", "the restart on screen")
        assert "last error: " in str(screen.query_one("#server-details").content)
        await pilot.press("escape")
        # R: the config gained a server; the deck reloads and says what changed
        daemon.config_path.write_text(toml_config(daemon.home, servers={"echo": scripted(),
                                                                         "echo2": scripted()}))
        await pilot.press("R")
        await until(pilot, lambda: "echo2" in app.message, "the reload's report", timeout=30)
        assert "added" in app.message
        await until(pilot, lambda: "echo2" in app.model.servers, "echo2 in the servers")
    drive(app, scenario)


def test_without_a_daemon_one_line_and_the_registrys_sessions_then_live_when_it_starts(home, tmux, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("AGENTDECK_HOME", str(home))
    config = home / "agentdeck.toml"
    config.write_text(toml_config(home))
    add(home, tmp_path, "registered")
    app = DeckApp(home, config=str(config))

    async def scenario(pilot):
        await until(pilot, lambda: by_title(app, "registered"), "the registry's session")
        bar = str(app.query_one("#bar").content)
        assert "not running" in bar and "showing the registry's sessions" in bar
        assert app.daemon_pid is None
        daemon = DaemonProcess(home, config.read_text(), env=clean_env(home, AGENTDECK_TMUX_SOCKET=tmux.socket))
        try:
            await until(pilot, lambda: app.daemon_pid == daemon.proc.pid and "live" in str(app.bar.content),
                        "the deck to go live")
            assert by_title(app, "registered")
        finally:
            daemon.stop()
    drive(app, scenario)


def test_enter_inside_tmux_switches_the_client_to_the_session(daemon, tmp_path, monkeypatch, home):
    """The deck runs in a pane of the sessions' own tmux server: Enter switches that client."""
    tmux = Tmux(os.environ["AGENTDECK_TMUX_SOCKET"])
    add(daemon.home, tmp_path, "target")
    tmux._run("new-session", "-d", "-s", "deckhost", "sleep 600")
    outer = Tmux(str(home / "outer.sock"))  # a terminal for a client of the sessions' server
    outer.new_session("term", tmp_path, {}, f"tmux -S {tmux.socket} attach -t deckhost")
    clients = lambda: tmux._run("list-clients", "-F", "#{client_session}").stdout.split()  # noqa: E731
    try:
        wait_for(lambda: clients() == ["deckhost"], 10, message="a client on deckhost")
        monkeypatch.setenv("TMUX", f"{tmux.socket},1,0")
        app = DeckApp(daemon.home, config=str(daemon.config_path))

        async def scenario(pilot):
            await live(pilot)
            await select(pilot, "target")
            await pilot.press("enter")
            await until(pilot, lambda: clients() == [f"agentdeck-{app.table.selected}"], "the client switched")
            assert "switched to target" in app.message
        drive(app, scenario)
    finally:
        outer.kill_server()


def test_the_deck_imports_no_gevent_pony_or_loguru():
    code = "import sys, agentdeck.deck.app, agentdeck.deck.main; print(sorted(m for m in ('gevent', 'pony', " \
           "'loguru', 'greenlet') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_agentdeck_deck_in_a_real_tmux_pane_attaches_to_a_session_and_comes_back(daemon, tmp_path, home):
    """`agentdeck deck` in a pane of an outer tmux server; Enter attaches this terminal to a
    session of the sessions' server; detaching brings the deck back."""
    add(daemon.home, tmp_path, "attach-me", "sh -c 'echo inside-the-session; sleep 600'")
    outer = Tmux(str(home / "outer.sock"))
    env = {"AGENTDECK_HOME": str(daemon.home), "AGENTDECK_TMUX_SOCKET": os.environ["AGENTDECK_TMUX_SOCKET"],
           "TERM": "xterm-256color", "PYTHONPATH": str(REPO)}
    command = f"{shutil.which('env')} -u TMUX {sys.executable} -m agentdeck deck --config {daemon.config_path}"
    sessions = Tmux(os.environ["AGENTDECK_TMUX_SOCKET"])
    outer._run("new-session", "-d", "-s", "deck", "-x", "150", "-y", "40", "-c", str(tmp_path),
               *(f"-e{k}={v}" for k, v in env.items()), command)

    def attached():
        return sessions._run("list-clients", "-F", "#{client_session}").stdout.split()

    def screen():
        return outer._run("capture-pane", "-p", "-t", "=deck:").stdout
    try:
        wait_for(lambda: "attach-me" in screen() and "live" in screen(), 30, interval=0.2,
                 message="the deck on screen, live")
        outer._run("send-keys", "-t", "=deck:", "Enter")
        wait_for(lambda: attached() and "LATEST PROMPT" not in screen(), 15, interval=0.2,
                 message="this terminal attached to the session")
        assert "inside-the-session" in screen()
        outer._run("send-keys", "-t", "=deck:", "C-b", "d")  # detach the inner client
        wait_for(lambda: "back from attach-me" in screen(), 15, interval=0.2,
                 message=f"the deck again; screen:\n{screen()}")
        assert not attached()
        outer._run("send-keys", "-t", "=deck:", "q")
        wait_for(lambda: "deck" not in outer.panes(), 15, interval=0.2, message="the deck to quit")
    finally:
        outer.kill_server()


def test_agentdeck_help_lists_the_deck_and_a_bad_config_is_one_line(tmp_path):
    listed = subprocess.run([sys.executable, "-m", "agentdeck", "--help"], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert "deck" in listed.stdout and "live terminal view" in listed.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[daemon\n")
    proc = subprocess.run([sys.executable, "-m", "agentdeck", "deck", "--config", str(broken)], capture_output=True,
                          text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and str(broken) in proc.stderr
    assert "Traceback" not in proc.stderr
