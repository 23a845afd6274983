"""LineSplitter: chunks in, lines and Oversize markers out, in order, never holding more
than the line limit whatever the chunking."""
import random

import pytest

from agentdeck.wire import lines as line_module
from agentdeck.wire.lines import HEAD_BYTES, TAIL_BYTES, LineSplitter, Oversize

BIG_LIMIT = 6000  # >= HEAD_BYTES + TAIL_BYTES, so everything held stays under the limit


def over(line):
    """What an Oversize for ``line`` must carry: its first and last bytes and its size."""
    return ("oversize", line[:HEAD_BYTES], line[-TAIL_BYTES:], len(line))


def plain(item):
    if isinstance(item, Oversize):
        return ("oversize", item.head, item.tail, item.size)
    assert isinstance(item, (bytes, bytearray)), item  # a bytearray: a line held past BIG_LINE_BYTES
    return bytes(item)


def reference(stream, limit):
    """The items a splitter must produce for ``stream``, however it is chunked."""
    *lines, _rest = stream.split(b"\n")
    return [line if len(line) <= limit else over(line) for line in lines]


def held_bytes(splitter):
    """Everything the splitter keeps between feeds."""
    return sum(len(p) for p in splitter.parts) + len(splitter.big or b"") + len(splitter.head) + len(splitter.tail)


PARTS_COUNTED = 64  # summing more parts after every one-byte feed would make the tests quadratic


def feed_all(splitter, chunks, check=None):
    """Feed every chunk; ``check(splitter, partial)`` after each, where ``partial`` is the
    length of the unfinished line fed so far."""
    items, partial = [], 0
    for chunk in chunks:
        items += [plain(i) for i in splitter.feed(chunk)]
        newline = chunk.rfind(b"\n")
        partial = partial + len(chunk) if newline < 0 else len(chunk) - newline - 1
        if check:
            check(splitter, partial)
    return items


def invariants(limit):
    def check(splitter, partial):
        assert splitter.pending == partial
        assert splitter.held + len(splitter.head) + len(splitter.tail) <= max(limit, HEAD_BYTES + TAIL_BYTES)
        if len(splitter.parts) <= PARTS_COUNTED:
            assert held_bytes(splitter) == splitter.held + len(splitter.head) + len(splitter.tail)
        assert splitter.held <= limit
        assert splitter.held == (0 if partial > limit else partial)
    return check


# (limit, chunks in, items out, pending after), side by side.
CASES = [
    (8, [b"a\nb\n"], [b"a", b"b"], 0),
    (8, [b"ab", b"c\n"], [b"abc"], 0),
    (8, [b"a", b"b", b"", b"c", b"\nd"], [b"abc"], 1),
    (8, [b"\n\n"], [b"", b""], 0),
    (8, [b"a\n", b"\n", b"b\n"], [b"a", b"", b"b"], 0),
    (8, [b"a\r\n", b"b\r", b"\n"], [b"a\r", b"b\r"], 0),  # CR kept; the router strips
    (8, [b"partial"], [], 7),
    (8, [b""], [], 0),
    (8, [b"12345678\n"], [b"12345678"], 0),  # exactly at the limit
    (8, [b"1234", b"5678", b"\n"], [b"12345678"], 0),
    (8, [b"123456789\n"], [over(b"123456789")], 0),  # limit + 1
    (8, [b"1234", b"56789\n"], [over(b"123456789")], 0),
    (8, [b"12345678", b"9", b"\n"], [over(b"123456789")], 0),
    (8, [b"123456789", b"\nok\n"], [over(b"123456789"), b"ok"], 0),
    (8, [b"a\n12345", b"6789", b"0\nb"], [b"a", over(b"1234567890")], 1),
    (8, [b"x" * 20 + b"\n" + b"y" * 8 + b"\n" + b"z" * 9 + b"\nw"], [over(b"x" * 20), b"y" * 8, over(b"z" * 9)], 1),
    (8, [b"123456789012"], [], 12),  # an oversize line not yet ended still counts as pending
]


@pytest.mark.parametrize("limit, chunks, expected, pending", CASES)
def test_split_cases(limit, chunks, expected, pending):
    splitter = LineSplitter(limit)
    assert feed_all(splitter, chunks, invariants(limit)) == expected
    assert splitter.pending == pending


def random_stream(rng, limit, count=40):
    lengths = [0, 1, 100, limit - 1, limit, limit + 1, limit + 100, HEAD_BYTES, HEAD_BYTES + 1, 2 * limit, 30000]
    lines = []
    for _ in range(count):
        n = rng.choice(lengths)
        lines.append(rng.randbytes(n).replace(b"\n", b"N"))
    return b"\n".join(lines) + b"\n" + b"unfinished"


def byte_by_byte(stream):
    return [stream[i:i + 1] for i in range(len(stream))]


def random_chunks(rng, stream, biggest):
    chunks, i = [], 0
    while i < len(stream):
        n = rng.randint(0, biggest)
        chunks.append(stream[i:i + n])
        i += n
    return chunks


@pytest.fixture(params=["chunk list", "one buffer past 100 bytes"])
def big_lines(request, monkeypatch):
    """Each test twice: as lines of the sizes here are held, and as held past BIG_LINE_BYTES."""
    if request.param != "chunk list":
        monkeypatch.setattr(line_module, "BIG_LINE_BYTES", 100)


