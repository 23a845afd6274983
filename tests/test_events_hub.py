"""The /events hub's bounds: a reader that falls behind is dropped, never buffered without
limit; publishing never waits for a reader; the number of streams is bounded."""
import gevent

from agentdeck.deck.sse import SseParser
from agentdeck.web.events import EventHub, EventsRoute, format_event


def test_an_event_is_formatted_once_as_one_sse_event():
    parser = SseParser()
    assert parser.feed(format_event("session", {"id": "a", "prompt": "two\nlines"})) == [
        ("session", '{"id":"a","prompt":"two\\nlines"}')]


def test_a_reader_that_falls_behind_is_dropped_and_the_others_keep_their_events():
    hub = EventHub(queue_bytes=1000)
    slow, fast = hub.subscribe(), hub.subscribe()
    for _ in range(100):
        hub.publish("session", {"id": "x" * 80})
        fast.take()
    assert slow.dropped and not slow.queue and slow.wake.is_set()
    assert not fast.dropped
    assert hub.subscribers == {fast}
    assert hub.stats()["dropped"] == 1


def test_the_number_of_streams_is_bounded_and_a_leaving_one_frees_its_place():
    hub = EventHub(max_subscribers=2)
    first, second = hub.subscribe(), hub.subscribe()
    assert hub.subscribe() is None and hub.refused == 1
    hub.unsubscribe(first)
    assert hub.subscribe() is not None


def test_nothing_is_kept_when_nobody_listens_and_close_ends_every_stream():
    hub = EventHub()
    hub.publish("session", {"id": "a"})
    assert hub.published == 0
    streams = [hub.subscribe(), hub.subscribe()]
    hub.close()
    assert all(s.dropped and s.wake.is_set() for s in streams) and not hub


def test_a_quiet_stream_gets_a_keep_alive_comment_and_then_its_events():
    hub = EventHub()
    route = EventsRoute(hub, lambda: {"sessions": []}, heartbeat=0.05)
    started = []
    stream = route({"REQUEST_METHOD": "GET"}, lambda status, headers: started.append(status) or (lambda data: None))
    with gevent.Timeout(5):
        assert started == ["200 OK"]
        assert next(stream).startswith(b"event: snapshot\n")
        assert next(stream) == b": keep-alive\n\n"  # after a heartbeat of silence
        hub.publish("session", {"id": "a"})
        assert next(stream) == format_event("session", {"id": "a"})
    stream.close()
    assert not hub.subscribers
