"""ServerPool: the SocketProxy of every pooled server, started, reloaded and stopped
together. Each server watches its own child's health (`supervisor`)."""
import gevent
from gevent.lock import BoundedSemaphore
from loguru import logger

from agentdeck.errors import UserError
from agentdeck.paths import socket_file_name
from agentdeck.pool import states
from agentdeck.pool.proxy import SocketProxy
from agentdeck.pool.sessionids import SessionIds, load_key


# Clients of all servers assembling a request line longer than 64 KiB at the same time;
# the others wait. Bounds that memory to this many max_request_bytes, whatever the traffic.
LONG_LINE_SLOTS = 2


class ServerPool:
    """``open_log(name)`` returns (loguru logger, sink id) for a server's stderr log and
    ``close_log(sink id)`` removes it: the pool writes logs, it does not decide where."""

    def __init__(self, home, config, open_log, close_log):
        self.home = home
        self.config = config
        self.open_log = open_log
        self.close_log = close_log
        self.proxies = {}   # name -> SocketProxy
        self.sinks = {}     # name -> loguru sink id of its stderr log
        self.long_lines = BoundedSemaphore(LONG_LINE_SLOTS)
        self.session_ids = SessionIds(load_key(home.root / "http.key"))  # HTTP sessions outlive restarts

    def start(self):
        for spec in self.config.pooled():
            self._add(spec)

    def _add(self, spec):
        log, self.sinks[spec.name] = self.open_log(spec.name)
        try:
            path = self.home.socket_path(spec.name)
        except UserError as exc:  # checked at start-up; a reload may add a name that is too long
            logger.error("server {}: {}", spec.name, exc)
            path = self.home.sockets / socket_file_name(spec.name)
        proxy = SocketProxy(spec, self.config.pool, path, log, lambda label: self.open_log(label), self.close_log,
                            self.long_lines, self.home.handshakes, self.session_ids)
        self.proxies[spec.name] = proxy
        proxy.start()

    def _remove(self, name):
        self.proxies[name].stop()  # listed (as stopping) until stopped, so `kill_now` still reaches it
        del self.proxies[name]
        self.close_log(self.sinks.pop(name))

    def reload(self, config):
        """Apply a new config: start added servers, stop removed ones, restart changed ones
        (every child of a server whose command, args, env, share or cwd changed);
        untouched servers keep their children and their clients, and a change of
        max_children or idle_stop alone is applied in place. Returns the names of the
        servers {"added", "removed", "restarted", "unchanged"}."""
        old = {p.spec.name: p.spec for p in self.proxies.values()}
        new = {s.name: s for s in config.pooled()}
        for name in [n for n in old if n in new and old[n].bounds_only_differ(new[n])]:
            self.proxies[name].apply_bounds(new[name])
            old[name] = new[name]
        removed = [n for n in old if n not in new]
        # A failed server is retried on reload: the user may have fixed what was wrong.
        changed = [n for n in old if n in new and (new[n] != old[n] or self.proxies[n].state == states.FATAL)]
        added = [n for n in new if n not in old]
        gevent.joinall([gevent.spawn(self._remove, n) for n in removed + changed])
        self.config = config
        for proxy in self.proxies.values():
            proxy.apply_settings(config.pool)
        for name in changed + added:
            self._add(new[name])
        unchanged = [n for n in new if n not in added and n not in changed]
        logger.info("config reloaded: {} added, {} removed, {} restarted, {} unchanged",
                    len(added), len(removed), len(changed), len(unchanged))
        return {"added": added, "removed": removed, "restarted": changed, "unchanged": unchanged}

    def stop(self):
        gevent.joinall([gevent.spawn(self._remove, name) for name in list(self.proxies)])

    def kill_now(self):
        """Second SIGINT: SIGKILL every child's process group and remove the sockets, no grace."""
        for proxy in self.proxies.values():
            proxy.kill_now()

    def server(self, name):
        """The SocketProxy of a pooled server, or None (the HTTP front door's lookup)."""
        proxy = self.proxies.get(name)
        return proxy if proxy is not None and not proxy.stopping else None

    def status(self):
        return [proxy.status() for proxy in self.proxies.values()]
