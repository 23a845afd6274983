"""SocketProxy: one pooled MCP server — its Unix socket, its socket clients, its idle
sweep, and its children (`children.ServerChildren`: one `unit.ChildUnit` per child, by
the server's sharing scope), which the HTTP route (`web.mcproute`) reaches too.

A socket client names its project with the bridge's hello (`wire.hello`), which the
proxy consumes and never forwards. On a share = "all" server a client that sends none
is an ordinary client; on a server that needs a project its first request is answered
with an error that says how to name one, and it is closed.

Greenlets per proxy: the StreamServer's accept watcher (no greenlet), one reader per
socket client, the idle sweeper; each unit's supervisor loop, health monitor and child
reader; a greenlet per unit being stopped.
"""
import os
import socket
import time

import gevent
from gevent.lock import BoundedSemaphore
from gevent.pool import Group
from gevent.server import StreamServer
from loguru import logger

from agentdeck.pool import replies, states
from agentdeck.pool.children import Refused, ServerChildren
from agentdeck.pool.listener import SocketInUse, bind_unix
from agentdeck.pool.sockclient import SocketClient
from agentdeck.wire import jsonrpc
from agentdeck.wire.fdread import CHUNK_SIZE
from agentdeck.wire.hello import parse_hello
from agentdeck.wire.lines import LineSplitter, Oversize

FREE_LINE_BYTES = 65536    # of an unfinished request line a client holds without a long-line slot
IDLE_SWEEP_MAX = 10.0      # seconds between idle sweeps at most
REJECT_SLOTS = 8           # connections over max_clients being answered -32003 at once; more are closed
REJECT_READ_TIMEOUT = 2.0  # seconds to wait for a rejected client's first request (for its id)
REJECT_HEAD_BYTES = 4096   # of that request kept to find its id (the rest is read and dropped)


