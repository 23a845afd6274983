"""HTTP session ids that survive a daemon restart, and cannot be guessed or forged.

An id is ``<nonce>.<mac>``: 18 random bytes and an HMAC-SHA256 of the server name and the
nonce under a key kept in the home (0600, made on first use), both base64url: visible
ASCII, as Mcp-Session-Id requires. After a restart the daemon knows no session, but an
id that verifies was issued by this home for this server, so the session is taken up
again instead of answered 404. Ids ended by DELETE or by idling are remembered (the
newest ENDED_KEPT of them, as 64-bit digests in a ring allocated once: 32 KiB from the
start, however many sessions end) and refused with 404. Only an id the daemon does not
know as live is looked up there, so a scan of the ring is cheap enough.
"""
import array
import base64
import hashlib
import hmac
import os
import secrets

from agentdeck.fsutil import PRIVATE_FILE_MODE

KEY_BYTES = 32
NONCE_BYTES = 18
MAC_CHARS = 22      # 132 bits of the HMAC: unforgeable, and a short header
ENDED_KEPT = 4096   # ended ids remembered per daemon run (bounded, whatever the uptime)


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
    def __init__(self, key):
        self.key = key
        self.ended = array.array("Q", bytes(8 * ENDED_KEPT))  # digests of ended ids (0: none)
        self.next_end = 0  # the ring slot the next ended id takes

    def _mac(self, server, nonce):
        return _b64(hmac.new(self.key, f"{server}/{nonce}".encode(), hashlib.sha256).digest())[:MAC_CHARS]

    def new(self, server):
        nonce = _b64(secrets.token_bytes(NONCE_BYTES))
        return f"{nonce}.{self._mac(server, nonce)}"

    def valid(self, server, sid):
        """True for an id this home issued for ``server`` that has not ended."""
        nonce, _, mac = sid.partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._mac(server, nonce)) and _digest(sid) not in self.ended

    def end(self, sid):
        self.ended[self.next_end] = _digest(sid)
        self.next_end = (self.next_end + 1) % ENDED_KEPT


def _digest(sid):
    """64 bits of ``sid``'s hash, never 0 (an empty slot); a live id meets an ended one's
    digest with odds of ~2**-52."""
    return int.from_bytes(hashlib.blake2b(sid.encode(), digest_size=8).digest()) or 1
