"""`agentdeck hook`: event -> status mapping, the status file it writes, and that bad input
never fails the agent (exit 0) and never changes the status. The hook runs as a real
subprocess through the console entry, as Claude Code runs it."""
import json
import os
import statistics
import subprocess
import sys
import time

import pytest

from agentdeck.sessions.hook import MAX_PAYLOAD_BYTES, classify, hook_events, status_for
from agentdeck.sessions.status import read_hook_status
from tests.support import REPO, clean_env

HOOK = [sys.executable, "-m", "agentdeck", "hook"]
HOOK_WALL_LIMIT = 0.150  # seconds, interpreter start-up included (issue 3)
TIMING_RUNS = 20


def claude_payload(event, **extra):
    """A payload as Claude Code sends it (common fields + the event's own)."""
    payload = {"session_id": "5b0e6c1e-3f0e-4e43-9a57-1d2f0c0a7d11",
               "transcript_path": "/home/u/.claude/projects/-home-u-proj/5b0e6c1e.jsonl",
               "cwd": "/home/u/proj", "permission_mode": "default", "hook_event_name": event}
    payload.update(extra)
    return payload


def gemini_payload(event, **extra):
    return {"session_id": "g1", "transcript_path": "/home/u/.gemini/tmp/chats/s.json", "cwd": "/p",
            "hook_event_name": event, "timestamp": "2026-01-01T00:00:00Z", **extra}


def codex_payload(event, **extra):
    return {"session_id": "c1", "transcript_path": None, "cwd": "/p", "hook_event_name": event,
            "model": "gpt-5-codex", **extra}


