"""ServerChildren: the children of one pooled server, one `unit.ChildUnit` each, by the
server's sharing scope.

``share = "all"``: one unit (key ``""``), made with the table, for every client.
``share = "project"``: one unit per project directory (its real path), made when its
first client comes, stopped after ``idle_stop`` seconds without a client.
``share = "session"``: one unit per client connection or HTTP session, stopped when it
leaves. At most ``max_children`` project or session units run at once: at that bound
the least recently used one that serves nobody live (no client, or only abandoned HTTP
sessions) is stopped to make room, and only when there is none is a client `Refused`
with -32003, one that names no project where one is needed with
-32600 and a sentence saying how to name one.

A stopped unit leaves the table at once (a new client of its project gets a new child)
and is stopped in the background; its counters are added to ``retired`` so the
server's totals only grow.
"""
import os

import gevent
from gevent.pool import Group
from loguru import logger

from agentdeck.pool import replies
from agentdeck.pool.stats import Stats
from agentdeck.pool.unit import ChildUnit, file_tag
from agentdeck.wire import jsonrpc

UNIT_STOP_WAIT = 10.0  # seconds `stop` waits for units already being stopped


class Refused(Exception):
    """A client this server cannot take: ``line(raw_id)`` is the JSON-RPC error for it."""

    def __init__(self, code, message, data):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def line(self, raw_id):
        return jsonrpc.error_line(raw_id, self.code, self.message, self.data)


def _last_used(unit):
    """When a unit last served anyone: its latest client activity, else when it emptied."""
    return max((c.last_active for c in unit.router.clients.values()), default=unit.empty_since)


