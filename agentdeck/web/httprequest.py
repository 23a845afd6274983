"""Reading HTTP/1.1 requests off a connection: llhttp (through httptools) keeps the
grammar, this module keeps the bounds and the policy.

llhttp is given exactly one request head as it arrives (up to its blank line, at most
MAX_HEAD_BYTES), then, for a chunked body, exactly the bytes of that body, one
chunk-size line or one chunk at a time: so it never runs ahead into a pipelined request,
and a body is read only as far as the application asks. A Content-Length body (whose
value llhttp has checked) is counted, not parsed. On top of llhttp's grammar:

- header names with ``_`` are dropped: the environ maps ``-`` to ``_``, and
  ``Content_Length`` must not pass for ``Content-Length`` behind a proxy that reads it
  as another header;
- Transfer-Encoding must be exactly ``chunked`` (llhttp lets ``gzip, chunked`` through);
- a repeated header is joined with ``,`` once, at the end (linear in the head);
- the path is percent-decoded once, after the query is split off.

The bodies are read by `httpbody`.
"""
import os
import time
import urllib.parse

import httptools

from agentdeck.wire.fdread import FdReader

MAX_HEAD_BYTES = 65536        # request line and headers; more is refused with 431
READ_BYTES = 65536            # one socket read of a request head
BODY_READ_BYTES = 1 << 20     # one socket read of a body, at most

# Reasons a request is refused here (labels of agentdeck_http_refused_total).
TIMEOUT = "timeout"               # no whole request head within the head timeout
BODY_TIMEOUT = "body_timeout"     # no whole body within the body deadline
MALFORMED = "malformed"           # not HTTP/1.1 as llhttp reads it, or against our policy
HEAD_TOO_LARGE = "head_too_large"


