"""What a client tells the proxy about itself before its first MCP line, and how a
project directory is spelled in a URL.

The bridge's hello: on every connection, before any line of the agent, one line that
the proxy consumes and never forwards::

    {"jsonrpc":"2.0","method":"agentdeck/hello","params":{"cwd":"/real/path"}}

It names the project (the bridge's working directory, a real path) for servers shared
per project. A client that sends no hello (``nc -U``, an old bridge) is a share = "all"
client. HTTP clients name the project in the URL instead: ``/servers/NAME/p/<key>/mcp``, the
key being the base64url of the real path's bytes, without padding (reversible, so the
daemon knows the directory). Standard library only (the bridge uses it).
"""
import base64
import json
import os

HELLO_METHOD = "agentdeck/hello"
HELLO_MARK = b'"agentdeck/hello"'  # a cheap test before parsing a first line
MAX_HELLO_BYTES = 65536            # a hello is a path: a longer first line is not one


def hello_line(cwd):
    """The hello line (bytes, newline included) naming the project ``cwd``."""
    return json.dumps({"jsonrpc": "2.0", "method": HELLO_METHOD, "params": {"cwd": cwd}},
                      separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def parse_hello(line):
    """(True, cwd or None) when ``line`` (bytes, no newline) is a hello, else (False, None)."""
    if line.__class__ is not bytes or HELLO_MARK not in line or len(line) > MAX_HELLO_BYTES:
        return False, None
    try:
        message = json.loads(line)
    except ValueError:
        return False, None
    if not isinstance(message, dict) or message.get("method") != HELLO_METHOD or "id" in message:
        return False, None
    params = message.get("params")
    cwd = params.get("cwd") if isinstance(params, dict) else None
    return True, cwd if isinstance(cwd, str) and os.path.isabs(cwd) else None


def project_key(path):
    """The URL key of the project at ``path`` (made a real path first)."""
    return base64.urlsafe_b64encode(os.fsencode(os.path.realpath(path))).rstrip(b"=").decode("ascii")


def project_of_key(key):
    """The directory a URL key names; ValueError when it is not a key of an absolute path."""
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    except (ValueError, TypeError):
        raise ValueError(f"{key!r} is not a project key (base64url of a directory's path)") from None
    path = os.fsdecode(raw)
    if not key or not os.path.isabs(path) or "\0" in path:
        raise ValueError(f"{key!r} is not a project key (base64url of a directory's path)")
    return path
