"""The ``requestState`` agentdeck issues to a modern client when its legacy child asked
something during that client's request: bound to the client and tamper-evident (an
HMAC under a key the caller holds), with an expiry (basic/patterns/mrtr, "Server
Requirements" 4 and 5). What it names stays in agentdeck; the client only carries it.
"""
import base64
import hashlib
import hmac
import json


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def issue(key, client, ticket, expires):
    """The state naming ``ticket`` (an int) for ``client`` (its id), valid until ``expires``."""
    body = json.dumps([client, ticket, round(expires, 3)], separators=(",", ":")).encode()
    return _b64(body) + "." + _b64(hmac.new(key, body, hashlib.sha256).digest())


def verify(key, client, state, now):
    """The ticket ``state`` names when it is ours, for ``client`` and not expired; else None."""
    if not isinstance(state, str) or state.count(".") != 1 or len(state) > 512:
        return None
    body_text, mac_text = state.split(".")
    try:
        body = base64.urlsafe_b64decode(body_text + "=" * (-len(body_text) % 4))
        mac = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    owner, ticket, expires = json.loads(body)
    return ticket if owner == client and now < expires else None
