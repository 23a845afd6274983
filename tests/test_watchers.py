"""The inotify watchers against real directories and real files: DirectoryWatch,
StatusFileWatcher (hooks/) and StatusEventWatcher (events/)."""
import json
import os
import random
import resource
import shutil
import time

import gevent
import pytest

from agentdeck.errors import UserError
from agentdeck.fsutil import atomic_write
from agentdeck.paths import Home
from agentdeck.sessions.events import TransitionEvent, write_event
from agentdeck.sessions.states import DEAD, IDLE, RUNNING, STATUSES, WAITING
from agentdeck.sessions.status import HOOK_FILE_MAX_BYTES
from agentdeck.watchers.dirwatch import DEBOUNCE, DirectoryWatch
from agentdeck.sessions.statusevents import StatusEventWatcher
from agentdeck.sessions.statusfiles import StatusFileWatcher
from tests.support import wait_for, write_hook

SEEN_TIMEOUT = 5.0  # seconds for a change to reach a watcher (it takes milliseconds)
KERNEL_QUEUE_EVENTS = int(open("/proc/sys/fs/inotify/max_queued_events").read())
EVENT_FOR_STATUS = {RUNNING: "UserPromptSubmit", WAITING: "Stop", DEAD: "SessionEnd"}


@pytest.fixture
def deck(home):
    return Home(home).ensure()


@pytest.fixture
def watchers():
    """Start watchers through this; every one is stopped at teardown."""
    started = []

    def start(watcher):
        watcher.start()
        started.append(watcher)
        return watcher
    yield start
    for watcher in started:
        watcher.stop()


def armed(watcher):
    """Wait for the initial rescan: from then on every change is seen."""
    wait_for(lambda: watcher.watch.deliveries >= 1, SEEN_TIMEOUT, message="the watch to be armed")
    return watcher


def hook_status(watcher, instance_id):
    status = watcher.get(instance_id)
    return status.status if status is not None else None


def wait_hook(watcher, instance_id, status):
    wait_for(lambda: hook_status(watcher, instance_id) == status, SEEN_TIMEOUT,
             message=f"{instance_id} to read {status} (has {hook_status(watcher, instance_id)})")


def event(instance_id, to_status, from_status=IDLE, when=None):
    return TransitionEvent(instance=instance_id, title=f"title {instance_id}", profile="default",
                           from_status=from_status, to_status=to_status, time=when or time.time())


def overflow_kernel_queue(directory):
    """Queue more inotify events than the kernel holds, without yielding to the hub (so the
    watch cannot drain them): alternating names, so the kernel cannot merge repeats."""
    names = [directory / ".junk-a", directory / ".junk-b"]
    for n in range(KERNEL_QUEUE_EVENTS + 100):
        os.close(os.open(names[n % 2], os.O_WRONLY | os.O_CREAT, 0o600))


# -- DirectoryWatch


def test_an_atomic_write_is_delivered_once_by_name_and_temp_files_never(deck, watchers):
    calls = []
    watch = DirectoryWatch(deck.hooks, lambda names, rescan: calls.append((set(names), rescan)),
                           accept=lambda name: not name.startswith("."))
    watch.start()
    try:
        wait_for(lambda: calls, SEEN_TIMEOUT, message="the initial rescan")
        assert calls == [(set(), True)]
        gevent.sleep(DEBOUNCE)  # outside the window the first change is delivered at once
        started = time.monotonic()
        atomic_write(deck.hooks / "a.json", b"{}")
        wait_for(lambda: len(calls) == 2, SEEN_TIMEOUT, interval=0.001, message="the write")
        assert time.monotonic() - started < DEBOUNCE / 2
        assert calls[1] == ({"a.json"}, False)
        (deck.hooks / "a.json").unlink()
        wait_for(lambda: len(calls) == 3, SEEN_TIMEOUT, message="the delete")
        assert calls[2] == ({"a.json"}, False)
    finally:
        watch.stop()
    assert watch.deliveries == 3


