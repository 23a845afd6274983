"""An agent on the HTTP side, raw `http.client` (it can hang up anywhere): initialize,
calls answered as JSON or SSE, progress streams broken on purpose and resumed with
Last-Event-ID, requests dropped mid-way, then DELETE or vanish."""
import http.client
import json
import socket
import time
import urllib.parse

from soak import payloads

TIMEOUT = 90.0  # seconds for any one HTTP exchange (faults restart children within ~15 s)
ACCEPT = "application/json, text/event-stream"


def sse_events(resp):
    """(event id, message) for each SSE event with data, as they arrive."""
    event = {}
    for raw in resp:
        line = raw.decode().rstrip("\r\n")
        if line:
            name, _, value = line.partition(":")
            event[name] = value[1:] if value.startswith(" ") else value
            continue
        if event.get("data"):
            yield event.get("id"), json.loads(event["data"])
        event = {}


class HttpClient:
    def __init__(self, fleet, server, cid):
        self.fleet, self.run, self.ledger = fleet, fleet.run, fleet.ledger
        self.cid, self.server = cid, server
        self.rng = fleet.run.random.__class__(fleet.run.random.random())
        parts = urllib.parse.urlsplit(fleet.daemon.mcp_url(server, self.rng))
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.sid = None
        self.n = 0

    def rid(self):
        self.n += 1
        return f"{self.cid}:{self.n}"

    def headers(self, accept=ACCEPT, extra=None):
        h = {"Accept": accept, "Content-Type": "application/json"}
        if self.sid:
            h.update({"Mcp-Session-Id": self.sid, "MCP-Protocol-Version": "2025-06-18"})
        h.update(extra or {})
        return h

    def open(self, method, message=None, accept=ACCEPT, extra=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        body = None if message is None else json.dumps(message).encode()
        conn.request(method, self.path, body=body, headers=self.headers(accept, extra))
        return conn, conn.getresponse()

    def exchange(self, message, check=None, kind=None, hang_up_after=None):
        """POST one message; record its answer(s). With ``hang_up_after`` events read, drop
        the stream there and resume it with Last-Event-ID."""
        rid = message.get("id")
        if rid is not None:
            self.ledger.sent(self.cid, rid, kind or message["method"])
        try:
            conn, resp = self.open("POST", message)
        except (ConnectionResetError, BrokenPipeError):
            size = len(json.dumps(message))
            if rid is None or size <= self.fleet.daemon.request_limit:
                raise
            # A body over max_request_bytes is refused with 413 unread and the connection
            # closed (README): a client still sending it sees a reset instead. Its answer.
            self.ledger.count("http_413_reset")
            self.deliver({"jsonrpc": "2.0", "id": rid, "error": {"code": -32002, "message": "reset after 413"}},
                         check)
            return 413
        try:
            if rid is None:
                resp.read()
                return resp.status
            if resp.headers.get("content-type", "").startswith("application/json"):
                answer = json.loads(resp.read())
                if answer.get("id") is None and "error" in answer:  # refused before the id was read
                    answer["id"] = rid
                    self.ledger.count(f"http_{resp.status}:{kind or message['method']}")
                self.deliver(answer, check)
                return resp.status
            if resp.status != 200:
                self.run.fail("http_status", f"{self.cid} {rid!r}: HTTP {resp.status} {resp.read()[:200]!r}")
                self.ledger.abandon(self.cid, "http error")
                return resp.status
            last = None
            for count, (event_id, msg) in enumerate(sse_events(resp), 1):
                last = event_id or last
                if self.deliver(msg, check) == rid:
                    return 200
                if hang_up_after is not None and count >= hang_up_after and last:
                    break
            else:
                self.run.fail("missing_answers", f"{self.cid} {rid!r}: the SSE stream ended without the answer")
                return 200
        finally:
            self._drop(conn)
        return self.resume(last, rid, check)

    def resume(self, last, rid, check):
        conn, resp = self.open("GET", accept="text/event-stream", extra={"Last-Event-ID": last})
        try:
            if resp.status != 200:
                self.run.fail("resume", f"{self.cid} resume after {last!r}: HTTP {resp.status}")
                self.ledger.abandon(self.cid, "resume refused")
                return resp.status
            for _, msg in sse_events(resp):
                if self.deliver(msg, check) == rid:
                    self.ledger.count("resumed")
                    return 200
            self.run.fail("missing_answers", f"{self.cid} {rid!r}: the resumed stream ended without the answer")
        finally:
            self._drop(conn)

    def deliver(self, msg, check):
        """A message that arrived; returns the id it answers (None for a notification)."""
        if "method" in msg:
            if msg["method"] == "notifications/progress" and not str(msg["params"].get("progressToken")).startswith(
                    self.cid + ":"):
                self.run.fail("misrouted_notifications", f"{self.cid} got progress {msg['params']!r}"[:200])
            return None
        self.ledger.answer(self.cid, msg.get("id"), msg, check)
        return msg.get("id")

    @staticmethod
    def _drop(conn):
        try:
            conn.sock and conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def life(self, seconds):
        try:
            self._life(seconds)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.run.fail("http_client_error", f"{self.cid} (request {self.n}): {type(exc).__name__}: {exc}")
            self.ledger.abandon(self.cid, "client error")

    def _life(self, seconds):
        rng = self.rng
        rid = self.rid()
        self.ledger.sent(self.cid, rid, "initialize")
        conn, resp = self.open("POST", payloads.request(rid, "initialize", payloads.INITIALIZE))
        self.sid = resp.headers.get("mcp-session-id")
        self.deliver(json.loads(resp.read()), None)
        conn.close()
        if not self.sid:  # refused (max_clients) or the server is down: an answer all the same
            self.ledger.close(self.cid)
            return
        self.exchange({"jsonrpc": "2.0", "method": "notifications/initialized"})
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.run.active.is_set():
            self.action(rng)
            if not self.run.sleep(rng.uniform(0.1, 1.5)):
                break
        if rng.random() < 0.3 and self.run.active.is_set():  # vanish mid-request
            rid = self.rid()
            self.ledger.sent(self.cid, rid, "slow")
            conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            conn.request("POST", self.path, json.dumps(payloads.slow(rid, 2.0)[0]).encode(), self.headers())
            time.sleep(rng.uniform(0.05, 0.5))
            self._drop(conn)
            self.ledger.abandon(self.cid, "mid-request")
            return
        if rng.random() < 0.7:
            conn, resp = self.open("DELETE")
            resp.read()
            conn.close()
        self.ledger.close(self.cid)

    def action(self, rng):
        pick = rng.random()
        if pick < 0.5:
            self.exchange(*payloads.echo(self.rid(), rng), kind="echo")
        elif pick < 0.65:
            self.exchange(*payloads.huge(self.rid(), rng), kind="huge")
        elif pick < 0.8:
            self.exchange(*payloads.progress(self.rid(), rng.randint(2, 20)), kind="progress")
        elif pick < 0.92:  # a stream broken after its first event, resumed with Last-Event-ID
            self.exchange(*payloads.progress(self.rid(), rng.randint(3, 10)), kind="progress-resumed",
                          hang_up_after=1)
        else:
            self.exchange(payloads.request(self.rid(), "resources/subscribe", {"uri": f"soak://{self.cid}"}),
                          kind="subscribe")
