"""`agentdeck mcp json|import|list` as a user runs them (subprocesses, real files)."""
import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from agentdeck import config
from tests.support import clean_env, run_cli

CONFIG_HEAD = """# my agentdeck config -- hand-written, comments must survive an import
[daemon]
home = "{home}"   # keep me
status_listen = "127.0.0.1:0"

[pool]
exclude = ["local"]  # not pooled

[mcp.time]
command = "mcp-server-time"
args = []
env = {{}}

[mcp.local]
command = "local-server"
"""


@pytest.fixture
def cfg(home):
    path = home / "agentdeck.toml"
    path.write_text(CONFIG_HEAD.format(home=home))
    return path


def expected_command():
    beside = Path(sys.executable).parent / "agentdeck"
    return str(beside) if os.access(beside, os.X_OK) else sys.executable


def one_error_line(result, *says):
    """The single ``agentdeck: ...`` line on stderr, after checking it contains each of ``says``."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentdeck: "), result.stderr
    for text in says:
        assert str(text) in lines[0]
    return lines[0]


def assert_refused(result, *says):
    """Exit 1 with one error line that says each of ``says``."""
    assert result.returncode == 1, result.stdout
    one_error_line(result, *says)


# -- mcp json

def test_json_prints_a_bridge_entry_for_each_pooled_server(home, cfg):
    result = run_cli(home, "mcp", "json", "--transport", "stdio", config=cfg)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)["mcpServers"]
    assert list(entries) == ["time"]  # "local" is excluded from the pool
    entry = entries["time"]
    assert entry["command"] == expected_command() and os.path.isabs(entry["command"])
    assert entry["args"][-4:] == ["bridge", "time", "--config", str(cfg)]
    assert entry["env"] == {"AGENTDECK_HOME": str(home)}


def test_json_entry_carries_a_config_chosen_by_environment(home, cfg):
    """An agent starts the bridge with its own environment: the choice must be in the entry."""
    result = run_cli(home, "mcp", "json", "--transport", "stdio", env=clean_env(home, AGENTDECK_CONFIG=cfg))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mcpServers"]["time"]["args"][-2:] == ["--config", str(cfg)]


def test_json_write_creates_the_project_file(home, cfg):
    project = home / "proj"
    project.mkdir()
    result = run_cli(home, "mcp", "json", "--dir", str(project), "--transport", "stdio", "--write", config=cfg)
    assert result.returncode == 0, result.stderr
    target = project / ".mcp.json"
    assert f"wrote 1 server to {target}: time" in result.stdout
    written = json.loads(target.read_text())
    printed = run_cli(home, "mcp", "json", "--transport", "stdio", config=cfg).stdout
    assert written == {"mcpServers": json.loads(printed)["mcpServers"]}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_json_write_merges_and_keeps_what_it_does_not_manage(home, cfg):
    project = home / "proj"
    project.mkdir()
    target = project / ".mcp.json"
    target.write_text(json.dumps({
        "extra": [1, {"keep": True}],
        "mcpServers": {"github": {"command": "npx", "args": ["-y", "gh"], "env": {"TOKEN": "t"}},
                       "time": {"command": "old-time"}},
    }))
    os.chmod(target, 0o640)
    result = run_cli(home, "mcp", "json", "--dir", str(project), "--transport", "stdio", "--write", config=cfg)
    assert result.returncode == 0, result.stderr
    assert "(replaced time)" in result.stdout
    merged = json.loads(target.read_text())
    assert list(merged) == ["extra", "mcpServers"]
    assert merged["extra"] == [1, {"keep": True}]
    assert list(merged["mcpServers"]) == ["github", "time"]
    assert merged["mcpServers"]["github"] == {"command": "npx", "args": ["-y", "gh"], "env": {"TOKEN": "t"}}
    assert merged["mcpServers"]["time"]["args"][-4:-2] == ["bridge", "time"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the file's mode is kept
    assert [p.name for p in project.iterdir()] == [".mcp.json"]  # no temp file left behind


# A project file agentdeck must not touch: (content, what the error line says)
REFUSED_PROJECT_FILES = [
    (b'{"mcpServers": {"a": ', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b'[{"mcpServers": {}}]', "expected a JSON object at the top level, found a list"),
    (b'{"mcpServers": ["time"]}', '"mcpServers" is a list, expected an object'),
]


@pytest.mark.parametrize("content, says", REFUSED_PROJECT_FILES)
def test_json_write_refuses_a_broken_project_file_and_changes_nothing(home, cfg, content, says):
    project = home / "proj"
    project.mkdir()
    target = project / ".mcp.json"
    target.write_bytes(content)
    result = run_cli(home, "mcp", "json", "--dir", str(project), "--transport", "stdio", "--write", config=cfg)
    assert_refused(result, target, says, "nothing was changed")
    assert target.read_bytes() == content
    assert [p.name for p in project.iterdir()] == [".mcp.json"]


def test_json_write_into_a_missing_directory_is_one_clear_line(home, cfg):
    result = run_cli(home, "mcp", "json", "--dir", str(home / "nope"), "--write", config=cfg)
    assert_refused(result, home / "nope", "no such directory")


def test_json_prints_http_entries_by_default_from_a_running_daemons_port(home, cfg):
    """status_listen "127.0.0.1:0" leaves the port to the daemon: the entries use the URL it runs on."""
    write_json(home / "daemon.json", {"pid": os.getpid(), "status_url": "http://127.0.0.1:43210", "config": str(cfg),
                                      "started": 0})
    result = run_cli(home, "mcp", "json", config=cfg)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"mcpServers": {"time": {"type": "http",
                                                                 "url": "http://127.0.0.1:43210/servers/time/mcp"}}}


def test_json_without_an_address_for_the_entries_says_what_to_set(home, cfg):
    result = run_cli(home, "mcp", "json", config=cfg)  # port 0 and no daemon running
    assert result.stdout == ""
    assert_refused(result, cfg, "[daemon] status_listen = '127.0.0.1:0'", "--transport stdio")


# -- mcp config

FIXED_LISTEN = CONFIG_HEAD.replace('status_listen = "127.0.0.1:0"', 'status_listen = "127.0.0.1:8420"')


def test_config_codex_writes_its_file_once(home):
    cfg = home / "agentdeck.toml"
    cfg.write_text(FIXED_LISTEN.format(home=home))
    target = home / "config.toml"
    target.write_text('# mine\nmodel = "o3"\n')
    result = run_cli(home, "mcp", "config", "--client", "codex", "--file", str(target), "--write", config=cfg)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote 1 server to {target}: time\nprevious version kept as {target}.bak\n"
    assert target.read_text() == '# mine\nmodel = "o3"\n\n[mcp_servers.time]\nurl = "http://127.0.0.1:8420/servers/time/mcp"\n'
    assert (home / "config.toml.bak").read_text() == '# mine\nmodel = "o3"\n'
    again = run_cli(home, "mcp", "config", "--client", "codex", "--file", str(target), "--write", config=cfg)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{target} already points Codex CLI at 1 server: time; nothing was written\n"


@pytest.mark.parametrize("client, overrides, path", [
    ("claude", {}, ".claude.json"),
    ("claude", {"CLAUDE_CONFIG_DIR": "{fake}/claude-dir"}, "claude-dir/.claude.json"),
    ("codex", {}, ".codex/config.toml"),
    ("codex", {"CODEX_HOME": "{fake}/codex-home"}, "codex-home/config.toml"),
    ("gemini", {}, ".gemini/settings.json"),
])
def test_config_writes_the_clients_own_file(home, client, overrides, path):
    """Each client's user file, found as the client finds it (HOME points into the test's
    directory); a client directory that does not exist yet is created private."""
    cfg = home / "agentdeck.toml"
    cfg.write_text(FIXED_LISTEN.format(home=home))
    fake = home / "fakehome"
    fake.mkdir()
    env = clean_env(home, HOME=fake)
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
        env.pop(name, None)  # the real ones must not lead the test out of its directory
    env.update({name: value.format(fake=fake) for name, value in overrides.items()})
    result = run_cli(home, "mcp", "config", "--client", client, "--write", "--config", str(cfg), env=env)
    assert result.returncode == 0, result.stderr
    target = fake / path
    assert f"wrote 1 server to {target}: time" in result.stdout
    assert "http://127.0.0.1:8420/servers/time/mcp" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    if target.parent != fake:
        assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_config_file_in_a_missing_directory_is_one_clear_line(home, cfg):
    target = home / "nope" / "settings.json"
    result = run_cli(home, "mcp", "config", "--client", "gemini", "--transport", "stdio", "--file", str(target),
                     "--write", config=cfg)
    assert_refused(result, home / "nope", "no such directory")
    assert not (home / "nope").exists()


# -- mcp import

CLAUDE_FILE = {
    "mcpServers": {
        "github": {"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                   "env": {"GITHUB_TOKEN": "ghp_x", "QUOTE": 'a "b" \\ c'}},
        "fetch": {"command": "uvx", "args": ["mcp-server-fetch"]},
        "time": {"command": "something-else"},
        "remote": {"type": "http", "url": "https://example.invalid/mcp"},
        "events": {"type": "sse", "url": "https://example.invalid/sse"},
        "bare-url": {"url": "https://example.invalid/mcp"},
        "bad name!": {"command": "x"},
        "broken": ["not", "an", "object"],
        "no-command": {"args": ["x"]},
    },
    "numStartups": 7,  # ~/.claude.json carries much else at the top level
}


def write_json(path, value):
    path.write_text(json.dumps(value))
    return path


def test_import_adds_stdio_servers_and_keeps_the_config_text(home, cfg):
    source = write_json(home / "claude.json", CLAUDE_FILE)
    before = cfg.read_text()
    result = run_cli(home, "mcp", "import", str(source), config=cfg)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[:2] == ["added github", "added fetch"]
    skipped = {line.split(":")[0].removeprefix("skipped "): line for line in out if line.startswith("skipped")}
    assert set(skipped) == {"time", "remote", "events", "bare-url", "bad name!", "broken", "no-command"}
    assert f"already in {cfg}" in skipped["time"]
    assert 'type "http"' in skipped["remote"] and "only stdio servers" in skipped["remote"]
    assert 'type "sse"' in skipped["events"]
    assert "url" in skipped["bare-url"]
    assert "not a valid server name" in skipped["bad name!"]
    assert out[-1] == f"added 2 servers to {cfg}: start the daemon to serve them: `agentdeck serve`"  # it reads cfg
    after = cfg.read_text()
    assert after.startswith(before)  # comments and layout untouched: text is only appended
    loaded = config.load(cfg)
    assert [s.name for s in loaded.servers] == ["time", "local", "github", "fetch"]
    github = loaded.server("github")
    assert github.command == "npx" and github.args == ("-y", "@modelcontextprotocol/server-github")
    assert dict(github.env) == {"GITHUB_TOKEN": "ghp_x", "QUOTE": 'a "b" \\ c'}
    assert loaded.server("time").command == "mcp-server-time"  # the configured one stays


CLAUDE_PROJECTS_FILE = {
    "mcpServers": {"github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}},
    "projects": {
        "/home/u/web": {"allowedTools": [], "mcpServers": {
            "files": {"type": "stdio", "command": "npx",
                      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/u/web"]},
            "db": {"command": "db-mcp", "env": {"DB": "/home/u/web/dev.sqlite"}},
            "docs": {"type": "http", "url": "https://docs.example.invalid/mcp"},
        }},
        "/home/u/api": {"mcpServers": {
            "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/u/api"]},
            "db": {"command": "other-db-mcp"},
            "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]},
            "time": {"command": "uvx", "args": ["mcp-server-time"]},
        }},
        "/home/u/web2": {"mcpServers": {"search": {"command": "rg-mcp", "args": ["--root", "/home/u/web2/src"]}}},
        "/home/u/empty": {"allowedTools": []},
    },
}


def test_import_takes_claudes_per_project_servers_or_says_why_not(home, cfg):
    """Regression (issue 20, friction 11): the servers ~/.claude.json keeps per project
    (projects["/path"].mcpServers) were skipped without a word."""
    source = write_json(home / "claude.json", CLAUDE_PROJECTS_FILE)
    result = run_cli(home, "mcp", "import", str(source), config=cfg)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[:4] == [
        "added github",
        'added files as share = "project": one child per project, in its directory (Claude Code ran it for '
        "projects /home/u/web, /home/u/api)",
        'added search as share = "project": one child per project, in its directory (Claude Code ran it for '
        "project /home/u/web2)",
        'skipped docs: in project /home/u/web: not a stdio server (type "http"); only stdio servers can be pooled',
    ]
    assert sorted(out[4:-1]) == sorted([
        f"skipped db: defined differently in projects /home/u/web, /home/u/api: add it by hand, with share = "
        '"project" and {project} for the project\'s directory',
        f"skipped github: in project /home/u/api: {source} also defines it for every project (that one counts)",
        f"skipped time: in project /home/u/api: already in {cfg}",
    ])
    loaded = config.load(cfg)
    files = loaded.server("files")
    assert (files.share, files.command, files.args) == (
        "project", "npx", ("-y", "@modelcontextprotocol/server-filesystem", "{project}"))
    search = loaded.server("search")
    assert (search.share, search.args) == ("project", ("--root", "{project}/src"))
    assert loaded.server("github").share == "all"


def test_import_of_a_claude_file_with_only_per_project_servers(home, cfg):
    source = write_json(home / "claude.json", {"projects": {"/p": {"mcpServers": {"fetch": {"command": "uvx"}}}}})
    result = run_cli(home, "mcp", "import", str(source), config=cfg)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith('added fetch as share = "project"')
    assert config.load(cfg).server("fetch").share == "project"


def test_import_into_a_file_serve_would_not_read_says_to_name_it(home, cfg):
    other = home / "other.toml"
    other.write_text(cfg.read_text())
    result = run_cli(home, "mcp", "import", str(write_json(home / "claude.json", CLAUDE_FILE)), config=other)
    assert result.stdout.splitlines()[-1] == \
        f"added 2 servers to {other}: start the daemon to serve them: `agentdeck serve --config {other}`"


def test_import_twice_adds_nothing_the_second_time(home, cfg):
    source = write_json(home / "claude.json", CLAUDE_FILE)
    assert run_cli(home, "mcp", "import", str(source), config=cfg).returncode == 0
    text = cfg.read_text()
    again = run_cli(home, "mcp", "import", str(source), config=cfg)
    assert again.returncode == 0
    assert again.stdout.splitlines()[-1] == f"nothing to add; {cfg} is unchanged"
    assert cfg.read_text() == text


def test_import_without_a_home_config_creates_it_from_the_default(home):
    source = write_json(home / "claude.json", {"mcpServers": {"fetch": {"command": "uvx"}}})
    agentdeck_home = home / "h"
    checkout_default = config.REPO_DEFAULT_CONFIG.read_bytes()
    result = run_cli(home, "mcp", "import", str(source), env=clean_env(agentdeck_home))
    assert result.returncode == 0, result.stderr
    created = agentdeck_home / "agentdeck.toml"
    assert result.stdout.splitlines()[-1] == \
        f"added 1 server to {created}: start the daemon to serve them: `agentdeck serve`"  # it reads this file
    assert created.read_text().startswith(config.REPO_DEFAULT_CONFIG.read_text())
    assert [s.name for s in config.load(created).servers] == ["time", "fetch"]
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert stat.S_IMODE(agentdeck_home.stat().st_mode) == 0o700
    assert config.REPO_DEFAULT_CONFIG.read_bytes() == checkout_default  # the checkout's file is not edited


CODEX_FILE = """# Codex settings
model = "o3"

