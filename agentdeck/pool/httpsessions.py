"""The HTTP sessions of one child of a pooled server: made on initialize, found by
Mcp-Session-Id, taken up again after a daemon restart, ended by DELETE, by idling, or to
make room (`router.Router.admit`).

Every session is a router client and counts toward max_clients like a socket client, so
a child has at most max_clients sessions, each holding at most http_replay_bytes of
replay ring plus what its open streams have not written (client_queue_bytes each). One
that has no stream open, nothing in flight and no event stream with events that ended
within `httpsession.RESUME_GRACE` holds no slot against a live client: when the child is full,
the least recently used of those is ended first. A session ended for any reason is gone
for good: its id gets 404 (see `sessionids`).
"""
from loguru import logger

from agentdeck.pool.httpsession import HttpSession


class HttpSessions:
    def __init__(self, router, ids, next_cid, project=None):
        self.router = router
        self.ids = ids            # sessionids.SessionIds shared by the pool
        self.project = project    # the project its ids are issued for (share = "project"), or None
        self.next_cid = next_cid  # callable: a client id unique within the server
        self.live = {}            # Mcp-Session-Id -> HttpSession

    @property
    def name(self):
        return self.router.name

    def create(self, protocol):
        """A new session, or None when the server has max_clients clients already."""
        return self._admit(self.ids.new(self.name, self.project), protocol)

    def find(self, sid, protocol):
        """The live session ``sid``; one an earlier run of this home issued is taken up again
        (its next call is answered without a new initialize). None when unknown or ended."""
        session = self.live.get(sid)
        if session is not None:
            session.protocol = protocol
            return session
        if not self.ids.resumable(self.name, self.project, sid):
            return None
        session = self._admit(sid, protocol)
        if session is not None:
            self.ids.take_up(sid)
            logger.info("server {}: HTTP session {} taken up again after a restart", self.name, session.cid)
        return session

    def _admit(self, sid, protocol):
        session = HttpSession(self.next_cid(), sid, protocol, lambda: self.router.settings, self.ids.run, self.forget,
                              self.router.stats)
        if not self.router.admit(session):
            logger.warning("server {}: refused an HTTP session: {} clients already (max_clients)", self.name,
                           self.router.settings.max_clients)
            return None
        self.live[sid] = session
        return session

    def forget(self, session):
        """The router dropped ``session`` (ended, idle, made room, or the server stopping)."""
        if self.live.get(session.sid) is session:
            del self.live[session.sid]

    def counts(self):
        return len(self.live)
