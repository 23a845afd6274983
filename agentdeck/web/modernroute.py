"""A 2026-07-28 request over HTTP, which carries no session: one POST, one router client
(`pool.moderncall`), one response. The response is plain JSON when the request's answer
is the only message for it, else an event stream scoped to the request (its progress
and log messages, then its answer; events have no ids, 2026-07-28 streams are not
resumed). A ``subscriptions/listen`` keeps its stream open for the notifications it
asked for, with keep-alive comments while quiet. Closing a response cancels its request.

An answer that is a JSON body takes its HTTP status from its error: 404 for an unknown
method (-32601), 400 for an unsupported version (-32022), else 200. The headers are
checked against the body first (`modernpost`).
"""
from agentdeck.pool import replies
from agentdeck.protocol import versions as v
from agentdeck.web import modernpost
from agentdeck.web.httpreply import GONE, HEARTBEAT, JSON_HEADERS, KEEP_ALIVE, QUIET, SSE_HEADERS, WOKEN, respond, \
    wait_on
from agentdeck.web.httpserver import CONNECTION_FD
from agentdeck.wire import jsonrpc

CHECKED_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name")
ERROR_STATUS = {v.METHOD_NOT_FOUND: "404 Not Found", v.UNSUPPORTED_VERSION: "400 Bad Request"}
RETRY_AFTER = "1"  # seconds a client refused at max_clients is asked to wait: modern requests come and go


def post(proxy, project, environ, start_response, raw, body):
    """Answer the modern POST ``body`` (``raw``: its bytes) to ``proxy``'s child of
    ``project``. Raises `children.Refused` when there is no child for it."""
    headers = {name: environ["HTTP_" + name.upper().replace("-", "_")] for name in CHECKED_HEADERS
               if "HTTP_" + name.upper().replace("-", "_") in environ}
    refusal = modernpost.check(headers, body)
    if refusal is not None:
        return respond(start_response, refusal.status,
                       jsonrpc.error_line(refusal.raw_id, refusal.code, refusal.message, refusal.data))
    unit = proxy.modern_unit(project)
    params = body.get("params")
    call = unit.modern.open(params.get("requestState") if params.__class__ is dict else None)
    if call is None:
        limit = proxy.settings.max_clients
        return respond(start_response, "503 Service Unavailable",
                       replies.too_many_clients(jsonrpc.dumps(body["id"]), proxy.name, limit),
                       JSON_HEADERS + [("Retry-After", RETRY_AFTER)])
    # The child reads one message per line; a JSON body holds newlines only as white space.
    unit.router.from_client(call, [raw.strip().replace(b"\r", b" ").replace(b"\n", b" ")])
    return _answer(unit.modern, call, start_response, environ.get(CONNECTION_FD))


def _answer(calls, call, start_response, fd):
    answer = None
    try:
        if _wait(call, fd, None) is not WOKEN:
            start_response("503 Service Unavailable", JSON_HEADERS)
            return
        lines = call.take()
        line, final = lines[0]
        if final and len(lines) == 1:
            answer = line
            start_response(_status_of(line), JSON_HEADERS + [("Content-Length", str(len(line)))])
            yield line
            return
        start_response("200 OK", SSE_HEADERS)(b"")  # the head now: the client sees a stream
        while True:
            for line, final in lines:
                yield b"event: message\ndata: " + line.rstrip(b"\n") + b"\n\n"
                if final:
                    answer = line
                    return
            seen = _wait(call, fd, HEARTBEAT)
            while seen is QUIET:
                yield KEEP_ALIVE
                seen = _wait(call, fd, HEARTBEAT)
            if seen is GONE:
                return
            lines = call.take()
    finally:
        calls.done(call, answer)


def _wait(call, fd, heartbeat):
    """Wait for ``call``'s next messages (`httpreply.wait_on`): WOKEN when there are some,
    GONE when its client hung up (also how it cancels its request) or the router closed it."""
    while not call.pending:
        if not call.open:
            return GONE
        seen = wait_on(call.wake, fd, heartbeat)
        if seen is not WOKEN:
            return seen
        call.wake.clear()
    return WOKEN


def _status_of(line):
    if b'"error"' not in line:
        return "200 OK"
    try:
        error = jsonrpc.parse(line).get("error")
    except ValueError:
        return "200 OK"
    code = error.get("code") if error.__class__ is dict else None
    return ERROR_STATUS.get(code, "200 OK")
