"""The session registry: one SQLite database per profile, through Pony ORM.

``profiles/<profile>/state.db`` holds that profile's instances. A `ProfileStore` opens
its database lazily, on its first call, and keeps exactly one connection open until
`close` (every call runs in the store's `DatabaseWorker` greenlet). A `Registry` is
the set of profiles of one home: it lists those on disk, hands out their stores and
closes them. Callers get plain `InstanceRecord` values, never Pony objects, so
nothing outlives a database session.

Several processes may use one database at once (the daemon and `agentdeck session`
commands): SQLite serialises writers, and a call waits up to SQLITE_BUSY_TIMEOUT for
another's lock. SQLite's own busy wait would block the gevent hub, so it gets only
SQLITE_BUSY_SLICE per attempt; between attempts the call sleeps cooperatively (see
`_retry_while_locked`), so other greenlets run while one waits. Writes are single
short transactions, so a retried one is safe to run again and the lock is held briefly.
"""
import dataclasses
import os
import secrets
import sqlite3
import time

import gevent
from pony import orm

from agentdeck.errors import UserError
from agentdeck.fsutil import PRIVATE_FILE_MODE, private_dir
from agentdeck.sessions.dbworker import DatabaseWorker
from agentdeck.sessions.names import DEFAULT_PROFILE, check_name, is_valid_name
from agentdeck.sessions.states import STATUSES

SQLITE_BUSY_TIMEOUT = 5.0  # seconds a call waits, in all, for another process's lock
SQLITE_BUSY_SLICE = 0.01  # seconds SQLite itself may wait (in C, blocking the hub) per attempt
LOCK_RETRY_MAX = 0.1  # seconds between attempts at most (the wait between them is cooperative)
SQLITE_CACHE_KIB = 512  # page cache per connection: bounds memory as the registry grows
# What a damaged or locked database raises (Pony wraps most sqlite3 errors, not all; a
# commit that meets a reader's lock raises CommitException, a TransactionError).
DATABASE_ERRORS = (orm.dbapiprovider.DBException, orm.core.MappingError, orm.core.TransactionError, sqlite3.Error)
ID_BYTES = 4  # random bytes in an instance id (8 hex digits)
ID_ATTEMPTS = 20  # fresh ids tried before giving up (a collision is one in 4 billion per try)
PROC_FDS = "/proc/self/fd"  # Linux: one symlink per open file descriptor


def _retry_while_locked(fn, *args):
    """``fn(*args)`` (one whole db_session, so safe to run again), retried while another
    process holds the database locked. SQLite's own busy wait blocks the whole hub, so it
    gets only SQLITE_BUSY_SLICE; the waiting between attempts yields to other greenlets."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    delay = SQLITE_BUSY_SLICE
    while True:
        try:
            return fn(*args)
        except DATABASE_ERRORS as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        gevent.sleep(delay)
        delay = min(delay * 2, LOCK_RETRY_MAX)


@dataclasses.dataclass(frozen=True)
class InstanceRecord:
    """One registered agent session, as stored."""
    id: str  # also names hooks/<id>.json, events/<id>.json and the tmux session
    profile: str
    title: str
    path: str  # the project directory the session started in
    tool: str  # "claude", "codex", "gemini" or "shell"
    command: str  # what the tmux session runs; "" for the default shell
    tmux_session: str
    status: str  # one of states.STATUSES, as last stored
    created: float  # Unix time
    updated: float  # Unix time of the last change to the row

    def to_dict(self):
        return dataclasses.asdict(self)


def _define_instance(db):
    """The entity of one profile's database (Pony binds entities to one Database)."""

    class Instance(db.Entity):
        _table_ = "instances"
        id = orm.PrimaryKey(str)
        title = orm.Required(str)
        path = orm.Required(str)
        tool = orm.Required(str)
        command = orm.Optional(str)
        tmux_session = orm.Required(str, unique=True)
        status = orm.Required(str)
        created = orm.Required(float)
        updated = orm.Required(float)

    return Instance


