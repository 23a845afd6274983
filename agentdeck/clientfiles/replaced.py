"""Entries a merge replaced: was each one the user's own definition of the server (not an
entry agentdeck wrote earlier), and what differs from the server the pool runs under that
name. `mcp config --write` warns about those, so a user's ``time`` with
``--local-timezone Europe/Paris`` is never turned into the pool's plain ``time`` unsaid."""
import os
import re
import shlex
from urllib.parse import urlsplit

URL_KEYS = ("url", "httpUrl", "serverUrl")
# The paths of the daemon's MCP front door, today's and the earlier /mcp/NAME.
POOL_PATH = re.compile(r"^/(servers/[^/]+|mcp/[^/]+)(/p/[^/]+)?(/mcp)?/?$")


def _words(entry):
    """The command line of a stdio entry as a list of words, or None."""
    command, args = entry.get("command"), entry.get("args", [])
    if not isinstance(command, str) or not isinstance(args, list):
        return None
    return [command, *(str(arg) for arg in args)]


def _url(entry):
    return next((entry[key] for key in URL_KEYS if isinstance(entry.get(key), str)), None)


def is_agentdeck_entry(entry):
    """True for an entry agentdeck writes: one running ``agentdeck bridge``, or the URL of
    the daemon's front door."""
    if not isinstance(entry, dict):
        return False
    words = _words(entry)
    if words is not None:
        program = [os.path.basename(word) for word in words[:3]]
        return "bridge" in words[1:] and "agentdeck" in program
    url = _url(entry)
    return url is not None and POOL_PATH.match(urlsplit(url).path) is not None


def describe(entry):
    """An entry in a few words: its command line, else its URL."""
    if not isinstance(entry, dict):
        return repr(entry)
    words = _words(entry)
    if words is not None:
        return shlex.join(words)
    return _url(entry) or "an entry with neither a command nor a URL"


def difference(entry, spec):
    """What differs between the user's replaced ``entry`` and the pool's server ``spec``
    (a `config.ServerSpec`), in words; "" when ``entry`` is agentdeck's own, or runs just
    what the pool runs."""
    if is_agentdeck_entry(entry):
        return ""
    pool = shlex.join([spec.command, *spec.args])
    mine = describe(entry)
    if mine != pool:
        return f"yours {'runs' if _words(entry) is not None else 'is'} `{mine}`, the pool runs `{pool}`"
    env = entry.get("env") or {}
    if isinstance(env, dict) and env != dict(spec.env):
        keys = sorted(set(env) ^ set(dict(spec.env)) | {k for k, v in env.items() if dict(spec.env).get(k) != v})
        return f"your env differs from the pool's in {', '.join(keys)}"
    return ""
