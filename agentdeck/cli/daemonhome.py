"""Where the daemon a command talks to lives (even while the config file is broken), and
which config file it reads.

A config file broken on disk does not stop the daemon (it runs on its last good config,
and a reload says what is wrong), so it must not stop the commands that only read what
the daemon or the registry knows (`status`, `session list`, `wait`) or that ask the
daemon to act (`reload`, `stop`) either: they need only the home and the status token,
which are read from what still parses.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class DaemonAddress:
    home: object          # Path of the home
    status_token: str     # [daemon] status_token, "" when unset or unreadable
    problem: object       # the ConfigError of a config that did not load, else None

    def warn(self):
        """Say on stderr, in one line, that the config is broken and what was used instead."""
        import sys

        if self.problem is not None:
            print(f"agentdeck: note: {self.problem} (a running daemon keeps its last good config; using home "
                  f"{self.home})", file=sys.stderr)


def daemon_address(config_path):
    """The home and status token of the config ``config_path`` (or the default one); when
    it does not load, ``AGENTDECK_HOME`` or its ``[daemon] home`` if the TOML parses, else
    the default home, and its ``status_token`` if that is a string."""
    from agentdeck import config
    from agentdeck.errors import ConfigError
    from agentdeck.paths import DEFAULT_HOME, home_path

    try:
        cfg = config.load_default(config_path)
        return DaemonAddress(cfg.home, cfg.daemon.status_token, None)
    except ConfigError as exc:
        daemon = _daemon_table(config_path or config.default_path())
        home, token = daemon.get("home"), daemon.get("status_token")
        return DaemonAddress(home_path(home if isinstance(home, str) else DEFAULT_HOME),
                             token if isinstance(token, str) else "", exc)


def _daemon_table(path):
    """The ``[daemon]`` table of TOML file ``path``, or {} when it cannot be read."""
    import tomllib

    try:
        with open(path, "rb") as f:
            daemon = tomllib.load(f).get("daemon")
    except (OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        return {}
    return daemon if isinstance(daemon, dict) else {}


def running_daemon(home):
    """The runtime file of the daemon running on ``home`` (a dict), or None."""
    from agentdeck.daemon.remote import DaemonUnreachable, runtime_info

    try:
        return runtime_info(home)
    except DaemonUnreachable:
        return None


def file_to_edit(info):
    """The config file a command that changes the config should write when none is named:
    the one the running daemon (runtime file ``info``, or None) was told to read, unless
    that is the checkout's own; else None (the command's default)."""
    from agentdeck import config

    if not info or not info.get("config_named", True) or not isinstance(info.get("config"), str):
        return None
    return None if info["config"] in ("", str(config.REPO_DEFAULT_CONFIG)) else info["config"]


def serve_advice(target, info):
    """What to do so that the daemon serves what was just written to config file
    ``target``, given the runtime file ``info`` of the running daemon (or None)."""
    from agentdeck import config

    if info is None:
        named = "" if str(target) == str(config.default_path()) else f" --config {target}"
        return f"start the daemon to serve them: `agentdeck serve{named}`"
    # A daemon that was not told which file to read looks again on reload (see `Daemon.reload`).
    reads = info.get("config") if info.get("config_named", True) else str(config.default_path())
    if reads == str(target):
        return "run `agentdeck reload` to serve them"
    return (f"the running daemon (pid {info['pid']}) reads {info.get('config') or 'the built-in defaults'}, not this "
            f"file: to serve them, restart it on this one: `agentdeck stop && agentdeck serve --config {target}`")
