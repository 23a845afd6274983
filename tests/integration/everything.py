"""@modelcontextprotocol/server-everything, the MCP reference server, from the npm registry.

Installed once with ``npm install --prefix tests/artifacts/node`` (gitignored; `.ci/run`
makes sure node and npm exist) and run with the machine's node as a stdio server. The
tests that need it skip, saying why, only when npm cannot install it.
"""
import shutil
import subprocess

from tests.support import REPO

PACKAGE = "@modelcontextprotocol/server-everything"
NODE_DIR = REPO / "tests" / "artifacts" / "node"
ENTRY = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
INSTALL_TIMEOUT = 300  # seconds


def server_everything():
    """(the server entry for toml_config, None) once installed; (None, why) when it cannot be."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are not installed (`.ci/run` installs them: apt-get install nodejs npm)"
    if not ENTRY.exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", PACKAGE],
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, f"npm install {PACKAGE} took over {INSTALL_TIMEOUT} s"
        if done.returncode != 0 or not ENTRY.exists():
            return None, f"npm install {PACKAGE} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    return {"command": node, "args": [str(ENTRY), "stdio"]}, None
