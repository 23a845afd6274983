"""Directory watchers: inotify greenlets that never block the gevent hub.

- `dirwatch`: `DirectoryWatch`, one inotify descriptor and one greenlet per directory;
  coalesces bursts, rescans after a queue overflow, re-arms when the directory is
  deleted and made again.
- `statusfiles`: `StatusFileWatcher` on ``hooks/``: id -> latest hook status.
- `statusevents`: `StatusEventWatcher` on ``events/``: transition events on a bounded
  queue, for `agentdeck wait` and the notifier.

Importing this package does nothing.
"""
