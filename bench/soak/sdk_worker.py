"""One SDK agent for the soak, in its own process (asyncio): the official MCP Python SDK's
``Client`` over streamable HTTP, in one connect MODE (``legacy``: initialize and a
session; ``auto``: server/discover first; ``2026-07-28``: no handshake, no session),
connects again and again until SECONDS pass, each time doing tools/list and a few calls
whose answers it checks. Prints one JSON line of counts.
``python sdk_worker.py URL SECONDS SEED MODE``; the soak may SIGKILL it at any time."""
import json
import random
import sys
import time

import anyio
from mcp import Client
from mcp.shared.exceptions import MCPError

counts = {"sessions": 0, "calls": 0, "ok": 0, "errors": 0, "wrong": 0, "exceptions": 0}


async def one_session(url, rng, mode):
    async with Client(url, mode=mode) as session:
        counts["sessions"] += 1
        counts["protocols"][session.protocol_version] = counts["protocols"].get(session.protocol_version, 0) + 1
        await session.list_tools()
        for _ in range(rng.randint(1, 15)):
            text = f"sdk-{rng.random()}-" + "s" * rng.choice((1, 100, 10000, 300000))
            tool, arguments = ("get_current_time", {"timezone": "UTC"}) if url.endswith("/time") else \
                ("echo", {"text": text})
            counts["calls"] += 1
            try:
                result = await session.call_tool(tool, arguments)
            except MCPError:
                counts["errors"] += 1  # the proxy's -32001 while a fault restarts the server
                continue
            if result.is_error and tool == "get_current_time":
                counts["errors"] += 1
            elif result.content and (result.content[0].text == text or
                                     tool == "get_current_time" and '"UTC"' in result.content[0].text):
                counts["ok"] += 1
            else:
                counts["wrong"] += 1
            await anyio.sleep(rng.uniform(0.05, 1.0))


async def main(url, seconds, seed, mode):
    rng = random.Random(seed)
    counts["protocols"] = {}  # the version each connection spoke (auto: whatever it found)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            await one_session(url, rng, mode)
        except Exception as exc:  # the SDK raises many kinds; count them, go on
            counts["exceptions"] += 1
            counts.setdefault("exception_kinds", {})
            counts["exception_kinds"][type(exc).__name__] = counts["exception_kinds"].get(type(exc).__name__, 0) + 1
            await anyio.sleep(0.5)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