class ProfileStore:
    """The instances of one profile. Every method may be called from any greenlet; the
    work happens in one worker greenlet, on one connection, opened at the first call."""

    def __init__(self, profile, db_path):
        self.profile = profile
        self.db_path = db_path  # profiles/<profile>/state.db
        self._db = None  # pony Database while open
        self._entity = None  # its Instance entity while open
        self._worker = DatabaseWorker(str(db_path), on_stop=self._disconnect)

    # -- public API: each call is one job of the worker, one transaction

    def list_instances(self):
        """Every instance, oldest first."""
        return self._call(self._list)

    def get(self, instance_id):
        """The instance with ``instance_id``, or None."""
        return self._call(self._get, instance_id)

    def add(self, instance_id, title, path, tool, command, tmux_session, status):
        """Insert a new instance; returns its record, or None if ``instance_id`` is taken."""
        return self._call(self._add, instance_id, title, path, tool, command, tmux_session, status)

    def set_status(self, instance_id, status):
        """Store ``status``; returns the updated record, or None if the instance is gone."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return self._call(self._update, instance_id, "status", status)

    def set_title(self, instance_id, title):
        """Store ``title``; returns the updated record, or None if the instance is gone."""
        return self._call(self._update, instance_id, "title", title)

    def record_transition(self, instance_id, status, publish):
        """Store ``status`` and call ``publish()`` (which writes the transition's event file)
        in one write transaction, if the instance still exists; returns its updated record,
        or None (and publishes nothing) when it is gone. `delete` runs under the same write
        lock, so an event is never written for an instance whose removal has begun."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        published = []

        def publish_once():
            # A commit that meets another process's read lock is retried whole: the event
            # file written in the first attempt stands (a reader saw the new status).
            if not published:
                published.append(True)
                publish()
        return self._call(self._update, instance_id, "status", status, publish_once)

    def delete(self, instance_id, then=None):
        """Delete the instance's row and, in the same write transaction, call ``then()``
        (which deletes its files) if given; False if there was no row."""
        return self._call(self._delete, instance_id, then)

    def close(self):
        """Close the connection (in the worker) and end the worker; a later call reopens."""
        self._worker.stop()

    @property
    def is_open(self):
        return self._db is not None

    def open_fd_count(self):
        """How many of this process's file descriptors are open on the database or its
        journal: 1 while the store is open and idle, 0 after `close` (for metrics and tests)."""
        prefix = str(self.db_path)
        count = 0
        for fd in os.listdir(PROC_FDS):
            try:
                count += os.readlink(os.path.join(PROC_FDS, fd)).startswith(prefix)
            except OSError:  # closed while we looked (listdir's own fd among them)
                continue
        return count

    def _call(self, fn, *args):
        """``fn(*args)`` in the worker, with SQLite's errors turned into one-line UserErrors."""
        try:
            return self._worker.call(_retry_while_locked, fn, *args)
        except DATABASE_ERRORS as exc:
            problem = str(exc)
        # Raised outside the except block so the UserError does not carry the original as
        # __context__: its traceback holds frames, and through them a failed connection.
        if "locked" in problem:
            raise UserError(f"{self.db_path}: the session registry stayed locked by another process for "
                            f"{SQLITE_BUSY_TIMEOUT:g} s: try again")
        raise UserError(f"{self.db_path}: not a usable session registry ({problem}): move it aside "
                        f"(`mv {self.db_path} {self.db_path}.broken`) to start profile {self.profile!r} afresh")

    # -- in the worker greenlet

    def _open(self):
        if self._db is not None:
            return
        # SQLite would create the file 0644; create it private first (its journal follows).
        try:
            private_dir(self.db_path.parent)
            os.close(os.open(self.db_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                             PRIVATE_FILE_MODE))
        except OSError as exc:
            raise UserError(f"{self.db_path}: cannot open the session registry: {exc.strerror}") from None
        self._check_readable()
        db = orm.Database()
        entity = _define_instance(db)
        try:
            db.bind(provider="sqlite", filename=str(self.db_path), create_db=True, timeout=SQLITE_BUSY_SLICE)
            db.generate_mapping(create_tables=True)
            with orm.db_session:
                db.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        except DATABASE_ERRORS:
            db.disconnect()
            raise
        self._db, self._entity = db, entity

    def _check_readable(self):
        """Read the schema through a plain sqlite3 connection, closed whatever happens: Pony's
        errors on a damaged file leave its failed connection (and the file) open on reference
        cycles until the next garbage collection."""
        con = sqlite3.connect(self.db_path, timeout=SQLITE_BUSY_SLICE)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()

    def _disconnect(self):
        if self._db is not None:
            self._db.disconnect()
            self._db = self._entity = None

    def _record(self, row):
        return InstanceRecord(id=row.id, profile=self.profile, title=row.title, path=row.path, tool=row.tool,
                              command=row.command, tmux_session=row.tmux_session, status=row.status,
                              created=row.created, updated=row.updated)

    def _list(self):
        self._open()
        with orm.db_session:
            return [self._record(row) for row in self._entity.select().order_by(lambda i: (i.created, i.id))]

    def _get(self, instance_id):
        self._open()
        with orm.db_session:
            row = self._entity.get(id=instance_id)
            return self._record(row) if row is not None else None

    def _add(self, instance_id, title, path, tool, command, tmux_session, status):
        self._open()
        now = time.time()
        # immediate: take the write lock before the check, so two processes cannot both pass it
        with orm.db_session(immediate=True):
            if self._entity.exists(id=instance_id):
                return None
            row = self._entity(id=instance_id, title=title, path=path, tool=tool, command=command,
                               tmux_session=tmux_session, status=status, created=now, updated=now)
            return self._record(row)

    def _update(self, instance_id, field, value, publish=None):
        """Store ``value`` in the row's ``field`` (``updated`` moves only if it changed), then
        call ``publish()`` if given, all in one write transaction; None if the row is gone."""
        self._open()
        with orm.db_session(immediate=True):  # BEGIN IMMEDIATE: the write lock is ours from the first read
            row = self._entity.get(id=instance_id)
            if row is None:
                return None
            if getattr(row, field) != value:
                setattr(row, field, value)
                row.updated = time.time()
            if publish is not None:
                publish()
            return self._record(row)

    def _delete(self, instance_id, then=None):
        self._open()
        with orm.db_session(immediate=True):
            row = self._entity.get(id=instance_id)
            if row is None:
                return False
            row.delete()
            if then is not None:
                then()
            return True


class Registry:
    """The profiles of one home (a `paths.Home`) and their stores.

    Stores are created on demand and kept until `close_profile` or `close`; the caller
    that made the Registry closes it.
    """

    def __init__(self, home):
        self.home = home
        self._stores = {}  # profile name -> ProfileStore, for profiles used so far

    def profiles(self):
        """Names of the profiles that have a registry on disk, sorted."""
        try:
            names = os.listdir(self.home.profiles)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if is_valid_name(n) and self.home.profile_db(n).is_file())

    def store(self, profile=DEFAULT_PROFILE):
        """The store of ``profile`` (created on disk by its first write)."""
        check_name(profile, "profile")
        store = self._stores.get(profile)
        if store is None:
            store = self._stores[profile] = ProfileStore(profile, self.home.profile_db(profile))
        return store

    def find(self, instance_id):
        """The (store, record) of ``instance_id`` in any profile, or None."""
        for profile in self.profiles():
            store = self.store(profile)
            record = store.get(instance_id)
            if record is not None:
                return store, record
        return None

    def new_id(self):
        """An instance id used by no profile (ids name files shared by all profiles)."""
        for _ in range(ID_ATTEMPTS):
            candidate = secrets.token_hex(ID_BYTES)
            if self.find(candidate) is None:
                return candidate
        raise UserError(f"could not find a free session id in {ID_ATTEMPTS} tries: is {self.home.profiles} sane?")

    def open_profiles(self):
        """Names of the profiles whose store is currently held."""
        return sorted(self._stores)

    def close_profile(self, profile):
        """Close and forget the store of ``profile`` (its profile vanished, or is done with)."""
        store = self._stores.pop(profile, None)
        if store is not None:
            store.close()

    def close(self):
        """Close every store."""
        for profile in list(self._stores):
            self.close_profile(profile)
