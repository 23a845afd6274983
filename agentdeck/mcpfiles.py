"""Claude-style MCP server files (``{"mcpServers": {NAME: {...}}}``) on both sides of the pool.

- `project_entries` / `merge_project_file`: the ``.mcp.json`` entries that point a
  project at the pool (``agentdeck bridge NAME``), merged into an existing file without
  touching what agentdeck does not manage.
- `plan_import` / `write_import`: the stdio servers of such a file (``.mcp.json``,
  ``~/.claude.json``) appended as ``[mcp.NAME]`` tables to the TOML config, keeping the
  config's text (comments, layout) as it is.

Every file is replaced atomically, only after the new content was checked; a refusal
names the file and changes nothing.
"""
import dataclasses
import json
import os
import shutil
import stat
import sys
import tomllib
from pathlib import Path

from agentdeck import config
from agentdeck.errors import ConfigError, UserError
from agentdeck.fsutil import atomic_write, private_dir

PROJECT_FILE = ".mcp.json"
PROJECT_FILE_MODE = 0o644         # a new .mcp.json: meant to be shared with the project, holds no secret
CONFIG_FILE_MODE = 0o600          # a new config file
JSON_FILE_LIMIT = 64 * 1024 * 1024  # bytes read from a JSON file at most (~/.claude.json keeps history)


def agentdeck_command():
    """How an agent should start this agentdeck, as argv: the script the user ran, else the
    console script installed beside this interpreter, else the one on PATH, else
    ``python -m agentdeck`` with this interpreter."""
    ran = Path(sys.argv[0])
    if ran.name == "agentdeck" and os.access(ran, os.X_OK):
        return [os.path.abspath(ran)]
    beside = Path(sys.executable).parent / "agentdeck"
    if os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("agentdeck")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "agentdeck"]


def project_entries(names, config_path=None):
    """``{NAME: {"command", "args"[, "env"]}}`` for each pooled server name. The choices
    made explicitly here travel with the entry -- ``--config`` (or ``$AGENTDECK_CONFIG``)
    as the bridge's ``--config``, ``$AGENTDECK_HOME`` in its env -- because an agent starts
    the bridge with an environment of its own, and the bridge must find the same sockets."""
    command, *prefix = agentdeck_command()
    config_path = config_path or os.environ.get(config.ENV_CONFIG)
    suffix = ["--config", os.path.abspath(config_path)] if config_path else []
    home = os.environ.get(config.ENV_HOME)
    entries = {}
    for name in names:
        entry = {"command": command, "args": [*prefix, "bridge", name, *suffix]}
        if home:
            entry["env"] = {config.ENV_HOME: os.path.abspath(os.path.expanduser(home))}
        entries[name] = entry
    return entries


def read_json(path):
    """The parsed content of JSON file ``path``; FileNotFoundError passes through, every
    other failure is a one-line `UserError` naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read(JSON_FILE_LIMIT + 1)
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a JSON file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied reading it") from None
    if len(data) > JSON_FILE_LIMIT:
        raise UserError(f"{path}: larger than {JSON_FILE_LIMIT} bytes, not read")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); fix or move it, nothing was changed") from None


def servers_table(document, path):
    """The ``mcpServers`` object of a parsed file; a `UserError` when the shape is wrong."""
    if not isinstance(document, dict):
        raise UserError(f"{path}: expected a JSON object at the top level, found {_json_type(document)}; "
                        "nothing was changed")
    servers = document.get("mcpServers")
    if not isinstance(servers, dict):
        raise UserError(f'{path}: "mcpServers" is {_json_type(servers)}, expected an object of servers; '
                        "nothing was changed")
    return servers


def _json_type(value):
    if value is None:
        return "missing (or null)"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number"}
    return names.get(type(value), type(value).__name__)


def _mode_or(path, default):
    """The permission bits of existing ``path`` (kept on rewrite), else ``default``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return default


def _replace(path, text, default_mode):
    try:
        atomic_write(path, text.encode(), _mode_or(path, default_mode))
    except OSError as exc:
        raise UserError(f"{path}: cannot write it ({exc.strerror}); nothing was changed") from None