class SocketProxy:
    """``log``, ``open_log``, ``close_log`` and ``handshakes`` are for the children (see
    `children.ServerChildren`); ``session_ids`` is the pool's `sessionids.SessionIds`."""

    def __init__(self, spec, settings, socket_path, log, open_log, close_log, long_lines, handshakes, session_ids):
        self.spec = spec
        self.path = str(socket_path)
        self.long_lines = long_lines  # pool-wide semaphore: clients assembling a line > FREE_LINE_BYTES
        self.next_cid = 1
        self.children = ServerChildren(spec, settings, log, open_log, close_log, handshakes, session_ids,
                                       self._new_cid, self._crashed)
        self.greenlets = Group()      # the idle sweeper
        self.connections = Group()    # one greenlet per accepted connection (admitted or being refused)
        self.rejecting = BoundedSemaphore(REJECT_SLOTS)
        self.external = False         # the socket is served by another live agentdeck
        self.listen_error = None      # why the socket could not be bound
        self.server = None            # StreamServer while accepting
        self.greeting = 0             # connections whose first line (the hello) is being read
        self.stopping = False

    @property
    def name(self):
        return self.spec.name

    def _new_cid(self):
        cid = self.next_cid
        self.next_cid += 1
        return cid

    @property
    def settings(self):
        return self.children.settings

    @property
    def units(self):
        return self.children.units

    @property
    def shared(self):
        return self.children.shared

    @property
    def router(self):
        """The router of the share = "all" child (None for other scopes)."""
        unit = self.shared
        return unit.router if unit is not None else None

    @property
    def supervisor(self):
        unit = self.shared
        return unit.supervisor if unit is not None else None

    @property
    def state(self):
        if self.external:
            return states.EXTERNAL
        unit = self.shared
        if unit is not None:
            return unit.state
        if self.listen_error is not None:
            return states.FATAL
        # Children come and go with their clients: the server is ready while it listens.
        return states.RUNNING if self.server is not None and not self.stopping else states.STOPPED

    def apply_settings(self, settings):
        """A reload's [pool] settings, in force at once for every child and client."""
        self.children.apply_settings(settings)

    def apply_bounds(self, spec):
        """A reload that changed only max_children or idle_stop: in force at once, no child restarts."""
        self.spec = self.children.spec = spec

    def http_create(self, project, protocol):
        return self.children.http_create(project, protocol)

    def http_find(self, project, sid, protocol):
        return self.children.http_find(project, sid, protocol)

    def modern_unit(self, project):
        return self.children.modern_unit(project)

    # -- lifecycle --------------------------------------------------------------------

    def start(self):
        """Bind the socket and start the share = "all" child. A socket held by another live
        agentdeck is left alone (state `external`); any other problem marks the server `fatal`."""
        try:
            listener = bind_unix(self.path)
        except SocketInUse:
            self.external = True
            logger.warning("server {}: {} is served by another live process; leaving it alone", self.name, self.path)
            return
        except OSError as exc:
            self.listen_error = f"cannot listen on {self.path}: {exc.strerror or exc}"
            if self.shared is not None:
                self.shared.supervisor.fail(self.listen_error)
            else:
                logger.error("server {}: failed permanently: {}", self.name, self.listen_error)
            return
        # Admission is the router's (max_clients, read at each connect): the accept loop
        # itself is not bounded by a pool that a reload could not resize.
        self.server = StreamServer(listener, self._serve_client, spawn=self.connections.spawn)
        self.server.start()
        if self.shared is not None:
            self.shared.start()
        self.greenlets.spawn(self._sweep_idle).link_exception(self._crashed)
        logger.info("server {}: listening on {} (share = {})", self.name, self.path, self.spec.share)

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("server {}: background greenlet crashed", self.name)

    def stop(self):
        """Stop accepting, stop every child (in-flight requests finish briefly; SIGTERM to
        each process group, SIGKILL after a grace period), close clients, remove the socket."""
        if self.stopping:
            return
        self.stopping = True
        if self.server is not None:
            self.server.close()
        self.greenlets.kill()
        children, unanswered = self.children.stop()
        self.connections.kill(block=False)
        self._remove_socket()
        logger.info("server {}: stopped ({} children; {} requests answered with -32001)", self.name, children,
                    unanswered)

    def kill_now(self):
        """Second SIGINT: SIGKILL every child's process group and remove the socket, no grace."""
        self.children.kill_now()
        if self.server is not None:
            self.server.close()
        self._remove_socket()

    def _remove_socket(self):
        """Remove our socket file (never one we did not bind: an external owner keeps its own)."""
        if self.server is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    # -- socket clients -----------------------------------------------------------------

    def _serve_client(self, sock, _address):
        cid = self._new_cid()
        unit = None
        client = SocketClient(cid, sock, lambda exc: unit.router.drop_client(client, f"write failed: {exc}"),
                              self.name, LineSplitter(self.settings.max_request_bytes))
        first = []
        if self.spec.share == "all":
            unit = self.units[""]
            if not unit.router.admit(client):
                client.input.close()
                self._reject_over_max_clients(sock)
                return
        else:
            if self.greeting >= self.settings.max_clients:  # connections not yet placed count as clients
                client.input.close()
                self._reject_over_max_clients(sock)
                return
            self.greeting += 1
            try:
                first = self._read_first(client)
            finally:
                self.greeting -= 1
            if first is None:  # gone, or silent for idle_timeout before its first line
                client.input.close()
                sock.close()
                return
            is_hello, project = parse_hello(first[0]) if first else (False, None)
            if is_hello:
                first = first[1:]
            try:
                unit = self.children.unit_for(project, cid)
            except Refused as refusal:
                client.input.close()
                self._reject(sock, refusal.line, _refused_head(first, client.splitter))
                logger.warning("server {}: refused a client: {}", self.name, refusal.message)
                return
            if not unit.router.admit(client):
                client.input.close()
                self._reject_over_max_clients(sock, _refused_head(first, client.splitter))
                return
        router = unit.router
        # DEBUG: a record built here would give this greenlet a thread object for its lifetime.
        logger.debug("server {}: client {} joined ({} clients)", self.name, cid, len(router.clients))
        splitter = client.splitter
        long_lines = self.long_lines
        has_slot = False
        reason = "disconnected"
        expect_hello = not first and self.spec.share == "all"
        try:
            if first:
                router.from_client(client, first)
            while True:
                held = splitter.held
                if held >= FREE_LINE_BYTES and not has_slot:
                    long_lines.acquire()
                    has_slot = True
                data = client.input.read(CHUNK_SIZE if has_slot else FREE_LINE_BYTES - held)
                if not data:
                    if splitter.pending:
                        reason = f"disconnected mid-line ({splitter.pending} bytes discarded)"
                    break
                client.last_active = time.monotonic()
                items = splitter.feed(data)
                if expect_hello and items:
                    expect_hello = False
                    if parse_hello(items[0])[0]:  # the bridge names its project: nothing to do here
                        items = items[1:]
                router.from_client(client, items)
                if has_slot and splitter.held < FREE_LINE_BYTES:
                    long_lines.release()
                    has_slot = False
        except OSError as exc:
            if not client.closed:
                reason = f"connection error: {exc}"
        except gevent.GreenletExit:  # drop_client() closed it and logged why
            reason = "closed by the proxy"
        finally:
            if has_slot:
                long_lines.release()
            router.drop_client(client, reason)

    def _read_first(self, client):
        """The lines of a new client's first reads, up to its first whole line (the hello,
        if it sends one); [] when that line is over FREE_LINE_BYTES (not a hello); None
        when the client leaves or stays silent for idle_timeout."""
        splitter = client.splitter
        timeout = gevent.Timeout(self.settings.idle_timeout)
        timeout.start()
        try:
            while splitter.held < FREE_LINE_BYTES:
                data = client.input.read(FREE_LINE_BYTES - splitter.held)
                if not data:
                    return None
                client.last_active = time.monotonic()
                items = splitter.feed(data)
                if items:
                    return items
            return []
        except gevent.Timeout as exc:
            if exc is not timeout:
                raise
            return None
        except OSError:
            return None
        finally:
            timeout.close()

    def _sweep_idle(self):
        """Close socket clients idle for idle_timeout, end HTTP sessions idle for
        http_session_idle (`Peer.is_idle`), stop project children without a client for
        idle_stop. One timer per server, not one per client."""
        while True:
            settings = self.settings
            shortest = min(settings.idle_timeout, settings.http_session_idle, self.spec.idle_stop)
            gevent.sleep(min(max(shortest / 4, 0.1), IDLE_SWEEP_MAX))
            now = time.monotonic()
            for unit in list(self.units.values()):
                router = unit.router
                router.eras.expire(now)
                for client in [c for c in router.clients.values() if c.is_idle(now, self.settings)]:
                    router.stats.idle_closed += 1
                    router.drop_client(client, f"idle for {now - client.last_active:.0f} s")
            self.children.retire_idle(now)

    def _reject_over_max_clients(self, sock, head=b""):
        limit = self.settings.max_clients
        self._reject(sock, lambda raw_id: replies.too_many_clients(raw_id, self.name, limit), head)
        logger.warning("server {}: refused a client: {} clients already (max_clients)", self.name, limit)

    def _reject(self, sock, reply, head=b""):
        """A client that cannot be served: answer its first request with ``reply(raw_id)``
        and close. ``head`` is what has come of that request line so far; the rest is read
        here, and dropped past REJECT_HEAD_BYTES (at most max_request_bytes, for at most
        REJECT_READ_TIMEOUT), for its id. A line not read to its end is answered null: its
        sender, which did not finish writing it, sends it again on its next connection (the
        bridge does). With every reject slot busy the client is answered null at once, unread."""
        whole = b"\n" in head
        if not whole and self.rejecting.acquire(blocking=False):
            seen, limit = len(head), self.settings.max_request_bytes
            try:
                with gevent.Timeout(REJECT_READ_TIMEOUT, False):
                    while not whole and seen <= limit:
                        chunk = sock.recv(CHUNK_SIZE)
                        if not chunk:
                            break
                        seen += len(chunk)
                        whole = b"\n" in chunk
                        if len(head) < REJECT_HEAD_BYTES:
                            head += chunk[:REJECT_HEAD_BYTES - len(head)]
            except OSError:
                pass
            finally:
                self.rejecting.release()
        raw_id = jsonrpc.guess_id(head.partition(b"\n")[0]) if whole else jsonrpc.NULL_ID
        try:
            sock.send(reply(raw_id), socket.MSG_DONTWAIT)
        except OSError:
            pass
        sock.close()

    # -- status -----------------------------------------------------------------------

    def status(self):
        return {"name": self.name, "state": self.state, "socket": self.path,
                "command": " ".join((self.spec.command, *self.spec.args)), **self.children.status(),
                **({"last_error": self.listen_error} if self.listen_error else {})}


def _refused_head(items, splitter):
    """What has come of a refused client's first request: the first line among ``items``
    that carries an id, else the start of the line ``splitter`` holds unfinished."""
    for item in items:
        if item.__class__ is not Oversize and b'"id"' in item:
            return item + b"\n"
    return splitter.start(REJECT_HEAD_BYTES)
