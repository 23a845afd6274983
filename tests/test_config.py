"""The settings table, building and loading configs, errors that name file, key, value and
what was expected, pool selection, the home directory, the sample config and which file
is read by default."""
import dataclasses
import math
import tomllib
from pathlib import Path

import pytest

from agentdeck import config
from agentdeck.config import SETTINGS, ServerSpec
from agentdeck.errors import ConfigError, UserError

REPO_CONF = Path(__file__).resolve().parent.parent / "conf" / "agentdeck.toml"
TIME = ServerSpec(name="time", command="mcp-server-time")


@pytest.fixture(autouse=True)
def no_agentdeck_env(monkeypatch):
    """Tests decide AGENTDECK_CONFIG / AGENTDECK_HOME themselves."""
    monkeypatch.delenv(config.ENV_CONFIG, raising=False)
    monkeypatch.delenv(config.ENV_HOME, raising=False)


def write(directory, text, name="agentdeck.toml"):
    path = Path(directory) / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path, text):
    return config.load(write(tmp_path, text))


def settings_of(cfg):
    """Everything but the file name, for comparing configs from different files."""
    return dataclasses.replace(cfg, path="")


def defaults_plus(*servers):
    return settings_of(config.build({"mcp": {s.name: {"command": s.command, "args": list(s.args),
                                                        "env": dict(s.env)} for s in servers}}))


# -- the table ------------------------------------------------------------------------

@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s.section}.{s.key}")
def test_every_setting_has_a_valid_default_and_help(setting):
    assert setting.section in config.SECTIONS
    assert setting.help.strip()
    built = getattr(config.build({}), setting.section)
    assert getattr(built, setting.key) == setting.check(setting.default)


def test_settings_table_has_no_duplicate_keys():
    keys = [(s.section, s.key) for s in SETTINGS]
    assert len(keys) == len(set(keys))


def test_built_config_is_read_only():
    cfg = config.build({})
    with pytest.raises(AttributeError):
        cfg.pool.max_clients = 1
    with pytest.raises(AttributeError):
        cfg.servers = ()


# -- valid configs: (TOML text, (section, key) -> expected clean value) ----------------------

VALID_CASES = [
    ("", {("daemon", "home"): "~/.agentdeck", ("pool", "max_clients"): 100, ("pool", "idle_timeout"): 600.0}),
    ('[daemon]\nlog_level = "debug"', {("daemon", "log_level"): "DEBUG"}),
    ('[daemon]\nstatus_listen = ""', {("daemon", "status_listen"): ""}),
    ('[daemon]\nstatus_listen = "localhost:1"', {("daemon", "status_listen"): "localhost:1"}),
    ('[daemon]\nstatus_listen = "[::1]:8420"', {("daemon", "status_listen"): "[::1]:8420"}),
    ('[daemon]\nstatus_listen = "127.0.0.2:0"', {("daemon", "status_listen"): "127.0.0.2:0"}),
    ('[daemon]\nstatus_listen = "127.0.0.1:65535"', {("daemon", "status_listen"): "127.0.0.1:65535"}),
    ("[pool]\nidle_timeout = 1", {("pool", "idle_timeout"): 1.0}),
    ("[pool]\nidle_timeout = 0.5", {("pool", "idle_timeout"): 0.5}),
    ("[pool]\nmax_clients = 1", {("pool", "max_clients"): 1}),
    ("[pool]\nmax_request_bytes = 1024", {("pool", "max_request_bytes"): 1024}),
    ("[pool]\nclient_queue_bytes = 4096", {("pool", "client_queue_bytes"): 4096}),
    ("[pool]\nenabled = false\npool_all = false", {("pool", "enabled"): False, ("pool", "pool_all"): False}),
    ('[pool]\nexclude = ["a"]\npool = ["a", "b"]\n[mcp.a]\ncommand = "x"\n[mcp.b]\ncommand = "y"',
     {("pool", "exclude"): ("a",), ("pool", "pool"): ("a", "b")}),
]


@pytest.mark.parametrize("text, expected", VALID_CASES)
def test_valid_config_values(tmp_path, text, expected):
    cfg = load_text(tmp_path, text)
    for (section, key), value in expected.items():
        got = getattr(getattr(cfg, section), key)
        assert got == value and type(got) is type(value), (section, key, got)


