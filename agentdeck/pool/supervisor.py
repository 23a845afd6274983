"""ChildSupervisor: runs one pooled server's child through its states and keeps it healthy.

    STOPPED -> STARTING -> RUNNING -> BACKOFF -> STARTING ... -> FATAL

Each new child is probed and, if legacy, initialized by agentdeck (`handshake`) before
any client traffic. Restarts follow `restart.RestartPolicy`. Its own health monitor
asks the child every ping_interval (``ping`` of a legacy child, ``server/discover`` of a
modern one, which has no ping) and restarts one that does not answer, independently of
every other server's. `stop()` interrupts a back-off at once.
"""
import subprocess
import time

import gevent
from gevent.event import AsyncResult, Event
from loguru import logger

from agentdeck.pool import handshake, states
from agentdeck.pool.child import MCPChild, SpawnError
from agentdeck.protocol import child as protocol_child
from agentdeck.protocol import versions as v
from agentdeck.pool.restart import HEALTHY_RESET, RestartPolicy
from agentdeck.wire.fdread import FdReader
from agentdeck.wire.lines import LineSplitter
from agentdeck.wire.outbox import Outbox

EOF_TIMEOUT = 2.0  # seconds to read a dead child's last output before giving up on it
# Seconds a new child has to write its first line: an interpreter's imports on a busy
# machine, or npx fetching a package, take far longer than answering a ping.
START_TIMEOUT = 30.0
ERROR_LINE_CHARS = 200  # of a failed child's last stderr line in its last_error


