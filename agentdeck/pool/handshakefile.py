"""The cached initialize of a pooled server, kept on disk so that HTTP sessions outlive a
daemon restart: the first child after a restart is initialized from it before any
traffic, and a session taken up again is answered without a new initialize.

``<home>/handshakes/<name>.json`` (``<name>@<tag>.json`` for a project's child; none for
a session's) (0600): the params and result, and a digest of the server's command, args,
env, share and cwd as this child runs them (``{project}`` filled in); a changed server
ignores the file (it is rewritten by its next handshake).
"""
import hashlib
import json

from loguru import logger

from agentdeck.fsutil import atomic_write, read_json_object

FILE_LIMIT = 4 * 1024 * 1024  # bytes of a handshake file read at most


BOUNDS = ("max_children", "idle_stop")  # how many children, not how one runs: not in the digest


def spec_digest(spec):
    return hashlib.sha256(repr(sorted((k, v) for k, v in vars(spec).items() if k not in BOUNDS)).encode()).hexdigest()


def load(path, spec):
    """(params, encoded result) from ``path`` when it was written for this ``spec``, else None."""
    data = read_json_object(path, FILE_LIMIT)
    if data is None or data.get("spec") != spec_digest(spec) or "result" not in data:
        return None
    return data.get("params"), json.dumps(data["result"], separators=(",", ":"), ensure_ascii=False).encode()


def save(path, spec, params, result):
    """Write the handshake; a failure is logged, never raised (the cache in memory serves on)."""
    try:
        atomic_write(path, json.dumps({"spec": spec_digest(spec), "params": params,
                                       "result": json.loads(result)}).encode())
    except (OSError, ValueError) as exc:
        logger.warning("server {}: cannot keep its handshake in {}: {}", spec.name, path, exc)
