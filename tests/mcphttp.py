"""A raw MCP Streamable HTTP client for the tests: every request and every SSE read has a
deadline, and it can misbehave on purpose (wrong headers, early hang-ups, no reading)."""
import http.client
import json
import socket
import urllib.parse

import gevent

INIT_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {"roots": {}, "sampling": {}},
               "clientInfo": {"name": "test", "version": "1"}}
ACCEPT_BOTH = "application/json, text/event-stream"


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def events(self):
        """The messages of an SSE body (empty priming events left out)."""
        return [json.loads(e["data"]) for e in parse_sse(self.body) if e.get("data")]


def parse_sse(text):
    events = []
    for block in text.decode().split("\n\n"):
        if not block.strip():
            continue
        event = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            event[name] = value[1:] if value.startswith(" ") else value
        events.append(event)
    return events


class McpHttp:
    """One HTTP session on ``url`` (http://host:port/mcp/NAME)."""

    def __init__(self, url, version="2025-06-18", timeout=10.0, token=None):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.version = version
        self.timeout = timeout
        self.token = token  # the status server's, sent as Authorization: Bearer
        self.sid = None

    def connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def headers(self, extra=None, accept=ACCEPT_BOTH):
        headers = {"Accept": accept, "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.sid:
            headers["Mcp-Session-Id"] = self.sid
        if self.sid and self.version:
            headers["MCP-Protocol-Version"] = self.version
        headers.update(extra or {})
        return {k: v for k, v in headers.items() if v is not None}

    def send(self, method, body=None, headers=None, path=None):
        """One whole request and response."""
        conn = self.connection()
        try:
            with gevent.Timeout(self.timeout, AssertionError(f"no answer to {method} within {self.timeout} s")):
                data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
                conn.request(method, path or self.path, body=data, headers=headers or {})
                resp = conn.getresponse()
                return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def post(self, message, extra=None):
        return self.send("POST", message, self.headers(extra))

    def initialize(self, id_=0):
        reply = self.post({"jsonrpc": "2.0", "id": id_, "method": "initialize", "params": INIT_PARAMS})
        assert reply.status == 200, (reply.status, reply.body)
        self.sid = reply.headers["mcp-session-id"]
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status == 202
        return reply

    def call(self, id_, tool, arguments=None, meta=None):
        params = {"name": tool, "arguments": arguments or {}}
        if meta:
            params["_meta"] = meta
        return self.post({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params})

    def open_stream(self, method="GET", body=None, extra=None):
        """An SSE response left open: read it with `Stream.next_event`."""
        conn = self.connection()
        data = None if body is None else json.dumps(body).encode()
        headers = self.headers(extra, accept=ACCEPT_BOTH if method == "POST" else "text/event-stream")
        conn.request(method, self.path, body=data, headers=headers)
        resp = conn.getresponse()
        return Stream(conn, resp, self.timeout)


class Stream:
    def __init__(self, conn, resp, timeout):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.timeout = timeout
        self.ids = []  # every event id seen, the priming event's included

    def next_event(self, timeout=None):
        """The next SSE event with data, as (id, message); None at the end of the stream."""
        with gevent.Timeout(timeout or self.timeout, AssertionError("no SSE event in time")):
            event = {}
            while True:
                line = self.resp.readline()
                if not line:
                    return None
                line = line.decode().rstrip("\r\n")
                if line:
                    name, _, value = line.partition(":")
                    event[name] = value[1:] if value.startswith(" ") else value
                    continue
                if "id" in event:
                    self.ids.append(event["id"])
                if event.get("data"):
                    return event.get("id"), json.loads(event["data"])
                event = {}

    def hang_up(self):
        """Drop the connection without reading the rest (not a cancel, says the spec)."""
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN,
               "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
               "io.modelcontextprotocol/clientCapabilities": {}}
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


class ModernHttp(McpHttp):
    """A 2026-07-28 client: no session, every request on its own POST with the headers
    the binding requires, mirrored from the body (override them with ``extra``)."""

    def __init__(self, url, timeout=10.0):
        super().__init__(url, version=None, timeout=timeout)

    @staticmethod
    def message(id_, method, params=None, meta=None):
        params = dict(params or {})
        params["_meta"] = {**MODERN_META, **(meta or {})}
        return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}

    def modern_headers(self, body, extra=None):
        headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": MODERN}
        if isinstance(body, dict) and "method" in body:
            headers["Mcp-Method"] = body["method"]
            field = NAMED.get(body["method"])
            if field is not None:
                headers["Mcp-Name"] = body["params"][field]
        headers.update(extra or {})
        return {k: v for k, v in headers.items() if v is not None}

    def post(self, message, extra=None):
        return self.send("POST", message, self.modern_headers(message, extra))

    def request(self, id_, method, params=None, meta=None, extra=None):
        return self.post(self.message(id_, method, params, meta), extra)

    def call(self, id_, tool, arguments=None, meta=None):
        return self.request(id_, "tools/call", {"name": tool, "arguments": arguments or {}}, meta)
