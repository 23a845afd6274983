"""Launch the daemon: ``python run.py [--config F]`` is ``agentdeck serve``."""
from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from agentdeck.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
