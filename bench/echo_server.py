"""The fastest honest MCP server for benchmarks: single thread, answers every request
at once (tools/call echoes its `text` argument, or answers `bytes` of "x"), so the
numbers measure the proxy.

With ``--modern`` it is a 2026-07-28 server: it answers ``server/discover`` (so the pool
speaks to it statelessly), puts ``resultType`` on its results and holds every
``subscriptions/listen`` open without a word (the pool keeps one for each legacy client)."""
import json
import sys

MODERN = "--modern" in sys.argv
DISCOVER = {"resultType": "complete", "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
            "ttlMs": 0, "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "echo", "version": "1"}}}


def main():
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        id_ = msg.get("id")
        if id_ is None or "method" not in msg:
            continue
        method = msg["method"]
        if method == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "echo", "version": "1"}}
        elif method == "tools/call":
            arguments = msg["params"]["arguments"]
            text = "x" * arguments["bytes"] if "bytes" in arguments else arguments.get("text", "")
            result = {"content": [{"type": "text", "text": text}]}
        elif MODERN and method == "server/discover":
            result = DISCOVER
        elif MODERN and method == "subscriptions/listen":
            continue
        else:
            result = {}
        if MODERN:
            result["resultType"] = "complete"
        out.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