[mcp_servers.github]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]
env = { GITHUB_TOKEN = "ghp_x" }
startup_timeout_sec = 20

[mcp_servers.figma]
url = "http://127.0.0.1:3845/mcp"

[mcp_servers.off]
command = "off-server"
enabled = false

[mcp_servers.time]   # agentdeck's own entry
url = "http://127.0.0.1:8420/servers/time/mcp"
"""
GEMINI_FILE = {
    "theme": "GitHub",
    "mcpServers": {
        "fetch": {"command": "uvx", "args": ["mcp-server-fetch"], "env": {"UA": "me"}, "timeout": 5000},
        "remote": {"httpUrl": "https://example.invalid/mcp"},
        "events": {"url": "https://example.invalid/sse"},
    },
}


def import_lines(result):
    """{name: line} of the added/skipped lines of an import's output."""
    assert result.returncode == 0, result.stderr
    return {line.split(":")[0].split(" ", 1)[1]: line for line in result.stdout.splitlines()
            if line.startswith(("added ", "skipped ")) and not line.startswith("added 1 server")}


@pytest.mark.parametrize("file_name", ["config.toml", "codex-config"])  # by extension, and by content
def test_import_reads_codex_config_toml(home, cfg, file_name):
    source = home / file_name
    source.write_text(CODEX_FILE)
    lines = import_lines(run_cli(home, "mcp", "import", str(source), config=cfg))
    assert lines["github"] == "added github"
    assert lines["figma"] == 'skipped figma: not a stdio server (it has "url"); only stdio servers can be pooled'
    assert lines["off"] == "skipped off: disabled there (enabled = false)"
    assert lines["time"] == f"skipped time: already in {cfg}"
    github = config.load(cfg).server("github")
    assert (github.command, github.args, dict(github.env)) == \
        ("npx", ("-y", "@modelcontextprotocol/server-github"), {"GITHUB_TOKEN": "ghp_x"})


