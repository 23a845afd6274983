"""`mcp json` / `mcp config` against a real daemon whose status port is chosen at start:
the HTTP entries carry the URL that daemon serves on, and its token."""
import json
import tomllib

from tests.support import DaemonProcess, run_cli, toml_config

TOKEN = "integration-token-0123456789"


def test_http_entries_use_the_port_the_running_daemon_chose(home):
    daemon = DaemonProcess(home, toml_config(home, servers={"time": {"command": "mcp-server-time"}},
                                             daemon={"status_token": TOKEN}))
    try:
        daemon.expect(r"agentdeck .* ready")
        base = daemon.info()["status_url"]
        assert not base.endswith(":0")
        project = json.loads(run_cli(home, "mcp", "json", config=daemon.config_path).stdout)
        assert project["mcpServers"] == {"time": {"type": "http", "url": f"{base}/mcp/time",
                                                  "headers": {"Authorization": f"Bearer {TOKEN}"}}}
        codex = run_cli(home, "mcp", "config", "--client", "codex", config=daemon.config_path)
        assert codex.returncode == 0, codex.stderr
        assert tomllib.loads(codex.stdout) == {"mcp_servers": {"time": {
            "url": f"{base}/mcp/time", "http_headers": {"Authorization": f"Bearer {TOKEN}"}}}}
    finally:
        daemon.stop()
