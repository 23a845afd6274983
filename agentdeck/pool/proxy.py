"""SocketProxy: one pooled MCP server — its Unix socket, its socket clients and HTTP
sessions, its router and the supervisor of its child.

Greenlets per proxy: the StreamServer's accept watcher (no greenlet), one reader per
socket client, the supervisor's loop and health monitor, a stdout reader per child, and
the idle sweeper; all in one Group, killed together on stop.
"""
import os
import signal
import socket
import time

import gevent
from gevent.lock import BoundedSemaphore
from gevent.pool import Group
from gevent.server import StreamServer
from loguru import logger

from agentdeck.pool import handshakefile, replies, states
from agentdeck.pool.httpsession import HttpSession
from agentdeck.pool.httpsessions import HttpSessions
from agentdeck.pool.listener import SocketInUse, bind_unix
from agentdeck.pool.router import Router
from agentdeck.pool.sockclient import SocketClient
from agentdeck.pool.supervisor import ChildSupervisor
from agentdeck.wire import jsonrpc
from agentdeck.wire.fdread import CHUNK_SIZE
from agentdeck.wire.lines import LineSplitter

FREE_LINE_BYTES = 65536    # of an unfinished request line a client holds without a long-line slot
IDLE_SWEEP_MAX = 10.0      # seconds between idle sweeps at most
REJECT_SLOTS = 8           # connections over max_clients being answered -32003 at once; more are closed
REJECT_READ_TIMEOUT = 2.0  # seconds to wait for a rejected client's first request (for its id)
DRAIN_TIMEOUT = 2.0        # seconds in-flight requests get to finish when the proxy stops