@pytest.mark.parametrize("file_name", ["settings.json", "gemini-settings"])
def test_import_reads_gemini_settings_json(home, cfg, file_name):
    source = write_json(home / file_name, GEMINI_FILE)
    lines = import_lines(run_cli(home, "mcp", "import", str(source), config=cfg))
    assert lines == {
        "fetch": "added fetch",
        "remote": 'skipped remote: not a stdio server (it has "httpUrl"); only stdio servers can be pooled',
        "events": 'skipped events: not a stdio server (it has "url"); only stdio servers can be pooled',
    }
    fetch = config.load(cfg).server("fetch")
    assert (fetch.command, fetch.args, dict(fetch.env)) == ("uvx", ("mcp-server-fetch",), {"UA": "me"})


# A source file that cannot be imported: (content or None for missing, what the error line says)
REFUSED_SOURCES = [
    (None, "no such file"),
    (b'{"mcpServers": ', "not valid JSON"),
    (b'{"projects": {}}', '"mcpServers" is missing'),
    (b'{"mcpServers": []}', '"mcpServers" is a list'),
    (b'"just a string"', "expected a JSON object at the top level, found a string"),
]
# The same for a Codex config.toml.
REFUSED_TOML_SOURCES = [
    (b'model = "o3"\n', "no [mcp_servers.NAME] tables (expected Codex's config.toml)"),
    (b"[mcp_servers.time\n", "not valid TOML"),
    (b'mcp_servers = ["time"]\n', "mcp_servers is a list, expected a table"),
    (b'\xff = 1\n', "not valid TOML (not UTF-8 at byte 0)"),
]


