"""HTTP status on ``[daemon] status_listen`` (gevent's WSGI server): ``/status`` JSON,
``/metrics`` Prometheus text, ``/`` the HTML page.

Bounded so no client can hurt the daemon or the other clients:

- at most MAX_CONNECTIONS connections are served at once (the accept loop waits for a
  free slot), each with IO_TIMEOUT on every socket read and write; of them at most
  MAX_PAGE_REQUESTS render a page at once, the rest are MCP streams (`mcproute`);
- a request line and headers must arrive within HEAD_TIMEOUT (a slow-loris client is
  cut off; an idle keep-alive connection is closed the same way);
- a request body over MAX_BODY_BYTES (on ``/mcp/``: max_request_bytes) is refused with
  413 before any of it is read, and the connection is closed (the pages serve GET and
  HEAD only; no body is ever wanted there).

Access: without ``status_token`` the server is reachable on loopback only (config
enforces that) and answers only requests whose Host is a loopback name, so a web page
elsewhere cannot read it through DNS rebinding. With a token, every request must carry
it (``Authorization: Bearer TOKEN`` or ``?token=TOKEN``).
"""
import collections
import hmac
import json
import os
import socket
import time
import urllib.parse

import gevent
from gevent.lock import BoundedSemaphore
from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer
from loguru import logger

from agentdeck.errors import UserError
from agentdeck.logs.logsetup import debug_enabled
from agentdeck.netaddr import host_of_authority, is_loopback_host, split_host_port
from agentdeck.web import mcproute, metrics, page

MAX_PAGE_REQUESTS = 16        # pages rendered at once; more wait for a turn
MAX_CONNECTIONS = 1040        # connections served at once (pages and MCP streams); more wait in the backlog
HEAD_TIMEOUT = 5.0            # seconds for a request line and its headers to arrive
IO_TIMEOUT = 10.0             # seconds any one socket read or write may block
MAX_BODY_BYTES = 64 * 1024    # a GET has no body; anything larger is refused unread
SMALL_BODY_BYTES = 65536      # answers up to this size go out in one write with their head
STOP_TIMEOUT = 1.0            # seconds `stop` lets requests in progress finish
WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # bind to every address; reached locally through loopback
LOG_FIRST = 10      # refusals of one reason logged one by one...
LOG_EVERY = 1000    # ...then one line per this many

# Reasons a request is refused, the label values of agentdeck_http_refused_total.
TIMEOUT = "timeout"               # no complete request head within HEAD_TIMEOUT
BODY_TOO_LARGE = "body_too_large"
UNAUTHORIZED = "unauthorized"     # token configured and missing or wrong
BAD_HOST = "bad_host"             # Host header not a loopback name (no token configured)
BAD_METHOD = "bad_method"


