"""The sessions part of /status (live status wins, prompts read, problems reported, one
refresh per MAX_AGE) and the bounded RSS history behind the sparkline."""
import json

from agentdeck.daemon.rss import RssHistory
from agentdeck.daemon.sessionfeed import SessionFeed
from agentdeck.errors import UserError
from agentdeck.paths import Home
from agentdeck.sessions.control import SessionControl
from agentdeck.sessions.registry import InstanceRecord
from agentdeck.sessions.status import HookStatus, read_hook_status
from agentdeck.sessions.tmux import PaneState
from agentdeck.sessions.transcript import PromptCache
from tests.support import write_hook


def record(instance, status="idle", updated=100.0, profile="default"):
    return InstanceRecord(id=instance, profile=profile, title=f"title {instance}", path="/src", tool="claude",
                          command="claude", tmux_session=f"agentdeck-{instance}", status=status, created=50.0,
                          updated=updated)


class FakeStore:
    def __init__(self, records, error=None):
        self.records, self.error, self.calls = records, error, 0

    def list_instances(self):
        self.calls += 1
        if self.error:
            raise UserError(self.error)
        return list(self.records)


class FakeRegistry:
    def __init__(self, stores):
        self.stores = stores

    def profiles(self):
        return sorted(self.stores)

    def store(self, profile):
        return self.stores[profile]


def hook_for(transcript, status="waiting"):
    return HookStatus(status=status, event="Stop", session_id="s", cwd="/src", transcript_path=str(transcript), ts=1.0)


def test_live_status_wins_and_prompts_are_read_except_for_the_dead(tmp_path):
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(json.dumps({"type": "user", "message": {"role": "user", "content": "ship it"}}) + "\n")
    registry = FakeRegistry({"default": FakeStore([record("a"), record("b"), record("c", status="dead")])})
    live = {"a": ("waiting", 123.0), "c": ("dead", 130.0)}
    hooks = {"a": hook_for(transcript), "c": hook_for(transcript, "dead")}
    feed = SessionFeed(registry, lambda: live, hooks.get)
    entries, error = feed.sessions()
    assert error == ""
    assert [(e["id"], e["status"], e["since"], e["prompt"]) for e in entries] == [
        ("a", "waiting", 123.0, "ship it"), ("b", "idle", 100.0, ""), ("c", "dead", 130.0, "")]
    assert entries[0]["title"] == "title a" and entries[0]["profile"] == "default"


def test_a_list_is_reused_within_max_age_and_a_broken_profile_is_reported():
    good, broken = FakeStore([record("a")]), FakeStore([], error="profiles/x/state.db: not a usable registry")
    feed = SessionFeed(FakeRegistry({"default": good, "x": broken}), dict, lambda _: None, max_age=60)
    for _ in range(5):
        entries, error = feed.sessions()
    assert good.calls == 1
    assert [e["id"] for e in entries] == ["a"] and "not a usable registry" in error


def test_prompts_of_removed_sessions_are_forgotten(tmp_path):
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(json.dumps({"type": "user", "message": {"role": "user", "content": "hi"}}) + "\n")
    store = FakeStore([record("a"), record("b")])
    hooks = {"a": hook_for(transcript), "b": hook_for(transcript)}
    feed = SessionFeed(FakeRegistry({"default": store}), dict, hooks.get, max_age=0)
    feed.sessions()
    assert len(feed.prompts) == 2
    store.records = [record("b")]
    feed.sessions()
    assert len(feed.prompts) == 1
    feed.close()
    assert len(feed.prompts) == 0


def test_the_prompt_a_hook_carried_wins_over_the_transcript(tmp_path):
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(json.dumps({"type": "user", "message": {"role": "user", "content": "older"}}) + "\n")
    hook = HookStatus(status="running", event="UserPromptSubmit", session_id="s", cwd="/src",
                      transcript_path=str(transcript), ts=1.0, prompt="just typed")
    feed = SessionFeed(FakeRegistry({"default": FakeStore([record("a")])}), dict, {"a": hook}.get)
    assert feed.sessions()[0][0]["prompt"] == "just typed"
    assert len(feed.prompts) == 0, "no transcript read when the hook said it"


def test_status_and_session_show_describe_a_session_the_same_way(home):
    """One view: /status's entry of a session is what `session show --json` prints."""
    root = Home(home).ensure()
    write_hook(home, "a", "UserPromptSubmit", prompt="ship it", cwd="/src")
    shown = SessionControl(root, None, None, PromptCache())._view(record("a"), {"agentdeck-a": PaneState(1, False, 9)})
    hook = read_hook_status(root.hook_file("a"))
    # Running since its hook (the registry still says otherwise), as the daemon's pass would find.
    feed = SessionFeed(FakeRegistry({"default": FakeStore([record("a")])}), lambda: {"a": ("running", hook.ts)},
                       {"a": hook}.get)
    assert feed.sessions()[0][0] == shown.to_dict()
    assert shown.to_dict()["prompt"] == "ship it" and shown.to_dict()["hook_event"] == "UserPromptSubmit"


def test_rss_history_is_bounded_and_ends_now():
    history = RssHistory(size=3)
    for _ in range(10):
        history.sample()
    samples = history.samples()
    assert len(samples) == 4, "three kept plus one taken now"
    assert [t for t, _ in samples] == sorted(t for t, _ in samples)
    assert all(rss > 0 for _, rss in samples)
