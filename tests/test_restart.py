"""RestartPolicy on a clock of the test's choosing (>= 5 s apart, <= 3 starts a minute,
given up after 10 failures, forgiven after 5 minutes healthy), and the server state machine."""
import itertools

import pytest

from agentdeck.pool import states
from agentdeck.pool.restart import (HEALTHY_RESET, MAX_FAILURES, MAX_STARTS_PER_WINDOW, MIN_INTERVAL, WINDOW,
                                    RestartPolicy)


def replay(events):
    """A policy after ``events``: ("start", t) and ("fail", t) in order."""
    policy = RestartPolicy()
    for kind, now in events:
        {"start": policy.record_start, "fail": policy.record_failure}[kind](now)
    return policy


def crash_loop(policy, run_for, now=0.0, max_starts=100):
    """Start whenever the policy allows, run ``run_for`` seconds, fail; the start times."""
    starts = []
    while len(starts) < max_starts:
        delay = policy.delay(now)
        if delay is None:
            break
        assert delay >= 0
        now += delay
        policy.record_start(now)
        starts.append(now)
        now += run_for
        policy.record_failure(now)
    return starts


def test_the_documented_numbers():
    assert (MIN_INTERVAL, WINDOW, MAX_STARTS_PER_WINDOW, MAX_FAILURES, HEALTHY_RESET) == (5.0, 60.0, 3, 10, 300.0)


def test_first_start_is_immediate():
    policy = RestartPolicy()
    assert policy.delay(1000.0) == 0.0
    policy.record_start(1000.0)
    assert (policy.restarts, policy.failures, policy.running_since) == (0, 0, 1000.0)


# (events so far, [(now, expected delay)]), side by side.
DELAY_CASES = [
    ([("start", 0), ("fail", 1)], [(1, 4.0), (4.5, 0.5), (5, 0.0), (100, 0.0)]),
    ([("start", 0), ("fail", 0), ("start", 5), ("fail", 5), ("start", 10), ("fail", 10)],
     [(10, 50.0), (15, 45.0), (59, 1.0), (60, 0.0)]),  # 3 starts in the window: wait for the oldest
    ([("start", 0), ("fail", 0), ("start", 30), ("fail", 31), ("start", 59), ("fail", 59)],
     [(59, 5.0), (63, 1.0), (64, 0.0)]),  # the window allows it at 60, the 5 s gap only at 64
    ([("start", 0), ("fail", 0), ("start", 100), ("fail", 100), ("start", 200), ("fail", 200.5)],
     [(200.5, 4.5), (205, 0.0)]),  # three starts, but not within one window
    ([("start", 0), ("fail", 100)], [(100, 0.0)]),  # ran long enough: restart at once
]


@pytest.mark.parametrize("events, expected", DELAY_CASES)
def test_delay(events, expected):
    policy = replay(events)
    assert [(now, policy.delay(now)) for now, _ in expected] == expected


@pytest.mark.parametrize("run_for", [0.0, 0.1, 4.9, 20.0])
def test_crash_loop_is_spaced_capped_and_gives_up(run_for):
    policy = RestartPolicy()
    starts = crash_loop(policy, run_for)
    assert len(starts) == MAX_FAILURES
    assert all(b - a >= MIN_INTERVAL for a, b in zip(starts, starts[1:])), starts
    for first in starts:
        assert sum(first <= t < first + WINDOW for t in starts) <= MAX_STARTS_PER_WINDOW, starts
    assert policy.restarts == MAX_FAILURES - 1
    assert policy.delay(starts[-1] + 10 ** 6) is None  # permanently failed, however long we wait


def test_crash_loop_timeline():
    assert crash_loop(RestartPolicy(), 0.0) == [0, 5, 10, 60, 65, 70, 120, 125, 130, 180]


def test_ninth_failure_still_restarts_tenth_gives_up():
    policy = RestartPolicy()
    for _ in range(MAX_FAILURES - 1):
        policy.record_failure(0.0)
    assert policy.delay(0.0) == 0.0
    policy.record_failure(0.0)
    assert policy.delay(0.0) is None


