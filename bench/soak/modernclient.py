"""An MCP 2026-07-28 agent on the HTTP side, raw `http.client`: no session, every request
a POST of its own carrying the ``_meta`` envelope and the headers mirrored from it,
answered as JSON or on a stream of its own (a progress call), sometimes dropped mid-way
(the only cancel this era has over HTTP). The same ledger checks it: exactly one answer
per request, its own, and a result in the modern shape (``resultType``)."""
import http.client
import json
import time

from soak import payloads
from soak.httpclient import ACCEPT, TIMEOUT, HttpClient

MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "soak-modern", "version": "1"}}
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}  # the request's Mcp-Name


def modern(message):
    """``message`` (a request of `payloads`) as a 2026-07-28 request: the envelope in
    ``params._meta``, beside what the request carries there (a progressToken)."""
    params = dict(message.get("params") or {})
    params["_meta"] = {**ENVELOPE, **(params.get("_meta") or {})}
    return {**message, "params": params}


def modern_check(check):
    """``check`` of a payload, and first the modern shape of a result."""
    def both(message):
        result = message.get("result")
        if isinstance(result, dict) and "resultType" not in result:
            return f"a 2026-07-28 result without resultType: {json.dumps(result)[:120]}"
        return check(message) if check else None
    return both


class ModernHttpClient(HttpClient):
    def headers(self, accept=ACCEPT, extra=None):
        return {"Accept": accept, "Content-Type": "application/json", "MCP-Protocol-Version": MODERN,
                **(extra or {})}

    def open(self, method, message=None, accept=ACCEPT, extra=None):
        extra = dict(extra or {})
        if message is not None:
            extra["Mcp-Method"] = message["method"]
            field = NAMED.get(message["method"])
            if field is not None:
                extra["Mcp-Name"] = message["params"][field]
        return super().open(method, message, accept, extra)

    def send(self, kind, message, check):
        self.exchange(modern(message), modern_check(check), kind=kind)

    def _life(self, seconds):
        rng = self.rng
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.run.active.is_set():
            pick = rng.random()
            if pick < 0.55:
                self.send("modern-echo", *payloads.echo(self.rid(), rng))
            elif pick < 0.75:
                self.send("modern-huge", *payloads.huge(self.rid(), rng))
            elif pick < 0.95:  # its progress on a stream of its own, then its answer
                self.send("modern-progress", *payloads.progress(self.rid(), rng.randint(2, 20)))
            else:
                self.send("modern-list", payloads.request(self.rid(), "tools/list"), None)
            if not self.run.sleep(rng.uniform(0.1, 1.5)):
                break
        if rng.random() < 0.3 and self.run.active.is_set():  # hang up mid-request: its cancel
            rid = self.rid()
            self.ledger.sent(self.cid, rid, "modern-slow")
            message = modern(payloads.slow(rid, 2.0)[0])
            conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            extra = {"Mcp-Method": "tools/call", "Mcp-Name": "slow"}
            conn.request("POST", self.path, json.dumps(message).encode(), self.headers(extra=extra))
            time.sleep(rng.uniform(0.05, 0.5))
            self._drop(conn)
            self.ledger.abandon(self.cid, "mid-request")
            return
        self.ledger.close(self.cid)
