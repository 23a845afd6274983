"""What clients ask for: tool calls of mixed sizes (a few bytes to 5 MiB each way), with
the check each answer must pass. Shared by the socket and HTTP clients."""
from soak.common import KiB, MiB, text_of

# (weight, low, high) bytes: mostly small, some large, a few huge.
SIZES = ((70, 1, 200), (20, 1 * KiB, 64 * KiB), (8, 64 * KiB, 1 * MiB), (2, 1 * MiB, 5 * MiB))


def size(rng):
    pick = rng.uniform(0, sum(w for w, _, _ in SIZES))
    for weight, low, high in SIZES:
        if pick < weight:
            return rng.randint(low, high)
        pick -= weight
    return 1


def call(rid, tool, arguments, meta=None):
    params = {"name": tool, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


def echo(rid, rng):
    """An echo call (request of random size) and its check."""
    body = f"{rid}|" + "e" * size(rng)
    return call(rid, "echo", {"text": body}), lambda m: None if text_of(m) == body else \
        f"echo came back as {str(text_of(m))[:60]!r} ({len(text_of(m) or '')} bytes, sent {len(body)})"


def huge(rid, rng):
    """A call whose answer is of random size."""
    n = size(rng)
    return call(rid, "huge", {"bytes": n}), lambda m: None if len(text_of(m) or "") == n else \
        f"huge answer of {len(text_of(m) or '')} bytes, asked {n}"


def slow(rid, seconds):
    return call(rid, "slow", {"seconds": seconds, "text": rid}), lambda m: None if text_of(m) == rid else \
        f"slow answered {text_of(m)!r}"


def progress(rid, steps):
    return call(rid, "progress", {"steps": steps}, {"progressToken": rid}), \
        lambda m: None if text_of(m) == f"done {steps}" else f"progress answered {text_of(m)!r}"


def updated(rid, uri):
    """Ask the server to send notifications/resources/updated for ``uri``."""
    return call(rid, "notify", {"method": "notifications/resources/updated", "params": {"uri": uri}}), None


def request(rid, method, params=None):
    message = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        message["params"] = params
    return message


INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {"roots": {"listChanged": True}},
              "clientInfo": {"name": "soak", "version": "1"}}
