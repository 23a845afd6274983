"""An HTTP session's streams and replay ring, without a hub or sockets: which stream each
message goes on, what a resumed stream gets, and the bounds."""
from agentdeck import config
from agentdeck.pool.httpsession import RESUME_GRACE, HttpSession
from agentdeck.pool.stats import Stats
from agentdeck.wire.jsonrpc import id_key

SETTINGS = config.build({"pool": {"client_queue_bytes": 4096, "http_replay_bytes": 4096}}).pool
A, B = id_key(1), id_key("b")


def session():
    return HttpSession(1, "sid", "2025-06-18", lambda: SETTINGS, "boot", lambda s: None, Stats())


def lines(stream):
    return [line for _, line, _ in stream.take()]


def test_a_message_goes_on_the_stream_of_its_request_and_the_answer_ends_the_call():
    s = session()
    post = s.open_post([A])
    s.put(b"progress\n", A)
    s.put(b"unprompted\n")  # no GET stream open: kept for the next one
    s.put(b"answer\n", A, final=True)
    assert lines(post) == [b"progress\n", b"answer\n"] and post.done
    assert A not in s.calls
    get = s.open_get()
    assert lines(get) == [b"unprompted\n"]
    s.put(b"later\n")
    assert lines(get) == [b"later\n"]


def test_a_post_stream_that_closed_early_is_resumed_with_what_it_missed():
    s = session()
    post = s.open_post([A, B])
    s.put(b"first\n", A)
    first_id = post.take()[0][0]
    s.stream_ended(post, True)  # the client hung up: not a cancel
    s.put(b"answer a\n", A, final=True)
    s.put(b"answer b\n", B, final=True)
    resumed = s.open_get(first_id)
    assert lines(resumed) == [b"answer a\n", b"answer b\n"]
    again = s.open_get(s.priming_id(post.tag))  # from its priming event: the whole stream
    assert lines(again) == [b"first\n", b"answer a\n", b"answer b\n"]


def test_an_event_id_of_another_run_or_that_left_the_ring_opens_the_get_stream_with_nothing_replayed():
    """Regression: after a daemon restart such a GET got 404, which tells a client its
    session is gone, and the SDKs then gave the stream up for good."""
    s = session()
    post = s.open_post([A])
    s.put(b"x" * 3000 + b"\n", A, final=True)
    kept = s.event_id(1)
    s.put(b"y" * 3000 + b"\n")  # the ring holds 4096 bytes: the first event leaves it
    got = []
    for unknown in (kept, "otherboot-2", "otherboot-p1", "boot-nonsense"):
        get = s.open_get(unknown)
        assert get is s.get and get.tag == 0 and not get.closed
        got.append(lines(get))
    assert got == [[b"y" * 3000 + b"\n"], [], [], []]  # what no stream was given yet, once; nothing replayed
    assert post.tag != 0 and A not in s.calls
    s.put(b"next\n")
    assert lines(s.get) == [b"next\n"]


def test_a_stream_whose_reader_stops_is_closed_and_the_session_keeps_the_events():
    s = session()
    get = s.open_get()
    for _ in range(6):
        s.put(b"z" * 1000 + b"\n")  # never taken: the sixth finds 5 KB waiting (client_queue_bytes 4096)
    assert get.closed and s.get is None and s.stats.slow_streams == 1
    fresh = s.open_get(s.priming_id(0))
    assert len(lines(fresh)) == 4  # what the ring (4096 bytes) still holds


def test_a_message_larger_than_the_ring_is_only_delivered_live():
    s = session()
    post = s.open_post([A])
    s.put(b"h" * 10000 + b"\n", A, final=True)
    assert s.ring_bytes == 0 and len(lines(post)[0]) == 10001


def test_an_idle_session_has_no_stream_call_or_request():
    s = session()
    s.last_active -= SETTINGS.http_session_idle
    assert s.is_idle(s.last_active + SETTINGS.http_session_idle, SETTINGS)
    s.open_get()
    assert not s.is_idle(s.last_active + SETTINGS.http_session_idle, SETTINGS)


def test_a_session_that_may_have_lost_an_answer_is_not_abandoned_until_its_client_had_time_to_resume():
    """Ending it to make room would lose the answer its client is coming back for: what
    an event stream wrote may not have been read. One that left a stream that carried
    nothing (`claude mcp list` leaves its GET stream and never returns) owes nothing."""
    def answered_as_json(s):
        post = s.open_post([A], single=True)
        s.put(b"answer\n", A, final=True)
        post.take()
        s.stream_ended(post, False)

    def left_its_get_stream(s):
        s.stream_ended(s.open_get(), True)  # nothing was taken: nothing could be lost

    def broke_the_stream_before_the_answer(s):
        post = s.open_post([A])
        s.put(b"progress\n", A)
        post.take()
        s.stream_ended(post, True)
        s.put(b"answer\n", A, final=True)  # into the ring only

    def broke_the_stream_before_any_event(s):
        s.stream_ended(s.open_post([A]), True)  # a 2025-11-25 client resumes from the priming event
        s.put(b"answer\n", A, final=True)

    def left_as_the_answer_was_written(s):
        post = s.open_post([A])
        s.put(b"progress\n", A)
        s.put(b"answer\n", A, final=True)
        post.take()
        s.stream_ended(post, True)  # written: perhaps after its client had stopped reading

    for case, owed in ((answered_as_json, False), (left_its_get_stream, False),
                       (broke_the_stream_before_the_answer, True), (broke_the_stream_before_any_event, True),
                       (left_as_the_answer_was_written, True)):
        s = session()
        case(s)
        assert not s.calls and s.get is None
        assert s.abandoned() is not owed, case.__name__
        s.resume_until -= RESUME_GRACE
        assert s.abandoned(), case.__name__
