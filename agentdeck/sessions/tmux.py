"""The tmux commands agentdeck needs: start, restart, kill and attach to a session, type
into its pane, and see which panes live.

Every call is one `tmux` subprocess with a deadline. ``AGENTDECK_TMUX_SOCKET`` (or the
``socket`` argument) points every call at a private tmux server (``tmux -S PATH``),
which is how the tests and benchmarks stay away from the user's own sessions;
without it tmux picks its server as usual ($TMUX, else the default socket).
"""
import dataclasses
import os
import shutil
import signal
import subprocess

from agentdeck.errors import UserError

ENV_SOCKET = "AGENTDECK_TMUX_SOCKET"
TMUX_TIMEOUT = 10.0  # seconds one tmux command may take before we give up on the server
SESSION_PREFIX = "agentdeck-"
# A client that reached a server just as it exited (its last session was killed a moment
# ago) gets this; nothing was created, so trying again starts a fresh server.
SERVER_EXITING = "server exited unexpectedly"
NEW_SESSION_ATTEMPTS = 3
# What tmux says when there is no server to talk to, or one that is exiting because its
# last session just ended ("no current target" from `list-panes -a`, or SERVER_EXITING):
# then there are no sessions.
NO_SERVER_MARKERS = ("no server running", "error connecting to", "no sessions", "no current target", SERVER_EXITING)


@dataclasses.dataclass(frozen=True)
class PaneState:
    """The agent's pane of one tmux session (the session's first pane)."""
    pane_id: int  # tmux's %N without the %, increasing over the server's life
    dead: bool  # the pane's command exited (kept on screen by remain-on-exit)
    pid: int  # the pane's process
    exit_status: int | None = None  # what its command exited with, once dead (tmux's pane_dead_status)
    exit_signal: int | None = None  # the signal that killed it, once dead that way (pane_dead_signal)

    @property
    def reaped(self):
        """True once tmux knows how the dead pane's command ended: the pane reads as dead
        from the end of its output, a moment before tmux reaps the process."""
        return self.exit_status is not None or self.exit_signal is not None

    @property
    def target(self):
        """The pane as a tmux target (``%N``): exact, whatever the session's current window."""
        return f"%{self.pane_id}"


def _nudge(server_pid):
    """Make the tmux server reap its dead panes' commands. tmux 3.3a now and then misses
    the SIGCHLD of a pane's command (seen for 1 new server in 4 to 16): the command stays
    a zombie and its exit status unknown until another child exits. A SIGCHLD of ours
    runs its reaping loop (waitpid WNOHANG: harmless when there is nothing to reap)."""
    try:
        os.kill(server_pid, signal.SIGCHLD)
    except OSError:  # gone meanwhile, or not ours to signal
        pass


def session_name(instance_id):
    """The tmux session of an instance."""
    return SESSION_PREFIX + instance_id


