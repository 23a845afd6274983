"""Parse the command line and run one command.

A user's mistake (`UserError`) prints one line to stderr and exits non-zero; a
traceback means a bug in agentdeck.
"""
import argparse
import importlib

from agentdeck import __version__
from agentdeck.errors import exit_status

# Each module registers its subcommands; its heavy imports happen inside the handlers.
COMMAND_MODULES = ("serve", "daemonctl", "bridge", "mcp_commands", "session", "hooks", "wait", "status", "deck")


def common_options():
    """Options every subcommand accepts after its name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="FILE",
                        help="config file (default: $AGENTDECK_CONFIG, ~/.agentdeck/agentdeck.toml, "
                             "else the checkout's conf/agentdeck.toml)")
    return parent


def build_parser():
    parser = argparse.ArgumentParser(prog="agentdeck", description=(
        "Share stdio MCP servers among many agent sessions and track each session's status."))
    parser.add_argument("--version", action="version", version=f"agentdeck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = common_options()
    for name in COMMAND_MODULES:
        importlib.import_module(f"agentdeck.cli.{name}").register(sub, parent)
    return parser


def main(argv=None):
    from agentdeck.logs import logsetup  # not at the top: the bridge's resolver imports `common_options`

    logsetup.setup_command()  # `serve` replaces it with the daemon's sinks
    args = build_parser().parse_args(argv)
    return exit_status(args.func, args)