def test_servers_keep_file_order_args_and_sorted_env(tmp_path):
    cfg = load_text(tmp_path, '[mcp.zeta]\ncommand = "z"\nargs = ["-v", "x y"]\nenv = {B = "2", A = "1"}\n'
                              '[mcp.alpha]\ncommand = "/usr/bin/a"\n')
    assert cfg.servers == (ServerSpec("zeta", "z", ("-v", "x y"), (("A", "1"), ("B", "2"))),
                           ServerSpec("alpha", "/usr/bin/a"))
    assert cfg.server("alpha") is cfg.servers[1]
    assert cfg.server("nope") is None
    assert cfg.path == str(tmp_path / "agentdeck.toml")


@pytest.mark.parametrize("name", ["time", "a", "0", "my.server", "a_b-c.d", "Git-Hub_2"])
def test_server_names_accepted(name):
    cfg = config.build({"mcp": {name: {"command": "x"}}})
    assert [s.name for s in cfg.servers] == [name]


# -- errors: (TOML text, key as named in the message, bad value as shown, what was expected) --

ERROR_CASES = [
    ("unknown-table", '[deamon]\nhome = "x"', "[deamon]", "{'home': 'x'}", "unknown table"),
    ("daemon-not-table", "daemon = 1", "[daemon]", "1", "a table"),
    ("unknown-daemon-key", '[daemon]\nhom = "x"', "[daemon] hom", "'x'", "unknown key"),
    ("unknown-pool-key", "[pool]\nmax_client = 5", "[pool] max_client", "5", "unknown key"),
    ("unknown-server-key", '[mcp.x]\ncommand = "a"\nworkdir = "/"', "[mcp.x] workdir", "'/'", "unknown key"),
    ("share-unknown", '[mcp.x]\ncommand = "a"\nshare = "team"', "[mcp.x] share", "'team'", 'one of "all"'),
    ("cwd-relative", '[mcp.x]\ncommand = "a"\ncwd = "src"', "[mcp.x] cwd", "'src'", "an absolute path"),
    ("max-children-0", '[mcp.x]\ncommand = "a"\nmax_children = 0', "[mcp.x] max_children", "0",
     "a whole number >= 1"),
    ("idle-stop-0", '[mcp.x]\ncommand = "a"\nidle_stop = 0', "[mcp.x] idle_stop", "0", "a number of seconds > 0"),
    ("project-in-a-shared-server", '[mcp.x]\ncommand = "a"\nargs = ["{project}"]', "[mcp.x] args '{project}'",
     "'{project}'", 'set share = "project"'),
    ("home-not-string", "[daemon]\nhome = 5", "[daemon] home", "5", "a string"),
    ("log-level", '[daemon]\nlog_level = "LOUD"', "[daemon] log_level", "'LOUD'", "one of TRACE, DEBUG"),
    ("string-for-int", '[pool]\nmax_clients = "100"', "[pool] max_clients", "'100'", "a whole number >= 1"),
    ("bool-for-int", "[pool]\nmax_clients = true", "[pool] max_clients", "True", "a whole number >= 1"),
    ("float-for-int", "[pool]\nmax_clients = 1.5", "[pool] max_clients", "1.5", "a whole number >= 1"),
    ("zero-clients", "[pool]\nmax_clients = 0", "[pool] max_clients", "0", "a whole number >= 1"),
    ("negative-bytes", "[pool]\nmax_request_bytes = -1", "[pool] max_request_bytes", "-1", ">= 1024"),
    ("below-minimum", "[pool]\nmax_response_bytes = 1023", "[pool] max_response_bytes", "1023", ">= 1024"),
    ("queue-below-minimum", "[pool]\nclient_queue_bytes = 4095", "[pool] client_queue_bytes", "4095", ">= 4096"),
    ("zero-seconds", "[pool]\nidle_timeout = 0", "[pool] idle_timeout", "0", "a number of seconds > 0"),
    ("negative-seconds", "[pool]\nping_interval = -5", "[pool] ping_interval", "-5", "a number of seconds > 0"),
    ("string-seconds", '[pool]\nping_timeout = "10"', "[pool] ping_timeout", "'10'", "a number of seconds > 0"),
    ("bool-seconds", "[pool]\nidle_timeout = true", "[pool] idle_timeout", "True", "a number of seconds > 0"),
    # Regression: nan passed `value <= 0` and turned every idle check and ping wait into nonsense.
    ("nan-seconds", "[pool]\nidle_timeout = nan", "[pool] idle_timeout", "nan", "a number of seconds > 0"),
    ("string-for-bool", '[pool]\nenabled = "yes"', "[pool] enabled", "'yes'", "true or false"),
    ("exclude-not-list", '[pool]\nexclude = "time"', "[pool] exclude", "'time'", "a list of server names"),
    ("exclude-not-strings", "[pool]\nexclude = [1]", "[pool] exclude", "[1]", "a list of server names"),
    ("exclude-unknown", '[pool]\nexclude = ["nope"]', "[pool] exclude", "'nope'", "the name of an [mcp.NAME] table"),
    ("pool-unknown", '[pool]\npool = ["nope"]\n[mcp.a]\ncommand = "x"', "[pool] pool", "'nope'",
     "the name of an [mcp.NAME] table"),
    ("args-not-list", '[mcp.x]\ncommand = "a"\nargs = "-v"', "[mcp.x] args", "'-v'", "a list of strings"),
    ("args-not-strings", '[mcp.x]\ncommand = "a"\nargs = [1]', "[mcp.x] args", "[1]", "a list of strings"),
    ("env-int-value", '[mcp.x]\ncommand = "a"\nenv = {A = 1}', "[mcp.x] env", "{'A': 1}", "a table of string values"),
    ("env-bool-value", '[mcp.x]\ncommand = "a"\nenv = {A = true}', "[mcp.x] env", "{'A': True}",
     "a table of string values"),
    ("env-not-table", '[mcp.x]\ncommand = "a"\nenv = "A=1"', "[mcp.x] env", "'A=1'", "a table of string values"),
    ("command-not-string", "[mcp.x]\ncommand = 5", "[mcp.x] command", "5", "a string"),
    ("command-blank", '[mcp.x]\ncommand = "  "', "[mcp.x] command", "'  '", "a program name or path"),
    ("server-not-table", "[mcp]\nx = 1", "[mcp.x]", "1", "a table"),
    ("mcp-not-table", "mcp = 1", "mcp", "1", "tables [mcp.NAME]"),
    ("name-space", '[mcp."bad name"]\ncommand = "a"', "[mcp.bad name]", "'bad name'", "a server name"),
    ("name-slash", '[mcp."a/b"]\ncommand = "a"', "[mcp.a/b]", "'a/b'", "a server name"),
    ("name-leading-dash", '[mcp."-x"]\ncommand = "a"', "[mcp.-x]", "'-x'", "a server name"),
    ("name-dotdot", '[mcp.".."]\ncommand = "a"', "[mcp...]", "'..'", "a server name"),
    ("name-empty", '[mcp.""]\ncommand = "a"', "[mcp.]", "''", "a server name"),
    # Regression: NAME_RE's `$` also matched before a trailing newline, so "x\n" became a
    # server name (and a socket file name with a newline in it).
    ("name-trailing-newline", '[mcp."x\\n"]\ncommand = "a"', "[mcp.x", "'x\\n'", "a server name"),
    ("listen-not-string", "[daemon]\nstatus_listen = 8420", "[daemon] status_listen", "8420", '"host:port" or ""'),
    ("listen-any", '[daemon]\nstatus_listen = "0.0.0.0:8420"', "[daemon] status_listen", "'0.0.0.0:8420'",
     "a loopback address"),
    ("listen-lan", '[daemon]\nstatus_listen = "192.168.1.2:80"', "[daemon] status_listen", "'192.168.1.2:80'",
     "a loopback address"),
    ("listen-hostname", '[daemon]\nstatus_listen = "example.com:80"', "[daemon] status_listen",
     "'example.com:80'", "a loopback address"),
    ("listen-no-host", '[daemon]\nstatus_listen = ":8420"', "[daemon] status_listen", "':8420'", "a loopback address"),
    ("listen-no-port", '[daemon]\nstatus_listen = "127.0.0.1"', "[daemon] status_listen", "'127.0.0.1'",
     "a port from 0 to 65535"),
    ("listen-port-too-big", '[daemon]\nstatus_listen = "127.0.0.1:65536"', "[daemon] status_listen",
     "'127.0.0.1:65536'", "a port from 0 to 65535"),
    ("listen-port-word", '[daemon]\nstatus_listen = "127.0.0.1:http"', "[daemon] status_listen",
     "'127.0.0.1:http'", "a port from 0 to 65535"),
    ("listen-port-negative", '[daemon]\nstatus_listen = "127.0.0.1:-1"', "[daemon] status_listen",
     "'127.0.0.1:-1'", "a port from 0 to 65535"),
    # Regression: str.isdigit() accepts "²" (int() then failed with a Python message in
    # place of "expected ...") and full-width digits (accepted, then unusable for bind).
    ("listen-port-superscript", '[daemon]\nstatus_listen = "127.0.0.1:²"', "[daemon] status_listen",
     "'127.0.0.1:²'", "a port from 0 to 65535"),
    ("listen-port-fullwidth", '[daemon]\nstatus_listen = "127.0.0.1:８４２０"', "[daemon] status_listen",
     "'127.0.0.1:８４２０'", "a port from 0 to 65535"),
]


