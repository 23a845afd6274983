"""One session as a person sees it, the same for `agentdeck session show/list` (through
`control.SessionControl`) and the daemon's /status and page (through its session feed):
the stored record, the status it has now and since when, its latest hook and its latest
prompt."""
import dataclasses

from agentdeck.sessions.states import DEAD


@dataclasses.dataclass(frozen=True)
class SessionView:
    record: object  # registry.InstanceRecord
    status: str  # the status now (resolved from hooks and tmux, or the transition daemon's)
    since: float  # Unix time it has held that status, as far as known
    hook: object  # status.HookStatus, or None before the first hook
    prompt: str  # latest user prompt; "" when unknown or the session is dead

    def to_dict(self):
        """The view as JSON-ready data (`session show --json`, /status "sessions")."""
        data = self.record.to_dict()
        data.update(status=self.status, since=self.since, stored_status=self.record.status, prompt=self.prompt,
                    hook_event=self.hook.event if self.hook else "", hook_ts=self.hook.ts if self.hook else None,
                    agent_session_id=self.hook.session_id if self.hook else "")
        return data


def describe(record, status, since, hook, prompts):
    """The SessionView of ``record`` holding ``status`` since ``since`` (None: since its
    row last changed), with its latest ``hook`` (or None). The prompt is the one the hook
    carried, else the latest in its transcript, read through ``prompts`` (a
    `transcript.PromptCache`); a dead session's is not read, which would refill the
    cache `kill` emptied."""
    prompt = ""
    if hook is not None and status != DEAD:
        prompt = hook.prompt or prompts.latest_prompt(record.id, hook.transcript_path) or ""
    return SessionView(record=record, status=status, since=since or record.updated, hook=hook, prompt=prompt)
