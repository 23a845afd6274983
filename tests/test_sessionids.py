"""HTTP session ids: issued per server and project, unforgeable, valid only where they were
issued, and never valid again once ended, within a memory bound whatever the uptime."""
import tracemalloc

import pytest

from agentdeck import config
from agentdeck.pool.httpsessions import HttpSessions
from agentdeck.pool.router import Router
from agentdeck.pool.sessionids import TAKEN_UP_MAX, SessionIds

KEY = bytes(range(32))


def altered(sid):
    return sid[:-1] + ("A" if sid[-1] != "A" else "B")


# (what, issued for (server, project), presented as (server, project, the id as sent), taken up after a restart)
WHERE = [
    ("the server it was issued for", ("s", None), ("s", None, lambda sid: sid), True),
    ("the project it was issued for", ("s", "/p/sub"), ("s", "/p/sub", lambda sid: sid), True),
    ("another server", ("s", None), ("t", None, lambda sid: sid), False),
    ("a server whose name extends it", ("s", None), ("s2", None, lambda sid: sid), False),
    ("the server without the project", ("s", "/p"), ("s", None, lambda sid: sid), False),
    ("the parent project", ("s", "/p/sub"), ("s", "/p", lambda sid: sid), False),
    ("the parent project, the rest of the path put in front of the id", ("s", "/p/sub"),
     ("s", "/p", lambda sid: "sub/" + sid), False),
    ("the parent project, the path put in front of the nonce", ("s", "/p/sub"),
     ("s", "/p", lambda sid: sid.replace(".", ".sub/", 1)), False),
    ("the project's name moved into the server's", ("s", "/p"), ("s@/p", None, lambda sid: sid), False),
    ("a MAC altered by one character", ("s", None), ("s", None, altered), False),
    ("an id with a non-ASCII byte", ("s", None), ("s", None, lambda sid: sid + "\xe9"), False),
    ("a bare non-ASCII id", ("s", None), ("s", None, lambda sid: "x.\xe9"), False),
    ("an empty id", ("s", None), ("s", None, lambda sid: ""), False),
]


@pytest.mark.parametrize("what, issued, presented, valid", WHERE, ids=[row[0] for row in WHERE])
def test_an_id_of_an_earlier_run_is_taken_up_only_where_it_was_issued(what, issued, presented, valid):
    sid = SessionIds(KEY).new(*issued)
    server, project, send = presented
    assert SessionIds(KEY).resumable(server, project, send(sid)) is valid


def test_an_id_of_another_home_is_never_taken_up():
    sid = SessionIds(KEY).new("s")
    assert not SessionIds(bytes(32)).resumable("s", None, sid)


class Table:
    """The sessions of one server on a real router (no child: nothing is sent to one)."""

    def __init__(self, ids, max_clients=100):
        settings = config.build({"pool": {"max_clients": max_clients}}).pool
        self.router = Router("s", settings, lambda callback: None)
        self.cids = iter(range(1, 10 ** 9))
        self.sessions = HttpSessions(self.router, ids, lambda: next(self.cids))

    def end(self, session):
        self.router.drop_client(session, "test")


def test_an_ended_id_never_works_again_while_the_daemon_runs():
    """Regression: ended ids were kept in a ring of 4,096, so the first came back to life
    once 4,096 more sessions had ended."""
    table = Table(SessionIds(KEY))
    first = table.sessions.create("2025-06-18")
    table.end(first)
    for _ in range(10000):
        table.end(table.sessions.create("2025-06-18"))
    assert table.sessions.find(first.sid, "2025-06-18") is None
    assert table.sessions.counts() == 0 and not table.router.clients


def test_an_earlier_runs_id_is_taken_up_once_and_refused_once_it_ends():
    sid = SessionIds(KEY).new("s")
    table = Table(SessionIds(KEY))
    session = table.sessions.find(sid, "2025-06-18")
    assert session is not None and table.sessions.find(sid, "2025-06-18") is session
    table.end(session)
    assert table.sessions.find(sid, "2025-06-18") is None


def test_ids_taken_up_are_bounded_and_past_the_bound_an_earlier_id_initializes_again():
    earlier = SessionIds(KEY)
    ids = SessionIds(KEY)
    sids = [earlier.new("s") for _ in range(TAKEN_UP_MAX + 1)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for sid in sids[:-1]:
            assert ids.resumable("s", None, sid)
            ids.take_up(sid)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= 8 * TAKEN_UP_MAX + 4096, f"{held} bytes held for {TAKEN_UP_MAX} ids taken up"
    assert not ids.resumable("s", None, sids[-1])
    assert not any(ids.resumable("s", None, sid) for sid in sids[:10])


def test_ids_of_this_run_are_never_taken_up_and_carry_only_visible_ascii():
    ids = SessionIds(KEY)
    sid = ids.new("s", "/p")
    assert not ids.resumable("s", "/p", sid)
    assert sid.isascii() and sid.isprintable() and " " not in sid
