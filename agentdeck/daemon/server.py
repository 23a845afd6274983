"""`agentdeck serve`: start everything, wait for signals, stop in order.

Signal handlers only record the request on a queue; the main greenlet does the work.
"""
import fcntl
import json
import os
import signal
import time

import gevent
from gevent.pool import Group
from gevent.event import AsyncResult
from gevent.queue import Queue
from loguru import logger

from agentdeck import __version__, config as configuration
from agentdeck.daemon import fdlimit, malloc
from agentdeck.daemon.control import ControlServer
from agentdeck.logs import logsetup
from agentdeck.daemon.hubstats import greenlet_count
from agentdeck.daemon.eventfeed import EventFeed
from agentdeck.daemon.rss import RssHistory, rss_bytes
from agentdeck.daemon.sessionfeed import SessionFeed
from agentdeck.errors import ConfigError, UserError
from agentdeck.fsutil import atomic_write
from agentdeck.paths import Home, fitting_socket
from agentdeck.pool.manager import ServerPool
from agentdeck.sessions.transitions import TransitionDaemon
from agentdeck.web.events import EventHub, EventsRoute
from agentdeck.web.mcproute import McpRoute
from agentdeck.web.status import StatusServer

EXIT_OK = 0             # stopped in order (SIGTERM, or a first SIGINT)
EXIT_STOPPED_NOW = 130  # a second SIGINT: children SIGKILLed, no grace (128 + SIGINT, as a shell reports it)
# Daemon settings the running process keeps until it is restarted (a reload logs that).
RESTART_SETTINGS = ("home", "status_listen", "status_token", "http_connections")
DAEMON_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2}


