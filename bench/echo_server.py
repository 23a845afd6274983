"""The fastest honest MCP server for benchmarks: single thread, answers every request
at once (tools/call echoes its `text` argument, or answers `bytes` of "x"), so the
numbers measure the proxy."""
import json
import sys


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
        else:
            result = {}
        out.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
