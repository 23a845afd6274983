"""The daemon's lifecycle: start the pool and the status server, handle signals, stop in order."""
