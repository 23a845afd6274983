"""The id table: requests forwarded to the child and not yet answered, by proxy id.

A client's request id is replaced by a proxy-unique integer (its key here) and restored
in the answer. Entries leave when answered, cancelled, when their client leaves, or all
at once when the child goes away.
"""
PROXY = "the proxy"  # Pending.client of the proxy's own requests (the handshake, ping, unsubscribe)


class Pending:
    __slots__ = ("client", "raw_id", "key", "method", "token", "on_reply")

    def __init__(self, client, raw_id, key, method, token=None, on_reply=None):
        self.client = client      # the asking Peer, or PROXY
        self.raw_id = raw_id      # the client's id, exactly as it wrote it
        self.key = key            # its id_key: the key in client.inflight
        self.method = method
        self.token = token        # proxy progress token registered for this request, or None
        self.on_reply = on_reply  # PROXY only: gets the reply message, or None when the child went away


def held_listen(pending):
    """A subscriptions/listen an adapter holds for its client (`Peer.held`)."""
    return pending.method == "subscriptions/listen" and pending.raw_id.startswith(b'"agentdeck-')


def from_client(pending):
    return pending.client is not PROXY


class PendingTable(dict):
    """proxy id -> Pending, in the order the requests were sent."""

    __slots__ = ("next_pid",)

    def __init__(self):
        super().__init__()
        self.next_pid = 1

    def allocate(self):
        pid = self.next_pid
        self.next_pid = pid + 1
        return pid

    def client_requests(self):
        """How many clients' requests are in flight (not the proxy's own)."""
        return sum(1 for p in self.values() if from_client(p))

    def newest_client_request(self):
        """The most recent client request in flight, or None."""
        for pending in reversed(self.values()):
            if from_client(pending):
                return pending
        return None

    def take_all(self):
        entries = list(self.values())
        self.clear()
        return entries
