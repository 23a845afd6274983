"""Launch the daemon: ``python run.py [--config F]`` is ``agentdeck serve``.

`agentdeck.entry` monkey-patches before anything else is imported (it imports only
``os`` and ``sys`` itself), and holds the daemon's signals until its handlers are in
place.
"""
import sys

from agentdeck.entry import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
