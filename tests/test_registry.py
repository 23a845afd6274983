"""The session registry: real SQLite files through Pony, one connection per profile
however many greenlets use it, private files, clear errors for broken databases."""
import contextlib
import os
import sqlite3
import subprocess
import sys
import time

import gevent
import gevent.pool
import pytest

from agentdeck.errors import UserError
from agentdeck.paths import Home
from agentdeck.sessions.registry import Registry

GREENLET_OPERATIONS = 1000


@pytest.fixture
def home(tmp_path):
    return Home(tmp_path).ensure()


@pytest.fixture
def registry(home):
    registry = Registry(home)
    yield registry
    registry.close()


def add(store, instance_id, status="idle", **fields):
    values = dict(title="proj", path="/tmp/proj", tool="claude", command="claude",
                  tmux_session=f"agentdeck-{instance_id}", status=status)
    values.update(fields)
    return store.add(instance_id, **values)


def test_add_get_list_set_status_delete(registry):
    store = registry.store()
    first = add(store, "aaaa0001")
    add(store, "aaaa0002", title="other")
    assert store.get("aaaa0001") == first
    assert [r.id for r in store.list_instances()] == ["aaaa0001", "aaaa0002"]
    assert (first.profile, first.title, first.status, first.tmux_session) == ("default", "proj", "idle",
                                                                             "agentdeck-aaaa0001")
    updated = store.set_status("aaaa0001", "running")
    assert updated.status == "running" and updated.updated >= first.updated
    assert store.get("aaaa0001").status == "running"
    assert store.delete("aaaa0001") is True
    assert store.get("aaaa0001") is None
    assert store.delete("aaaa0001") is False
    assert store.set_status("aaaa0001", "dead") is None  # gone: the daemon just prunes it


def test_add_refuses_a_taken_id(registry):
    store = registry.store()
    add(store, "aaaa0001")
    assert add(store, "aaaa0001", tmux_session="agentdeck-other") is None
    assert len(store.list_instances()) == 1


def test_set_status_rejects_unknown_status(registry):
    store = registry.store()
    add(store, "aaaa0001")
    with pytest.raises(ValueError):
        store.set_status("aaaa0001", "sleeping")


def test_rows_survive_a_new_registry(home, registry):
    add(registry.store("work"), "aaaa0001", status="waiting")
    registry.close()
    again = Registry(home)
    try:
        assert again.store("work").get("aaaa0001").status == "waiting"
    finally:
        again.close()


def test_database_is_opened_lazily_and_closed_explicitly(home, registry):
    store = registry.store("lazy")
    assert not store.is_open and not home.profile_db("lazy").exists()
    assert store.list_instances() == []
    assert store.is_open and store.open_fd_count() == 1
    registry.close()
    assert not store.is_open and store.open_fd_count() == 0
    assert store.list_instances() == []  # a later call reopens
    store.close()


def test_files_are_private(home, registry):
    add(registry.store("p1"), "aaaa0001")
    db = home.profile_db("p1")
    assert os.stat(db).st_mode & 0o777 == 0o600
    assert os.stat(db.parent).st_mode & 0o777 == 0o700


def test_many_greenlets_share_one_connection(registry):
    """Regression guard: Pony opens a connection per thread, i.e. per greenlet under gevent;
    1,000 operations from 1,000 greenlets must still use one SQLite connection."""
    store = registry.store()
    for n in range(10):
        add(store, f"bbbb{n:04d}")
    assert store.open_fd_count() == 1

    def operate(n):
        instance_id = f"bbbb{n % 10:04d}"
        if n % 3 == 0:
            store.set_status(instance_id, ("running", "waiting", "idle")[n % 3])
        elif n % 3 == 1:
            store.get(instance_id)
        else:
            store.list_instances()
        return store.open_fd_count()

    group = gevent.pool.Group()
    greenlets = [group.spawn(operate, n) for n in range(GREENLET_OPERATIONS)]
    group.join(raise_error=True)
    assert max(g.value for g in greenlets) == 1
    assert store.open_fd_count() == 1
    registry.close()
    assert store.open_fd_count() == 0


def test_profiles_lists_valid_profiles_with_a_database(home, registry):
    add(registry.store("beta"), "aaaa0001")
    add(registry.store("alpha"), "aaaa0002")
    (home.profiles / "empty").mkdir()
    (home.profiles / ".hidden").mkdir()
    (home.profiles / ".hidden" / "state.db").write_bytes(b"")
    assert registry.profiles() == ["alpha", "beta"]
    assert registry.open_profiles() == ["alpha", "beta"]
    registry.close_profile("beta")
    assert registry.open_profiles() == ["alpha"]


