"""A server-sent event parser with no I/O: fed bytes, it returns whole events.

Only what agentdeck's ``/events`` sends needs to work (``event:`` and ``data:`` fields,
comments, ``retry:``), but the grammar is the standard's: CR, LF or CRLF line ends, a
blank line dispatches, ``data`` lines join with newlines, a field without a colon is a
name with an empty value. An event or a line longer than MAX_EVENT_BYTES is an error
(the stream is not ours, or it is broken): the caller drops the connection.
"""
MAX_EVENT_BYTES = 8 << 20  # a snapshot of 500 sessions is about 0.5 MiB


class SseError(ValueError):
    pass


class SseParser:
    def __init__(self, max_event=MAX_EVENT_BYTES):
        self.max_event = max_event
        self._buffer = b""   # bytes after the last complete line
        self._kind = ""      # the event field of the event being read
        self._data = []      # its data lines
        self._size = 0       # bytes of its fields so far

    def feed(self, chunk):
        """[(event name, data text)] completed by ``chunk``; the name is "message" when the
        event gave none, as EventSource does."""
        self._buffer += chunk
        events = []
        while True:
            end = _line_end(self._buffer)
            if end is None:
                break
            line, self._buffer = self._buffer[:end[0]], self._buffer[end[1]:]
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        if len(self._buffer) > self.max_event:
            raise SseError(f"an event line over {self.max_event} bytes")
        return events

    def _line(self, line):
        if not line:
            if not self._data:
                self._kind = ""
                return None
            event = (self._kind or "message", "\n".join(self._data))
            self._kind, self._data, self._size = "", [], 0
            return event
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        self._size += len(line)
        if self._size > self.max_event:
            raise SseError(f"an event over {self.max_event} bytes")
        if name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        return None


def _line_end(buffer):
    """(start, end) of the first line ending in ``buffer``, or None. A CR last in the
    buffer may be half of a CRLF still on its way: wait for the next byte."""
    lf, cr = buffer.find(b"\n"), buffer.find(b"\r")
    if cr == -1 or (lf != -1 and lf < cr):
        return None if lf == -1 else (lf, lf + 1)
    if cr + 1 == len(buffer):
        return None
    return (cr, cr + 2) if buffer[cr + 1:cr + 2] == b"\n" else (cr, cr + 1)