def test_a_burst_is_coalesced_into_a_few_deliveries(deck):
    calls = []
    watch = DirectoryWatch(deck.hooks, lambda names, rescan: calls.append(set(names)),
                           accept=lambda name: not name.startswith("."))
    watch.start()
    try:
        wait_for(lambda: calls, SEEN_TIMEOUT, message="the initial rescan")
        started = time.monotonic()
        for n in range(2000):
            atomic_write(deck.hooks / f"{n % 10}.json", b"{}")
            if n % 50 == 0:
                gevent.sleep(0.005)
        elapsed = time.monotonic() - started
        wait_for(lambda: set().union(*calls[1:]) == {f"{n}.json" for n in range(10)}, SEEN_TIMEOUT,
                 message="every name")
    finally:
        watch.stop()
    # at most one delivery per debounce window (+1 for the leading edge, +1 for the last window)
    assert len(calls) - 1 <= elapsed / DEBOUNCE + 2, (len(calls), elapsed)


def test_a_kernel_queue_overflow_becomes_a_full_rescan(deck):
    calls = []
    watch = DirectoryWatch(deck.hooks, lambda names, rescan: calls.append((set(names), rescan)),
                           accept=lambda name: name.endswith(".json"))
    watch.start()
    try:
        wait_for(lambda: calls, SEEN_TIMEOUT, message="the initial rescan")
        overflow_kernel_queue(deck.hooks)
        atomic_write(deck.hooks / "late.json", b"{}")  # its events fall past the overflow
        wait_for(lambda: watch.overflows, SEEN_TIMEOUT, message="the overflow")
        wait_for(lambda: calls[-1] == ({"late.json"}, True), SEEN_TIMEOUT, message="a rescan listing late.json")
    finally:
        watch.stop()
    assert watch.rescans >= 2


def test_stop_closes_the_inotify_descriptor_and_delivers_nothing_more(deck):
    calls = []
    watch = DirectoryWatch(deck.hooks, lambda names, rescan: calls.append(names))
    watch.start()
    wait_for(lambda: calls, SEEN_TIMEOUT, message="the initial rescan")
    fd = watch._inotify.fileno()
    watch.stop()
    watch.stop()  # idempotent
    with pytest.raises(OSError):
        os.fstat(fd)
    atomic_write(deck.hooks / "a.json", b"{}")
    gevent.sleep(DEBOUNCE * 2)
    assert len(calls) == 1


# -- StatusFileWatcher


def test_hook_writes_keep_the_latest_status_and_call_on_change(deck, watchers):
    changes = []
    watcher = armed(watchers(StatusFileWatcher(deck.hooks, on_change=changes.append)))
    write_hook(deck.root, "abc", "UserPromptSubmit", transcript_path="/t.jsonl", cwd="/proj")
    wait_hook(watcher, "abc", RUNNING)
    status = watcher.get("abc")
    assert (status.event, status.transcript_path, status.cwd, status.session_id) == (
        "UserPromptSubmit", "/t.jsonl", "/proj", "test-session")
    write_hook(deck.root, "abc", "Stop")
    wait_hook(watcher, "abc", WAITING)
    assert {"abc"} in changes
    (deck.hooks / "abc.json").unlink()
    wait_for(lambda: watcher.get("abc") is None, SEEN_TIMEOUT, message="the deleted file to leave the map")
    assert len(watcher) == 0


def test_existing_files_are_read_at_start_and_stop_empties_the_map(deck):
    for n in range(5):
        write_hook(deck.root, f"s{n}", "Stop")
    watcher = StatusFileWatcher(deck.hooks)
    watcher.start()
    try:
        wait_for(lambda: len(watcher) == 5, SEEN_TIMEOUT, message="the files already there")
    finally:
        watcher.stop()
    assert len(watcher) == 0


def test_symlinks_oversize_and_foreign_files_are_ignored(deck, watchers, home):
    watcher = armed(watchers(StatusFileWatcher(deck.hooks)))
    elsewhere = home / "elsewhere.json"
    elsewhere.write_text(json.dumps({"status": "running", "event": "x", "ts": 1}))
    os.symlink(elsewhere, deck.hooks / "linked.json")
    big = {"status": "running", "event": "x", "ts": 1, "pad": "x" * HOOK_FILE_MAX_BYTES}
    atomic_write(deck.hooks / "big.json", json.dumps(big).encode())
    atomic_write(deck.hooks / "bad id!.json", json.dumps({"status": "running"}).encode())
    atomic_write(deck.hooks / "garbage.json", b"not json")
    write_hook(deck.root, "good", "Stop")  # written last: once it shows, the others were looked at
    wait_hook(watcher, "good", WAITING)
    assert [watcher.get(i) for i in ("linked", "big", "bad id!", "garbage")] == [None] * 4
    assert len(watcher) == 1
    # A good file replaced by a symlink (or grown oversize) no longer counts.
    os.replace(deck.hooks / "linked.json", deck.hooks / "good.json")
    wait_for(lambda: watcher.get("good") is None, SEEN_TIMEOUT, message="the symlinked file to leave the map")


