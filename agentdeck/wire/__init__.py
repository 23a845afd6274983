"""The JSON-RPC line layer the pool, the bridge and the HTTP front door stand on.

- `jsonrpc`: error codes and lines, `classify`, `id_key`, the id splice.
- `lines`: bounded line splitting (an oversize line is skipped, never held whole).
- `outbox`: bytes queued for a descriptor, written without ever blocking the hub.
- `fdread`: reading a non-blocking descriptor on one persistent io watcher.

Imports nothing of agentdeck but `errors`; `jsonrpc` and `lines` use only the standard
library (the stdio bridge runs without gevent). Importing this package does nothing.
"""
