"""Run the official MCP Python SDK's streamable HTTP client: initialize, list tools, call a
tool. Its own process (asyncio), started by the tests with a timeout:
``python tests/sdk_http_client.py URL TOOL ARGS_JSON``. Prints one JSON line: the
server's name, the tool names, the tool's text result and the session id.
"""
import json
import sys

import anyio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url, tool, arguments):
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(tool, arguments)
            print(json.dumps({
                "server": init.server_info.name,
                "protocol": init.protocol_version,
                "tools": [t.name for t in tools.tools],
                "text": result.content[0].text,
                "is_error": bool(result.is_error),
            }), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
