"""JSON-RPC 2.0 lines as the proxy sees them: error codes, error lines, what a message
is (`classify`), the one key of an id (`id_key`), and the id splice.

The proxy rewrites ids without re-encoding the message: it finds the byte span of the
top-level ``"id"`` value and splices the new id in. That keeps every other byte (and
the client's exact id text, whatever its JSON type) unchanged and costs the same for a
100-byte and a 10-MB message. Standard library only (the bridge uses it too).
"""
import json
import re

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SERVER_UNAVAILABLE = -32001
MESSAGE_TOO_LARGE = -32002
TOO_MANY_CLIENTS = -32003

NULL_ID = b"null"

# What a message is, decided by its method/result/error members, never by its id.
REQUEST = "request"
NOTIFICATION = "notification"
RESPONSE = "response"
INVALID = "invalid"
ID_TYPES = (int, float, str)  # a request id must be one of these (JSON numbers and strings)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# The id as first member, or second after "jsonrpc":"2.0" (what SDKs write), is top-level
# by position; so is an id that is the last member (TypeScript SDK responses).
_SCALAR = rb'-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|"(?:[^"\\]|\\.)*"|null'
_ID_HEAD = re.compile(rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(' + _SCALAR + rb')')
_ID_TAIL = re.compile(rb',\s*"id"\s*:\s*(' + _SCALAR + rb')\s*\}\s*\Z')
TAIL_WINDOW = 512  # bytes at the end of a line searched for a trailing id
_RESPONSE_HEAD = re.compile(rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*([0-9]+)\s*,\s*'
                            rb'(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"(?:result|error)"\s*:')
# Any later "id" key, however spelled; the head id is only the id when none follows it,
# since json.loads (and the server's parser) let the last duplicate win.
_LATER_ID_KEY = re.compile(rb'"(?:i|\\u0069)(?:d|\\u0064)"\s*:')


# Levels of nesting a message may have: encoding it again needs as many levels of the
# interpreter's stack (1,000 in all), wherever in the daemon's call chain that happens.
MAX_DEPTH = 512
_scan_once = json.scanner.make_scanner(json.JSONDecoder())
_loads = json.loads


def parse(line):
    """One JSON value from a line (bytes). Raises ValueError when it is not exactly one
    valid JSON value in UTF-8, or nests deeper than MAX_DEPTH (json recurses once per
    level, parsing and encoding: 100,000 "[" raised RecursionError, and a value parsed
    just under the interpreter's limit could not be encoded again deeper in the stack).
    Skips json.loads' encoding sniffing on the hot path."""
    try:
        value = _parse(line.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    # Only a line with that many brackets can nest that deep: most are never walked.
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return value


def _deeper_than(value, limit):
    """Whether ``value`` nests more than ``limit`` containers deep (level by level: no recursion)."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level if item.__class__ in (dict, list)
                 for child in (item.values() if item.__class__ is dict else item)]
        if not level:
            return False
    return any(item.__class__ in (dict, list) for item in level)


def _parse(text):
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return _loads(text)  # leading whitespace, or invalid: let json say which
    if end != len(text) and text[end:].strip(" \t\n\r"):  # JSON's whitespace, not str.isspace()
        raise ValueError(f"extra data after the JSON value at byte {end}")
    return value


def classify(msg):
    """(kind, why) for a parsed message: kind is REQUEST, NOTIFICATION, RESPONSE or
    INVALID; ``why`` says what is wrong with an INVALID one ("" otherwise)."""
    if msg.__class__ is not dict:
        return INVALID, "expected one JSON-RPC object per message (batches are not supported here)"
    method = msg.get("method")
    if method is None:
        if "result" in msg or "error" in msg:
            return RESPONSE, ""
        return INVALID, "a message needs a method (request or notification) or a result/error (response)"
    if method.__class__ is not str:
        return INVALID, "method must be a string"
    return (REQUEST, "") if "id" in msg else (NOTIFICATION, "")


def dumps(value):
    """Compact JSON bytes."""
    return _dumps(value).encode()


def id_key(value):
    """The key of a JSON-RPC id (a parsed JSON value) in a dict of requests: 1, 1.0 and
    "1" are three ids, as they are on the wire, and so are 1 and true."""
    return (value.__class__, value)


def error_line(raw_id, code, message, data=None):
    """A JSON-RPC error response line (with newline) for the id whose exact text is ``raw_id``."""
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return b'{"jsonrpc":"2.0","id":' + raw_id + b',"error":' + dumps(error) + b"}\n"


def result_line(raw_id, raw_result):
    """A JSON-RPC result line for ``raw_id`` carrying the already-encoded ``raw_result``."""
    return b'{"jsonrpc":"2.0","id":' + raw_id + b',"result":' + raw_result + b"}\n"


def _scan_id_span(line):
    """The byte span of the top-level "id" value of a valid JSON object line, by walking its
    members with the C scanner. The slow path, for ids in the middle of a message."""
    text = line.decode("utf-8")
    decoder = json.JSONDecoder()
    scan_value = decoder.scan_once
    scan_key = json.decoder.scanstring
    ws = json.decoder.WHITESPACE
    i = ws.match(text, 0).end() + 1  # past "{"
    span = None
    while True:
        i = ws.match(text, i).end()
        if text[i] == "}":
            break
        key, i = scan_key(text, i + 1)
        i = ws.match(text, i).end() + 1  # past ":"
        i = ws.match(text, i).end()
        start = i
        _, i = scan_value(text, i)
        if key == "id":
            span = (start, i)  # the last duplicate wins, as in json.loads
        i = ws.match(text, i).end()
        if text[i] == ",":
            i += 1
    if span is None:
        return None
    start = len(text[:span[0]].encode())
    return start, start + len(text[span[0]:span[1]].encode())


def id_span(line):
    """(start, end) of the top-level ``"id"`` value in ``line``, a JSON object that
    `json.loads` accepted; None when it has no id."""
    head = _ID_HEAD.match(line)
    if head and not _LATER_ID_KEY.search(line, head.end()):
        return head.span(1)
    tail = _ID_TAIL.search(line, max(0, len(line) - TAIL_WINDOW))
    if tail:
        return tail.span(1)
    return _scan_id_span(line)


def replace_id(line, span, new_raw_id):
    """``line`` with the id at ``span`` replaced by the bytes ``new_raw_id``, plus the
    newline that ends it on the wire; the rest of the line is copied once, or not at all
    when it is a bytearray (a big line, `lines.LineSplitter`'s, handed on once): that
    one is spliced in place and returned."""
    if line.__class__ is bytearray:
        line[span[0]:span[1]] = new_raw_id
        line += b"\n"
        return line
    return b"".join((line[:span[0]], new_raw_id, memoryview(line)[span[1]:], b"\n"))


def response_head(line):
    """(id, span of the id) when ``line`` starts as a response to an integer id the way
    SDKs write one (``{"jsonrpc":"2.0","id":7,"result":...``); else None. Only the start
    is read: the proxy does not decode what it does not touch."""
    match = _RESPONSE_HEAD.match(line)
    return (int(match.group(1)), match.span(1)) if match else None


def guess_id(head, tail=b""):
    """The raw id of a message we could not keep whole (an oversize line), from its first
    and last bytes; ``null`` when neither shows it."""
    match = _ID_HEAD.match(head)
    if match and match.end() < len(head):  # a number cut off by the end of `head` is not the id
        return match.group(1)
    match = _ID_TAIL.search(tail)
    if match:
        return match.group(1)
    return NULL_ID
