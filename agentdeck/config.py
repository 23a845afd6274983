"""Configuration: one table of settings, loaded from TOML into read-only objects.

The table (``SETTINGS``) is the single source for defaults, validation, the
sample config (``conf/agentdeck.toml`` is checked against it by a test) and the
help text. Every error names the file, the key, the bad value and what was
expected. Unknown keys are errors. Only the standard library is used here: the
``hook`` command loads the config on its fast path.
"""
import dataclasses
import os
import re
import tomllib
from pathlib import Path

from agentdeck.errors import ConfigError
from agentdeck.netaddr import is_loopback_host, split_host_port
from agentdeck.paths import DEFAULT_HOME, ENV_HOME, NAME_RE, home_path  # noqa: F401  (ENV_HOME: for the CLI)

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
ENV_CONFIG = "AGENTDECK_CONFIG"
MIN_TOKEN_CHARS = 16  # a status token shorter than this is guessable
REPO_DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "agentdeck.toml"
DEFAULT_STATUS_LISTEN = "127.0.0.1:7420"  # not 8420 (agent-deck's web mode), nor the 8000s of dev servers


# -- validators: take the raw TOML value, return the clean one or raise ValueError
#    with a phrase that completes "expected ...".

def _string(value):
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _int_at_least(low):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"a whole number >= {low}")
        return value
    return check


def _seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:  # refuses nan
        raise ValueError("a number of seconds > 0")
    return float(value)


