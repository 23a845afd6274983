"""The transition daemon, the notifier and `agentdeck wait`, with real inotify, real files,
real SQLite, a real tmux server on a private socket and, where it matters, the real daemon."""
import dataclasses
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
import types

import gevent
import pytest

from agentdeck.config import NotifySettings
from agentdeck.fsutil import atomic_write
from agentdeck.paths import Home
from agentdeck.sessions.control import SessionControl
from agentdeck.sessions.events import TransitionEvent, read_event
from agentdeck.sessions.hook import status_for
from agentdeck.sessions.notify import Notifier
from agentdeck.sessions.registry import Registry
from agentdeck.sessions.states import DEAD, IDLE, RUNNING, WAITING
from agentdeck.sessions.transcript import PromptCache
from agentdeck.sessions.transitions import QUIET_INTERVAL, TURN_END_EVENTS, TransitionDaemon
from agentdeck.sessions.statusevents import StatusEventWatcher
from tests.support import REPO, DaemonProcess, clean_env, run_cli, toml_config, wait_for, write_hook

SEEN_TIMEOUT = 5.0  # seconds for a hook write to become an event (it takes milliseconds)
PASS_TIMEOUT = QUIET_INTERVAL + 5.0  # seconds for a change only a periodic pass notices
NOTIFY_OFF = NotifySettings(command="", timeout=10.0, min_interval=30.0)
LONG_RUNNING = "sleep 600"  # what the test sessions run: alive until killed
EVENT_FOR_STATUS = {RUNNING: "UserPromptSubmit", WAITING: "Stop", DEAD: "SessionEnd"}


@pytest.fixture
def deck(home):
    return Home(home).ensure()


@pytest.fixture
def control(deck, tmux):
    """SessionControl with its own registry, as `agentdeck session` uses it."""
    registry = Registry(deck)
    yield SessionControl(deck, registry, tmux, PromptCache())
    registry.close()


@pytest.fixture
def tracker(deck, tmux):
    """A TransitionDaemon whose passes the test runs itself (its watchers run)."""
    daemon = TransitionDaemon(deck, NOTIFY_OFF, tmux=tmux)
    daemon.hooks.start(daemon.group)
    yield daemon
    daemon.stop()


@pytest.fixture
def live(deck, control, tmux, project):
    """A started TransitionDaemon after its first pass, with one session and a consumer
    of that session's events."""
    daemon = TransitionDaemon(deck, NOTIFY_OFF, tmux=tmux)
    instance_id = add(control, project)
    consumer = StatusEventWatcher(deck.events, instances=[instance_id])
    consumer.start()
    daemon.start()
    wait_for(lambda: daemon.passes and daemon.hooks.watch.deliveries and consumer.watch.deliveries, SEEN_TIMEOUT,
             message="the first pass, with the watches armed")
    yield types.SimpleNamespace(daemon=daemon, consumer=consumer, id=instance_id)
    daemon.stop()
    consumer.stop()


@pytest.fixture
def project(home):
    path = home / "proj"
    path.mkdir()
    return path


def add(control, project, profile="default", command=LONG_RUNNING):
    return control.add(str(project), command=command, profile=profile).id


def hook(deck, tracker, instance_id, event, **fields):
    """Write a hook file through the real hook handler and wait until the daemon's watcher has it."""
    status = write_hook(deck.root, instance_id, event, **fields)
    ts = json.loads(deck.hook_file(instance_id).read_text())["ts"]
    wait_for(lambda: (lambda h: h is not None and h.ts == ts)(tracker.hooks.get(instance_id)), SEEN_TIMEOUT,
             message=f"the watcher to read {instance_id}'s {event}")
    return status


def last_event(deck, instance_id):
    return read_event(deck.event_file(instance_id))


def stored(control, instance_id):
    return control.find(instance_id)[1].status


def inotify_watching(pid):
    """True once process ``pid`` holds an inotify descriptor with a watch on it."""
    fds = f"/proc/{pid}/fdinfo"
    try:
        return any("inotify wd:" in open(os.path.join(fds, fd)).read() for fd in os.listdir(fds))
    except OSError:  # it exited, or an fd closed while we looked
        return False


# -- the transition daemon, in-process


