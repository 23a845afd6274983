"""The front door's SSE writer in-process: a quiet stream gets keep-alive comments, an
answer ends a POST stream."""
import gevent

from agentdeck.pool.httpsession import HttpSession
from agentdeck.pool.stats import Stats
from agentdeck.web import mcproute
from agentdeck.wire.jsonrpc import id_key
from tests.test_httpsession import SETTINGS


def session(protocol="2025-06-18"):
    return HttpSession(1, "sid", protocol, lambda: SETTINGS, "boot", lambda s: None, Stats())


def test_a_quiet_stream_gets_a_keep_alive_comment_and_then_its_events(monkeypatch):
    monkeypatch.setattr(mcproute, "HEARTBEAT", 0.1)
    monkeypatch.setattr(mcproute, "HANGUP_CHECK", 0.05)
    s = session()
    events = mcproute.McpRoute(lambda name: None)._events(s, s.open_get(), None)
    with gevent.Timeout(2):
        assert next(events) == b": keep-alive\n\n"
        s.put(b'{"jsonrpc":"2.0","method":"notifications/message"}\n')
        assert next(events) == b'id: boot-1\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message"}\n\n'


def test_a_post_stream_primes_newer_clients_and_ends_with_its_answer():
    s = session("2025-11-25")
    key = id_key(1)
    stream = s.open_post([key])
    s.put(b'{"jsonrpc":"2.0","id":1,"result":{}}\n', key, final=True)
    with gevent.Timeout(2):
        written = list(mcproute.McpRoute(lambda name: None)._events(s, stream, None))
    assert written == [b"id: boot-p1\nretry: 1000\ndata: \n\n",
                       b'id: boot-1\nevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n']


def _answered(s, stream, single=True):
    with gevent.Timeout(2):
        return b"".join(mcproute.McpRoute(lambda name: None)._answer(s, stream, lambda status, headers: lambda data: None, [],
                                                                    single=single))


def test_an_answer_sent_as_a_json_body_leaves_the_replay_ring_and_sse_events_stay():
    """A JSON body names no event, so nothing can ask for it again: sessions do not keep
    every answer they sent (up to http_replay_bytes each) for nothing."""
    s = session()
    key = id_key(1)
    stream = s.open_post([key])
    s.put(b'{"jsonrpc":"2.0","id":1,"result":{}}\n', key, final=True)
    assert _answered(s, stream) == b'{"jsonrpc":"2.0","id":1,"result":{}}\n'
    assert s.ring_bytes == 0 and not s.ring
    key = id_key(2)
    stream = s.open_post([key])
    s.put(b'{"jsonrpc":"2.0","method":"notifications/progress"}\n', key)
    s.put(b'{"jsonrpc":"2.0","id":2,"result":{}}\n', key, final=True)
    assert _answered(s, stream).count(b"event: message") == 2
    assert [entry[0] for entry in s.ring] == [2, 3]  # an SSE stream can be resumed: its events stay
