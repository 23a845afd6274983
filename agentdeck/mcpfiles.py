"""`mcp import`: the stdio servers of an agent client's file appended as ``[mcp.NAME]``
tables to the TOML config, keeping the config's text (comments, layout) as it is.

A source is a JSON file with ``"mcpServers"`` (a project's ``.mcp.json``,
``~/.claude.json``, Gemini CLI's ``settings.json``) or Codex CLI's ``config.toml``
(``[mcp_servers.NAME]``). Servers reached by URL are skipped: only stdio servers can be
pooled. The config is replaced atomically, only after the new text was checked; a
refusal names the file and changes nothing.
"""
import dataclasses
import json
import os
import tomllib
from pathlib import Path

from agentdeck import config
from agentdeck.clientfiles import files, jsonfile, tomlfile
from agentdeck.errors import ConfigError, UserError
from agentdeck.fsutil import private_dir

CONFIG_FILE_MODE = 0o600          # a new config file
REMOTE_KEYS = ("url", "httpUrl")  # an entry with one of these is reached over the network, not started


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


def source_servers(source):
    """The servers of client file ``source``, as {NAME: entry}; a one-line `UserError`
    naming the file when it is missing, does not parse or holds no servers table."""
    data = files.read_existing(source)
    if data is None:
        raise UserError(f"{source}: no such file (expected a JSON file with \"mcpServers\" or Codex's config.toml)")
    fmt = _format_of(source, data)
    settings = fmt.parse(data, source)
    if fmt is tomlfile and tomlfile.SERVERS_KEY not in settings:
        raise UserError(f"{source}: no [{tomlfile.SERVERS_KEY}.NAME] tables (expected Codex's config.toml)")
    return fmt.servers_table(settings, source)


def _format_of(source, data):
    """jsonfile or tomlfile, by the file's name, else by its first character: a JSON file of
    servers is an object, and a TOML file can never open with "{"."""
    suffix = Path(source).suffix.lower()
    if suffix in (".json", ".toml"):
        return jsonfile if suffix == ".json" else tomlfile
    return jsonfile if data.lstrip()[:1] == b"{" else tomlfile


def plan_import(source, config_path=None):
    """Decide which servers of client file ``source`` are added to the config, and why
    the others are skipped. Reads only."""
    servers = source_servers(source)
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
        return f"its entry is {files.kind_of(entry)}, expected an object"
    remote = [key for key in REMOTE_KEYS if key in entry]
    if entry.get("type", "stdio") != "stdio" or remote:
        kind = f"type {json.dumps(entry['type'])}" if "type" in entry else f'it has "{remote[0]}"'
        return f"not a stdio server ({kind}); only stdio servers can be pooled"
    if entry.get("enabled", True) is False:
        return "disabled there (enabled = false)"
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
    files.replace(plan.target, text, CONFIG_FILE_MODE)
