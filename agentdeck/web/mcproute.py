"""``/mcp/<name>`` and ``/servers/<name>/mcp``: every pooled server as MCP Streamable HTTP (2025-06-18; 2025-03-26
clients, with their batches, and 2025-11-25 ones, with the SSE priming event, accepted).

- POST one message (or a 2025-03-26 batch). Requests get 200: ``application/json`` when
  their answer is the only message for the call, else ``text/event-stream``; the headers
  wait for the first message of the call to choose. Only notifications or responses: 202.
- GET opens the session's stream for what the server sends unprompted, or with
  ``Last-Event-ID`` resumes a stream from the session's replay ring (one it no longer
  knows, say from before a daemon restart, opens the session's stream: 200, not 404).
- ``/mcp/<name>/p/<key>`` is the same server for the project whose directory the key
  names (`wire.hello.project_key`): a server shared per project (``share = "project"``)
  runs one child per project, and refuses a URL without one with 400.
- ``/servers/<name>/mcp`` and ``/servers/<name>/p/<key>/mcp`` are the same two, at paths
  ending in ``/mcp`` as some clients require (the MCP Inspector makes any other path end
  so); `agentdeck.clientfiles.endpoint` writes these.
- A POST without ``Mcp-Session-Id`` in MCP 2026-07-28 is a request of its own, with no
  session (`modernroute`).
- DELETE ends the session. ``Mcp-Session-Id`` is set on the initialize answer; any other
  request without it is 400, with an unknown or ended one 404.

Each HTTP session is a client of the server's router (`pool.httpsession`). Bad input is
an HTTP status with a JSON-RPC error body; nothing here blocks anyone but its own
connection. Access (token, Host) is checked by the status server before this runs;
a present ``Origin`` must be a loopback one.
"""
import functools
import re
import time
import urllib.parse

from loguru import logger

from agentdeck.netaddr import is_loopback_host
from agentdeck.pool import replies
from agentdeck.pool.httpsession import GET_TAG
from agentdeck.pool.children import Refused
from agentdeck.web import httprequest, modernpost, modernroute
from agentdeck.web.httpreply import GONE, HEARTBEAT, JSON_HEADERS, KEEP_ALIVE, QUIET, RETRY_MS, SSE_HEADERS, \
    HttpError, wait_on
from agentdeck.web.httpreply import respond as _respond
from agentdeck.web.httpserver import CONNECTION_FD
from agentdeck.wire import jsonrpc
from agentdeck.wire.hello import project_of_key
from agentdeck.wire.jsonrpc import REQUEST, classify, id_key

PREFIX = "/servers/"        # /servers/NAME[/p/<key>]/mcp
ENDPOINT_PART = "/mcp"      # ... the end of every /servers/ path
LEGACY_PREFIX = "/mcp/"     # /mcp/NAME[/p/<key>]: the first URLs, still served
PREFIXES = (PREFIX, LEGACY_PREFIX)
PROJECT_PART = "/p/"        # .../p/<key>: the project of the client
LEGACY_VERSION = "2025-03-26"  # assumed when MCP-Protocol-Version is absent; allows batches
VERSIONS = ("2024-11-05", LEGACY_VERSION, "2025-06-18", "2025-11-25")
PRIMING_FROM = "2025-11-25"    # sessions of this version and later get the SSE priming event
SERVER = "agentdeck.mcp_server"  # environ key: the request's (proxy, project), once found
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")  # what the specification allows in Mcp-Session-Id


def loopback_origin(origin):
    """True for an Origin on a loopback host (a page served from this machine)."""
    try:
        return is_loopback_host(urllib.parse.urlsplit(origin).hostname or "")
    except ValueError:  # a malformed port or address
        return False


def serves(path):
    """True for a path under this route (the status server sends it here, not to its pages)."""
    return path.startswith(PREFIXES)


