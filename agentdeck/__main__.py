"""``python -m agentdeck``: the same entry as the console script."""
import sys

from agentdeck.entry import main

sys.exit(main())
