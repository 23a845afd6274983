"""The daemon's open-file limit, raised to what its configuration can hold open at once.

Most systems start a process with a soft RLIMIT_NOFILE of 1024, under the default 1,040
HTTP connections alone: past it every accept fails (EMFILE) and the listener looks dead.
"""
import resource

from loguru import logger

SPARE_FDS = 256  # logs, databases, inotify, the control socket, children's pipes


def files_needed(config):
    """Descriptors the configuration may hold at once: every HTTP connection, every
    socket client of every pooled server, and a spare for the rest."""
    http = config.daemon.http_connections if config.daemon.status_listen else 0
    return http + config.pool.max_clients * len(config.pooled()) + SPARE_FDS


def raise_open_files(needed):
    """Lift the soft limit to ``needed`` (never above the hard limit, never lower than it
    was); a warning names both when the hard limit is too low. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < needed:
        logger.warning("open files: the limit is {} but the configuration may hold {} at once "
                       "(raise the hard limit, `ulimit -Hn`, or lower [daemon] http_connections)", soft, needed)
    return soft
