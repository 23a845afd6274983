"""The Unix socket of a pooled server: private, never stolen from a live owner."""
import errno
import os
import socket
import stat

BACKLOG = 128
PROBE_TIMEOUT = 1.0  # seconds to decide whether an existing socket is alive


class SocketInUse(Exception):
    """Another live process (another agentdeck) listens on the path; we leave it alone."""


def _alive(path):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT)
    try:
        probe.connect(path)
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except socket.timeout:
        return True  # somebody holds it, just slowly
    finally:
        probe.close()


def bind_unix(path):
    """A listening socket at ``path`` with mode 0600.

    A stale socket file (nobody listening) is replaced; a live one raises SocketInUse;
    anything that is not a socket is left alone and reported as an OSError.
    """
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise OSError(errno.EEXIST, "exists and is not a socket; remove it", path)
        if _alive(path):
            raise SocketInUse(path)
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # no window in which the socket is world-connectable
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(BACKLOG)
    return sock
