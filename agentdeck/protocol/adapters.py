"""The choice of a client's adapter: by (client era, child era); the same era needs none
(None, the identity, which costs the hot path nothing). See `clients` for the shape."""
from agentdeck.protocol import versions as v
from agentdeck.protocol.legacyclient import LegacyToModern
from agentdeck.protocol.modernclient import ModernToLegacy


def adapter_for(client, child, **options):
    """The adapter for ``client`` (a ClientState) of a child of era ``child``, or None.
    ``options`` are the modern-client adapter's (``key``, ``cid``, ``clock``, ``wait``)."""
    if client.era == v.LEGACY and child == v.MODERN:
        return LegacyToModern(client)
    if client.era == v.MODERN and child == v.LEGACY:
        return ModernToLegacy(client, **options)
    return None
