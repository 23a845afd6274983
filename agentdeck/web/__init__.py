"""The loopback HTTP status server: /status JSON (and, later, metrics and a page)."""
