"""One long-lived greenlet that runs every call against one database, in order.

Pony ORM keeps one database connection per thread, and with gevent's monkey-patching
a thread is a greenlet: calling Pony from a greenlet per request would open a SQLite
connection per greenlet. Funnelling every call through a `DatabaseWorker` keeps one
connection per database however many greenlets use it.
"""
import sys

import gevent
from gevent.event import AsyncResult
from gevent.queue import Queue

from agentdeck.errors import UserError

CALL_TIMEOUT = 30.0  # seconds a caller waits for its call to run (a call waits up to 5 s for a lock)
STOP_TIMEOUT = 10.0  # seconds `stop` waits for the queued calls to finish


class DatabaseWorker:
    """Runs callables in its greenlet; started by the first `call`, ended by `stop`.

    ``on_stop`` runs in the worker greenlet as its last act (Pony closes a connection
    only from the greenlet that opened it). A job must not `call` its own worker: it
    would wait for itself until CALL_TIMEOUT.
    """

    def __init__(self, name, on_stop):
        self.name = name  # for error messages: what the database is
        self._on_stop = on_stop
        self._jobs = None  # Queue of (callable, args, AsyncResult) while running; None when stopped
        self._greenlet = None  # the worker while running

    def call(self, fn, *args):
        """``fn(*args)`` run in the worker; returns its result or raises its exception."""
        if self._greenlet is None:
            self._jobs = Queue()
            self._greenlet = gevent.spawn(self._run, self._jobs)
        result = AsyncResult()
        self._jobs.put((fn, args, result))
        try:
            return result.get(timeout=CALL_TIMEOUT)
        except gevent.Timeout:
            raise UserError(f"{self.name}: the database did not answer within {CALL_TIMEOUT:g} s "
                            "(another process may hold it locked)") from None
        finally:
            del result  # the exception's traceback holds this frame: no cycle through the result

    def stop(self):
        """Let the queued calls finish, run ``on_stop`` and end the greenlet (idempotent).

        A `call` made while it stops starts a fresh worker (and connection)."""
        if self._greenlet is None:
            return
        greenlet, self._greenlet = self._greenlet, None
        self._jobs.put(StopIteration)
        self._jobs = None
        greenlet.join(timeout=STOP_TIMEOUT)
        if not greenlet.dead:
            greenlet.kill(block=True, timeout=STOP_TIMEOUT)

    def _run(self, jobs):
        try:
            while self._serve(jobs.get()):
                pass
        finally:
            self._on_stop()

    @staticmethod
    def _serve(job):
        """Run one job; False for the stop marker. A function of its own so nothing of a
        finished job stays referenced while the worker waits for the next."""
        if job is StopIteration:
            return False
        fn, args, result = job
        try:
            result.set(fn(*args))
        except Exception as exc:  # the caller gets it; the worker serves the next call
            result.set_exception(exc, sys.exc_info())
        del job, result  # the exception's traceback holds this frame: no cycle through the result
        return True
