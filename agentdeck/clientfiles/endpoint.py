"""Where a client reaches a pooled server over MCP Streamable HTTP.

The daemon serves every pooled server NAME at ``<base>/servers/NAME/mcp``, where
``<base>`` is its status address (``[daemon] status_listen``); the path ends in ``/mcp``
because some clients (the MCP Inspector) make any other path end so. ``<base>/mcp/NAME``,
the first spelling, is still served. These are the only functions that spell the URL,
for every file that points a client at it (`agentdeck.web.mcproute` reads it back).
Standard library only.
"""
import urllib.parse

from agentdeck.errors import UserError
from agentdeck.wire.hello import project_key

SERVERS_PATH = "/servers/"
PROJECT_PATH = "/p/"
ENDPOINT_PATH = "/mcp"
# A bind to every address is reached by a local client through loopback of that family.
WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def local_base_url(listen):
    """``http://HOST:PORT`` through which a client on this machine reaches a daemon
    listening on ``listen`` (a validated ``status_listen``); None when ``listen`` names
    no fixed address: ``""`` (HTTP off) or port 0 (the daemon picks one at start)."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    if int(port) == 0:
        return None
    host = host.strip("[]")
    host = WILDCARD_HOSTS.get(host, host)
    return f"http://[{host}]:{int(port)}" if ":" in host else f"http://{host}:{int(port)}"


def server_url(base, name, project=None):
    """The Streamable HTTP URL of pooled server ``name`` under ``base``; with ``project``
    (a directory) the URL of that project's child: ``/servers/NAME/p/<key>/mcp``, the key
    being `agentdeck.wire.hello.project_key` of its real path."""
    url = base.rstrip("/") + SERVERS_PATH + urllib.parse.quote(name, safe="")
    if project is not None:
        url += PROJECT_PATH + project_key(project)
    return url + ENDPOINT_PATH


def auth_headers(token):
    """The HTTP headers a client must send for ``[daemon] status_token`` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def mcp_base_url(cfg):
    """The ``<base>`` for ``cfg``'s HTTP entries: from ``[daemon] status_listen``, else the
    status URL of the daemon now running on ``cfg.home`` (a port chosen at start is only
    known to it). A one-line `UserError` naming the setting when neither gives one."""
    listen = cfg.daemon.status_listen
    base = local_base_url(listen)
    if base:
        return base
    from agentdeck.daemon.remote import DaemonUnreachable, runtime_info
    try:
        running = runtime_info(cfg.home).get("status_url")
    except DaemonUnreachable:
        running = None
    if isinstance(running, str) and running.startswith("http://"):
        return running
    why = "turns HTTP off" if not listen else "leaves the port to the daemon"
    raise UserError(f"{cfg.path or 'the built-in defaults'}: [daemon] status_listen = {listen!r} {why} and no "
                    f"daemon running on {cfg.home} serves HTTP, so there is no URL for the entries: set "
                    "status_listen to an address such as \"127.0.0.1:7420\", or use --transport stdio; nothing "
                    "was written")
