"""HTTP status on ``[daemon] status_listen`` (`httpserver`): ``/status`` JSON,
``/metrics`` Prometheus text, ``/`` the HTML page, ``/events`` the stream of changes
(`events`), and the MCP front door (`mcproute`).

Bounded so no client can hurt the daemon or the other clients:

- at most MAX_CONNECTIONS connections are held at once; a write may wait IO_TIMEOUT
  for the client to read, else the connection is closed; MCP traffic (`mcproute`) never
  holds the last PAGE_RESERVE of them; when they are all taken an idle, a slow or the
  oldest MCP GET stream connection is closed to make room, else the newcomer gets 503
  with Retry-After (`httpslots`); at most MAX_PAGE_REQUESTS render a page at once;
- a request line and headers must arrive within HEAD_TIMEOUT (a slow-loris client is
  cut off; an idle keep-alive connection is closed the same way), a body within
  BODY_TIMEOUT of its head (408);
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

from gevent.lock import BoundedSemaphore
from loguru import logger

from agentdeck.errors import UserError
from agentdeck.netaddr import host_of_authority, is_loopback_host, split_host_port
from agentdeck.web import mcproute, metrics, page
from agentdeck.web.httprequest import raw_response
from agentdeck.web.httpserver import HttpServer

EVENTS_PATH = "/events"
ACCESS = "agentdeck.access"   # environ key: _allowed's verdict, once check_body has asked (None: allowed)
MAX_PAGE_REQUESTS = 16        # pages rendered at once; more wait for a turn
MAX_CONNECTIONS = 1040        # connections held at once (pages and MCP streams); then 503, see httpslots
PAGE_RESERVE = 40             # of them, never taken by /mcp/ traffic: /events' 16 streams and 16 page renders fit
HEAD_TIMEOUT = 5.0            # seconds for a request line and its headers to arrive
BODY_TIMEOUT = 10.0           # seconds for a whole request body to arrive, however it trickles
IO_TIMEOUT = 10.0             # seconds a write may wait for the client to read any of it
MAX_BODY_BYTES = 64 * 1024    # a GET has no body; anything larger is refused unread
STOP_TIMEOUT = 1.0            # seconds `stop` lets requests in progress finish
WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # bind to every address; reached locally through loopback
LOG_FIRST = 10      # refusals of one reason logged one by one...
LOG_EVERY = 1000    # ...then one line per this many

# Reasons a request is refused, the label values of agentdeck_http_refused_total
# (and httprequest's own: TIMEOUT, BODY_TIMEOUT, MALFORMED, HEAD_TOO_LARGE).
BODY_TOO_LARGE = "body_too_large"
UNAUTHORIZED = "unauthorized"     # token configured and missing or wrong
BAD_HOST = "bad_host"             # Host header not a loopback name (no token configured)
BAD_METHOD = "bad_method"


_REFUSE_413 = raw_response("413 Content Too Large", b"request bodies are not accepted (GET and HEAD only)\n")


class StatusServer:
    """The HTTP status server. ``snapshot`` returns the /status document; ``rss_samples``
    returns (unix time, bytes) pairs for the page's sparkline. `start` binds (a UserError
    naming the address if it cannot); `stop` stops accepting and closes connections."""

    def __init__(self, listen, snapshot, rss_samples, token="", head_timeout=HEAD_TIMEOUT,
                 io_timeout=IO_TIMEOUT, max_body=MAX_BODY_BYTES, mcp=None, events=None, body_timeout=BODY_TIMEOUT,
                 capacity=MAX_CONNECTIONS, reserve=PAGE_RESERVE):
        self.snapshot = snapshot
        self.rss_samples = rss_samples
        self.token = token.encode()  # b"" when every loopback request is let in
        self.mcp = mcp               # mcproute.McpRoute serving /servers/ and /mcp/, or None
        self.events = events         # events.EventsRoute serving /events, or None
        self.pages = BoundedSemaphore(MAX_PAGE_REQUESTS)
        self.max_body = max_body
        self.refused = collections.Counter()  # reason -> requests refused since start
        self.server = HttpServer(split_host_port(listen), self.app, self.refuse, self.check_body,
                                 head_timeout=head_timeout, io_timeout=io_timeout, body_timeout=body_timeout,
                                 capacity=capacity, reserve=reserve, limited=mcproute.serves)

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
        return {"refused": dict(self.refused)}

    def refuse(self, reason, client, detail=""):
        """Count a refused request; log the first few of each reason, then one in LOG_EVERY."""
        self.refused[reason] += 1
        count = self.refused[reason]
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            logger.info("http: refused {} from {} ({} refused for this reason so far) {}", reason, client, count,
                        detail)

    def check_body(self, environ, length, chunked):
        """The refusal of a request with a body, from its head alone, or None. Access comes
        first: a request without the token (or from a foreign Host) learns no server name
        or limit from a 413, and gets its 401 before any 100 Continue. Then the 413 for a
        body over the limit; on MCP paths a chunked body is read, bounded, by the route."""
        if not length and not chunked:
            return None  # nothing to refuse unread: the application answers (and checks access)
        refusal = environ[ACCESS] = self._allowed(environ)
        if refusal is not None:
            self.refuse(refusal, environ.get("REMOTE_ADDR"))
            status, content_type, body = REFUSALS[refusal]
            return raw_response(status, body, content_type, EXTRA_HEADERS.get(status[:3], ()))
        path = environ["PATH_INFO"]
        if mcproute.serves(path) and self.mcp is not None:
            body = self.mcp.refuse_announced(environ, length)
            if body is None:
                return None
            self.refuse(BODY_TOO_LARGE, path, f"an MCP body of {length} bytes")
            return raw_response("413 Content Too Large", body, "application/json")
        if chunked or length > self.max_body:
            self.refuse(BODY_TOO_LARGE, path, f"a {'chunked' if chunked else length} byte body")
            return _REFUSE_413
        return None

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
        refusal = environ[ACCESS] if ACCESS in environ else self._allowed(environ)
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "/")
        if refusal is None and self.mcp is not None and mcproute.serves(path):
            return self.mcp(environ, start_response)
        if refusal is None and method not in ("GET", "HEAD"):
            refusal = BAD_METHOD
        if refusal is not None:
            self.refuse(refusal, environ.get("REMOTE_ADDR"))
            return _respond(start_response, *REFUSALS[refusal])
        if path == EVENTS_PATH and self.events is not None:
            return self.events(environ, start_response)  # a stream: bounded by the hub, not the page slots
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
