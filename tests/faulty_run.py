"""``run.py`` with one bug planted: rendering ``/metrics`` raises, as a bug in a page
would. For the test that provokes an internal error on a request carrying secrets and
then looks for them in every log."""
import sys

from gevent import monkey

monkey.patch_all()

from agentdeck.entry import main  # noqa: E402
from agentdeck.web import metrics  # noqa: E402


def render(snapshot):
    return snapshot["no such key"]  # KeyError, deep in a request's stack


metrics.render = render

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
