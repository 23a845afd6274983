"""Reach the running daemon from a CLI command: its runtime file, its HTTP status and its
control socket.

The daemon writes ``<home>/daemon.json`` = ``{"pid", "status_url", "control", "config",
"started"}`` when it starts and removes it when it stops; ``GET <status_url>/status``
returns the JSON described in DESIGN.md; the control socket answers `agentdeck reload`
and `agentdeck stop` (see `agentdeck.daemon.control`). Everything here uses short timeouts and bounded reads, and every
failure is a `DaemonUnreachable` whose message says what is wrong and what to do.
Standard library only.
"""
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from agentdeck.errors import UserError
from agentdeck.netaddr import is_loopback_host

RUNTIME_FILE = "daemon.json"
RUNTIME_FILE_LIMIT = 65536        # bytes of daemon.json read at most
STATUS_TIMEOUT = 2.0              # seconds for one /status request
STATUS_LIMIT = 16 * 1024 * 1024   # bytes of a /status answer read at most
CONTROL_LIMIT = 1024 * 1024     # bytes of a control answer read at most
START_HINT = "start it with `agentdeck serve`"


class DaemonUnreachable(UserError):
    """The daemon is not running, or runs but its status page does not answer."""

    def __init__(self, message, pid=None):
        super().__init__(message)
        self.pid = pid  # the pid of a daemon that runs but did not answer; None when it is not running


def runtime_path(home):
    return Path(home) / RUNTIME_FILE


def runtime_info(home):
    """The runtime file of a daemon whose process is alive, as a dict."""
    path = runtime_path(home)
    try:
        with open(path, "rb") as f:
            data = f.read(RUNTIME_FILE_LIMIT + 1)
    except FileNotFoundError:
        raise DaemonUnreachable(f"the agentdeck daemon is not running (no {path}): {START_HINT}") from None
    except OSError as exc:
        raise DaemonUnreachable(f"{path}: cannot read the daemon's runtime file ({exc.strerror})") from None
    try:
        info = json.loads(data) if len(data) <= RUNTIME_FILE_LIMIT else None
    except ValueError:
        info = None
    pid = info.get("pid") if isinstance(info, dict) else None
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise DaemonUnreachable(f"{path} is not a valid daemon runtime file (no pid): the daemon was probably "
                                f"killed while starting; {START_HINT}")
    if not _alive(pid):
        raise DaemonUnreachable(f"the agentdeck daemon is not running (pid {pid} from {path} is gone): "
                                f"{START_HINT}")
    return info


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process reuses the pid; ours would be signalable
        return False
    return True


def _loopback_http(url):
    """True for an http URL on a loopback address (the only kind the daemon serves)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "http" and is_loopback_host(parts.hostname or "")


def fetch_status(home, timeout=STATUS_TIMEOUT, token=""):
    """The daemon's ``/status`` JSON (a dict); ``token`` is ``[daemon] status_token``."""
    info = runtime_info(home)
    pid = info["pid"]
    url = info.get("status_url")
    if not url:
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) runs with its status page off "
                                '([daemon] status_listen = ""): set status_listen and restart it', pid)
    if not isinstance(url, str) or not _loopback_http(url):
        raise DaemonUnreachable(f"{runtime_path(home)}: status_url {url!r} is not an http URL on a loopback "
                                "address: restart the daemon to rewrite it", pid)
    # No proxies: an http_proxy in the environment must not carry a loopback request away.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url.rstrip("/") + "/status",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = resp.read(STATUS_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        hint = "set [daemon] status_token in the config this command reads" if exc.code == 401 else \
            f"see its log in {Path(home) / 'logs'}"
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) refused {url}/status ({exc.code} {exc.reason}): "
                                f"{hint}", pid) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) did not answer {url}/status ({reason}): "
                                f"see its log in {Path(home) / 'logs'}", pid) from None
    try:
        status = json.loads(body) if len(body) <= STATUS_LIMIT else None
    except ValueError:
        status = None
    if not isinstance(status, dict):
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) answered {url}/status with something that "
                                "is not a JSON object: is another program on that port?", pid)
    return status


def control(home, command, timeout):
    """Send ``command`` ("reload" or "stop") to the running daemon's control socket and
    return its answer (a dict) once it has done it, within ``timeout`` seconds."""
    info = runtime_info(home)
    pid = info["pid"]
    path = info.get("control")
    logs = Path(home) / "logs"
    if not isinstance(path, str):
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) has no control socket (it predates "
                                f"`agentdeck {command}`): restart it, or send it SIG{'HUP' if command == 'reload' else 'TERM'}",
                                pid)
    data = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(json.dumps({"command": command}).encode() + b"\n")
            while not data.endswith(b"\n") and len(data) <= CONTROL_LIMIT:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except socket.timeout:
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) did not answer `{command}` within {timeout:g} s: "
                                f"see its log in {logs}", pid) from None
    except OSError as exc:
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) did not answer on {path} "
                                f"({exc.strerror or exc}): see its log in {logs}", pid) from None
    try:
        answer = json.loads(data) if data.endswith(b"\n") else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise DaemonUnreachable(f"the agentdeck daemon (pid {pid}) closed {path} without answering `{command}`: "
                                f"see its log in {logs}", pid)
    return answer
