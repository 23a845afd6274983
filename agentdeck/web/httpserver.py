"""A small HTTP/1.1 server for WSGI applications: one greenlet per connection (gevent's
StreamServer), keep-alive, bodies by Content-Length or chunked, requests read by
`httprequest` (llhttp keeps the grammar, it keeps the bounds).

Written for the status listener instead of gevent's pywsgi, which spent about 60 % of an
``/mcp/`` request's CPU on the request head (through ``email.feedparser``), the environ
and the response: here the environ holds what a route reads, and a small answer leaves
in one write with its head.

Bounds, so no client can hurt the others: a request head must arrive within
``head_timeout`` and fit in MAX_HEAD_BYTES (a keep-alive connection idle that long is
closed the same way); a body must arrive whole within ``body_timeout`` of its head;
a write may wait ``io_timeout`` for the client to read (the slots' sweep keeps these
deadlines: sockets have no timeout of their own); an answer given instead of the
application's (a refusal, a 500) is sent only if the socket takes it at once;
``check_body(environ, length, chunked)`` may refuse a body from the head alone, before
any of it is read (and a chunked one from each chunk-size line). A connection whose body was
not read to its end is closed after the answer, which says so (``Connection: close``),
as does every other answer after which the connection is closed.
"""
import socket
import time

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from loguru import logger

from agentdeck.logs.logsetup import debug_enabled
from agentdeck.web.httpbody import Body, ChunkedBody
from agentdeck.web.httprequest import REFUSE_408_BODY, Closed, Reader, Refused, raw_response, read_head
from agentdeck.web.httpslots import REQUEST, STREAM, WAITING, Evicted, Slots

SMALL_BODY_BYTES = 65536      # answers up to this size go out in one write with their head
CONNECTION_FD = "agentdeck.connection_fd"  # environ key: the request's socket fd (to watch for a hang-up)
NO_BODY_STATUSES = (b"204", b"304")
OVERFLOW = 64                 # greenlets beyond the capacity, to answer 503 or make room
RETRY_AFTER = 1               # seconds a client turned away with 503 is asked to wait
FULL = "full"                 # refusal reason: no connection free, none could be taken back (503)
EVICTED = "evicted"           # a connection taken back to make room (idle, slow, or the oldest stream)
ERROR_500 = raw_response("500 Internal Server Error", b"internal error: see the agentdeck log\n")
REFUSE_503 = raw_response("503 Service Unavailable", b"the listener is full: try again in a second\n",
                          headers=[("Retry-After", str(RETRY_AFTER))])


def _send_now(sock, data):
    """Send a short answer if the socket takes it at once; never wait for a slow reader."""
    try:
        sock.settimeout(0)
        sock.send(data)
    except OSError:
        pass


