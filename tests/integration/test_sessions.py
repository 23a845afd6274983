"""Sessions end to end: the `agentdeck session` and `hooks` commands as real subprocesses,
a real tmux server on a private socket (never the user's), real SQLite files, and
`agentdeck hook` fed Claude Code's own hook payloads."""
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentdeck.paths import Home
from agentdeck.sessions.control import SessionControl
from agentdeck.sessions.registry import Registry
from agentdeck.sessions.tmux import Tmux
from agentdeck.sessions.transcript import PROMPT_MAX_CHARS, PromptCache
from tests.support import REPO, clean_env, run_cli, wait_for

HOOK = [sys.executable, "-m", "agentdeck", "hook"]
STATUS_TIMEOUT = 15.0  # seconds to wait for a status to show


@pytest.fixture
def env(home, tmux):
    return clean_env(home, AGENTDECK_TMUX_SOCKET=tmux.socket, CLAUDE_CONFIG_DIR=home / "claude")


@pytest.fixture
def project(home):
    path = home / "proj"
    path.mkdir()
    return path


def cli(home, env, *args, timeout=30):
    return run_cli(home, *args, env=env, timeout=timeout)


def add(home, env, project, *args):
    proc = cli(home, env, "session", "add", str(project), *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def show(home, env, instance_id):
    proc = cli(home, env, "session", "show", instance_id, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def listing(home, env):
    proc = cli(home, env, "session", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {s["id"]: s for s in json.loads(proc.stdout)}


def wait_status(home, env, instance_id, status):
    return wait_for(lambda: (lambda s: s if s["status"] == status else None)(show(home, env, instance_id)),
                    STATUS_TIMEOUT, interval=0.1, message=f"session {instance_id} to be {status}")


def tmux_query(tmux, *args):
    return subprocess.run(["tmux", "-S", tmux.socket, *args], capture_output=True, text=True, timeout=10)


def claude_payload(event, transcript="", **extra):
    payload = {"session_id": "5b0e6c1e-3f0e-4e43-9a57-1d2f0c0a7d11", "transcript_path": str(transcript),
               "cwd": "/home/u/proj", "permission_mode": "default", "hook_event_name": event}
    payload.update(extra)
    return payload


def run_hook(home, instance_id, payload):
    environment = clean_env(home, AGENTDECK_INSTANCE_ID=instance_id)
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    proc = subprocess.run(HOOK, input=data, env=environment, cwd=REPO, capture_output=True, timeout=30)
    assert proc.returncode == 0
    return proc


def transcript_line(text):
    return json.dumps({"type": "user", "message": {"role": "user", "content": text}, "uuid": "u"}) + "\n"


def test_add_starts_a_detached_tmux_session_in_the_project_with_the_instance_id(home, env, tmux, project):
    instance_id = add(home, env, project, "--title", "my agent")
    name = f"agentdeck-{instance_id}"
    assert tmux_query(tmux, "has-session", "-t", f"={name}").returncode == 0
    environment = tmux_query(tmux, "show-environment", "-t", name).stdout.splitlines()
    assert f"AGENTDECK_INSTANCE_ID={instance_id}" in environment
    assert f"AGENTDECK_HOME={home}" in environment
    cwd = wait_for(lambda: tmux_query(tmux, "display-message", "-p", "-t", f"={name}:",
                                      "#{pane_current_path}").stdout.strip(), 10, message="pane path")
    assert os.path.realpath(cwd) == os.path.realpath(project)
    session = listing(home, env)[instance_id]
    assert (session["title"], session["status"], session["tool"], session["path"], session["profile"]) == (
        "my agent", "idle", "shell", str(project), "default")
    text = cli(home, env, "session", "list").stdout
    assert instance_id in text and "idle" in text and "my agent" in text
    db = home / "profiles" / "default" / "state.db"
    assert os.stat(db).st_mode & 0o777 == 0o600


def test_hooks_run_inside_the_session_drive_its_status_and_prompt(home, env, tmux, project):
    """A stand-in agent in the tmux session calls `agentdeck hook` the way Claude Code does,
    inheriting AGENTDECK_INSTANCE_ID and AGENTDECK_HOME from the session."""
    transcript = home / "transcript.jsonl"
    go = home / "go"
    agent = home / "agent.py"
    agent.write_text(textwrap.dedent(f"""
        import json, os, subprocess, time
        def hook(event, **extra):
            payload = dict(session_id="s-1", transcript_path={str(transcript)!r}, cwd=os.getcwd(),
                           hook_event_name=event, **extra)
            subprocess.run({HOOK!r}, input=json.dumps(payload).encode(), check=True, timeout=30)
        hook("SessionStart", source="startup")
        with open({str(transcript)!r}, "a") as f:
            f.write({transcript_line("refactor the parser")!r})
        hook("UserPromptSubmit", prompt="refactor the parser")
        deadline = time.monotonic() + 30
        while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:
            time.sleep(0.05)
        hook("Stop", stop_hook_active=False)
        time.sleep(60)
    """))
    instance_id = add(home, env, project, "--cmd", f"{sys.executable} {agent}")
    running = wait_status(home, env, instance_id, "running")
    assert running["prompt"] == "refactor the parser"
    assert running["hook_event"] == "UserPromptSubmit" and running["agent_session_id"] == "s-1"
    go.touch()
    waiting = wait_status(home, env, instance_id, "waiting")
    assert waiting["hook_event"] == "Stop"
    text = cli(home, env, "session", "show", instance_id).stdout
    assert "status:    waiting" in text and "refactor the parser" in text


# Claude Code's events in the order a turn with a permission prompt and a question fires
# them, with the status and why it waits that `session show` then says.
TURN = [
    (claude_payload("SessionStart", source="startup", model="claude-sonnet-4-5"), "waiting", "started"),
    (claude_payload("UserPromptSubmit", prompt="run the tests"), "running", ""),
    (claude_payload("PreToolUse", tool_name="Bash", tool_input={"command": "pytest"}, tool_use_id="toolu_1"),
     "running", ""),
    (claude_payload("PermissionRequest", tool_name="Bash", tool_input={"command": "pytest"}), "waiting", "permission"),
    (claude_payload("Notification", message="Claude needs your permission to use Bash",
                    notification_type="permission_prompt"), "waiting", "permission"),
    (claude_payload("PostToolUse", tool_name="Bash", tool_input={"command": "pytest"}, tool_response={}),
     "running", ""),
    (claude_payload("PreToolUse", tool_name="AskUserQuestion", tool_input={"questions": []}), "waiting", "question"),
    (claude_payload("PostToolUse", tool_name="AskUserQuestion", tool_input={}, tool_response={}), "running", ""),
    (claude_payload("Stop", stop_hook_active=False), "waiting", "turn finished"),
    (claude_payload("Notification", message="Claude is waiting for your input", notification_type="idle_prompt"),
     "waiting", "idle"),
    (claude_payload("SessionEnd", reason="prompt_input_exit"), "dead", ""),
]


def test_a_claude_turn_moves_the_status_and_says_why_it_waits(home, env, project):
    """Regression (issue 20, friction 16): a question (AskUserQuestion's PreToolUse) showed
    as running, and idle_prompt changed nothing; nothing said why a session waited."""
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    for payload, status, reason in TURN:
        run_hook(home, instance_id, payload)
        session = show(home, env, instance_id)
        assert (session["status"], session["reason"]) == (status, reason), payload["hook_event_name"]
        if payload.get("tool_name") == "AskUserQuestion" and status == "waiting":
            line = next(line for line in cli(home, env, "session", "list").stdout.splitlines()
                        if line.startswith(instance_id))
            assert " waiting " in line and " question " in line
            assert re.search(r"^status: +waiting since .* \(question\)$",
                             cli(home, env, "session", "show", instance_id).stdout, re.M)


def test_bad_hook_payloads_leave_the_status_alone(home, env, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    run_hook(home, instance_id, claude_payload("UserPromptSubmit"))
    for payload in (b"{not json", json.dumps(claude_payload("Stop", pad="x" * (8 << 20))).encode(),
                    claude_payload("SomeFutureEvent")):
        run_hook(home, instance_id, payload)
        assert show(home, env, instance_id)["status"] == "running"


def test_without_hooks_status_comes_from_tmux(home, env, tmux, project):
    shell = add(home, env, project)
    exits = add(home, env, project, "--cmd", "exit 0")
    vanished = add(home, env, project, "--cmd", "sleep 300")
    assert tmux_query(tmux, "kill-session", "-t", f"=agentdeck-{vanished}").returncode == 0
    wait_status(home, env, exits, "dead")  # the pane's command exited
    statuses = {i: s["status"] for i, s in listing(home, env).items()}
    assert statuses == {shell: "idle", exits: "dead", vanished: "dead"}


def test_kill_stops_tmux_marks_dead_and_remove_deletes_everything(home, env, tmux, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    run_hook(home, instance_id, claude_payload("UserPromptSubmit"))
    (home / "events" / f"{instance_id}.json").write_text('{"status": "running"}')
    proc = cli(home, env, "session", "kill", instance_id)
    assert proc.returncode == 0 and instance_id in proc.stdout
    assert tmux_query(tmux, "has-session", "-t", f"=agentdeck-{instance_id}").returncode != 0
    session = show(home, env, instance_id)
    assert (session["status"], session["stored_status"]) == ("dead", "dead")
    proc = cli(home, env, "session", "remove", instance_id)
    assert proc.returncode == 0 and instance_id in proc.stdout
    assert not (home / "hooks" / f"{instance_id}.json").exists()
    assert not (home / "events" / f"{instance_id}.json").exists()
    assert instance_id not in listing(home, env)


def test_remove_kills_a_live_session_too(home, env, tmux, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    assert cli(home, env, "session", "remove", instance_id).returncode == 0
    assert tmux_query(tmux, "has-session", "-t", f"=agentdeck-{instance_id}").returncode != 0


def test_kill_clears_the_prompt_cache(home, tmux, project):
    """In one process (as in the daemon): the prompt is cached while alive, gone after kill."""
    transcript = home / "t.jsonl"
    transcript.write_text(transcript_line("cache me"))
    root = Home(home).ensure()
    registry = Registry(root)
    prompts = PromptCache()
    control = SessionControl(root, registry, tmux, prompts)
    try:
        record = control.add(str(project), command="sleep 300")
        run_hook(home, record.id, claude_payload("UserPromptSubmit", transcript=transcript))
        assert control.view(record.id).prompt == "cache me"
        assert len(prompts) == 1
        control.kill(record.id)
        assert len(prompts) == 0
        view = control.view(record.id)
        assert (view.status, view.prompt, len(prompts)) == ("dead", "", 0)  # not refilled for the dead
    finally:
        registry.close()


def test_the_prompt_stays_when_a_later_hook_names_no_transcript(home, env, project):
    """Regression: the prompt vanished once a hook without transcript_path arrived (Codex's
    notify sends none; nor do hand-written hooks)."""
    transcript = home / "t.jsonl"
    transcript.write_text(transcript_line("refactor the parser"))
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    run_hook(home, instance_id, claude_payload("UserPromptSubmit", transcript=transcript))
    assert show(home, env, instance_id)["prompt"] == "refactor the parser"
    run_hook(home, instance_id, {"hook_event_name": "Stop", "session_id": "s"})  # no transcript_path
    notify = {"type": "agent-turn-complete", "thread-id": "t1", "cwd": str(project), "last-assistant-message": "ok"}
    proc = subprocess.run([*HOOK, json.dumps(notify)], env=clean_env(home, AGENTDECK_INSTANCE_ID=instance_id),
                          cwd=REPO, capture_output=True, timeout=30)  # Codex's notify: the payload as argument
    assert proc.returncode == 0
    assert show(home, env, instance_id)["prompt"] == "refactor the parser"
    other = home / "other.jsonl"
    other.write_text(transcript_line("a new conversation"))
    run_hook(home, instance_id, claude_payload("SessionStart", transcript=other))  # names another: that one counts
    assert show(home, env, instance_id)["prompt"] == "a new conversation"


@pytest.mark.parametrize("payload", [
    claude_payload("UserPromptSubmit", prompt="  fix the\n flaky test  "),  # Claude Code; Codex's hooks alike
    {"hook_event_name": "BeforeAgent", "session_id": "g1", "cwd": "/p", "prompt": "fix the\tflaky test"},  # Gemini
])
def test_the_prompt_comes_from_the_hook_itself(home, env, project, payload):
    """No transcript to read (Codex, Gemini): the prompt the hook carries is the latest,
    and stays through the turn's later hooks."""
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    run_hook(home, instance_id, payload)
    assert show(home, env, instance_id)["prompt"] == "fix the flaky test"
    run_hook(home, instance_id, {"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "Bash"})
    run_hook(home, instance_id, {"hook_event_name": "Stop", "session_id": "s"})
    assert show(home, env, instance_id)["prompt"] == "fix the flaky test"


def test_a_prompt_from_a_hook_is_bounded(home, env, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    run_hook(home, instance_id, claude_payload("UserPromptSubmit", prompt="word " * 100_000))
    prompt = show(home, env, instance_id)["prompt"]
    assert len(prompt) == PROMPT_MAX_CHARS and prompt.startswith("word word") and prompt.endswith("…")
    assert (home / "hooks" / f"{instance_id}.json").stat().st_size < 2 * PROMPT_MAX_CHARS + 1024


def test_liveness_of_every_session_in_one_tmux_call(home, env, tmux, project):
    ids = [add(home, env, project, "--cmd", "sleep 300") for _ in range(3)]
    tmux_query(tmux, "new-session", "-d", "-s", "users-own")  # not ours: listed, ignored by agentdeck
    panes = tmux.panes()
    assert {f"agentdeck-{i}" for i in ids} <= set(panes)
    assert not any(panes[f"agentdeck-{i}"].dead for i in ids)
    assert "users-own" in panes


def test_command_ending_in_an_escaped_semicolon_reaches_the_shell_whole(home, env, project):
    """Regression: tmux reads an argument ending in ";" as a command separator and turns a
    final "\\;" into a bare ";", which broke `find ... -exec ... \\;`."""
    marker = home / "ran"
    add(home, env, project, "--cmd", f"find {project} -maxdepth 0 -exec touch {marker} \\;")
    wait_for(marker.exists, 10, message="find -exec to run")


def test_list_with_no_sessions(home, env):
    proc = cli(home, env, "session", "list")
    assert proc.returncode == 0 and "no sessions" in proc.stdout
    assert json.loads(cli(home, env, "session", "list", "--json").stdout) == []


def test_profiles_keep_their_own_registries(home, env, project):
    work = add(home, env, project, "--profile", "work")
    play = add(home, env, project)
    assert (home / "profiles" / "work" / "state.db").is_file()
    proc = cli(home, env, "session", "list", "--profile", "work", "--json")
    assert [s["id"] for s in json.loads(proc.stdout)] == [work]
    assert show(home, env, work)["profile"] == "work"  # ids are found in any profile
    assert set(listing(home, env)) == {work, play}


def test_two_adds_at_the_same_moment_both_succeed_with_distinct_ids(home, env, tmux, project):
    procs = [subprocess.Popen([sys.executable, "-m", "agentdeck", "session", "add", str(project), "--cmd", "sleep 300"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    ids = [out.strip() for out, _ in results]
    assert len(set(ids)) == 2
    assert set(listing(home, env)) == set(ids)
    for instance_id in ids:
        assert tmux_query(tmux, "has-session", "-t", f"=agentdeck-{instance_id}").returncode == 0


def test_symlinked_hook_file_is_not_followed(home, env, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    planted = home / "planted.json"
    planted.write_text(json.dumps({"status": "running", "event": "UserPromptSubmit", "ts": 1}))
    (home / "hooks" / f"{instance_id}.json").symlink_to(planted)
    assert show(home, env, instance_id)["status"] == "idle"
    run_hook(home, instance_id, claude_payload("Stop"))
    assert show(home, env, instance_id)["status"] == "waiting"
    assert json.loads(planted.read_text())["status"] == "running"


# -- a person's mistakes: exit 1, one line that names the problem, no traceback

def assert_user_error(proc, *words):
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command, ended", [
    ("nonexistent-agent-cli", "exit status 127 (command not found)"),
    ("exit 3", "exit status 3"),
    ("kill -KILL $$", "killed by signal 9 (SIGKILL)"),
])
def test_add_of_a_command_that_fails_at_once_says_why(home, env, project, command, ended):
    """Regression (issue 20, friction 6): `session add --cmd nonexistent-agent-cli` exited 0
    and the session was just dead, with nothing saying why."""
    proc = cli(home, env, "session", "add", str(project), "--cmd", command)
    instance_id = proc.stdout.strip()  # printed all the same: the session is there to look at
    assert_user_error(proc, instance_id, command, ended)
    session = show(home, env, instance_id)
    assert session["status"] == "dead" and session["ended"] == ended
    text = cli(home, env, "session", "show", instance_id).stdout
    assert re.search(rf"^status: +dead since .* \({re.escape(ended)}\)$", text, re.M), text


def test_add_of_a_command_that_ends_well_at_once_is_no_error(home, env, project):
    proc = cli(home, env, "session", "add", str(project), "--cmd", "true")
    assert proc.returncode == 0 and proc.stderr == ""
    instance_id = proc.stdout.strip()
    session = wait_for(lambda: (lambda s: s if s["exit_status"] is not None else None)(show(home, env, instance_id)),
                       STATUS_TIMEOUT, interval=0.1, message="tmux to reap the command")  # dead a moment earlier
    assert (session["status"], session["exit_status"], session["ended"]) == ("dead", 0, "exit status 0")


def test_the_exit_status_of_the_first_pane_of_a_new_tmux_server_is_known(tmp_path):
    """Regression: tmux 3.3a now and then misses the SIGCHLD of a pane's command, which
    then stays a zombie with no exit status until another child exits: the deck showed a
    dead session as "ended", not "exit status 3" (16 new servers here: the test failed 4
    runs in 4 before agentdeck made tmux reap)."""
    for attempt in range(16):
        server = Tmux(str(tmp_path / f"t{attempt}.sock"))
        try:
            server.new_session("s", tmp_path, {}, "sh -c 'sleep 0.3; exit 3'")
            pane = wait_for(lambda: (lambda p: p if p is not None and p.reaped else None)(server.panes().get("s")),
                            STATUS_TIMEOUT, interval=0.1, message=f"server {attempt}: the pane's exit status")
            assert pane.exit_status == 3
        finally:
            server.kill_server()


def test_add_with_a_path_that_does_not_exist(home, env, tmux):
    missing = home / "no-such-project"
    assert_user_error(cli(home, env, "session", "add", str(missing)), str(missing), "no such directory")
    assert listing(home, env) == {} and tmux.panes() == {}


def test_add_with_a_file_for_a_path(home, env):
    afile = home / "file.txt"
    afile.write_text("")
    assert_user_error(cli(home, env, "session", "add", str(afile)), str(afile), "not a directory")


def test_add_without_tmux_installed(home, env, project):
    no_tmux = dict(env, PATH=str(home / "empty-bin"))
    assert_user_error(cli(home, no_tmux, "session", "add", str(project)), "tmux is not installed")
    assert listing(home, env) == {}


ID_ACTIONS = [["show"], ["kill"], ["remove"], ["send", "hello"], ["attach"], ["restart"], ["rename", "a title"]]


@pytest.mark.parametrize("action", ID_ACTIONS, ids=lambda a: a[0])
def test_unknown_id(home, env, project, action):
    add(home, env, project)  # the registry exists, the id does not
    verb, *rest = action
    assert_user_error(cli(home, env, "session", verb, "deadbeef", *rest), "deadbeef", "no session")


@pytest.mark.parametrize("action", ID_ACTIONS, ids=lambda a: a[0])
def test_removed_id(home, env, project, action):
    instance_id = add(home, env, project)
    assert cli(home, env, "session", "remove", instance_id).returncode == 0
    verb, *rest = action
    assert_user_error(cli(home, env, "session", verb, instance_id, *rest), instance_id)


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".."])
def test_id_that_is_a_path(home, env, bad):
    assert_user_error(cli(home, env, "session", "show", bad), "not valid")


def test_bad_profile_name(home, env, project):
    assert_user_error(cli(home, env, "session", "add", str(project), "--profile", "../x"), "profile", "../x")


@pytest.mark.parametrize("command", [["session", "list"], ["session", "show", "abcd1234"],
                                     ["session", "add", "PROJECT"]])
def test_corrupt_state_db(home, env, project, command):
    db = home / "profiles" / "default" / "state.db"
    db.parent.mkdir(parents=True, mode=0o700)
    db.write_bytes(b"\x00garbage, not SQLite\n" * 500)
    args = [str(project) if a == "PROJECT" else a for a in command]
    assert_user_error(cli(home, env, *args), str(db), "move it aside")


def test_hooks_install_and_uninstall_commands(home, env):
    settings = home / "claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"model": "opus"}))
    proc = cli(home, env, "hooks", "install")  # CLAUDE_CONFIG_DIR points at home/claude
    assert proc.returncode == 0 and "SessionStart" in proc.stdout and str(settings) in proc.stdout
    hooks = json.loads(settings.read_text())["hooks"]
    assert {"SessionStart", "UserPromptSubmit", "Stop", "PermissionRequest", "Notification", "SessionEnd"} <= set(hooks)
    proc = cli(home, env, "hooks", "install")
    assert proc.returncode == 0 and "nothing to do" in proc.stdout
    proc = cli(home, env, "hooks", "uninstall", "--settings", str(settings))
    assert proc.returncode == 0
    assert json.loads(settings.read_text()) == {"model": "opus"}


def test_hooks_install_refuses_invalid_json(home, env):
    settings = home / "settings.json"
    settings.write_text('{"model": "opus",')
    assert_user_error(cli(home, env, "hooks", "install", "--settings", str(settings)), str(settings),
                      "not valid JSON")
    assert settings.read_text() == '{"model": "opus",'


def test_installed_hook_command_works(home, env, project):
    """The command `hooks install` writes, run through a shell as Claude Code runs it."""
    settings = home / "settings.json"
    assert cli(home, env, "hooks", "install", "--settings", str(settings)).returncode == 0
    command = json.loads(settings.read_text())["hooks"]["Stop"][0]["hooks"][0]["command"]
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    hook_env = clean_env(home, AGENTDECK_INSTANCE_ID=instance_id)
    proc = subprocess.run(["/bin/sh", "-c", command], input=json.dumps(claude_payload("Stop")).encode(),
                          env=hook_env, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert show(home, env, instance_id)["status"] == "waiting"


# -- list in order of attention, send, attach, restart, rename

def test_list_puts_waiting_first_says_for_how_long_and_filters_by_status(home, env, project):
    """Regression (issue 20, friction 14): `session list` was in order of creation, with no
    duration and no way to ask for the waiting ones only."""
    dead = add(home, env, project, "--cmd", "exit 0")
    idle = add(home, env, project)
    running = add(home, env, project, "--cmd", "sleep 300")
    waiting = add(home, env, project, "--cmd", "sleep 300")
    run_hook(home, running, claude_payload("UserPromptSubmit", prompt="go"))
    run_hook(home, waiting, claude_payload("Stop"))
    wait_status(home, env, dead, "dead")
    proc = cli(home, env, "session", "list", "--json")
    sessions = json.loads(proc.stdout)
    assert [(s["id"], s["status"]) for s in sessions] == [
        (waiting, "waiting"), (running, "running"), (idle, "idle"), (dead, "dead")]
    hook_ts = json.loads((home / "hooks" / f"{waiting}.json").read_text())["ts"]
    assert sessions[0]["since"] == hook_ts  # waiting since its Stop hook
    lines = cli(home, env, "session", "list").stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "PROFILE", "STATUS", "FOR"]
    assert [line.split()[0] for line in lines[1:]] == [waiting, running, idle, dead]
    assert all(re.fullmatch(r"\d+s|\d+m\d\ds", line.split()[3]) for line in lines[1:]), lines
    proc = cli(home, env, "session", "list", "--status", "dead,waiting", "--json")
    assert [s["id"] for s in json.loads(proc.stdout)] == [waiting, dead]
    assert cli(home, env, "session", "list", "--status", "running").stdout.splitlines()[1].startswith(running)
    assert_user_error(cli(home, env, "session", "list", "--status", "asleep"), "asleep", "waiting")


def test_send_types_the_text_into_the_pane_and_presses_enter(home, env, project):
    got = home / "got.txt"
    reader = home / "reader.py"
    reader.write_text(f"open({str(got)!r}, 'w').write(input())\nimport time; time.sleep(300)\n")
    instance_id = add(home, env, project, "--cmd", f"{sys.executable} {reader}")
    text = 'fix "the" tests; Enter $HOME C-c'  # literal: no key names, no shell expansion
    proc = cli(home, env, "session", "send", instance_id, text)
    assert proc.returncode == 0 and instance_id in proc.stdout, proc.stderr
    wait_for(lambda: got.exists() and got.read_text() == text, 10, message="the line to reach the program")
    dead = add(home, env, project, "--cmd", "exit 0")
    wait_status(home, env, dead, "dead")
    assert_user_error(cli(home, env, "session", "send", dead, "hello"), dead, "dead", "restart")


def test_restart_runs_the_command_again_in_the_same_tmux_session_and_directory(home, env, tmux, project):
    runs = home / "runs.txt"
    agent = home / "agent.py"
    agent.write_text(textwrap.dedent(f"""
        import os, time
        with open({str(runs)!r}, "a") as f:
            f.write(f"{{os.getpid()}} {{os.getcwd()}} {{os.environ['AGENTDECK_INSTANCE_ID']}}\\n")
        time.sleep(300)
    """))
    instance_id = add(home, env, project, "--cmd", f"{sys.executable} {agent}")
    lines = lambda: runs.read_text().splitlines() if runs.exists() else []  # noqa: E731
    wait_for(lambda: len(lines()) == 1, 10, message="the first run")
    run_hook(home, instance_id, claude_payload("Stop"))
    proc = cli(home, env, "session", "restart", instance_id, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "idle"  # the old run's hook no longer speaks for it
    wait_for(lambda: len(lines()) == 2, 10, message="the second run")
    first_pid = int(lines()[0].split()[0])
    wait_for(lambda: not os.path.exists(f"/proc/{first_pid}"), 10, message="the first run to be killed")
    assert {line.split(" ", 1)[1] for line in lines()} == {f"{os.path.realpath(project)} {instance_id}"}
    assert cli(home, env, "session", "kill", instance_id).returncode == 0
    assert show(home, env, instance_id)["status"] == "dead"
    assert cli(home, env, "session", "restart", instance_id).returncode == 0  # its tmux session is made anew
    wait_for(lambda: len(lines()) == 3, 10, message="the run after kill")
    assert show(home, env, instance_id)["status"] == "idle"
    assert list(tmux.panes()) == [f"agentdeck-{instance_id}"]


def test_rename(home, env, project):
    instance_id = add(home, env, project, "--title", "old")
    proc = cli(home, env, "session", "rename", instance_id, "  the\nparser  refactor ", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["title"] == "the parser refactor"
    assert listing(home, env)[instance_id]["title"] == "the parser refactor"
    assert_user_error(cli(home, env, "session", "rename", instance_id, " \t"), "title")
    assert_user_error(cli(home, env, "session", "rename", instance_id, "x" * 201), "title", "200")


def client_sessions(tmux):
    return tmux_query(tmux, "list-clients", "-F", "#{client_session}").stdout.split()


def in_a_terminal(command, env):
    """``command`` (a list) run with a pseudo-terminal for its stdin and stdout (script(1))."""
    return subprocess.Popen(["script", "-qfec", shlex.join(command), "/dev/null"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_attach_outside_tmux_attaches_this_terminal(home, env, tmux, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    terminal = in_a_terminal([sys.executable, "-m", "agentdeck", "session", "attach", instance_id],
                             dict(env, TERM="xterm"))
    try:
        wait_for(lambda: client_sessions(tmux) == [f"agentdeck-{instance_id}"], 15, message="a client on the session")
        tmux_query(tmux, "detach-client", "-s", f"=agentdeck-{instance_id}")
        assert terminal.wait(timeout=10) == 0  # detaching ends `session attach`
    finally:
        terminal.kill()
        terminal.wait(timeout=10)


def test_attach_inside_tmux_switches_the_client(home, env, tmux, project):
    instance_id = add(home, env, project, "--cmd", "sleep 300")
    go = home / "go"
    deck = (f"while [ ! -e {go} ]; do sleep 0.05; done; "
            f"{sys.executable} -m agentdeck session attach {instance_id}; sleep 300")
    assert tmux_query(tmux, "new-session", "-d", "-s", "deck", "-c", str(REPO), "-e", f"AGENTDECK_HOME={home}",
                      "-e", f"AGENTDECK_TMUX_SOCKET={tmux.socket}", deck).returncode == 0
    terminal = in_a_terminal(["tmux", "-S", tmux.socket, "attach-session", "-t", "=deck"], dict(env, TERM="xterm"))
    try:
        wait_for(lambda: client_sessions(tmux) == ["deck"], 15, message="a client on the deck")
        go.touch()
        wait_for(lambda: client_sessions(tmux) == [f"agentdeck-{instance_id}"], 15,
                 message="the client to switch to the session")
    finally:
        terminal.kill()
        terminal.wait(timeout=10)


# Where each client keeps its hooks, under the test's home (CLAUDE_CONFIG_DIR, CODEX_HOME, HOME).
HOOK_FILES = {"claude": "claude/settings.json", "codex": "codex/hooks.json", "gemini": "h/.gemini/settings.json"}
HOOK_TIMEOUTS = {"claude": 10, "codex": 10, "gemini": 10_000}  # Gemini CLI counts milliseconds


@pytest.mark.parametrize("client", sorted(HOOK_FILES))
def test_hooks_install_for_each_client_hooks_every_event_that_bears_a_status(home, env, client):
    """Regression (issue 20, friction 13): `hooks install` wrote Claude Code's hooks only,
    and left out StopFailure."""
    from tests.test_hook import INSTALLED_EVENTS
    env = dict(env, CODEX_HOME=str(home / "codex"), HOME=str(home / "h"))
    path = home / HOOK_FILES[client]
    path.parent.mkdir(parents=True)
    users = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}, "theme": "dark"}
    path.write_text(json.dumps(users))
    original = path.read_bytes()
    proc = cli(home, env, "hooks", "install", "--client", client)
    assert proc.returncode == 0 and str(path) in proc.stdout, proc.stderr
    settings = json.loads(path.read_text())
    assert settings["theme"] == "dark" and settings["hooks"]["Stop"][0] == users["hooks"]["Stop"][0]
    assert list(settings["hooks"]) == list(dict.fromkeys(["Stop", *INSTALLED_EVENTS[client]]))
    for event in INSTALLED_EVENTS[client]:
        ours = [entry for group in settings["hooks"][event] for entry in group["hooks"] if "agentdeck" in entry["command"]]
        assert len(ours) == 1 and ours[0]["command"].endswith(" hook"), event
        assert ours[0]["timeout"] == HOOK_TIMEOUTS[client]
    assert Path(f"{path}.bak").read_bytes() == original
    installed = path.read_bytes()
    proc = cli(home, env, "hooks", "install", "--client", client)
    assert proc.returncode == 0 and "nothing to do" in proc.stdout and path.read_bytes() == installed
    assert cli(home, env, "hooks", "uninstall", "--client", client).returncode == 0
    assert json.loads(path.read_text()) == users
