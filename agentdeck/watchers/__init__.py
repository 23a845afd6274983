"""Directory watchers: inotify greenlets that never block the gevent hub.

- `dirwatch`: `DirectoryWatch`, one inotify descriptor and one greenlet per directory;
  coalesces bursts, rescans after a queue overflow, re-arms when the directory is
  deleted and made again.

Generic: what the files mean is the business of the package that watches them
(`sessions.statusfiles`, `sessions.statusevents`). Importing this package does nothing.
"""
