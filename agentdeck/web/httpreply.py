"""What both eras of the MCP front door answer with: an HTTP refusal carrying a JSON-RPC
error body, a whole JSON body, and the headers and pacing of event streams (theirs and
``/events``')."""
from agentdeck.wire import jsonrpc
from agentdeck.wire.fdread import hung_up

HEARTBEAT = 20.0      # seconds of silence on an SSE stream before a keep-alive comment
HANGUP_CHECK = 1.0    # seconds between two looks at a waiting stream's connection
RETRY_MS = 1000       # the reconnection delay asked of SSE clients (pool.httpsession.RESUME_GRACE counts on it)
KEEP_ALIVE = b": keep-alive\n\n"
WOKEN, GONE, QUIET = "woken", "gone", "quiet"  # what `wait_on` saw
JSON_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
SSE_HEADERS = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store"), ("X-Accel-Buffering", "no")]


class HttpError(Exception):
    """An HTTP refusal with a JSON-RPC error body."""

    def __init__(self, status, code, message, raw_id=jsonrpc.NULL_ID, data=None):
        super().__init__(message)
        self.status = status
        self.body = jsonrpc.error_line(raw_id, code, message, data)


def respond(start_response, status, body, headers=None):
    """A whole response: ``body`` (bytes) as JSON unless ``headers`` say otherwise."""
    headers = JSON_HEADERS if headers is None else headers
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def wait_on(wake, fd, heartbeat):
    """Wait on ``wake`` (an Event) while an event stream has nothing to write: WOKEN once
    it is set, GONE when the client hung up, QUIET after ``heartbeat`` seconds of silence
    (None: never), when the caller writes KEEP_ALIVE: clients read a quiet stream as alive
    (the Python SDK gives a GET stream up after two silent read timeouts). Nothing written
    means no write can fail, so the connection ``fd`` is looked at every HANGUP_CHECK
    seconds (a killed client only sends FIN). A plain call, not a generator: each
    generator level is kept on every parked stream's saved stack (0.6 KiB)."""
    quiet = 0.0
    while not wake.wait(HANGUP_CHECK):
        if fd is not None and hung_up(fd):
            return GONE
        quiet += HANGUP_CHECK
        if heartbeat is not None and quiet >= heartbeat:
            return QUIET
    return WOKEN
