"""Agent sessions: the per-profile registry, tmux, the hook handler and status.

- `states`: the status constants (running, waiting, idle, dead).
- `names`: which instance ids and profile names are safe in paths.
- `registry`: `Registry` (profiles on disk) and `ProfileStore` (Pony/SQLite, one
  connection per profile through a `dbworker.DatabaseWorker` greenlet).
- `tmux`: start/kill sessions and read every pane's liveness in one call.
- `hook`: `agentdeck hook`, stdlib-only, writes ``hooks/<id>.json``.
- `status`: read a hook file; combine stored status, hook status and tmux liveness.
- `transcript`: the latest user prompt, read incrementally, in a bounded cache; how a
  prompt is shortened for display.
- `hook_settings`: `hooks install/uninstall` for Claude Code's, Codex's and Gemini CLI's hook settings.
- `view`: `SessionView`, one session as the `session` commands and /status show it.
- `control`: what the `session` commands do, over all of the above.
- `events`: the transition event file, ``events/<id>.json``.
- `transitions`: `TransitionDaemon`, the daemon's passes that turn hook status and
  tmux liveness into stored statuses and event files.
- `notify`: `Notifier`, the ``[notify] command`` for transitions into waiting or dead.
- `statusfiles`: `StatusFileWatcher` on ``hooks/``: id -> latest hook status.
- `statusevents`: `StatusEventWatcher` on ``events/``: transition events on a bounded
  queue, for `agentdeck wait` and the notifier.
- `waiting`: what `agentdeck wait` does, with or without the daemon.

Importing this package does nothing: `agentdeck hook` imports `hook` from here on
its fast path, which must not pull in gevent, Pony or the daemon.
"""
