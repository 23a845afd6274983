"""A request's body as the application reads it (``wsgi.input``), bounded: read only as
far as asked, all of it within one deadline however it trickles; a chunked one decoded
by llhttp a chunk-size line or a chunk at a time, so that a chunk whose size line takes
the body past its limit is refused from that line (``check_size``), before any of its
data is read.
"""
from agentdeck.web.httprequest import MAX_HEAD_BYTES, READ_BYTES, Refused, feed, malformed

CHUNK_LINE_BYTES = 1024       # a chunk-size line, extensions included; a trailer line may be a head's size
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNK_SIZE_OVERFLOW = "Chunk size overflow"  # llhttp's words for a size past 64 bits


class Body:
    """``wsgi.input`` for a Content-Length body: read only as far as asked, all of it
    before ``deadline``. ``expect`` is True when the client waits for 100 Continue,
    sent at the first read that has to wait for the body (so an answer that reads no
    body, a 401 or a 413, goes first)."""

    def __init__(self, reader, length, deadline, expect):
        self.reader, self.left, self.deadline, self.expect = reader, length, deadline, expect

    @property
    def done(self):
        return self.left == 0

    def _continue(self):
        if self.expect and not self.reader.buffer:
            self.reader.send(CONTINUE)
        self.expect = False

    def read(self, size=-1):
        want = self.left if size is None or size < 0 else min(size, self.left)
        if want and self.expect:
            self._continue()
        parts = []
        while want:
            data = self.reader.take(want, self.deadline)
            parts.append(data)
            want -= len(data)
            self.left -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class ChunkedBody(Body):
    """``wsgi.input`` for a chunked body, decoded by llhttp. Fed a chunk-size line (or a
    trailer line) at a time, then that chunk's data and CRLF, so each size is known
    before its data is read: ``check_size(total)`` returns a whole response refusing a
    body that would reach ``total`` bytes, or None."""

    def __init__(self, reader, parser, message, deadline, expect, check_size):
        super().__init__(reader, 0, deadline, expect)
        self.parser, self.message, self.check_size = parser, message, check_size
        self.line = b""      # the chunk-size or trailer line being fed
        self.feed_left = 0   # bytes of the current chunk's data and its CRLF still to feed
        self.total = 0       # bytes of data announced by the size lines so far
        self.trailers = 0    # bytes of trailer lines so far
        self.last_chunk = False  # the 0-size chunk was seen: trailer lines follow

    @property
    def done(self):
        return self.message.done and not self.message.data

    def read(self, size=-1):
        data = self.message.data
        if self.expect and not data and not self.message.done:
            self._continue()
        got = sum(len(piece) for piece in data)
        while not self.message.done and (size is None or size < 0 or got < size):
            got += self._advance()
        if size is None or size < 0 or got <= size:
            out = b"".join(data)
            data.clear()
            return out
        out = b"".join(data)
        data[:] = [out[size:]]
        return out[:size]

    def _advance(self):
        """Feed llhttp the next piece; the number of decoded bytes it gave."""
        message = self.message
        data = self.reader.take(self.feed_left or READ_BYTES, self.deadline)
        before = len(message.data)
        if self.feed_left:
            self.feed_left -= len(data)
            feed(self.parser, data)
        else:
            end = data.find(b"\n")
            if end >= 0:
                data, rest = data[:end + 1], data[end + 1:]
                self.reader.put_back(rest)
            self.line += data
            if self.last_chunk:
                self.trailers += len(data)
                if self.trailers > MAX_HEAD_BYTES:
                    raise malformed("trailers over 64 KiB")
            elif len(self.line) > CHUNK_LINE_BYTES:
                raise malformed("a chunk-size line over 1 KiB")
            message.chunk_header = False
            try:
                feed(self.parser, data)
            except Refused as exc:
                refusal = self.check_size(1 << 64) if exc.detail == CHUNK_SIZE_OVERFLOW else None
                if refusal is None:
                    raise
                raise Refused(refusal, None) from None  # too large, not malformed: 413 (counted by check_size)
            if end >= 0:
                self._line_done()
        return sum(len(piece) for piece in message.data[before:])

    def _line_done(self):
        line, self.line = self.line, b""
        if self.last_chunk or self.message.done:
            return
        if not self.message.chunk_header:
            raise malformed("llhttp took a line for no chunk size")
        size = int(line.partition(b";")[0], 16)  # plain hex: llhttp has checked it
        if size == 0:
            self.last_chunk = True
            return
        self.total += size
        refusal = self.check_size(self.total)
        if refusal is not None:
            raise Refused(refusal, None)  # counted by check_size
        self.feed_left = size + 2
