"""Run the official MCP Python SDK 2.x ``Client`` in one connect mode against a stdio
command (the agentdeck bridge), list the tools and call one.

``python tests/sdk_era_client.py MODE TOOL ARGS_JSON [--elicit] [--roots] [--sample] -- COMMAND [ARG...]``
(MODE: ``legacy``, ``auto`` or ``2026-07-28``). ``--elicit``, ``--roots``, ``--sample`` declare those
capabilities (with callbacks that answer them and count the calls). Prints one JSON line:
the protocol version in use, the server's name, the tool names, the tool's text result,
and the requests the server made of this client.
"""
import json
import os
import sys

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters

asked = []


async def elicit(context, params):
    asked.append("elicitation/create")
    return types.ElicitResult(action="accept", content={"name": "ann"})


async def sample(context, params):
    asked.append("sampling/createMessage")
    return types.CreateMessageResult(role="assistant", model="era-model",
                                     content=types.TextContent(type="text", text="sampled by era"))


async def roots(context):
    asked.append("roots/list")
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/era-root", name="era")])


async def main(mode, tool, arguments, options, command):
    env = {key: value for key, value in os.environ.items() if key.startswith("AGENTDECK_")}
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    callbacks = {}
    if "--elicit" in options:
        callbacks["elicitation_callback"] = elicit
    if "--roots" in options:
        callbacks["list_roots_callback"] = roots
    if "--sample" in options:
        callbacks["sampling_callback"] = sample
    async with Client(params, mode=mode, **callbacks) as client:
        tools = await client.list_tools()
        result = await client.call_tool(tool, arguments) if tool else None
        texts = [c.text for c in result.content if getattr(c, "text", None) is not None] if result else []
        print(json.dumps({
            "version": client.protocol_version,
            "server": client.server_info.name if client.server_info else None,
            "tools": sorted(t.name for t in tools.tools),
            "text": "\n".join(texts),
            "is_error": bool(result.is_error) if result else False,
            "asked": asked,
        }), flush=True)


if __name__ == "__main__":
    split = sys.argv.index("--")
    head = sys.argv[1:split]
    anyio.run(main, head[0], head[1], json.loads(head[2]), head[3:], sys.argv[split + 1:])
