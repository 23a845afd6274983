"""SocketProxy: one pooled MCP server — its Unix socket, its clients and its child.

Greenlets per proxy: the StreamServer's accept watcher (no greenlet), one reader per
client, a supervisor that runs the child through STARTING -> RUNNING -> BACKOFF ...
and a stdout reader per child (the child's stderr pump lives in `MCPChild`).
"""
import os
import signal
import socket
import time

import gevent
from gevent.pool import Group, Pool
from gevent.server import StreamServer
from loguru import logger

from agentdeck.wire import jsonrpc
from agentdeck.pool import states
from agentdeck.pool.child import MCPChild, SpawnError
from agentdeck.pool.sockclient import Client
from agentdeck.wire.fdread import CHUNK_SIZE, FdReader
from agentdeck.wire.lines import LineSplitter
from agentdeck.pool.listener import SocketInUse, bind_unix
from agentdeck.wire.outbox import Outbox
from agentdeck.pool.restart import RestartPolicy
from agentdeck.pool.router import Router

FREE_LINE_BYTES = 65536    # of an unfinished request line a client holds without a long-line slot
IDLE_SWEEP_MAX = 10.0      # seconds between idle sweeps at most
REJECT_SLOTS = 8           # connections over max_clients being answered -32003 at once
REJECT_READ_TIMEOUT = 2.0  # seconds to wait for a rejected client's first request (for its id)
DRAIN_TIMEOUT = 2.0        # seconds in-flight requests get to finish when the proxy stops
EOF_TIMEOUT = 2.0          # seconds to read a dead child's last output before giving up on it


