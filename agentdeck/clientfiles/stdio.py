"""Stdio entries: an agent that speaks only stdio runs ``agentdeck bridge NAME``, which
relays to the pooled server's Unix socket."""
import os
import shutil
import sys
from pathlib import Path

from agentdeck import config


def agentdeck_command():
    """How an agent should start this agentdeck, as argv: the script the user ran, else the
    console script installed beside this interpreter, else the one on PATH, else
    ``python -m agentdeck`` with this interpreter."""
    ran = Path(sys.argv[0])
    if ran.name == "agentdeck" and os.access(ran, os.X_OK):
        return [os.path.abspath(ran)]
    beside = Path(sys.executable).parent / "agentdeck"
    if os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("agentdeck")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "agentdeck"]


def bridge_entries(names, config_path=None):
    """``{NAME: {"command", "args"[, "env"]}}`` for each pooled server name. The choices
    made explicitly here travel with the entry -- ``--config`` (or ``$AGENTDECK_CONFIG``)
    as the bridge's ``--config``, ``$AGENTDECK_HOME`` in its env -- because an agent starts
    the bridge with an environment of its own, and the bridge must find the same sockets."""
    command, *prefix = agentdeck_command()
    config_path = config_path or os.environ.get(config.ENV_CONFIG)
    suffix = ["--config", os.path.abspath(config_path)] if config_path else []
    home = os.environ.get(config.ENV_HOME)
    entries = {}
    for name in names:
        entry = {"command": command, "args": [*prefix, "bridge", name, *suffix]}
        if home:
            entry["env"] = {config.ENV_HOME: os.path.abspath(os.path.expanduser(home))}
        entries[name] = entry
    return entries
