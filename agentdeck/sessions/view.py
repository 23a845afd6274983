"""One session as a person sees it, the same for `agentdeck session show/list` (through
`control.SessionControl`) and the daemon's /status and page (through its session feed):
the stored record, the status it has now and since when, its latest hook and its latest
prompt; and `why`, the words the deck and the page show for why a session is in its status."""
import dataclasses
import signal

from agentdeck.sessions.states import DEAD, WAITING

# What a shell's exit status says about the command it was asked to run.
SHELL_EXIT_MEANINGS = {126: "found but not executable", 127: "command not found"}

# Why a waiting session waits: the reason its hook recorded (sessions.hook), in a person's
# words; from the hook event alone for an entry without one.
REASONS = {"permission": "permission request", "question": "question", "idle": "idle, waiting for input",
           "turn finished": "finished turn", "turn failed": "turn failed", "started": "new session",
           "interrupted": "interrupted"}
WHY = {"PermissionRequest": "permission request", "Notification": "permission request", "Stop": "finished turn",
       "AfterAgent": "finished turn", "agent-turn-complete": "finished turn", "StopFailure": "turn failed",
       "SessionStart": "new session", "AskUserQuestion": "question"}


def exit_text(exit_status, exit_signal):
    """How a dead session's command ended, for a person: "exit status 127 (command not
    found)", "killed by signal 9 (SIGKILL)"; "" when unknown."""
    if exit_signal is not None:
        try:
            name = f" ({signal.Signals(exit_signal).name})"
        except ValueError:
            name = ""
        return f"killed by signal {exit_signal}{name}"
    if exit_status is None:
        return ""
    meaning = SHELL_EXIT_MEANINGS.get(exit_status)
    return f"exit status {exit_status}" + (f" ({meaning})" if meaning else "")


def why(entry):
    """Why the session of ``entry`` (a `SessionView.to_dict`, as /status and /events carry
    it) is in its status: why it waits, or how a dead one ended; "" for the others."""
    status = entry.get("status")
    if status == WAITING:
        reason = entry.get("reason") or ""
        return REASONS.get(reason, reason) or WHY.get(entry.get("hook_event") or "", "waiting")
    if status == DEAD:
        return entry.get("ended") or "ended"
    return ""


@dataclasses.dataclass(frozen=True)
class SessionView:
    record: object  # registry.InstanceRecord
    status: str  # the status now (resolved from hooks and tmux, or the transition daemon's)
    since: float  # Unix time it has held that status, as far as known
    hook: object  # status.HookStatus, or None before the first hook
    prompt: str  # latest user prompt; "" when unknown or the session is dead
    exit_status: int | None = None  # a dead session's command's exit status, as tmux recorded it
    exit_signal: int | None = None  # or the signal that killed it

    @property
    def reason(self):
        """Why a waiting session waits, as its latest hook said ("question", "permission",
        "turn finished", ...); "" when it does not wait or no hook said."""
        hook = self.hook
        return hook.reason if self.status == WAITING and hook is not None and hook.status == WAITING else ""

    @property
    def ended(self):
        """How a dead session's command ended ("exit status 127 (command not found)"); "" if unknown."""
        return exit_text(self.exit_status, self.exit_signal) if self.status == DEAD else ""

    def to_dict(self):
        """The view as JSON-ready data (`session show --json`, /status "sessions")."""
        data = self.record.to_dict()
        data.update(status=self.status, since=self.since, stored_status=self.record.status, prompt=self.prompt,
                    reason=self.reason, exit_status=self.exit_status, exit_signal=self.exit_signal, ended=self.ended,
                    hook_event=self.hook.event if self.hook else "", hook_ts=self.hook.ts if self.hook else None,
                    agent_session_id=self.hook.session_id if self.hook else "")
        return data


def describe(record, status, since, hook, prompts, pane=None):
    """The SessionView of ``record`` holding ``status`` since ``since`` (None: since its
    row last changed), with its latest ``hook`` (or None) and its tmux PaneState (None:
    unknown, or no tmux session), whose exit status a dead one shows. The prompt is the one the hook
    carried, else the latest in its transcript, read through ``prompts`` (a
    `transcript.PromptCache`); a dead session's is not read, which would refill the
    cache `kill` emptied."""
    prompt = ""
    if hook is not None and status != DEAD:
        prompt = hook.prompt or prompts.latest_prompt(record.id, hook.transcript_path) or ""
    dead_pane = pane if pane is not None and pane.dead and status == DEAD else None
    return SessionView(record=record, status=status, since=since or record.updated, hook=hook, prompt=prompt,
                       exit_status=None if dead_pane is None else dead_pane.exit_status,
                       exit_signal=None if dead_pane is None else dead_pane.exit_signal)
