"""JSON client files whose servers are an ``"mcpServers"`` object: a project's
``.mcp.json`` and ``~/.claude.json`` (Claude Code), ``~/.gemini/settings.json`` (Gemini CLI).

One merge routine serves all of them: entries of the same name are replaced, every other
entry and top-level key is kept in its place, and a file that does not parse, or whose
``mcpServers`` is not an object, is refused unchanged.
"""
import json

from agentdeck.clientfiles import files
from agentdeck.errors import UserError

SERVERS_KEY = "mcpServers"


def parse(data, path):
    """The parsed content of JSON bytes ``data`` read from ``path``; a one-line `UserError`
    naming the file when they are not JSON."""
    text = files.decode(data, path, "JSON")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); fix or move it, nothing was changed") from None


def servers_table(document, path):
    """The ``mcpServers`` object of a parsed file; a `UserError` when the shape is wrong."""
    if not isinstance(document, dict):
        raise UserError(f"{path}: expected a JSON object at the top level, found {files.kind_of(document)}; "
                        "nothing was changed")
    servers = document.get(SERVERS_KEY)
    if not isinstance(servers, dict):
        raise UserError(f'{path}: "{SERVERS_KEY}" is {files.kind_of(servers)}, expected an object of servers; '
                        "nothing was changed")
    return servers


def render(entries):
    """``entries`` as the JSON text of a file that holds only them."""
    return json.dumps({SERVERS_KEY: entries}, indent=2, ensure_ascii=False) + "\n"


def merge(path, entries, default_mode, create_parent=False, backup=False):
    """Merge ``entries`` ({NAME: entry}) into the ``mcpServers`` of JSON file ``path``
    (created, in ``default_mode``, when absent). Writes nothing when every entry is
    already there as it is; with ``backup``, keeps the file's previous content as
    ``<path>.bak`` before it writes. Returns a `files.Merged`."""
    path = files.resolve(path, create_parent)
    data = files.read_existing(path)
    document = {SERVERS_KEY: {}} if data is None else parse(data, path)
    if isinstance(document, dict):
        document.setdefault(SERVERS_KEY, {})
    servers = servers_table(document, path)
    replaced = tuple(name for name in entries if name in servers and servers[name] != entries[name])
    if data is not None and all(servers.get(name) == entry for name, entry in entries.items()):
        return files.Merged(path, (), changed=False)
    previous = {name: servers[name] for name in replaced}
    servers.update(entries)
    kept = files.keep_backup(path, data) if backup and data is not None else None
    files.replace(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", default_mode)
    return files.Merged(path, replaced, changed=True, previous=previous, backup=kept)
