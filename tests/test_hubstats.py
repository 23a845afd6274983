"""The greenlet count /status reports: it follows greenlets that start and end."""
import gevent
from gevent.event import Event

from agentdeck.daemon.hubstats import greenlet_count


def test_greenlet_count_follows_greenlets_that_start_and_end():
    gevent.sleep(0)  # the hub runs from here on
    before = greenlet_count()
    release = Event()
    waiting = [gevent.spawn(release.wait) for _ in range(5)]
    gevent.sleep(0)  # let them start: a greenlet not yet started is not counted
    assert greenlet_count() == before + 5
    release.set()
    gevent.joinall(waiting, timeout=5)
    assert greenlet_count() == before