@pytest.mark.parametrize("content, says", REFUSED_SOURCES)
def test_import_refuses_a_bad_source_file_with_one_line(home, cfg, content, says):
    source = home / "source.json"
    if content is not None:
        source.write_bytes(content)
    before = cfg.read_bytes()
    assert_refused(run_cli(home, "mcp", "import", str(source), config=cfg), source, says)
    assert cfg.read_bytes() == before


@pytest.mark.parametrize("content, says", REFUSED_TOML_SOURCES)
def test_import_refuses_a_bad_codex_file_with_one_line(home, cfg, content, says):
    source = home / "config.toml"
    source.write_bytes(content)
    before = cfg.read_bytes()
    assert_refused(run_cli(home, "mcp", "import", str(source), config=cfg), source, says)
    assert cfg.read_bytes() == before


def test_import_never_leaves_an_invalid_config(home):
    # An inline [mcp] table cannot be extended by appending [mcp.NAME] tables.
    cfg = home / "inline.toml"
    cfg.write_text('mcp = {time = {command = "mcp-server-time"}}\n')
    before = cfg.read_bytes()
    source = write_json(home / "claude.json", {"mcpServers": {"fetch": {"command": "uvx"}}})
    result = run_cli(home, "mcp", "import", str(source), config=cfg)
    assert_refused(result, cfg, "would make the config invalid", "nothing was changed")
    assert cfg.read_bytes() == before


