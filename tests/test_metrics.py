"""/metrics: the Prometheus text of a /status snapshot, checked with prometheus_client's parser."""
from prometheus_client.parser import text_string_to_metric_families

from agentdeck.pool import states as server_states
from agentdeck.web import metrics
from agentdeck.web.events import EventHub


def server(name, **values):
    base = {"name": name, "state": server_states.RUNNING, "since": 1.0, "pid": 42, "clients": 0, "in_flight": 0,
            "restarts": 0, "failures": 0, "last_error": None, "stderr_tail": "", "bytes_in": 0, "bytes_out": 0,
            "requests": 0, "orphans": 0, "oversize_requests": 0, "oversize_responses": 0, "bad_child_lines": 0,
            "idle_closed": 0, "slow_closed": 0, "slow_streams": 0, "rejected": 0, "made_room": 0,
            "socket_clients": 0,
            "http_sessions": 0}
    return base | values


SNAPSHOT = {
    "daemon": {"pid": 1, "version": "0.1.0", "uptime": 12.5, "rss_bytes": 41943040, "log_lines_lost": 3},
    "servers": [server("time", clients=3, socket_clients=1, http_sessions=2, slow_streams=10, in_flight=1, restarts=2, bytes_in=1000, bytes_out=2500, requests=7,
                       oversize_requests=1, oversize_responses=4, idle_closed=5, slow_closed=6, rejected=8,
                       orphans=9, made_room=12),
                server("git", state=server_states.FATAL)],
    "sessions": [{"id": "a", "status": "waiting"}, {"id": "b", "status": "waiting"}, {"id": "c", "status": "dead"}],
    "transitions": {"events_dropped": 11, "transitions": 4, "passes": 100, "last_pass_seconds": 0.002},
    "http": {"refused": {"body_too_large": 1, "timeout": 2}},
}


def parse(text):
    """{(sample name, frozenset of labels): value}, and the families' types."""
    samples, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_metrics_parse_and_carry_the_numbers_of_the_snapshot():
    samples, types = parse(metrics.render(SNAPSHOT))
    assert value(samples, "agentdeck_resident_memory_bytes") == 41943040
    assert value(samples, "agentdeck_uptime_seconds") == 12.5
    assert value(samples, "agentdeck_info", version="0.1.0") == 1
    assert value(samples, "agentdeck_log_lines_lost_total") == 3
    assert value(samples, "agentdeck_events_dropped_total") == 11
    assert value(samples, "agentdeck_session_transitions_total") == 4
    expected = {"clients": 3, "in_flight": 1, "restarts_total": 2, "bytes_in_total": 1000, "bytes_out_total": 2500,
                "requests_total": 7, "oversize_requests_total": 1, "oversize_responses_total": 4,
                "idle_disconnects_total": 5, "slow_disconnects_total": 6, "rejected_clients_total": 8,
                "orphan_responses_total": 9, "socket_clients": 1, "http_sessions": 2, "slow_streams_total": 10,
                "made_room_total": 12}
    for suffix, number in expected.items():
        assert value(samples, f"agentdeck_mcp_{suffix}", server="time") == number, suffix
    assert value(samples, "agentdeck_http_refused_total", reason="body_too_large") == 1
    assert types["agentdeck_mcp_restarts"] == "counter" and types["agentdeck_mcp_clients"] == "gauge"


def test_the_event_streams_counters_follow_the_hub():
    hub = EventHub(max_subscribers=2, queue_bytes=100)

    def streams():
        samples, types = parse(metrics.render({"events": hub.stats()}))
        assert types["agentdeck_event_streams"] == "gauge" and types["agentdeck_event_streams_dropped"] == "counter"
        return {name: value(samples, name) for name in ("agentdeck_event_streams", "agentdeck_event_stream_events_total",
                                                         "agentdeck_event_streams_dropped_total",
                                                         "agentdeck_event_streams_refused_total")}

    assert set(streams().values()) == {0}
    slow, fast = hub.subscribe(), hub.subscribe()
    assert hub.subscribe() is None  # a third is one too many
    hub.publish("session", {"id": "a"})
    fast.take()
    hub.publish("session", {"id": "b" * 60})  # slow now has more than 100 bytes waiting
    assert slow.dropped and not fast.dropped
    assert streams() == {"agentdeck_event_streams": 1, "agentdeck_event_stream_events_total": 2,
                         "agentdeck_event_streams_dropped_total": 1, "agentdeck_event_streams_refused_total": 1}


def test_each_server_has_exactly_one_state_set():
    samples, _ = parse(metrics.render(SNAPSHOT))
    for name, state in (("time", server_states.RUNNING), ("git", server_states.FATAL)):
        states = {dict(labels)["state"]: v for (metric, labels), v in samples.items()
                  if metric == "agentdeck_mcp_server_state" and dict(labels)["server"] == name}
        assert set(states) == set(server_states.TRANSITIONS)
        assert [s for s, v in states.items() if v == 1] == [state]


def test_sessions_are_counted_by_status_including_the_empty_ones():
    samples, _ = parse(metrics.render(SNAPSHOT))
    counts = {status: value(samples, "agentdeck_sessions", status=status)
              for status in ("running", "waiting", "idle", "dead")}
    assert counts == {"running": 0, "waiting": 2, "idle": 0, "dead": 1}


def test_label_values_and_help_are_escaped():
    snapshot = {"daemon": {"version": 'odd"\\\nversion'}, "servers": [server('we"ird\\name')]}
    samples, _ = parse(metrics.render(snapshot))
    assert value(samples, "agentdeck_info", version='odd"\\\nversion') == 1
    assert value(samples, "agentdeck_mcp_clients", server='we"ird\\name') == 0


def test_an_empty_snapshot_still_renders_valid_text():
    samples, _ = parse(metrics.render({}))
    assert value(samples, "agentdeck_resident_memory_bytes") == 0
    assert value(samples, "agentdeck_sessions", status="running") == 0


def test_every_metric_name_is_unique_and_documented():
    text = metrics.render(SNAPSHOT)
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(helps) == len(set(helps)) == len(types)
    assert all(name.startswith("agentdeck_") for name in helps)
