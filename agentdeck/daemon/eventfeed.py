"""What the daemon publishes on ``/events`` (`web.events.EventHub`).

Sessions: the transition daemon calls `session_changed` / `session_removed` from its
pass, which runs at once when a hook file changes, so a hook's effect reaches a reader
within a pass (milliseconds) of inotify seeing the file.

Servers: a pooled server's state lives in several objects (supervisor, children, router,
HTTP sessions); rather than thread a callback through each, `watch_servers` compares
what a person sees of each server (state, pid, clients, restarts, errors) every
SERVER_CHECK seconds while somebody listens, and publishes the servers that changed.
With no listener it does nothing but sleep.
"""
import gevent

SERVER_CHECK = 0.5  # seconds between two looks at the pool while a stream is open
# The fields of a server's /status entry a change of which is news (not its byte counters).
SERVER_FIELDS = ("state", "pid", "clients", "restarts", "failures", "last_error", "child_count", "next_start")


def server_signature(entry):
    return tuple(entry.get(k) for k in SERVER_FIELDS) + tuple(
        (child.get("key"), child.get("state"), child.get("clients")) for child in entry.get("children", ()))


class EventFeed:
    """Publishes into ``hub`` (an EventHub). ``describe(record, status, since)`` returns a
    session's /status entry; ``servers()`` returns the pool's /status entries."""

    def __init__(self, hub, describe, servers):
        self.hub = hub
        self.describe = describe
        self.servers = servers
        self._known = {}  # server name -> signature at the last look

    def session_changed(self, record, status, since):
        if self.hub:
            self.hub.publish("session", self.describe(record, status, since))

    def session_removed(self, instance_id):
        self.hub.publish("session_removed", {"id": instance_id})

    def check_servers(self):
        """Publish every server whose signature changed since the last look, and every one gone."""
        entries = {entry["name"]: entry for entry in self.servers()}
        for name, entry in entries.items():
            signature = server_signature(entry)
            if self._known.get(name) != signature:
                self._known[name] = signature
                self.hub.publish("server", entry)
        for name in [n for n in self._known if n not in entries]:
            del self._known[name]
            self.hub.publish("server_removed", {"name": name})

    def watch_servers(self):
        """The daemon's loop for `check_servers` (it never ends by itself)."""
        while True:
            gevent.sleep(SERVER_CHECK)
            if self.hub:
                self.check_servers()
