"""The agent clients agentdeck points at the pool: where each keeps its MCP servers, what
an entry looks like there, and building the entries for the pooled servers.

Every client speaks MCP Streamable HTTP, so by default an entry is the URL of the
server's front door (`endpoint`); ``stdio`` entries run the bridge instead (`stdio`), for
a client or a setup without HTTP. Both kinds are plain dicts, written by the client's
file format (`jsonfile` or `tomlfile`).
"""
import dataclasses
import os
from pathlib import Path

from agentdeck.clientfiles import endpoint, jsonfile, stdio, tomlfile

HTTP = "http"
STDIO = "stdio"
TRANSPORTS = (HTTP, STDIO)
CLIENT_FILE_MODE = 0o600  # a new client file: it may hold the status token
ENV_CLAUDE_CONFIG_DIR = "CLAUDE_CONFIG_DIR"  # Claude Code keeps .claude.json there when set
ENV_CODEX_HOME = "CODEX_HOME"                # Codex's config directory (default ~/.codex)


@dataclasses.dataclass(frozen=True)
class Client:
    name: str          # the --client value
    title: str         # the client, as messages name it
    file_format: object  # the module that reads, merges and renders its file: jsonfile or tomlfile
    user_file: object  # () -> Path of the client's user-scope file, from the environment as the client reads it
    user_file_help: str  # where that is, for --help
    http_entry: object  # (url, headers) -> the client's entry for a Streamable HTTP server


def _claude_user_file():
    base = os.environ.get(ENV_CLAUDE_CONFIG_DIR)
    return Path(base) / ".claude.json" if base else Path.home() / ".claude.json"


def _codex_user_file():
    return Path(os.environ.get(ENV_CODEX_HOME) or Path.home() / ".codex") / "config.toml"


def _gemini_user_file():
    return Path.home() / ".gemini" / "settings.json"


def _claude_http(url, headers):
    # .mcp.json and ~/.claude.json's top-level mcpServers alike.
    return {"type": "http", "url": url, **({"headers": headers} if headers else {})}


def _codex_http(url, headers):
    # A literal header in http_headers: Codex's bearer_token_env_var would need the token
    # exported into the environment of every Codex session.
    return {"url": url, **({"http_headers": headers} if headers else {})}


def _gemini_http(url, headers):
    # httpUrl is Streamable HTTP; Gemini CLI's "url" means SSE.
    return {"httpUrl": url, **({"headers": headers} if headers else {})}


CLIENTS = {client.name: client for client in (
    Client(name="claude", title="Claude Code", file_format=jsonfile, user_file=_claude_user_file,
           user_file_help=f"${ENV_CLAUDE_CONFIG_DIR}/.claude.json, else ~/.claude.json", http_entry=_claude_http),
    Client(name="codex", title="Codex CLI", file_format=tomlfile, user_file=_codex_user_file,
           user_file_help=f"${ENV_CODEX_HOME}/config.toml, else ~/.codex/config.toml", http_entry=_codex_http),
    Client(name="gemini", title="Gemini CLI", file_format=jsonfile, user_file=_gemini_user_file,
           user_file_help="~/.gemini/settings.json", http_entry=_gemini_http),
)}
PROJECT_CLIENT = CLIENTS["claude"]  # a project's .mcp.json is Claude Code's format


def build_entries(client, transport, names, cfg, config_path=None, project=None):
    """``({NAME: entry}, skipped)`` pointing ``client`` at each of ``names`` (pooled servers
    of ``cfg``) over ``transport``. HTTP entries carry the ``[daemon] status_token`` as a
    bearer header; a `UserError` when ``cfg`` gives no URL (see `endpoint.mcp_base_url`).
    A server that needs its client's project (``share = "project"``) gets the URL of
    ``project``'s child (a directory); without ``project`` it has no URL the daemon would
    serve, and its name is in ``skipped`` instead (stdio entries need nothing: the
    bridge tells its cwd)."""
    if not names:
        return {}, ()
    if transport == STDIO:
        return stdio.bridge_entries(names, config_path), ()
    per_project = {spec.name for spec in cfg.servers if spec.needs_project}
    skipped = tuple(name for name in names if name in per_project) if project is None else ()
    names = [name for name in names if name not in skipped]
    if not names:
        return {}, skipped
    base = endpoint.mcp_base_url(cfg)
    headers = endpoint.auth_headers(cfg.daemon.status_token)
    return {name: client.http_entry(endpoint.server_url(base, name, project if name in per_project else None),
                                    dict(headers)) for name in names}, skipped


def render(client, entries):
    """``entries`` as the text of a ``client`` file holding only them (what a user can paste)."""
    return client.file_format.render(entries)


def merge(client, path, entries, default_mode=CLIENT_FILE_MODE, create_parent=False, backup=False):
    """Merge ``entries`` into ``client``'s file at ``path``; see the file format's ``merge``."""
    return client.file_format.merge(path, entries, default_mode, create_parent, backup)
