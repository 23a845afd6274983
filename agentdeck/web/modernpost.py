"""The 2026-07-28 Streamable HTTP binding's rules for one POST, as data (the spec's
basic/transports/streamable-http, "Request Metadata" and "Server Validation"): which
POSTs are modern, and the checks of a modern POST's headers against its body. No I/O:
`check` takes the header values and the parsed body and returns a `Refusal` or None.

A modern request carries no session: a POST without ``Mcp-Session-Id`` whose
``MCP-Protocol-Version`` is not a 2025 one (and is not ``initialize``, which opens a
legacy session unless it carries the modern envelope: then it is a 2026-07-28 request of
a method that era removed, -32601). A body without the envelope's version is -32602
(invalid params); its ``MCP-Protocol-Version`` must equal the version in the body's
``_meta``, ``Mcp-Method`` its method and, for the methods that name something,
``Mcp-Name`` that name (decoded first when sent as ``=?base64?...?=``); otherwise
400 with HeaderMismatch (-32020). ``Mcp-Param-*`` headers are not checked: agentdeck
does not read the tools' schemas, and an intermediary forwards what it does not know.
"""
import base64
import binascii
import collections

from agentdeck.protocol import front
from agentdeck.protocol import versions as v
from agentdeck.wire import jsonrpc

NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}  # method -> the params key Mcp-Name mirrors
SENTINEL_HEAD, SENTINEL_TAIL = "=?base64?", "?="
BAD_REQUEST = "400 Bad Request"

Refusal = collections.namedtuple("Refusal", "status code message data raw_id")


def is_modern(version, sid, body):
    """Whether a POST opens no session and speaks a modern version (or one too new to
    know: it is answered -32022 so a client can pick one agentdeck serves)."""
    if sid or not version or v.era_of(version) == v.LEGACY:
        return False
    if body.__class__ is not dict or body.get("method") != "initialize":
        return True
    return front.removed_in_modern("initialize", body.get("params"))  # else it opens a legacy session


def decode_name(value):
    """An ``Mcp-Name`` header's value, its Base64 sentinel form decoded; None when that
    form does not decode to UTF-8."""
    if not (value.startswith(SENTINEL_HEAD) and value.endswith(SENTINEL_TAIL)) or \
            len(value) < len(SENTINEL_HEAD) + len(SENTINEL_TAIL):
        return value
    try:
        return base64.b64decode(value[len(SENTINEL_HEAD):-len(SENTINEL_TAIL)], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _mismatch(raw_id, message):
    return Refusal(BAD_REQUEST, v.HEADER_MISMATCH, f"Header mismatch: {message}", None, raw_id)


def check(headers, body):
    """The refusal of a modern POST, or None when it may go to the router. ``headers``
    maps lower-case names (``mcp-protocol-version``, ``mcp-method``, ``mcp-name``) to
    values; ``body`` is the parsed JSON."""
    if body.__class__ is not dict:
        return Refusal(BAD_REQUEST, jsonrpc.INVALID_REQUEST, "MCP 2026-07-28 takes one JSON-RPC message per POST, "
                       "not a batch", None, jsonrpc.NULL_ID)
    kind, why = jsonrpc.classify(body)
    if kind is jsonrpc.INVALID:
        return Refusal(BAD_REQUEST, jsonrpc.INVALID_REQUEST, f"invalid request: {why}", None, jsonrpc.NULL_ID)
    if kind is not jsonrpc.REQUEST or body["id"].__class__ not in jsonrpc.ID_TYPES:
        return Refusal(BAD_REQUEST, jsonrpc.INVALID_REQUEST, "MCP 2026-07-28 over HTTP takes requests only (with a "
                       "string or number id): it has no client notifications or responses there, and closing a "
                       "response stream cancels its request", None, jsonrpc.NULL_ID)
    raw_id = jsonrpc.dumps(body["id"])
    method, params = body["method"], body.get("params")
    version = headers.get("mcp-protocol-version")
    meta = front.meta_of(params)
    stated = meta.get(v.PROTOCOL_VERSION) if meta is not None else None
    if stated is None:  # no envelope to compare the header with: the request's params are invalid
        error = front.check_envelope(params)
        return Refusal(BAD_REQUEST, error["code"], error["message"], error.get("data"), raw_id)
    if stated != version:
        return _mismatch(raw_id, f"MCP-Protocol-Version header value {version!r} does not match body value "
                         f"{stated!r} (params._meta[{v.PROTOCOL_VERSION!r}])")
    if version not in v.MODERN_VERSIONS:
        return Refusal(BAD_REQUEST, v.UNSUPPORTED_VERSION, "Unsupported protocol version",
                       {"supported": list(v.SERVED), "requested": version}, raw_id)
    header = headers.get("mcp-method")
    if header != method:
        return _mismatch(raw_id, f"Mcp-Method header value {header!r} does not match body value {method!r}"
                         if header is not None else "the Mcp-Method header is required")
    field = NAMED.get(method)
    if field is not None:
        header = headers.get("mcp-name")
        if header is None:
            return _mismatch(raw_id, f"the Mcp-Name header is required for {method}")
        name = decode_name(header)
        named = params.get(field) if params.__class__ is dict else None
        if name != named:
            return _mismatch(raw_id, f"Mcp-Name header value {header!r} does not match body value {named!r} "
                             f"(params.{field})")
    error = front.check_envelope(params)
    if error is not None:
        return Refusal(BAD_REQUEST, error["code"], error["message"], error.get("data"), raw_id)
    return None
