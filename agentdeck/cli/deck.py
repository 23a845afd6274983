"""`agentdeck deck`, the live terminal view. `agentdeck.entry` runs it before gevent is
imported (`deck.main`, its own parser and --help); it is registered here so that
`agentdeck --help` lists it."""


def register(sub, parent):
    from agentdeck.deck.main import DESCRIPTION
    p = sub.add_parser("deck", parents=[parent], help="the live terminal view of every session (Enter to jump in)",
                       description=DESCRIPTION)
    p.set_defaults(func=run)


def run(args):
    from agentdeck.deck.main import run as run_deck
    return run_deck(args)
