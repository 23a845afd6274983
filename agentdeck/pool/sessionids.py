"""HTTP session ids that survive a daemon restart, cannot be guessed or forged, and mean
exactly one thing: one session of one server (and project), issued by one daemon run.

An id is ``<run>.<nonce>.<mac>``: the run that issued it (6 random bytes in hex, new at
each start), 18 random bytes, and an HMAC-SHA256 under a key kept in the home (0600,
made on first use) of the server, the project, the run and the nonce, each prefixed
with its length, so no field can be shifted into another (an id of project ``/p/sub``
is not one of ``/p``). Visible ASCII, as Mcp-Session-Id requires.

An id issued by this run is valid exactly while its session is live (the sessions
tables look it up there first): every id this run issued is either live or ended, so
an ended one is refused by construction, with nothing remembered for it. An id of an
earlier run that verifies is taken up again once (after a restart the daemon knows no
session, and the client must not have to initialize again); the ids taken up are
remembered, so one that ends is refused too. At most TAKEN_UP_MAX of them per run (a
64-bit digest each: 32 KiB at most): past that an earlier run's id gets 404 and its
client initializes again, as it would after any lost session.
"""
import array
import base64
import hashlib
import hmac
import os
import re
import secrets

from agentdeck.fsutil import PRIVATE_FILE_MODE

KEY_BYTES = 32
RUN_BYTES = 6
NONCE_BYTES = 18
MAC_CHARS = 22        # 132 bits of the HMAC: unforgeable, and a short header
TAKEN_UP_MAX = 4096   # ids of earlier runs taken up again by one run (bounded, whatever the uptime)
DOMAIN = b"agentdeck mcp session v2"
_ID = re.compile(r"([0-9a-f]{%d})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{%d})" % (2 * RUN_BYTES, MAC_CHARS))


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_key(path):
    """The key at ``path``, created (0600, never through a symlink) when missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         PRIVATE_FILE_MODE)
        except FileExistsError:  # made meanwhile by another process: use that one
            return load_key(path)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key
    with os.fdopen(fd, "rb") as f:
        key = f.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: expected {KEY_BYTES} bytes; remove the file to make a new key")
    return key


class SessionIds:
    """The ids of one daemon run, shared by every server of the pool."""

    def __init__(self, key, run=None):
        self.key = key
        self.run = run or secrets.token_hex(RUN_BYTES)  # this daemon run; also the prefix of its SSE event ids
        self.taken_up = array.array("Q")  # digests of earlier runs' ids taken up by this run (<= TAKEN_UP_MAX)

    def _mac(self, server, project, run, nonce):
        fields = (DOMAIN, server.encode(), os.fsencode(project or ""), run.encode(), nonce.encode())
        message = b"".join(len(field).to_bytes(4, "big") + field for field in fields)
        return _b64(hmac.new(self.key, message, hashlib.sha256).digest())[:MAC_CHARS]

    def new(self, server, project=None):
        """A new id for a session of ``server`` (for ``project``, a directory, or None)."""
        nonce = _b64(secrets.token_bytes(NONCE_BYTES))
        return f"{self.run}.{nonce}.{self._mac(server, project, self.run, nonce)}"

    def resumable(self, server, project, sid):
        """True for an id an earlier run of this home issued for ``server`` and ``project``
        that this run has not taken up yet (and has room to). Ids of this run are never
        resumable: one that is not live has ended."""
        match = _ID.fullmatch(sid)
        if match is None:
            return False
        run, nonce, mac = match.groups()
        return run != self.run and hmac.compare_digest(mac, self._mac(server, project, run, nonce)) and \
            len(self.taken_up) < TAKEN_UP_MAX and _digest(sid) not in self.taken_up

    def take_up(self, sid):
        """A `resumable` id is live again: it will not be taken up a second time."""
        self.taken_up.append(_digest(sid))


def _digest(sid):
    """64 bits of ``sid``'s hash: another earlier id meets a taken-up one's digest with odds
    of ~2**-52, and is then refused (initialized again), never confused with it."""
    return int.from_bytes(hashlib.blake2b(sid.encode(), digest_size=8).digest(), "big")