class ChildSupervisor:
    """``router`` is the server's `router.Router` (its ``settings`` are the ones in force);
    ``greenlets`` the server's Group, where the supervisor's loops run and die with it."""

    def __init__(self, spec, router, stderr_log, greenlets, crashed):
        self.spec = spec
        self.router = router
        self.stderr_log = stderr_log    # loguru logger for the child's stderr
        self.greenlets = greenlets
        self.crashed = crashed          # link_exception callback: a loop that dies is logged
        self.policy = RestartPolicy()
        self.state = states.STOPPED
        self.state_since = time.time()  # Unix time the current state began, for "time in state"
        self.child = None               # MCPChild while one runs
        self.stdout = None              # LineSplitter of the running child's stdout
        self.last_error = None          # why the child last failed, for status
        self.next_start = None          # Unix time of the next start while backing off; None otherwise
        self.heard = False              # the running child has written a line: it is up
        self.started_at = 0.0           # monotonic time the running child was started
        self.hung_reason = None         # set when we stop a child that stopped answering pings
        self.stopping = Event()         # set by stop(): no more restarts, back-offs end at once
        self.loop = None                # the greenlet running the child through its states
        self.reader = None              # the greenlet reading the running child's stdout

    @property
    def name(self):
        return self.spec.name

    def set_state(self, new):
        states.check_transition(self.state, new)
        logger.debug("server {}: {} -> {}", self.name, self.state, new)
        self.state = new
        self.state_since = time.time()

    def start(self):
        self.loop = self.greenlets.spawn(self._supervise)
        self.loop.link_exception(self.crashed)
        self.greenlets.spawn(self._monitor).link_exception(self.crashed)

    def fail(self, error):
        """Mark the server permanently failed (no restarts until a reload)."""
        self.last_error = error
        if self.state in (states.STARTING, states.BACKOFF, states.STOPPED):
            self.set_state(states.FATAL)
        self.router.detach_child(f"has failed and will not be restarted: {error}")
        logger.error("server {}: failed permanently: {}", self.name, error)

    def stop(self):
        """Stop the child (SIGTERM to its group, SIGKILL after a grace period) and let the
        loop read its last output; a back-off in progress ends at once."""
        self.stopping.set()
        child = self.child
        if child is not None:
            self.set_state(states.STOPPING)
            child.stop()
        if self.loop is not None:
            self.loop.join(timeout=EOF_TIMEOUT + 1)

    def _supervise(self):
        """Run the child, restarting it by the policy, until stop() or a permanent failure."""
        while not self.stopping.is_set():
            delay = self.policy.delay(time.monotonic())
            if delay is None:
                self.set_state(states.FATAL)
                self.router.detach_child(f"has failed {self.policy.failures} times and will not be restarted")
                logger.error("server {}: {} consecutive failures; giving up (last: {})",
                             self.name, self.policy.failures, self.last_error)
                return
            if delay:
                self.router.link.why = f"is restarting (next try in {delay:.0f} s): {self.last_error}"
                self.next_start = time.time() + delay
                if self.stopping.wait(delay):
                    return
                self.next_start = None
            # STOPPED/BACKOFF -> STARTING
            self.set_state(states.STARTING)
            try:
                child = MCPChild(self.spec, self.stderr_log)
            except SpawnError as exc:
                self.fail(str(exc))
                return
            if self.stopping.is_set():  # stop() came while the child was being spawned
                child.stop()
                child.close()
                return
            self.policy.record_start(time.monotonic())
            self.child = child
            self._run(child)
            self.child = None
            if self.stopping.is_set():
                return
            # RUNNING/STARTING -> BACKOFF
            self.policy.record_failure(time.monotonic())
            self.set_state(states.BACKOFF)

    def _run(self, child):
        """Serve through ``child`` until it exits; answers what it left unanswered."""
        outbox = Outbox(child.stdin_fd, lambda exc: None, f"{self.name}/stdin")
        self.heard, self.started_at = False, time.monotonic()
        self.router.attach_child(outbox)
        reader = self.reader = self.greenlets.spawn(self._read_child, child)
        logger.info("server {}: started pid {} ({})", self.name, child.pid,
                    " ".join((self.spec.command, *self.spec.args)))
        # A stop() during the handshake leaves the state STOPPING: the child's late answer
        # must not bring it back to RUNNING.
        ready = self._handshake() and not self.stopping.is_set()
        if ready:
            # STARTING -> RUNNING
            self.set_state(states.RUNNING)
            self.router.release_child()
        # A child that closed its stdout during the handshake is exiting: its exit status
        # and stderr say more than the handshake that failed.
        exited_itself = not ready and self._exits_by_itself(child)
        if not ready and not exited_itself:
            child.stop()
        code = child.wait()
        reader.join(timeout=EOF_TIMEOUT)
        reader.kill()
        outbox.close()
        child.close()
        if self.stopping.is_set():
            return
        tail = child.stderr_tail()
        if self.hung_reason:
            self.last_error, self.hung_reason = self.hung_reason, None
        elif self.state == states.RUNNING or exited_itself:
            self.last_error = exit_error(code, tail)
        unanswered = self.router.detach_child(f"is restarting: it {self.last_error}", tail)
        logger.warning("server {}: pid {} {}; {} in-flight requests answered with -32001; stderr tail: {!r}",
                       self.name, child.pid, self.last_error, unanswered, tail[-300:])

    def _exits_by_itself(self, child):
        """True when ``child`` has closed its stdout and exits within EOF_TIMEOUT."""
        if not self.reader.dead:
            return False
        try:
            child.wait(EOF_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _handshake(self):
        """Probe the new child and initialize it if it is legacy; False (with last_error
        set) when it cannot be spoken to."""
        try:
            info = handshake.run(self._ask, self.router.link.put_now)
        except protocol_child.Incompatible as exc:
            self.last_error = f"cannot be spoken to: {exc}"
            logger.warning("server {}: {}", self.name, self.last_error)
            return False
        logger.info("server {}: speaks MCP {} ({})", self.name, info.version, info.era)
        self.router.child_ready(info)
        return True

    def _ask(self, method, params):
        """The child's reply to a request of ours, or None when none came in time or its
        stdout closed first (it is exiting: no answer will come)."""
        reply = AsyncResult()
        self.router.call_child(method, params, reply.set)
        gevent.wait([reply, self.reader], timeout=self._answer_timeout(), count=1)
        return reply.value if reply.ready() else None

    def _answer_timeout(self):
        """Seconds the child has to answer: ping_timeout once it has written a line, and
        until then what is left of START_TIMEOUT since it started (if that is longer)."""
        ping_timeout = self.router.settings.ping_timeout
        if self.heard:
            return ping_timeout
        return max(ping_timeout, self.started_at + START_TIMEOUT - time.monotonic())

    def _read_child(self, child):
        self.stdout = splitter = LineSplitter(self.router.settings.max_response_bytes)
        router = self.router
        stdout = FdReader(child.stdout_fd)
        try:
            while True:
                data = stdout.read()
                if not data:
                    return
                self.heard = True
                router.from_child(splitter.feed(data))
        except OSError as exc:
            logger.debug("server {}: stdout closed: {}", self.name, exc)
        finally:
            stdout.close()

    def _monitor(self):
        """Ping the child every ping_interval; a child that does not answer is restarted."""
        while True:
            gevent.sleep(self.router.settings.ping_interval)
            self.ping()
            if self.state == states.RUNNING and self.policy.check_healthy(time.monotonic()):
                logger.info("server {}: healthy for {:.0f} s; failure count reset", self.name, HEALTHY_RESET)

    def ping(self):
        """True if the child answered an MCP ping in time (or none runs); a child that did
        not is stopped as hung, and restarted by the loop."""
        child = self.child
        if self.state != states.RUNNING or child is None:
            return True
        reply = AsyncResult()
        info = self.router.eras.child
        if info is not None and info.era == v.MODERN:
            self.router.call_child("server/discover", protocol_child.discover_params(info.version), reply.set)
        else:
            self.router.call_child("ping", on_reply=reply.set)
        timeout = self._answer_timeout()
        try:
            answered = reply.get(timeout=timeout) is not None
        except gevent.Timeout:
            answered = False
        if answered or child is not self.child or child.returncode is not None or self.stopping.is_set():
            return True
        self.hung_reason = f"hung: no answer to a health check within {timeout:.3g} s"
        logger.warning("server {}: pid {} {}; restarting it", self.name, child.pid, self.hung_reason)
        child.stop()
        return False


def exit_error(code, stderr_tail):
    """Why a child ended, for status: its exit status, then its last stderr line, which
    is where a server says why it gives up (``exited with code 3: Error: GITHUB_TOKEN is
    not set``)."""
    error = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
    last = next((line.strip() for line in reversed(stderr_tail.splitlines()) if line.strip()), "")
    if len(last) > ERROR_LINE_CHARS:
        last = last[:ERROR_LINE_CHARS - 1] + "…"
    return f"{error}: {last}" if last else error
