"""The daemon's control socket, ``<home>/control.sock``: what `agentdeck reload` and
`agentdeck stop` talk to.

The socket is 0600 in the 0700 home, so only the home's owner reaches it: no token, and
it works whatever the status listener is (off, behind a token, on another address).
One request per connection: a JSON line ``{"command": "reload"}`` or ``{"command":
"stop"}``, answered with one JSON line once the main greenlet has done it (a reload's
report; for a stop, its exit status after the ordered stop). The wire format of the
answers is `Daemon`'s (see `server.py`); the client is `agentdeck.daemon.remote.control`.
"""
import json

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from loguru import logger

from agentdeck.errors import UserError
from agentdeck.pool.listener import bind_unix

COMMANDS = ("reload", "stop")
REQUEST_LIMIT = 4096    # bytes of one request line read at most
REQUEST_TIMEOUT = 5.0   # seconds a client has to send its request
MAX_CONNECTIONS = 8     # at once; more wait in the listen backlog
STOP_GRACE = 2.0        # seconds `stop` gives the handlers to send their last answers


class ControlServer:
    """``submit(command)`` queues a command for the main greenlet and returns an
    AsyncResult that gets the answer (a JSON-able dict)."""

    def __init__(self, path, submit):
        self.path = path
        self.submit = submit
        self.server = None  # StreamServer while listening

    def start(self):
        """Listen; a stale socket file is replaced (the daemon holds the home's lock, so no
        other daemon can be listening on it)."""
        try:
            listener = bind_unix(self.path)
        except OSError as exc:
            raise UserError(f"{self.path}: cannot listen there for `agentdeck reload` and `stop` "
                            f"({exc.strerror or exc}): remove it") from None
        self.server = StreamServer(listener, self._serve, spawn=Pool(MAX_CONNECTIONS))
        self.server.start()

    def stop(self):
        """Stop listening, give the handlers STOP_GRACE to send their answers, remove the file."""
        if self.server is None:
            return
        self.server.stop(timeout=STOP_GRACE)
        self.server = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _serve(self, sock, _address):
        command = _read_command(sock)
        if command not in COMMANDS:
            answer = {"ok": False, "error": "expected one JSON line {\"command\": C} with C one of "
                                            + ", ".join(COMMANDS)}
        else:
            answer = self.submit(command).get()
        try:
            sock.sendall(json.dumps(answer).encode() + b"\n")
        except OSError as exc:  # the CLI was interrupted (Ctrl-C): the work is done all the same
            logger.debug("control: {} answer not delivered: {}", command, exc)


def _read_command(sock):
    """The command of one request line, or None for anything else (too long, too slow, not
    JSON, no command)."""
    data = b""
    with gevent.Timeout(REQUEST_TIMEOUT, False):
        while b"\n" not in data and len(data) <= REQUEST_LIMIT:
            chunk = sock.recv(REQUEST_LIMIT + 1 - len(data))
            if not chunk:
                break
            data += chunk
    try:
        request = json.loads(data.partition(b"\n")[0])
    except ValueError:
        return None
    return request.get("command") if isinstance(request, dict) else None
