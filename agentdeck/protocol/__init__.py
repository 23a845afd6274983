"""The MCP protocol eras as data, with no I/O (h11 style): the versions agentdeck serves,
the handshake it does with each child, the answers it gives each client about the
child, and the per-client adapter between a client's era and its child's.

Everything here takes messages (parsed JSON-RPC objects) and returns messages; the
router and the transports call it, it calls neither. Stands on the standard library
only. Importing this package does nothing.
"""
