"""The deck's line to the daemon: its ``/events`` stream over asyncio, nothing else.

The daemon's runtime file (`daemon.remote.runtime_info`, standard library only) says
whether it runs and where it listens. `EventStream` sends one GET, checks the answer,
undoes the chunked framing and hands the SSE parser the bytes; each event comes out as
(kind, JSON data). Reads are bounded (a head of 64 KiB, a chunk of 16 MiB) and the head
must arrive within CONNECT_TIMEOUT; after that a quiet stream is normal (the daemon
sends a keep-alive comment every 15 s, so READ_TIMEOUT of silence means it is gone).
"""
import asyncio
import json
import urllib.parse

from agentdeck.daemon.remote import DaemonUnreachable, runtime_info
from agentdeck.deck.sse import SseParser

CONNECT_TIMEOUT = 5.0      # seconds for the connection and the response head
READ_TIMEOUT = 45.0        # seconds of silence (three keep-alives missed) before the stream is given up
MAX_HEAD_BYTES = 65536
MAX_CHUNK_BYTES = 16 << 20


class StreamError(Exception):
    """The stream could not be opened, or broke; the message says why in one line."""


def events_url(home):
    """The daemon's /events URL; DaemonUnreachable (a one-line message) when it does not run."""
    info = runtime_info(home)
    url = info.get("status_url")
    if not isinstance(url, str) or not url.startswith("http://"):
        raise DaemonUnreachable(f"the agentdeck daemon (pid {info['pid']}) runs with its status page off: "
                                "set [daemon] status_listen and restart it for a live deck", info["pid"])
    return url.rstrip("/") + "/events", info["pid"]


class EventStream:
    """One open /events stream. `open` then `async for kind, data in stream`; `close` at the end."""

    def __init__(self, url, token=""):
        self.url = url
        self.token = token
        self.reader = self.writer = None
        self.parser = SseParser()

    async def open(self):
        parts = urllib.parse.urlsplit(self.url)
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, parts.port), CONNECT_TIMEOUT)
            auth = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
            self.writer.write(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
                              "Accept: text/event-stream\r\n\r\n".encode())
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise StreamError(f"{self.url}: {exc or type(exc).__name__}") from None
        status_line, _, headers = head.decode("latin-1").partition("\r\n")
        if status_line.split(" ", 2)[1:2] != ["200"]:
            self.close()
            raise StreamError(f"{self.url} answered {status_line.partition(' ')[2]}")
        if "transfer-encoding: chunked" not in headers.lower():
            self.close()
            raise StreamError(f"{self.url} did not answer with a stream")

    def __aiter__(self):
        return self._events()

    async def _events(self):
        while True:
            chunk = await self._chunk()
            if chunk is None:
                return
            for kind, data in self.parser.feed(chunk):
                try:
                    yield kind, json.loads(data)
                except ValueError:
                    raise StreamError(f"{self.url} sent an event that is not JSON") from None

    async def _chunk(self):
        """The next chunk of the body; None at its end."""
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), READ_TIMEOUT)
            size = int(line.split(b";")[0], 16)
            if size > MAX_CHUNK_BYTES:
                raise StreamError(f"{self.url} sent a chunk of {size} bytes")
            if size == 0:
                return None
            data = await asyncio.wait_for(self.reader.readexactly(size + 2), READ_TIMEOUT)
        except asyncio.TimeoutError:
            raise StreamError(f"{self.url} went silent for {READ_TIMEOUT:g} s") from None
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise StreamError(f"{self.url}: the stream broke ({exc or type(exc).__name__})") from None
        return data[:-2]

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
