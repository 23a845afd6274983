"""The HTTP sessions of one pooled server: made on initialize, found by Mcp-Session-Id,
taken up again after a daemon restart, ended by DELETE or by idling.

Every session is a router client and counts toward max_clients like a socket client.
"""
from loguru import logger

from agentdeck.pool.httpsession import HttpSession


class HttpSessions:
    def __init__(self, router, ids, boot, next_cid, scope=None):
        self.router = router
        self.ids = ids            # sessionids.SessionIds shared by the pool
        self.scope = scope or router.name  # what an id is issued for: the server, or the server and a project
        self.boot = boot          # this daemon run's prefix for SSE event ids
        self.next_cid = next_cid  # callable: a client id unique within the server
        self.live = {}            # Mcp-Session-Id -> HttpSession

    @property
    def name(self):
        return self.router.name

    def create(self, protocol):
        """A new session, or None when the server has max_clients clients already."""
        return self._admit(self.ids.new(self.scope), protocol)

    def find(self, sid, protocol):
        """The live session ``sid``; one this home issued before a restart is taken up again
        (its next call is answered without a new initialize). None when unknown or ended."""
        session = self.live.get(sid)
        if session is not None:
            session.protocol = protocol
            return session
        if not self.ids.valid(self.scope, sid):
            return None
        session = self._admit(sid, protocol)
        if session is not None:
            logger.info("server {}: HTTP session {} taken up again after a restart", self.name, session.cid)
        return session

    def _admit(self, sid, protocol):
        session = HttpSession(self.next_cid(), sid, protocol, lambda: self.router.settings, self.boot, self.forget,
                              self.router.stats)
        if not self.router.admit(session):
            logger.warning("server {}: refused an HTTP session: {} clients already (max_clients)", self.name,
                           self.router.settings.max_clients)
            return None
        self.live[sid] = session
        return session

    def end(self, session, reason):
        """End a session for good: its id is answered 404 from now on."""
        self.ids.end(session.sid)
        self.router.drop_client(session, reason)

    def forget(self, session):
        """The router dropped ``session`` (ended, idle, or the server stopping)."""
        if self.live.get(session.sid) is session:
            del self.live[session.sid]

    def counts(self):
        return len(self.live)
