"""The MCP versions agentdeck serves, their eras, the reserved ``_meta`` keys and the
error codes of 2026-07-28 (basic/versioning, basic/index "_meta", "Error codes").

Legacy versions open a session with ``initialize``; modern ones carry the version and
the client's capabilities in every request's ``_meta``.
"""
LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")  # oldest first
MODERN_VERSIONS = ("2026-07-28",)
SERVED = LEGACY_VERSIONS + MODERN_VERSIONS
NEWEST_LEGACY = LEGACY_VERSIONS[-1]
NEWEST_MODERN = MODERN_VERSIONS[-1]

LEGACY = "legacy"
MODERN = "modern"

PREFIX = "io.modelcontextprotocol/"
PROTOCOL_VERSION = PREFIX + "protocolVersion"
CLIENT_INFO = PREFIX + "clientInfo"
CLIENT_CAPABILITIES = PREFIX + "clientCapabilities"
LOG_LEVEL = PREFIX + "logLevel"
SUBSCRIPTION_ID = PREFIX + "subscriptionId"
SERVER_INFO = PREFIX + "serverInfo"

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021
UNSUPPORTED_VERSION = -32022

# What agentdeck can route to some client, so what it declares to a child it initializes.
ROUTABLE_CAPABILITIES = {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}}
# The client capability a request from the server needs, by method.
NEEDS_CAPABILITY = {"roots/list": "roots", "sampling/createMessage": "sampling", "elicitation/create": "elicitation"}
# Methods 2026-07-28 no longer has: a request of its era for one of them is -32601 (no
# handshake or session; no ping; a logLevel in each request's _meta; subscriptions/listen).
REMOVED_IN_MODERN = frozenset(("initialize", "ping", "logging/setLevel", "resources/subscribe",
                               "resources/unsubscribe"))
# Requests a modern server may answer with an input_required result (basic/patterns/mrtr).
MRTR_METHODS = frozenset(("tools/call", "prompts/get", "resources/read"))
# Results that carry ttlMs and cacheScope in 2026-07-28 (server/utilities/caching).
CACHEABLE_METHODS = frozenset(("tools/list", "prompts/list", "resources/list", "resources/read",
                               "resources/templates/list", "server/discover"))


def era_of(version):
    """LEGACY, MODERN, or None for a version agentdeck does not serve."""
    if version in LEGACY_VERSIONS:
        return LEGACY
    if version in MODERN_VERSIONS:
        return MODERN
    return None


def legacy_answer(requested):
    """The version a legacy client's initialize is answered with: its own when served,
    else the newest legacy one (it may then disconnect, as the 2025 lifecycle says)."""
    return requested if requested in LEGACY_VERSIONS else NEWEST_LEGACY


def newest_common(theirs, ours):
    """The newest of ``ours`` (oldest first) that ``theirs`` lists too, or None."""
    listed = set(theirs) if isinstance(theirs, (list, tuple)) else ()
    return next((v for v in reversed(ours) if v in listed), None)


def before(version, other):
    """``version`` is an older legacy revision than ``other`` (dates sort as strings)."""
    return version.__class__ is str and version < other