def test_a_symlinked_hooks_directory_is_not_followed(home):
    deck = Home(home)
    target = home / "target"
    target.mkdir()
    os.symlink(target, home / "hooks")
    watcher = StatusFileWatcher(deck.hooks)
    watcher.start()
    try:
        atomic_write(target / "abc.json", json.dumps({"status": "running", "ts": 1}).encode())
        gevent.sleep(DEBOUNCE * 3)
        assert watcher.get("abc") is None and watcher.watch.deliveries == 0
        # Replaced by a real directory: watched from then on.
        (home / "hooks").unlink()
        (home / "hooks").mkdir()
        write_hook(home, "abc", "Stop")
        wait_hook(watcher, "abc", WAITING)
    finally:
        watcher.stop()


def test_deleting_and_recreating_hooks_keeps_watching(deck, watchers):
    watcher = armed(watchers(StatusFileWatcher(deck.hooks)))
    write_hook(deck.root, "abc", "UserPromptSubmit")
    wait_hook(watcher, "abc", RUNNING)
    for attempt in range(3):
        shutil.rmtree(deck.hooks)
        wait_for(lambda: len(watcher) == 0, SEEN_TIMEOUT, message="the deleted directory's entries to go")
        write_hook(deck.root, "abc", ("Stop", "UserPromptSubmit")[attempt % 2])  # the hook makes hooks/ again
        wait_hook(watcher, "abc", (WAITING, RUNNING)[attempt % 2])
    assert watcher.watch.rearms == 3
    # Moved away rather than deleted: the new directory is watched, the old one no longer.
    os.rename(deck.hooks, deck.root / "hooks.old")
    wait_for(lambda: len(watcher) == 0, SEEN_TIMEOUT, message="the moved directory's entries to go")
    write_hook(deck.root, "new", "Stop")
    wait_hook(watcher, "new", WAITING)
    atomic_write(deck.root / "hooks.old" / "abc.json", json.dumps({"status": "dead", "ts": 1}).encode())
    gevent.sleep(DEBOUNCE * 3)
    assert watcher.get("abc") is None


def test_a_hooks_directory_that_does_not_exist_yet_is_watched_once_made(home):
    deck = Home(home / "later")  # neither hooks/ nor its parent exist
    watcher = StatusFileWatcher(deck.hooks)
    watcher.start()
    try:
        gevent.sleep(DEBOUNCE)
        write_hook(deck.root, "abc", "Stop")  # makes later/ and later/hooks/
        wait_hook(watcher, "abc", WAITING)
    finally:
        watcher.stop()


def test_an_overflow_rescan_finds_what_the_lost_events_would_have_said(deck, watchers):
    watcher = armed(watchers(StatusFileWatcher(deck.hooks)))
    for n in range(3):
        write_hook(deck.root, f"s{n}", "UserPromptSubmit")
    wait_for(lambda: len(watcher) == 3, SEEN_TIMEOUT, message="three running sessions")
    overflow_kernel_queue(deck.hooks)
    for n in range(3):
        write_hook(deck.root, f"s{n}", "Stop")  # past the overflow: only a rescan sees these
    (deck.hooks / "s2.json").unlink()
    wait_for(lambda: watcher.watch.overflows, SEEN_TIMEOUT, message="the overflow")
    wait_for(lambda: (hook_status(watcher, "s0"), hook_status(watcher, "s1"), hook_status(watcher, "s2")) == (
        WAITING, WAITING, None), SEEN_TIMEOUT, message="the rescan")


def test_forget_and_retain_prune_removed_instances(deck, watchers):
    watcher = armed(watchers(StatusFileWatcher(deck.hooks)))
    for n in range(4):
        write_hook(deck.root, f"s{n}", "Stop")
    wait_for(lambda: len(watcher) == 4, SEEN_TIMEOUT, message="four sessions")
    watcher.forget("s0")
    watcher.retain({"s1", "s2"})
    assert (len(watcher), watcher.get("s1") is not None, watcher.get("s3")) == (2, True, None)


