"""Small file-system helpers with safe defaults: private dirs, atomic writes,
bounded reads that never follow symlinks. Standard library only (the hook path uses it)."""
import errno
import json
import os
import stat
import tempfile

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path):
    """Create ``path`` (and parents) if needed and make sure it is 0700 and ours.

    Refuses a symlink, so nobody can redirect our sockets or status files.
    """
    path = os.fspath(path)
    os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, "not a real directory (symlinks are refused)", path)
    if st.st_uid != os.geteuid():
        raise OSError(errno.EPERM, f"owned by uid {st.st_uid}, not by us (uid {os.geteuid()})", path)
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def atomic_write(path, data, mode=PRIVATE_FILE_MODE):
    """Write ``data`` (bytes) to ``path`` via a temp file in the same directory and a rename,
    so readers see the old content or the new, never a torn file."""
    path = os.fspath(path)
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_bounded(path, limit):
    """Read at most ``limit`` bytes of a regular file without following a symlink.

    Returns None when the file is missing, a symlink, not a regular file or larger
    than ``limit`` — a status file somebody else wrote is never trusted to be sane.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
        return data if len(data) <= limit else None
    finally:
        os.close(fd)


def read_json_object(path, limit):
    """The JSON object (a dict) in ``path``, read as `read_bounded` reads; None when the
    file is missing, a symlink, over ``limit`` bytes, not JSON or not an object."""
    data = read_bounded(path, limit)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:  # not JSON, or not UTF-8
        return None
    return value if isinstance(value, dict) else None
