"""The router of one pooled server: the `dispatch.Dispatcher` core plus output, client
membership and the child's lifecycle, which the proxy and the transports call.

Never blocks: output is queued and flushed once per batch of lines, when
``schedule(callback)`` runs it (the proxy hands in the hub loop's run_callback, tests a
list). Every table is pruned when its client leaves or the child exits: bounded by
clients x requests in flight, never by uptime.
"""
import time

from loguru import logger

from agentdeck.pool import replies
from agentdeck.pool.childlink import GONE
from agentdeck.pool.dispatch import Dispatcher
from agentdeck.pool.pending import PROXY, Pending, held_listen
from agentdeck.protocol import versions as v
from agentdeck.wire import jsonrpc
from agentdeck.wire.jsonrpc import NULL_ID

_CANCELLED = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d,' \
             b'"reason":"client disconnected"}}\n'


def _last_active(peer):
    return peer.last_active


def _ignore(reply):
    """on_reply of a request whose answer nobody needs."""


class Router(Dispatcher):
    def __init__(self, name, settings, schedule):
        super().__init__(name, settings, schedule)
        self.dirty = []           # clients with output to flush at the end of this batch
        self.flush_scheduled = False
        self.on_handshake = None  # called when a child was probed (to keep what it said on disk)
        self.on_empty = None      # called when the last client has left (a unit may stop its child)

    # -- output -------------------------------------------------------------------------

    def send(self, peer, out, about=None, final=False):
        """Queue ``out`` for ``peer`` (see `Peer.put`), through its era adapter if it has one."""
        adapter = peer.adapter
        if adapter is None or peer.closed:
            self.put(peer, out, about, final)
            return
        try:
            msg = jsonrpc.parse(out)
        except ValueError:
            self.put(peer, out, about, final)
            return
        to_child, to_client = adapter.to_client(msg, about)
        for item in to_client:  # the answer to the request it is about ends it (an HTTP call's stream)
            ends = about is not None and "method" not in item and jsonrpc.id_key(item.get("id")) == about
            self.put(peer, jsonrpc.dumps(item) + b"\n", about, ends)
        if to_child:
            self.adapted(peer, to_child, [])

    def put(self, peer, out, about=None, final=False):
        """Queue ``out`` for ``peer`` as it is; a client already holding client_queue_bytes
        of undelivered output is too slow and is dropped instead."""
        if peer.closed:
            return
        queued = peer.queued
        if queued >= self.settings.client_queue_bytes:
            self.stats.slow_closed += 1
            logger.warning("server {}: client {} dropped as too slow: {} bytes unsent (client_queue_bytes={})",
                           self.name, peer.cid, queued, self.settings.client_queue_bytes)
            self.drop_client(peer, "too slow")
            return
        if not queued:
            self.dirty.append(peer)
        peer.put(out, about, final)

    def to_child(self, line):
        self.link.put(line)

    def child_reachable(self):
        return self.link.state is not GONE

    def _schedule_flush(self):
        """Flush once every greenlet woken in this loop iteration has run, so lines from
        many clients go to the child in one write (and answers to a client in one)."""
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.schedule(self.flush)

    def flush(self):
        self.flush_scheduled = False
        self.link.flush()
        dirty, self.dirty = self.dirty, []
        if not dirty:
            return
        now = time.monotonic()  # receiving counts as activity: a listener is not idle
        for peer in dirty:
            if not peer.closed:
                peer.last_active = now
                peer.flush()

    # -- membership ---------------------------------------------------------------------

    def admit(self, peer):
        """Add a client unless max_clients live ones are connected. When full, clients that
        hung up unnoticed by their reader are dropped first, then the least recently used
        abandoned one (`Peer.abandoned`) is ended: nobody is refused for a slot that only
        a forgotten HTTP session holds."""
        if len(self.clients) >= self.settings.max_clients:
            for gone in [p for p in self.clients.values() if p.hung_up()]:
                self.drop_client(gone, "disconnected")
        if len(self.clients) >= self.settings.max_clients:
            oldest = min((p for p in self.clients.values() if p.abandoned()), key=_last_active, default=None)
            if oldest is None:
                self.stats.rejected += 1
                return False
            self.stats.made_room += 1
            self.drop_client(oldest, f"ended to make room (max_clients), unused for "
                                     f"{time.monotonic() - oldest.last_active:.0f} s")
        self.clients[peer.cid] = peer
        return True

    def drop_client(self, peer, reason):
        """Forget a client: its requests (the child is told they are cancelled), its routes
        and its adapter; then close it. Idempotent."""
        if peer.closed:
            return
        peer.closed = True
        self.clients.pop(peer.cid, None)
        inflight = len(peer.inflight)
        for pid in peer.inflight.values():
            pending = self.pending.pop(pid, None)
            if pending is None:
                continue
            self.link.put(_CANCELLED % pid)
        peer.inflight.clear()
        peer.held = 0
        for route in self.routes:
            route.drop(peer, self)
        peer.adapter = None
        peer.close()
        self.flush()
        logger.debug("server {}: client {} left ({}; {} in flight dropped, {} clients remain)",
                     self.name, peer.cid, reason, inflight, len(self.clients))
        if not self.clients and self.on_empty is not None:
            self.on_empty()

    # -- the child's lifecycle and the proxy's own requests -----------------------------

    def call_child(self, method, params=None, on_reply=_ignore):
        """Send the child a request of our own, ahead of held traffic; ``on_reply`` gets
        the reply message, or None when no child takes it or the child goes away first."""
        if self.link.outbox is None:
            on_reply(None)
            return
        pid = self.pending.allocate()
        self.pending[pid] = Pending(PROXY, NULL_ID, pid, method, on_reply=on_reply)
        message = {"jsonrpc": "2.0", "id": pid, "method": method}
        if params is not None:
            message["params"] = params
        self.link.put_now(jsonrpc.dumps(message) + b"\n")
        self.link.flush()

    def attach_child(self, outbox):
        """A new child is up: traffic is held until `release_child`."""
        self.link.attach(outbox)

    def child_ready(self, info):
        """The new child was probed (and initialized, if legacy) and said ``info``: what a
        legacy child was subscribed to is subscribed again, ahead of held traffic, and
        the clients' lines that waited for it are handled."""
        self.eras.child_ready(info)
        if info.era == v.LEGACY:
            for uri in self.subscriptions.uris():
                self.call_child("resources/subscribe", {"uri": uri})
        if self.on_handshake is not None:
            self.on_handshake()

    def release_child(self):
        """The child is initialized (or needs no replay): held and new traffic flows."""
        self.link.release()
        self.flush()

    def detach_child(self, why, stderr_tail=""):
        """The child is gone: every request waiting on it gets -32001 now; returns how many."""
        self.link.detach(why, stderr_tail)
        for route in self.routes:
            route.clear()
        unanswered = []
        for entry in self.pending.take_all():
            if entry.client is PROXY:
                entry.on_reply(None)
            else:
                entry.client.inflight.pop(entry.key, None)
                entry.client.held -= held_listen(entry)
                unanswered.append((entry.client, entry.raw_id, entry.key))
        for peer, raw_id, key in unanswered:
            self.send(peer, replies.unavailable(raw_id, self.name, why, stderr_tail), key, True)
        self.eras.release()  # lines that waited for a child that never came: answered -32001 now
        self.flush()
        return len(unanswered)
