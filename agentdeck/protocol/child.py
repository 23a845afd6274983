"""The handshake agentdeck does with each child, and what it learns from it.

A new child's very first line is ``server/discover`` at the newest modern version (a
dual-era stdio server locks its process to the era of the first request it sees, so
nothing may come before it). Its answer decides (basic/transports/stdio, "Backward
Compatibility"):

- a ``DiscoverResult`` naming a modern version agentdeck serves: a modern child, spoken
  to statelessly with that version;
- ``-32022`` naming such a version: the same (the probe's version was refused, not the era);
- anything else, or silence (the caller's timeout): a legacy child, which agentdeck
  initializes itself with the newest legacy version and every capability it can route.

`ChildInfo` is what agentdeck knows of the child; it answers clients' ``initialize``
and ``server/discover`` and is kept on disk (`to_json` / `from_json`).
"""
from agentdeck import __version__
from agentdeck.protocol import versions as v

CLIENT_INFO = {"name": "agentdeck", "version": __version__}


class Incompatible(Exception):
    """The child serves no version agentdeck speaks."""


class ChildInfo:
    __slots__ = ("era", "version", "capabilities", "server_info", "instructions")

    def __init__(self, era, version, capabilities, server_info, instructions=None):
        self.era = era                    # v.LEGACY or v.MODERN
        self.version = version            # what agentdeck speaks to it
        self.capabilities = capabilities  # the server's capabilities (a dict)
        self.server_info = server_info    # its Implementation: name, version, ...
        self.instructions = instructions  # or None

    def __eq__(self, other):
        return isinstance(other, ChildInfo) and self.to_json() == other.to_json()

    def __repr__(self):
        return f"ChildInfo({self.to_json()!r})"

    def to_json(self):
        data = {"era": self.era, "version": self.version, "capabilities": self.capabilities,
                "serverInfo": self.server_info}
        if self.instructions is not None:
            data["instructions"] = self.instructions
        return data

    @classmethod
    def from_json(cls, data):
        """The ChildInfo kept in ``data``, or None when it is not one this agentdeck wrote:
        an era and version that do not belong together are never brought back."""
        if not isinstance(data, dict) or v.era_of(data.get("version")) != data.get("era") or data.get("era") is None:
            return None
        capabilities, info = data.get("capabilities"), data.get("serverInfo")
        if not isinstance(capabilities, dict) or not isinstance(info, dict):
            return None
        instructions = data.get("instructions")
        return cls(data["era"], data["version"], capabilities, info,
                   instructions if isinstance(instructions, str) else None)

    # -- answers to clients

    def initialize_result(self, requested):
        """The result of a legacy client's ``initialize`` that asked for ``requested``."""
        result = {"protocolVersion": v.legacy_answer(requested), "capabilities": self.capabilities,
                  "serverInfo": self.server_info}
        if self.instructions is not None:
            result["instructions"] = self.instructions
        return result

    def discover_result(self):
        """The ``DiscoverResult`` a modern client gets: every version agentdeck serves
        (it answers legacy clients too), the child's capabilities and identity."""
        result = {"resultType": "complete", "supportedVersions": list(v.SERVED), "capabilities": self.capabilities,
                  "_meta": {v.SERVER_INFO: self.server_info}, "ttlMs": 0, "cacheScope": "private"}
        if self.instructions is not None:
            result["instructions"] = self.instructions
        return result


def envelope(version=v.NEWEST_MODERN, capabilities=None, client_info=None):
    """The ``_meta`` of a modern request agentdeck makes itself."""
    return {v.PROTOCOL_VERSION: version, v.CLIENT_CAPABILITIES: v.ROUTABLE_CAPABILITIES if capabilities is None
            else capabilities, v.CLIENT_INFO: client_info or CLIENT_INFO}


def discover_params(version=v.NEWEST_MODERN):
    return {"_meta": envelope(version)}


def initialize_params(version=v.NEWEST_LEGACY):
    return {"protocolVersion": version, "capabilities": v.ROUTABLE_CAPABILITIES, "clientInfo": CLIENT_INFO}


def read_discover(reply):
    """The modern ChildInfo a probe's ``reply`` (a message, or None for no answer in
    time) shows, or None when the child is legacy and must be initialized.
    Raises `Incompatible` for a modern-only child that serves none of our versions."""
    if not isinstance(reply, dict):
        return None
    result, error = reply.get("result"), reply.get("error")
    if isinstance(result, dict):
        version = v.newest_common(result.get("supportedVersions"), v.MODERN_VERSIONS)
        if version is None:
            return None  # it speaks discover but advertises only handshake-era versions
        meta = result.get("_meta") if isinstance(result.get("_meta"), dict) else {}
        info = meta.get(v.SERVER_INFO) if isinstance(meta.get(v.SERVER_INFO), dict) else {"name": "?", "version": "?"}
        capabilities = result.get("capabilities") if isinstance(result.get("capabilities"), dict) else {}
        instructions = result.get("instructions")
        return ChildInfo(v.MODERN, version, capabilities, info, instructions if isinstance(instructions, str) else None)
    if isinstance(error, dict) and error.get("code") == v.UNSUPPORTED_VERSION:
        return _modern_from_refusal(error)
    return None


def _modern_from_refusal(error):
    """A -32022 names the child's versions: None (legacy) when it names a legacy one we
    serve and no modern one; raises Incompatible when it names none we serve. A modern
    one we serve means re-probing at it (we serve one modern version: the probe's own)."""
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    supported = data.get("supported")
    if v.newest_common(supported, v.LEGACY_VERSIONS) is not None or supported is None:
        return None
    raise Incompatible(f"it serves only MCP {', '.join(map(str, supported))}; agentdeck speaks "
                       f"{', '.join(v.SERVED)}")


def read_initialize(reply):
    """The legacy ChildInfo an ``initialize`` reply shows. Raises `Incompatible` when it
    failed or settled on a version agentdeck does not serve; a -32022 error means the
    child turned out modern (the caller probes again)."""
    if not isinstance(reply, dict):
        raise Incompatible("it did not answer initialize")
    result = reply.get("result")
    if not isinstance(result, dict):
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        raise Incompatible(f"it refused initialize: {error.get('message', error)}")
    version = result.get("protocolVersion")
    if v.era_of(version) != v.LEGACY:
        raise Incompatible(f"it answered initialize with version {version!r}, which agentdeck does not serve")
    capabilities = result.get("capabilities") if isinstance(result.get("capabilities"), dict) else {}
    info = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {"name": "?", "version": "?"}
    instructions = result.get("instructions")
    return ChildInfo(v.LEGACY, version, capabilities, info, instructions if isinstance(instructions, str) else None)


def refused_as_modern(reply):
    """True when an ``initialize`` reply is -32022 naming a modern version we serve: the
    child locked itself modern (a probe that timed out here reached it after all)."""
    error = reply.get("error") if isinstance(reply, dict) else None
    data = error.get("data") if isinstance(error, dict) and isinstance(error.get("data"), dict) else {}
    return isinstance(error, dict) and error.get("code") == v.UNSUPPORTED_VERSION and \
        v.newest_common(data.get("supported"), v.MODERN_VERSIONS) is not None
