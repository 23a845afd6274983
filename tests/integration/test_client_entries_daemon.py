"""`mcp json` / `mcp config` against a real daemon: the HTTP entries carry the URL that
daemon serves on (its port chosen at start) and its token, and each one answers."""
import json
import os
import tomllib

from tests.mcphttp import McpHttp
from tests.support import DaemonProcess, rmtree, run_cli, scripted, short_tmpdir, toml_config

TOKEN = "integration-token-0123456789"


def test_http_entries_use_the_port_the_running_daemon_chose(home):
    daemon = DaemonProcess(home, toml_config(home, servers={"time": {"command": "mcp-server-time"}},
                                             daemon={"status_token": TOKEN}))
    try:
        daemon.expect(r"agentdeck .* ready")
        base = daemon.info()["status_url"]
        assert not base.endswith(":0")
        project = json.loads(run_cli(home, "mcp", "json", config=daemon.config_path).stdout)
        assert project["mcpServers"] == {"time": {"type": "http", "url": f"{base}/servers/time/mcp",
                                                  "headers": {"Authorization": f"Bearer {TOKEN}"}}}
        codex = run_cli(home, "mcp", "config", "--client", "codex", config=daemon.config_path)
        assert codex.returncode == 0, codex.stderr
        assert tomllib.loads(codex.stdout) == {"mcp_servers": {"time": {
            "url": f"{base}/servers/time/mcp", "http_headers": {"Authorization": f"Bearer {TOKEN}"}}}}
    finally:
        daemon.stop()


def test_every_written_entry_reaches_its_server(start_daemon):
    """What `mcp json --dir` and `mcp config --client X` write answers at the daemon: the
    per-project server at its project's URL, and a user file leaves it out (its URL
    without a project is one the daemon always refuses)."""
    servers = {"time": {"command": "mcp-server-time"}, "s": {**scripted(), "share": "project"}}
    daemon = start_daemon(servers)
    project = short_tmpdir("ad-entries-")
    try:
        written = json.loads(run_cli(daemon.home, "mcp", "json", "--dir", str(project),
                                     config=daemon.config_path).stdout)["mcpServers"]
        urls = {name: entry["url"] for name, entry in written.items()}
        for client, key in (("claude", "url"), ("gemini", "httpUrl")):
            user = run_cli(daemon.home, "mcp", "config", "--client", client, config=daemon.config_path)
            assert user.returncode == 0 and "skipped s: it runs one child per project" in user.stderr
            assert json.loads(user.stdout)["mcpServers"] == {"time": {**({"type": "http"} if client == "claude"
                                                                          else {}), key: urls["time"]}}
        assert sorted(urls) == ["s", "time"] and all(url.endswith("/mcp") for url in urls.values())
        for name, url in urls.items():
            client = McpHttp(url)
            assert client.initialize().json()["result"]["serverInfo"]["name"]
            tools = client.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).json()["result"]["tools"]
            assert tools, name
        whoami = McpHttp(urls["s"])
        whoami.initialize()
        assert whoami.call(2, "whoami").json()["result"]["cwd"] == os.path.realpath(project)
    finally:
        rmtree(project)
