"""A small HTTP/1.1 server for WSGI applications: one greenlet per connection (gevent's
StreamServer), keep-alive, bodies by Content-Length or chunked.

Written for the status listener instead of gevent's pywsgi, which spent about 60 % of an
``/mcp/`` request's CPU on the request head (through ``email.feedparser``), the environ
and the response: here a head is split on CRLF once, the environ holds what a route
reads, and a small answer leaves in one write with its head.

Bounds, so no client can hurt the others: a request head must arrive within
``head_timeout`` and fit in MAX_HEAD_BYTES (a keep-alive connection idle that long is
closed the same way); every socket read and write may block for ``io_timeout``;
``check_body(path, length, chunked)`` may refuse a body from the head alone, before any
of it is read. A connection whose body was not read to its end is closed after the answer.
"""
import socket
import urllib.parse

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from loguru import logger

from agentdeck.logs.logsetup import debug_enabled

MAX_HEAD_BYTES = 65536        # request line and headers; more is refused with 431
READ_BYTES = 65536            # one socket read of a request head
BODY_READ_BYTES = 1 << 20     # one socket read of a body, at most
SMALL_BODY_BYTES = 65536      # answers up to this size go out in one write with their head
CHUNK_LINE_BYTES = 1024       # a chunk-size line of a chunked body, extensions included
CONNECTION_FD = "agentdeck.connection_fd"  # environ key: the request's socket fd (to watch for a hang-up)
TIMEOUT = "timeout"           # the refusal reason for a head that did not arrive in time
NO_BODY_STATUSES = (b"204", b"304")


