"""Split a byte stream into lines without ever holding more than the line limit.

Used for both directions: client sockets (limit max_request_bytes) and the child's
stdout (limit max_response_bytes). An oversize line is skipped as it streams by; only
its first and last bytes are kept, so the reader can still name the request it answered.
"""

HEAD_BYTES = 4096  # kept from the start of an oversize line (its id is usually here)
TAIL_BYTES = 512   # kept from its end (where some SDKs put the id)
# A line held past this grows in one buffer instead of a list of read chunks, and is
# handed on as that bytearray, uncopied: the chunks' heap pages stay resident once freed,
# so a 5 MiB line would cost its chunks, the joined line and the copy with the id spliced
# in, three times its size; a copy to bytes would still cost twice; this way once (plus
# the buffer's growth margin), as `jsonrpc.replace_id` splices a bytearray in place.
BIG_LINE_BYTES = 1 << 20


class Oversize:
    """Stands in for a line longer than the limit, which was discarded."""

    __slots__ = ("head", "tail", "size")

    def __init__(self, head, tail, size):
        self.head = head  # first HEAD_BYTES of the line
        self.tail = tail  # last TAIL_BYTES of the line
        self.size = size  # its full length in bytes


class LineSplitter:
    """Feed it chunks; it returns complete lines (bytes, without the newline; a bytearray
    past BIG_LINE_BYTES, the caller's alone) and `Oversize` markers, in stream order. Memory held: at most ``limit`` bytes (or
    HEAD_BYTES + TAIL_BYTES of an oversize line, if the limit is smaller)."""

    __slots__ = ("limit", "parts", "big", "size", "skipping", "head", "tail")

    def __init__(self, limit):
        self.limit = limit
        self.parts = []        # pieces of the current incomplete line
        self.big = None        # or, past BIG_LINE_BYTES, all of it in one bytearray
        self.size = 0          # their total length, or the bytes skipped so far when skipping
        self.skipping = False  # inside an oversize line, discarding up to its newline
        self.head = b""
        self.tail = b""

    @property
    def pending(self):
        """Bytes of an incomplete line received so far (0 between lines)."""
        return self.size

    def start(self, size):
        """The first ``size`` bytes of the incomplete line, as far as they have come."""
        if self.skipping:
            return self.head[:size]
        return bytes(self.big[:size]) if self.big is not None else b"".join(self.parts)[:size]

    @property
    def held(self):
        """Bytes of an incomplete line kept in memory (0 while skipping an oversize one)."""
        return 0 if self.skipping else self.size

    def feed(self, data):
        if not self.parts and self.big is None and not self.skipping:
            lines = data.split(b"\n")
            rest = lines.pop()
            if len(data) > self.limit:
                lines = [self._checked(line) for line in lines]
            if rest:
                self._hold(rest)
            return lines
        out = []
        newline = data.find(b"\n")
        if newline < 0:
            self._hold(data)
            return out
        self._hold(data[:newline])
        out.append(self._finish())
        out.extend(self.feed(data[newline + 1:]))
        return out

    def _checked(self, line):
        if len(line) > self.limit:
            return Oversize(line[:HEAD_BYTES], line[-TAIL_BYTES:], len(line))
        return line

    def _hold(self, piece):
        if self.skipping:
            self.size += len(piece)
            if len(self.head) < HEAD_BYTES:  # the limit was crossed before HEAD_BYTES arrived
                self.head += piece[:HEAD_BYTES - len(self.head)]
            self.tail = (self.tail + piece[-TAIL_BYTES:])[-TAIL_BYTES:]
        elif self.size + len(piece) > self.limit:
            held = self.parts if self.big is None else [self.big]
            head = b""
            for part in (*held, piece):
                head += part[:HEAD_BYTES - len(head)]
                if len(head) == HEAD_BYTES:
                    break
            tail = piece[-TAIL_BYTES:]
            for part in reversed(held):  # a short piece: the tail goes back into earlier parts
                if len(tail) >= TAIL_BYTES:
                    break
                tail = part[len(tail) - TAIL_BYTES:] + tail
            self.head, self.tail = bytes(head), bytes(tail)
            self.size += len(piece)
            self.parts, self.big = [], None
            self.skipping = True
        elif self.big is not None:
            self.big += piece
            self.size += len(piece)
        else:
            self.parts.append(piece)
            self.size += len(piece)
            if self.size > BIG_LINE_BYTES:
                self.big = bytearray().join(self.parts)
                self.parts = []

    def _finish(self):
        """The line that just ended."""
        if self.skipping:
            line = Oversize(self.head, self.tail, self.size)
            self.skipping = False
            self.head = self.tail = b""
        elif self.big is not None:
            line = self.big
            self.big = None
        else:
            line = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            self.parts = []
        self.size = 0
        return line
