"""`agentdeck mcp json|config --write` as data: each folder of tests/data/client_files is
one case, run through the CLI's entry point in this process.

A case folder holds:

- ``args``: the words after ``agentdeck mcp``; the test adds ``--config`` (and ``--dir``
  for ``json``, ``--file`` for ``config``);
- ``agentdeck.toml`` (optional): the config, else `DEFAULT_CONFIG`;
- ``before.json`` / ``before.toml`` (optional): the client's file before the run;
- ``after.json`` / ``after.toml``: the file expected after it, byte for byte; or
  ``error``: a text the one error line must contain, the file being left as it was;
- ``warnings`` (optional): the lines expected on stderr (none when absent).

`config` keeps the client file's previous content as ``<file>.bak`` when it changes it;
`json` (a project's file, under its version control) does not.

``{home}``, ``{config}``, ``{command}`` (the agentdeck command a stdio entry runs) and
``{project_key}`` (the URL key of ``json``'s project) are filled in every file.
"""
import os
import stat
from pathlib import Path

import pytest

from agentdeck.cli.main import main
from agentdeck.clientfiles.clients import CLIENTS
from agentdeck.clientfiles import stdio
from agentdeck.wire.hello import project_key

CASES = Path(__file__).parent / "data" / "client_files"
DEFAULT_CONFIG = """[daemon]
home = "{home}"
status_listen = "127.0.0.1:8420"

[mcp.time]
command = "mcp-server-time"

[mcp.github]
command = "github-mcp-server"
args = ["stdio"]
"""


def case_names():
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def one(folder, stem):
    """The single file ``stem.*`` of a case folder, or None."""
    found = sorted(folder.glob(f"{stem}.*"))
    assert len(found) <= 1, found
    return found[0] if found else None


class Case:
    """One case folder, filled in for a run under ``home``."""

    def __init__(self, name, home):
        self.folder = CASES / name
        self.home = home
        self.config = home / "agentdeck.toml"
        command, *prefix = stdio.agentdeck_command()
        assert not prefix, "the tests run from a venv with the agentdeck console script"
        self.fields = {"home": str(home), "config": str(self.config), "command": command,
                       "project_key": project_key(home / "proj")}
        config_file = self.folder / "agentdeck.toml"
        self.config.write_text(self.fill(config_file.read_text() if config_file.exists() else DEFAULT_CONFIG))
        self.before = one(self.folder, "before")
        self.after = one(self.folder, "after")
        self.error = (self.folder / "error").read_text().strip() if (self.folder / "error").exists() else None
        warnings = self.folder / "warnings"
        self.warnings = self.fill(warnings.read_text()).splitlines() if warnings.exists() else []
        assert (self.after is None) != (self.error is None), f"{name}: needs after.* or error"
        self.args = (self.folder / "args").read_text().split()
        suffix = (self.before or self.after or Path("x.json")).suffix
        if self.args[0] == "json":
            project = home / "proj"
            project.mkdir()
            self.target = project / ".mcp.json"
            self.args += ["--dir", str(project)]
        else:
            (home / "client").mkdir()
            self.target = home / "client" / f"file{suffix}"
            self.args += ["--file", str(self.target)]
        self.args += ["--config", str(self.config)]
        if self.before:
            self.target.write_bytes(self.fill(self.before.read_text()).encode())

    def fill(self, text):
        for key, value in self.fields.items():
            text = text.replace("{" + key + "}", value)
        return text

    def expected(self):
        return self.fill(self.after.read_text())

    def run(self, capsys):
        """(exit code, stdout, stderr) of one run."""
        code = main(["mcp", *self.args])
        out, err = capsys.readouterr()
        return code, out, err


