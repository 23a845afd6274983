"""Which names are safe in file names: one pattern (paths.NAME_RE) for server names,
instance ids and profile names."""
import pytest

from agentdeck import config
from agentdeck.errors import ConfigError, UserError
from agentdeck.sessions.names import check_name, is_valid_name


@pytest.mark.parametrize("name", ["abc\n", "abc\r", "a b", "", "-a", ".a", "a..b", "a/b", "x" * 65])
def test_names_that_could_escape_or_break_a_file_name_are_refused(name):
    """Regression: sessions' pattern ended in "$", which matches before a final newline,
    so instance id "abc\\n" was valid (config's ended in "\\Z"); now both use paths.NAME_RE."""
    assert not is_valid_name(name)
    with pytest.raises(UserError, match="is not valid"):
        check_name(name, "session id")
    if len(name) <= 64 and ".." not in name:  # the limits only instance ids and profiles have
        with pytest.raises(ConfigError, match="a server name"):
            config.build({"mcp": {name: {"command": "x"}}})


@pytest.mark.parametrize("name", ["a", "A9", "time", "my-server_2.1"])
def test_good_names_pass_everywhere(name):
    assert is_valid_name(name) and config.build({"mcp": {name: {"command": "x"}}}).servers[0].name == name
