"""Codex CLI's ``config.toml``, whose servers are ``[mcp_servers.NAME]`` tables.

Reading uses the standard library's tomllib. Merging uses tomlkit, which edits the
parsed document in place and writes back every comment, blank line and table it did not
touch. Because a style-preserving edit of an unusual layout (dotted keys, out-of-order
tables, an inline ``mcp_servers``) is where such a library can go wrong, the merged text
is parsed again and must equal the old settings with exactly the new entries put in;
otherwise the file is refused unchanged. tomlkit (~45 ms to import) is imported only
by the functions that write: the CLI's parser, built for every command (`agentdeck hook`
too), imports this package for the client names.
"""
import copy
import tomllib

from agentdeck.clientfiles import files
from agentdeck.errors import UserError

SERVERS_KEY = "mcp_servers"


def parse(data, path):
    """The settings in TOML bytes ``data`` read from ``path``, as plain dicts; a one-line
    `UserError` naming the file when they are not TOML."""
    return _loads(files.decode(data, path, "TOML"), path)


def _loads(text, path):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc}); fix or move it, nothing was changed") from None


def servers_table(settings, path):
    """The ``mcp_servers`` table of parsed ``settings`` ({} when there is none); a
    `UserError` when it is something else."""
    servers = settings.get(SERVERS_KEY, {})
    if not isinstance(servers, dict):
        raise UserError(f"{path}: {SERVERS_KEY} is {files.kind_of(servers)}, expected a table of "
                        f"[{SERVERS_KEY}.NAME] tables; nothing was changed")
    return servers


def _fill(table, entry):
    """Put ``entry``'s keys into tomlkit ``table``; object values (``env``, ``http_headers``)
    as inline tables, as Codex's documentation writes them."""
    import tomlkit
    for key, value in entry.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            value = inline
        table[key] = value
    return table


def _put(document, entries):
    """Set ``entries`` as the ``mcp_servers`` tables of tomlkit ``document``, in place."""
    import tomlkit
    from tomlkit.items import InlineTable, Table
    servers = document.get(SERVERS_KEY)
    if servers is None:
        # A super table: the file gets [mcp_servers.NAME] headers, not an empty [mcp_servers].
        servers = tomlkit.table(is_super_table=True)
        document[SERVERS_KEY] = servers
    inline = isinstance(servers, InlineTable)
    for name, entry in entries.items():
        old = servers[name] if name in servers else None
        if isinstance(old, Table):  # not an InlineTable
            # Emptied and refilled where it stands: its header, comments and place are kept,
            # its sub-tables ([mcp_servers.NAME.env]) go with its old keys.
            for key in list(old):
                del old[key]
            _fill(old, entry)
            continue
        if old is not None:
            del servers[name]
        table = _fill(tomlkit.inline_table() if inline else tomlkit.table(), entry)
        if not inline:
            table.add(tomlkit.nl())  # a blank line before whatever table follows
        servers[name] = table


def render(entries):
    """``entries`` as the TOML text of a file that holds only them."""
    import tomlkit
    document = tomlkit.document()
    _put(document, entries)
    return tomlkit.dumps(document).rstrip("\n") + "\n"


def merge(path, entries, default_mode, create_parent=False, backup=False):
    """Merge ``entries`` ({NAME: entry}) into the ``[mcp_servers]`` of TOML file ``path``
    (created, in ``default_mode``, when absent), keeping its text everywhere else. Writes
    nothing when every entry is already there as it is; with ``backup``, keeps the file's
    previous content as ``<path>.bak`` before it writes. Returns a `files.Merged`."""
    path = files.resolve(path, create_parent)
    data = files.read_existing(path)
    text = "" if data is None else files.decode(data, path, "TOML")
    before = _loads(text, path)
    servers = servers_table(before, path)
    replaced = tuple(name for name in entries if name in servers and servers[name] != entries[name])
    if data is not None and all(servers.get(name) == entry for name, entry in entries.items()):
        return files.Merged(path, (), changed=False)
    import tomlkit
    import tomlkit.exceptions
    expected = copy.deepcopy(before)
    expected.setdefault(SERVERS_KEY, {}).update(copy.deepcopy(entries))
    try:
        document = tomlkit.parse(text)
        _put(document, entries)
        merged = tomlkit.dumps(document)
        faithful = tomllib.loads(merged) == expected
    except (tomlkit.exceptions.TOMLKitError, tomllib.TOMLDecodeError, ValueError, KeyError):
        faithful = False  # tomlkit raises plain ValueError / KeyError for edits a layout does not allow
    if not faithful:
        raise UserError(f"{path}: cannot merge into its [{SERVERS_KEY}] without changing other settings (an unusual "
                        "layout, such as dotted mcp_servers keys); add the tables `agentdeck mcp config --client "
                        "codex` prints by hand, nothing was changed")
    if merged.endswith("\n\n") and not text.endswith("\n\n"):
        merged = merged.rstrip("\n") + "\n"  # the blank line after a table added last
    kept = files.keep_backup(path, data) if backup and data is not None else None
    files.replace(path, merged, default_mode)
    return files.Merged(path, replaced, changed=True, previous={name: servers[name] for name in replaced},
                        backup=kept)
