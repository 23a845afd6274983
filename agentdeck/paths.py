"""The on-disk layout under AGENTDECK_HOME (see DESIGN.md, "Files on disk"): where the
home is, which names are safe in its file names, and the paths inside it. Standard
library only: the config and the hook use it."""
import os
import re
from pathlib import Path

from agentdeck.errors import UserError
from agentdeck.fsutil import private_dir

ENV_HOME = "AGENTDECK_HOME"
DEFAULT_HOME = "~/.agentdeck"  # the home when neither AGENTDECK_HOME nor [daemon] home says otherwise
# Server names, instance ids and profile names end up in file names (sockets/mcp-<name>.sock,
# hooks/<id>.json, profiles/<profile>/): letters, digits, "_", ".", "-", starting with a
# letter or digit. "\Z", not "$": "$" also matches before a final newline.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
UNIX_PATH_MAX = 107  # bytes a sun_path holds, without the trailing NUL
SOCKET_PREFIX = "mcp-"  # sockets/mcp-<name>.sock: the one place this file name is spelt
SOCKET_SUFFIX = ".sock"


def home_path(configured=DEFAULT_HOME, environ=os.environ):
    """The home directory: ``$AGENTDECK_HOME`` if set, else ``configured`` (``[daemon]
    home``), ``~`` expanded."""
    return Path(os.path.expanduser(environ.get(ENV_HOME) or configured))


def socket_file_name(name):
    return f"{SOCKET_PREFIX}{name}{SOCKET_SUFFIX}"


def server_of_socket(path):
    """The server a socket path belongs to: ``NAME`` for ``.../mcp-NAME.sock``, else the file name."""
    base = os.path.basename(os.fspath(path))
    if base.startswith(SOCKET_PREFIX) and base.endswith(SOCKET_SUFFIX) and len(base) > len(SOCKET_PREFIX + SOCKET_SUFFIX):
        return base[len(SOCKET_PREFIX):-len(SOCKET_SUFFIX)]
    return base


class Home:
    """Paths of one agentdeck home; `ensure()` creates the private (0700) directories."""

    def __init__(self, root):
        self.root = Path(root)
        self.sockets = self.root / "sockets"
        self.hooks = self.root / "hooks"
        self.events = self.root / "events"
        self.profiles = self.root / "profiles"
        self.logs = self.root / "logs"
        self.handshakes = self.root / "handshakes"  # each server's cached initialize (HTTP sessions outlive restarts)
        self.control = self.root / "control.sock"  # the daemon's control socket (`agentdeck reload`, `stop`)

    def ensure(self):
        for path in (self.root, self.sockets, self.hooks, self.events, self.profiles, self.logs, self.handshakes):
            try:
                private_dir(path)
            except OSError as exc:
                raise UserError(f"{path}: cannot use as a private directory: {exc.strerror}") from None
        return self

    def socket_path(self, name):
        """The socket of pooled server ``name``; a clear error if it would not fit in sun_path."""
        return fitting_socket(self.sockets / socket_file_name(name))

    def profile_db(self, profile):
        return self.profiles / profile / "state.db"

    def hook_file(self, instance_id):
        return self.hooks / f"{instance_id}.json"

    def event_file(self, instance_id):
        return self.events / f"{instance_id}.json"


def fitting_socket(path):
    """``path``, or a `UserError` when it is too long for a Unix socket (sun_path)."""
    size = len(os.fsencode(path))
    if size > UNIX_PATH_MAX:
        raise UserError(f"socket path {path} is {size} bytes, over the Unix limit of {UNIX_PATH_MAX}: "
                        "set a shorter AGENTDECK_HOME or [daemon] home")
    return path