@pytest.mark.parametrize("text, key, value, expected", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_config_error_names_file_key_value_and_expectation(tmp_path, text, key, value, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for part in (key, value, "expected", expected):
        assert part in message, (part, message)
    assert isinstance(info.value, UserError)


def test_missing_command_names_file_and_server(tmp_path):
    path = write(tmp_path, '[mcp.x]\nargs = ["-v"]')
    with pytest.raises(ConfigError, match=r"^.*agentdeck\.toml: \[mcp\.x\] has no command: add command = "):
        config.load(path)


def test_build_without_a_path_says_config():
    with pytest.raises(ConfigError, match=r"^<config>: \[pool\] max_clients = 0: expected"):
        config.build({"pool": {"max_clients": 0}})


def test_build_does_not_accept_infinite_counts():
    with pytest.raises(ConfigError, match="max_clients = inf"):
        config.build({"pool": {"max_clients": math.inf}})


# -- files that cannot be read: (how to make the path, what the one-line error says) ------

def _missing(tmp_path):
    return tmp_path / "nope.toml"


def _directory(tmp_path):
    return tmp_path


def _invalid_toml(tmp_path):
    return write(tmp_path, "[daemon\nhome = 1")


def _not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[daemon]\nhome = "/home/jos\u00e9"\n'.encode("latin-1"))
    return path


def _under_a_file(tmp_path):
    return write(tmp_path, "") / "agentdeck.toml"


UNREADABLE_CASES = [
    (_missing, "no such config file"),
    (_directory, "is a directory, expected a TOML file"),
    (_invalid_toml, "not valid TOML"),
    # Regression: tomllib raises UnicodeDecodeError (not TOMLDecodeError) for bytes that are
    # not UTF-8; the user saw a traceback instead of one line.
    (_not_utf8, "not valid UTF-8"),
    # Regression: only three OSErrors were caught; ENOTDIR (and ELOOP, EIO...) gave a traceback.
    (_under_a_file, "cannot read the config file"),
]


@pytest.mark.parametrize("make, expected", UNREADABLE_CASES, ids=lambda v: getattr(v, "__name__", v))
def test_unreadable_config_is_one_line_error(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message, message


# -- which servers are pooled ---------------------------------------------------------------

POOLED_CASES = [
    # (enabled, pool_all, exclude, pool) -> pooled names, servers a, b, c in file order
    ((True, True, [], []), ["a", "b", "c"]),
    ((True, True, ["b"], []), ["a", "c"]),
    ((True, True, ["a", "b", "c"], []), []),
    ((True, True, [], ["a"]), ["a", "b", "c"]),  # `pool` only counts when pool_all is false
    ((True, False, [], []), []),
    ((True, False, [], ["c", "a"]), ["a", "c"]),  # file order, not list order
    ((True, False, ["a"], ["a"]), ["a"]),  # `exclude` only counts when pool_all is true
    ((False, True, [], []), []),
    ((False, False, [], ["a"]), []),
]


@pytest.mark.parametrize("pool, expected", POOLED_CASES)
def test_pooled(pool, expected):
    enabled, pool_all, exclude, listed = pool
    cfg = config.build({"pool": {"enabled": enabled, "pool_all": pool_all, "exclude": exclude, "pool": listed},
                        "mcp": {name: {"command": name} for name in "abc"}})
    assert [s.name for s in cfg.pooled()] == expected
    assert all(isinstance(s, ServerSpec) for s in cfg.pooled())


# -- home --------------------------------------------------------------------------------

def test_home_from_config_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.build({}).home == tmp_path / ".agentdeck"
    assert config.build({"daemon": {"home": "/srv/ad"}}).home == Path("/srv/ad")


def test_agentdeck_home_overrides_config(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path / "h"))
    assert config.build({"daemon": {"home": "/srv/ad"}}).home == tmp_path / "h"


def test_the_default_home_is_the_same_for_the_daemon_the_config_lookup_and_the_hook(monkeypatch, tmp_path):
    """One default: the daemon's home, where the CLI looks for agentdeck.toml, and where a
    hook writes when neither AGENTDECK_HOME nor a config says otherwise."""
    from agentdeck.sessions.hook import home_root
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(config.ENV_HOME, raising=False)
    monkeypatch.delenv(config.ENV_CONFIG, raising=False)
    monkeypatch.setattr(config, "REPO_DEFAULT_CONFIG", tmp_path / "no-checkout.toml")
    home = tmp_path / ".agentdeck"
    assert config.build({}).home == home
    assert config.default_path() == home / "agentdeck.toml"
    assert Path(home_root({"HOME": str(tmp_path)})) == home


def test_empty_agentdeck_home_is_ignored(monkeypatch):
    monkeypatch.setenv(config.ENV_HOME, "")
    assert config.build({"daemon": {"home": "/srv/ad"}}).home == Path("/srv/ad")


# -- the repository's config and the sample -----------------------------------------------

def test_repo_config_is_table_defaults_plus_time():
    cfg = config.load(REPO_CONF)
    assert cfg.path == str(REPO_CONF)
    assert settings_of(cfg) == defaults_plus(TIME)
    assert cfg.servers == (TIME,)


def test_repo_config_spells_out_every_setting():
    raw = tomllib.loads(REPO_CONF.read_text())
    for section in config.SECTIONS:
        assert set(raw[section]) == {s.key for s in SETTINGS if s.section == section}, section


def test_sample_parses_to_the_repo_config():
    sample = config.build(tomllib.loads(config.sample()))
    assert settings_of(sample) == settings_of(config.load(REPO_CONF))


def test_sample_carries_each_settings_help():
    sample = config.sample()
    for s in SETTINGS:
        assert f"# {s.help}" in sample, s.key


# -- server_toml round trip: (name, command, args, env) ----------------------------------

ROUND_TRIP_CASES = [
    ("time", "mcp-server-time", [], {}),
    ("my.server", "/opt/bin/srv", ["--flag", "x y"], {"TOKEN": "abc"}),
    ("quotes", 'say "hi"', ['"', "'", "'\"'"], {"Q": 'a"b'}),
    ("backslash", "C:\\Program Files\\srv.exe", ["\\", "\\\\n", "a\\"], {"P": "\\x\\"}),
    ("unicode", "sérveur", ["日本語", "emoji 🙂", "\u00a0"], {"LANG": "ü", "é": "ß"}),
    ("newlines", "cmd", ["line1\nline2", "tab\there"], {"MULTI": "a\nb"}),
    # Regression: control characters other than \n were written raw, which TOML forbids in
    # a basic string, so `mcp import` could write a config that no longer loads.
    ("controls", "cmd\r", ["\x00", "\x1b[0m", "\x7f", "\x08\x0c\x1f"], {"CR": "\r\n"}),
    ("odd-env-keys", "cmd", [], {"A B": "1", "x=y": "2", 'k"q': "3", "": "4"}),
]


@pytest.mark.parametrize("name, command, args, env", ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_server_toml_round_trips_through_tomllib(name, command, args, env):
    data = tomllib.loads(config.server_toml(name, command, args, env))
    assert data == {"mcp": {name: {"command": command, "args": args, "env": env}}}


@pytest.mark.parametrize("name", ["weird name", "a/b", "日本", "x\n", 'q"'])
def test_server_toml_quotes_names_that_are_not_bare_keys(name):
    """Regression: `_toml_key`'s `$` let "x\\n" through unquoted, writing a broken table header."""
    data = tomllib.loads(config.server_toml(name, "cmd"))
    assert list(data["mcp"]) == [name]


def test_server_toml_loads_as_a_server_spec(tmp_path):
    cfg = load_text(tmp_path, config.server_toml("my.srv", "c\\md", ("a", '"b"'), {"Z": "1", "A": "é"}))
    assert cfg.servers == (ServerSpec("my.srv", "c\\md", ("a", '"b"'), (("A", "é"), ("Z", "1"))),)


# -- default_path / load_default resolution ------------------------------------------------

def test_default_path_prefers_agentdeck_config(monkeypatch, tmp_path):
    write(tmp_path, "")  # a home config that must lose
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    monkeypatch.setenv(config.ENV_CONFIG, str(tmp_path / "other.toml"))
    assert config.default_path() == tmp_path / "other.toml"


def test_default_path_uses_home_config_when_it_exists(monkeypatch, tmp_path):
    path = write(tmp_path, "")
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    assert config.default_path() == path


def test_default_path_falls_back_to_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    assert config.default_path() == REPO_CONF


def test_default_path_without_home_env_uses_user_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".agentdeck").mkdir()
    path = write(tmp_path / ".agentdeck", "")
    assert config.default_path() == path


def test_default_path_without_any_file_names_the_home_config(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    monkeypatch.setattr(config, "REPO_DEFAULT_CONFIG", tmp_path / "not-a-checkout" / "agentdeck.toml")
    assert config.default_path() == tmp_path / "agentdeck.toml"


def test_load_default_reads_agentdeck_config(monkeypatch, tmp_path):
    path = write(tmp_path, "[pool]\nmax_clients = 7", name="mine.toml")
    monkeypatch.setenv(config.ENV_CONFIG, str(path))
    cfg = config.load_default()
    assert cfg.path == str(path) and cfg.pool.max_clients == 7


def test_load_default_missing_agentdeck_config_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_CONFIG, str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="gone.toml: no such config file"):
        config.load_default()


def test_load_default_reads_home_config(monkeypatch, tmp_path):
    path = write(tmp_path, "[pool]\nmax_clients = 3")
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    cfg = config.load_default()
    assert cfg.path == str(path) and cfg.pool.max_clients == 3


def test_load_default_reads_the_checkout_config(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    assert config.load_default().path == str(REPO_CONF)


def test_load_default_uses_built_in_defaults_without_any_file(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    monkeypatch.setattr(config, "REPO_DEFAULT_CONFIG", tmp_path / "not-a-checkout" / "agentdeck.toml")
    assert config.load_default() == config.build({}, "")


def test_load_default_explicit_path_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_CONFIG, str(write(tmp_path, "", name="env.toml")))
    path = write(tmp_path, "[pool]\nmax_clients = 9", name="explicit.toml")
    assert config.load_default(str(path)).pool.max_clients == 9


def test_checkout_config_is_where_default_path_looks():
    assert config.REPO_DEFAULT_CONFIG == REPO_CONF and REPO_CONF.is_file()


# -- sharing scopes ---------------------------------------------------------------------

def test_a_server_is_shared_by_all_by_default_with_bounds_for_other_scopes():
    spec = config.build({"mcp": {"x": {"command": "a"}}}).server("x")
    assert (spec.share, spec.cwd, spec.max_children, spec.idle_stop) == ("all", "", 8, 600.0)
    assert not spec.needs_project


@pytest.mark.parametrize("table, needs", [
    ({"share": "project"}, True),
    ({"share": "session"}, False),
    ({"share": "session", "cwd": "{project}/src"}, True),
    ({"share": "session", "env": {"ROOT": "{project}"}}, True),
    ({"share": "session", "args": ["--dir", "{project}"]}, True),
])
def test_a_server_needs_a_project_when_it_is_shared_per_project_or_spells_one(table, needs):
    assert config.build({"mcp": {"x": {"command": "a", **table}}}).server("x").needs_project is needs


def test_a_change_of_bounds_alone_is_not_a_change_that_restarts_children():
    def spec(**table):
        return config.build({"mcp": {"x": {"command": "a", "share": "project", **table}}}).server("x")
    assert spec().bounds_only_differ(spec(max_children=3, idle_stop=5))
    assert not spec().bounds_only_differ(spec())
    assert not spec().bounds_only_differ(spec(cwd="/srv", max_children=3))
    assert not spec().bounds_only_differ(spec(share="session"))


AGENT_DECK_WEB_PORT = 8420  # agent-deck's `web` mode listens here by default


def test_the_default_status_port_is_not_agent_decks_web_port():
    """Regression (issue 20, friction 15): a user running agent-deck's web mode and agentdeck
    side by side had to change one of them; neither the built-in default nor the checkout's
    config may use its port."""
    from agentdeck.netaddr import split_host_port

    for cfg in (config.build({}), config.load(REPO_CONF)):
        assert split_host_port(cfg.daemon.status_listen)[1] != AGENT_DECK_WEB_PORT, cfg.path
