"""An MCP server whose tools/call answers ``arguments.bytes`` bytes of text: a large
answer to a small request, so http_bench.py can measure the answer's path alone."""
import json
import sys


def main():
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        id_ = msg.get("id")
        if id_ is None or "method" not in msg:
            continue
        if msg["method"] == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "big", "version": "1"}}
        elif msg["method"] == "tools/call":
            result = {"content": [{"type": "text", "text": "x" * msg["params"]["arguments"].get("bytes", 0)}]}
        else:
            result = {}
        out.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
