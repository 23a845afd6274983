"""Rules for what clients send and get, whatever the child's era: which era a client's
request opens, the checks of a modern request's ``_meta`` envelope, a client's
capabilities, and what a legacy client's version can carry.
"""
from agentdeck.protocol import versions as v

STATE_ERROR = "requestState is not one agentdeck issued to this client, or it expired"


def error(code, message, data=None):
    """A JSON-RPC error object."""
    out = {"code": code, "message": message}
    if data is not None:
        out["data"] = data
    return out


def meta_of(params):
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) else None


def opening_era(method, params):
    """The era a request shows: LEGACY for ``initialize``, MODERN for one carrying the
    envelope's version key (the Python SDK's rule), None for neither (era-ambiguous)."""
    if method == "initialize":
        return v.LEGACY
    meta = meta_of(params)
    return v.MODERN if meta is not None and v.PROTOCOL_VERSION in meta else None


def removed_in_modern(method, params):
    """Whether a request names a method 2026-07-28 removed while carrying that era's
    envelope version (so it is not a legacy client's: -32601, not answered in 2025 terms)."""
    if method not in v.REMOVED_IN_MODERN:  # nearly every request: its params need no look
        return False
    meta = meta_of(params)
    return meta is not None and v.PROTOCOL_VERSION in meta


def check_envelope(params):
    """The error for a modern request whose envelope is incomplete (-32602) or names a
    version agentdeck does not serve in this era (-32022), else None."""
    meta = meta_of(params)
    if meta is None or v.PROTOCOL_VERSION not in meta or not isinstance(meta.get(v.CLIENT_CAPABILITIES), dict):
        return error(v.INVALID_PARAMS, f"params._meta must carry {v.PROTOCOL_VERSION!r} and "
                     f"{v.CLIENT_CAPABILITIES!r} (an object) on every 2026-07-28 request")
    requested = meta[v.PROTOCOL_VERSION]
    if requested not in v.MODERN_VERSIONS:
        return error(v.UNSUPPORTED_VERSION, "Unsupported protocol version",
                     {"supported": list(v.SERVED), "requested": requested})
    return None


def strip_envelope(params):
    """``params`` without the modern envelope (for a legacy child, which a dual-era server
    locked legacy would refuse it on); an emptied ``_meta`` goes too."""
    meta = meta_of(params)
    if meta is None:
        return params
    meta = {k: val for k, val in meta.items() if not k.startswith(v.PREFIX)}
    out = {k: val for k, val in params.items() if k != "_meta"}
    if meta:
        out["_meta"] = meta
    return out


def declares(capabilities, method):
    """Whether a client with ``capabilities`` (None: it never said, a raw socket client)
    may be sent the server request ``method``."""
    needed = v.NEEDS_CAPABILITY.get(method)
    return capabilities is None or needed is None or isinstance(capabilities.get(needed), dict)


def _old_elicitation(method, params, version):
    return method == "elicitation/create" and isinstance(params, dict) and "mode" in params and \
        v.before(version, "2025-11-25")


def can_carry(method, params, version):
    """Whether a legacy client of ``version`` can be sent this server request at all (a
    URL elicitation cannot reach one older than 2025-11-25)."""
    return not _old_elicitation(method, params, version) or params["mode"] == "form"


def for_legacy_client(method, params, version):
    """``params`` of a server request as a legacy client of ``version`` knows them (the
    same object when nothing changes): a form elicitation before 2025-11-25 has no mode."""
    if not _old_elicitation(method, params, version):
        return params
    return {k: val for k, val in params.items() if k != "mode"}


def completed(method, result):
    """A legacy child's result as a modern client expects it: ``resultType`` and, for
    cacheable results, ``ttlMs`` and ``cacheScope`` (changelog 8, minor 5)."""
    if not isinstance(result, dict):
        return result
    out = dict(result)
    out.setdefault("resultType", "complete")
    if method in v.CACHEABLE_METHODS:
        out.setdefault("ttlMs", 0)
        out.setdefault("cacheScope", "private")
    return out