@pytest.mark.timeout(60)
def test_a_flood_of_10000_hook_writes_across_200_instances_loses_no_final_status(deck, watchers):
    watcher = armed(watchers(StatusFileWatcher(deck.hooks)))
    rng = random.Random(4)
    final = {}
    started = time.monotonic()
    for n in range(10000):
        instance_id = f"inst{rng.randrange(200):03d}"
        status = rng.choice((RUNNING, WAITING, DEAD))
        write_hook(deck.root, instance_id, EVENT_FOR_STATUS[status])
        final[instance_id] = status
        if n % 100 == 99:
            gevent.sleep(0.001)  # let the watch run meanwhile, as it would against real agents
    wait_for(lambda: {i: hook_status(watcher, i) for i in final} == final, SEEN_TIMEOUT,
             message="every instance's last status")
    assert len(final) == 200 and len(watcher) == 200
    # Coalesced: far fewer deliveries than writes.
    assert watcher.watch.deliveries <= (time.monotonic() - started) / DEBOUNCE + 3


# -- StatusEventWatcher


def test_new_events_are_delivered_and_those_already_there_are_not(deck, watchers):
    write_event(deck.event_file("old"), event("old", WAITING))
    watcher = armed(watchers(StatusEventWatcher(deck.events)))
    write_event(deck.event_file("abc"), event("abc", RUNNING))
    got = watcher.get(timeout=SEEN_TIMEOUT)
    assert (got.instance, got.from_status, got.to_status, got.title, got.profile) == (
        "abc", IDLE, RUNNING, "title abc", "default")
    assert watcher.get(timeout=DEBOUNCE * 2) is None
    assert watcher.seen_instances() == {"old", "abc"}
    (deck.event_file("old")).unlink()
    wait_for(lambda: watcher.seen_instances() == {"abc"}, SEEN_TIMEOUT, message="the deleted event to be forgotten")


def test_the_instance_filter_keeps_other_sessions_out(deck, watchers):
    watcher = armed(watchers(StatusEventWatcher(deck.events, instances=["mine"])))
    write_event(deck.event_file("other"), event("other", WAITING))
    write_event(deck.event_file("mine"), event("mine", WAITING))
    assert watcher.get(timeout=SEEN_TIMEOUT).instance == "mine"
    assert watcher.get(timeout=DEBOUNCE * 2) is None


def test_an_event_file_that_lies_about_its_instance_or_is_a_symlink_is_ignored(deck, watchers, home):
    watcher = armed(watchers(StatusEventWatcher(deck.events)))
    write_event(deck.event_file("liar"), event("victim", WAITING))
    write_event(home / "elsewhere.json", event("linked", WAITING))
    os.symlink(home / "elsewhere.json", deck.event_file("linked"))
    write_event(deck.event_file("honest"), event("honest", WAITING))
    assert watcher.get(timeout=SEEN_TIMEOUT).instance == "honest"
    assert watcher.get(timeout=DEBOUNCE * 2) is None


def test_each_version_is_delivered_once_even_through_an_overflow_rescan(deck, watchers):
    watcher = armed(watchers(StatusEventWatcher(deck.events)))
    write_event(deck.event_file("a"), event("a", RUNNING))
    write_event(deck.event_file("b"), event("b", RUNNING))
    assert {watcher.get(timeout=SEEN_TIMEOUT).instance for _ in range(2)} == {"a", "b"}
    overflow_kernel_queue(deck.events)
    write_event(deck.event_file("b"), event("b", WAITING, from_status=RUNNING))  # lost event, found by rescan
    wait_for(lambda: watcher.watch.overflows, SEEN_TIMEOUT, message="the overflow")
    got = watcher.get(timeout=SEEN_TIMEOUT)
    assert (got.instance, got.to_status) == ("b", WAITING)
    assert watcher.get(timeout=DEBOUNCE * 2) is None  # "a" unchanged: not delivered again