def test_find_searches_every_profile_and_new_ids_are_free(registry):
    add(registry.store("one"), "aaaa0001")
    add(registry.store("two"), "aaaa0002")
    store, record = registry.find("aaaa0002")
    assert (store.profile, record.id) == ("two", "aaaa0002")
    assert registry.find("ffff0000") is None
    ids = {registry.new_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 8 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize("profile", ["../x", "..", "a/b", "", "-p", "x" * 65])
def test_invalid_profile_names_are_refused(registry, profile):
    with pytest.raises(UserError, match="profile"):
        registry.store(profile)


def garbage(path):
    path.write_bytes(b"this is not a database\n" * 100)


def wrong_schema(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE instances (x INTEGER)")
    con.commit()
    con.close()


def truncated(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x BLOB)")
    con.execute("INSERT INTO t VALUES (zeroblob(100000))")
    con.commit()
    con.close()
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 2000)


@pytest.mark.parametrize("corrupt", [garbage, wrong_schema, truncated])
def test_corrupt_database_is_a_clear_error_naming_the_file(home, registry, corrupt):
    db = home.profile_db("broken")
    db.parent.mkdir(mode=0o700)
    corrupt(db)
    with pytest.raises(UserError) as info:
        registry.store("broken").list_instances()
    message = str(info.value)
    assert str(db) in message and "move it aside" in message and "\n" not in message
    assert registry.store("broken").open_fd_count() == 0  # nothing left open after the failure


def test_database_path_that_is_a_symlink_is_refused(home, registry):
    target = home.root / "elsewhere.db"
    home.profile_db("linked").parent.mkdir(mode=0o700)
    home.profile_db("linked").symlink_to(target)
    with pytest.raises(UserError, match="cannot open the session registry"):
        registry.store("linked").list_instances()
    assert not target.exists()


def test_concurrent_writers_from_greenlets_all_land(registry):
    store = registry.store()
    ids = [f"cccc{n:04d}" for n in range(200)]
    gevent.joinall([gevent.spawn(add, store, i) for i in ids], raise_error=True)
    assert sorted(r.id for r in store.list_instances()) == ids


def test_a_lock_held_by_another_process_is_waited_out_without_blocking_the_hub(registry, home):
    """Regression: SQLite's busy wait ran in C for up to 5 s and froze every greenlet."""
    store = registry.store()
    add(store, "lock0001")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"con = sqlite3.connect({str(home.profile_db('default'))!r}, isolation_level=None)\n"
        "con.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(1.0); con.execute('COMMIT')\n")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    gaps, last = [], time.monotonic()

    def tick():
        nonlocal last
        while True:
            gevent.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    ticker = gevent.spawn(tick)
    started = time.monotonic()
    assert store.set_status("lock0001", "running").status == "running"
    waited = time.monotonic() - started
    ticker.kill()
    holder.wait(timeout=10)
    assert waited >= 0.5  # it did wait for the other process
    assert max(gaps) < 0.25  # and the hub went on meanwhile


@contextlib.contextmanager
def reader_holding_a_lock(db_path, seconds):
    """Another process reading ``db_path`` in a transaction for ``seconds`` (its shared
    lock makes a commit fail until it ends) while the block runs (15 s at most)."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, time\n"
        f"con = sqlite3.connect({str(db_path)!r}, isolation_level=None)\n"
        "con.execute('BEGIN'); con.execute('SELECT count(*) FROM sqlite_master').fetchone()\n"
        f"print('reading', flush=True); time.sleep({seconds}); con.execute('COMMIT')\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        with gevent.Timeout(15):
            assert holder.stdout.readline().strip() == "reading"
            yield
    finally:
        holder.wait(timeout=10)


def test_a_new_registry_whose_first_commit_meets_a_reader_waits_instead_of_crashing(registry, home):
    """Regression (the soak: `session add` tracebacks when several made one profile at once):
    creating the tables commits; a reader's shared lock made that commit fail with Pony's
    CommitException, which the lock retry did not know, so the command crashed."""
    db_path = home.profile_db("fresh")
    db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    db_path.touch(mode=0o600)  # what a concurrent first `session add` leaves before its tables exist
    with reader_holding_a_lock(db_path, 1.0):
        record = add(registry.store("fresh"), "read0001")
    assert record.id == "read0001"
    assert [r.id for r in registry.store("fresh").list_instances()] == ["read0001"]


def test_a_transition_whose_commit_meets_a_reader_is_published_once(registry, home):
    """Regression (the 30-minute soak: 5 event-file updates for 4 transitions): the event
    is written inside the transaction, so that no removal can come between; a commit that
    met another process's read lock was retried whole, and the event written again."""
    store = registry.store()
    add(store, "pub00001", status="waiting")
    published = []
    with reader_holding_a_lock(home.profile_db("default"), 0.5):
        record = store.record_transition("pub00001", "dead", lambda: published.append(time.monotonic()))
    assert record.status == "dead" and store.get("pub00001").status == "dead"
    assert len(published) == 1, f"the event was written {len(published)} times"