class Tmux:
    """One tmux server, reached through ``socket`` or tmux's own default."""

    def __init__(self, socket=None):
        self.socket = socket or os.environ.get(ENV_SOCKET) or None  # path for `tmux -S`; None: tmux's default

    @staticmethod
    def require():
        """The tmux program's path; a UserError when tmux is not installed."""
        binary = shutil.which("tmux")
        if binary is None:
            raise UserError("tmux is not installed or not on PATH: install tmux (e.g. `apt install tmux`) "
                            "to run agent sessions")
        return binary

    def _run(self, *args):
        command = [self.require(), *(("-S", self.socket) if self.socket else ()), *args]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=TMUX_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise UserError(f"tmux did not answer `{' '.join(args[:1])}` within {TMUX_TIMEOUT:g} s: "
                            "check the tmux server (`tmux ls`)") from None

    @staticmethod
    def _message(proc):
        return (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]

    def new_session(self, name, cwd, env, command=""):
        """Start detached session ``name`` in ``cwd`` with ``env`` (a dict) added to its
        environment, running ``command`` through the shell (the default shell when empty).

        The pane stays on screen after its command exits (remain-on-exit), so a crashed
        agent's last words can be read and its status reads as dead rather than vanishing.
        """
        args = ["new-session", "-d", "-s", name, "-c", str(cwd), *_env_args(env), *_command_args(command)]
        # One tmux invocation: the server runs both commands before it reaps the child,
        # so even a command that exits at once leaves a dead pane behind.
        args += [";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on"]
        for _ in range(NEW_SESSION_ATTEMPTS):
            proc = self._run(*args)
            message = "" if proc.returncode == 0 else self._message(proc)[0]
            if SERVER_EXITING not in message:
                break
        if proc.returncode != 0:
            raise UserError(f"tmux could not start session {name}: {message}")

    def respawn(self, pane, cwd, env, command=""):
        """Kill what runs in ``pane`` (a PaneState) and start ``command`` there again, in
        ``cwd`` with ``env`` added, as `new_session` would: the same session, window and pane."""
        proc = self._run("respawn-pane", "-k", "-t", pane.target, "-c", str(cwd), *_env_args(env),
                         *_command_args(command))
        if proc.returncode != 0:
            raise UserError(f"tmux could not restart pane {pane.target}: {self._message(proc)[0]}")

    def send_text(self, pane, text):
        """Type ``text`` into ``pane`` (a PaneState) literally, then press Enter."""
        for args in (("-l", "--", text), ("Enter",)):  # -l: no key names, so "Enter" in the text is text
            proc = self._run("send-keys", "-t", pane.target, *args)
            if proc.returncode != 0:
                raise UserError(f"tmux could not type into pane {pane.target}: {self._message(proc)[0]}")

    def attach_argv(self, name, environ):
        """(argv, env) of the tmux command that shows session ``name`` in the person's
        terminal: `switch-client` when ``environ`` says we run inside a client of this same
        server; `attach-session` otherwise, with $TMUX dropped when that is another server's
        (tmux refuses to nest unless told so)."""
        env = dict(environ)
        inside = env.get("TMUX", "").split(",")[0]
        same_server = inside and (self.socket is None or os.path.realpath(inside) == os.path.realpath(self.socket))
        if not same_server:
            env.pop("TMUX", None)
        verb = "switch-client" if same_server else "attach-session"
        return [self.require(), *(("-S", self.socket) if self.socket else ()), verb, "-t", f"={name}"], env

    def kill_session(self, name):
        """Kill session ``name``; False if there was no such session (or no server)."""
        proc = self._run("kill-session", "-t", f"={name}")
        if proc.returncode == 0:
            return True
        message = self._message(proc)[0]
        if "can't find session" in message or any(m in message for m in NO_SERVER_MARKERS):
            return False
        raise UserError(f"tmux could not kill session {name}: {message}")

    def panes(self):
        """{session name: PaneState of its first pane} for every session of the server,
        from a single `tmux list-panes -a` call; {} when no server runs. A dead pane not
        yet reaped makes the server reap (`_nudge`): the next call has its exit status."""
        proc = self._run("list-panes", "-a", "-F", "#{session_name}\t#{pane_id}\t#{pane_dead}\t#{pane_pid}"
                                                   "\t#{pane_dead_status}\t#{pane_dead_signal}\t#{pid}")
        if proc.returncode != 0:
            message = self._message(proc)[0]
            if any(m in message for m in NO_SERVER_MARKERS):
                return {}
            raise UserError(f"tmux could not list panes: {message}")
        panes, server_pid = {}, ""
        for line in proc.stdout.splitlines():
            name, pane_id, dead, pid, status, signum, server_pid = line.rsplit("\t", 6)
            pane = PaneState(pane_id=int(pane_id.lstrip("%")), dead=dead == "1", pid=int(pid or 0),
                             exit_status=int(status) if status else None, exit_signal=int(signum) if signum else None)
            first = panes.get(name)
            if first is None or pane.pane_id < first.pane_id:
                panes[name] = pane
        if server_pid.isdigit() and any(pane.dead and not pane.reaped for pane in panes.values()):
            _nudge(int(server_pid))
        return panes

    def kill_server(self):
        """Stop the whole server (tests and benchmarks, on their private socket)."""
        self._run("kill-server")


def _env_args(env):
    return [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]


def _command_args(command):
    """The shell command as tmux's last argument; none for the default shell."""
    if not command:
        return []
    # tmux takes an argument ending in ";" as the end of a command (and eats the ";")
    return [command + " " if command.endswith(";") else command]
