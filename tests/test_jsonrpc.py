"""The id splice: id_span finds the exact bytes of the top-level id wherever it is, and
replace_id swaps them without touching anything else; guess_id for discarded lines;
error and result lines; parse."""
import json
import random

import pytest

from agentdeck.wire import jsonrpc
from agentdeck.wire.jsonrpc import NULL_ID, error_line, guess_id, id_span, replace_id, response_head, result_line

# (line, the exact text of its top-level id or None), side by side. Lines are str here for
# readability and go in as UTF-8, so spans are checked as byte offsets.
ID_CASES = [
    # id first, or second after "jsonrpc" (what SDKs write)
    ('{"id":1,"method":"ping"}', "1"),
    ('{"jsonrpc":"2.0","id":7,"method":"tools/list"}', "7"),
    ('{"jsonrpc":"2.0","id":"abc","result":{}}', '"abc"'),
    # id last (TypeScript SDK responses)
    ('{"result":{},"jsonrpc":"2.0","id":5}', "5"),
    ('{"result":{"content":[{"id":9}]},"jsonrpc":"2.0","id":"x"}', '"x"'),
    ('{"error":{"code":-1,"message":"m"},"id":-3}', "-3"),
    # id in the middle (the slow scanner)
    ('{"jsonrpc":"2.0","method":"x","id":3,"params":{}}', "3"),
    ('{"method":"m","id":"mid","params":[1,2,3]}', '"mid"'),
    # whitespace variants
    (' { "id" : 1 , "method" : "x" } ', "1"),
    ('{\n\t"jsonrpc" : "2.0" ,\r\n "id"\t:\t"a" }', '"a"'),
    ('{"result": 1, "id" : 8 }\r', "8"),
    ('{ "method" : "m" , "id" :  11 , "params" : { } }', "11"),
    # string ids with escapes and non-ASCII (byte offsets must be right)
    ('{"id":"a\\"b","method":"x"}', '"a\\"b"'),
    ('{"id":"\\\\","method":"x"}', '"\\\\"'),
    ('{"id":"\\\\\\"\\\\","method":"x"}', '"\\\\\\"\\\\"'),
    ('{"id":"\\u00e9\\n","method":"x"}', '"\\u00e9\\n"'),
    ('{"id":"é日本🙂","method":"x"}', '"é日本🙂"'),
    ('{"method":"ééé","id":"ü","params":{"t":"日本"}}', '"ü"'),
    ('{"params":{"t":"日本🙂"},"jsonrpc":"2.0","id":"é"}', '"é"'),
    ('{"m":"🙂","id":"a\\"ü\\\\","p":1}', '"a\\"ü\\\\"'),
    # numbers, in first, middle and last position
    ('{"id":0,"method":"x"}', "0"),
    ('{"id":-1,"method":"x"}', "-1"),
    ('{"id":1.5,"method":"x"}', "1.5"),
    ('{"id":1e3,"method":"x"}', "1e3"),
    ('{"id":1E-2,"method":"x"}', "1E-2"),
    ('{"id":-0.25e+10,"method":"x"}', "-0.25e+10"),
    ('{"id":12345678901234567890123,"method":"x"}', "12345678901234567890123"),
    ('{"method":"x","id":1E-2,"p":0}', "1E-2"),
    ('{"method":"x","id":-1}', "-1"),
    ('{"method":"x","id":1e3}', "1e3"),
    # nested objects with "id" keys before and after the top-level id
    ('{"params":{"id":1,"a":[{"id":2}]},"id":3,"method":"m"}', "3"),
    ('{"id":4,"params":{"id":5}}', "4"),
    ('{"jsonrpc":"2.0","id":4,"result":{"items":[{"id":5},{"id":6}]}}', "4"),
    ('{"a":{"id":3},"id":4,"b":{"id":5}}', "4"),
    ('{"a":[{"id":1}],"jsonrpc":"2.0","id":2}', "2"),
    ('{"method":"m","params":{"x":1,"id":6}}', None),
    ('{"method":"m","params":[{"id":6}]}', None),
    # "id" inside string values
    ('{"method":"\\"id\\":9","id":1}', "1"),
    ('{"a":"id","id":2,"b":"x"}', "2"),
    ('{"a":",\\"id\\":3}","b":1}', None),
    ('{"text":"{\\"id\\":1}"}', None),
    ('{"id":"\\"id\\":2","x":",\\"id\\":3}"}', '"\\"id\\":2"'),
    # ids of other JSON types round-trip too
    ('{"id":null,"method":"x"}', "null"),
    ('{"id":true,"method":"x"}', "true"),
    ('{"id":[1,2],"method":"x"}', "[1,2]"),
    ('{"id":{"id":1},"method":"x"}', '{"id":1}'),
    # no id
    ('{"method":"notifications/initialized"}', None),
    ("{}", None),
    (" { } ", None),
    # duplicate keys: the last one wins, as in json.loads (and in the server's parser)
    ('{"id":1,"method":"x","id":2}', "2"),
    ('{"id":1,"id":2}', "2"),
    ('{"jsonrpc":"2.0","id":1,"result":{},"id":"x"}', '"x"'),
    ('{"a":1,"id":1,"b":2,"id":3,"c":4}', "3"),
    # a key spelled with escapes is still "id"
    ('{"\\u0069d":5,"method":"x"}', "5"),
    ('{"id":1,"method":"x","\\u0069\\u0064":6}', "6"),
    ('{"jsonrpc":"2.0","id":1,"i\\u0064":7,"method":"x"}', "7"),
]


