"""`agentdeck.wire.hello`: the bridge's hello line and the project key of URLs, as data."""
import os

import pytest

from agentdeck.clientfiles.endpoint import server_url
from agentdeck.wire.hello import hello_line, parse_hello, project_key, project_of_key

# (what, first line of a connection, is it a hello, the project it names)
FIRST_LINES = [
    ("the bridge's hello", hello_line("/home/me/proj").rstrip(b"\n"), True, "/home/me/proj"),
    ("a non-ASCII path", hello_line("/home/me/prôjet 日本").rstrip(b"\n"), True, "/home/me/prôjet 日本"),
    ("odd spacing", b'{ "method" : "agentdeck/hello", "params": {"cwd": "/x"}, "jsonrpc": "2.0" }', True, "/x"),
    ("no params", b'{"jsonrpc":"2.0","method":"agentdeck/hello"}', True, None),
    ("a relative cwd", b'{"jsonrpc":"2.0","method":"agentdeck/hello","params":{"cwd":"proj"}}', True, None),
    ("a cwd that is not a string", b'{"jsonrpc":"2.0","method":"agentdeck/hello","params":{"cwd":7}}', True, None),
    ("a request named like it (has an id)", b'{"jsonrpc":"2.0","id":1,"method":"agentdeck/hello"}', False, None),
    ("an agent's initialize", b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}', False, None),
    ("not JSON that mentions it", b'"agentdeck/hello" {', False, None),
    ("a JSON list", b'["agentdeck/hello"]', False, None),
]


@pytest.mark.parametrize("line, is_hello, project", [c[1:] for c in FIRST_LINES], ids=[c[0] for c in FIRST_LINES])
def test_a_first_line_is_a_hello_only_when_it_is_the_notification(line, is_hello, project):
    assert parse_hello(line) == (is_hello, project)


def test_hello_is_one_line():
    line = hello_line("/a\nb")
    assert line.endswith(b"\n") and line.count(b"\n") == 1


@pytest.mark.parametrize("path", ["/", "/home/me/proj", "/tmp/ünï cödé/日本", "/a/b" * 100])
def test_project_key_round_trips_and_is_url_safe(path):
    key = project_key(path)
    assert project_of_key(key) == os.path.realpath(path)
    assert "=" not in key and "/" not in key and "+" not in key


def test_project_key_is_of_the_real_path(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert project_key(tmp_path / "link") == project_key(tmp_path / "real")


@pytest.mark.parametrize("key", ["", "cmVsYXRpdmU", "!!!", "L2EAYg"])  # "", "relative", not base64, "/a\0b"
def test_a_bad_key_is_a_value_error(key):
    with pytest.raises(ValueError):
        project_of_key(key)


def test_server_url_with_a_project_names_it():
    assert server_url("http://127.0.0.1:8420", "serena") == "http://127.0.0.1:8420/servers/serena/mcp"
    url = server_url("http://127.0.0.1:8420/", "serena", "/home/me/proj")
    assert url == "http://127.0.0.1:8420/servers/serena/p/" + project_key("/home/me/proj") + "/mcp"