class Daemon:
    def __init__(self, home, config, log_level_override=None, config_named=True):
        self.home = home
        self.config = config
        # False when no --config nor $AGENTDECK_CONFIG named the file: a reload then looks
        # again, so a ~/.agentdeck/agentdeck.toml written meanwhile (`mcp import`) is read.
        self.config_named = config_named
        self.log_level_override = log_level_override  # serve --log-level: wins over the config, on reload too
        self.started = time.time()
        self.requests = Queue()  # (kind, reply): "stop", "kill", "reload", "reopen" or "usr2" from a signal
                                 # handler (reply None), or a request of `agentdeck reload|stop` (an AsyncResult)
        self.pool = ServerPool(home, config, lambda name: logsetup.add_server_log(home, name),
                               logsetup.remove_server_log)
        self.events = EventHub()  # the /events streams
        self.feed = EventFeed(self.events, self._describe, self.pool.status)
        self.transitions = TransitionDaemon(home, config.notify, on_change=self.feed.session_changed,
                                            on_removed=self.feed.session_removed)
        self.sessions = SessionFeed(self.transitions.registry, self.transitions.statuses, self.transitions.hooks.get,
                                    self.transitions.dead_pane)  # the sessions part of /status
        self.rss = RssHistory()  # for the page's sparkline
        self.loops = Group()  # background greenlets, killed together on stop
        self.stop_requested = False  # set by the signal handlers: a SIGINT after this means "kill"
        self.http = None
        self.control = ControlServer(home.control, self.submit)

    @property
    def info_path(self):
        return self.home.root / "daemon.json"

    def snapshot(self, fresh=False):
        """The /status document (DESIGN.md, "Status and operations"); ``fresh``: its
        sessions read now (an /events stream starts from it, and must miss nothing)."""
        sessions, sessions_error = self.sessions.sessions(fresh)
        return {
            "daemon": {"pid": os.getpid(), "version": __version__, "uptime": round(time.time() - self.started, 1),
                       "started": self.started, "rss_bytes": rss_bytes(), "greenlets": greenlet_count(), "config": self.config.path,
                       "home": str(self.home.root), "log_lines_lost": logsetup.lines_lost()},
            "servers": self.pool.status(),
            "sessions": sessions,
            "sessions_error": sessions_error,
            "transitions": self.transitions.stats(),
            "http": self.http.stats() if self.http else {},
            "events": self.events.stats(),
        }

    def _describe(self, record, status, since):
        """One session's /status entry (for /events)."""
        return self.sessions.entries([record], {record.id: (status, since)})[0]

    def spawn_loop(self, function, name):
        """Run ``function`` in the background until stop; a crash is logged, never silent."""
        greenlet = self.loops.spawn(function)
        greenlet.link_exception(lambda g: logger.opt(exception=g.exception).error("{} crashed", name))

    # Signal handlers only record the request; `run` does the work.
    def handle_term(self):
        self.stop_requested = True
        self.requests.put(("stop", None))

    def handle_int(self):
        self.requests.put(("kill" if self.stop_requested else "stop", None))
        self.stop_requested = True

    def handle_hup(self):
        self.requests.put(("reload", None))

    def handle_usr1(self):
        self.requests.put(("reopen", None))

    def handle_usr2(self):
        self.requests.put(("usr2", None))

    def submit(self, command):
        """Queue a control-socket command for the main greenlet; its answer comes in the
        AsyncResult returned."""
        reply = AsyncResult()
        self.requests.put((command, reply))
        return reply

    def run(self):
        """Serve until SIGTERM/SIGINT; returns the exit code (EXIT_OK or EXIT_STOPPED_NOW)."""
        handlers = [gevent.signal_handler(signal.SIGTERM, self.handle_term),
                    gevent.signal_handler(signal.SIGINT, self.handle_int),
                    gevent.signal_handler(signal.SIGHUP, self.handle_hup),
                    gevent.signal_handler(signal.SIGUSR1, self.handle_usr1),
                    gevent.signal_handler(signal.SIGUSR2, self.handle_usr2)]
        # `agentdeck.entry` held these while the modules loaded; one that came meanwhile is handled now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, DAEMON_SIGNALS)
        if self.config.daemon.status_listen:
            self.http = StatusServer(self.config.daemon.status_listen, self.snapshot, self.rss.samples,
                                     token=self.config.daemon.status_token, mcp=McpRoute(self.pool.server),
                                     capacity=self.config.daemon.http_connections,
                                     events=EventsRoute(self.events, lambda: self.snapshot(fresh=True)))
            self.http.start()
        self.spawn_loop(self.rss.run, "RSS sampler")
        self.spawn_loop(malloc.trim_every, "heap trimmer")
        self.spawn_loop(self.feed.watch_servers, "server event feed")
        self.control.start()
        self.pool.start()
        self.transitions.start()
        self.write_info()
        logger.info("agentdeck {} ready: pid {}, {} servers, home {}, status {}", __version__, os.getpid(),
                    len(self.pool.proxies), self.home.root, self.http.url if self.http else "off")
        stops = []  # replies to `agentdeck stop`, answered once stopped
        while True:
            kind, reply = self.requests.get()
            if kind == "stop":
                self.stop_requested = True  # a SIGINT now means "kill", as after a SIGTERM
                stops.append(reply)
                break
            answer = self.handle_request(kind)
            if reply is not None:
                reply.set(answer)
        stopping = time.monotonic()
        code = self._stop_or_kill(stops)
        for reply in filter(None, stops):
            reply.set({"ok": True, "pid": os.getpid(), "exit": code,
                       "seconds": round(time.monotonic() - stopping, 2)})
        self.control.stop()
        for handler in handlers:
            handler.cancel()
        try:
            os.unlink(self.info_path)
        except FileNotFoundError:
            pass
        logger.info("agentdeck stopped (exit {})", code)
        return code

    def handle_request(self, kind):
        """Do what a signal or `agentdeck reload` asked (anything but a stop); returns the
        answer for the control socket."""
        if kind == "reload":
            return self.reload()
        if kind == "reopen":
            # Log rotators (logrotate's postrotate, newsyslog) send USR1 after moving the files.
            logsetup.reopen_files()
            logger.info("SIGUSR1: log files reopened")
        elif kind == "usr2":
            logger.info("SIGUSR2: nothing to do (SIGUSR1 reopens the log files, SIGHUP reloads the config)")
        return {"ok": True}

    def write_info(self):
        """``daemon.json``: how the CLI finds this daemon (see `agentdeck.daemon.remote`)."""
        atomic_write(self.info_path, json.dumps({
            "pid": os.getpid(), "status_url": self.http.url if self.http else None, "control": str(self.home.control),
            "config": self.config.path, "config_named": self.config_named, "started": self.started}).encode())

    def _stop_or_kill(self, stops):
        """Stop in order; a second SIGINT meanwhile kills the children at once instead.
        Another `agentdeck stop` meanwhile joins ``stops``; a reload is refused."""
        stopper = gevent.spawn(self.stop)
        while not stopper.ready():
            try:
                kind, reply = self.requests.get(timeout=0.1)
            except gevent.queue.Empty:
                continue
            if kind == "stop":
                stops.append(reply)
            elif reply is not None:
                reply.set({"ok": False, "error": "the daemon is stopping"})
            if kind == "kill":
                logger.warning("second SIGINT: stopping now, children get SIGKILL")
                self.pool.kill_now()
                self.transitions.kill_now()
                stopper.kill(timeout=1)
                return EXIT_STOPPED_NOW
        stopper.get()  # a bug in stop() surfaces here with its traceback
        return EXIT_OK

    def reload(self):
        """Apply the config file again; returns the report `agentdeck reload` prints:
        ``ok``, ``config``, then the server names ``added``, ``removed``, ``restarted``,
        ``unchanged`` and ``notes`` (settings that wait for a restart), or ``error``
        (the config did not load and the running one stays)."""
        try:
            if self.config_named:
                config = configuration.load(self.config.path)
            else:
                config = configuration.load_default()
        except ConfigError as exc:
            logger.error("reload failed, keeping the running config: {}", exc)
            return {"ok": False, "config": self.config.path, "error": str(exc)}
        notes = [f"[daemon] {key} changed; it takes effect when the daemon restarts" for key in RESTART_SETTINGS
                 if getattr(config.daemon, key) != getattr(self.config.daemon, key)]
        if config.path != self.config.path:
            notes.append(f"reading {config.path or 'the built-in defaults'} now, instead of "
                         f"{self.config.path or 'the built-in defaults'}")
        for note in notes:
            logger.warning("reload: {}", note)
        if (config.daemon.log_level, config.daemon.log_json) != (self.config.daemon.log_level,
                                                                 self.config.daemon.log_json):
            logsetup.setup(self.home, self.log_level_override or config.daemon.log_level, config.daemon.log_json)
        servers = self.pool.reload(config)
        self.transitions.reload(config.notify)
        self.config = config
        self.write_info()  # its config may be another file now
        return {"ok": True, "config": config.path, **servers, "notes": notes}

    def stop(self):
        """Stop in order: stop accepting HTTP, stop the pool (each server answers or fails its
        in-flight requests, its process group gets SIGTERM then SIGKILL, its socket is
        removed), end the background loops; the transition daemon closes the session databases."""
        logger.info("stopping: {} servers", len(self.pool.proxies))
        self.events.close()
        if self.http is not None:
            self.http.stop()
        self.transitions.stop()
        self.pool.stop()
        self.loops.kill(timeout=1)
        self.sessions.close()


def _lock(home):
    """Hold an exclusive lock on the home for the daemon's lifetime: one daemon per home."""
    fd = os.open(home.root / "daemon.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(f"another agentdeck daemon is already running with home {home.root} "
                        "(stop it first, or set a different AGENTDECK_HOME)") from None
    return fd


def serve(config_path=None, log_level=None):
    config = configuration.load_default(config_path)
    level = log_level.upper() if log_level else config.daemon.log_level
    if level not in configuration.LOG_LEVELS:
        raise UserError(f"--log-level {log_level!r}: expected one of {', '.join(configuration.LOG_LEVELS)}")
    home = Home(config.home).ensure()
    for spec in config.pooled():
        home.socket_path(spec.name)  # a path too long for a Unix socket is a start-up error
    fitting_socket(home.control)
    lock = _lock(home)
    logsetup.setup(home, level, config.daemon.log_json)
    logsetup.guard_stderr()
    malloc.tune()
    fdlimit.raise_open_files(fdlimit.files_needed(config))
    try:
        named = bool(config_path or os.environ.get(configuration.ENV_CONFIG))
        return Daemon(home, config, log_level.upper() if log_level else None, named).run()
    finally:
        os.close(lock)
