"""The MCP pool: one shared child per configured stdio MCP server, reached over a Unix socket."""
