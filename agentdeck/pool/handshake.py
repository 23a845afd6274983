"""agentdeck's own handshake with a new child (DESIGN.md, "Protocol eras"): the
`protocol.child` rules driven over the child's pipes, by the supervisor, before any
client traffic.

``server/discover`` is the child's very first line. A modern child is spoken to
statelessly from then on; a legacy one is initialized here, with the newest legacy
version and every capability agentdeck routes, and hears ``notifications/initialized``
once. No client's ``initialize`` ever reaches a child.
"""
from agentdeck.protocol import child

# The one spelling of the notification, sent to each legacy child once.
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'


def run(ask, send_now):
    """The `protocol.child.ChildInfo` of the child, learnt with ``ask(method, params)``
    (the reply message, or None when none came in time) and ``send_now(line)``.
    Raises `protocol.child.Incompatible` when agentdeck cannot speak to it."""
    info = child.read_discover(ask("server/discover", child.discover_params()))
    if info is not None:
        return info
    reply = ask("initialize", child.initialize_params())
    if child.refused_as_modern(reply):
        # The probe's answer came too late for us but not for the child: it is modern.
        info = child.read_discover(ask("server/discover", child.discover_params()))
        if info is None:
            raise child.Incompatible("it refused initialize as a 2026-07-28 server but did not answer server/discover")
        return info
    info = child.read_initialize(reply)
    send_now(INITIALIZED)
    return info