def _raw_response(status, body, content_type="text/plain"):
    """A whole response for pywsgi to send as is, before any WSGI state exists."""
    return (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


_REFUSE_408 = _raw_response("408 Request Timeout", b"the request head took too long\n")
_REFUSE_413 = _raw_response("413 Content Too Large", b"request bodies are not accepted (GET and HEAD only)\n")


class SlowClient(TimeoutError):
    """The request head did not arrive within HEAD_TIMEOUT. An OSError, so pywsgi treats
    it while reading the request line like any dropped connection."""


class BodyTooLarge(ValueError):
    """The request announces a body over MAX_BODY_BYTES (or a chunked one). A ValueError,
    so pywsgi hands it to `_handle_client_error` as a client mistake."""


class McpBodyTooLarge(BodyTooLarge):
    """A POST to /mcp/ announcing more than max_request_bytes: 413 with a JSON-RPC body."""

    def __init__(self, body):
        super().__init__("an MCP body over max_request_bytes")
        self.body = body


class _QuietLog:
    """pywsgi writes one access line per request and client errors; keep them at debug level."""

    def write(self, line):
        logger.debug("http: {}", line.rstrip())


class BoundedHandler(WSGIHandler):
    """pywsgi's handler with the deadlines and the body limit described in the module.
    ``_deadline`` is the running request's head timer, set by `handle_one_request`."""

    def handle(self):
        self.socket.settimeout(self.server.io_timeout)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pywsgi sends head and body apart
        super().handle()

    def handle_one_request(self):
        self._deadline = gevent.Timeout.start_new(self.server.head_timeout, SlowClient("request head too slow"))
        try:
            return super().handle_one_request()
        finally:
            self._deadline.close()

    def get_environ(self):
        environ = super().get_environ()
        environ[mcproute.CONNECTION_FD] = self.socket.fileno()  # an MCP stream watches it for a hang-up
        return environ

    def read_requestline(self):
        try:
            return super().read_requestline()
        except SlowClient:
            self.server.refuse(TIMEOUT, self.client_address)
            raise

    def read_request(self, raw_requestline):
        try:
            ok = super().read_request(raw_requestline)
        finally:
            self._deadline.close()  # the head is in: the answer is not under this deadline
        chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if self.path.startswith(mcproute.PREFIX) and self.server.mcp is not None:
            refusal = self.server.mcp.refuse_announced(self.path, self.content_length or 0)
            if refusal is not None:  # a chunked body is read bounded by the route itself
                raise McpBodyTooLarge(refusal)
        elif chunked or (self.content_length or 0) > self.server.max_body:
            raise BodyTooLarge(f"a {'chunked' if chunked else self.content_length} byte body")
        return ok

    def _handle_client_error(self, ex):
        if isinstance(ex, SlowClient):
            self.server.refuse(TIMEOUT, self.client_address)
            return ("408", _REFUSE_408)
        if isinstance(ex, BodyTooLarge):
            self.server.refuse(BODY_TOO_LARGE, self.client_address, ex)
            if isinstance(ex, McpBodyTooLarge):
                return ("413", _raw_response("413 Content Too Large", ex.body, "application/json"))
            return ("413", _REFUSE_413)
        return super()._handle_client_error(ex)

    def log_request(self):
        if debug_enabled():  # the access line is a DEBUG line: not formatted for nothing on each request
            super().log_request()

    def _write_with_headers(self, data):
        """Head and a small body in one write (pywsgi sends them in two, and a keep-alive
        client's delayed ACK would stall the second); a large body is not copied."""
        if self.response_use_chunked or not data or len(data) > SMALL_BODY_BYTES:
            return super()._write_with_headers(data)
        self.headers_sent = True
        self.finalize_headers()
        head = bytearray(b"HTTP/1.1 ")
        head += self.status
        head += b"\r\n"
        for header, value in self.response_headers:
            head += header + b": " + value + b"\r\n"
        head += b"\r\n"
        head += data
        self._sendall(head)

    def handle_error(self, t, v, tb):
        # A client that stopped reading (IO_TIMEOUT) or went away mid-answer: its problem, not
        # a bug, and one line per such client (a scraper that hangs up) is noise at INFO.
        if issubclass(t, (TimeoutError, ConnectionError)):
            logger.debug("http: client {} dropped: {}", self.client_address, v)
            self.close_connection = True
            return
        super().handle_error(t, v, tb)


class _BoundedWSGIServer(WSGIServer):
    handler_class = BoundedHandler

    def __init__(self, address, app, head_timeout, io_timeout, max_body, mcp):
        super().__init__(address, app, spawn=Pool(MAX_CONNECTIONS), log=_QuietLog(), error_log=_QuietLog())
        self.head_timeout = head_timeout
        self.io_timeout = io_timeout
        self.max_body = max_body
        self.mcp = mcp  # the McpRoute, or None
        self.refused = collections.Counter()  # reason -> requests refused since start

    def refuse(self, reason, client, detail=""):
        """Count a refused request; log the first few of each reason, then one in LOG_EVERY."""
        self.refused[reason] += 1
        count = self.refused[reason]
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            logger.info("http: refused {} from {} ({} refused for this reason so far) {}", reason, client, count,
                        detail)


class StatusServer:
    """The HTTP status server. ``snapshot`` returns the /status document; ``rss_samples``
    returns (unix time, bytes) pairs for the page's sparkline. `start` binds (a UserError
    naming the address if it cannot); `stop` stops accepting and closes connections."""

    def __init__(self, listen, snapshot, rss_samples, token="", head_timeout=HEAD_TIMEOUT,
                 io_timeout=IO_TIMEOUT, max_body=MAX_BODY_BYTES, mcp=None):
        self.snapshot = snapshot
        self.rss_samples = rss_samples
        self.token = token.encode()  # b"" when every loopback request is let in
        self.mcp = mcp               # mcproute.McpRoute serving /mcp/, or None
        self.pages = BoundedSemaphore(MAX_PAGE_REQUESTS)
        host, port = split_host_port(listen)
        self.server = _BoundedWSGIServer((host, port), self.app, head_timeout, io_timeout, max_body, mcp)

    def start(self):
        try:
            self.server.start()
        except OSError as exc:
            host, port = self.server.address[:2]
            # gevent appends the address to strerror; the errno's own words read better
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise UserError(f"cannot serve status on {host}:{port}: {reason} "
                            "(set [daemon] status_listen to a free port, or \"\" to turn it off)") from None

    @property
    def url(self):
        """The URL a local client uses; a wildcard bind is reached through loopback."""
        host, port = self.server.address[:2]
        if host in WILDCARD_HOSTS:
            host = "127.0.0.1" if self.server.family == socket.AF_INET else "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stats(self):
        """The server's own counters, for /status and /metrics."""
        return {"refused": dict(self.server.refused)}

    def stop(self):
        self.server.stop(timeout=STOP_TIMEOUT)

    # -- WSGI

    def _allowed(self, environ):
        """None when the request may be answered, else the refusal reason."""
        if self.token:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            given = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
            given = given or (query.get("token") or [""])[0]
            return None if hmac.compare_digest(given.encode(), self.token) else UNAUTHORIZED
        host = environ.get("HTTP_HOST")
        return None if host is None or is_loopback_host(host_of_authority(host)) else BAD_HOST

    def app(self, environ, start_response):
        refusal = self._allowed(environ)
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "/")
        if refusal is None and self.mcp is not None and path.startswith(mcproute.PREFIX):
            return self.mcp(environ, start_response)
        if refusal is None and method not in ("GET", "HEAD"):
            refusal = BAD_METHOD
        if refusal is not None:
            self.server.refuse(refusal, environ.get("REMOTE_ADDR"))
            return _respond(start_response, *REFUSALS[refusal])
        with self.pages:
            return self._page_route(path, environ, start_response)

    def _page_route(self, path, environ, start_response):
        route = ROUTES.get(path)
        if route is None:
            return _respond(start_response, "404 Not Found", "text/plain", b"not found: try /, /status or /metrics\n")
        content_type, build = route
        query = environ.get("QUERY_STRING", "")
        return _respond(start_response, "200 OK", content_type, build(self, "?" + query if query else ""))

    def _status(self, query):
        return json.dumps(self.snapshot()).encode()

    def _metrics(self, query):
        return metrics.render(self.snapshot()).encode()

    def _page(self, query):
        return page.render(self.snapshot(), self.rss_samples(), time.time(), query).encode()


# Content-Security-Policy for everything we serve: no scripts, no external anything.
SECURITY_HEADERS = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")]
ROUTES = {
    "/": ("text/html; charset=utf-8", StatusServer._page),
    "/status": ("application/json", StatusServer._status),
    "/metrics": (metrics.CONTENT_TYPE, StatusServer._metrics),
}
EXTRA_HEADERS = {"401": [("WWW-Authenticate", "Bearer")], "405": [("Allow", "GET, HEAD")]}
REFUSALS = {
    UNAUTHORIZED: ("401 Unauthorized", "text/plain",
                   b"this agentdeck status server needs its token: Authorization: Bearer TOKEN or ?token=TOKEN\n"),
    BAD_HOST: ("403 Forbidden", "text/plain", b"use a loopback address (127.0.0.1 or localhost) to reach agentdeck\n"),
    BAD_METHOD: ("405 Method Not Allowed", "text/plain", b"only GET and HEAD are served\n"),
}


def _respond(start_response, status, content_type, body):
    extra = EXTRA_HEADERS.get(status[:3], [])
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            *SECURITY_HEADERS, *extra])
    return [body]