class HttpServer:
    """Serve ``app`` (WSGI) on ``address``. ``refuse(reason, client, detail)`` counts and
    logs a request refused here; ``check_body(environ, length, chunked)`` returns a whole
    response (bytes) to refuse a body with, from its head alone, or None. At most
    ``capacity`` connections are held, and requests on a path where ``limited(path)``
    is true hold at most ``capacity - reserve`` of them (`httpslots`)."""

    def __init__(self, address, app, refuse, check_body, *, head_timeout, io_timeout, body_timeout, capacity,
                 reserve=0, limited=None):
        self.app = app
        self.refuse = refuse
        self.check_body = check_body
        self.head_timeout = head_timeout
        self.io_timeout = io_timeout
        self.body_timeout = body_timeout
        self.limited = limited or (lambda path: False)
        self.slots = Slots(capacity, reserve, REFUSE_408_BODY)
        # Beyond the capacity, a few more greenlets answer 503 (or make room); past those
        # the accept loop waits.
        self.server = StreamServer(address, self._handle, spawn=Pool(capacity + OVERFLOW))

    @property
    def address(self):
        return self.server.address

    @property
    def family(self):
        return self.server.family

    def start(self):
        self.server.start()

    def stop(self, timeout):
        self.server.stop(timeout=timeout)

    def _handle(self, sock, client):
        sock.settimeout(None)  # deadlines are kept by the slots' sweep
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers must not wait for an ACK
        reader = Reader(sock, self.io_timeout)
        conn = self.slots.take(gevent.getcurrent(), reader)
        try:
            if conn is None:
                self.refuse(FULL, client)
                _send_now(sock, REFUSE_503)
                return
            while self._one_request(sock, reader, client, conn):
                pass
        except (Closed, OSError) as exc:  # gone, or stopped reading for io_timeout: its own problem
            logger.debug("http: client {} dropped: {}", client, exc)
        except Evicted as exc:
            self.refuse(EVICTED, client, "to make room")
            if exc.response:
                _send_now(sock, exc.response)
        finally:
            if conn is not None:
                self.slots.release(conn)
            reader.close()
            sock.close()

    def _refused(self, sock, client, exc):
        if exc.reason is not None:
            self.refuse(exc.reason, client, exc.detail)
        _send_now(sock, exc.response)

    def _body(self, environ, reader, parser, message):
        """The request's ``wsgi.input``; Refused when check_body refuses it."""
        chunked = "HTTP_TRANSFER_ENCODING" in environ
        length = int(environ.get("CONTENT_LENGTH") or 0)  # digits only: llhttp has checked them
        refusal = self.check_body(environ, length, chunked)
        if refusal is not None:
            raise Refused(refusal, None)  # counted by check_body
        deadline = time.monotonic() + self.body_timeout
        expect = environ.get("HTTP_EXPECT", "").lower() == "100-continue"
        if chunked:
            return ChunkedBody(reader, parser, message, deadline, expect,
                               lambda total: self.check_body(environ, total, False))
        return Body(reader, length, deadline, expect)

    def _request(self, reader, client, conn):
        """(environ, keep-alive) of the next request, its body framed; None when there is
        none. Its parser is kept only by a chunked body, not by the frame that answers:
        a stream holds that frame for hours (0.9 KiB)."""
        request = read_head(reader, self.head_timeout, client)
        if request is None:
            return None
        environ, parser, message, keep_alive = request
        if self.limited(environ["PATH_INFO"]) and not self.slots.limit(conn):
            raise Refused(REFUSE_503, FULL)
        self.slots.phase(conn, REQUEST)
        environ["wsgi.input"] = self._body(environ, reader, parser, message)
        return environ, keep_alive

    def _one_request(self, sock, reader, client, conn):
        """Read one request and answer it; True to read another on this connection."""
        try:
            request = self._request(reader, client, conn)
        except Refused as exc:
            logger.debug("http: refused a request from {}: {}", client, exc)
            self._refused(sock, client, exc)
            return False
        if request is None:
            return False
        environ, keep_alive = request
        body = environ["wsgi.input"]
        environ[CONNECTION_FD] = reader.input.fd
        method = environ["REQUEST_METHOD"]
        response = Response(reader, method == "HEAD", environ["SERVER_PROTOCOL"], keep_alive, body)
        if method == "GET" and conn.limited:  # a stream, once streaming: the last to give way for room
            response.on_stream = lambda: self.slots.phase(conn, STREAM)
        result = None
        try:
            result = self.app(environ, response.start)
            for data in result:
                response.write(data)
            response.finish()
        except (Closed, OSError):
            raise
        except Refused as exc:  # the body, as the route read it: malformed, too slow, too large
            logger.debug("http: refused the body of a request from {}: {}", client, exc)
            if response.head_sent:
                return False
            self._refused(sock, client, exc)
            return False
        except Exception:  # noqa: BLE001 -- a bug in a route: logged with its traceback, this client answered
            logger.exception("http: {} {} failed", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            if not response.head_sent:
                _send_now(sock, ERROR_500)
            return False
        finally:
            if hasattr(result, "close"):
                result.close()
            self.slots.unlimit(conn)
            self.slots.phase(conn, WAITING)
        if debug_enabled():
            logger.debug("http: {} {} {} {}", client[0] if isinstance(client, tuple) else client,
                         environ["REQUEST_METHOD"], environ["PATH_INFO"], response.status.decode())
        return response.keep_alive


class Response:
    """The answer to one request, as the application gives it: ``start`` (WSGI's
    start_response), then ``write`` per piece. Without a Content-Length an HTTP/1.1 body
    is chunked (an SSE stream), an HTTP/1.0 one ends with the connection."""

    def __init__(self, reader, head_only, protocol, keep_alive, body):
        self.reader = reader
        self.body = body  # wsgi.input: a body not read to its end closes the connection
        self.head_only = head_only
        self.http11 = protocol == "HTTP/1.1"
        self.keep_alive = keep_alive
        self.status = None
        self.headers = None
        self.head_sent = False
        self.chunked = False
        self.on_stream = None  # called when the head of a streamed (chunked) answer is sent

    def start(self, status, headers, exc_info=None):
        if exc_info is not None and self.head_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = status.encode("latin-1")
        self.headers = headers
        return self.write

    def _head(self):
        fields = "".join([f"{name}: {value}\r\n" for name, value in self.headers])
        has_length = "\ncontent-length:" in "\n" + fields.lower()  # values hold no LF: only a name starts a line
        no_body = self.status[:3] in NO_BODY_STATUSES
        if not has_length and not no_body and not self.head_only:
            if self.http11:
                self.chunked = True
            else:
                self.keep_alive = False
        if not self.body.done:
            self.keep_alive = False
        head = [b"HTTP/1.1 ", self.status, b"\r\n", fields.encode("latin-1")]
        if self.chunked:
            head.append(b"Transfer-Encoding: chunked\r\n")
            if self.on_stream is not None:
                self.on_stream()
        if not self.keep_alive:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        self.head_sent = True
        return b"".join(head)

    def write(self, data):
        if self.status is None:
            raise AssertionError("write() before start_response()")
        pieces = [] if self.head_sent else [self._head()]
        if data and not self.head_only:
            pieces += (b"%x\r\n" % len(data), data, b"\r\n") if self.chunked else (data,)
        self._send(pieces)

    def _send(self, pieces):
        """Small pieces joined into one write; a large one written on its own, uncopied."""
        small = []
        for piece in pieces:
            if len(piece) > SMALL_BODY_BYTES:
                if small:
                    self.reader.send(b"".join(small))
                    small = []
                self.reader.send(piece)
            else:
                small.append(piece)
        if small:
            self.reader.send(b"".join(small))

    def finish(self):
        if self.status is None:
            raise AssertionError("the application returned without start_response()")
        if not self.head_sent:
            self.write(b"")
        if self.chunked:
            self.reader.send(b"0\r\n\r\n")
