"""SocketProxy: one pooled MCP server — its Unix socket, its HTTP route's lookups, and
its children, one `unit.ChildUnit` each (router, supervisor, HTTP sessions).

``share = "all"``: one unit (key ``""``), made with the proxy, for every client.
``share = "project"``: one unit per project directory (real path), made when its first
client comes, stopped after ``idle_stop`` seconds without a client. ``share = "session"``:
one unit per client connection or HTTP session, stopped when it leaves. At most
``max_children`` project or session units run at once; a client over that is refused
with -32003.

A socket client names its project with the bridge's hello (`wire.hello`), which the
proxy consumes. On a share = "all" server a client that sends none is an ordinary
client; on a server that needs a project its first request is answered with an error
that says how to name one, and it is closed.

Greenlets per proxy: the StreamServer's accept watcher (no greenlet), one reader per
socket client, the idle sweeper, each unit's supervisor loop, health monitor and child
reader, and a greenlet per unit being stopped.
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
from agentdeck.pool.httpsession import HttpSession
from agentdeck.pool.listener import SocketInUse, bind_unix
from agentdeck.pool.sockclient import SocketClient
from agentdeck.pool.stats import Stats
from agentdeck.pool.unit import ChildUnit, file_tag, needs_project
from agentdeck.wire import jsonrpc
from agentdeck.wire.fdread import CHUNK_SIZE
from agentdeck.wire.hello import parse_hello
from agentdeck.wire.lines import LineSplitter

FREE_LINE_BYTES = 65536    # of an unfinished request line a client holds without a long-line slot
IDLE_SWEEP_MAX = 10.0      # seconds between idle sweeps at most
REJECT_SLOTS = 8           # connections over max_clients being answered -32003 at once; more are closed
REJECT_READ_TIMEOUT = 2.0  # seconds to wait for a rejected client's first request (for its id)
UNIT_STOP_WAIT = 10.0      # seconds the proxy's stop waits for units already stopping


class Refused(Exception):
    """A client this server cannot take: ``line(raw_id)`` is the JSON-RPC error for it."""

    def __init__(self, code, message, data):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def line(self, raw_id):
        return jsonrpc.error_line(raw_id, self.code, self.message, self.data)


class SocketProxy:
    """``log`` is the server's stderr logger (``mcp-NAME.log``: its share = "all" child
    and its session children); ``open_log(label)`` / ``close_log(sink)`` make and remove
    the log of a project child. ``handshakes`` is the directory of the handshake caches;
    ``session_ids`` and ``boot`` are the pool's (`sessionids.SessionIds`, this run's SSE
    event id prefix)."""

    def __init__(self, spec, settings, socket_path, log, open_log, close_log, long_lines, handshakes, session_ids,
                 boot):
        self.spec = spec
        self.path = str(socket_path)
        self.long_lines = long_lines  # pool-wide semaphore: clients assembling a line > FREE_LINE_BYTES
        self._settings = settings     # the PoolSettings in force; every unit's router has the same
        self.log = log
        self.open_log = open_log
        self.close_log = close_log
        self.handshakes = handshakes
        self.session_ids = session_ids
        self.boot = boot
        self.units = {}               # key -> ChildUnit that serves ("" for share = "all")
        self.retired = Stats()        # counters of units already stopped: totals only ever grow
        self.retired_restarts = 0
        self.greenlets = Group()      # the idle sweeper
        self.stoppers = Group()       # one greenlet per unit being stopped
        self.connections = Group()    # one greenlet per accepted connection (admitted or being refused)
        self.rejecting = BoundedSemaphore(REJECT_SLOTS)
        self.external = False         # the socket is served by another live agentdeck
        self.listen_error = None      # why the socket could not be bound (share != "all")
        self.server = None            # StreamServer while accepting
        self.next_cid = 1
        self.stopping = False
        if spec.share == "all":
            self.units[""] = self._new_unit("", None)

    @property
    def name(self):
        return self.spec.name

    def _new_cid(self):
        cid = self.next_cid
        self.next_cid += 1
        return cid

    @property
    def settings(self):
        return self._settings

    @property
    def shared(self):
        """The share = "all" unit, or None."""
        return self.units.get("") if self.spec.share == "all" else None

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
        self._settings = settings
        for unit in self.units.values():
            unit.apply_settings(settings)

    def apply_bounds(self, spec):
        """A reload that changed only max_children or idle_stop: in force at once, no child restarts."""
        self.spec = spec

    # -- units ------------------------------------------------------------------------

    def _new_unit(self, key, project):
        spec = self.spec
        log, handshake, scope = (self.log, None), None, None
        if spec.share == "all":
            handshake = self.handshakes / f"{spec.name}.json"
        elif spec.share == "project":
            tag = f"{spec.name}@{file_tag(project)}"
            log = self.open_log(tag)
            handshake = self.handshakes / f"{tag}.json"
            scope = f"{spec.name}@{project}"
        return ChildUnit(key, project, spec, self._settings, log, self.close_log, handshake, self.session_ids, scope,
                         self.boot, self._new_cid, self._unit_empty)

    def unit_for(self, project, session=None):
        """The unit a client of ``project`` (a directory, or None) joins, started if new;
        ``session`` keys the new unit of a share = "session" client. Raises `Refused`."""
        spec = self.spec
        if spec.share == "all":
            return self.units[""]
        if project is not None:
            project = os.path.realpath(project)
        if project is None and needs_project(spec):
            raise Refused(jsonrpc.INVALID_REQUEST, replies.no_project_message(self.name, spec.share),
                          {"server": self.name, "share": spec.share})
        if project is not None and not os.path.isdir(project):
            raise Refused(jsonrpc.INVALID_REQUEST, f"server {self.name}: project directory {project} does not exist "
                          "or is not a directory", {"server": self.name, "project": project})
        key = project if spec.share == "project" else f"session-{session}"
        unit = self.units.get(key)
        if unit is not None:
            return unit
        if self.stopping:
            raise Refused(jsonrpc.SERVER_UNAVAILABLE, f"server {self.name} is shutting down", {"server": self.name})
        if len(self.units) >= spec.max_children:
            raise Refused(jsonrpc.TOO_MANY_CLIENTS, replies.too_many_children_message(self.name, spec.share,
                                                                                     spec.max_children),
                          {"server": self.name, "limit": spec.max_children, "share": spec.share})
        unit = self.units[key] = self._new_unit(key, project)
        unit.start()
        logger.info("server {}: {} children ({} for {})", self.name, len(self.units), spec.share, project or key)
        return unit

    def _unit_empty(self, unit):
        """The last client of ``unit`` left: a session child ends with it."""
        if self.spec.share == "session":
            self.retire(unit, "its client left")

    def retire(self, unit, why):
        """Stop ``unit`` in the background; it leaves the table at once (a new client of
        its project gets a new child)."""
        if self.units.get(unit.key) is unit:
            del self.units[unit.key]
        if not unit.stopping:
            self.stoppers.spawn(self._stop_unit, unit, why).link_exception(self._crashed)

    def _stop_unit(self, unit, why):
        pid = unit.supervisor.child.pid if unit.supervisor.child is not None else None
        unit.stop(why)
        stats = unit.router.stats
        for name in Stats.__slots__:
            setattr(self.retired, name, getattr(self.retired, name) + getattr(stats, name))
        self.retired_restarts += unit.supervisor.policy.restarts
        logger.info("server {}: child for {} stopped (pid {}; {}); {} children remain", self.name,
                    unit.project or unit.key, pid, why, len(self.units))

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
        units = list(self.units.values())
        self.units.clear()
        if self.spec.share == "all" and units:
            self.units[""] = units[0]  # still listed (stopped) in status
        results = [gevent.spawn(unit.stop) for unit in units]
        gevent.joinall(results)
        self.stoppers.join(timeout=UNIT_STOP_WAIT)
        self.connections.kill(block=False)
        self._remove_socket()
        unanswered = sum(r.value or 0 for r in results)
        logger.info("server {}: stopped ({} children; {} requests answered with -32001)", self.name, len(units),
                    unanswered)

    def kill_now(self):
        """Second SIGINT: SIGKILL every child's process group and remove the socket, no grace."""
        for unit in list(self.units.values()):
            unit.kill_now()
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
            first = self._read_first(client)
            if first is None:  # gone, or silent for idle_timeout before its first line
                client.input.close()
                sock.close()
                return
            is_hello, project = parse_hello(first[0]) if first else (False, None)
            if is_hello:
                first = first[1:]
            try:
                unit = self.unit_for(project, cid)
            except Refused as refusal:
                client.input.close()
                self.retired.rejected += 1
                self._reject(sock, refusal.line, _first_request(first))
                logger.warning("server {}: refused a client: {}", self.name, refusal.message)
                return
            if not unit.router.admit(client):
                client.input.close()
                self._reject_over_max_clients(sock, _first_request(first))
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
                for client in [c for c in router.clients.values() if c.is_idle(now, self.settings)]:
                    router.stats.idle_closed += 1
                    reason = f"idle for {now - client.last_active:.0f} s"
                    if isinstance(client, HttpSession):
                        unit.http.end(client, reason)
                    else:
                        router.drop_client(client, reason)
                if self.spec.share == "project" and not router.clients and \
                        now - unit.empty_since >= self.spec.idle_stop:
                    self.retire(unit, f"no client for {now - unit.empty_since:.0f} s (idle_stop)")

    def _reject_over_max_clients(self, sock, head=b""):
        limit = self.settings.max_clients
        self._reject(sock, lambda raw_id: replies.too_many_clients(raw_id, self.name, limit), head)
        logger.warning("server {}: refused a client: {} clients already (max_clients)", self.name, limit)

    def _reject(self, sock, reply, head=b""):
        """A client that cannot be served: answer its first request (read here for its id
        unless ``head`` holds it; null when it sends none) with ``reply(raw_id)``, close.
        With every reject slot busy it is answered null at once, unread."""
        if b"\n" not in head and self.rejecting.acquire(blocking=False):
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
            sock.send(reply(jsonrpc.guess_id(head.split(b"\n", 1)[0])), socket.MSG_DONTWAIT)
        except OSError:
            pass
        sock.close()

    # -- HTTP sessions ----------------------------------------------------------------

    def http_create(self, project, protocol):
        """(unit, new HTTP session) for an initialize, the session None when its unit has
        max_clients clients already. Raises `Refused`."""
        unit = self.unit_for(project, self._new_cid() if self.spec.share == "session" else None)
        session = unit.http.create(protocol)
        if session is None and self.spec.share == "session":
            self.retire(unit, "its session was refused")
        return unit, session

    def http_find(self, project, sid, protocol):
        """(unit, the live session ``sid``), a session this home issued before a restart
        (or before its project child idled out) taken up again in a new child; (None, None)
        when unknown or ended. Raises `Refused`."""
        share = self.spec.share
        if share == "all":
            unit = self.units[""]
            return unit, unit.http.find(sid, protocol)
        if share == "session":
            for unit in list(self.units.values()):
                if sid in unit.http.live:
                    return unit, unit.http.find(sid, protocol)
            if not self.session_ids.valid(self.name, sid):
                return None, None
            unit = self.unit_for(project, self._new_cid())
            session = unit.http.find(sid, protocol)
            if session is None:
                self.retire(unit, "its session was refused")
            return unit, session
        if project is None:
            unit = self.unit_for(None)  # raises: this server needs a project
        project = os.path.realpath(project)
        unit = self.units.get(project)
        if unit is None:
            if not self.session_ids.valid(f"{self.name}@{project}", sid):
                return None, None
            unit = self.unit_for(project)
        return unit, unit.http.find(sid, protocol)

    # -- status -----------------------------------------------------------------------

    def status(self):
        units = list(self.units.values())
        shared = self.shared
        stats = Stats()
        for name in Stats.__slots__:
            setattr(stats, name, getattr(self.retired, name) + sum(getattr(u.router.stats, name) for u in units))
        clients = sum(len(u.router.clients) for u in units)
        http_sessions = sum(u.http.counts() for u in units)
        if shared is not None:
            supervisor = shared.supervisor
            child = supervisor.child
            own = {"since": supervisor.state_since, "pid": child.pid if child is not None else None,
                   "restarts": supervisor.policy.restarts, "failures": supervisor.policy.failures,
                   "last_error": supervisor.last_error,
                   "stderr_tail": child.stderr_tail() if child is not None else shared.router.link.stderr_tail}
        else:
            own = {"since": None, "pid": None,
                   "restarts": self.retired_restarts + sum(u.supervisor.policy.restarts for u in units),
                   "failures": sum(u.supervisor.policy.failures for u in units),
                   "last_error": self.listen_error or next((u.supervisor.last_error for u in units
                                                            if u.supervisor.last_error), None),
                   "stderr_tail": ""}
        return {
            "name": self.name,
            "state": self.state,
            **own,
            "clients": clients,
            "socket_clients": clients - http_sessions,
            "http_sessions": http_sessions,
            "in_flight": sum(u.router.pending.client_requests() for u in units),
            "socket": self.path,
            "command": " ".join((self.spec.command, *self.spec.args)),
            "share": self.spec.share,
            "max_children": self.spec.max_children,
            "idle_stop": self.spec.idle_stop,
            "child_count": sum(1 for u in units if u.supervisor.child is not None),
            "children": [u.status() for u in units],
            **stats.as_dict(),
        }


def _first_request(items):
    """The first line among ``items`` that carries an id (for the id of a refusal), or b""."""
    for item in items:
        if item.__class__ is bytes and b'"id"' in item:
            return item + b"\n"
    return b""
