"""agentdeck: one shared pool of MCP servers and a status registry for many agent sessions.

Importing this package has no side effects: gevent's monkey-patching happens in
``run.py`` and in the console-script entry (``agentdeck.entry``), never here.
"""

__version__ = "0.1.0"
