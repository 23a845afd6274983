"""Each client of one child in its own era and version (DESIGN.md, "Protocol eras"):
what the router answers itself (a legacy client's ``initialize`` and ``ping``, a modern
client's ``server/discover``, envelope errors and the methods 2026-07-28 removed), the
adapter each client gets to the child's era, and which requests of the child a client
may be sent.

A client's era is decided by its first request that shows one: ``initialize`` makes it
legacy, the modern envelope modern; a client that shows neither (a raw socket client)
is legacy with capabilities unknown, and is asked whatever the child asks, as before.
Until anything is known of the child (its first probe, or the handshake kept on disk)
every client line waits here, bounded like the child's backlog.
"""
import secrets
import time

from loguru import logger

from agentdeck.pool import replies
from agentdeck.protocol import front
from agentdeck.protocol import versions as v
from agentdeck.protocol.adapters import adapter_for
from agentdeck.protocol.clients import ClientState
from agentdeck.protocol.legacyclient import LegacyToModern
from agentdeck.protocol.modernclient import ModernToLegacy
from agentdeck.wire import jsonrpc
from agentdeck.wire.jsonrpc import error_line, result_line


class ClientEras:
    def __init__(self, router):
        self.router = router
        self.child = None                      # protocol.child.ChildInfo of the child, once known
        self.early = []                        # (peer, line) read before it was known
        self.early_bytes = 0
        self.key = secrets.token_bytes(32)     # HMAC key of the requestStates modern clients carry

    # -- before the child is known

    def hold(self, peer, line):
        router = self.router
        if self.early_bytes + len(line) > router.settings.client_queue_bytes:
            router.send(peer, replies.not_reading(jsonrpc.guess_id(line[:4096], line[-512:]), router.name,
                                                  self.early_bytes))
            return
        self.early.append((peer, line))
        self.early_bytes += len(line)

    def release(self):
        """The child is known (or gone): the lines that waited are handled, in order."""
        early, self.early, self.early_bytes = self.early, [], 0
        for peer, line in early:
            if not peer.closed:
                self.router._client_line(peer, line)  # counted when it was read
        self.router._schedule_flush()

    def child_ready(self, info):
        """A child was probed (first or again): clients' adapters follow its era; a
        restarted modern child gets the listens legacy clients hold opened again."""
        before, self.child = self.child, info
        router = self.router
        for peer in list(router.clients.values()):
            if peer.proto is None:
                continue
            if before is None or before.era != info.era:
                self.choose_adapter(peer)
            elif isinstance(peer.adapter, LegacyToModern):
                router.adapted(peer, *peer.adapter.start())
        if before is not None and before.era != info.era:
            logger.info("server {}: the child now speaks {} ({}); was {}", router.name, info.era, info.version,
                        before.era)
        self.release()

    # -- requests answered here

    def answered_here(self, peer, raw_id, key, method, params):
        """Answer ``initialize``, ``ping``, ``server/discover`` and bad envelopes, and learn
        the client's era; False when the request goes on to the child."""
        router, proto = self.router, peer.proto
        if self.child is None and method in ("initialize", "server/discover"):  # never known: it failed at once
            link = router.link
            router.send(peer, replies.unavailable(raw_id, router.name, link.why, link.stderr_tail), key, True)
            return True
        if front.removed_in_modern(method, params):
            router.send(peer, error_line(raw_id, v.METHOD_NOT_FOUND, f"{method} is not part of MCP 2026-07-28, "
                                         "which this request carries in its _meta", {"method": method}), key, True)
            return True
        if method == "ping":
            router.send(peer, result_line(raw_id, b"{}"), key, True)
            return True
        if method == "initialize":
            return self._initialize(peer, raw_id, key, params)
        if front.opening_era(method, params) == v.MODERN or method == "server/discover" or \
                (proto is not None and proto.era == v.MODERN):
            error = front.check_envelope(params)
            if error is None and proto is not None and proto.era == v.LEGACY and proto.capabilities is not None:
                error = front.error(jsonrpc.INVALID_REQUEST, "this connection speaks the 2025 protocol it "
                                    "initialized with; requests carrying the 2026-07-28 envelope are not accepted on it")
            if error is not None:
                router.send(peer, error_line(raw_id, error["code"], error["message"], error.get("data")), key, True)
                return True
            self._modern(peer, params["_meta"])
            if method == "server/discover":
                router.send(peer, result_line(raw_id, jsonrpc.dumps(self.child.discover_result())), key, True)
                return True
            return False
        if proto is None:
            peer.proto = ClientState(v.LEGACY, v.NEWEST_LEGACY)  # capabilities unknown: asked as before
            self.choose_adapter(peer)
        return False

    def _initialize(self, peer, raw_id, key, params):
        router = self.router
        params = params if isinstance(params, dict) else {}
        requested = params.get("protocolVersion")
        if peer.proto is not None and peer.proto.era == v.MODERN:
            router.send(peer, error_line(raw_id, v.UNSUPPORTED_VERSION, "this connection speaks 2026-07-28; the "
                                         "initialize handshake is not accepted on it",
                                         {"supported": list(v.MODERN_VERSIONS), "requested": requested}), key, True)
            return True
        capabilities = params.get("capabilities")
        info = params.get("clientInfo")
        peer.proto = ClientState(v.LEGACY, v.legacy_answer(requested),
                                 capabilities if isinstance(capabilities, dict) else {},
                                 info if isinstance(info, dict) else None)
        router.send(peer, result_line(raw_id, jsonrpc.dumps(self.child.initialize_result(requested))), key, True)
        self.choose_adapter(peer)
        return True

    def _modern(self, peer, meta):
        info = meta.get(v.CLIENT_INFO) if isinstance(meta.get(v.CLIENT_INFO), dict) else None
        proto = peer.proto
        if proto is None or proto.era != v.MODERN:
            peer.proto = ClientState(v.MODERN, meta[v.PROTOCOL_VERSION], meta[v.CLIENT_CAPABILITIES], info)
            self.choose_adapter(peer)
        else:  # capabilities are per request: what the child may ask now is what this one declared
            proto.capabilities = meta[v.CLIENT_CAPABILITIES]
            proto.client_info = info or proto.client_info

    def choose_adapter(self, peer):
        if self.child is None:
            return
        peer.adapter = adapter_for(peer.proto, self.child.era, key=self.key, cid=peer.cid, clock=time.monotonic)
        if isinstance(peer.adapter, LegacyToModern):
            self.router.adapted(peer, *peer.adapter.start())

    # -- requests of the child

    def child_request_for(self, peer, line, msg, raw_id):
        """The line of the child's request ``msg`` as ``peer`` may get it, or None when
        it may not be asked (the child is answered with an error here)."""
        proto = peer.proto
        if proto is None:
            return line
        method = msg["method"]
        params = msg.get("params")
        if proto.era == v.LEGACY:
            if not front.declares(proto.capabilities, method):
                return self._refuse(raw_id, method, "did not declare the capability for it")
            if not front.can_carry(method, params, proto.version):
                return self._refuse(raw_id, method, f"speaks MCP {proto.version}, which cannot carry it")
            legacy = front.for_legacy_client(method, params, proto.version)
            if legacy is not params:
                return jsonrpc.dumps(dict(msg, params=legacy))
        elif not front.declares(proto.capabilities, method):
            return self._refuse(raw_id, method, "did not declare the capability for it")
        return line

    def _refuse(self, raw_id, method, why):
        self.router.to_child(error_line(raw_id, v.METHOD_NOT_FOUND, f"the client this request would go to {why}",
                                        {"server": self.router.name, "method": method}))
        return None

    # -- time

    def expire(self, now):
        """Answer the child for the requests modern clients never retried (the idle sweep calls it)."""
        for peer in list(self.router.clients.values()):
            if isinstance(peer.adapter, ModernToLegacy):
                to_child = peer.adapter.expire(now)
                if to_child:
                    self.router.adapted(peer, to_child, [])