def raw_response(status, body, content_type="text/plain"):
    """A whole response that closes the connection, for answers given before any application runs."""
    return (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


REFUSE_408 = raw_response("408 Request Timeout", b"the request head took too long\n")
REFUSE_431 = raw_response("431 Request Header Fields Too Large", b"the request head is over 64 KiB\n")
REFUSE_400 = raw_response("400 Bad Request", b"malformed HTTP request\n")
ERROR_500 = raw_response("500 Internal Server Error", b"internal error: see the agentdeck log\n")


class SlowHead(Exception):
    """The request head did not arrive within head_timeout."""


class Closed(Exception):
    """The client closed the connection (or broke it) while a request was read."""


class Reader:
    """The connection's incoming bytes: what has arrived and not been used yet, and the socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def recv(self, size=READ_BYTES):
        """One read of at most ``size`` bytes; Closed at the end of the stream."""
        try:
            chunk = self.sock.recv(size)
        except OSError as exc:
            raise Closed(str(exc)) from None
        if not chunk:
            raise Closed("end of stream")
        return chunk

    def fill(self):
        self.buffer += self.recv()

    def take(self, size):
        """Up to ``size`` bytes: from the buffer if it has any, else from one read."""
        if not self.buffer:
            return self.recv(min(size, BODY_READ_BYTES))
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def line(self, limit):
        """One CRLF-ended line (without it), at most ``limit`` bytes."""
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise ValueError("line too long")
            self.fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        if len(line) > limit:
            raise ValueError("line too long")
        return line


class Body:
    """``wsgi.input`` for a body of known length."""

    def __init__(self, reader, length):
        self.reader, self.left = reader, length

    @property
    def done(self):
        return self.left == 0

    def read(self, size=-1):
        want = self.left if size is None or size < 0 else min(size, self.left)
        parts = []
        while want:
            data = self.reader.take(want)
            parts.append(data)
            want -= len(data)
            self.left -= len(data)
        return b"".join(parts)


class ChunkedBody:
    """``wsgi.input`` for a chunked body: its data, decoded, read only as far as asked."""

    def __init__(self, reader):
        self.reader = reader
        self.chunk_left = 0  # bytes left in the current chunk
        self.done = False

    def read(self, size=-1):
        parts, got = [], 0
        while not self.done and (size is None or size < 0 or got < size):
            if self.chunk_left == 0:
                self._next_chunk()
                continue
            want = self.chunk_left if size is None or size < 0 else min(self.chunk_left, size - got)
            data = self.reader.take(want)
            parts.append(data)
            got += len(data)
            self.chunk_left -= len(data)
            if self.chunk_left == 0 and self.reader.line(0) != b"":
                raise ValueError("chunk not followed by CRLF")
        return b"".join(parts)

    def _next_chunk(self):
        size_text = self.reader.line(CHUNK_LINE_BYTES).split(b";", 1)[0].strip()
        try:
            self.chunk_left = int(size_text, 16)
        except ValueError:
            raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
        if self.chunk_left < 0:
            raise ValueError("negative chunk size")
        if self.chunk_left == 0:
            while self.reader.line(MAX_HEAD_BYTES):  # trailers, ignored
                pass
            self.done = True


class HttpServer:
    """Serve ``app`` (WSGI) on ``address``. ``refuse(reason, client, detail)`` counts and
    logs a request refused here; ``check_body(path, length, chunked)`` returns a whole
    response (bytes) to refuse a body with, from its head alone, or None."""

    def __init__(self, address, app, refuse, check_body, head_timeout, io_timeout, max_connections):
        self.app = app
        self.refuse = refuse
        self.check_body = check_body
        self.head_timeout = head_timeout
        self.io_timeout = io_timeout
        self.server = StreamServer(address, self._handle, spawn=Pool(max_connections))

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
        sock.settimeout(self.io_timeout)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers must not wait for an ACK
        reader = Reader(sock)
        try:
            while self._one_request(sock, reader, client):
                pass
        except (Closed, OSError) as exc:  # gone, or stopped reading for io_timeout: its own problem
            logger.debug("http: client {} dropped: {}", client, exc)
        finally:
            sock.close()

    def _read_head(self, reader, client):
        """The request head (without its blank line); None on a connection left idle."""
        timer = gevent.Timeout.start_new(self.head_timeout, SlowHead)
        try:
            while True:
                end = reader.buffer.find(b"\r\n\r\n")
                if 0 <= end <= MAX_HEAD_BYTES:
                    head, reader.buffer = reader.buffer[:end], reader.buffer[end + 4:]
                    return head
                if len(reader.buffer) > MAX_HEAD_BYTES:
                    reader.sock.sendall(REFUSE_431)
                    return None
                try:
                    reader.fill()
                except Closed:
                    return None
        except SlowHead:
            if reader.buffer.strip():  # a client that began a request and dribbles: a slow loris
                self.refuse(TIMEOUT, client)
                reader.sock.sendall(REFUSE_408)
            return None  # else an idle keep-alive connection, closed quietly
        finally:
            timer.close()

    def _one_request(self, sock, reader, client):
        """Read one request and answer it; True to read another on this connection."""
        head = self._read_head(reader, client)
        if head is None:
            return False
        try:
            environ, keep_alive = self._environ(head.lstrip(b"\r\n"), client)
        except ValueError as exc:
            logger.debug("http: malformed request from {}: {}", client, exc)
            sock.sendall(REFUSE_400)
            return False
        length, chunked = environ.pop("agentdeck.length"), environ.pop("agentdeck.chunked")
        refusal = self.check_body(environ["PATH_INFO"], length, chunked)
        if refusal is not None:
            sock.sendall(refusal)
            return False
        if chunked:
            body = ChunkedBody(reader)
        else:
            body = Body(reader, length)
        if (length or chunked) and environ.get("HTTP_EXPECT", "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ["wsgi.input"] = body
        environ[CONNECTION_FD] = sock.fileno()
        response = Response(sock, environ["REQUEST_METHOD"] == "HEAD", environ["SERVER_PROTOCOL"], keep_alive)
        result = None
        try:
            result = self.app(environ, response.start)
            for data in result:
                response.write(data)
            response.finish()
        except (Closed, OSError):
            raise
        except ValueError as exc:  # a malformed chunked body, met by the route's read
            logger.debug("http: bad body from {}: {}", client, exc)
            if not response.head_sent:
                sock.sendall(REFUSE_400)
            return False
        except Exception:  # noqa: BLE001 -- a bug in a route: logged with its traceback, this client answered
            logger.exception("http: {} {} failed", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            if not response.head_sent:
                sock.sendall(ERROR_500)
            return False
        finally:
            if hasattr(result, "close"):
                result.close()
        if debug_enabled():
            logger.debug("http: {} {} {} {}", client[0] if isinstance(client, tuple) else client,
                         environ["REQUEST_METHOD"], environ["PATH_INFO"], response.status.decode())
        return response.keep_alive and body.done

    @staticmethod
    def _environ(head, client):
        """(the WSGI environ of a request head, whether the connection may be kept open).
        ValueError for a malformed head."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise ValueError(f"bad request line {lines[0][:80]!r}")
        method, target, version = parts
        path, _, query = target.partition(b"?")
        environ = {"REQUEST_METHOD": method.decode("latin-1"), "SCRIPT_NAME": "",
                   "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
                   "QUERY_STRING": query.decode("latin-1"), "SERVER_PROTOCOL": version.decode("latin-1"),
                   "REMOTE_ADDR": client[0] if isinstance(client, tuple) else "",
                   "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": None,
                   "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name[-1:] in b" \t" or line[:1] in b" \t":
                raise ValueError(f"bad header line {line[:80]!r}")
            key = name.decode("latin-1").upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            value = value.strip().decode("latin-1")
            environ[key] = environ[key] + "," + value if key in environ else value
        connection = environ.get("HTTP_CONNECTION", "").lower()
        keep_alive = "close" not in connection if version == b"HTTP/1.1" else "keep-alive" in connection
        encoding = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if encoding and encoding != "chunked":
            raise ValueError(f"transfer-encoding {encoding!r}")
        chunked = encoding == "chunked"
        length = environ.get("CONTENT_LENGTH", "")
        if chunked and length:
            raise ValueError("both Content-Length and chunked")
        if length and not length.isdigit():
            raise ValueError(f"bad Content-Length {length[:20]!r}")
        environ["agentdeck.length"], environ["agentdeck.chunked"] = int(length or 0), chunked
        return environ, keep_alive


class Response:
    """The answer to one request, as the application gives it: ``start`` (WSGI's
    start_response), then ``write`` per piece. Without a Content-Length an HTTP/1.1 body
    is chunked (an SSE stream), an HTTP/1.0 one ends with the connection."""

    def __init__(self, sock, head_only, protocol, keep_alive):
        self.sock = sock
        self.head_only = head_only
        self.http11 = protocol == "HTTP/1.1"
        self.keep_alive = keep_alive
        self.status = None
        self.headers = None
        self.head_sent = False
        self.chunked = False

    def start(self, status, headers, exc_info=None):
        if exc_info is not None and self.head_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = status.encode("latin-1")
        self.headers = headers
        return self.write

    def _head(self):
        has_length = any(name.lower() == "content-length" for name, _ in self.headers)
        no_body = self.status[:3] in NO_BODY_STATUSES
        if not has_length and not no_body and not self.head_only:
            if self.http11:
                self.chunked = True
            else:
                self.keep_alive = False
        head = [b"HTTP/1.1 ", self.status, b"\r\n"]
        for name, value in self.headers:
            head += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        if self.chunked:
            head.append(b"Transfer-Encoding: chunked\r\n")
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
                    self.sock.sendall(b"".join(small))
                    small = []
                self.sock.sendall(piece)
            else:
                small.append(piece)
        if small:
            self.sock.sendall(b"".join(small))

    def finish(self):
        if self.status is None:
            raise AssertionError("the application returned without start_response()")
        if not self.head_sent:
            self.write(b"")
        if self.chunked:
            self.sock.sendall(b"0\r\n\r\n")