def parse_path(path):
    """(server name, project key or None) named by a request path, None for a path that
    names no server (a /servers/ one not ending in /mcp). ``path`` is PATH_INFO, already
    percent-decoded once: decoding it again would let ``%2574`` reach ``t``, and a ``?``
    in it is part of the path (``%3F``), not the start of a query."""
    if path.startswith(PREFIX):
        rest = path[len(PREFIX):].rstrip("/")
        if not rest.endswith(ENDPOINT_PART):
            return None
        rest = rest[:-len(ENDPOINT_PART)]
    elif path.startswith(LEGACY_PREFIX):
        rest = path[len(LEGACY_PREFIX):].rstrip("/")
    else:
        return None
    name, part, key = rest.partition(PROJECT_PART)
    return (name, key) if part else (name, None)


def _accepts(environ, *types):
    accept = environ.get("HTTP_ACCEPT", "")
    return (_accepted if len(accept) <= 256 else _accepted.__wrapped__)(accept, types)


@functools.lru_cache(maxsize=64)  # a client sends the same Accept with every request (short ones kept)
def _accepted(accept, types):
    listed = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return all(t in listed or "*/*" in listed for t in types)


class McpRoute:
    """The WSGI side of the front door. ``server_of(name)`` returns the pooled server's
    proxy (with ``router``, ``http`` and ``settings``) or None."""

    def __init__(self, server_of):
        self.server_of = server_of

    def _server(self, environ):
        """(proxy or None, project directory or None) of a request's path, found once per
        request (the body's limit asks before the route runs)."""
        found = environ.get(SERVER)
        if found is None:
            found = environ[SERVER] = self._server_of(environ.get("PATH_INFO", ""))
        return found

    def _server_of(self, path):
        named = parse_path(path)
        if named is None:
            return None, None
        name, key = named
        if key is None:
            return self.server_of(name), None
        try:
            project = project_of_key(key)
        except ValueError as exc:
            raise HttpError("404 Not Found", jsonrpc.INVALID_REQUEST, f"{exc}: `agentdeck mcp json --dir DIR` "
                            "writes the URL of a project") from None
        return self.server_of(name), project

    def refuse_announced(self, environ, length):
        """The 413 body for a POST announcing more than max_request_bytes, else None."""
        try:
            proxy, _ = self._server(environ)
        except HttpError:
            return None
        if proxy is None or length <= proxy.settings.max_request_bytes:
            return None
        return _too_large(proxy.name, length, proxy.settings.max_request_bytes).body

    def __call__(self, environ, start_response):
        try:
            return self._handle(environ, start_response)
        except HttpError as exc:
            return _respond(start_response, exc.status, exc.body)
        except Refused as exc:  # no project for a per-project server, or max_children
            status = "200 OK" if exc.code == jsonrpc.TOO_MANY_CLIENTS else "400 Bad Request"
            return _respond(start_response, status, exc.line(jsonrpc.NULL_ID))

    def _handle(self, environ, start_response):
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not loopback_origin(origin):
            raise HttpError("403 Forbidden", jsonrpc.INVALID_REQUEST,
                            f"origin {origin!r} may not use agentdeck: only loopback pages may")
        path = environ.get("PATH_INFO", "")
        proxy, project = self._server(environ)
        if proxy is None:
            raise HttpError("404 Not Found", jsonrpc.INVALID_REQUEST, f"no pooled MCP server at {path!r}: "
                            "`agentdeck mcp list` shows the servers, each at /servers/NAME/mcp")
        method = environ.get("REQUEST_METHOD")
        if method == "POST":
            return self._post(proxy, project, environ, start_response)
        if method == "GET":
            return self._get(proxy, project, environ, start_response)
        if method == "DELETE":
            unit, session = self._session(proxy, project, environ)
            unit.router.drop_client(session, "ended by the client (DELETE)")
            return _respond(start_response, "204 No Content", b"", [])
        raise HttpError("405 Method Not Allowed", jsonrpc.INVALID_REQUEST, "use POST, GET or DELETE")

    # -- sessions

    def _version(self, environ):
        version = environ.get("HTTP_MCP_PROTOCOL_VERSION") or LEGACY_VERSION
        if version not in VERSIONS:
            raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST,
                            f"unsupported MCP-Protocol-Version {version!r}: supported are {', '.join(VERSIONS)}")
        return version

    def _session(self, proxy, project, environ):
        """(the unit serving it, the session) of a request's Mcp-Session-Id."""
        sid = environ.get("HTTP_MCP_SESSION_ID")
        if not sid:
            raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST,
                            "missing Mcp-Session-Id: send initialize first and then the id it returned")
        if not _VISIBLE_ASCII.fullmatch(sid):
            raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST,
                            "malformed Mcp-Session-Id: an id is visible ASCII only; send the one initialize returned")
        unit, session = proxy.http_find(project, sid, self._version(environ))
        if session is None:
            raise HttpError("404 Not Found", jsonrpc.INVALID_REQUEST,
                            "unknown or ended session: initialize again for a new one")
        return unit, session

    # -- POST

    def _read_body(self, proxy, environ):
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != "application/json":
            raise HttpError("415 Unsupported Media Type", jsonrpc.INVALID_REQUEST,
                            "POST bodies must be Content-Type: application/json")
        limit = proxy.settings.max_request_bytes
        try:
            raw = environ["wsgi.input"].read(limit + 1)
        except httprequest.Refused as exc:
            if exc.reason != httprequest.BODY_TIMEOUT:
                raise
            raise HttpError("408 Request Timeout", jsonrpc.INVALID_REQUEST,
                            "the body did not arrive in time: send it whole, at once") from None
        if len(raw) > limit:
            raise _too_large(proxy.name, len(raw), limit)
        try:
            return raw, jsonrpc.parse(raw)
        except ValueError:
            raise HttpError("400 Bad Request", jsonrpc.PARSE_ERROR, "parse error: the body is not valid JSON "
                            "(UTF-8)", data={"server": proxy.name}) from None

    def _post(self, proxy, project, environ, start_response):
        if not _accepts(environ, "application/json", "text/event-stream"):
            raise HttpError("406 Not Acceptable", jsonrpc.INVALID_REQUEST,
                            "Accept must list both application/json and text/event-stream")
        raw, body = self._read_body(proxy, environ)
        if modernpost.is_modern(environ.get("HTTP_MCP_PROTOCOL_VERSION"), environ.get("HTTP_MCP_SESSION_ID"), body):
            return modernroute.post(proxy, project, environ, start_response, raw, body)
        batch = body.__class__ is list
        messages = body if batch else [body]
        if not messages:
            raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST, "invalid request: an empty batch")
        requests, initialize = [], None
        for message in messages:
            kind, why = classify(message)
            if kind is jsonrpc.INVALID:
                raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST, f"invalid request: {why}")
            if kind is REQUEST:
                if message["id"].__class__ not in jsonrpc.ID_TYPES:
                    raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST, "invalid request: id must be a "
                                    "string or a number")
                requests.append(message)
                if initialize is None and message["method"] == "initialize":
                    initialize = message
        if initialize is not None:
            if batch:
                raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST, "initialize must be sent on its own")
            try:
                unit, session = proxy.http_create(project, self._initialize_version(initialize))
            except Refused as exc:
                status = "200 OK" if exc.code == jsonrpc.TOO_MANY_CLIENTS else "400 Bad Request"
                return _respond(start_response, status, exc.line(jsonrpc.dumps(initialize["id"])), JSON_HEADERS)
            if session is None:
                limit = proxy.settings.max_clients
                return _respond(start_response, "200 OK", replies.too_many_clients(
                    jsonrpc.dumps(initialize["id"]), proxy.name, limit), JSON_HEADERS)
        else:
            unit, session = self._session(proxy, project, environ)
            if batch and session.protocol != LEGACY_VERSION:
                raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST,
                                f"batches are not part of MCP {session.protocol}: send one message per POST")
        keys = [id_key(m["id"]) for m in requests]
        if len(set(keys)) < len(keys) or not session.calls.keys().isdisjoint(keys) or \
                not session.inflight.keys().isdisjoint(keys):
            raise HttpError("400 Bad Request", jsonrpc.INVALID_REQUEST,
                            "invalid request: this id is already in flight in this session")
        # A JSON body holds newlines only as white space, and the child reads one message per
        # line; a single message keeps its bytes otherwise (ids round-trip exactly).
        lines = [jsonrpc.dumps(m) for m in messages] if batch else \
            [raw.strip().replace(b"\r", b" ").replace(b"\n", b" ")]
        if not requests:
            session.last_active = time.monotonic()
            unit.router.from_client(session, lines, messages)
            return _respond(start_response, "202 Accepted", b"", [])
        stream = session.open_post(keys, single=not batch)
        unit.router.from_client(session, lines, messages)  # decoded here: the router does not again
        headers = [("Mcp-Session-Id", session.sid)] if initialize is not None else []
        return self._answer(session, stream, start_response, headers, fd=environ.get(CONNECTION_FD))

    @staticmethod
    def _initialize_version(message):
        params = message.get("params")
        version = params.get("protocolVersion") if params.__class__ is dict else None
        return version if version in VERSIONS else LEGACY_VERSION

    def _answer(self, session, stream, start_response, headers, fd=None):
        """The response to a POST: JSON when the first message for the call is its
        answer (`HttpSession.put`), else an SSE stream until every answer it owes is written."""
        sse = False
        try:
            while not stream.pending and not stream.closed:
                stream.wake.wait()
            if stream.closed:
                start_response("503 Service Unavailable", JSON_HEADERS + headers)
                return
            if stream.pending[0][0] is None:
                line = stream.take()[0][1]
                start_response("200 OK", JSON_HEADERS + headers + [("Content-Length", str(len(line)))])
                yield line  # a large one after its head, uncopied (httpserver.Response)
                return
            sse = True
            start_response("200 OK", SSE_HEADERS + headers)(b"")  # the headers now: the client sees a stream
            yield from self._events(session, stream, fd)
        finally:
            session.stream_ended(stream, sse)

    # -- GET

    def _get(self, proxy, project, environ, start_response):
        if not _accepts(environ, "text/event-stream"):
            raise HttpError("406 Not Acceptable", jsonrpc.INVALID_REQUEST, "GET needs Accept: text/event-stream")
        _, session = self._session(proxy, project, environ)
        stream = session.open_get(environ.get("HTTP_LAST_EVENT_ID"))
        write = start_response("200 OK", SSE_HEADERS)
        return self._stream(session, stream, write, environ.get(CONNECTION_FD))

    def _stream(self, session, stream, write, fd):
        try:
            write(b"")  # the head now, not at the first event: clients wait for it before they listen
            yield from self._events(session, stream, fd)
        finally:
            session.stream_ended(stream, True)

    def _events(self, session, stream, fd):
        if session.protocol >= PRIMING_FROM:
            yield b"id: %s\nretry: %d\ndata: \n\n" % (session.priming_id(stream.tag).encode(), RETRY_MS)
        while not stream.closed:
            for event_id, line, _ in stream.take():
                yield b"id: " + event_id.encode() + b"\nevent: message\ndata: " + line.rstrip(b"\n") + b"\n\n"
            if stream.done:
                return
            if not stream.pending and not stream.closed:
                seen = wait_on(stream.wake, fd, HEARTBEAT)
                if seen is GONE:
                    logger.debug("http: stream {} of session {}: the client hung up", stream.tag, session.cid)
                    return
                if seen is QUIET:
                    yield KEEP_ALIVE
        if stream.tag != GET_TAG:
            logger.debug("http: server stream {} of session {} closed before its answers", stream.tag, session.cid)


def _too_large(server, size, limit):
    return HttpError("413 Content Too Large", jsonrpc.MESSAGE_TOO_LARGE,
                     f"request of {size} bytes or more exceeds the limit of {limit} bytes (max_request_bytes); "
                     "it was not sent to the server", data={"server": server, "size": size, "limit": limit})