def test_import_into_a_missing_explicit_config_is_refused(home):
    source = write_json(home / "claude.json", {"mcpServers": {"fetch": {"command": "uvx"}}})
    missing = home / "missing.toml"
    result = run_cli(home, "mcp", "import", str(source), config=missing)
    assert_refused(result, f"{missing}: no such config file")
    assert not missing.exists()


# -- mcp list without a daemon

def test_list_without_a_daemon_lists_the_configured_servers(home, cfg):
    result = run_cli(home, "mcp", "list", config=cfg)
    assert result.returncode == 0
    one_error_line(result, "daemon is not running", "agentdeck serve")
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "STATE", "PID", "SOCKET-CLIENTS", "HTTP-SESSIONS", "RESTARTS", "SOCKET"]
    assert row.split() == ["time", "not", "running", "-", "0", "0", "0", str(home / "sockets" / "mcp-time.sock")]
    assert header.rindex("SOCKET") == row.index(str(home))  # columns line up

    as_json = run_cli(home, "mcp", "list", "--json", config=cfg)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == [{"name": "time", "state": "not running", "pid": None,
                                          "socket_clients": 0, "http_sessions": 0, "restarts": 0, "socket": str(home / "sockets" / "mcp-time.sock"),
                                          "last_error": None}]


def test_list_with_a_stale_runtime_file_says_the_daemon_is_gone(home, cfg):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    write_json(home / "daemon.json", {"pid": dead, "status_url": "http://127.0.0.1:9", "config": str(cfg),
                                      "started": 0})
    result = run_cli(home, "mcp", "list", config=cfg)
    assert result.returncode == 0
    one_error_line(result, f"pid {dead}", "is gone")
    assert "not running" in result.stdout


