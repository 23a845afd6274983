"""Run the official MCP Python SDK's client over Streamable HTTP: connect, list tools, call
a tool (none when TOOL is ""). Its own process (asyncio), started by the tests with a timeout:
``python tests/sdk_http_client.py URL TOOL ARGS_JSON [MODE] [--roots] [--elicit]``.
MODE is the SDK ``Client``'s connect mode: ``legacy`` (the default: the initialize
handshake), ``auto`` (server/discover first, initialize as the fallback) or a version
to pin (``2026-07-28``). ``--roots`` / ``--elicit`` declare those capabilities, with
callbacks that answer them and note that they were asked. Prints one JSON line: the
server's name, the protocol version in use, the tool names, the tool's text result, and
what the server asked of this client.
"""
import json
import sys

import anyio
import mcp_types as types
from mcp import Client

asked = []


async def roots(context):
    asked.append("roots/list")
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/http-root", name="http")])


async def elicit(context, params):
    asked.append("elicitation/create")
    return types.ElicitResult(action="accept", content={"name": "ann"})


async def main(url, tool, arguments, mode, options):
    callbacks = {}
    if "--roots" in options:
        callbacks["list_roots_callback"] = roots
    if "--elicit" in options:
        callbacks["elicitation_callback"] = elicit
    async with Client(url, mode=mode, **callbacks) as client:
        tools = await client.list_tools()
        result = await client.call_tool(tool, arguments) if tool else None
        print(json.dumps({
            "server": client.server_info.name if client.server_info else None,
            "protocol": client.protocol_version,
            "tools": sorted(t.name for t in tools.tools),
            "text": "\n".join(c.text for c in result.content if getattr(c, "text", None) is not None)
            if result else "",
            "is_error": bool(result.is_error) if result else False,
            "asked": asked,
        }), flush=True)


if __name__ == "__main__":
    words = [a for a in sys.argv[4:] if not a.startswith("--")]
    anyio.run(main, sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), words[0] if words else "legacy",
              [a for a in sys.argv[4:] if a.startswith("--")])
