"""`agentdeck deck [--config FILE]`: dispatched by the console entry before gevent is
imported (this process is asyncio's, see the package docstring)."""
import argparse

from agentdeck.errors import exit_status


DESCRIPTION = ("A live terminal view of every session, waiting ones first, fed by the daemon's /events: "
               "Enter jumps into a session, and a key does each action (? lists them).")


def build_parser():
    parser = argparse.ArgumentParser(prog="agentdeck deck", description=DESCRIPTION)
    parser.add_argument("--config", metavar="FILE", help="config file (as for every agentdeck command)")
    return parser


def run(args):
    from agentdeck import config
    from agentdeck.deck.app import DeckApp
    cfg = config.load_default(args.config)
    DeckApp(cfg.home, token=cfg.daemon.status_token, config=args.config).run()
    return 0


def main(argv):
    return exit_status(run, build_parser().parse_args(argv))