class SocketProxy:
    def __init__(self, spec, settings, socket_path, stderr_log, long_lines):
        self.spec = spec
        self.settings = settings      # PoolSettings
        self.path = str(socket_path)
        self.stderr_log = stderr_log  # loguru logger for the child's stderr
        self.long_lines = long_lines  # pool-wide semaphore: clients assembling a line > FREE_LINE_BYTES
        self.router = Router(spec.name, settings)
        self.policy = RestartPolicy()
        self.state = states.STOPPED
        self.state_since = time.time()  # Unix time the current state began, for "time in state"
        self.child = None             # MCPChild while one runs
        self.last_error = None        # why the child last failed, for status
        self.hung_reason = None       # set when we stop a child that stopped answering pings
        self.server = None            # StreamServer while accepting
        self.greenlets = Group()      # supervisor, idle sweeper, child reader: killed together on stop
        self.supervisor = None        # the greenlet running the child through its states
        self.next_cid = 1
        self.stopping = False

    @property
    def name(self):
        return self.spec.name

    def _set_state(self, new):
        states.check_transition(self.state, new)
        logger.debug("server {}: {} -> {}", self.name, self.state, new)
        self.state = new
        self.state_since = time.time()

    # -- lifecycle --------------------------------------------------------------------

    def start(self):
        """Bind the socket and start the child. A socket held by another live agentdeck is
        left alone (state `external`); any other problem marks the server `fatal`."""
        try:
            listener = bind_unix(self.path)
        except SocketInUse:
            self._set_state(states.EXTERNAL)
            logger.warning("server {}: {} is served by another live process; leaving it alone", self.name, self.path)
            return
        except OSError as exc:
            self._fail(f"cannot listen on {self.path}: {exc.strerror or exc}")
            return
        self.server = StreamServer(listener, self._serve_client,
                                   spawn=Pool(self.settings.max_clients + REJECT_SLOTS))
        self.server.start()
        self.supervisor = self.greenlets.spawn(self._supervise)
        self.supervisor.link_exception(self._crashed)
        self.greenlets.spawn(self._sweep_idle).link_exception(self._crashed)
        logger.info("server {}: listening on {}", self.name, self.path)

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("server {}: background greenlet crashed", self.name)

    def _fail(self, error):
        self.last_error = error
        if self.state in (states.STARTING, states.BACKOFF, states.STOPPED):
            self._set_state(states.FATAL)
        self.router.detach_child(f"has failed and will not be restarted: {error}")
        logger.error("server {}: failed permanently: {}", self.name, error)

    def stop(self):
        """Stop accepting, let in-flight requests finish briefly, stop the child (SIGTERM to
        its process group, SIGKILL after a grace period), close clients, remove the socket."""
        if self.stopping:
            return
        self.stopping = True
        if self.server is not None:
            self.server.close()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self._client_requests_in_flight() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        child = self.child
        if child is not None:
            self._set_state(states.STOPPING)
            child.stop()
        if self.supervisor is not None:  # it reads the child's last output, then ends
            self.supervisor.join(timeout=EOF_TIMEOUT + 1)
        self.greenlets.kill()
        unanswered = self.router.detach_child("is shutting down")
        for client in list(self.router.clients.values()):
            self.router.drop_client(client, "server stopping")
        self._remove_socket()
        self.state = states.STOPPED
        self.state_since = time.time()
        logger.info("server {}: stopped ({} requests answered with -32001)", self.name, unanswered)

    def kill_now(self):
        """Second SIGINT: SIGKILL the child's process group and remove the socket, no grace."""
        if self.child is not None:
            self.child.signal_group(signal.SIGKILL)
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

    def _client_requests_in_flight(self):
        return any(p.client is not None for p in self.router.pending.values())

    def _supervise(self):
        """Run the child, restarting it by the policy, until stop() or a permanent failure."""
        while not self.stopping:
            delay = self.policy.delay(time.monotonic())
            if delay is None:
                self._set_state(states.FATAL)
                self.router.unavailable = f"has failed {self.policy.failures} times and will not be restarted"
                logger.error("server {}: {} consecutive failures; giving up (last: {})",
                             self.name, self.policy.failures, self.last_error)
                return
            if delay:
                self.router.unavailable = f"is restarting (next try in {delay:.0f} s): {self.last_error}"
                gevent.sleep(delay)
                if self.stopping:
                    return
            # STOPPED/BACKOFF -> STARTING
            self._set_state(states.STARTING)
            try:
                child = MCPChild(self.spec, self.stderr_log)
            except SpawnError as exc:
                self._fail(str(exc))
                return
            if self.stopping:  # stop() came while the child was being spawned
                child.stop()
                child.close()
                return
            self.policy.record_start(time.monotonic())
            self.child = child
            self._run(child)
            self.child = None
            if self.stopping:
                return
            # RUNNING/STARTING -> BACKOFF
            self.policy.record_failure(time.monotonic())
            self._set_state(states.BACKOFF)

    def _run(self, child):
        """Serve through ``child`` until it exits; answers what it left unanswered."""
        outbox = Outbox(child.stdin_fd, lambda exc: None, f"{self.name}/stdin")
        self.router.attach_child(outbox)
        reader = self.greenlets.spawn(self._read_child, child)
        logger.info("server {}: started pid {} ({})", self.name, child.pid, " ".join((self.spec.command, *self.spec.args)))
        if self._replay_handshake():
            # STARTING -> RUNNING
            self._set_state(states.RUNNING)
            self.router.release_child()
        else:
            self.last_error = "did not answer the replayed initialize"
            child.stop()
        code = child.wait()
        reader.join(timeout=EOF_TIMEOUT)
        reader.kill()
        outbox.close()
        child.close()
        if not self.stopping:
            tail = child.stderr_tail()
            if self.hung_reason:
                self.last_error, self.hung_reason = self.hung_reason, None
            elif self.state == states.RUNNING:
                self.last_error = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
            unanswered = self.router.detach_child(f"is restarting: it {self.last_error}", tail)
            logger.warning("server {}: pid {} {}; {} in-flight requests answered with -32001; stderr tail: {!r}",
                           self.name, child.pid, self.last_error, unanswered, tail[-300:])

    def _replay_handshake(self):
        """After a restart, give the new child the initialize the first client made, so
        connected agents never see an uninitialized server."""
        params = self.router.init_params
        if params is None or self.router.init_result is None:
            return True
        try:
            reply = self.router.call_child("initialize", params).get(timeout=self.settings.ping_timeout)
        except gevent.Timeout:
            reply = None
        if not reply or "result" not in reply:
            return False
        self.router.child_out.put(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self.router.child_initialized = True
        for uri in list(self.router.subscribers):
            self.router.call_child("resources/subscribe", {"uri": uri})
        return True

    def _read_child(self, child):
        splitter = LineSplitter(self.settings.max_response_bytes)
        router = self.router
        stdout = FdReader(child.stdout_fd)
        try:
            while True:
                data = stdout.read()
                if not data:
                    return
                router.from_child(splitter.feed(data))
        except OSError as exc:
            logger.debug("server {}: stdout closed: {}", self.name, exc)
        finally:
            stdout.close()

    def ping(self):
        """Health check from the pool's monitor: True if the child answered an MCP ping in
        time; a child that did not is restarted as hung."""
        if self.state != states.RUNNING or self.child is None:
            return True
        child = self.child
        try:
            reply = self.router.call_child("ping").get(timeout=self.settings.ping_timeout)
        except gevent.Timeout:
            reply = None
        if reply is not None or child is not self.child or self.stopping:
            return True
        self.hung_reason = f"hung: no answer to ping within {self.settings.ping_timeout:g} s"
        logger.warning("server {}: pid {} {}; restarting it", self.name, child.pid, self.hung_reason)
        child.stop()
        return False

    def check_healthy(self):
        if self.state == states.RUNNING and self.policy.check_healthy(time.monotonic()):
            logger.info("server {}: healthy for {:.0f} s; failure count reset", self.name, 300)

    # -- clients ----------------------------------------------------------------------

    def _serve_client(self, sock, _address):
        router = self.router
        if len(router.clients) >= self.settings.max_clients:
            self._reject(sock)
            return
        cid = self.next_cid
        self.next_cid += 1
        client = Client(cid, sock, lambda exc: router.drop_client(client, f"write failed: {exc}"), self.name)
        router.add_client(client)
        # DEBUG: a record built here would give this greenlet a thread object for its lifetime.
        logger.debug("server {}: client {} joined ({} clients)", self.name, cid, len(router.clients))
        splitter = LineSplitter(self.settings.max_request_bytes)
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
        """Close clients with no traffic and nothing in flight for idle_timeout seconds.
        One timer per server instead of one per client read."""
        while True:
            idle = self.settings.idle_timeout
            gevent.sleep(min(max(idle / 4, 0.1), IDLE_SWEEP_MAX))
            now = time.monotonic()
            for client in [c for c in self.router.clients.values()
                           if not c.inflight and now - c.last_active >= idle]:
                self.router.stats.idle_closed += 1
                self.router.drop_client(client, f"idle for {now - client.last_active:.0f} s (idle_timeout={idle:g})")

    def _reject(self, sock):
        """The client over max_clients: answer its first request (or null) with -32003, close."""
        self.router.stats.rejected += 1
        head = b""
        sock.settimeout(REJECT_READ_TIMEOUT)
        try:
            while b"\n" not in head and len(head) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
        except (socket.timeout, OSError):
            pass
        limit = self.settings.max_clients
        line = jsonrpc.error_line(jsonrpc.guess_id(head), jsonrpc.TOO_MANY_CLIENTS,
                                  f"server {self.name} already has {limit} clients (max_clients); "
                                  "close an idle session or raise the limit",
                                  {"server": self.name, "limit": limit})
        try:
            sock.sendall(line)
        except OSError:
            pass
        sock.close()
        logger.warning("server {}: refused a client: {} clients already (max_clients)", self.name, limit)

    # -- status -----------------------------------------------------------------------

    def status(self):
        router = self.router
        child = self.child
        return {
            "name": self.name,
            "state": self.state,
            "since": self.state_since,
            "pid": child.pid if child is not None else None,
            "clients": len(router.clients),
            "in_flight": sum(1 for p in router.pending.values() if p.client is not None),
            "restarts": self.policy.restarts,
            "failures": self.policy.failures,
            "last_error": self.last_error,
            "stderr_tail": child.stderr_tail() if child is not None else router.stderr_tail,
            "socket": self.path,
            "command": " ".join((self.spec.command, *self.spec.args)),
            **router.stats.as_dict(),
        }