def merge_project_file(directory, entries):
    """Merge ``entries`` into ``directory/.mcp.json`` (created if absent): entries of the
    same name are replaced, every other entry and top-level key is kept. Returns
    ``(path, replaced_names)``. A symlinked file is updated where it points."""
    if not os.path.isdir(directory):
        raise UserError(f"{directory}: no such directory (--dir)")
    path = os.path.realpath(os.path.join(directory, PROJECT_FILE))
    try:
        document = read_json(path)
    except FileNotFoundError:
        document = {"mcpServers": {}}
    if isinstance(document, dict):
        document.setdefault("mcpServers", {})
    servers = servers_table(document, path)
    replaced = [name for name in entries if name in servers]
    servers.update(entries)
    _replace(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", PROJECT_FILE_MODE)
    return path, replaced


@dataclasses.dataclass
class ImportPlan:
    """What `mcp import` will do to one config file."""

    target: Path          # the config file to write
    text: str             # its current text (the checkout's default when it does not exist yet)
    added: list = dataclasses.field(default_factory=list)    # (name, TOML table text)
    skipped: list = dataclasses.field(default_factory=list)  # (name, reason)


def import_target(config_path):
    """``(path, current text)`` of the config `mcp import` writes: ``--config`` or
    ``$AGENTDECK_CONFIG`` (which must exist), else ``<home>/agentdeck.toml``, seeded with
    the checkout's default text when it does not exist yet (the checkout's own file is
    never edited)."""
    explicit = config_path or os.environ.get(config.ENV_CONFIG)
    if explicit:
        path = Path(explicit)
    else:
        path = config.build({}).home / "agentdeck.toml"
        if not path.exists():
            seed = config.REPO_DEFAULT_CONFIG
            return path, seed.read_text() if seed.exists() else config.sample()
    try:
        return path, path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (pass --config FILE of an existing config)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None


def plan_import(source, config_path=None):
    """Decide which servers of JSON file ``source`` are added to the config, and why
    the others are skipped. Reads only."""
    try:
        document = read_json(source)
    except FileNotFoundError:
        raise UserError(f"{source}: no such file (expected a Claude-style {{\"mcpServers\": {{...}}}} JSON file)") \
            from None
    servers = servers_table(document, source)
    target, text = import_target(config_path)
    current = _check(text, target)
    plan = ImportPlan(target, text)
    taken = {spec.name for spec in current.servers}
    for name, entry in servers.items():
        reason = _skip_reason(name, entry, taken, target)
        if reason:
            plan.skipped.append((name, reason))
            continue
        taken.add(name)
        plan.added.append((name, config.server_toml(name, entry["command"], entry.get("args", ()),
                                                    entry.get("env"))))
    return plan


def _skip_reason(name, entry, taken, target):
    """Why server ``name`` cannot be imported, or None."""
    if not config.NAME_RE.match(name):
        return "not a valid server name (letters, digits, '_', '.', '-', starting with a letter or digit)"
    if name in taken:
        return f"already in {target}"
    if not isinstance(entry, dict):
        return f"its entry is {_json_type(entry)}, expected an object"
    if entry.get("type", "stdio") != "stdio" or "url" in entry:
        kind = f"type {json.dumps(entry['type'])}" if "type" in entry else "it has a url"
        return f"not a stdio server ({kind}); only stdio servers can be pooled"
    if not isinstance(entry.get("command"), str) or not entry["command"].strip():
        return "no command"
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return "args is not a list of strings"
    env = entry.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return "env is not an object of string values"
    return None


def _check(text, target):
    """The Config ``text`` builds; a `ConfigError` naming ``target`` when it does not."""
    try:
        return config.build(tomllib.loads(text), str(target))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: not valid TOML: {exc}") from None


def write_import(plan):
    """Append the planned tables to the config text, check that the result loads, and
    replace the file atomically (a new home config gets its private directory). Nothing
    planned: nothing written."""
    if not plan.added:
        return
    text = plan.text
    for _, table in plan.added:
        if text and not text.endswith("\n"):
            text += "\n"
        if text and not text.endswith("\n\n"):
            text += "\n"  # one blank line before each table, as in the default config
        text += table
    try:
        _check(text, plan.target)
    except ConfigError as exc:
        raise ConfigError(f"{plan.target}: the import would make the config invalid ({exc}): add the servers "
                          "by hand; nothing was changed") from None
    if not plan.target.exists():
        try:
            private_dir(plan.target.parent)
        except OSError as exc:
            raise UserError(f"{plan.target.parent}: cannot use it as the config directory ({exc.strerror})") \
                from None
    _replace(plan.target, text, CONFIG_FILE_MODE)
