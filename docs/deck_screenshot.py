"""Make docs/deck.svg and docs/deck.png, the README's picture of the deck:
`.venv/bin/python docs/deck_screenshot.py` (needs tmux; chromium for the PNG).

A temporary home with a private tmux server, a real daemon, six real sessions told by
real hooks what they do, and the deck under Textual's headless pilot saving its screen.
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
FAKE_AGENT = """#!/bin/sh
[ "$1" = --screen ] && exec sh "$(dirname "$0")/screen.sh"
printf '\\033[1m%s\\033[0m ready\\n' "$(basename "$0")"
exec sleep 3600
"""
SESSIONS = [  # (title, project, command, hook event, prompt)
    ("api migration", "billing", "claude", "PermissionRequest", "move the invoice endpoints to the v2 client"),
    ("flaky tests", "billing", "claude", "Stop", "find out why test_refund_race fails one run in ten"),
    ("refactor parser", "compiler", "codex", "UserPromptSubmit", "split the expression parser into a Pratt parser"),
    ("docs pass", "website", "gemini", "UserPromptSubmit", "rewrite the getting-started page for the new CLI"),
    ("scratch shell", "compiler", "", "", ""),
    ("spike: caching", "website", "sh -c 'sleep 1; exit 1'", "", ""),
]
AGENT_SCREEN = r"""printf '\033[1m> move the invoice endpoints to the v2 client\033[0m\n\n'
printf 'I will switch billing/invoices.py to the v2 client and update the tests.\n\n'
printf '\033[33m  Edit billing/invoices.py\033[0m\n'
printf '    - from billing.client import Client\n    + from billing.v2 import Client\n\n'
printf '\033[1mDo you want to make this edit to invoices.py?\033[0m\n'
printf '  \033[36m> 1. Yes\033[0m\n    2. Yes, and allow edits this session\n    3. No, tell Claude what to do\n'
sleep 3600"""


def main():
    home = Path(tempfile.mkdtemp(prefix="dks-", dir="/tmp"))
    bin_dir = home / "bin"  # stand-ins named like the agents, so each row shows its tool
    bin_dir.mkdir()
    for tool in ("claude", "codex", "gemini"):
        (bin_dir / tool).write_text(FAKE_AGENT)
        (bin_dir / tool).chmod(0o755)
    (bin_dir / "screen.sh").write_text(AGENT_SCREEN)
    env = {**{k: v for k, v in os.environ.items() if k != "TMUX"}, "AGENTDECK_HOME": str(home),
           "AGENTDECK_TMUX_SOCKET": str(home / "tmux.sock"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    os.environ.update(AGENTDECK_HOME=env["AGENTDECK_HOME"], AGENTDECK_TMUX_SOCKET=env["AGENTDECK_TMUX_SOCKET"])
    os.environ.pop("TMUX", None)
    config = home / "agentdeck.toml"
    config.write_text(f'[daemon]\nhome = "{home}"\nstatus_listen = "127.0.0.1:0"\n\n'
                      f'[mcp.time]\ncommand = "{shutil.which("mcp-server-time") or "mcp-server-time"}"\n')
    daemon = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(config)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (home / "daemon.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for title, project, command, event, prompt in SESSIONS:
            path = home / project
            path.mkdir(exist_ok=True)
            script = "claude --screen" if title == "api migration" else command or ""
            proc = subprocess.run([sys.executable, "-m", "agentdeck", "session", "add", str(path), "--title", title,
                                   "--cmd", script, "--config", str(config)], env=env, capture_output=True,
                                  text=True, timeout=60)
            instance = proc.stdout.strip()
            for hook in (("UserPromptSubmit", event) if event else ()):
                subprocess.run([sys.executable, "-m", "agentdeck", "hook"],
                               env={**env, "AGENTDECK_INSTANCE_ID": instance},
                               input=json.dumps({"hook_event_name": hook, "session_id": "s", "prompt": prompt}),
                               text=True, timeout=30)
            time.sleep(0.7)  # different ages
        asyncio.run(shoot(home, config))
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        subprocess.run(["tmux", "-S", env["AGENTDECK_TMUX_SOCKET"], "kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


async def shoot(home, config):
    from agentdeck.deck.app import DeckApp
    app = DeckApp(home, config=str(config))
    async with app.run_test(size=(118, 30)) as pilot:
        deadline = time.monotonic() + 60
        while not (app.daemon_pid and len(app.table.order) == len(SESSIONS)
                   and "invoice" in str(app.preview.content)):
            if time.monotonic() > deadline:
                raise SystemExit("the deck did not show every session within 60 s")
            await pilot.pause(0.2)
        await pilot.pause(4.0)  # the dead one's exit status, the ages
        app.save_screenshot(str(DOCS / "deck.svg"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={DOCS / 'deck.png'}", "--window-size=1240,760",
                        (DOCS / "deck.svg").as_uri()], capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
