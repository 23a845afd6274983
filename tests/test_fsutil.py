"""File-system helpers: private 0700 directories that refuse symlinks, atomic 0600 writes
that never leave a partial or temp file, bounded reads that never follow a symlink; and
the home layout's socket paths, which must fit in sun_path."""
import contextlib
import errno
import os
import stat
from pathlib import Path

import pytest

from agentdeck import fsutil
from agentdeck.errors import UserError
from agentdeck.fsutil import atomic_write, private_dir, read_bounded
from agentdeck.paths import UNIX_PATH_MAX, Home
from tests.support import wait_for


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def entries(directory):
    return sorted(os.listdir(directory))


@contextlib.contextmanager
def umask(value):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


# -- private_dir -----------------------------------------------------------------------

def test_private_dir_creates_0700_with_parents(tmp_path):
    path = tmp_path / "a" / "b" / "home"
    assert private_dir(path) == str(path)
    assert os.path.isdir(path) and mode_of(path) == 0o700


def test_private_dir_is_0700_whatever_the_umask(tmp_path):
    with umask(0o777):
        private_dir(tmp_path / "home")
    assert mode_of(tmp_path / "home") == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o750, 0o711, 0o701, 0o500, 0o700])
def test_private_dir_fixes_an_existing_mode(tmp_path, mode):
    path = tmp_path / "home"
    path.mkdir()
    os.chmod(path, mode)
    private_dir(path)
    assert mode_of(path) == 0o700


def test_private_dir_refuses_a_symlink_and_leaves_its_target_alone(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.chmod(target, 0o755)
    (tmp_path / "home").symlink_to(target)
    with pytest.raises(OSError) as info:
        private_dir(tmp_path / "home")
    assert info.value.errno == errno.ENOTDIR and "symlink" in str(info.value)
    assert mode_of(target) == 0o755


def test_private_dir_refuses_a_dangling_symlink(tmp_path):
    (tmp_path / "home").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError):
        private_dir(tmp_path / "home")
    assert not (tmp_path / "nowhere").exists()


def test_private_dir_refuses_a_file(tmp_path):
    (tmp_path / "home").write_text("")
    with pytest.raises(OSError):
        private_dir(tmp_path / "home")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a directory to another user")
def test_private_dir_refuses_a_directory_owned_by_someone_else(tmp_path):
    """Regression: the docstring promised "0700 and ours", but the owner was never checked;
    root chmod-ed another user's directory to 0700 and used it, owner still in control."""
    path = tmp_path / "home"
    path.mkdir()
    os.chmod(path, 0o777)
    os.chown(path, 65534, 65534)
    with pytest.raises(OSError) as info:
        private_dir(path)
    assert info.value.errno == errno.EPERM and "owned by uid 65534" in str(info.value)
    assert mode_of(path) == 0o777


# -- atomic_write ----------------------------------------------------------------------

def test_atomic_write_creates_0600_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "status.json"
    atomic_write(path, b'{"status":"idle"}')
    assert path.read_bytes() == b'{"status":"idle"}'
    assert mode_of(path) == 0o600
    assert entries(tmp_path) == ["status.json"]


def test_atomic_write_mode_is_not_subject_to_umask(tmp_path):
    with umask(0o077):
        atomic_write(tmp_path / "f", b"x", mode=0o644)
    assert mode_of(tmp_path / "f") == 0o644


