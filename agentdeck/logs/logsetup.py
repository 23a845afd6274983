"""Logging with loguru: the daemon log (stderr + ``logs/daemon.log``) and one log per
MCP server's stderr (``logs/mcp-<name>.log``), each rotated by size with a fixed number
of old files kept, so logs are bounded on disk whatever the uptime.

One event per line: a newline inside a message is written as ``\\n``. With
``[daemon] log_json = true`` the daemon file holds one JSON object per line (time,
level, message and every bound or keyword field such as server, client, session).
Records bound with ``mcp_stderr`` go only to that server's file. No sink can stop the
daemon or block its hub: see `logfile`.

No sink prints the values of variables in a traceback (loguru's ``diagnose``, on by
default, wrote a request's whole environ, its token and headers included, into the log
at every 500), nor frames above the one that caught the exception (``backtrace``).
"""
import json
import os
import sys
import traceback

from loguru import logger

from agentdeck.logs.logfile import LostLines, RotatingFile, Stderr, StderrText

DAEMON_LOG_BYTES = 10 * 1024 * 1024  # one daemon.log file, before it rotates
DAEMON_LOG_BACKUPS = 5                # rotated daemon.log.N files kept: <= 60 MiB on disk
SERVER_LOG_BYTES = 5 * 1024 * 1024   # one mcp-<name>.log file
SERVER_LOG_BACKUPS = 3                # <= 20 MiB per server on disk
TIME_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS}"
PRIVATE_EXTRA = "_line"  # the extra field our formatters fill; never logged as a field

_lost = LostLines()  # lines no sink could write, for /metrics
_level = [0]  # the daemon sinks' level number, set by `setup`
DEBUG_NO = 10  # loguru's DEBUG
_daemon_sinks = []  # loguru ids of the daemon's own sinks, replaced by each `setup`
_files = {}  # loguru sink id -> RotatingFile of every log file open now, for `reopen_files`
_stderr = None  # the process's one `Stderr`, made on first use (`_process_stderr`)
NO_VALUES = {"diagnose": False, "backtrace": False}  # every sink's: tracebacks show code, never data


def _process_stderr():
    """The process's one `Stderr`: one reopened descriptor, and lines dropped before a
    reload are still reported after it."""
    global _stderr
    if _stderr is None:
        _stderr = Stderr(_lost)
    return _stderr


def _daemon_record(record):
    return "mcp_stderr" not in record["extra"]


def _one_line(record):
    record["extra"][PRIVATE_EXTRA] = record["message"].replace("\r", "\\r").replace("\n", "\\n")


def _text_format(record):
    _one_line(record)
    return TIME_FORMAT + " {level: <7} {extra[" + PRIVATE_EXTRA + "]}\n{exception}"


def _server_format(record):
    _one_line(record)
    return TIME_FORMAT + " {extra[" + PRIVATE_EXTRA + "]}\n"


def _json_format(record):
    fields = {"time": record["time"].isoformat(timespec="milliseconds"), "level": record["level"].name,
              "message": record["message"]}
    fields.update((key, value) for key, value in record["extra"].items() if key != PRIVATE_EXTRA)
    if record["exception"] is not None:
        kind, value, tb = record["exception"]
        fields["exception"] = "".join(traceback.format_exception(kind, value, tb))
    record["extra"][PRIVATE_EXTRA] = json.dumps(fields, default=str)
    return "{extra[" + PRIVATE_EXTRA + "]}\n"


def setup(home, level, json_lines=False):
    """Send daemon logs to stderr (text) and ``logs/daemon.log`` (text or JSON lines) at
    ``level``. The first call also removes loguru's default sink; a later call (a reload)
    replaces only the daemon's sinks, so the servers' logs carry on."""
    first = not _daemon_sinks
    _level[0] = logger.level(level).no
    if first:
        logger.remove()
    while _daemon_sinks:
        sink = _daemon_sinks.pop()
        logger.remove(sink)
        _files.pop(sink, None)
    stderr = _process_stderr()
    _daemon_sinks.append(logger.add(stderr, level=level, format=_text_format, filter=_daemon_record,
                                    colorize=False, **NO_VALUES))
    daemon_log = RotatingFile(home.logs / "daemon.log", DAEMON_LOG_BYTES, DAEMON_LOG_BACKUPS, _lost, stderr)
    _daemon_sinks.append(logger.add(daemon_log, level=level, format=_json_format if json_lines else _text_format,
                                    filter=_daemon_record, **NO_VALUES))
    _files[_daemon_sinks[-1]] = daemon_log
    if first and stderr.problem:
        logger.warning(stderr.problem)


def setup_command():
    """For a command other than the daemon: loguru's own stderr sink, as it was, but with
    tracebacks that show no values."""
    logger.remove()
    logger.add(sys.stderr, **NO_VALUES)


def debug_enabled():
    """True when the daemon log takes DEBUG lines: callers skip building what it would drop."""
    return _level[0] <= DEBUG_NO


def guard_stderr():
    """Make ``sys.stderr`` write through the log's `Stderr`, so that nothing printed there (gevent's report of a crashed greenlet, a warning) can block
    the hub. For the daemon process only: it replaces the stream for good."""
    sys.stderr = StderrText(_process_stderr())


def add_server_log(home, name):
    """A logger whose records go to ``logs/mcp-<name>.log``; returns (logger, sink id)."""
    # os.path, not pathlib: a Path interns its parts, and a project child's name is new each time.
    file = RotatingFile(os.path.join(home.logs, f"mcp-{name}.log"), SERVER_LOG_BYTES, SERVER_LOG_BACKUPS, _lost,
                        _process_stderr())
    sink = logger.add(file, format=_server_format, filter=lambda record: record["extra"].get("mcp_stderr") == name,
                      level="INFO", **NO_VALUES)  # the stderr pump logs at INFO; a DEBUG sink would make
                                                  # every debug call in the daemon build a record
    _files[sink] = file
    return logger.bind(mcp_stderr=name), sink


def remove_server_log(sink):
    logger.remove(sink)
    _files.pop(sink, None)


def reopen_files():
    """Close every log file; each opens its path again with its next line, so a file a log
    rotator moved away is left to it and a new one starts."""
    for file in _files.values():
        file.stop()


def lines_lost():
    """Log lines dropped since start because their sink could not write them."""
    return _lost.count
