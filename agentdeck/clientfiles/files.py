"""Reading and replacing a client's file: bounded reads, atomic replacement that keeps
the file's mode, and refusals of one line that name the file and change nothing."""
import dataclasses
import os
import stat

from agentdeck.errors import UserError
from agentdeck.fsutil import PRIVATE_DIR_MODE, atomic_write

FILE_LIMIT = 64 * 1024 * 1024  # bytes read from a client file at most (~/.claude.json keeps history)


@dataclasses.dataclass(frozen=True)
class Merged:
    """What merging entries into one file did."""

    path: str        # the file (a symlink resolved to the file it points to)
    replaced: tuple  # names that had a different entry before
    changed: bool    # False when every entry was already there as it is: the file was not written
    previous: dict = dataclasses.field(default_factory=dict)  # name -> the entry it replaced, for each of replaced
    backup: str = None  # where the file's previous content was kept, or None (none asked, or a new file)


def read_existing(path):
    """The bytes of file ``path``, None when it does not exist; a `UserError` when it
    cannot be read or is over `FILE_LIMIT`."""
    try:
        with open(path, "rb") as f:
            data = f.read(FILE_LIMIT + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(data) > FILE_LIMIT:
        raise UserError(f"{path}: larger than {FILE_LIMIT} bytes, not read; nothing was changed")
    return data


def decode(data, path, what):
    """``data`` as text (a byte-order mark some editors write is dropped); a `UserError`
    saying the file is not valid ``what`` when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not valid {what} (not UTF-8 at byte {exc.start}); fix or move it, nothing was "
                        "changed") from None


def resolve(path, create_parent=False):
    """Where the content of ``path`` lives: a symlink (managed dotfiles) is followed so its
    target is updated and the link kept. Its directory must exist; with ``create_parent``
    (a client's own directory, such as ~/.codex before the client first ran) it is created
    private."""
    path = os.path.realpath(os.path.expanduser(os.fspath(path)))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        if not create_parent:
            raise UserError(f"{parent}: no such directory (for {os.path.basename(path)}); nothing was written")
        try:
            os.makedirs(parent, mode=PRIVATE_DIR_MODE)
        except OSError as exc:
            raise UserError(f"{parent}: cannot create it ({exc.strerror}); nothing was written") from None
    return path


def file_mode(path, default):
    """The permission bits of existing ``path`` (kept when it is rewritten), else ``default``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return default


def replace(path, text, default_mode):
    """Replace ``path`` with ``text`` atomically, in its current mode (``default_mode`` for a new file)."""
    try:
        atomic_write(path, text.encode(), file_mode(path, default_mode))
    except OSError as exc:
        raise UserError(f"{path}: cannot write it ({exc.strerror}); nothing was changed") from None


BACKUP_SUFFIX = ".bak"


def keep_backup(path, data):
    """Write ``data`` (the file's content before a change) to ``<path>.bak`` atomically, in
    the file's mode; returns the backup's path."""
    backup = path + BACKUP_SUFFIX
    try:
        atomic_write(backup, data, file_mode(path, 0o600))
    except OSError as exc:
        raise UserError(f"{backup}: cannot keep a backup there ({exc.strerror}); nothing was changed") from None
    return backup


def kind_of(value):
    """What a parsed JSON or TOML value is, in words for an error message."""
    if value is None:
        return "missing (or null)"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number"}
    return names.get(type(value), type(value).__name__)
