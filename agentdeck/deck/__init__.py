"""`agentdeck deck`: the live terminal view, a Textual application in a process of its own.

It runs on asyncio and never imports gevent (nor Pony, loguru or the daemon's modules
that pull them in; an import-linter contract in setup.cfg checks it): it learns from the
daemon's ``/events`` stream, acts through the `agentdeck` CLI and tmux, and reads only
stdlib-only modules of agentdeck (`config`, `paths`, `sessions.states`, `sessions.tmux`).
"""