# (payload, expected (status, why it waits) or None for "no change"), side by side: every
# status-bearing event of each client's current hook reference, and some that bear none.
MAPPING_CASES = [
    # Claude Code
    (claude_payload("SessionStart", source="startup", model="claude-sonnet-4-5"), ("waiting", "started")),
    (claude_payload("SessionStart", source="resume"), ("waiting", "started")),
    (claude_payload("SessionStart", source="clear"), ("waiting", "started")),
    (claude_payload("SessionStart", source="compact"), None),  # auto-compaction mid-turn: still running
    (claude_payload("UserPromptSubmit", prompt="fix the tests"), ("running", "")),
    (claude_payload("PreToolUse", tool_name="Bash", tool_input={"command": "ls"}, tool_use_id="toolu_01"),
     ("running", "")),
    (claude_payload("PreToolUse", tool_name="AskUserQuestion",
                    tool_input={"questions": [{"question": "Which database?", "options": []}]}),
     ("waiting", "question")),  # issue 20, friction 16: its only hook, and the agent waits
    (claude_payload("PermissionRequest", tool_name="Bash", tool_input={"command": "rm -rf build"}),
     ("waiting", "permission")),
    (claude_payload("PostToolUse", tool_name="Bash", tool_input={}, tool_response={}), ("running", "")),
    (claude_payload("PostToolUse", tool_name="AskUserQuestion", tool_input={}, tool_response={}), ("running", "")),
    (claude_payload("PostToolUseFailure", tool_name="Bash", error="exit 1", is_interrupt=False), ("running", "")),
    (claude_payload("PostToolUseFailure", tool_name="Bash", error="interrupted", is_interrupt=True),
     ("waiting", "interrupted")),
    (claude_payload("Notification", message="Claude needs your permission to use Bash",
                    notification_type="permission_prompt"), ("waiting", "permission")),
    (claude_payload("Notification", message="Claude is waiting for your input", notification_type="idle_prompt"),
     ("waiting", "idle")),  # issue 20, friction 16: it changed nothing
    (claude_payload("Notification", message="Answer the MCP server", notification_type="elicitation_dialog"),
     ("waiting", "question")),
    (claude_payload("Notification", message="Logged in", notification_type="auth_success"), None),
    (claude_payload("Elicitation", mcp_server_name="github", message="Pick a repo"), ("waiting", "question")),
    (claude_payload("ElicitationResult", mcp_server_name="github", action="accept"), ("running", "")),
    (claude_payload("Stop", stop_hook_active=False), ("waiting", "turn finished")),
    (claude_payload("StopFailure", error="overloaded"), ("waiting", "turn failed")),
    (claude_payload("SessionEnd", reason="prompt_input_exit"), ("dead", "")),
    (claude_payload("SessionEnd", reason="logout"), ("dead", "")),
    (claude_payload("SessionEnd", reason="clear"), None),  # /clear: a SessionStart follows
    (claude_payload("PreCompact", trigger="auto"), None),
    (claude_payload("PostCompact", trigger="manual"), None),
    (claude_payload("SubagentStart", agent_type="Explore"), None),
    (claude_payload("SubagentStop"), None),
    (claude_payload("TaskCompleted"), None),
    (claude_payload("ConfigChange"), None),
    (claude_payload("NoSuchEvent"), None),
    # Codex (hooks.json: the events it has, Claude Code's names and payloads)
    (codex_payload("SessionStart", source="startup"), ("waiting", "started")),
    (codex_payload("UserPromptSubmit", prompt="add a test"), ("running", "")),
    (codex_payload("PreToolUse", tool_name="Bash", tool_input={"command": "cargo test"}), ("running", "")),
    (codex_payload("PermissionRequest", tool_name="Bash", tool_input={"command": "rm -rf target"}),
     ("waiting", "permission")),
    (codex_payload("PostToolUse", tool_name="apply_patch", tool_input={}, tool_response={}), ("running", "")),
    (codex_payload("Stop", stop_hook_active=False, last_assistant_message="done"), ("waiting", "turn finished")),
    (codex_payload("PreCompact", trigger="auto"), None),
    # Codex `notify` program payload
    ({"type": "agent-turn-complete", "thread-id": "t1", "turn-id": "1", "cwd": "/p",
      "input-messages": ["hi"], "last-assistant-message": "done"}, ("waiting", "turn finished")),
    # Gemini CLI
    (gemini_payload("SessionStart", source="startup"), ("waiting", "started")),
    (gemini_payload("BeforeAgent", prompt="hi"), ("running", "")),
    (gemini_payload("BeforeTool", tool_name="run_shell_command", tool_input={}), ("running", "")),
    (gemini_payload("AfterTool", tool_name="run_shell_command", tool_input={}, tool_response={}), ("running", "")),
    (gemini_payload("Notification", notification_type="ToolPermission", message="Allow?", details={}),
     ("waiting", "permission")),
    (gemini_payload("AfterAgent", prompt="hi", prompt_response="done", stop_hook_active=False),
     ("waiting", "turn finished")),
    (gemini_payload("SessionEnd", reason="exit"), ("dead", "")),
    (gemini_payload("SessionEnd", reason="clear"), None),
    (gemini_payload("BeforeModel", llm_request={}), None),  # per request and per chunk: no status in them
    (gemini_payload("AfterModel", llm_request={}, llm_response={}), None),
    (gemini_payload("BeforeToolSelection", llm_request={}), None),
    (gemini_payload("PreCompress", trigger="auto"), None),
    ({"hook_event_name": 42}, None),
]


@pytest.mark.parametrize("payload,expected", MAPPING_CASES,
                         ids=[f"{p.get('hook_event_name') or p.get('type')}-"
                              f"{p.get('notification_type') or p.get('tool_name') or p.get('source') or p.get('reason') or ''}"
                              for p, _ in MAPPING_CASES])
def test_event_maps_to_status_and_reason(payload, expected):
    assert classify(payload) == expected
    assert status_for(payload) == (expected[0] if expected else None)


# What `hooks install --client X` hooks: every event of X that bears a status, and no other.
INSTALLED_EVENTS = {
    "claude": ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse",
               "PostToolUseFailure", "Notification", "Elicitation", "ElicitationResult", "Stop", "StopFailure",
               "SessionEnd"),
    "codex": ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"),
    "gemini": ("SessionStart", "Notification", "SessionEnd", "BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent"),
}


