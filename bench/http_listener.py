"""The daemon's HTTP listener alone: a tree's `agentdeck.web.httpserver.HttpServer` (the
request parsing, the slots, the response) serving a WSGI application that reads the body
and answers the same small JSON body as http_floor.py. http_bench.py loads it like the
floor and reads its CPU per request, so the listener's share of a front-door request can
be told apart from the route, the router and the child.

    python bench/http_listener.py TREE     # prints the port it listens on, then serves until killed
"""
import inspect
import sys

sys.path.insert(0, sys.argv[1])
from gevent import monkey  # noqa: E402

monkey.patch_all()

import gevent  # noqa: E402
from loguru import logger  # noqa: E402

from agentdeck.web import httpserver  # noqa: E402

BODY = b'{"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "hello"}]}}\n'
HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    environ["wsgi.input"].read(1 << 20)
    start_response("200 OK", HEADERS)
    return [BODY]


def main():
    logger.remove()
    refuse = lambda reason, client, detail="": None  # noqa: E731
    check_body = lambda *args: None  # noqa: E731
    if "capacity" in inspect.signature(httpserver.HttpServer).parameters:
        server = httpserver.HttpServer(("127.0.0.1", 0), app, refuse, check_body, head_timeout=5.0, io_timeout=10.0,
                                       body_timeout=10.0, capacity=1040)
    else:  # the hand-written parser's server (before issue 18)
        server = httpserver.HttpServer(("127.0.0.1", 0), app, refuse, check_body, 5.0, 10.0, 1040)
    server.start()
    print(server.address[1], flush=True)
    gevent.wait()


if __name__ == "__main__":
    main()
