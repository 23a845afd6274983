"""Which instance ids and profile names are safe to use in file and tmux names.

Both end up in paths (``hooks/<id>.json``, ``profiles/<profile>/state.db``), so they
must not be able to point anywhere else. Standard library only: the hook uses it.
"""
from agentdeck.errors import UserError
from agentdeck.paths import NAME_RE

MAX_NAME_CHARS = 64  # keeps hook/event file names and tmux session names short
DEFAULT_PROFILE = "default"


def is_valid_name(value):
    """True for a name of letters, digits, ``_ . -`` that starts with a letter or digit
    and contains no ``..`` (DESIGN.md, "Sessions and status")."""
    return (isinstance(value, str) and len(value) <= MAX_NAME_CHARS
            and NAME_RE.fullmatch(value) is not None and ".." not in value)


def check_name(value, what):
    """``value`` if `is_valid_name`, else a UserError naming it as ``what`` ("profile", "session id")."""
    if not is_valid_name(value):
        raise UserError(f"{what} {value!r} is not valid: use up to {MAX_NAME_CHARS} letters, digits, "
                        "'_', '.' or '-', starting with a letter or digit, without '..'")
    return value
