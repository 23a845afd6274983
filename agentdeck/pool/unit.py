"""ChildUnit: one child of a pooled server and what serves it — its router, its
supervisor, its tables of HTTP sessions and 2026-07-28 HTTP requests, and its greenlets.

A server shared by all (``share = "all"``) has one unit, key ``""``. A server shared per
project has one per project directory (key: the real path), one shared per session one
per client (key: ``session-<cid>``). The proxy owns the socket, the route and the units;
a unit knows nothing of how its clients arrived. Each unit is supervised on its own:
restarts, ping health, stderr log, handshake cache.
"""
import dataclasses
import hashlib
import os
import signal
import time

import gevent
from gevent.pool import Group
from loguru import logger

from agentdeck.pool import handshakefile, states
from agentdeck.pool.httpsessions import HttpSessions
from agentdeck.pool.moderncall import ModernCalls
from agentdeck.pool.router import Router
from agentdeck.pool.supervisor import ChildSupervisor

DRAIN_TIMEOUT = 2.0  # seconds in-flight requests get to finish when a unit stops
PROJECT = "{project}"


def file_tag(project):
    """The short name of a project in file names (``mcp-NAME@<tag>.log``,
    ``handshakes/NAME@<tag>.json``): a path is too long for a file name."""
    return hashlib.sha256(os.fsencode(project)).hexdigest()[:12]


def child_spec(spec, project):
    """``spec`` as one child runs it: ``{project}`` replaced in cwd, args and env, and the
    working directory made explicit (the project for share = "project", else the home)."""
    def fill(value):
        return value.replace(PROJECT, project) if project is not None else value
    default = project if spec.share == "project" else "~"
    cwd = os.path.expanduser(fill(spec.cwd or default))
    return dataclasses.replace(spec, args=tuple(fill(a) for a in spec.args),
                               env=tuple((k, fill(v)) for k, v in spec.env), cwd=cwd)


class ChildUnit:
    """``log`` is (loguru logger, sink id or None): a sink given here is closed with the
    unit (``close_log``). ``handshake_path`` is None for a child whose handshake is not
    kept (session children). ``on_empty(unit)`` is called when its last client leaves.
    Build it, `start()` it once, `stop()` it once (blocks up to the stop grace)."""

    def __init__(self, key, project, spec, settings, log, close_log, handshake_path, session_ids, next_cid,
                 on_empty):
        self.key = key                  # "" (share = "all"), the project's real path, or "session-<cid>"
        self.project = project          # the project directory, or None
        self.spec = child_spec(spec, project)
        self.stderr_log, self.sink = log
        self.close_log = close_log
        self.router = Router(spec.name, settings, gevent.get_hub().loop.run_callback)
        self.http = HttpSessions(self.router, session_ids, next_cid, project if spec.share == "project" else None)
        self.modern = ModernCalls(self.router, next_cid)  # its 2026-07-28 HTTP requests
        if handshake_path is not None:
            self._keep_handshake(handshake_path)
        self.greenlets = Group()        # supervisor, monitor, child reader: killed together on stop
        self.supervisor = ChildSupervisor(self.spec, self.router, self.stderr_log, self.greenlets, self._crashed)
        self.empty_since = time.monotonic()  # when the last client left (or the unit was made)
        self.stopping = False
        self.on_empty = on_empty
        self.router.on_empty = self._emptied

    @property
    def name(self):
        return self.spec.name

    @property
    def label(self):
        """How logs name this child: the server, and its project or session."""
        return self.name if not self.key else f"{self.name}@{self.key}"

    def _keep_handshake(self, path):
        """Answer clients from what an earlier child said until this one is probed, and
        keep what each new one says."""
        eras = self.router.eras
        eras.child = handshakefile.load(path, self.spec)
        self.router.on_handshake = lambda: handshakefile.save(path, self.spec, eras.child)

    def _crashed(self, greenlet):
        logger.opt(exception=greenlet.exception).error("server {}: background greenlet crashed", self.label)

    def _emptied(self):
        self.empty_since = time.monotonic()
        if not self.stopping:
            self.on_empty(self)

    def start(self):
        self.supervisor.start()
        if self.key:
            logger.info("server {}: child for {} starting", self.name, self.project or self.key)

    def apply_settings(self, settings):
        self.router.settings = settings
        for peer in self.router.clients.values():
            splitter = getattr(peer, "splitter", None)
            if splitter is not None:
                splitter.limit = settings.max_request_bytes
        if self.supervisor.stdout is not None:
            self.supervisor.stdout.limit = settings.max_response_bytes

    def stop(self, why="server stopping"):
        """Let in-flight requests finish briefly, stop the child (SIGTERM to its process
        group, SIGKILL after a grace period), close its clients. Idempotent."""
        if self.stopping:
            return 0
        self.stopping = True
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.router.pending.client_requests() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        self.supervisor.stop()
        self.greenlets.kill()
        unanswered = self.router.detach_child("is shutting down")
        for client in list(self.router.clients.values()):
            self.router.drop_client(client, why)
        if self.supervisor.state != states.STOPPED:
            self.supervisor.state = states.STOPPED
            self.supervisor.state_since = time.time()
        if self.sink is not None:
            self.close_log(self.sink)
            self.sink = None
        return unanswered

    def kill_now(self):
        if self.supervisor.child is not None:
            self.supervisor.child.signal_group(signal.SIGKILL)

    @property
    def state(self):
        return self.supervisor.state

    def status(self):
        router = self.router
        supervisor = self.supervisor
        child = supervisor.child
        return {
            "key": self.key,
            "project": self.project,
            "cwd": self.spec.cwd,
            "state": supervisor.state,
            "since": supervisor.state_since,
            "pid": child.pid if child is not None else None,
            "clients": len(router.clients),
            "socket_clients": len(router.clients) - self.http.counts() - self.modern.count,
            "http_sessions": self.http.counts(),
            "http_requests": self.modern.count,
            "in_flight": router.pending.client_requests(),
            "restarts": supervisor.policy.restarts,
            "failures": supervisor.policy.failures,
            "last_error": supervisor.last_error,
            "next_start": supervisor.next_start,
            "idle_seconds": round(time.monotonic() - self.empty_since, 1) if not router.clients else 0,
        }
