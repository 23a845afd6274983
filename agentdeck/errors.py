"""Errors a user can act on: the CLI prints their message as one line, no traceback."""


class UserError(Exception):
    """A mistake the user can fix; ``str(exc)`` says what was wrong and what to do."""

    exit_code = 1


class ConfigError(UserError):
    """The config file is unreadable or invalid; names the file, key and value."""
