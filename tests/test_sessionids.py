"""HTTP session ids: issued per server, unforgeable, and refused once ended, within a
memory bound whatever the uptime."""
import tracemalloc

from agentdeck.pool.sessionids import ENDED_KEPT, SessionIds

KEY = bytes(range(32))


def test_an_id_is_valid_for_its_server_only_and_not_once_altered():
    ids = SessionIds(KEY)
    sid = ids.new("time")
    assert ids.valid("time", sid)
    assert not ids.valid("other", sid)
    assert not ids.valid("time", sid[:-1] + ("A" if sid[-1] != "A" else "B"))
    assert SessionIds(KEY).valid("time", sid)  # a restarted daemon with the same key takes it up
    assert not SessionIds(bytes(32)).valid("time", sid)


def test_an_ended_id_is_refused_until_ENDED_KEPT_newer_ones_have_ended():
    ids = SessionIds(KEY)
    first = ids.new("s")
    ids.end(first)
    assert not ids.valid("s", first)
    later = [ids.new("s") for _ in range(ENDED_KEPT)]
    for sid in later[:-1]:
        ids.end(sid)
    assert not ids.valid("s", first)  # ENDED_KEPT remembered: first is still one of them
    ids.end(later[-1])
    assert ids.valid("s", first)  # forgotten: the oldest gives way
    assert not any(ids.valid("s", sid) for sid in later)


def test_ending_ids_holds_no_memory_beyond_what_the_first_one_did():
    """Memory bounded by configuration from the start: a daemon that has ended 8,192 HTTP
    sessions holds what it held after its first (the soak saw ~190 bytes per ended id,
    ~760 KiB once ENDED_KEPT had ended)."""
    ids = SessionIds(KEY)
    sids = [ids.new("s") for _ in range(ENDED_KEPT * 2)]
    ids.end(sids[0])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for sid in sids[1:]:
            ids.end(sid)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 4096, f"{held} bytes held by {len(sids) - 1} more ended ids"
