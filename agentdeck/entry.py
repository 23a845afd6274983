"""Console-script entry.

``agentdeck hook`` runs inside an agent's turn and must start fast, and ``agentdeck
bridge`` runs for as long as an agent session, once per server: both are dispatched
before gevent, Pony or the daemon are imported (the bridge imports only the standard
library). Every other command monkey-patches first, so the code below it can use plain
blocking APIs.
"""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["hook"]:
        from agentdeck.sessions.hook import main as hook_main
        return hook_main(argv[1:])
    if argv[:1] == ["bridge"]:
        from agentdeck.cli.bridge import main as bridge_main
        return bridge_main(argv[1:])
    from gevent import monkey
    monkey.patch_all()
    from agentdeck.cli.main import main as cli_main
    return cli_main(argv)
