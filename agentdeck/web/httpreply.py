"""What both eras of the MCP front door answer with: an HTTP refusal carrying a JSON-RPC
error body, a whole JSON body, and the headers and pacing of event streams."""
from agentdeck.wire import jsonrpc

HEARTBEAT = 20.0      # seconds of silence on an SSE stream before a keep-alive comment
HANGUP_CHECK = 1.0    # seconds between two looks at a waiting stream's connection
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
