"""Two official-SDK sessions on one pooled server-everything, over the HTTP front door.

    python tests/integration/everything_sessions.py URL FEATURE [quiet|chatty]

Session B keeps the server busy (trigger-long-running-operation, with progress) while
session A makes the server do FEATURE: ``progress``, ``sampling``, ``elicitation``,
``roots`` or ``logging``; ``chatty``, B also makes one echo call after another (and A
asks for CHATTY_REPEATS samplings). Both sessions record everything the server sent them
(callbacks and every notification); one JSON line on stdout reports it. Its own process, because
the SDK runs on asyncio and the tests on gevent; every wait has a deadline.
"""
import json
import sys
import time

import anyio
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

STEP = 15.0          # seconds any one step may take
BUSY_SECONDS = 5     # B's operation; A's whole feature fits in it
BUSY_STEPS = 10
ASKED_WITHIN = 3.0   # seconds for the server's roots/list to reach A once its roots changed
CHATTY_REPEATS = 30  # A's sampling calls while B chatters (4 to 6 of 20 went astray)
A_STEPS = 3          # A's own long-running operation (progress), told apart by its total
A_ROOT = "file:///session-a"
B_ROOT = "file:///session-b"


class Recorder:
    """Everything the server sent one session, with the callbacks that answer it."""

    def __init__(self, name, root):
        self.name, self.root = name, root
        self.events = []           # [kind, detail] in arrival order
        self.progress = []         # (progress, total) through call_tool's progress_callback
        self.roots_asked = anyio.Event()
        self.logged = anyio.Event()
        self.result = None         # text of the tool result this session waited for
        self.done_at = None
        self.echoes = 0            # B's echo calls, when chatty

    async def sampling(self, context, params):
        text = " ".join(getattr(m.content, "text", "") for m in params.messages)
        self.events.append(["sampling", text])
        return types.CreateMessageResult(role="assistant", model=f"model-{self.name}",
                                         content=types.TextContent(type="text", text=f"answer from {self.name}"))

    async def elicitation(self, context, params):
        self.events.append(["elicitation", params.message])
        return types.ElicitResult(action="accept", content={"name": f"session {self.name}", "check": True})

    async def roots(self, context):
        self.events.append(["roots", ""])
        self.roots_asked.set()
        return types.ListRootsResult(roots=[types.Root(uri=self.root, name=f"root of {self.name}")])

    async def logging(self, params):
        self.events.append(["log", str(params.data)])
        self.logged.set()

    async def message(self, message):
        if isinstance(message, Exception):
            self.events.append(["exception", repr(message)])
        elif isinstance(message, types.ProgressNotification):
            self.events.append(["progress", message.params.total])
        elif not isinstance(message, types.LoggingMessageNotification):  # logged by `logging`
            self.events.append(["notification", message.method])

    async def on_progress(self, progress, total, message):
        self.progress.append((progress, total))

    def session(self, read, write):
        return ClientSession(read, write, sampling_callback=self.sampling, elicitation_callback=self.elicitation,
                             list_roots_callback=self.roots, logging_callback=self.logging,
                             message_handler=self.message)

    def report(self):
        return {"events": self.events, "progress": self.progress, "result": self.result, "done_at": self.done_at,
                "echoes": self.echoes}


def text_of(result):
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def busy(url, b, started, chatty):
    """Session B: one long operation with progress (``started`` is set at its first step);
    when ``chatty``, also one echo call after another until that operation ends."""
    async def first_step(progress, total, message):
        await b.on_progress(progress, total, message)
        started.set()

    async def chatter(session):
        while b.done_at is None:
            await session.call_tool("echo", {"message": "B"})
            b.echoes += 1
    async with streamable_http_client(url) as (read, write, *_), b.session(read, write) as session:
        with anyio.fail_after(STEP):
            await session.initialize()
        with anyio.fail_after(BUSY_SECONDS + STEP):
            async with anyio.create_task_group() as group:
                if chatty:
                    group.start_soon(chatter, session)
                result = await session.call_tool("trigger-long-running-operation",
                                                 {"duration": BUSY_SECONDS, "steps": BUSY_STEPS},
                                                 progress_callback=first_step)
                b.result, b.done_at = text_of(result), time.monotonic()


async def cause(url, a, feature, repeat=1):
    """Session A: make the server do ``feature`` for it."""
    async with streamable_http_client(url) as (read, write, *_), a.session(read, write) as session:
        with anyio.fail_after(STEP):
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
        with anyio.fail_after(STEP):
            if feature == "progress":
                result = await session.call_tool("trigger-long-running-operation", {"duration": 1, "steps": A_STEPS},
                                                 progress_callback=a.on_progress)
                a.result = text_of(result)
            elif feature == "sampling":
                texts = [text_of(await session.call_tool("trigger-sampling-request", {"prompt": f"hello from A {i}"}))
                         for i in range(repeat)]
                a.result = "\n".join(texts)
            elif feature == "elicitation":
                a.result = text_of(await session.call_tool("trigger-elicitation-request", {}))
            elif feature == "roots":
                await session.send_roots_list_changed()
                with anyio.move_on_after(ASKED_WITHIN):  # the report says where the request went
                    await a.roots_asked.wait()
                a.result = text_of(await session.call_tool("get-roots-list", {}))
            elif feature == "logging":
                await session.set_logging_level("debug")
                await session.call_tool("toggle-simulated-logging", {})  # on: one line now, one each 5 s
                await a.logged.wait()
                a.result = text_of(await session.call_tool("toggle-simulated-logging", {}))  # off again
            else:
                raise SystemExit(f"unknown feature {feature!r}")
        a.done_at = time.monotonic()
    return sorted(tools)


async def main(url, feature, busy_how="quiet"):
    a, b = Recorder("A", A_ROOT), Recorder("B", B_ROOT)
    report = {}
    started = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(busy, url, b, started, busy_how == "chatty")
        with anyio.fail_after(STEP):
            await started.wait()
        chatty = busy_how == "chatty"
        report["tools"] = await cause(url, a, feature, CHATTY_REPEATS if chatty else 1)
        report["b_busy_when_a_done"] = b.done_at is None
    report.update(a=a.report(), b=b.report())
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
