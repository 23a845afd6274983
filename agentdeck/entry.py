"""Console-script entry.

``agentdeck hook`` runs inside an agent's turn and must start fast, and ``agentdeck
bridge`` runs for as long as an agent session, once per server: both are dispatched
before gevent, Pony or the daemon are imported (the bridge imports only the standard
library), and so is ``agentdeck deck``, which runs on asyncio. Every other command monkey-patches first, so the code below it can use plain
blocking APIs.

Whatever the command, a Ctrl-C before it has its own handling (while modules load) and a
reader that closes our output early (``agentdeck status --json | head -1``) end it
quietly, with the exit status a shell would report, never with a traceback.
"""
import os
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what `cmd | head -1` reports for a C program


def main(argv=None):
    try:
        status = dispatch(sys.argv[1:] if argv is None else list(argv))
        sys.stdout.flush()  # a reader that left fails the last write here, not in the interpreter's exit
        return status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Nothing more can reach the reader; point stdout at /dev/null so that the
        # interpreter's own flush at exit does not print the error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def dispatch(argv):
    if argv[:1] == ["serve"]:
        hold_daemon_signals()
    if argv[:1] == ["hook"] and not {"-h", "--help"} & set(argv[1:]):
        from agentdeck.sessions.hook import main as hook_main
        return hook_main(argv[1:])
    if argv[:1] == ["deck"]:  # an asyncio (Textual) process: never gevent
        from agentdeck.deck.main import main as deck_main
        return deck_main(argv[1:])
    if argv[:1] == ["bridge"]:
        from agentdeck.cli.bridge import main as bridge_main
        return bridge_main(argv[1:])
    from gevent import get_hub, monkey
    monkey.patch_all()
    # A Ctrl-C that lands while the hub runs (a command waiting) still reaches the command
    # as KeyboardInterrupt (exit 130); the hub would print it first.
    hub = get_hub()
    hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
    from agentdeck.cli.main import main as cli_main
    return cli_main(argv)


def hold_daemon_signals():
    """Keep the signals the daemon handles pending until its handlers are in place (it
    unblocks them then): a Ctrl-C while its modules load stops it in order once it has
    started, instead of raising KeyboardInterrupt wherever the import happens to be (Python
    even swallows it inside some import callbacks, and the daemon then runs on), and a
    SIGHUP or SIGUSR1 sent that early does not end it."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,
                                              signal.SIGUSR2})
