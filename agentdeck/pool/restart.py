"""When a crashed MCP server may start again (supervisor-style back-off).

Pure bookkeeping on timestamps passed in by the caller, so the policy is tested with a
clock of the test's choosing.
"""
import collections

MIN_INTERVAL = 5.0      # seconds between two starts
WINDOW = 60.0           # seconds over which starts are counted
MAX_STARTS_PER_WINDOW = 3
MAX_FAILURES = 10       # consecutive failures before the server is marked failed for good
HEALTHY_RESET = 300.0   # seconds of uninterrupted running that forgive earlier failures


class RestartPolicy:
    def __init__(self):
        self.starts = collections.deque(maxlen=MAX_STARTS_PER_WINDOW)  # recent start times
        self.failures = 0       # consecutive failures since the last healthy period
        self.restarts = 0       # starts after the first one, for status and metrics
        self.running_since = None  # start time of the current run; None while not running
        self.started = False    # started at least once (`starts` is cleared by a healthy period)

    def record_start(self, now):
        if self.started:
            self.restarts += 1
        self.started = True
        self.starts.append(now)
        self.running_since = now

    def record_failure(self, now):
        """The child exited unexpectedly, hung, or could not start."""
        self.failures += 1
        self.running_since = None

    def check_healthy(self, now):
        """Forget past failures once the current run has lasted HEALTHY_RESET seconds."""
        if self.running_since is not None and self.failures and now - self.running_since >= HEALTHY_RESET:
            self.failures = 0
            self.starts.clear()
            return True
        return False

    def delay(self, now):
        """Seconds to wait before the next start, or None once the server is given up on."""
        if self.failures >= MAX_FAILURES:
            return None
        if not self.starts:
            return 0.0
        wait = self.starts[-1] + MIN_INTERVAL - now
        if len(self.starts) == MAX_STARTS_PER_WINDOW:
            wait = max(wait, self.starts[0] + WINDOW - now)
        return max(0.0, wait)
