"""What agentdeck knows of one client, and what its adapter may tell the router.

A client's era is decided by its first request that shows one (`front.opening_era`):
``initialize`` makes it legacy, a request carrying the modern envelope makes it modern.
The adapter between it and the child (`adapters.adapter_for`) is chosen by (client
era, child era); the same era needs none.

Every adapter has ``to_child(message)`` and ``to_client(message, about)``, each returning
``(messages for the child, messages for the client)``: a message from one side may need
answering on the spot, or an answer to the other side. Requests to the child are in the
client's id space (the router gives them proxy ids); answers to the child's own requests
carry the child's ids. ``about`` is the id key of the client's request a message from
the child belongs to (None when unprompted). ``waiting()`` says the client owes the
adapter answers (its request is with the adapter, not in flight at the router).
"""


class ClientState:
    __slots__ = ("era", "version", "capabilities", "client_info")

    def __init__(self, era, version=None, capabilities=None, client_info=None):
        self.era = era                    # versions.LEGACY or versions.MODERN
        self.version = version            # its negotiated (legacy) or latest declared (modern) version
        self.capabilities = capabilities  # dict, or None when it never declared any (a raw socket client)
        self.client_info = client_info    # its Implementation, or None


class Rebind:
    """For the router: the client's request ``old`` (an id) now waits under ``new``
    (a modern client's retry carries a new id; the child's work goes on)."""

    __slots__ = ("old", "new")

    def __init__(self, old, new):
        self.old = old
        self.new = new

    def __eq__(self, other):
        return isinstance(other, Rebind) and (self.old, self.new) == (other.old, other.new)

    def __repr__(self):
        return f"Rebind({self.old!r}, {self.new!r})"
