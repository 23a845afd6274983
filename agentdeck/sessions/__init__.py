"""Agent sessions: the per-profile registry, tmux, the hook handler and status.

Importing this package does nothing: `agentdeck hook` imports `hook` from here on
its fast path, which must not pull in gevent, Pony or the daemon.
"""