class SocketProxy:
    """``handshake_path`` keeps the cached initialize across restarts; ``session_ids`` and
    ``boot`` are the pool's (`sessionids.SessionIds`, this run's SSE event id prefix)."""

    def __init__(self, spec, settings, socket_path, stderr_log, long_lines, handshake_path, session_ids, boot):
        self.spec = spec
        self.path = str(socket_path)
        self.long_lines = long_lines  # pool-wide semaphore: clients assembling a line > FREE_LINE_BYTES
        self.router = Router(spec.name, settings, gevent.get_hub().loop.run_callback)
        self.http = HttpSessions(self.router, session_ids, boot, self._new_cid)
        self._keep_handshake(handshake_path)
        self.greenlets = Group()      # supervisor, monitor, child reader, idle sweeper: killed together on stop
        self.connections = Group()    # one greenlet per accepted connection (admitted or being refused)
        self.supervisor = ChildSupervisor(spec, self.router, stderr_log, self.greenlets, self._crashed)
        self.rejecting = BoundedSemaphore(REJECT_SLOTS)
        self.external = False         # the socket is served by another live agentdeck
        self.server = None            # StreamServer while accepting
        self.next_cid = 1
        self.stopping = False

    @property
    def name(self):
        return self.spec.name

    def _new_cid(self):
        cid = self.next_cid
        self.next_cid += 1
        return cid

    def _keep_handshake(self, path):
        """Start from the handshake an earlier run kept, and keep each new one."""
        handshake = self.router.handshake
        loaded = handshakefile.load(path, self.spec)
        if loaded is not None:
            handshake.params, handshake.result = loaded
        self.router.on_handshake = lambda: handshakefile.save(path, self.spec, handshake.params, handshake.result)

    @property
    def settings(self):
        """The PoolSettings in force: the router's copy is the only one."""
        return self.router.settings

    @property
    def state(self):
        return states.EXTERNAL if self.external else self.supervisor.state

    def apply_settings(self, settings):
        """A reload's [pool] settings, in force at once: limits and timeouts are read where
        they are used; line limits of connected socket clients and of the child's stdout
        change for their next bytes (an HTTP session reads max_request_bytes per request)."""
        self.router.settings = settings
        for peer in self.router.clients.values():
            if isinstance(peer, SocketClient):  # an HTTP session has no line splitter
                peer.splitter.limit = settings.max_request_bytes
        if self.supervisor.stdout is not None:
            self.supervisor.stdout.limit = settings.max_response_bytes

    # -- lifecycle --------------------------------------------------------------------

    def start(self):
        """Bind the socket and start the child. A socket held by another live agentdeck is
        left alone (state `external`); any other problem marks the server `fatal`."""
        try:
            listener = bind_unix(self.path)
        except SocketInUse:
            self.external = True
            logger.warning("server {}: {} is served by another live process; leaving it alone", self.name, self.path)
            return
        except OSError as exc:
            self.supervisor.fail(f"cannot listen on {self.path}: {exc.strerror or exc}")
            return
        # Admission is the router's (max_clients, read at each connect): the accept loop
        # itself is not bounded by a pool that a reload could not resize.
        self.server = StreamServer(listener, self._serve_client, spawn=self.connections.spawn)
        self.server.start()
        self.supervisor.start()
        self.greenlets.spawn(self._sweep_idle).link_exception(self._crashed)
        logger.info("server {}: listening on {}", self.name, self.path)

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("server {}: background greenlet crashed", self.name)

    def stop(self):
        """Stop accepting, let in-flight requests finish briefly, stop the child (SIGTERM to
        its process group, SIGKILL after a grace period), close clients, remove the socket."""
        if self.stopping:
            return
        self.stopping = True
        if self.server is not None:
            self.server.close()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.router.pending.client_requests() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        self.supervisor.stop()
        self.greenlets.kill()
        unanswered = self.router.detach_child("is shutting down")
        for client in list(self.router.clients.values()):
            self.router.drop_client(client, "server stopping")
        self.connections.kill(block=False)
        self._remove_socket()
        self.supervisor.state = states.STOPPED
        self.supervisor.state_since = time.time()
        logger.info("server {}: stopped ({} requests answered with -32001)", self.name, unanswered)

    def kill_now(self):
        """Second SIGINT: SIGKILL the child's process group and remove the socket, no grace."""
        if self.supervisor.child is not None:
            self.supervisor.child.signal_group(signal.SIGKILL)
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
        router = self.router
        cid = self._new_cid()
        client = SocketClient(cid, sock, lambda exc: router.drop_client(client, f"write failed: {exc}"), self.name,
                              LineSplitter(self.settings.max_request_bytes))
        if not router.admit(client):
            client.input.close()
            self._reject(sock)
            return
        # DEBUG: a record built here would give this greenlet a thread object for its lifetime.
        logger.debug("server {}: client {} joined ({} clients)", self.name, cid, len(router.clients))
        splitter = client.splitter
        long_lines = self.long_lines
        has_slot = False
        reason = "disconnected"
        try:
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
                router.from_client(client, splitter.feed(data))
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

    def _sweep_idle(self):
        """Close socket clients idle for idle_timeout and end HTTP sessions idle for
        http_session_idle (`Peer.is_idle`). One timer per server, not one per client."""
        while True:
            settings = self.settings
            gevent.sleep(min(max(min(settings.idle_timeout, settings.http_session_idle) / 4, 0.1), IDLE_SWEEP_MAX))
            now = time.monotonic()
            for client in [c for c in self.router.clients.values() if c.is_idle(now, self.settings)]:
                self.router.stats.idle_closed += 1
                reason = f"idle for {now - client.last_active:.0f} s"
                if isinstance(client, HttpSession):
                    self.http.end(client, reason)
                else:
                    self.router.drop_client(client, reason)

    def _reject(self, sock):
        """A client over max_clients: answer its first request (or null) with -32003, close.
        With every reject slot busy it is answered null at once, unread."""
        limit = self.settings.max_clients
        head = b""
        if self.rejecting.acquire(blocking=False):
            sock.settimeout(REJECT_READ_TIMEOUT)
            try:
                while b"\n" not in head and len(head) < 4096:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except (socket.timeout, OSError):
                pass
            finally:
                self.rejecting.release()
        try:
            sock.send(replies.too_many_clients(jsonrpc.guess_id(head), self.name, limit), socket.MSG_DONTWAIT)
        except OSError:
            pass
        sock.close()
        logger.warning("server {}: refused a client: {} clients already (max_clients)", self.name, limit)

    # -- status -----------------------------------------------------------------------

    def status(self):
        router = self.router
        supervisor = self.supervisor
        child = supervisor.child
        return {
            "name": self.name,
            "state": self.state,
            "since": supervisor.state_since,
            "pid": child.pid if child is not None else None,
            "clients": len(router.clients),
            "socket_clients": len(router.clients) - self.http.counts(),
            "http_sessions": self.http.counts(),
            "in_flight": router.pending.client_requests(),
            "restarts": supervisor.policy.restarts,
            "failures": supervisor.policy.failures,
            "last_error": supervisor.last_error,
            "stderr_tail": child.stderr_tail() if child is not None else router.link.stderr_tail,
            "socket": self.path,
            "command": " ".join((self.spec.command, *self.spec.args)),
            **router.stats.as_dict(),
        }
