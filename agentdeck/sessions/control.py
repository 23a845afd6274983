"""What the `agentdeck session` commands do: start, kill, remove and look at sessions.

`SessionControl` ties the registry, tmux, the hook status files and the prompt cache
together. It works the same in a one-shot CLI process and inside the daemon; it holds
no state of its own beyond what it is given.
"""
import os
import shlex
from pathlib import Path

from agentdeck.errors import UserError
from agentdeck.paths import ENV_HOME
from agentdeck.sessions.hook import ENV_INSTANCE
from agentdeck.sessions.names import DEFAULT_PROFILE, check_name
from agentdeck.sessions.states import DEAD, IDLE
from agentdeck.sessions.status import read_hook_status, resolve_status
from agentdeck.sessions.tmux import session_name
from agentdeck.sessions.view import describe

KNOWN_TOOLS = ("claude", "codex", "gemini")  # agents recognised by their command's program name
SHELL_TOOL = "shell"


def tool_of(command):
    """Which agent ``command`` starts, from its program name; "shell" for anything else."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: tmux's shell will complain, we only need a name
        words = command.split()
    program = os.path.basename(words[0]) if words else ""
    return program if program in KNOWN_TOOLS else SHELL_TOOL


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
        record = store.add(instance_id, title=title or project.name or str(project), path=str(project),
                           tool=tool_of(command), command=command, tmux_session=session_name(instance_id),
                           status=IDLE)
        if record is None:  # another process took the id between new_id() and add()
            raise UserError(f"session id {instance_id} was taken by a concurrent `session add`: run it again")
        env = {ENV_INSTANCE: instance_id, ENV_HOME: str(self.home.root)}
        try:
            self.tmux.new_session(record.tmux_session, project, env, command)
        except UserError:
            store.delete(instance_id)
            raise
        return record

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
        """Kill the instance if it still runs, then delete its hook and event files and its row."""
        store, record = self.find(instance_id)
        self.tmux.kill_session(record.tmux_session)
        self.prompts.forget(instance_id)
        for path in (self.home.hook_file(instance_id), self.home.event_file(instance_id)):
            try:
                os.unlink(path)  # a symlink there is removed, never followed
            except FileNotFoundError:
                pass
        store.delete(instance_id)
        return record

    def view(self, instance_id):
        """The `view.SessionView` of one instance."""
        _, record = self.find(instance_id)
        return self._view(record, self.tmux.panes())

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
        return describe(record, resolve_status(record.status, hook, panes.get(record.tmux_session)), None, hook,
                        self.prompts)
