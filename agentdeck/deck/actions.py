"""What the deck does to sessions and the daemon, as subprocesses on asyncio: the
`agentdeck` CLI (which owns the registry and talks to the daemon) and tmux (the pane of
a session: its screen, its keys, attaching to it).

Every call has a deadline, and its failure is an ActionError whose message is the
command's own last line (the CLI prints one line for a user's mistake).
"""
import asyncio
import contextlib
import os
import signal
import sys

from agentdeck.sessions.tmux import ENV_SOCKET, Tmux

CLI_TIMEOUT = 60.0   # seconds for one `agentdeck` command (a `session add` starts tmux)
TMUX_TIMEOUT = 5.0   # seconds for one tmux command


class ActionError(Exception):
    """A command failed; the message is one line for the status bar."""


async def run(command, timeout, env=None):
    """(exit status, stdout, stderr) of ``command``; ActionError if it cannot start or overruns."""
    try:
        proc = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                    env=env, start_new_session=True)
    except OSError as exc:
        raise ActionError(f"cannot run {command[0]}: {exc.strerror}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        await _end(proc)
        raise ActionError(f"`{' '.join(command[:4])}` did not finish within {timeout:g} s") from None
    except asyncio.CancelledError:  # the work is no longer wanted (a newer capture, the deck quits)
        await _end(proc)
        raise
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def _end(proc):
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1].removeprefix("agentdeck: ") if lines else ""


class Actions:
    """``config``: the --config the deck was given (passed on to every CLI command), or None."""

    def __init__(self, config=None):
        self.config = config
        self.tmux_socket = os.environ.get(ENV_SOCKET) or None

    # -- the agentdeck CLI

    async def cli(self, *args):
        """Run `agentdeck ARGS`; its stdout, or ActionError with its one-line complaint."""
        args = list(args)
        if self.config:  # before a "--", after which everything is an argument
            at = args.index("--") if "--" in args else len(args)
            args[at:at] = ["--config", self.config]
        command = [sys.executable, "-m", "agentdeck", *args]
        code, out, err = await run(command, CLI_TIMEOUT)
        if code != 0:
            raise ActionError(last_line(err) or last_line(out) or f"`agentdeck {' '.join(args[:2])}` exited {code}")
        return out

    async def add(self, directory, tool, title):
        """Start a session; returns its id."""
        from agentdeck.deck.model import TOOLS
        args = ["session", "add", directory, "--cmd", TOOLS.get(tool, tool)]
        return (await self.cli(*args, *(("--title", title) if title else ()))).strip()

    async def registry_sessions(self):
        """The registry's sessions (`session list --json`) for when no daemon runs."""
        import json
        return json.loads(await self.cli("session", "list", "--json"))

    # -- tmux

    def tmux_command(self, *args):
        return ["tmux", *(("-S", self.tmux_socket) if self.tmux_socket else ()), *args]

    async def tmux(self, *args):
        code, out, err = await run(self.tmux_command(*args), TMUX_TIMEOUT)
        if code != 0:
            raise ActionError(f"tmux {args[0]}: {last_line(err) or f'exit status {code}'}")
        return out

    async def capture(self, tmux_session):
        """The visible screen of a session's pane, with its colours (ANSI)."""
        return await self.tmux("capture-pane", "-p", "-e", "-t", f"={tmux_session}:")

    def attach_argv(self, tmux_session):
        """(argv, env) that shows a session in this terminal: `switch-client` when the deck
        runs inside a client of the sessions' tmux server, else `attach-session`."""
        return Tmux(self.tmux_socket).attach_argv(tmux_session, os.environ)

    async def switch(self, argv, env):
        code, _, err = await run(argv, TMUX_TIMEOUT, env)
        if code != 0:
            raise ActionError(f"tmux switch-client: {last_line(err) or f'exit status {code}'}")

    @staticmethod
    def signal_process(pid, signum=signal.SIGTERM):
        os.kill(pid, signum)