@pytest.fixture(autouse=True)
def no_agentdeck_env(monkeypatch):
    # The entries carry $AGENTDECK_HOME / $AGENTDECK_CONFIG when set; the cases expect neither.
    for name in ("AGENTDECK_HOME", "AGENTDECK_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("name", case_names())
def test_case(name, home, capsys):
    case = Case(name, home)
    before = case.target.read_bytes() if case.target.exists() else None
    code, out, err = case.run(capsys)
    if case.error:
        assert code == 1, out
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("agentdeck: "), err
        assert case.error in lines[0] and "nothing was" in lines[0], lines[0]
        assert (case.target.read_bytes() if case.target.exists() else None) == before
        assert sorted(p.name for p in case.target.parent.iterdir()) == \
            sorted(p.name for p in [case.target] if before is not None), "a temp file was left behind"
        return
    assert code == 0, err
    assert out.startswith("wrote ") and str(case.target) in out, out
    assert case.target.read_text() == case.expected()
    assert err.splitlines() == case.warnings
    backup = case.target.with_name(case.target.name + ".bak")
    kept = [backup.name] if before is not None and case.args[0] == "config" else []
    assert sorted(p.name for p in case.target.parent.iterdir()) == sorted([case.target.name, *kept])  # no temp file
    if kept:
        assert backup.read_bytes() == before and f"previous version kept as {backup}" in out


@pytest.mark.parametrize("name", [n for n in case_names() if not (CASES / n / "error").exists()])
def test_writing_twice_is_writing_once(name, home, capsys):
    """The second run finds every entry in place and leaves the file alone (not even rewritten)."""
    case = Case(name, home)
    assert case.run(capsys)[0] == 0
    first = case.target.stat()
    code, out, err = case.run(capsys)
    assert code == 0, err
    assert "nothing was written" in out, out
    again = case.target.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert case.target.read_text() == case.expected()


def test_every_case_is_a_folder_of_known_files():
    known = {"args", "agentdeck.toml", "before.json", "before.toml", "after.json", "after.toml", "error", "warnings"}
    for name in case_names():
        assert {p.name for p in (CASES / name).iterdir()} <= known, name


# -- modes: a new file's, and an existing file's kept

@pytest.mark.parametrize("name, mode", [("claude-new", 0o600), ("codex-new", 0o600), ("project-stdio", 0o644),
                                        ("project-wildcard-listen", 0o600)])
def test_a_new_file_gets_its_mode(name, mode, home, capsys):
    """Client files may hold the status token: 0600. A project's .mcp.json is shared (0644),
    unless it holds the token."""
    case = Case(name, home)
    assert not case.target.exists()
    assert case.run(capsys)[0] == 0
    assert stat.S_IMODE(case.target.stat().st_mode) == mode


@pytest.mark.parametrize("name", ["claude-merge-keeps-foreign", "codex-merge-keeps-comments", "gemini-merge"])
def test_an_existing_file_keeps_its_mode(name, home, capsys):
    case = Case(name, home)
    os.chmod(case.target, 0o640)
    assert case.run(capsys)[0] == 0
    assert stat.S_IMODE(case.target.stat().st_mode) == 0o640


def test_a_token_written_into_a_readable_file_is_pointed_out(home, capsys):
    case = Case("claude-token", home)
    case.target.write_text("{}")
    os.chmod(case.target, 0o644)
    code, out, err = case.run(capsys)
    assert code == 0
    assert err == f"agentdeck: note: {case.target} holds [daemon] status_token and others can read it (mode 0644): " \
                  f"chmod 600 {case.target}\n"


def test_a_symlinked_file_is_written_where_it_points(home, capsys):
    """Managed dotfiles: the link stays, its target gets the entries."""
    case = Case("codex-merge-keeps-comments", home)
    real = home / "dotfiles" / "config.toml"
    real.parent.mkdir()
    case.target.rename(real)
    case.target.symlink_to(real)
    assert case.run(capsys)[0] == 0
    assert case.target.is_symlink() and real.read_text() == case.expected()


# -- a server that runs one child per project

SHARED_PER_PROJECT = DEFAULT_CONFIG + """
[mcp.serena]
command = "serena"
share = "project"
"""


@pytest.mark.parametrize("client", ["claude", "codex", "gemini"])
def test_a_per_project_server_is_left_out_of_a_user_file_with_a_note(client, home, capsys):
    """Its URL without a project is one the daemon always refuses (Claude showed it failed,
    Codex dropped its tools silently): no entry, and one line saying where it belongs."""
    config_file = home / "agentdeck.toml"
    config_file.write_text(SHARED_PER_PROJECT.replace("{home}", str(home)))
    code = main(["mcp", "config", "--client", client, "--config", str(config_file)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "/servers/time/mcp" in out and "/servers/github/mcp" in out and "serena" not in out
    assert err.splitlines() == [
        "agentdeck: note: skipped serena: it runs one child per project, and "
        f"{CLIENTS[client].title}'s own file names no project; `agentdeck mcp json --dir DIR` writes its URL into "
        "that project's .mcp.json (or use --transport stdio)"]


def test_a_per_project_server_has_a_bridge_entry_anywhere(home, capsys):
    """The bridge tells the daemon its cwd, so a stdio entry needs no project."""
    config_file = home / "agentdeck.toml"
    config_file.write_text(SHARED_PER_PROJECT.replace("{home}", str(home)))
    code = main(["mcp", "config", "--client", "codex", "--transport", "stdio", "--config", str(config_file)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "[mcp_servers.serena]" in out