def splice_checked(line, span, new=b"42"):
    """replace_id must yield valid JSON whose top-level id is ``new`` and nothing else changed."""
    before = json.loads(line)
    out = replace_id(line, span, new)
    assert out.endswith(b"\n")
    out = out[:-1]
    assert out[:span[0]] == line[:span[0]] and out[span[0] + len(new):] == line[span[1]:]
    after = json.loads(out)
    assert after["id"] == json.loads(new)
    assert {k: v for k, v in after.items() if k != "id"} == {k: v for k, v in before.items() if k != "id"}
    return out


@pytest.mark.parametrize("text, expected", ID_CASES)
def test_id_span(text, expected):
    line = text.encode()
    span = id_span(line)
    if expected is None:
        assert span is None
        assert "id" not in json.loads(line)
        return
    assert span is not None and line[span[0]:span[1]] == expected.encode()
    splice_checked(line, span)


@pytest.mark.parametrize("text", [t for t, e in ID_CASES if e is not None])
def test_replace_id_back_restores_the_line(text):
    line = text.encode()
    span = id_span(line)
    out = splice_checked(line, span, b'"proxy-1"')
    assert replace_id(out, id_span(out), line[span[0]:span[1]]) == line + b"\n"



@pytest.mark.parametrize("text", [t for t, e in ID_CASES if e is not None])
def test_replace_id_splices_a_bytearray_in_place(text):
    """A big line arrives as a bytearray (`lines.LineSplitter`): spliced where it lies,
    the same bytes as the copy a bytes line gets."""
    line = text.encode()
    span = id_span(line)
    big = bytearray(line)
    out = replace_id(big, span, b'"proxy-1"')
    assert out is big
    assert out == replace_id(line, span, b'"proxy-1"')

RESPONSE_HEADS = [
    (b'{"jsonrpc":"2.0","id":7,"result":{}}', 7),
    (b'{"jsonrpc": "2.0", "id": 12, "error": {"code": 1}}', 12),
    (b'{"id":3,"jsonrpc":"2.0","result":{"id":9}}', 3),
    (b' {"id" : 4 , "result" : []}', 4),
    (b'{"jsonrpc":"2.0","id":"7","result":{}}', None),       # not one of the proxy's integer ids
    (b'{"jsonrpc":"2.0","id":7,"method":"x"}', None),        # a request, not a response
    (b'{"result":{},"jsonrpc":"2.0","id":7}', None),         # id last: decoded the slow way
    (b'{"jsonrpc":"2.0","id":-7,"result":{}}', None),
    (b"not json", None),
]


@pytest.mark.parametrize("line, expected", RESPONSE_HEADS)
def test_response_head_finds_integer_ids_of_responses_only(line, expected):
    head = response_head(line)
    if expected is None:
        assert head is None
    else:
        assert head[0] == expected and line[head[1][0]:head[1][1]] == str(expected).encode()


# -- property: random objects, random member order, random id types and spellings ----------

KEY_SPELLINGS = ['"id"', '"\\u0069d"', '"i\\u0064"', '"\\u0069\\u0064"']
SEPARATORS = [(",", ":"), (", ", ": "), (" ,", " :"), (",\t", ":\t"), (" , ", " : "), (",\r", ":  ")]
ALPHABET = 'aZ09 "\\/\b\f\n\r\té日🙂{}[],:' + "\u2028\x00\x1f"


def random_string(rng, allow_id=True):
    if allow_id and rng.random() < 0.15:
        return rng.choice(["id", '"id":1', ',"id":2}', "\\u0069d"])
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 8)))


