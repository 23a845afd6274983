"""Logging with loguru: the daemon log (stderr + a rotated file) and one rotated log per
MCP server's stderr. Records bound with ``mcp_stderr`` go only to that server's file."""
import sys

from loguru import logger

DAEMON_LOG_ROTATION = "10 MB"
DAEMON_LOG_RETENTION = 5      # rotated files kept
SERVER_LOG_ROTATION = "5 MB"
SERVER_LOG_RETENTION = 3
LINE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}"


def _daemon_record(record):
    return "mcp_stderr" not in record["extra"]


def setup(home, level):
    """Send daemon logs to stderr and to ``logs/daemon.log``; replaces loguru's default sink."""
    logger.remove()
    logger.add(sys.stderr, level=level, format=LINE_FORMAT, filter=_daemon_record, colorize=False)
    logger.add(str(home.logs / "daemon.log"), level=level, format=LINE_FORMAT, filter=_daemon_record,
               rotation=DAEMON_LOG_ROTATION, retention=DAEMON_LOG_RETENTION, encoding="utf-8")


def add_server_log(home, name):
    """A logger whose records go to ``logs/mcp-<name>.log``; returns (logger, sink id)."""
    sink = logger.add(str(home.logs / f"mcp-{name}.log"), format="{time:YYYY-MM-DD HH:mm:ss.SSS} {message}",
                      filter=lambda record: record["extra"].get("mcp_stderr") == name,
                      rotation=SERVER_LOG_ROTATION, retention=SERVER_LOG_RETENTION, encoding="utf-8")
    return logger.bind(mcp_stderr=name), sink


def remove_server_log(sink):
    logger.remove(sink)
