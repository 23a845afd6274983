"""`agentdeck bridge`: carry an agent's stdio JSON-RPC lines to a pooled MCP server's
Unix socket and back, across daemon restarts.

Contract (DESIGN.md, "Command line"):

- Lines pass both ways unchanged. Whether a line is a request, a response or a
  notification is decided by its ``method``/``result``/``error`` members, never by its id;
  a stdin line that is not a JSON object is forwarded as it is (the proxy answers -32700).
- A line read from stdin stays queued until it has been written to a live connection; a
  connection that breaks during the write keeps it queued. It is sent after reconnecting,
  in order.
- Every request written to a connection is tracked until its response comes back; when
  the connection drops, each one still open is answered on stdout with a ``-32001`` error
  carrying the agent's exact original id, so the agent never waits forever. Ids are
  matched by `agentdeck.wire.jsonrpc.id_key`: 1, 1.0 and "1" are three ids.
- Reconnects: the first connect and every reconnect retry with a back-off of
  `BACKOFF_MIN` doubling to `BACKOFF_MAX`; a connection that dies within
  `STABLE_CONNECTION` does not reset the back-off (a proxy that accepts and closes at
  once is not hammered). After ``give_up`` seconds (default `GIVE_UP_AFTER`;
  ``$AGENTDECK_BRIDGE_GIVE_UP`` overrides it, for tests) without a connection, queued
  requests are answered with -32001 and the bridge exits 1 naming the socket.
- Every connection starts with the hello (`agentdeck.wire.hello`): one line naming the
  bridge's working directory (a real path), the project of a server shared per project.
  The proxy consumes it; the agent never sees it.
- After a reconnect the proxy may belong to a freshly started daemon whose MCP child was
  never initialized. Once the agent's ``initialize`` has succeeded, every new connection
  first carries a copy of it under a bridge-private id (its response is swallowed) and,
  if the agent had sent it, ``notifications/initialized``, before any queued line.
- stdin EOF: lines already read are delivered if a connection is up, then the bridge
  waits at most `EOF_DRAIN` seconds for the answers to requests in flight (answering the
  rest with -32001) and exits 0; with nothing in flight it exits at once. A broken stdout
  (the agent is gone) also ends it with 0. SIGTERM or SIGHUP end it like the drain's end
  (open requests answered), with status 128 + the signal number.
- Every descriptor it was given (stdin, stdout, stderr) is switched to non-blocking mode
  and restored on exit, whatever ends it: a terminal shares that mode with its shell.

Nothing blocks, and every buffer is bounded:

- stdin: a line over ``max_request_bytes`` is skipped as it streams by, never held
  whole, and answered with -32002. stdin is not read while `QUEUE_BYTES` wait for a
  connection, so an agent writing into a dead daemon is slowed down by its pipe, not by
  our memory.
- socket: a line over ``max_response_bytes`` + `RESPONSE_SLACK` is skipped the same way
  (the request it answered gets -32002).
- stdout: an agent that stops reading does not stop the bridge: its output waits in a
  backlog, and while that holds `STDOUT_BYTES` the bridge reads neither the socket nor
  stdin. What the proxy has for us then waits in the proxy, which closes a client over
  ``client_queue_bytes``; the bridge answers what was in flight, reconnects, and goes
  on. Bound: `STDOUT_BYTES` + one line + the -32001 answers for the requests open at
  that moment (no new ones are read meanwhile).
- in flight: only the id of each open request is kept (and the bytes of the agent's
  ``initialize`` and ``notifications/initialized``, to replay them).
- stderr notes never block: one that does not fit in a full pipe is dropped.

Standard library only (no gevent, Pony or loguru: checked by the import-linter contract
``bridge`` in setup.cfg), one thread: `loop` (a selector and timers), `inbound` (stdin
lines and their queue), `connection` (one socket connection and what is in flight on
it), `stdio` (descriptor modes, the stdout backlog, notes), `relay` (`Bridge`: the state
of the whole and its transitions). The command line (`agentdeck.cli.bridge`) reads the
config in a short-lived forked child, so its imports never stay resident here.
"""
from agentdeck.bridge.relay import GIVE_UP_AFTER, Bridge

__all__ = ["Bridge", "GIVE_UP_AFTER"]
