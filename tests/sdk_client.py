"""Run the official MCP Python SDK as a client: initialize, list tools, call a tool.

Runs in its own process (asyncio), started by the tests with a timeout:
``python tests/sdk_client.py TOOL ARGS_JSON -- COMMAND [ARG...]``. Prints one JSON
line: the server's name, the tool names and the tool's text result.
"""
import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(tool, arguments, command):
    # The SDK starts servers with a minimal environment; pass ours on the way the entries
    # `agentdeck mcp json` writes do (their "env" carries AGENTDECK_HOME).
    env = {key: value for key, value in os.environ.items() if key.startswith("AGENTDECK_")}
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(tool, arguments)
            print(json.dumps({
                "server": init.server_info.name if hasattr(init, "server_info") else init.serverInfo.name,
                "tools": [t.name for t in tools.tools],
                "text": result.content[0].text,
                "is_error": bool(result.is_error if hasattr(result, "is_error") else result.isError),
            }), flush=True)


if __name__ == "__main__":
    split = sys.argv.index("--")
    anyio.run(main, sys.argv[1], json.loads(sys.argv[2]), sys.argv[split + 1:])
