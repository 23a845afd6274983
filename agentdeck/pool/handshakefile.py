"""What agentdeck learnt of a pooled server's child (its era, the version agentdeck
speaks to it, its capabilities and identity), kept on disk so that clients are answered
at once after a daemon restart, while the new child is probed again before any traffic.

``<home>/handshakes/<name>.json`` (``<name>@<tag>.json`` for a project's child; none for
a session's) (0600): ``{"format": 2, "spec": digest, "child": ChildInfo}``, the digest
covering the server's command, args, env, share and cwd as this child runs them
(``{project}`` filled in). A changed server, a file of the format before eras (which
held the first client's initialize, version and all), or an era that does not match
its version is ignored; the next handshake rewrites it.
"""
import hashlib
import json

from loguru import logger

from agentdeck.fsutil import atomic_write, read_json_object
from agentdeck.protocol.child import ChildInfo

FILE_LIMIT = 4 * 1024 * 1024  # bytes of a handshake file read at most
FORMAT = 2                    # 1 (no "format"): the first client's initialize params and result

BOUNDS = ("max_children", "idle_stop")  # how many children, not how one runs: not in the digest


def spec_digest(spec):
    return hashlib.sha256(repr(sorted((k, v) for k, v in vars(spec).items() if k not in BOUNDS)).encode()).hexdigest()


def load(path, spec):
    """The ChildInfo kept in ``path`` for this ``spec``, else None."""
    data = read_json_object(path, FILE_LIMIT)
    if data is None or data.get("format") != FORMAT or data.get("spec") != spec_digest(spec):
        return None
    return ChildInfo.from_json(data.get("child"))


def save(path, spec, info):
    """Write it; a failure is logged, never raised (what is in memory serves on)."""
    try:
        atomic_write(path, json.dumps({"format": FORMAT, "spec": spec_digest(spec), "child": info.to_json()}).encode())
    except (OSError, ValueError) as exc:
        logger.warning("server {}: cannot keep its handshake in {}: {}", spec.name, path, exc)