@pytest.mark.parametrize("client", sorted(INSTALLED_EVENTS))
def test_each_client_hooks_every_event_that_bears_a_status(client):
    assert hook_events(client) == INSTALLED_EVENTS[client]


@pytest.fixture
def home(tmp_path):
    return tmp_path


def run_hook(home, payload, instance_id="abc123", args=(), **env):
    """Run `agentdeck hook` as the agent would; returns the CompletedProcess."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    environment = clean_env(home, **env)
    if instance_id is not None:
        environment["AGENTDECK_INSTANCE_ID"] = instance_id
    return subprocess.run([*HOOK, *args], input=data, env=environment, cwd=REPO, capture_output=True, timeout=30)


def hook_file(home, instance_id="abc123"):
    return home / "hooks" / f"{instance_id}.json"


def test_writes_status_file_with_the_payload_fields(home):
    payload = claude_payload("UserPromptSubmit", prompt="fix the tests")
    before = time.time()
    proc = run_hook(home, payload)
    assert proc.returncode == 0 and proc.stderr == b""
    path = hook_file(home)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(home / "hooks").st_mode & 0o777 == 0o700
    status = read_hook_status(path)
    assert (status.status, status.event, status.session_id, status.cwd, status.transcript_path) == (
        "running", "UserPromptSubmit", payload["session_id"], payload["cwd"], payload["transcript_path"])
    assert before <= status.ts <= time.time()
    assert [p.name for p in (home / "hooks").iterdir()] == ["abc123.json"]  # no temp file left behind


def test_later_event_replaces_the_status(home):
    run_hook(home, claude_payload("UserPromptSubmit"))
    run_hook(home, claude_payload("Stop", stop_hook_active=False))
    status = read_hook_status(hook_file(home))
    assert (status.status, status.reason) == ("waiting", "turn finished")
    run_hook(home, claude_payload("PreToolUse", tool_name="AskUserQuestion", tool_input={}))
    status = read_hook_status(hook_file(home))
    assert (status.status, status.reason) == ("waiting", "question")


def test_codex_notify_payload_as_argument(home):
    payload = {"type": "agent-turn-complete", "thread-id": "th-1", "cwd": "/p", "last-assistant-message": "ok"}
    proc = run_hook(home, b"", args=[json.dumps(payload)])
    assert proc.returncode == 0
    status = read_hook_status(hook_file(home))
    assert (status.status, status.event, status.session_id) == ("waiting", "agent-turn-complete", "th-1")


def test_home_comes_from_the_config_when_agentdeck_home_is_unset(home):
    config = home / "agentdeck.toml"
    config.write_text(f'[daemon]\nhome = "{home}/from-config"\n')
    env = {k: v for k, v in clean_env(home).items() if k != "AGENTDECK_HOME"}
    env.update(AGENTDECK_CONFIG=str(config), AGENTDECK_INSTANCE_ID="abc123")
    proc = subprocess.run(HOOK, input=json.dumps(claude_payload("Stop")).encode(), env=env, cwd=REPO,
                          capture_output=True, timeout=30)
    assert proc.returncode == 0
    assert read_hook_status(home / "from-config" / "hooks" / "abc123.json").status == "waiting"


# -- bad input: exit 0, and the status a previous hook wrote stays as it was

BAD_PAYLOADS = {
    "not-json": b"this is not json {",
    "not-utf8": b"\xff\xfe\x00garbage",
    "json-array": b'["Stop"]',
    "empty": b"",
    "8-MiB": json.dumps(claude_payload("SessionEnd", padding="x" * (8 * 1024 * 1024))).encode(),
    "just-over-1-MiB": json.dumps(claude_payload("SessionEnd", padding="x" * MAX_PAYLOAD_BYTES)).encode(),
    "unknown-event": json.dumps(claude_payload("TotallyNewEvent")).encode(),
    "informational-notification": json.dumps(claude_payload("Notification", notification_type="auth_success")).encode(),
}


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_bad_payload_exits_0_and_leaves_status_unchanged(home, name):
    assert run_hook(home, claude_payload("UserPromptSubmit")).returncode == 0
    before = hook_file(home).read_bytes()
    proc = run_hook(home, BAD_PAYLOADS[name])
    assert proc.returncode == 0
    assert hook_file(home).read_bytes() == before


@pytest.mark.parametrize("name", ["not-json", "8-MiB", "unknown-event"])
def test_bad_payload_writes_nothing_on_a_fresh_home(home, name):
    assert run_hook(home, BAD_PAYLOADS[name]).returncode == 0
    assert not (home / "hooks").exists()


@pytest.mark.parametrize("instance_id", ["../escape", "..", "a/../../b", "a/b", ".hidden", "-x", "a..b", "x" * 65,
                                         "id with space",
                                         "abc\n"])  # regression: "$" matched before a final newline
def test_instance_id_that_could_escape_hooks_is_ignored(home, instance_id):
    proc = run_hook(home, claude_payload("Stop"), instance_id=instance_id)
    assert proc.returncode == 0
    assert not (home / "hooks").exists()
    assert not (home.parent / "escape.json").exists() and not list(home.parent.glob("b.json"))


def test_no_instance_id_means_not_ours(home):
    proc = run_hook(home, claude_payload("Stop"), instance_id=None)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""
    assert not home.exists() or not (home / "hooks").exists()


def test_symlink_at_the_status_file_is_replaced_not_followed(home):
    (home / "hooks").mkdir(mode=0o700)
    victim = home / "victim.txt"
    victim.write_text("precious")
    hook_file(home).symlink_to(victim)
    assert read_hook_status(hook_file(home)) is None  # readers refuse the link too
    assert run_hook(home, claude_payload("Stop")).returncode == 0
    assert victim.read_text() == "precious"
    assert not hook_file(home).is_symlink()
    assert read_hook_status(hook_file(home)).status == "waiting"


def test_symlinked_hooks_dir_is_refused_and_the_hook_still_exits_0(home):
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    (home / "hooks").symlink_to(elsewhere)
    proc = run_hook(home, claude_payload("Stop"))
    assert proc.returncode == 0
    assert b"agentdeck hook:" in proc.stderr  # says why, on one line
    assert list(elsewhere.iterdir()) == []


def test_unwritable_home_still_exits_0(home):
    blocker = home / "file-not-dir"
    blocker.write_text("")
    proc = run_hook(blocker, claude_payload("Stop"))
    assert proc.returncode == 0


def test_hook_imports_neither_gevent_nor_pony_nor_loguru(home):
    probe = ("import sys\nfrom agentdeck.entry import main\nmain(['hook'])\n"
             "heavy = sorted(m for m in ('gevent', 'pony', 'loguru', 'agentdeck.daemon', 'agentdeck.pool') "
             "if m in sys.modules)\nprint(heavy)\n")
    env = clean_env(home, AGENTDECK_INSTANCE_ID="abc123")
    proc = subprocess.run([sys.executable, "-c", probe], input=json.dumps(claude_payload("Stop")).encode(),
                          env=env, cwd=REPO, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "[]"
    assert read_hook_status(hook_file(home)).status == "waiting"


@pytest.mark.timeout(120)
def test_hook_wall_time_under_150_ms(home):
    """Median of 20 runs, interpreter start-up included (the bench prints p50/p95)."""
    data = json.dumps(claude_payload("PreToolUse", tool_name="Bash", tool_input={"command": "ls"})).encode()
    env = clean_env(home, AGENTDECK_INSTANCE_ID="abc123")
    times = []
    for _ in range(TIMING_RUNS):
        start = time.perf_counter()
        subprocess.run(HOOK, input=data, env=env, cwd=REPO, capture_output=True, timeout=30, check=True)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < HOOK_WALL_LIMIT, f"hook wall times: {sorted(times)}"