def test_a_hook_write_becomes_an_event_file_and_reaches_a_waiting_consumer(deck, control, live):
    instance_id = live.id
    waiting = gevent.spawn(live.consumer.wait_for_status, {WAITING}, SEEN_TIMEOUT)
    started = time.monotonic()
    write_hook(deck.root, instance_id, "Stop")
    got = waiting.get(timeout=SEEN_TIMEOUT)
    latency = time.monotonic() - started
    assert got == TransitionEvent(instance=instance_id, title="proj", profile="default", from_status=IDLE,
                                  to_status=WAITING, time=got.time, hook_event="Stop", reason="turn finished")
    assert latency < 1.0, f"hook write to consumer took {latency:.3f} s"
    on_disk = json.loads(deck.event_file(instance_id).read_text())
    assert set(on_disk) == {"instance", "title", "profile", "from", "to", "time", "hook_event", "reason"}
    assert os.stat(deck.event_file(instance_id)).st_mode & 0o777 == 0o600
    assert stored(control, instance_id) == WAITING


def test_each_change_is_one_transition_and_a_quiet_pass_writes_nothing(deck, control, tracker, project):
    instance_id = add(control, project)
    assert tracker.run_pass() == 0  # idle, as stored
    for event, status in (("UserPromptSubmit", RUNNING), ("Stop", WAITING)):
        previous = tracker.statuses()[instance_id][0]
        hook(deck, tracker, instance_id, event)
        assert tracker.run_pass() == 1
        got = last_event(deck, instance_id)
        assert (got.from_status, got.to_status, got.hook_event) == (previous, status, event)
        assert stored(control, instance_id) == status
        assert tracker.statuses()[instance_id] == (status, got.time)
    assert tracker.run_pass() == 0
    assert tracker.transitions == 2


def test_a_turn_too_fast_for_two_passes_still_yields_running_to_waiting(deck, control, tracker, project):
    instance_id = add(control, project)
    hook(deck, tracker, instance_id, "Stop")
    tracker.run_pass()
    assert tracker.statuses()[instance_id][0] == WAITING
    # A whole turn between two passes: the daemon only ever sees waiting, then waiting.
    write_hook(deck.root, instance_id, "UserPromptSubmit")
    hook(deck, tracker, instance_id, "Stop")
    assert tracker.run_pass() == 1
    got = last_event(deck, instance_id)
    assert (got.from_status, got.to_status, got.hook_event) == (RUNNING, WAITING, "Stop")
    assert tracker.missed_turns == 1
    assert tracker.run_pass() == 0  # the same hook file is not a second turn
    # Neither did one that starts, nor one that asks for permission and then says so again.
    for event in ("SessionStart", "PermissionRequest"):
        hook(deck, tracker, instance_id, event)
        assert tracker.run_pass() == 0
    hook(deck, tracker, instance_id, "Notification", notification_type="permission_prompt")
    assert tracker.run_pass() == 0


def test_the_turn_end_events_are_events_the_hook_maps_to_waiting():
    assert {status_for({"hook_event_name": event}) for event in TURN_END_EVENTS} == {WAITING}


def test_tmux_liveness_wins_over_a_hook_however_recent_or_stale(deck, control, tracker, tmux, project):
    fresh = add(control, project)
    stale = add(control, project)
    exited = add(control, project, command="exit 0")
    hook(deck, tracker, fresh, "Stop")
    # A waiting hook from ten minutes ago, for a session whose agent exited since.
    atomic_write(deck.hook_file(stale), json.dumps({"status": WAITING, "event": "Stop", "ts": time.time() - 600})
                 .encode())
    hook(deck, tracker, exited, "Stop")
    wait_for(lambda: tmux.panes()[f"agentdeck-{exited}"].dead, SEEN_TIMEOUT, message="the exited pane")
    tracker.run_pass()
    assert tracker.statuses()[fresh][0] == WAITING and tracker.statuses()[exited][0] == DEAD
    assert tracker.statuses()[stale][0] == WAITING  # its pane still lives: the hook is all we know
    tmux.kill_session(f"agentdeck-{fresh}")
    tmux.kill_session(f"agentdeck-{stale}")
    tracker.run_pass()
    assert {tracker.statuses()[i][0] for i in (fresh, stale, exited)} == {DEAD}
    assert (last_event(deck, fresh).from_status, last_event(deck, fresh).to_status) == (WAITING, DEAD)
    assert stored(control, stale) == DEAD


