"""One MCP SDK client session that must outlive a daemon restart (run by
tests/integration/test_bridge_daemon.py, in its own process).

``python sdk_long_session.py GO_FILE -- COMMAND [ARG...]``: initializes, calls
``get_current_time`` and prints ``{"step": 1, "text": ...}``; waits (at most
`WAIT_FOR_GO` seconds) until GO_FILE exists, calls the tool again on the same session
and prints ``{"step": 2, "text": ...}``. A tool error or a timeout exits non-zero.
"""
import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

WAIT_FOR_GO = 60.0    # seconds
POLL_INTERVAL = 0.05  # seconds between looks for GO_FILE


async def call_and_print(session, step):
    result = await session.call_tool("get_current_time", {"timezone": "UTC"})
    if getattr(result, "is_error", None) or getattr(result, "isError", False):
        raise SystemExit(f"step {step}: tool error: {result.content}")
    print(json.dumps({"step": step, "text": result.content[0].text}), flush=True)


async def main(go_file, command):
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await call_and_print(session, 1)
            with anyio.fail_after(WAIT_FOR_GO):
                while not os.path.exists(go_file):
                    await anyio.sleep(POLL_INTERVAL)
            await call_and_print(session, 2)


if __name__ == "__main__":
    split = sys.argv.index("--")
    anyio.run(main, sys.argv[1], sys.argv[split + 1:])
