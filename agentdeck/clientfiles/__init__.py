"""The files through which agent clients (Claude Code, Codex CLI, Gemini CLI) find MCP servers.

- `endpoint`: the URL of the daemon's MCP front door (``http://<status_listen>/servers/NAME/mcp``).
- `clients`: each client's file, the shape of its entries, and building them for the
  pooled servers (HTTP entries, or stdio entries that run ``agentdeck bridge NAME``).
- `jsonfile` / `tomlfile`: reading those files and merging entries into them, keeping
  everything agentdeck does not manage.
- `rewrite`: replacing a file atomically, keeping its mode, only when its text changes.

Standard library only, except `tomlfile`'s merge, which uses tomlkit to keep a TOML
file's comments and layout.
"""
