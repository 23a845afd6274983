"""HTTP status on the loopback address from ``[daemon] status_listen`` (gevent's WSGI server)."""
import json

from gevent.pool import Pool
from gevent.pywsgi import WSGIServer
from loguru import logger

from agentdeck.errors import UserError

MAX_CONNECTIONS = 16  # concurrent HTTP connections; more wait in the listen backlog


def parse_listen(value):
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class _QuietLog:
    """pywsgi writes one access line per request; keep them at debug level."""

    def write(self, line):
        logger.debug("http: {}", line.rstrip())


class StatusServer:
    def __init__(self, listen, snapshot):
        self.snapshot = snapshot  # callable returning the /status document
        host, port = parse_listen(listen)
        self.server = WSGIServer((host, port), self.app, spawn=Pool(MAX_CONNECTIONS), log=_QuietLog(),
                                 error_log=_QuietLog())

    def start(self):
        try:
            self.server.start()
        except OSError as exc:
            host, port = self.server.address[:2]
            raise UserError(f"cannot serve status on {host}:{port}: {exc.strerror} "
                            "(set [daemon] status_listen to a free port, or \"\" to turn it off)") from None

    @property
    def url(self):
        host, port = self.server.address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self.server.stop(timeout=1)

    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/status":
            body = json.dumps(self.snapshot()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        body = b"not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