def _names(value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("a list of server names")
    return tuple(value)


def _strings(value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("a list of strings")
    return tuple(value)


def _env(value):
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("a table of string values, like {KEY = \"value\"}")
    return tuple(sorted(value.items()))


SHARES = ("all", "project", "session")


def _share(value):
    if value not in SHARES:
        raise ValueError('one of "all" (one child for everyone), "project" (one per project directory), '
                         '"session" (one per client)')
    return value


def _cwd(value):
    if not isinstance(value, str) or (value and not value.startswith(("/", "~", "{project}"))):
        raise ValueError('"" or a directory: an absolute path, ~/..., or {project}/...')
    return value


def _log_level(value):
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ValueError("one of " + ", ".join(LOG_LEVELS))
    return value.upper()


def _listen(value):
    """``""`` (off) or ``host:port``; a non-loopback host also needs ``status_token`` (see `build`)."""
    if not isinstance(value, str):
        raise ValueError('"host:port" or ""')
    if value == "":
        return value
    try:
        split_host_port(value)
    except ValueError:
        raise ValueError('"host:port" with a port from 0 to 65535, or "" to turn it off') from None
    return value


def is_loopback_listen(value):
    """True for a ``host:port`` whose host is a loopback address or ``localhost``."""
    return is_loopback_host(split_host_port(value)[0])


def _token(value):
    if not isinstance(value, str) or (value and (len(value) < MIN_TOKEN_CHARS or any(c.isspace() for c in value))):
        raise ValueError(f'"" or a secret of at least {MIN_TOKEN_CHARS} characters without spaces')
    return value


@dataclasses.dataclass(frozen=True)
class Setting:
    section: str
    key: str
    default: object
    check: object  # validator: raw value -> clean value, raises ValueError("expected ...")
    help: str


SETTINGS = (
    Setting("daemon", "home", DEFAULT_HOME, _string,
            "where sockets, hook/event files, registries and logs live (AGENTDECK_HOME overrides)"),
    Setting("daemon", "status_listen", DEFAULT_STATUS_LISTEN, _listen,
            'HTTP status address; loopback only unless status_token is set; "" turns it off'),
    Setting("daemon", "status_token", "", _token,
            "secret every HTTP status request must carry (Authorization: Bearer, or ?token=); "
            "required for a non-loopback status_listen"),
    Setting("daemon", "http_connections", 1040, _int_at_least(64), "HTTP connections held at once (40 for pages)"),
    Setting("daemon", "log_level", "INFO", _log_level, "daemon log level (serve --log-level overrides)"),
    Setting("daemon", "log_json", False, _bool, "write logs/daemon.log as JSON lines instead of text"),
    Setting("pool", "enabled", True, _bool, "share MCP servers through Unix sockets"),
    Setting("pool", "pool_all", True, _bool, "pool every [mcp.*] except `exclude`; else only those in `pool`"),
    Setting("pool", "exclude", [], _names, "servers not to pool when pool_all is true"),
    Setting("pool", "pool", [], _names, "servers to pool when pool_all is false"),
    Setting("pool", "max_clients", 100, _int_at_least(1), "clients per MCP server"),
    Setting("pool", "max_request_bytes", 1048576, _int_at_least(1024), "longest client->server line"),
    Setting("pool", "max_response_bytes", 16777216, _int_at_least(1024), "longest server->client line"),
    Setting("pool", "idle_timeout", 600, _seconds,
            "seconds with no traffic and no request in flight before a client is closed"),
    Setting("pool", "client_queue_bytes", 8388608, _int_at_least(4096),
            "unsent bytes queued for one slow client before it is dropped"),
    Setting("pool", "http_session_idle", 86400, _seconds,
            "seconds an HTTP session with no request, stream or call in flight lives (some clients never "
            "initialize again after a 404)"),
    Setting("pool", "http_replay_bytes", 262144, _int_at_least(4096),
            "bytes of recent messages each HTTP session keeps for a client resuming a stream (Last-Event-ID)"),
    Setting("pool", "ping_interval", 30, _seconds, "seconds between health pings to each MCP server"),
    Setting("pool", "ping_timeout", 10, _seconds, "seconds a server may take to answer a ping before it counts as hung"),
    Setting("notify", "command", "", _string,
            'shell command run on a transition into waiting or dead (the event as JSON on stdin); "" is off'),
    Setting("notify", "timeout", 10, _seconds, "seconds the notify command may run before it is killed"),
    Setting("notify", "min_interval", 30, _seconds, "seconds between two notifications for the same session"),
)
SERVER_SETTINGS = (
    Setting("mcp.<name>", "command", None, _string, "the program to run (looked up on PATH)"),
    Setting("mcp.<name>", "args", [], _strings, "its arguments"),
    Setting("mcp.<name>", "env", {}, _env, "extra environment variables ({project} in a value is the project)"),
    Setting("mcp.<name>", "share", "all", _share,
            'who shares one child: "all" (everyone), "project" (the sessions of one project directory), '
            '"session" (nobody: one child per client connection or HTTP session)'),
    Setting("mcp.<name>", "cwd", "", _cwd,
            'the child\'s working directory ({project} is the project); "" is the project for share = "project", '
            "else the home directory"),
    Setting("mcp.<name>", "max_children", 8, _int_at_least(1), "project or session children at once (more: -32003)"),
    Setting("mcp.<name>", "idle_stop", 600, _seconds, "seconds a project child with no client lives"),
)
SECTIONS = ("daemon", "pool", "notify")


def _section_class(section):
    fields = [(s.key, object) for s in SETTINGS if s.section == section]
    return dataclasses.make_dataclass(section.capitalize() + "Settings", fields, frozen=True)


DaemonSettings, PoolSettings, NotifySettings = (_section_class(section) for section in SECTIONS)


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    name: str
    command: str
    args: tuple = ()
    env: tuple = ()  # sorted (key, value) pairs, hashable so specs compare on reload
    share: str = "all"      # "all" | "project" | "session": who shares one child
    cwd: str = ""           # the child's working directory; may hold {project}; "" = the default
    max_children: int = 8   # project or session children at once
    idle_stop: float = 600.0  # seconds a project child with no client is kept

    @property
    def needs_project(self):
        """True when a child cannot run without knowing its client's project directory."""
        return self.share == "project" or any("{project}" in v for v in (self.cwd, *self.args,
                                                                          *(v for _, v in self.env)))

    def bounds_only_differ(self, other):
        """``other`` differs in max_children or idle_stop alone (a reload applies them in place)."""
        bounds = {"max_children": other.max_children, "idle_stop": other.idle_stop}
        return self != other and dataclasses.replace(self, **bounds) == other


@dataclasses.dataclass(frozen=True)
class Config:
    path: str  # the file it came from; "" for built-in defaults
    daemon: object  # DaemonSettings
    pool: object  # PoolSettings
    notify: object  # NotifySettings
    servers: tuple  # ServerSpec for every [mcp.*] table, in file order

    @property
    def home(self):
        return home_path(self.daemon.home)

    def pooled(self):
        """The servers the pool serves, after `enabled`, `pool_all`, `exclude` and `pool`."""
        if not self.pool.enabled:
            return ()
        if self.pool.pool_all:
            return tuple(s for s in self.servers if s.name not in self.pool.exclude)
        return tuple(s for s in self.servers if s.name in self.pool.pool)

    def server(self, name):
        for spec in self.servers:
            if spec.name == name:
                return spec
        return None


def _fail(path, key, value, expected):
    raise ConfigError(f"{path}: {key} = {value!r}: expected {expected}")


def _check_table(path, where, raw, settings, required=None):
    """Validate one TOML table against its rows of the settings table; returns the clean
    values, defaults filled in. ``required`` maps keys that have no default to an example."""
    if not isinstance(raw, dict):
        _fail(path, where, raw, "a table")
    known = {s.key: s for s in settings}
    for key in raw:
        if key not in known:
            _fail(path, f"{where} {key}", raw[key], "one of the keys " + ", ".join(known) + " (unknown key)")
    for key, example in (required or {}).items():
        if key not in raw:
            raise ConfigError(f"{path}: {where} has no {key}: add {key} = {example}")
    values = {}
    for key, setting in known.items():
        value = raw.get(key, setting.default)
        try:
            values[key] = setting.check(value)
        except ValueError as exc:
            _fail(path, f"{where} {key}", value, exc)
    return values


def _build_section(path, section, raw):
    return _check_table(path, f"[{section}]", raw, [s for s in SETTINGS if s.section == section])


def _build_server(path, name, raw):
    where = f"[mcp.{name}]"
    if not NAME_RE.fullmatch(name):
        _fail(path, where, name, "a server name of letters, digits, '_', '.', '-' (starting with a letter or digit)")
    values = _check_table(path, where, raw, SERVER_SETTINGS, required={"command": '"program"'})
    if not values["command"].strip():
        _fail(path, f"{where} command", values["command"], "a program name or path")
    if values["share"] == "all":
        for key, value in (("cwd", values["cwd"]), *((f"args {a!r}", a) for a in values["args"]),
                           *((f"env {k}", v) for k, v in values["env"])):
            if "{project}" in value:
                _fail(path, f"{where} {key}", value, 'no {project}: a share = "all" child serves every project '
                      '(set share = "project")')
    return ServerSpec(name=name, **values)


def build(data, path=""):
    """A Config from parsed TOML ``data``; ``path`` only names the file in errors."""
    where = path or "<config>"
    for key in data:
        if key not in (*SECTIONS, "mcp"):
            _fail(where, f"[{key}]", data[key],
                  "one of the tables [daemon], [pool], [notify], [mcp.NAME] (unknown table)")
    daemon = _build_section(where, "daemon", data.get("daemon", {}))
    pool = _build_section(where, "pool", data.get("pool", {}))
    notify = _build_section(where, "notify", data.get("notify", {}))
    mcp = data.get("mcp", {})
    if not isinstance(mcp, dict):
        _fail(where, "mcp", mcp, "tables [mcp.NAME]")
    servers = tuple(_build_server(where, name, raw) for name, raw in mcp.items())
    listen = daemon["status_listen"]
    if listen and not daemon["status_token"] and not is_loopback_listen(listen):
        _fail(where, "[daemon] status_listen", listen, f"a loopback address such as {DEFAULT_STATUS_LISTEN}, or set "
              "[daemon] status_token so that every request to this address must carry it")
    config = Config(path=path, daemon=DaemonSettings(**daemon), pool=PoolSettings(**pool),
                    notify=NotifySettings(**notify), servers=servers)
    for key in ("exclude", "pool"):
        for name in getattr(config.pool, key):
            if config.server(name) is None:
                _fail(where, f"[pool] {key}", name, "the name of an [mcp.NAME] table")
    return config


def load(path):
    """Read and validate one TOML file; raises ConfigError with a one-line message."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (pass --config FILE or create it)") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied reading the config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib decodes before parsing and lets this through
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start}); save the config file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    return build(data, path)


def default_path():
    """Which file the daemon and the CLI read when no --config is given.

    ``$AGENTDECK_CONFIG``, else ``<home>/agentdeck.toml`` when it exists, else the
    repository's ``conf/agentdeck.toml`` (a checkout run with ``python run.py``).
    """
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    candidate = home_path() / "agentdeck.toml"
    if candidate.exists() or not REPO_DEFAULT_CONFIG.exists():
        return candidate
    return REPO_DEFAULT_CONFIG


def load_default(path=None):
    """The config for a CLI command: ``path`` if given, else `default_path()`;
    built-in defaults when no file exists at the implicit location."""
    if path:
        return load(path)
    implicit = default_path()
    if not implicit.exists() and not os.environ.get(ENV_CONFIG):
        return build({}, "")
    return load(implicit)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + _TOML_ESCAPE.sub(_toml_escape, value) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


# What a TOML basic string may not hold raw: quote, backslash, control characters but tab.
_TOML_ESCAPE = re.compile(r'[\\"\x00-\x08\x0a-\x1f\x7f]')


def _toml_escape(match):
    char = match.group()
    return {"\\": "\\\\", '"': '\\"', "\n": "\\n"}.get(char) or f"\\u{ord(char):04x}"


def _toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def server_toml(name, command, args=(), env=None, **more):
    """A ``[mcp.NAME]`` table as TOML text, for `mcp import`; ``more`` are other keys of
    SERVER_SETTINGS (share, cwd, ...)."""
    lines = [f"[mcp.{_toml_key(name)}]", f"command = {_toml_value(command)}", f"args = {_toml_value(list(args))}",
             f"env = {_toml_value(dict(env or {}))}"] + [f"{k} = {_toml_value(v)}" for k, v in more.items()]
    return "\n".join(lines) + "\n"


def sample():
    """The default config as TOML, with each setting's help as a comment."""
    out = []
    for section in SECTIONS:
        out.append(f"[{section}]")
        for s in (s for s in SETTINGS if s.section == section):
            out.append(f"{s.key} = {_toml_value(s.default)}  # {s.help}")
        out.append("")
    out.append(server_toml("time", "mcp-server-time"))
    return "\n".join(out)