@pytest.mark.parametrize("limit", [BIG_LIMIT, 1024])
def test_byte_by_byte_equals_reference(limit, big_lines):
    stream = random_stream(random.Random(7), limit, count=16)
    splitter = LineSplitter(limit)
    assert feed_all(splitter, byte_by_byte(stream), invariants(limit)) == reference(stream, limit)
    assert splitter.pending == len(b"unfinished")


@pytest.mark.parametrize("biggest", [3, 700, 5000, 70000])
@pytest.mark.parametrize("limit", [BIG_LIMIT, 1024])
def test_random_chunkings_equal_reference(limit, biggest, big_lines):
    rng = random.Random(1000 + biggest + limit)
    stream = random_stream(rng, limit)
    expected = reference(stream, limit)
    for _ in range(5):
        splitter = LineSplitter(limit)
        assert feed_all(splitter, random_chunks(rng, stream, biggest), invariants(limit)) == expected


def test_every_single_cut_of_a_stream(big_lines):
    """Two chunks, split at every possible boundary of a stream with lines around the limit."""
    limit = 16
    stream = b"a\n" + b"b" * 16 + b"\n" + b"c" * 17 + b"\n\r\n" + b"d" * 40 + b"\ne"
    expected = reference(stream, limit)
    for cut in range(len(stream) + 1):
        splitter = LineSplitter(limit)
        assert feed_all(splitter, [stream[:cut], stream[cut:]], invariants(limit)) == expected, cut


def test_oversize_line_over_many_chunks_keeps_memory_under_the_limit(big_lines):
    rng = random.Random(3)
    line = bytes(rng.randrange(256) for _ in range(300_000)).replace(b"\n", b"N")
    splitter = LineSplitter(BIG_LIMIT)
    fed = 0
    for i in range(0, len(line), 4096):
        assert splitter.feed(line[i:i + 4096]) == []
        fed += len(line[i:i + 4096])
        assert splitter.pending == fed
        assert held_bytes(splitter) <= BIG_LIMIT and splitter.held == (fed if fed <= BIG_LIMIT else 0)
    items = [plain(i) for i in splitter.feed(b"\nafter 1\n\nafter 2\n")]
    assert items == [over(line), b"after 1", b"", b"after 2"]
    assert splitter.pending == 0 and held_bytes(splitter) == 0


@pytest.mark.parametrize("chunk", [1, 7, 511, 512, 513])
@pytest.mark.parametrize("extra", [1, 2, 100, TAIL_BYTES - 1, TAIL_BYTES + 1])
def test_oversize_tail_is_the_last_bytes_when_it_ends_soon_after_the_limit(chunk, extra):
    """Regression: when the limit was crossed, the tail was built from the last held part
    only; with small chunks an oversize line ending soon after the limit had a tail of a
    few bytes, so a trailing id (TypeScript SDK style) could not be guessed."""
    limit = BIG_LIMIT
    line = bytes(range(256)).replace(b"\n", b"N") * ((limit + extra) // 256 + 1)
    line = line[:limit + extra]
    splitter = LineSplitter(limit)
    items = feed_all(splitter, random_chunks(random.Random(chunk), line + b"\n", chunk), invariants(limit))
    assert items == [over(line)]


def test_lines_after_an_oversize_line_are_intact_in_the_same_chunk():
    splitter = LineSplitter(1024)
    big = b"{" + b"x" * 5000 + b"}"
    items = [plain(i) for i in splitter.feed(b'{"id":1}\n' + big + b'\n{"id":2}\n{"id":3')]
    assert items == [b'{"id":1}', over(big), b'{"id":2}']
    assert [plain(i) for i in splitter.feed(b"}\n")] == [b'{"id":3}']


def test_pending_between_lines_is_zero():
    splitter = LineSplitter(8)
    splitter.feed(b"abc\n")
    assert splitter.pending == 0 and splitter.held == 0


@pytest.mark.parametrize("chunk", [1, 100, 1000])
def test_oversize_head_does_not_depend_on_chunking_when_the_limit_is_below_head_bytes(chunk):
    """Regression: with a limit under HEAD_BYTES (max_request_bytes may be 1024), the head
    stopped where the limit was crossed, so small chunks gave a shorter head than one chunk."""
    line = bytes(range(256)).replace(b"\n", b"N") * 40
    split_small = LineSplitter(1024)
    items = feed_all(split_small, random_chunks(random.Random(chunk), line + b"\n", chunk), invariants(1024))
    assert items == [over(line)] == [plain(i) for i in LineSplitter(1024).feed(line + b"\n")]
    assert len(items[0][1]) == HEAD_BYTES


def test_a_line_past_big_line_bytes_is_handed_on_uncopied(monkeypatch):
    """Its buffer itself (the caller's alone: the next line never touches it), so a 5 MiB
    answer is held once, not once more as a copy."""
    monkeypatch.setattr(line_module, "BIG_LINE_BYTES", 100)
    splitter = LineSplitter(10_000)
    first = b"x" * 300
    assert splitter.feed(first[:150]) == []
    (line,) = splitter.feed(first[150:] + b"\n" + b"y" * 200)
    assert line.__class__ is bytearray and line == first
    assert splitter.feed(b"y" * 100 + b"\n") == [b"y" * 300]
    assert line == first