def random_scalar(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randrange(-10 ** rng.randrange(1, 25), 10 ** rng.randrange(1, 25))
    if kind == 1:
        return rng.choice([0.0, -0.0, 1.5, -2.25e-7, 1e300, 3.14159, rng.uniform(-1e6, 1e6)])
    if kind == 2:
        return random_string(rng)
    return [None, True, False, 0][kind - 3]


def random_value(rng, depth):
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return random_scalar(rng)
    if roll < 0.75:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {("id" if rng.random() < 0.3 else random_string(rng)): random_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 4))}


def random_line(rng):
    """A JSON object line built member by member: random member order, sometimes no id,
    sometimes a duplicate id, the key sometimes spelled with escapes."""
    item_sep, key_sep = rng.choice(SEPARATORS)
    ensure_ascii = rng.random() < 0.5

    def enc(value):
        return json.dumps(value, separators=(item_sep, key_sep), ensure_ascii=ensure_ascii)

    members = [(enc(random_string(rng, allow_id=False) or "k"), enc(random_value(rng, 1)))
               for _ in range(rng.randrange(0, 5))]
    if rng.random() < 0.5:
        members.insert(0, ('"jsonrpc"', '"2.0"'))
    for _ in range(rng.choice([0, 1, 1, 1, 1, 2])):
        key = '"id"' if rng.random() < 0.8 else rng.choice(KEY_SPELLINGS)
        members.insert(rng.randrange(len(members) + 1), (key, enc(random_scalar(rng))))
    body = item_sep.join(k + key_sep + v for k, v in members)
    pad = rng.choice(["", " ", "\t", " \r"])
    return (pad + "{" + pad + body + pad + "}" + pad).encode()


def typed(value):
    return type(value), value


def test_id_span_on_random_objects():
    rng = random.Random(20240611)
    seen = {"with id": 0, "without": 0}
    for _ in range(2000):
        line = random_line(rng)
        obj = json.loads(line)
        span = id_span(line)
        if "id" not in obj:
            assert span is None, line
            seen["without"] += 1
            continue
        seen["with id"] += 1
        assert span is not None, line
        assert typed(json.loads(line[span[0]:span[1]])) == typed(obj["id"]), line
        splice_checked(line, span)
    assert min(seen.values()) > 200, seen  # the generator exercises both kinds


# -- guess_id: (head, tail) of a discarded line -> the raw id --------------------------------

GUESS_CASES = [
    ((b'{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"x":"aaaa', b""), b"17"),
    ((b'{"id":"abc","params":"xxxx', b"xxx"), b'"abc"'),
    ((b'{"id":-2.5e3,"m', b""), b"-2.5e3"),
    ((b'{"id":5,"method":"initialize"}\n', b""), b"5"),  # the first line of a rejected client
    # cut by the head boundary: never a partial number or string
    ((b'{"id":12', b""), NULL_ID),
    ((b'{"jsonrpc":"2.0","id":123', b""), NULL_ID),
    ((b'{"id":"ab', b""), NULL_ID),
    ((b'{"id":12', b'aaa"}'), NULL_ID),
    # the id at the end, in the tail
    ((b'{"result":{"content":"aaaa', b'aaaa"},"jsonrpc":"2.0","id":5}'), b"5"),
    ((b'{"result":{"content":"aaaa', b'a"}, "id" : "x\\"y" }\r'), b'"x\\"y"'),
    ((b'{"result":{"c', b'x"},"id":"\xc3\xa9"}'), b'"\xc3\xa9"'),
    # neither shows it
    ((b'{"method":"x","params":{"a', b'aaa"}}'), NULL_ID),
    ((b'{"result":{"a', b'aaa","id":3}}'), NULL_ID),  # a nested id at the end is not the id
    ((b'{"result":"a', b'a\\",\\"id\\":3}"}'), NULL_ID),  # nor one inside a string
    ((b"", b""), NULL_ID),
    ((b"not json at all", b"nor this"), NULL_ID),
]


@pytest.mark.parametrize("head, tail, expected", [(h, t, e) for (h, t), e in GUESS_CASES])
def test_guess_id(head, tail, expected):
    assert guess_id(head, tail) == expected


def test_guess_id_tail_defaults_to_empty():
    assert guess_id(b'{"id":9,"method":"x"') == b"9"
    assert guess_id(b'{"method":"x"') == NULL_ID


# -- error and result lines --------------------------------------------------------------

