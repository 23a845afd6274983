"""Errors a user can act on: the CLI prints their message as one line, no traceback."""
import sys


class UserError(Exception):
    """A mistake the user can fix; ``str(exc)`` says what was wrong and what to do."""

    exit_code = 1


class ConfigError(UserError):
    """The config file is unreadable or invalid; names the file, key and value."""


def exit_status(command, *args):
    """Run ``command(*args)`` for the command line and return the process exit status:
    its own (None is 0), a `UserError`'s after printing its message as one line on stderr,
    130 for Ctrl-C. Anything else propagates (a traceback means a bug in agentdeck)."""
    try:
        return command(*args) or 0
    except UserError as exc:
        print(f"agentdeck: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