def test_a_dead_pane_reaped_after_the_pass_that_saw_it_die_is_shown_with_its_exit_status(deck, control, tmux,
                                                                                          project):
    """Regression: tmux reads a pane as dead a moment before it reaps the command. A pass in
    that moment recorded dead without an exit status, and the next pass, with the status,
    told no one (status, hook and title were unchanged): the deck said "ended" instead of
    "exit status 3" for good (1 full run in 4). The real tmux answers the second pass; the
    first sees the moment before the reaping, too short to hit on purpose."""
    shown = []
    unreaped = {"once": True}

    class BeforeReaping:
        def __getattr__(self, name):
            return getattr(tmux, name)

        def panes(self):
            panes = tmux.panes()
            if unreaped["once"]:
                unreaped["once"] = False
                panes = {name: dataclasses.replace(pane, exit_status=None, exit_signal=None)
                         for name, pane in panes.items()}
            return panes

    daemon = TransitionDaemon(deck, NOTIFY_OFF, tmux=BeforeReaping(),
                              on_change=lambda record, status, since: shown.append(
                                  (status, daemon.dead_pane(record.id))))
    try:
        daemon.run_pass()  # the first pass: every instance known, nothing shown
        instance_id = add(control, project, command="sh -c 'sleep 0.5; exit 3'")  # after remain-on-exit is set
        wait_for(lambda: (lambda p: p is not None and p.reaped)(tmux.panes().get(f"agentdeck-{instance_id}")),
                 SEEN_TIMEOUT, message="the exited pane, reaped")
        unreaped["once"] = True
        daemon.run_pass()
        daemon.run_pass()
        assert shown and shown[-1][0] == DEAD and shown[-1][1].exit_status == 3, shown
    finally:
        daemon.stop()


def test_a_new_instance_without_a_tmux_session_yet_is_not_dead(deck, control, tracker):
    """`session add` stores the instance just before it starts tmux: a pass in between must
    not call it dead (and notify somebody)."""
    store = control.registry.store()
    store.add("newborn", title="t", path="/tmp", tool="shell", command="", tmux_session="agentdeck-newborn",
              status=IDLE)
    store.add("spoke", title="t", path="/tmp", tool="shell", command="", tmux_session="agentdeck-spoke",
              status=IDLE)
    hook(deck, tracker, "spoke", "Stop")  # a hook proves its tmux session existed, and is gone
    assert tracker.run_pass() == 1
    assert tracker.statuses()["newborn"][0] == IDLE and tracker.statuses()["spoke"][0] == DEAD


def test_an_instance_removed_between_passes_leaves_no_state_behind(deck, control, tmux, project):
    notify = NotifySettings(command="true", timeout=5.0, min_interval=60.0)
    daemon = TransitionDaemon(deck, notify, tmux=tmux)
    keep, gone = add(control, project), add(control, project)
    daemon.start()
    try:
        for instance_id in (keep, gone):
            write_hook(deck.root, instance_id, "Stop")
        wait_for(lambda: daemon.notifier.tracked() == {keep, gone}, SEEN_TIMEOUT, message="both notified")
        assert daemon.tracked() == {keep, gone}
        control.remove(gone)
        wait_for(lambda: daemon.tracked() == {keep}, PASS_TIMEOUT, message="the removed instance to be dropped")
        assert daemon.hooks.get(gone) is None and len(daemon.hooks) == 1
        assert not deck.event_file(gone).exists()
        wait_for(lambda: daemon.notifier.watcher.seen_instances() == {keep}, SEEN_TIMEOUT,
                 message="the notifier's watcher to forget it")
    finally:
        daemon.stop()


def test_an_instance_removed_mid_pass_leaves_no_state_behind(deck, control, tracker, project):
    keep, victim = add(control, project), add(control, project)
    for instance_id in (keep, victim):
        hook(deck, tracker, instance_id, "UserPromptSubmit")
    tracker.run_pass()
    store = control.registry.store()
    tracker_store = tracker.registry.store()
    listing = tracker_store.list_instances

    def list_then_remove():
        records = listing()
        control.remove(victim)  # between the listing and the store of its new status
        return records
    tracker_store.list_instances = list_then_remove
    hook(deck, tracker, keep, "Stop")
    tracker.run_pass()
    assert not deck.event_file(victim).exists() and store.get(victim) is None
    # A victim whose status that pass found unchanged (no tmux session, no hook file any
    # more, young enough for the start grace) was not looked up again: the next pass,
    # which no longer lists it, drops it.
    tracker_store.list_instances = listing
    tracker.run_pass()
    assert tracker.tracked() == {keep} and tracker.hooks.get(victim) is None