def test_check_healthy_after_300_s_resets_failures_and_start_history():
    policy = replay([("start", 0), ("fail", 0), ("start", 5), ("fail", 5), ("start", 10)])
    assert not policy.check_healthy(10 + HEALTHY_RESET - 0.1)
    assert policy.failures == 2 and len(policy.starts) == 3
    assert policy.check_healthy(10 + HEALTHY_RESET)
    assert policy.failures == 0 and len(policy.starts) == 0
    assert not policy.check_healthy(10 + HEALTHY_RESET + 1)  # nothing left to forgive
    policy.record_failure(400.0)
    assert policy.delay(400.0) == 0.0  # the start history was forgotten too


def test_check_healthy_needs_a_running_child():
    policy = replay([("start", 0), ("fail", 1)])
    assert not policy.check_healthy(10 ** 6)
    assert policy.failures == 1


def test_check_healthy_without_failures_changes_nothing():
    policy = replay([("start", 0)])
    assert not policy.check_healthy(HEALTHY_RESET * 2)
    assert list(policy.starts) == [0]


def test_healthy_period_forgives_so_ten_more_failures_are_allowed():
    policy = RestartPolicy()
    starts = crash_loop(policy, 0.0, max_starts=MAX_FAILURES - 1)
    policy.record_start(starts[-1] + 60)
    assert policy.check_healthy(starts[-1] + 60 + HEALTHY_RESET)
    policy.record_failure(starts[-1] + 60 + HEALTHY_RESET)
    assert len(crash_loop(policy, 0.0, now=starts[-1] + 60 + HEALTHY_RESET)) == MAX_FAILURES - 1


def test_restarts_count_every_start_after_the_first():
    policy = RestartPolicy()
    crash_loop(policy, 0.0, max_starts=4)
    assert policy.restarts == 3


def test_restarts_still_counted_after_a_healthy_reset():
    """Regression: check_healthy cleared the start history that record_start used to tell a
    restart from the first start, so the first restart after a healthy period was not counted."""
    policy = replay([("start", 0), ("fail", 1), ("start", 6)])
    assert policy.restarts == 1
    assert policy.check_healthy(6 + HEALTHY_RESET)
    policy.record_failure(500.0)
    policy.record_start(500.0 + policy.delay(500.0))
    assert policy.restarts == 2


# -- the state machine: every allowed change listed; all others refused ---------------------

ALLOWED = {
    (states.STOPPED, states.STARTING),   # start
    (states.STOPPED, states.EXTERNAL),   # another agentdeck serves the socket
    (states.STOPPED, states.FATAL),      # the command cannot be run at all
    (states.STARTING, states.RUNNING),   # handshake replayed
    (states.STARTING, states.BACKOFF),   # exited while starting
    (states.STARTING, states.FATAL),
    (states.STARTING, states.STOPPING),
    (states.RUNNING, states.BACKOFF),    # crashed or hung
    (states.RUNNING, states.STOPPING),
    (states.BACKOFF, states.STARTING),   # back-off elapsed
    (states.BACKOFF, states.FATAL),      # too many failures
    (states.BACKOFF, states.STOPPED),    # stopped while waiting
    (states.FATAL, states.STOPPED),
    (states.STOPPING, states.STOPPED),
    (states.EXTERNAL, states.STOPPED),
}
ALL_STATES = [states.STOPPED, states.STARTING, states.RUNNING, states.BACKOFF, states.FATAL, states.STOPPING,
              states.EXTERNAL]


def test_every_state_has_a_transition_entry():
    assert set(states.TRANSITIONS) == set(ALL_STATES)


@pytest.mark.parametrize("old, new", list(itertools.product(ALL_STATES, ALL_STATES)))
def test_check_transition(old, new):
    if (old, new) in ALLOWED:
        states.check_transition(old, new)
    else:
        with pytest.raises(ValueError, match=f"illegal server state change {old} -> {new}"):
            states.check_transition(old, new)
