"""`agentdeck serve`: start everything, wait for signals, stop in order.

Signal handlers only record the request on a queue; the main greenlet does the work.
"""
import fcntl
import json
import os
import signal
import time

import gevent
from gevent.queue import Queue
from loguru import logger

from agentdeck import __version__, config as configuration
from agentdeck.daemon import logsetup, malloc
from agentdeck.errors import ConfigError, UserError
from agentdeck.fsutil import atomic_write
from agentdeck.paths import Home
from agentdeck.pool.manager import Pool
from agentdeck.sessions.transitions import TransitionDaemon
from agentdeck.web.status import StatusServer

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


class Daemon:
    def __init__(self, home, config):
        self.home = home
        self.config = config
        self.started = time.time()
        self.requests = Queue()  # "stop", "reload" or "kill", put by signal handlers
        self.pool = Pool(home, config)
        self.transitions = TransitionDaemon(home, config.notify)
        self.http = None
        self.stopping = False

    @property
    def info_path(self):
        return self.home.root / "daemon.json"

    def snapshot(self):
        """The /status document."""
        return {
            "daemon": {"pid": os.getpid(), "version": __version__, "uptime": round(time.time() - self.started, 1),
                       "rss_bytes": rss_bytes(), "config": self.config.path, "home": str(self.home.root)},
            "servers": self.pool.status(),
            "sessions": [],
        }

    def handle_term(self):
        self.requests.put("stop")

    def handle_int(self):
        self.requests.put("kill" if self.stopping else "stop")

    def handle_hup(self):
        self.requests.put("reload")

    def run(self):
        if self.config.daemon.status_listen:
            self.http = StatusServer(self.config.daemon.status_listen, self.snapshot)
            self.http.start()
        handlers = [gevent.signal_handler(signal.SIGTERM, self.handle_term),
                    gevent.signal_handler(signal.SIGINT, self.handle_int),
                    gevent.signal_handler(signal.SIGHUP, self.handle_hup)]
        self.pool.start()
        self.transitions.start()
        atomic_write(self.info_path, json.dumps({
            "pid": os.getpid(), "status_url": self.http.url if self.http else None,
            "config": self.config.path, "started": self.started}).encode())
        logger.info("agentdeck {} ready: pid {}, {} servers, home {}, status {}", __version__, os.getpid(),
                    len(self.pool.proxies), self.home.root, self.http.url if self.http else "off")
        while True:
            request = self.requests.get()
            if request == "reload":
                self.reload()
            elif request == "stop":
                break
        self.stopping = True
        stopper = gevent.spawn(self.stop)
        while not stopper.ready():
            try:
                request = self.requests.get(timeout=0.1)
            except gevent.queue.Empty:
                continue
            if request == "kill":
                logger.warning("second SIGINT: stopping now")
                self.pool.kill_now()
                return 130
        stopper.join(timeout=1)
        for handler in handlers:
            handler.cancel()
        try:
            os.unlink(self.info_path)
        except FileNotFoundError:
            pass
        logger.info("agentdeck stopped")
        return 0

    def reload(self):
        try:
            config = configuration.load(self.config.path) if self.config.path else configuration.build({})
        except ConfigError as exc:
            logger.error("reload failed, keeping the running config: {}", exc)
            return
        self.pool.reload(config)
        self.transitions.reload(config.notify)
        self.config = config

    def stop(self):
        logger.info("stopping: {} servers", len(self.pool.proxies))
        if self.http is not None:
            self.http.stop()
        self.transitions.stop()
        self.pool.stop()


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
    lock = _lock(home)
    logsetup.setup(home, level)
    malloc.tune()
    try:
        return Daemon(home, config).run()
    finally:
        os.close(lock)
