"""`mcp import`: the stdio servers of an agent client's file appended as ``[mcp.NAME]``
tables to the TOML config, keeping the config's text (comments, layout) as it is.

A source is a JSON file with ``"mcpServers"`` (a project's ``.mcp.json``,
``~/.claude.json``, Gemini CLI's ``settings.json``) or Codex CLI's ``config.toml``
(``[mcp_servers.NAME]``). Servers reached by URL are skipped: only stdio servers can be
pooled. ``~/.claude.json`` also keeps servers per project (``projects["/path"].mcpServers``,
which Claude Code starts in that directory): each is imported as ``share = "project"``
(one child per project, in its directory) with the project's path in its arguments and
environment written as ``{project}``, when every project that has it defines it alike;
otherwise it is skipped, with the reason. Every server not imported is listed with why.
The config is replaced atomically, only after the new text was checked; a refusal names
the file and changes nothing.
"""
import dataclasses
import json
import os
import re
import tomllib
from pathlib import Path

from agentdeck import config
from agentdeck.clientfiles import files, jsonfile, tomlfile
from agentdeck.errors import ConfigError, UserError
from agentdeck.fsutil import private_dir

CONFIG_FILE_MODE = 0o600          # a new config file
REMOTE_KEYS = ("url", "httpUrl")  # an entry with one of these is reached over the network, not started
PROJECTS_KEY = "projects"         # ~/.claude.json: {"/path": {"mcpServers": {...}, ...}}
PROJECT_PLACEHOLDER = "{project}"


@dataclasses.dataclass
class ImportPlan:
    """What `mcp import` will do to one config file."""

    target: Path          # the config file to write
    text: str             # its current text (the checkout's default when it does not exist yet)
    added: list = dataclasses.field(default_factory=list)    # (name, TOML table text, note for the person)
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
    """The servers of client file ``source``: ``({NAME: entry}, [(project, NAME, entry)])``,
    those for everyone and those Claude Code keeps per project; a one-line `UserError`
    naming the file when it is missing, does not parse or holds no servers table."""
    data = files.read_existing(source)
    if data is None:
        raise UserError(f"{source}: no such file (expected a JSON file with \"mcpServers\" or Codex's config.toml)")
    fmt = _format_of(source, data)
    settings = fmt.parse(data, source)
    if fmt is tomlfile and tomlfile.SERVERS_KEY not in settings:
        raise UserError(f"{source}: no [{tomlfile.SERVERS_KEY}.NAME] tables (expected Codex's config.toml)")
    per_project = _project_servers(settings) if fmt is jsonfile else []
    if per_project and jsonfile.SERVERS_KEY not in settings:
        return {}, per_project
    return fmt.servers_table(settings, source), per_project


def _project_servers(settings):
    """``[(project, NAME, entry)]`` of ``projects["/path"].mcpServers`` in ~/.claude.json."""
    projects = settings.get(PROJECTS_KEY) if isinstance(settings, dict) else None
    if not isinstance(projects, dict):
        return []
    return [(project, name, entry) for project, kept in projects.items() if isinstance(kept, dict)
            and isinstance(kept.get(jsonfile.SERVERS_KEY), dict)
            for name, entry in kept[jsonfile.SERVERS_KEY].items()]


def _generalized(entry, project):
    """What is imported of a (valid) ``entry``, its command, args and env, with the path
    of ``project`` in its args and env values written as {project}."""
    path = re.compile(re.escape(project.rstrip("/") or "/") + r"(?=/|$)")

    def general(value):
        return path.sub(PROJECT_PLACEHOLDER, value)
    return {"command": entry["command"], "args": [general(a) for a in entry.get("args", [])],
            "env": {k: general(v) for k, v in entry.get("env", {}).items()}}


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
    servers, per_project = source_servers(source)
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
                                                    entry.get("env")), ""))
    _plan_project_servers(plan, per_project, servers, taken, source)
    return plan


def _plan_project_servers(plan, per_project, servers, taken, source):
    """Add to ``plan`` the servers Claude Code keeps per project, as share = "project"
    where every project that has one defines it alike, else say why not."""
    found = {}  # name -> [(project, entry with {project})]
    for project, name, entry in per_project:
        reason = _skip_reason(name, entry, set(), plan.target)
        if reason:
            plan.skipped.append((name, f"in project {project}: {reason}"))
        else:
            found.setdefault(name, []).append((project, _generalized(entry, project)))
    for name, definitions in found.items():
        projects = [project for project, _ in definitions]
        where = f"project{'s' if len(projects) > 1 else ''} {', '.join(projects)}"
        if name in servers:
            plan.skipped.append((name, f"in {where}: {source} also defines it for every project (that one counts)"))
        elif name in taken:
            plan.skipped.append((name, f"in {where}: already in {plan.target}"))
        elif len({json.dumps(entry, sort_keys=True) for _, entry in definitions}) > 1:
            plan.skipped.append((name, f"defined differently in {where}: add it by hand, with share = \"project\" "
                                       f"and {PROJECT_PLACEHOLDER} for the project's directory"))
        else:
            entry = definitions[0][1]
            taken.add(name)
            plan.added.append((name, config.server_toml(name, entry["command"], entry["args"], entry["env"],
                                                        share="project"),
                               f' as share = "project": one child per project, in its directory (Claude Code ran it '
                               f"for {where})"))


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
    for _, table, _ in plan.added:
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