def test_a_full_queue_drops_and_counts_and_never_blocks_the_watcher(deck, watchers):
    watcher = armed(watchers(StatusEventWatcher(deck.events, maxsize=5)))
    for n in range(20):
        write_event(deck.event_file(f"s{n}"), event(f"s{n}", WAITING))
    wait_for(lambda: watcher.delivered + watcher.dropped == 20, SEEN_TIMEOUT, message="all twenty events")
    assert (watcher.qsize(), watcher.delivered, watcher.dropped) == (5, 5, 15)
    write_event(deck.event_file("late"), event("late", WAITING))  # the watch still runs
    wait_for(lambda: watcher.dropped == 16, SEEN_TIMEOUT, message="the late event to be dropped too")


def test_stop_ends_a_for_loop_within_a_second(deck):
    watcher = StatusEventWatcher(deck.events)
    watcher.start()
    received = []

    def consume():
        for got in watcher:
            received.append(got)
    consumer = gevent.spawn(consume)
    write_event(deck.event_file("abc"), event("abc", WAITING))
    wait_for(lambda: received, SEEN_TIMEOUT, message="an event in the loop")
    started = time.monotonic()
    watcher.stop()
    consumer.join(timeout=1)
    assert consumer.dead and consumer.successful()
    assert time.monotonic() - started < 1.0
    assert watcher.seen_instances() == set()


def test_stop_wakes_every_blocked_getter_even_with_a_full_queue(deck):
    watcher = StatusEventWatcher(deck.events, maxsize=2)
    watcher.start()
    waiters = [gevent.spawn(watcher.wait_for_status, {DEAD}) for _ in range(3)]
    for n in range(4):
        write_event(deck.event_file(f"s{n}"), event(f"s{n}", WAITING))  # not what they wait for
    wait_for(lambda: watcher.delivered + watcher.dropped == 4, SEEN_TIMEOUT, message="the events")
    gevent.sleep(0)
    watcher.stop()
    gevent.joinall(waiters, timeout=1)
    assert [w.value for w in waiters] == [None] * 3
    assert list(watcher) == []  # a later iteration ends at once too


def test_wait_for_status_skips_other_statuses_and_times_out(deck, watchers):
    watcher = armed(watchers(StatusEventWatcher(deck.events, instances=["abc"])))
    started = time.monotonic()
    assert watcher.wait_for_status({WAITING}, timeout=0.2) is None
    assert 0.2 <= time.monotonic() - started < 1.0

    def write_later():
        write_event(deck.event_file("abc"), event("abc", RUNNING))
        gevent.sleep(DEBOUNCE * 2)
        write_event(deck.event_file("abc"), event("abc", WAITING, from_status=RUNNING))
    writer = gevent.spawn(write_later)
    got = watcher.wait_for_status({WAITING, DEAD}, timeout=SEEN_TIMEOUT)
    writer.join()
    assert (got.from_status, got.to_status) == (RUNNING, WAITING)


@pytest.mark.timeout(60)
def test_an_event_flood_keeps_queues_bounded_and_a_draining_consumer_ends_on_every_final_status(deck, watchers):
    stuck = armed(watchers(StatusEventWatcher(deck.events, maxsize=100)))
    draining = armed(watchers(StatusEventWatcher(deck.events, maxsize=1000)))
    latest = {}

    def drain():
        for got in draining:
            latest[got.instance] = got.to_status
    consumer = gevent.spawn(drain)
    rng = random.Random(5)
    final = {}
    largest = 0
    for n in range(10000):
        instance_id = f"inst{rng.randrange(200):03d}"
        final[instance_id] = rng.choice(STATUSES)
        write_event(deck.event_file(instance_id), event(instance_id, final[instance_id], when=time.time() + n))
        if n % 100 == 99:
            gevent.sleep(0.001)
            largest = max(largest, stuck.qsize(), draining.qsize())
    wait_for(lambda: latest == final, SEEN_TIMEOUT, message="the draining consumer to see every final status")
    consumer.kill()
    assert largest <= 1000 and stuck.qsize() == 100
    assert stuck.dropped > 0 and draining.dropped == 0


def test_running_out_of_descriptors_for_inotify_is_a_clear_error(deck):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    probe = os.open(os.devnull, os.O_RDONLY)
    os.close(probe)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe, hard))  # every lower descriptor is taken
    try:
        with pytest.raises(UserError, match=r"^cannot watch .*hooks: Too many open files \(the open-file limit"):
            DirectoryWatch(deck.hooks, lambda names, rescan: None).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
