"""One MCP server child process: spawn it in its own process group, pump its stderr
to a rotated log (keeping a short tail for error reports), stop it politely, reap it."""
import fcntl
import os
import shutil
import signal
import subprocess
import sys

import gevent
from gevent.os import make_nonblocking, nb_read
from loguru import logger

REFUSED_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH")  # plus every DYLD_* variable
STDERR_TAIL_BYTES = 2048   # kept for error reports and `mcp list`
STDERR_LINE_MAX = 8192     # a longer stderr "line" is logged in pieces
READ_SIZE = 65536
STOP_GRACE = 5.0           # seconds between SIGTERM and SIGKILL
PIPE_BYTES = 1024 * 1024   # kernel buffer of the child's stdin and stdout pipes


def _refused(key):
    return key in REFUSED_ENV or key.startswith("DYLD_")


def child_env(spec):
    """The environment for a child: ours plus the spec's, minus loader-injection variables."""
    for key in (k for k, _ in spec.env if _refused(k)):
        logger.warning("server {}: env {} refused (it would inject code into the server)", spec.name, key)
    env = {k: v for k, v in os.environ.items() if not _refused(k)}
    env.update((k, v) for k, v in spec.env if not _refused(k))
    return env


def resolve_command(command, env):
    """The executable for ``command``: a path as given, else found on PATH or beside our
    own interpreter (so servers installed in agentdeck's venv are found without activating it)."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    search = os.pathsep.join(filter(None, (env.get("PATH", os.defpath), os.path.dirname(sys.executable))))
    return shutil.which(command, path=search)


def _widen_pipe(fd):
    """Raise a pipe's kernel buffer from 64 KiB so a large message crosses in one write."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # over /proc/sys/fs/pipe-max-size for an unprivileged user: keep the default
        pass


class SpawnError(Exception):
    """The command cannot be run at all (missing, not executable); retrying will not help."""


class MCPChild:
    """A running MCP server process. `stdin_fd`/`stdout_fd` are non-blocking pipe ends
    owned by this object; the caller reads and writes them and must call `close()`."""

    def __init__(self, spec, log):
        self.spec = spec
        self.log = log            # loguru logger bound to this server's stderr log
        self.tail = b""           # last STDERR_TAIL_BYTES of stderr
        env = child_env(spec)
        executable = resolve_command(spec.command, env)
        if executable is None:
            raise SpawnError(f"command {spec.command!r} not found or not executable (PATH={env.get('PATH', '')})")
        stdin_r, self.stdin_fd = os.pipe2(os.O_CLOEXEC)
        self.stdout_fd, stdout_w = os.pipe2(os.O_CLOEXEC)
        stderr_r, stderr_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.popen = subprocess.Popen([executable, *spec.args], stdin=stdin_r, stdout=stdout_w,
                                          stderr=stderr_w, env=env, cwd=getattr(spec, "cwd", "") or None,
                                          start_new_session=True, close_fds=True)
        except OSError as exc:
            for fd in (stdin_r, self.stdin_fd, self.stdout_fd, stdout_w, stderr_r, stderr_w):
                os.close(fd)
            where = f" in {spec.cwd}" if getattr(spec, "cwd", "") else ""
            raise SpawnError(f"cannot run {executable}{where}: {exc.strerror}") from None
        for fd in (stdin_r, stdout_w, stderr_w):
            os.close(fd)
        for fd in (self.stdin_fd, self.stdout_fd, stderr_r):
            make_nonblocking(fd)
        for fd in (self.stdin_fd, self.stdout_fd):
            _widen_pipe(fd)
        self.pid = self.popen.pid
        self.stderr_pump = gevent.spawn(self._pump_stderr, stderr_r)

    def _pump_stderr(self, fd):
        pending = b""
        try:
            while True:
                chunk = nb_read(fd, READ_SIZE)
                if not chunk:
                    break
                self.tail = (self.tail + chunk)[-STDERR_TAIL_BYTES:]
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > STDERR_LINE_MAX:
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    self.log.info(line.decode("utf-8", "replace").rstrip("\r"))
        except OSError as exc:
            logger.debug("server {}: stderr closed: {}", self.spec.name, exc)
        finally:
            if pending:
                self.log.info(pending.decode("utf-8", "replace"))
            os.close(fd)

    def stderr_tail(self):
        return self.tail.decode("utf-8", "replace")

    def wait(self, timeout=None):
        """Block this greenlet until the child exits (it is reaped then); its exit code."""
        return self.popen.wait(timeout)

    @property
    def returncode(self):
        return self.popen.returncode

    def signal_group(self, signum):
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, grace=STOP_GRACE):
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; reaps the child."""
        if self.popen.returncode is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                logger.warning("server {}: pid {} ignored SIGTERM for {:.0f} s, killing its process group",
                               self.spec.name, self.pid, grace)
        # Whatever the leader did, its group may have stragglers.
        self.signal_group(signal.SIGKILL)
        self.popen.wait()

    def close(self):
        """Close our pipe ends (after the child is gone)."""
        for fd in (self.stdin_fd, self.stdout_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stderr_pump.join(timeout=1)
