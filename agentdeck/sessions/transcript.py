"""The latest user prompt of a session, read incrementally from the agent's JSONL transcript.

Claude Code appends one JSON object per line to its transcript. A `PromptCache` keeps,
per instance, where it stopped reading and the latest prompt it saw, so each call reads
only the bytes appended since the previous one; the first read of a transcript starts
at most ``TAIL_BYTES`` from its end. Everything kept is bounded: ``max_entries``
instances (least recently read dropped first), a prompt of ``PROMPT_MAX_CHARS``, and
nothing of the file itself between calls. The cache is runtime-only: `forget` an
instance when it is killed or removed.
"""
import collections
import json
import os
import stat

TAIL_BYTES = 256 * 1024  # the first read of a transcript starts at most this far from its end
READ_CHUNK_BYTES = 64 * 1024  # bytes read per os.pread
MAX_LINE_BYTES = 1024 * 1024  # a longer line (a pasted file, a big tool result) is skipped unparsed
PROMPT_MAX_CHARS = 200  # what `session list` and `show` display
DEFAULT_MAX_ENTRIES = 4096  # instances whose read position is kept
# Lines Claude Code writes as the user's turn that the person did not type.
INTERNAL_PREFIXES = ("<command-", "<local-command-", "<system-reminder>", "Caveat: ")


def _prompt_text(content):
    """The text a person typed, from a message's content (a string or content blocks)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") == "tool_result":
            return None  # a tool's answer travels as a user message: not a prompt
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
    return "\n".join(texts)


def prompt_of(line):
    """The user prompt one transcript line (bytes) carries, shortened for display, or None."""
    if b'"user"' not in line:  # cheap pre-filter: most lines are the assistant's or tools'
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("type") != "user" or entry.get("isMeta") or entry.get("isSidechain"):
        return None
    message = entry.get("message")
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    text = display_prompt(_prompt_text(message.get("content")))
    return None if not text or text.startswith(INTERNAL_PREFIXES) else text


def display_prompt(text):
    """``text`` (a str, else nothing) as a prompt is shown: whitespace runs made one
    space, at most PROMPT_MAX_CHARS (cut with "…"); "" for none."""
    words = " ".join(text.split()) if isinstance(text, str) else ""
    return words if len(words) <= PROMPT_MAX_CHARS else words[:PROMPT_MAX_CHARS - 1] + "…"


class TranscriptCursor:
    """Where reading one transcript stopped, and what it found."""

    __slots__ = ("path", "inode", "offset", "skipping", "prompt")

    def __init__(self, path):
        self.path = path  # the transcript file
        self.inode = None  # (st_dev, st_ino) of the file read; another file means start over
        self.offset = None  # byte where the next read starts; None before the first read
        self.skipping = False  # the bytes at `offset` continue a line we drop (cut, or too long)
        self.prompt = None  # the latest user prompt seen, or None

    def read_new(self):
        """Read the lines appended since the last call and update `prompt`.

        A line still being written (no newline yet) is read again once complete.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return
            if (st.st_dev, st.st_ino) != self.inode or self.offset is None or st.st_size < self.offset:
                self._start(fd, st)
            self._read(fd, st.st_size)
        finally:
            os.close(fd)

    def _start(self, fd, st):
        """Position a first read (or a read of a replaced or truncated file) near the end."""
        self.inode = (st.st_dev, st.st_ino)
        self.prompt = None
        self.offset = max(0, st.st_size - TAIL_BYTES)
        # Starting mid-file, the first line is a fragment unless a newline precedes it.
        self.skipping = self.offset > 0 and os.pread(fd, 1, self.offset - 1) != b"\n"

    def _read(self, fd, end):
        position = self.offset
        pending = b""  # the current unterminated line, never more than MAX_LINE_BYTES
        while position < end:
            chunk = os.pread(fd, min(READ_CHUNK_BYTES, end - position), position)
            if not chunk:
                break
            position += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if self.skipping:
                    self.skipping = False
                    continue
                self.prompt = prompt_of(line) or self.prompt
            if len(pending) > MAX_LINE_BYTES:
                pending = b""
                self.skipping = True
        self.offset = position - len(pending)


class PromptCache:
    """Latest prompt per instance, bounded to ``max_entries`` instances.

    Not thread-safe; under gevent it is used from one greenlet at a time (no call
    yields: file reads are not cooperative).
    """

    def __init__(self, max_entries=DEFAULT_MAX_ENTRIES):
        self.max_entries = max_entries
        self._cursors = collections.OrderedDict()  # instance id -> TranscriptCursor, oldest read first

    def latest_prompt(self, instance_id, transcript_path):
        """The latest user prompt in ``transcript_path``, reading only what was appended
        since the last call for ``instance_id``; None if there is none (yet)."""
        if not transcript_path:
            return None
        cursor = self._cursors.pop(instance_id, None)
        if cursor is None or cursor.path != transcript_path:
            cursor = TranscriptCursor(transcript_path)
        cursor.read_new()
        self._cursors[instance_id] = cursor
        while len(self._cursors) > self.max_entries:
            self._cursors.popitem(last=False)
        return cursor.prompt

    def forget(self, instance_id):
        """Drop what is kept for ``instance_id`` (killed or removed)."""
        self._cursors.pop(instance_id, None)

    def clear(self):
        self._cursors.clear()

    def __len__(self):
        return len(self._cursors)