RAW_IDS = [b"1", b"-1.5e3", b"0", b'"a\\"b"', b'"\\\\"', '"é🙂"'.encode(), b"null", b"12345678901234567890"]


@pytest.mark.parametrize("raw_id", RAW_IDS)
def test_error_line_carries_the_exact_raw_id(raw_id):
    line = error_line(raw_id, jsonrpc.MESSAGE_TOO_LARGE, "too large:\n\"quoted\" é", {"limit": 1024, "size": 5})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"jsonrpc": "2.0", "id": json.loads(raw_id),
                                "error": {"code": -32002, "message": "too large:\n\"quoted\" é",
                                          "data": {"limit": 1024, "size": 5}}}
    span = id_span(line[:-1])
    assert line[span[0]:span[1]] == raw_id


def test_error_line_without_data_has_no_data_member():
    assert json.loads(error_line(b"3", jsonrpc.PARSE_ERROR, "parse error")) == {
        "jsonrpc": "2.0", "id": 3, "error": {"code": -32700, "message": "parse error"}}


@pytest.mark.parametrize("raw_id", RAW_IDS)
def test_result_line_carries_the_exact_raw_id(raw_id):
    line = result_line(raw_id, b'{"protocolVersion":"2025-06-18","capabilities":{}}')
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"jsonrpc": "2.0", "id": json.loads(raw_id),
                                "result": {"protocolVersion": "2025-06-18", "capabilities": {}}}
    span = id_span(line[:-1])
    assert line[span[0]:span[1]] == raw_id


def test_error_codes():
    assert (jsonrpc.PARSE_ERROR, jsonrpc.INVALID_REQUEST, jsonrpc.SERVER_UNAVAILABLE, jsonrpc.MESSAGE_TOO_LARGE,
            jsonrpc.TOO_MANY_CLIENTS) == (-32700, -32600, -32001, -32002, -32003)


def test_dumps_is_compact_utf8():
    assert jsonrpc.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()


# -- parse: exactly one JSON value in UTF-8, or ValueError ----------------------------------

PARSE_OK = [b'{"a":1}', b' {"a":1}', b'{"a":1}\r', b'{"a":1} \t ', b'[1,2]', b"3", b'"s"', '{"é":"日"}'.encode(),
            b"[" * jsonrpc.MAX_DEPTH + b"]" * jsonrpc.MAX_DEPTH, b"[" + b"[]," * 2000 + b"[]]",
            b'"' + b"[" * 2000 + b'"']
PARSE_BAD = [
    b"", b" ", b"{", b'{"a":1} x', b'{"a":1}{}', b"\xff", b'{"a":"\xff"}',
    '{"a":1}'.encode("utf-16-le"),
    # Regression: str.isspace() let characters JSON does not count as whitespace trail the
    # value; the proxy then forwarded a line the server's JSON parser refuses.
    b'{"a":1}\x0c', b'{"a":1}\x0b', '{"a":1}\u00a0'.encode(), '{"a":1}\u2028'.encode(),
    # Regression: json recurses once per level, and RecursionError (not a ValueError)
    # crashed the socket client's reader and gave the HTTP client a 500.
    b"[" * 100000, b" " + b"[" * 100000, b'{"a":' * 100000,
    # Regression: a value json could parse near the recursion limit could not be encoded
    # again deeper in the stack (a batch's lines, an adapter's messages): RecursionError.
    b"[" * (jsonrpc.MAX_DEPTH + 1) + b"]" * (jsonrpc.MAX_DEPTH + 1),
    b'{"a":' * (jsonrpc.MAX_DEPTH + 1) + b"1" + b"}" * (jsonrpc.MAX_DEPTH + 1),
]


@pytest.mark.parametrize("line", PARSE_OK)
def test_parse_accepts_what_json_accepts(line):
    assert jsonrpc.parse(line) == json.loads(line)


@pytest.mark.parametrize("line", PARSE_BAD)
def test_parse_refuses_anything_but_one_json_value_in_utf8(line):
    with pytest.raises(ValueError):
        jsonrpc.parse(line)


def test_id_key_tells_ids_of_different_json_types_apart():
    """1, 1.0, "1" and true are four ids on the wire; as dict keys 1, 1.0 and True collide."""
    keys = [jsonrpc.id_key(json.loads(text)) for text in ("1", "1.0", '"1"', "true")]
    assert len(set(keys)) == 4
    assert jsonrpc.id_key(json.loads("7")) == jsonrpc.id_key(7)
    assert jsonrpc.id_key(None) == jsonrpc.id_key(json.loads("null"))