def test_list_when_the_daemon_does_not_answer_says_so(home, cfg):
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()  # nothing listens on this port now
    write_json(home / "daemon.json", {"pid": os.getpid(), "status_url": f"http://127.0.0.1:{port}",
                                      "config": str(cfg), "started": 0})
    result = run_cli(home, "mcp", "list", "--json", config=cfg)
    assert result.returncode == 0
    one_error_line(result, f"daemon (pid {os.getpid()}) did not answer http://127.0.0.1:{port}/status")
    assert [s["state"] for s in json.loads(result.stdout)] == ["unknown"]


def test_cli_help_lists_the_mcp_commands(home):
    result = run_cli(home, "mcp", "--help")
    assert result.returncode == 0
    for command in ("list", "json", "config", "import"):
        assert command in result.stdout


def test_json_dir_points_a_per_project_server_at_that_projects_url(home, tmp_path):
    """share = "project": the entry names the project (the key of D's real path); a
    server shared by all keeps its plain URL; stdio entries need no key (the bridge says)."""
    from agentdeck.wire.hello import project_key

    cfg = home / "agentdeck.toml"
    cfg.write_text(FIXED_LISTEN.format(home=home) + '\n[mcp.serena]\ncommand = "serena"\nshare = "project"\n')
    project = tmp_path / "proj"
    project.mkdir()
    (tmp_path / "link").symlink_to(project)
    result = run_cli(home, "mcp", "json", "--dir", str(tmp_path / "link"), config=cfg)
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)["mcpServers"]
    assert servers["time"]["url"] == "http://127.0.0.1:8420/servers/time/mcp"
    assert servers["serena"]["url"] == f"http://127.0.0.1:8420/servers/serena/p/{project_key(project)}/mcp"
    stdio = json.loads(run_cli(home, "mcp", "json", "--dir", str(project), "--transport", "stdio",
                               config=cfg).stdout)["mcpServers"]
    assert "serena" in stdio["serena"]["args"] and not any("/p/" in a for a in stdio["serena"]["args"])