def test_a_killed_instance_removed_mid_pass_gets_no_late_event_file(deck, control, tracker, project):
    """Regression (issue 20, friction 8): `kill` stores dead, so the pass that saw the pane
    gone had nothing to store and wrote the transition's event file without asking the
    registry: a `remove` between the pass's listing and that write left events/<id>.json
    behind it, for a script watching events/ to see the removed session come back."""
    victim = add(control, project)
    hook(deck, tracker, victim, "UserPromptSubmit")
    tracker.run_pass()
    assert last_event(deck, victim).to_status == RUNNING
    control.kill(victim)
    tracker_store = tracker.registry.store()
    listing = tracker_store.list_instances

    def list_then_remove():
        records = listing()
        control.remove(victim)  # after the pass listed it, before it wrote the transition
        return records
    tracker_store.list_instances = list_then_remove
    tracker.run_pass()
    tracker_store.list_instances = listing
    assert not deck.event_file(victim).exists()
    tracker.run_pass()
    assert tracker.tracked() == set() and not deck.event_file(victim).exists()


def watch_for_file(path, seconds):
    """True if ``path`` exists at any look within ``seconds`` (looks every 5 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        gevent.sleep(0.005)
    return False


@pytest.mark.timeout(180)
def test_after_kill_and_remove_the_daemon_never_writes_the_session_again(home, deck, env, control, project):
    """Regression (issue 20, friction 8), end to end: sessions killed and removed while the
    real daemon runs passes back to back (another session's hooks keep waking it); after
    each remove returns, its events/<id>.json is not there and does not appear for longer
    than the daemon's slowest pass interval."""
    daemon = start_daemon(home, env)
    noise = add(control, project)
    victims = [add(control, project) for _ in range(6)]
    for instance_id in victims:
        write_hook(deck.root, instance_id, "UserPromptSubmit")
    wait_for(lambda: all(last_event(deck, i) and last_event(deck, i).to_status == RUNNING for i in victims),
             PASS_TIMEOUT, message="every victim running")

    def churn():
        while True:
            for event in ("UserPromptSubmit", "Stop"):
                write_hook(deck.root, noise, event)
                gevent.sleep(0.02)
    churner = gevent.spawn(churn)
    try:
        for instance_id in victims:
            control.kill(instance_id)
            gevent.sleep(random.uniform(0, 0.05))  # let a pass list it, maybe
            control.remove(instance_id)
            assert not watch_for_file(deck.event_file(instance_id), QUIET_INTERVAL + 1.0), \
                f"events/{instance_id}.json came back after remove"
    finally:
        churner.kill()
        daemon.stop()


def test_a_hook_in_flight_when_its_session_is_removed_leaves_no_file(home, deck, env, control, project):
    """Regression (issue 20, friction 8): a hook the agent still had running when `remove`
    deleted the files wrote hooks/<id>.json again, and nothing ever took it away."""
    daemon = start_daemon(home, env)
    try:
        instance_id = add(control, project)
        write_hook(deck.root, instance_id, "UserPromptSubmit")
        wait_for(lambda: last_event(deck, instance_id) and last_event(deck, instance_id).to_status == RUNNING,
                 PASS_TIMEOUT, message="the session running")
        control.remove(instance_id)
        write_hook(deck.root, instance_id, "Stop")  # the late hook
        wait_for(lambda: not deck.hook_file(instance_id).exists(), PASS_TIMEOUT, message="the late hook file to go")
        assert not watch_for_file(deck.event_file(instance_id), 1.0)
    finally:
        daemon.stop()


def test_a_profile_that_disappears_has_its_store_closed(deck, control, tracker, project):
    add(control, project, profile="work")
    add(control, project, profile="default")
    tracker.run_pass()
    work = tracker.registry.store("work")
    assert work.open_fd_count() >= 1
    control.registry.close_profile("work")
    for path in sorted((deck.profiles / "work").iterdir(), reverse=True):
        path.unlink()
    (deck.profiles / "work").rmdir()
    tracker.run_pass()
    assert tracker.registry.open_profiles() == ["default"]
    assert work.open_fd_count() == 0
    assert len(tracker.tracked()) == 1


def test_stop_closes_every_store_and_empties_every_map(deck, control, tmux, project):
    daemon = TransitionDaemon(deck, NotifySettings(command="true", timeout=5.0, min_interval=60.0), tmux=tmux)
    ids = [add(control, project, profile=profile) for profile in ("default", "work")]
    daemon.start()
    for instance_id in ids:
        write_hook(deck.root, instance_id, "Stop")
    wait_for(lambda: daemon.notifier.tracked() == set(ids), SEEN_TIMEOUT, message="both notified")
    stores = [daemon.registry.store(profile) for profile in ("default", "work")]
    daemon.stop()
    control.registry.close()  # the test's own connections, on the same files
    assert [(store.is_open, store.open_fd_count()) for store in stores] == [(False, 0), (False, 0)]
    assert daemon.registry.open_profiles() == [] and daemon.tracked() == set()
    assert len(daemon.hooks) == 0 and daemon.notifier.watcher.seen_instances() == set()
    assert all(greenlet.dead for greenlet in daemon.group)
    daemon.stop()  # idempotent


def test_passes_come_every_second_while_a_session_runs_and_every_three_when_quiet(deck, live):
    daemon = live.daemon

    def passes_during(seconds):
        before = daemon.passes
        gevent.sleep(seconds)  # counting what happens in a window, not waiting for something
        return daemon.passes - before
    write_hook(deck.root, live.id, "UserPromptSubmit")
    assert live.consumer.wait_for_status({RUNNING}, SEEN_TIMEOUT) is not None
    busy = passes_during(3.5)
    write_hook(deck.root, live.id, "Stop")
    assert live.consumer.wait_for_status({WAITING}, SEEN_TIMEOUT) is not None
    quiet = passes_during(3.5)
    assert 3 <= busy <= 5 and 1 <= quiet <= 2, (busy, quiet)


def test_the_daemon_keeps_publishing_when_hooks_and_events_are_deleted_and_made_again(deck, live):
    for status in (RUNNING, WAITING):
        for directory in (deck.hooks, deck.events):
            shutil.rmtree(directory)
        write_hook(deck.root, live.id, EVENT_FOR_STATUS[status])  # makes hooks/ again
        got = live.consumer.wait_for_status({status}, SEEN_TIMEOUT)  # the daemon made events/ again
        assert got is not None and got.to_status == status
    assert live.daemon.hooks.watch.rearms == 2 and live.consumer.watch.rearms == 2


def test_tmux_panes_reads_a_server_whose_last_session_just_ended_as_no_sessions(tmux, project):
    """Regression: `list-panes -a` against a server exiting after its last session was
    killed says "no current target" or "server exited unexpectedly"; that made
    `agentdeck wait --status dead` (without the daemon) fail instead of seeing the death."""
    for _ in range(30):
        tmux.new_session("agentdeck-race", project, {}, LONG_RUNNING)
        killer = gevent.spawn(tmux.kill_session, "agentdeck-race")
        for _ in range(5):
            assert set(tmux.panes()) <= {"agentdeck-race"}
        killer.join()
    assert tmux.panes() == {}


# -- the notifier


def test_the_notify_command_gets_the_event_on_stdin_and_in_its_environment(home):
    out = home / "notified.json"
    notifier = Notifier(home, NotifySettings(
        command=f"cat > {shlex.quote(str(out))}; echo \"$AGENTDECK_EVENT_INSTANCE $AGENTDECK_EVENT_FROM "
                f"$AGENTDECK_EVENT_TO $AGENTDECK_EVENT_TITLE\" > {shlex.quote(str(out))}.env",
        timeout=10.0, min_interval=60.0))
    event = TransitionEvent(instance="abc", title="my agent", profile="default", from_status=RUNNING,
                            to_status=WAITING, time=1234.5, hook_event="Stop")
    notifier.handle(event)
    assert json.loads(out.read_text()) == event.to_dict()
    assert (home / "notified.json.env").read_text() == "abc running waiting my agent\n"
    notifier.handle(TransitionEvent(instance="abc", title="t", profile="default", from_status=WAITING,
                                    to_status=DEAD, time=1240.0))  # inside min_interval: skipped
    notifier.handle(TransitionEvent(instance="xyz", title="t", profile="default", from_status=WAITING,
                                    to_status=RUNNING, time=1240.0))  # not into waiting or dead
    assert (notifier.sent, notifier.limited, notifier.failed, notifier.tracked()) == (1, 1, 0, {"abc"})


def test_a_notify_command_that_overruns_is_killed_with_its_whole_group(home):
    pids = home / "pids"
    notifier = Notifier(home, NotifySettings(command=f"sleep 60 & echo $$ $! > {shlex.quote(str(pids))}; wait",
                                             timeout=0.5, min_interval=60.0))
    started = time.monotonic()
    notifier.handle(TransitionEvent(instance="abc", title="t", profile="p", from_status=RUNNING,
                                    to_status=WAITING, time=1.0))
    assert time.monotonic() - started < 3.0
    assert notifier.failed == 1

    def gone(pid):  # reaped, or a zombie waiting for an init that may not reap in a container
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    shell, sleeper = (int(pid) for pid in pids.read_text().split())
    wait_for(lambda: gone(shell) and gone(sleeper), 5, message="the command and its child to be killed")
    notifier.handle(TransitionEvent(instance="other", title="t", profile="p", from_status=RUNNING,
                                    to_status=DEAD, time=2.0))  # still serving
    assert notifier.failed == 2


def test_a_failing_notify_command_is_counted_and_logged(home):
    notifier = Notifier(home, NotifySettings(command="exit 3", timeout=5.0, min_interval=60.0))
    notifier.handle(TransitionEvent(instance="abc", title="t", profile="p", from_status=RUNNING,
                                    to_status=WAITING, time=1.0))
    assert (notifier.sent, notifier.failed) == (0, 1)


# -- the real daemon


@pytest.fixture
def env(home, tmux):
    return clean_env(home, AGENTDECK_TMUX_SOCKET=tmux.socket)


def start_daemon(home, env, **notify):
    daemon = DaemonProcess(home, toml_config(home, notify=notify), env=env)
    daemon.expect("agentdeck .* ready")
    return daemon


def test_the_daemon_records_publishes_and_notifies_transitions(home, deck, env, control, project):
    notified = home / "notified"
    notified.mkdir()
    command = f"cat > {shlex.quote(str(notified))}/$AGENTDECK_EVENT_INSTANCE.$AGENTDECK_EVENT_TO.$$"
    daemon = start_daemon(home, env, command=command, timeout=5, min_interval=60)
    instance_id = add(control, project)
    consumer = StatusEventWatcher(deck.events, instances=[instance_id])
    consumer.start()
    try:
        write_hook(deck.root, instance_id, "UserPromptSubmit")
        assert consumer.wait_for_status({RUNNING}, SEEN_TIMEOUT) is not None
        write_hook(deck.root, instance_id, "Stop")
        got = consumer.wait_for_status({WAITING}, SEEN_TIMEOUT)
        assert (got.from_status, got.to_status, got.hook_event, got.reason) == (RUNNING, WAITING, "Stop",
                                                                                "turn finished")
        wait_for(lambda: [n for n in notified.iterdir() if n.read_text().endswith("}")], SEEN_TIMEOUT,
                 message="the notification")
        (note,) = notified.iterdir()
        assert note.name.startswith(f"{instance_id}.waiting.") and json.loads(note.read_text()) == got.to_dict()
        assert stored(control, instance_id) == WAITING
        control.kill(instance_id)
        got = consumer.wait_for_status({DEAD}, PASS_TIMEOUT)
        assert (got.from_status, got.to_status) == (WAITING, DEAD)
    finally:
        consumer.stop()
        daemon.stop()
    assert len(list(notified.iterdir())) == 1  # dead came inside min_interval
    assert "session " + instance_id in daemon.output and "waiting -> dead" in daemon.output


def test_the_daemon_shows_how_a_dead_session_ended(home, env, control, project):
    """Regression (issue 20, friction 6): /status said dead, not why."""
    instance_id = add(control, project, command="nonexistent-agent-cli")
    daemon = start_daemon(home, env)
    try:
        # Dead (its output ended) a moment before tmux reaps it and knows the status: a pass may
        # see it in between, and the next one brings the status.
        entry = wait_for(lambda: next((s for s in daemon.status()["sessions"] if s["id"] == instance_id
                                       and s["status"] == DEAD and s["exit_status"] is not None), None),
                         PASS_TIMEOUT, message="the session to show dead, with its exit status")
        assert (entry["exit_status"], entry["exit_signal"], entry["ended"]) == (
            127, None, "exit status 127 (command not found)")
    finally:
        daemon.stop()


def test_a_restarted_daemon_does_not_notify_again(home, deck, env, control, project):
    notified = home / "notified"
    notified.mkdir()
    command = f"cat > {shlex.quote(str(notified))}/$AGENTDECK_EVENT_INSTANCE.$AGENTDECK_EVENT_TO.$$"
    instance_id = add(control, project)
    daemon = start_daemon(home, env, command=command, timeout=5, min_interval=0.001)
    try:
        write_hook(deck.root, instance_id, "Stop")
        wait_for(lambda: list(notified.iterdir()), SEEN_TIMEOUT, message="the notification")
    finally:
        daemon.stop()
    daemon = start_daemon(home, env, command=command, timeout=5, min_interval=0.001)
    try:
        wait_for(lambda: daemon.status()["transitions"]["passes"] >= 2, PASS_TIMEOUT, message="two passes")
    finally:
        daemon.stop()
    assert len(list(notified.iterdir())) == 1


@pytest.mark.timeout(120)
def test_a_flood_of_10000_hook_writes_across_200_sessions_through_the_daemon(home, deck, env, control, project):
    ids = [add(control, project) for _ in range(200)]
    daemon = start_daemon(home, env)
    bounded = StatusEventWatcher(deck.events, maxsize=50)
    draining = StatusEventWatcher(deck.events, maxsize=5000)
    bounded.start()
    draining.start()
    latest = {}

    def drain():
        for got in draining:
            latest[got.instance] = got.to_status
    consumer = gevent.spawn(drain)
    try:
        rng = random.Random(7)
        final = {}
        for n in range(10000):
            instance_id = rng.choice(ids)
            final[instance_id] = rng.choice((RUNNING, WAITING))
            write_hook(deck.root, instance_id, EVENT_FOR_STATUS[final[instance_id]])
            if n % 100 == 99:
                gevent.sleep(0.001)
                assert bounded.qsize() <= 50
        store = control.registry.store()
        wait_for(lambda: {r.id: r.status for r in store.list_instances()} == final, 30, interval=0.2,
                 message="the registry to hold every session's last status")
        wait_for(lambda: {i: last_event(deck, i).to_status for i in ids} == final, 10,
                 message="every event file to end on the last status")
        wait_for(lambda: latest == final, 10, message="a draining consumer to end on every last status")
    finally:
        consumer.kill()
        bounded.stop()
        draining.stop()
        daemon.stop()
    assert bounded.qsize() <= 50 and bounded.dropped > 0 and draining.dropped == 0


# -- agentdeck wait


def wait_cli(home, env, *args):
    return subprocess.Popen([sys.executable, "-m", "agentdeck", "wait", *args], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=15):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.strip(), err.strip()


def started_watching(proc):
    wait_for(lambda: inotify_watching(proc.pid) or proc.poll() is not None, 15, message="wait to start watching")


def test_wait_exits_at_once_when_the_session_already_has_the_status(home, deck, env, control, project):
    instance_id = add(control, project)
    write_hook(deck.root, instance_id, "Stop")
    proc = run_cli(home, "wait", instance_id, "--status", "running,waiting", "--timeout", "30", env=env)
    assert (proc.returncode, proc.stdout.strip()) == (0, WAITING), proc.stderr


def test_wait_without_the_daemon_follows_the_hook_file(home, deck, env, control, project):
    instance_id = add(control, project)
    proc = wait_cli(home, env, instance_id, "--status", WAITING, "--timeout", "30")
    started_watching(proc)
    write_hook(deck.root, instance_id, "UserPromptSubmit")
    gevent.sleep(0.2)
    assert proc.poll() is None  # running is not what it waits for
    written = time.monotonic()
    write_hook(deck.root, instance_id, "Stop")
    assert finish(proc) == (0, WAITING, "")
    assert time.monotonic() - written < 2.0


def test_wait_without_the_daemon_sees_a_session_die(home, env, control, tmux, project):
    instance_id = add(control, project)
    proc = wait_cli(home, env, instance_id, "--status", DEAD, "--timeout", "30")
    started_watching(proc)
    tmux.kill_session(f"agentdeck-{instance_id}")  # no hook fires: tmux liveness tells
    assert finish(proc) == (0, DEAD, "")


def test_wait_with_the_daemon_follows_its_events(home, deck, env, control, project):
    instance_id = add(control, project)
    daemon = start_daemon(home, env)
    try:
        proc = wait_cli(home, env, instance_id, "--status", WAITING, "--timeout", "30")
        started_watching(proc)
        write_hook(deck.root, instance_id, "Stop")
        assert finish(proc) == (0, WAITING, "")
        # Only the daemon's events count: an event file is enough, without any hook.
        proc = wait_cli(home, env, instance_id, "--status", DEAD, "--timeout", "30")
        started_watching(proc)
        atomic_write(deck.event_file(instance_id), json.dumps(TransitionEvent(
            instance=instance_id, title="t", profile="default", from_status=WAITING, to_status=DEAD,
            time=time.time()).to_dict()).encode())
        assert finish(proc) == (0, DEAD, "")
    finally:
        daemon.stop()


@pytest.mark.parametrize("with_daemon", [True, False], ids=["daemon", "no-daemon"])
def test_wait_on_a_session_removed_meanwhile_exits_3_at_once(home, deck, env, control, project, with_daemon):
    """Regression (issue 20, friction 7): `wait` on a session removed meanwhile waited out
    its whole timeout."""
    instance_id = add(control, project)
    daemon = start_daemon(home, env) if with_daemon else None
    try:
        proc = wait_cli(home, env, instance_id, "--status", WAITING, "--timeout", "60")
        started_watching(proc)
        assert proc.poll() is None
        removed = time.monotonic()
        assert run_cli(home, "session", "remove", instance_id, env=env).returncode == 0
        code, out, err = finish(proc)
        assert time.monotonic() - removed < 5.0  # the CLI's start-up included; the wait itself looks every 0.5 s
        assert (code, out, err) == (3, "", f"agentdeck: session {instance_id} was removed while we waited (it was "
                                           f"idle): it will not become waiting (waited for waiting)")
    finally:
        if daemon is not None:
            daemon.stop()


def test_wait_times_out_with_exit_2(home, env, control, project):
    instance_id = add(control, project)
    started = time.monotonic()
    proc = run_cli(home, "wait", instance_id, "--status", "dead", "--timeout", "0.5", env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"agentdeck: session {instance_id} is still idle after 0.5 s (waited for dead)"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("args, message", [
    (["nosuchid", "--status", "waiting"], "agentdeck: no session 'nosuchid': `agentdeck session list` shows the "
                                          "sessions there are"),
    (["ID", "--status", "waiting,asleep"], "agentdeck: --status 'waiting,asleep': unknown status 'asleep': use "
                                           "one or more of running, waiting, idle, dead, comma-separated"),
    (["ID", "--status", ","], "agentdeck: --status ',': name one or more of running, waiting, idle, dead, "
                              "comma-separated"),
    (["ID", "--status", "dead", "--timeout", "soon"], "agentdeck: --timeout 'soon': expected a number of "
                                                      "seconds >= 0"),
])
def test_wait_refuses_an_unknown_session_or_status_with_one_line(home, env, control, project, args, message):
    instance_id = add(control, project)
    proc = run_cli(home, "wait", *[instance_id if a == "ID" else a for a in args], env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", message + "\n")


def _spin_until(predicate, timeout):
    """Yield until the notifier forked the shell, then poll without yielding to the hub,
    so the notifier stays inside Popen (waiting to hear the exec) meanwhile."""
    deadline = time.monotonic() + timeout
    children = f"/proc/self/task/{os.getpid()}/children"
    while not open(children).read().split():
        assert time.monotonic() < deadline, "timed out waiting for the fork"
        gevent.sleep(0)
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the notify command"


def _yield_until(predicate, timeout):
    wait_for(predicate, timeout, message="the notify command running")
    gevent.sleep(0.05)  # the notifier is back from starting it, and waits for its exit


@pytest.mark.parametrize("until", [_yield_until, _spin_until], ids=["while-it-runs", "while-it-starts"])
def test_killing_the_transition_greenlets_kills_a_running_notify_command(home, until):
    """What a second SIGINT relies on: `kill_now` leaves no notify command behind, also
    when it lands while the notifier is still inside Popen (the shell already runs, but
    the notifier has no `proc` yet: CI once found the sleeper alive)."""
    pids = home / "pids"
    daemon = TransitionDaemon(Home(home).ensure(), NotifySettings(
        command=f"sleep 60 & echo $! > {shlex.quote(str(pids))}; wait", timeout=60.0, min_interval=60.0))
    running = daemon.group.spawn(daemon.notifier.handle, TransitionEvent(
        instance="abc", title="t", profile="p", from_status=RUNNING, to_status=WAITING, time=1.0))
    until(lambda: pids.exists() and pids.read_text().strip(), 5)
    sleeper = int(pids.read_text())
    daemon.kill_now()
    assert running.dead

    def gone():
        try:
            return open(f"/proc/{sleeper}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    wait_for(gone, 5, message="the notify command's child killed")
    daemon.stop()