def raw_response(status, body, content_type="text/plain", headers=()):
    """A whole response that closes the connection, for answers given before (or instead
    of) the application."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {content_type}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


REFUSE_408 = raw_response("408 Request Timeout", b"the request head took too long\n")
REFUSE_408_BODY = raw_response("408 Request Timeout", b"the request body took too long\n")
REFUSE_431 = raw_response("431 Request Header Fields Too Large", b"the request head is over 64 KiB\n")
REFUSE_400 = raw_response("400 Bad Request", b"malformed HTTP request\n")


class Refused(Exception):
    """The request is answered with ``response`` (a whole response that closes the
    connection) instead of by the application; ``reason`` is counted (None: it was already)."""

    def __init__(self, response, reason, detail=""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.response = response
        self.reason = reason
        self.detail = detail


def malformed(detail):
    return Refused(REFUSE_400, MALFORMED, detail)


class Closed(Exception):
    """The client closed the connection (or broke it) while a request was read."""


class Reader:
    """The connection's bytes: what has arrived and not been used yet, and the socket,
    read and written on its descriptor (`FdReader`: a read that would find nothing waits
    for the hub first, so no request costs a failed read). The socket has no timeout of
    its own: while a call on it may wait, ``until`` says until when, and the slots' sweep
    (`httpslots`) ends a wait past it with ``expiry()``; one sweep for every connection
    costs less than a timer started and stopped per wait."""

    __slots__ = ("input", "writable", "io_timeout", "buffer", "fresh", "request_since", "waiting_since", "until",
                 "expiry")

    def __init__(self, sock, io_timeout):
        # A new client sends its request at once: read before waiting (a first wait for
        # every connection left a saved greenlet stack behind: 0.9 KiB more per stream).
        self.input = FdReader(sock.fileno(), drained=False)
        self.writable = None       # an io watcher for writability, made at the first write that waits
        self.io_timeout = io_timeout  # seconds one write may wait for the client to read
        self.buffer = b""
        self.fresh = True          # no request read yet: a connection that never sent one is not idle
        self.request_since = time.monotonic()  # when the current request's first byte came (or we accepted)
        self.waiting_since = None  # request_since while blocked waiting for more of that request, else None
        self.until = None          # the deadline of the socket call under way, or None
        self.expiry = None         # what that call raises when the sweep finds it past ``until``

    def close(self):
        """Stop watching the descriptor; call before the socket is closed."""
        self.input.close()
        if self.writable is not None:
            self.writable.close()

    def recv(self, size, until, expiry):
        """One read of at most ``size`` bytes, waiting until ``until`` at most; Closed at
        the end of the stream."""
        self.until, self.expiry = until, expiry
        try:
            chunk = self.input.read(size)
        except OSError as exc:
            raise Closed(str(exc)) from None
        finally:
            self.until = None
        if not chunk:
            raise Closed("end of stream")
        return chunk

    def send(self, data):
        """Send all of ``data``; Closed when the client reads nothing for io_timeout."""
        fd = self.input.fd
        while True:
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._wait_writable()

    def _wait_writable(self):
        hub = self.input.hub
        if self.writable is None:
            self.writable = hub.loop.io(self.input.fd, 2)
        self.until, self.expiry = time.monotonic() + self.io_timeout, self._stalled
        try:
            hub.wait(self.writable)
        finally:
            self.until = None

    def _stalled(self):
        return Closed(f"the client read nothing for {self.io_timeout:g} s")

    def take(self, size, deadline):
        """Up to ``size`` bytes: from the buffer if it has any, else from one read that
        must come before ``deadline`` (time.monotonic()), else Refused 408."""
        if self.buffer:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
            return data
        if deadline <= time.monotonic():
            raise _slow_body()
        self.waiting_since = self.request_since
        try:
            return self.recv(min(size, BODY_READ_BYTES), deadline, _slow_body)
        finally:
            self.waiting_since = None

    def put_back(self, data):
        if data:
            self.buffer = data + self.buffer

    def head(self, parser, timeout):
        """Feed ``parser`` the next request head as it arrives, up to its blank line and
        not one byte further (so llhttp refuses a bad one at its first wrong byte); False
        when the client closes (or leaves a keep-alive connection idle for ``timeout``)
        between requests. Refused (408, 431) for a head too slow or too large."""
        fed = 0      # bytes of this head given to llhttp
        tail = b""   # its last 3 bytes: the blank line may straddle two reads
        deadline = None  # the whole head by then (set at the first wait: a head already here needs none)
        if self.fresh:
            self.waiting_since = self.request_since
        try:
            while True:
                data = self.buffer
                if not fed and data[:1] in (b"\r", b"\n"):
                    data = data.lstrip(b"\r\n")  # empty lines before a request are ignored
                if data:
                    if not fed and not self.fresh:
                        self.request_since = time.monotonic()
                    window = tail + data
                    end = window.find(b"\r\n\r\n")
                    cut = len(data) if end < 0 else end + 4 - len(tail)
                    if fed + cut > MAX_HEAD_BYTES:
                        raise Refused(REFUSE_431, HEAD_TOO_LARGE)
                    feed(parser, data[:cut])
                    fed += cut
                    self.buffer = data[cut:]
                    if end >= 0:
                        self.fresh = False
                        return True
                    tail = window[-3:]
                    self.waiting_since = self.request_since
                if deadline is None:
                    deadline = time.monotonic() + timeout
                try:
                    # a client that began a request and dribbles is a slow loris (408);
                    # an idle keep-alive connection is closed quietly
                    self.buffer = self.recv(READ_BYTES, deadline, _slow_head if fed else _Idle)
                except (_Idle, Closed):
                    return False
        finally:
            self.waiting_since = None


class _Idle(Exception):
    """No request came on a connection within the head timeout."""


def _slow_head():
    return Refused(REFUSE_408, TIMEOUT)


def _slow_body():
    return Refused(REFUSE_408_BODY, BODY_TIMEOUT)


class Message:
    """llhttp's callbacks for one request: what it saw, the headers already as environ
    entries (names with ``_`` dropped; a repeated one's values kept to be joined once)."""

    __slots__ = ("url", "headers", "repeated", "head_done", "done", "chunk_header", "data")

    def __init__(self):
        self.url = b""
        self.headers = {}         # environ key -> value
        self.repeated = None      # environ key -> every value of a header given more than once
        self.head_done = False
        self.done = False         # the whole message, body included, has been parsed
        self.chunk_header = False  # a chunk-size line was accepted since this was last cleared
        self.data = []            # decoded body bytes not yet handed to the application

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        key = _KEYS.get(name)
        if key is None:
            if b"_" in name:
                return
            key = name.decode("latin-1").upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
        value = value.rstrip(b" \t").decode("latin-1")  # llhttp has dropped the leading white space
        headers = self.headers
        if key not in headers:
            headers[key] = value
        elif self.repeated is None:
            self.repeated = {key: [headers[key], value]}
        elif key in self.repeated:
            self.repeated[key].append(value)
        else:
            self.repeated[key] = [headers[key], value]

    def on_headers_complete(self):
        self.head_done = True

    def on_chunk_header(self):
        self.chunk_header = True

    def on_body(self, data):
        self.data.append(data)

    def on_message_complete(self):
        self.done = True


def feed(parser, data):
    """Give llhttp ``data``; Refused 400 when it is not HTTP/1.1."""
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        pass  # Upgrade or CONNECT: never granted; the application answers it as any request
    except httptools.HttpParserError as exc:
        raise malformed(str(exc)) from None


# The environ keys of the usual header names, so most heads need no key built.
_KEYS = {name.encode(): "HTTP_" + name.upper().replace("-", "_") for name in (
    "Host", "Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Connection", "Cookie", "Expect",
    "Last-Event-ID", "Mcp-Method", "Mcp-Name", "Mcp-Session-Id", "MCP-Protocol-Version", "Origin", "Referer",
    "Transfer-Encoding", "User-Agent")}
_KEYS.update({b"Content-Type": "CONTENT_TYPE", b"Content-Length": "CONTENT_LENGTH"})
_KEYS.update({name.lower(): key for name, key in _KEYS.items()})  # as Node's clients send them


def read_head(reader, timeout, client):
    """(WSGI environ, parser, Message, keep-alive) of the next request on ``reader``, or
    None when there is none (`Reader.head`); Refused when llhttp or our policy refuses it."""
    message = Message()
    parser = httptools.HttpRequestParser(message)
    if not reader.head(parser, timeout):
        return None
    if not message.head_done:
        raise malformed("the head did not end where its blank line is")
    target = message.url
    path, _, query = target.partition(b"?")
    environ = {"REQUEST_METHOD": parser.get_method().decode("latin-1"), "SCRIPT_NAME": "",
               "PATH_INFO": (urllib.parse.unquote_to_bytes(path) if b"%" in path else path).decode("latin-1"),
               "QUERY_STRING": query.decode("latin-1"), "SERVER_PROTOCOL": "HTTP/" + parser.get_http_version(),
               "REMOTE_ADDR": client[0] if isinstance(client, tuple) else "",
               "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": None,
               "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False}
    environ.update(message.headers)
    if message.repeated:
        for key, values in message.repeated.items():
            environ[key] = ",".join(values)
    encoding = environ.get("HTTP_TRANSFER_ENCODING")
    if encoding is not None and encoding.lower() != "chunked":
        raise malformed(f"Transfer-Encoding {encoding[:40]!r}: only chunked is served")
    # llhttp's should_keep_alive() is reset once a bodiless message completes: read it here
    connection = environ.get("HTTP_CONNECTION", "").lower()
    keep_alive = "close" not in connection if environ["SERVER_PROTOCOL"] == "HTTP/1.1" else "keep-alive" in connection
    return environ, parser, message, keep_alive