class ServerChildren:
    """``log`` is the server's stderr logger (``mcp-NAME.log``: its share = "all" child and
    its session children); ``open_log(label)`` / ``close_log(sink)`` make and remove the
    log of a project child (``mcp-NAME@<tag>.log``). ``handshakes`` is the directory of
    the handshake caches; ``session_ids`` is the pool's; ``next_cid`` gives client ids
    unique within the server."""

    def __init__(self, spec, settings, log, open_log, close_log, handshakes, session_ids, next_cid, crashed):
        self.spec = spec
        self.settings = settings      # the PoolSettings in force; every unit's router has the same
        self.log = log
        self.open_log = open_log
        self.close_log = close_log
        self.handshakes = handshakes
        self.session_ids = session_ids
        self.next_cid = next_cid
        self.crashed = crashed        # link_exception callback of the server
        self.units = {}               # key -> ChildUnit serving now ("" for share = "all")
        self.retired = Stats()        # counters of units already stopped
        self.retired_restarts = 0
        self.stoppers = Group()       # one greenlet per unit being stopped
        self.stopping = False
        if spec.share == "all":
            self.units[""] = self._new_unit("", None)

    @property
    def name(self):
        return self.spec.name

    @property
    def shared(self):
        """The share = "all" unit, or None."""
        return self.units.get("") if self.spec.share == "all" else None

    def _new_unit(self, key, project):
        spec = self.spec
        log, handshake = (self.log, None), None
        if spec.share == "all":
            handshake = self.handshakes / f"{spec.name}.json"
        elif spec.share == "project":
            tag = f"{spec.name}@{file_tag(project)}"
            log = self.open_log(tag)
            # A str, not a Path: pathlib interns every part, and each project's name is new.
            handshake = os.path.join(self.handshakes, f"{tag}.json")
        return ChildUnit(key, project, spec, self.settings, log, self.close_log, handshake, self.session_ids,
                         self.next_cid, self._unit_empty)

    def unit_for(self, project, session=None):
        """The unit a client of ``project`` (a directory, or None) joins, started if new;
        ``session`` keys the new unit of a share = "session" client. Raises `Refused`."""
        spec = self.spec
        if spec.share == "all":
            return self.units[""]
        if project is not None:
            project = os.path.realpath(project)
        if project is None and spec.needs_project:
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
        if len(self.units) >= spec.max_children and not self._make_room():
            self.retired.rejected += 1
            raise Refused(jsonrpc.TOO_MANY_CLIENTS,
                          replies.too_many_children_message(self.name, spec.share, spec.max_children),
                          {"server": self.name, "limit": spec.max_children, "share": spec.share})
        unit = self.units[key] = self._new_unit(key, project)
        unit.start()
        logger.info("server {}: {} children (new one for {})", self.name, len(self.units), project or key)
        return unit

    def _make_room(self):
        """At max_children: stop the least recently used child that serves nobody live (it
        has no client, or only abandoned HTTP sessions, which end with it: `Peer.abandoned`).
        False when every child is in use."""
        unused = [u for u in self.units.values() if all(c.abandoned() for c in u.router.clients.values())]
        if not unused:
            return False
        unit = min(unused, key=_last_used)
        self.retired.made_room += 1
        self.retire(unit, "made room for another (max_children)")  # first: its log says why, not "its client left"
        for client in list(unit.router.clients.values()):
            unit.router.drop_client(client, "ended to make room (max_children)")
        return True

    def _unit_empty(self, unit):
        """The last client of ``unit`` left: a session child ends with it."""
        if self.spec.share == "session":
            self.retire(unit, "its client left")

    def retire(self, unit, why):
        """Stop ``unit`` in the background; it leaves the table at once. Once only: a unit
        no longer in the table is being stopped already."""
        if self.units.get(unit.key) is not unit:
            return
        del self.units[unit.key]
        self.stoppers.spawn(self._stop_unit, unit, why).link_exception(self.crashed)

    def _stop_unit(self, unit, why):
        pid = unit.supervisor.child.pid if unit.supervisor.child is not None else None
        unit.stop(why)
        stats = unit.router.stats
        for name in Stats.__slots__:
            setattr(self.retired, name, getattr(self.retired, name) + getattr(stats, name))
        self.retired_restarts += unit.supervisor.policy.restarts
        logger.info("server {}: child for {} stopped (pid {}; {}); {} children remain", self.name,
                    unit.project or unit.key, pid, why, len(self.units))

    def retire_idle(self, now):
        """Stop project children without a client for idle_stop seconds."""
        if self.spec.share != "project":
            return
        for unit in [u for u in self.units.values() if not u.router.clients]:
            if now - unit.empty_since >= self.spec.idle_stop:
                self.retire(unit, f"no client for {now - unit.empty_since:.0f} s (idle_stop)")

    def apply_settings(self, settings):
        self.settings = settings
        for unit in self.units.values():
            unit.apply_settings(settings)

    def stop(self):
        """Stop every child at once (each: drain, SIGTERM, SIGKILL after the grace); the
        share = "all" unit stays listed, stopped. Returns the requests answered -32001."""
        self.stopping = True
        units = list(self.units.values())
        self.units.clear()
        if self.spec.share == "all" and units:
            self.units[""] = units[0]
        results = [gevent.spawn(unit.stop) for unit in units]
        gevent.joinall(results)
        self.stoppers.join(timeout=UNIT_STOP_WAIT)
        return len(units), sum(r.value or 0 for r in results)

    def kill_now(self):
        for unit in list(self.units.values()):
            unit.kill_now()

    # -- HTTP sessions ----------------------------------------------------------------

    def http_create(self, project, protocol):
        """(unit, new HTTP session) for an initialize, the session None when its unit has
        max_clients clients already. Raises `Refused`."""
        unit = self.unit_for(project, self.next_cid() if self.spec.share == "session" else None)
        session = unit.http.create(protocol)
        if session is None and self.spec.share == "session":
            self.retire(unit, "its session was refused")
        return unit, session

    def modern_unit(self, project):
        """The unit a 2026-07-28 HTTP request of ``project`` goes to. Raises `Refused`; a
        server that runs one child per session has none to give a request without one."""
        if self.spec.share == "session":
            raise Refused(jsonrpc.INVALID_REQUEST, f"server {self.name} runs one child per session, and a 2026-07-28 "
                          "request has no session: connect with initialize (MCP 2025)",
                          {"server": self.name, "share": "session"})
        return self.unit_for(project)

    def http_find(self, project, sid, protocol):
        """(unit, the live session ``sid``); a session this home issued before a restart
        is taken up again, in a new child when its own is gone; (None, None) when unknown
        or ended. Raises `Refused`."""
        share = self.spec.share
        if share == "all":
            unit = self.units[""]
            return unit, unit.http.find(sid, protocol)
        if share == "session":
            for unit in list(self.units.values()):
                if sid in unit.http.live:
                    return unit, unit.http.find(sid, protocol)
            if not self.session_ids.resumable(self.name, None, sid):
                return None, None
            unit = self.unit_for(project, self.next_cid())
            session = unit.http.find(sid, protocol)
            if session is None:
                self.retire(unit, "its session was refused")
            return unit, session
        if project is None:
            self.unit_for(None)  # raises: this server needs a project
        project = os.path.realpath(project)
        unit = self.units.get(project)
        if unit is None:
            if not self.session_ids.resumable(self.name, project, sid):
                return None, None
            unit = self.unit_for(project)
        return unit, unit.http.find(sid, protocol)

    # -- status -----------------------------------------------------------------------

    def status(self):
        """The server-wide figures: the share = "all" child's, or sums over the children."""
        units = list(self.units.values())
        stats = Stats()
        for name in Stats.__slots__:
            setattr(stats, name, getattr(self.retired, name) + sum(getattr(u.router.stats, name) for u in units))
        clients = sum(len(u.router.clients) for u in units)
        http_sessions = sum(u.http.counts() for u in units)
        http_requests = sum(u.modern.count for u in units)
        shared = self.shared
        if shared is not None:
            supervisor = shared.supervisor
            child = supervisor.child
            own = {"since": supervisor.state_since, "pid": child.pid if child is not None else None,
                   "restarts": supervisor.policy.restarts, "failures": supervisor.policy.failures,
                   "last_error": supervisor.last_error, "next_start": supervisor.next_start,
                   "stderr_tail": shared.router.link.stderr_tail}  # of the child that ended last, with last_error
        else:
            own = {"since": None, "pid": None, "next_start": None,
                   "restarts": self.retired_restarts + sum(u.supervisor.policy.restarts for u in units),
                   "failures": sum(u.supervisor.policy.failures for u in units),
                   "last_error": next((u.supervisor.last_error for u in units if u.supervisor.last_error), None),
                   "stderr_tail": ""}
        return {
            **own,
            "clients": clients,
            "socket_clients": clients - http_sessions - http_requests,
            "http_sessions": http_sessions,
            "http_requests": http_requests,
            "in_flight": sum(u.router.pending.client_requests() for u in units),
            "share": self.spec.share,
            "max_children": self.spec.max_children,
            "idle_stop": self.spec.idle_stop,
            "child_count": sum(1 for u in units if u.supervisor.child is not None),
            "children": [u.status() for u in units],
            **stats.as_dict(),
        }
