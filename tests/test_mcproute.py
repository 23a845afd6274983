"""The front door in-process: which server and project a path names, and its SSE
writer (a quiet stream gets keep-alive comments, an answer ends a POST stream)."""
import socket

import gevent
import pytest
from gevent.event import Event

from agentdeck.pool.httpsession import HttpSession
from agentdeck.pool.stats import Stats
from agentdeck.clientfiles.endpoint import server_url
from agentdeck.web import httpreply, mcproute
from agentdeck.wire.hello import project_key
from agentdeck.wire.jsonrpc import id_key
from tests.test_httpsession import SETTINGS


# PATH_INFO (percent-decoded once by the listener) -> (server name, project key or
# None), or None when it names no server
PATHS = [
    ("/servers/time/mcp", ("time", None)),
    ("/servers/time/mcp/", ("time", None)),
    ("/servers/time/mcp?x=1", None),                # a ? in PATH_INFO was a %3F: part of the path
    ("/servers/my.srv-1/p/L2hvbWUvbWU/mcp", ("my.srv-1", "L2hvbWUvbWU")),
    ("/servers/mcp/mcp", ("mcp", None)),            # a server named mcp
    ("/servers/time", None),                        # the /servers/ spelling always ends in /mcp
    ("/servers/time/p/L2hvbWUvbWU", None),
    ("/servers/mcp", None),
    ("/servers/", None),
    ("/mcp/time", ("time", None)),                  # the first spelling, still served
    ("/mcp/time/", ("time", None)),
    ("/mcp/my.srv-1/p/L2hvbWUvbWU", ("my.srv-1", "L2hvbWUvbWU")),
    ("/mcp/time/mcp", ("time/mcp", None)),          # no such server: 404
    ("/mcp/%74ime", ("%74ime", None)),              # /mcp/%2574ime, decoded once: not time
    ("/mcp/time?x", ("time?x", None)),
    ("/status", None),
]


@pytest.mark.parametrize("path, named", PATHS)
def test_a_path_names_a_server_and_a_project(path, named):
    assert mcproute.parse_path(path) == named
    assert mcproute.serves(path) == path.startswith(("/servers/", "/mcp/"))


@pytest.mark.parametrize("name, project", [("time", None), ("my.srv-1", "/home/me/proj"), ("mcp", "/")])
def test_every_url_the_client_files_spell_is_routed_back(name, project):
    """`clientfiles.endpoint` writes the URLs, this route reads them: they must agree."""
    url = server_url("http://127.0.0.1:8420", name, project)
    assert url.endswith("/mcp")  # what the MCP Inspector insists on
    path = url.removeprefix("http://127.0.0.1:8420")
    assert mcproute.parse_path(path) == (name, project_key(project) if project else None)


def session(protocol="2025-06-18"):
    return HttpSession(1, "sid", protocol, lambda: SETTINGS, "boot", lambda s: None, Stats())


def test_a_quiet_stream_gets_a_keep_alive_comment_and_then_its_events(monkeypatch):
    monkeypatch.setattr(mcproute, "HEARTBEAT", 0.1)
    monkeypatch.setattr(httpreply, "HANGUP_CHECK", 0.05)
    s = session()
    events = mcproute.McpRoute(lambda name: None)._events(s, s.open_get(), None)
    with gevent.Timeout(2):
        assert next(events) == b": keep-alive\n\n"
        s.put(b'{"jsonrpc":"2.0","method":"notifications/message"}\n')
        assert next(events) == b'id: boot-1\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message"}\n\n'


def test_wait_on_says_whether_it_was_woken_the_stream_was_quiet_or_the_client_hung_up(monkeypatch):
    monkeypatch.setattr(httpreply, "HANGUP_CHECK", 0.02)
    ours, theirs = socket.socketpair()
    wake = Event()
    with gevent.Timeout(2):
        assert httpreply.wait_on(wake, ours.fileno(), 0.05) is httpreply.QUIET
        gevent.spawn_later(0.05, wake.set)
        assert httpreply.wait_on(wake, ours.fileno(), None) is httpreply.WOKEN
        wake.clear()
        theirs.close()
        assert httpreply.wait_on(wake, ours.fileno(), None) is httpreply.GONE
    ours.close()


def test_a_post_stream_primes_newer_clients_and_ends_with_its_answer():
    s = session("2025-11-25")
    key = id_key(1)
    stream = s.open_post([key])
    s.put(b'{"jsonrpc":"2.0","id":1,"result":{}}\n', key, final=True)
    with gevent.Timeout(2):
        written = list(mcproute.McpRoute(lambda name: None)._events(s, stream, None))
    assert written == [b"id: boot-p1\nretry: 1000\ndata: \n\n",
                       b'id: boot-1\nevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n']


def _answered(s, stream):
    with gevent.Timeout(2):
        return b"".join(mcproute.McpRoute(lambda name: None)._answer(s, stream, lambda status, headers: lambda data: None,
                                                                    []))


def test_an_answer_sent_as_a_json_body_leaves_the_replay_ring_and_sse_events_stay():
    """A JSON body names no event, so nothing can ask for it again: sessions do not keep
    every answer they sent (up to http_replay_bytes each) for nothing."""
    s = session()
    key = id_key(1)
    stream = s.open_post([key], single=True)
    s.put(b'{"jsonrpc":"2.0","id":1,"result":{}}\n', key, final=True)
    assert _answered(s, stream) == b'{"jsonrpc":"2.0","id":1,"result":{}}\n'
    assert s.ring_bytes == 0 and not s.ring
    key = id_key(2)
    stream = s.open_post([key], single=True)
    s.put(b'{"jsonrpc":"2.0","method":"notifications/progress"}\n', key)
    s.put(b'{"jsonrpc":"2.0","id":2,"result":{}}\n', key, final=True)
    assert _answered(s, stream).count(b"event: message") == 2
    assert len(s.ring) == 2  # an SSE stream can be resumed: its events stay
