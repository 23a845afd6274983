"""What the `agentdeck session` commands do: start, restart, kill, remove, rename, type
into and look at sessions.

`SessionControl` ties the registry, tmux, the hook status files and the prompt cache
together. It works the same in a one-shot CLI process and inside the daemon; it holds
no state of its own beyond what it is given.
"""
import os
import shlex
import time
from pathlib import Path

import gevent

from agentdeck.errors import UserError
from agentdeck.paths import ENV_HOME
from agentdeck.sessions.events import read_event
from agentdeck.sessions.hook import ENV_INSTANCE
from agentdeck.sessions.names import DEFAULT_PROFILE, check_name
from agentdeck.sessions.states import DEAD, IDLE
from agentdeck.sessions.status import read_hook_status, resolve_status
from agentdeck.sessions.tmux import session_name
from agentdeck.sessions.view import describe, exit_text

KNOWN_TOOLS = ("claude", "codex", "gemini")  # agents recognised by their command's program name
SHELL_TOOL = "shell"
TITLE_MAX_CHARS = 200  # a title is a label in a table, not a description
START_CHECK = 0.5  # seconds `session add` watches a new session for a command that fails at once
START_POLL = 0.05  # seconds between two looks meanwhile


def tool_of(command):
    """Which agent ``command`` starts, from its program name; "shell" for anything else."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: tmux's shell will complain, we only need a name
        words = command.split()
    program = os.path.basename(words[0]) if words else ""
    return program if program in KNOWN_TOOLS else SHELL_TOOL


def clean_title(title):
    """``title`` on one line (runs of whitespace, newlines included, become one space); a
    UserError when nothing visible is left or it is over TITLE_MAX_CHARS."""
    text = " ".join(title.split())
    if not text:
        raise UserError("a title needs at least one visible character")
    if len(text) > TITLE_MAX_CHARS:
        raise UserError(f"a title of {len(text)} characters is too long: at most {TITLE_MAX_CHARS}")
    return text


def _unlink(path):
    try:
        os.unlink(path)  # a symlink there is removed, never followed
    except FileNotFoundError:
        pass


class SessionControl:
    """Session operations over one home.

    ``home`` is a `paths.Home` (ensured), ``registry`` a `registry.Registry` of it,
    ``tmux`` a `tmux.Tmux`, ``prompts`` a `transcript.PromptCache`. The caller owns and
    closes the registry.
    """

    def __init__(self, home, registry, tmux, prompts):
        self.home = home
        self.registry = registry
        self.tmux = tmux
        self.prompts = prompts

    def add(self, path, title=None, command="", profile=DEFAULT_PROFILE):
        """Register a new instance and start its detached tmux session in ``path``, with
        AGENTDECK_INSTANCE_ID (and AGENTDECK_HOME) in its environment. Returns the record."""
        check_name(profile, "profile")
        project = Path(os.path.expanduser(path)).resolve()
        if not project.exists():
            raise UserError(f"{path}: no such directory: pass the project directory the agent should run in")
        if not project.is_dir():
            raise UserError(f"{path}: not a directory: pass the project directory the agent should run in")
        self.tmux.require()
        store = self.registry.store(profile)
        instance_id = self.registry.new_id()
        title = clean_title(title) if title is not None else project.name or str(project)
        record = store.add(instance_id, title=title, path=str(project),
                           tool=tool_of(command), command=command, tmux_session=session_name(instance_id),
                           status=IDLE)
        if record is None:  # another process took the id between new_id() and add()
            raise UserError(f"session id {instance_id} was taken by a concurrent `session add`: run it again")
        try:
            self.tmux.new_session(record.tmux_session, project, self._env(instance_id), command)
        except UserError:
            store.delete(instance_id)
            raise
        return record

    def start_failure(self, record, seconds=START_CHECK):
        """How ``record``'s command ended if it failed (a non-zero exit status or a signal)
        within ``seconds`` of its start, e.g. "exit status 127 (command not found)"; "" when
        it still runs then, or ended with status 0."""
        deadline = time.monotonic() + seconds
        while True:
            pane = self.tmux.panes().get(record.tmux_session)
            if pane is None:
                return "its tmux session ended"
            if pane.dead and pane.reaped:
                return "" if pane.exit_status == 0 else exit_text(pane.exit_status, pane.exit_signal)
            # Dead but not reaped yet: its status is a moment away, worth another interval.
            if time.monotonic() >= deadline + (seconds if pane.dead else 0.0):
                return ""
            gevent.sleep(START_POLL)

    def _env(self, instance_id):
        """What a session's tmux environment gains: how its hooks find their status file."""
        return {ENV_INSTANCE: instance_id, ENV_HOME: str(self.home.root)}

    def find(self, instance_id):
        """(store, record) of ``instance_id`` in any profile; a UserError naming it if none."""
        check_name(instance_id, "session id")
        found = self.registry.find(instance_id)
        if found is None:
            raise UserError(f"no session {instance_id!r}: `agentdeck session list` shows the sessions there are")
        return found

    def kill(self, instance_id):
        """Stop the instance's tmux session, mark it dead and drop its runtime caches."""
        store, record = self.find(instance_id)
        self.tmux.kill_session(record.tmux_session)
        self.prompts.forget(instance_id)
        return store.set_status(instance_id, DEAD) or record

    def remove(self, instance_id):
        """Kill the instance if it still runs, then delete its row and its hook and event
        files in one registry write transaction: the daemon stores and publishes each
        transition under the same lock after checking the row, so once this returns no
        event file of the instance is written again."""
        store, record = self.find(instance_id)
        self.tmux.kill_session(record.tmux_session)
        self.prompts.forget(instance_id)

        def delete_files():
            for path in (self.home.hook_file(instance_id), self.home.event_file(instance_id)):
                _unlink(path)
        store.delete(instance_id, then=delete_files)
        return record

    def restart(self, instance_id):
        """Start the instance's command again in its own tmux session and directory: in its
        pane if the tmux session is still there (whatever ran there is killed), else in a
        new tmux session of the same name. Its old hook status goes, it is idle until its
        agent's first hook. Returns the record."""
        store, record = self.find(instance_id)
        project = Path(record.path)
        if not project.is_dir():
            raise UserError(f"session {instance_id}: its directory {record.path} is gone: "
                            f"`agentdeck session add` a new session where the project is now")
        self.tmux.require()
        self.prompts.forget(instance_id)
        _unlink(self.home.hook_file(instance_id))  # before the start: the new run's first hook must stay
        pane = self.tmux.panes().get(record.tmux_session)
        if pane is None:
            self.tmux.new_session(record.tmux_session, project, self._env(instance_id), record.command)
        else:
            self.tmux.respawn(pane, project, self._env(instance_id), record.command)
        return store.set_status(instance_id, IDLE) or record

    def rename(self, instance_id, title):
        """Give the instance a new title; returns the updated record."""
        title = clean_title(title)
        store, record = self.find(instance_id)
        return store.set_title(instance_id, title) or record

    def send(self, instance_id, text):
        """Type ``text`` into the instance's pane and press Enter; a UserError if it is dead."""
        _, record = self.find(instance_id)
        pane = self.tmux.panes().get(record.tmux_session)
        if pane is None or pane.dead:
            raise UserError(f"session {instance_id} is dead, nothing reads what is typed there: "
                            f"`agentdeck session restart {instance_id}` starts it again")
        self.tmux.send_text(pane, text)
        return record

    def attach_argv(self, instance_id, environ):
        """(argv, env) of the tmux command that shows the instance in the person's terminal
        (see `tmux.Tmux.attach_argv`); a UserError when its tmux session is gone."""
        _, record = self.find(instance_id)
        if record.tmux_session not in self.tmux.panes():
            raise UserError(f"session {instance_id} has no tmux session any more: "
                            f"`agentdeck session restart {instance_id}` starts it again")
        return self.tmux.attach_argv(record.tmux_session, environ)

    def view(self, instance_id):
        """The `view.SessionView` of one instance."""
        _, record = self.find(instance_id)
        return self._view(record, self.tmux.panes())

    def lookup(self, instance_id):
        """The `view.SessionView` of one instance, or None when there is no such instance
        (any more): for those who watch a session that may be removed meanwhile."""
        check_name(instance_id, "session id")
        found = self.registry.find(instance_id)
        return None if found is None else self._view(found[1], self.tmux.panes())

    def views(self, profile=None):
        """SessionViews of every instance (of ``profile`` only, if given), with one tmux call."""
        if profile is not None:
            check_name(profile, "profile")
        records = [record for name in self.registry.profiles() if profile in (None, name)
                   for record in self.registry.store(name).list_instances()]
        panes = self.tmux.panes() if records else {}
        return [self._view(record, panes) for record in records]

    def _view(self, record, panes):
        hook = read_hook_status(self.home.hook_file(record.id))
        pane = panes.get(record.tmux_session)
        status = resolve_status(record.status, hook, pane)
        return describe(record, status, self._since(record, status, hook), hook, self.prompts, pane)

    def _since(self, record, status, hook):
        """Since when ``record`` has held ``status``, as far as the files tell: the daemon's
        latest transition into it, else the hook that reported it (a status the daemon
        has not stored yet), else the row's last change."""
        event = read_event(self.home.event_file(record.id))
        if event is not None and event.to_status == status:
            return event.time
        if hook is not None and hook.status == status != record.status:
            return hook.ts
        return record.updated
