"""Log sinks that never stop the daemon.

- `logfile`: `RotatingFile` and `GuardedStream`, which drop and count a line they cannot
  write now instead of raising or blocking.
- `logsetup`: the daemon log (stderr + ``logs/daemon.log``) and one log per MCP server.

Importing this package does nothing.
"""