def test_atomic_write_replaces_content_and_mode(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old content that is longer")
    os.chmod(path, 0o666)
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and mode_of(path) == 0o600


def test_atomic_write_swaps_the_file_so_a_reader_sees_old_or_new_never_torn(tmp_path):
    path = tmp_path / "f"
    atomic_write(path, b"old" * 1000)
    with open(path, "rb") as reader:  # opened before the write, read after it
        atomic_write(path, b"new" * 10)
        assert reader.read() == b"old" * 1000
    assert path.read_bytes() == b"new" * 10


def test_atomic_write_replaces_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    (tmp_path / "f").symlink_to(victim)
    atomic_write(tmp_path / "f", b"data")
    assert not (tmp_path / "f").is_symlink() and (tmp_path / "f").read_bytes() == b"data"
    assert victim.read_bytes() == b"keep me"


def test_atomic_write_failing_mid_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")
    assert path.read_bytes() == b"old"
    assert entries(tmp_path) == ["f"]


def test_atomic_write_failing_at_rename_leaves_no_temp(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        atomic_write(tmp_path / "taken", b"data")
    assert entries(tmp_path) == ["taken"] and entries(tmp_path / "taken") == []


def test_atomic_write_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atomic_write("rel.json", b"{}")
    assert (tmp_path / "rel.json").read_bytes() == b"{}" and entries(tmp_path) == ["rel.json"]


# -- read_bounded: (how to make the path, limit, expected) ---------------------------------

LIMIT = 64


def _file(size):
    def make(tmp_path):
        path = tmp_path / "f"
        path.write_bytes(b"x" * size)
        return path
    make.__name__ = f"file_of_{size}"
    return make


def _missing(tmp_path):
    return tmp_path / "missing"


def _directory(tmp_path):
    return tmp_path


def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path  # nobody writes: a blocking open would hang the test


def _symlink_to_file(tmp_path):
    _file(10)(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "f")
    return tmp_path / "link"


def _dangling_symlink(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    return tmp_path / "link"


def _char_device(tmp_path):
    return Path(os.devnull)


READ_CASES = [
    (_file(0), b""),
    (_file(10), b"x" * 10),
    (_file(LIMIT), b"x" * LIMIT),  # exactly at the limit
    (_file(LIMIT + 1), None),
    (_file(10 * LIMIT), None),
    (_missing, None),
    (_directory, None),
    (_fifo, None),
    (_symlink_to_file, None),  # O_NOFOLLOW
    (_dangling_symlink, None),
    (_char_device, None),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("make, expected", READ_CASES, ids=lambda v: getattr(v, "__name__", None))
def test_read_bounded(tmp_path, make, expected):
    assert read_bounded(make(tmp_path), LIMIT) == expected


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_read_bounded_leaks_no_descriptor(tmp_path):
    path = _file(10)(tmp_path)
    fifo = _fifo(tmp_path)
    before = open_fds()
    for _ in range(50):
        read_bounded(path, LIMIT)
        read_bounded(tmp_path, LIMIT)
        read_bounded(fifo, LIMIT)
        read_bounded(_file(LIMIT + 1)(tmp_path), LIMIT)
    # gevent's os.close defers closing non-regular files to the next loop iteration (which
    # may also close one left by an earlier test, hence <=)
    wait_for(lambda: open_fds() <= before, timeout=5.0, message="the descriptors to close")


def test_modes():
    assert (fsutil.PRIVATE_DIR_MODE, fsutil.PRIVATE_FILE_MODE) == (0o700, 0o600)


# -- socket paths under the home (agentdeck/paths.py) -------------------------------------

def home_with_socket_path_of(size, name="time"):
    """A Home whose socket for ``name`` is exactly ``size`` bytes long."""
    fixed = len(os.fsencode(f"/sockets/mcp-{name}.sock"))
    return Home("/" + "h" * (size - fixed - 1))


def test_socket_path_at_the_limit_is_fine():
    home = home_with_socket_path_of(UNIX_PATH_MAX)
    path = home.socket_path("time")
    assert len(os.fsencode(path)) == UNIX_PATH_MAX and path == home.sockets / "mcp-time.sock"


@pytest.mark.parametrize("size", [UNIX_PATH_MAX + 1, 300])
def test_socket_path_over_the_limit_names_path_and_limit(size):
    home = home_with_socket_path_of(size)
    with pytest.raises(UserError) as info:
        home.socket_path("time")
    message = str(info.value)
    assert str(home.sockets / "mcp-time.sock") in message
    assert f"{size} bytes" in message and f"limit of {UNIX_PATH_MAX}" in message
    assert "AGENTDECK_HOME" in message  # and what to do about it


def test_socket_path_limit_counts_bytes_not_characters():
    home = home_with_socket_path_of(UNIX_PATH_MAX, name="x")
    home.socket_path("x")
    with pytest.raises(UserError, match=f"limit of {UNIX_PATH_MAX}"):
        home.socket_path("é")  # one character, two bytes


def test_home_ensure_creates_private_dirs(tmp_path):
    home = Home(tmp_path / "home").ensure()
    for path in (home.root, home.sockets, home.hooks, home.events, home.profiles, home.logs):
        assert mode_of(path) == 0o700


def test_home_ensure_refuses_a_symlinked_dir_as_a_user_error(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "home" / "sockets").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="sockets: cannot use as a private directory"):
        Home(tmp_path / "home").ensure()
