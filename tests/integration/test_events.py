"""``/events`` end to end: a real daemon, real tmux sessions made by `agentdeck session
add`, the real `agentdeck hook` command, and the stream read over a real socket."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse


from agentdeck.deck.sse import SseParser
from agentdeck.web.events import MAX_SUBSCRIBERS
from tests.support import clean_env, run_cli, scripted, wait_for

HOOK = [sys.executable, "-m", "agentdeck", "hook"]
HOOK_TO_EVENT = 1.0   # seconds: the bound from a hook to the reader
EVENT_TIMEOUT = 15.0  # seconds to wait for events only a periodic pass or a restart brings
TOKEN = "events-test-token-0123456789abcdef"


class EventReader:
    """One /events stream on a plain socket: the request, then parsed events."""

    def __init__(self, url, headers=None, timeout=10.0):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {"Host": f"127.0.0.1:{parts.port}"}).items())
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sock.sendall(f"GET {target} HTTP/1.1\r\n{extra}Accept: text/event-stream\r\n\r\n".encode())
        self.head = b""
        while b"\r\n\r\n" not in self.head:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed before the head: {self.head!r}"
            self.head += chunk
        self.head, _, rest = self.head.partition(b"\r\n\r\n")
        self.status = int(self.head.split(b" ", 2)[1])
        self.parser = SseParser()
        self.pending = []  # parsed events not yet looked at
        self.seen = []  # every event looked at, for failure messages
        self._raw = b""  # chunked framing not yet undone
        if self.status == 200:
            self._feed(rest)

    def _feed(self, data):
        """Undo the chunked framing, then parse."""
        self._raw += data
        while True:
            size_end = self._raw.find(b"\r\n")
            if size_end == -1:
                return
            size = int(self._raw[:size_end].split(b";")[0], 16)
            if len(self._raw) < size_end + 2 + size + 2:
                return
            chunk = self._raw[size_end + 2:size_end + 2 + size]
            self._raw = self._raw[size_end + 2 + size + 2:]
            self.pending += self.parser.feed(chunk)

    def next(self, predicate, timeout):
        """The first event (kind, data as JSON) for which ``predicate`` holds, within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                kind, data = self.pending.pop(0)
                event = (kind, json.loads(data))
                self.seen.append(event)
                if predicate(*event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event within {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no matching event within {timeout} s; seen: {self.seen[-5:]}") from None
            assert chunk, "the stream ended"
            self._feed(chunk)

    def close(self):
        self.sock.close()


def session_add(home, env, project, title):
    proc = run_cli(home, "session", "add", str(project), "--title", title, "--cmd", "sleep 600", env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def hook(home, env, instance_id, event, **fields):
    payload = {"hook_event_name": event, "session_id": "s-1", "cwd": "/tmp", **fields}
    proc = subprocess.run(HOOK, input=json.dumps(payload), text=True, capture_output=True, timeout=30,
                          env={**env, "AGENTDECK_INSTANCE_ID": instance_id})
    assert proc.returncode == 0, proc.stderr


def test_a_hook_reaches_an_events_reader_within_a_second(start_daemon, tmux, tmp_path):
    daemon = start_daemon(env_extra={"AGENTDECK_TMUX_SOCKET": tmux.socket})
    env = clean_env(daemon.home, AGENTDECK_TMUX_SOCKET=tmux.socket)
    instance_id = session_add(daemon.home, env, tmp_path, "watched")
    reader = EventReader(daemon.info()["status_url"] + "/events")
    try:
        assert reader.status == 200
        kind, snapshot = reader.next(lambda kind, data: True, 10)
        assert kind == "snapshot"
        assert {s["id"] for s in snapshot["sessions"]} == {instance_id}
        for event, fields, status in [("UserPromptSubmit", {"prompt": "fix the flaky test"}, "running"),
                                      ("Notification", {"notification_type": "permission_prompt",
                                                        "message": "Claude needs your permission"}, "waiting"),
                                      ("UserPromptSubmit", {"prompt": "go on"}, "running"),
                                      ("Stop", {}, "waiting")]:
            hook(daemon.home, env, instance_id, event, **fields)
            done = time.monotonic()
            kind, entry = reader.next(lambda kind, data: kind == "session" and data["hook_event"] == event, 10)
            assert time.monotonic() - done < HOOK_TO_EVENT, f"{event} took {time.monotonic() - done:.2f} s"
            assert (entry["id"], entry["status"], entry["title"]) == (instance_id, status, "watched")
            if "prompt" in fields:
                assert entry["prompt"] == fields["prompt"]
        assert run_cli(daemon.home, "session", "kill", instance_id, env=env).returncode == 0
        reader.next(lambda kind, data: kind == "session" and data["status"] == "dead", EVENT_TIMEOUT)
        assert run_cli(daemon.home, "session", "remove", instance_id, env=env).returncode == 0
        kind, gone = reader.next(lambda kind, data: kind == "session_removed", EVENT_TIMEOUT)
        assert gone == {"id": instance_id}
    finally:
        reader.close()


def test_a_session_added_while_streaming_is_announced(start_daemon, tmux, tmp_path):
    daemon = start_daemon(env_extra={"AGENTDECK_TMUX_SOCKET": tmux.socket})
    env = clean_env(daemon.home, AGENTDECK_TMUX_SOCKET=tmux.socket)
    reader = EventReader(daemon.info()["status_url"] + "/events")
    try:
        assert reader.next(lambda kind, data: True, 10)[1]["sessions"] == []
        instance_id = session_add(daemon.home, env, tmp_path, "newcomer")
        kind, entry = reader.next(lambda kind, data: kind == "session", EVENT_TIMEOUT)
        assert (entry["id"], entry["title"]) == (instance_id, "newcomer")
    finally:
        reader.close()


def test_a_server_restart_is_an_event(start_daemon):
    daemon = start_daemon(servers={"echo": scripted()})
    reader = EventReader(daemon.info()["status_url"] + "/events")
    try:
        kind, snapshot = reader.next(lambda kind, data: True, 10)
        pid = wait_for(lambda: daemon.server("echo")["pid"], 15, message="the echo child")
        os.kill(pid, signal.SIGKILL)
        kind, entry = reader.next(lambda kind, data: kind == "server" and data["state"] == "backoff"
                                  and data["next_start"], EVENT_TIMEOUT)
        assert 0 < entry["next_start"] - time.time() <= 5.5  # restarts are at least 5 s apart
        # Its words are the pool's: killed, or cut off mid-handshake.
        assert entry["name"] == "echo" and entry["last_error"]
        kind, entry = reader.next(lambda kind, data: kind == "server" and data["state"] == "running", EVENT_TIMEOUT)
        assert entry["restarts"] == 1 and entry["pid"] not in (None, pid)
    finally:
        reader.close()


def test_events_has_the_access_rules_of_status(start_daemon):
    daemon = start_daemon(daemon={"status_token": TOKEN})
    url = daemon.info()["status_url"] + "/events"
    port = urllib.parse.urlsplit(url).port
    host = {"Host": f"127.0.0.1:{port}"}
    cases = [  # (headers, query, status)
        (host, "", 401),
        ({**host, "Authorization": "Bearer wrong"}, "", 401),
        ({**host, "Authorization": f"Bearer {TOKEN}"}, "", 200),
        (host, f"?token={TOKEN}", 200),
    ]
    for headers, query, status in cases:
        reader = EventReader(url + query, headers)
        assert reader.status == status, (headers, query)
        reader.close()


def test_events_refuses_a_foreign_host_or_a_foreign_page_without_a_token(start_daemon):
    daemon = start_daemon()
    url = daemon.info()["status_url"] + "/events"
    host = f"127.0.0.1:{urllib.parse.urlsplit(url).port}"
    cases = [  # (headers, status)
        ({"Host": "evil.example:80"}, 403),
        ({"Host": host, "Origin": "https://evil.example"}, 403),
        ({"Host": host, "Origin": "null"}, 403),
        ({"Host": host, "Origin": f"http://{host}"}, 200),
        ({"Host": host, "Origin": "http://localhost:3000"}, 200),
        ({"Host": host}, 200),
    ]
    for headers, status in cases:
        reader = EventReader(url, headers)
        assert reader.status == status, headers
        reader.close()


def test_streams_beyond_the_limit_are_refused_and_a_closed_one_frees_its_place(start_daemon):
    daemon = start_daemon()
    url = daemon.info()["status_url"] + "/events"
    readers = [EventReader(url) for _ in range(MAX_SUBSCRIBERS)]
    try:
        assert [r.status for r in readers] == [200] * MAX_SUBSCRIBERS
        extra = EventReader(url)
        assert extra.status == 503 and b"Retry-After: 1" in extra.head
        extra.close()
        readers.pop().close()

        def accepted():
            reader = EventReader(url)
            if reader.status == 200:
                readers.append(reader)
                return True
            reader.close()
            return False
        wait_for(accepted, 10, interval=0.2, message="a place after a reader left")
        assert daemon.status()["events"]["subscribers"] == MAX_SUBSCRIBERS
    finally:
        for reader in readers:
            reader.close()
