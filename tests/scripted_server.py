"""A small stdio MCP server whose misbehaviour the tests order on demand.

Plain Python and threads, no SDK: it must be able to do things a well-behaved SDK
server never would. Tools (``tools/call`` with ``name`` and ``arguments``):

  echo {text}                 -> the text back
  slow {seconds, text}        -> the text back after a delay (other calls go on meanwhile)
  crash {code}                -> exits at once with that code, after a line on stderr
  huge {bytes}                -> a text result of that many bytes
  progress {steps}            -> that many notifications/progress for the call's token, then done
  roots                       -> asks the client roots/list and returns what it answered
  notify {method, params}     -> sends that notification, then done
  garbage                     -> writes a non-JSON line to stdout, then answers
  stop_reading                -> answers, then never reads stdin again
  hang                        -> answers, then ignores everything (pings too)
  info                        -> {pid, initializes, first (method of the first line it read), subscriptions,
                                  cancelled}
  ping_client                 -> sends the client a ping and returns its answer
  env {name}                  -> the value of that environment variable (or null)
  remember {value}            -> keeps the value in this process (per-process state)
  whoami                      -> {pid, cwd, memory, initializes, argv}: where it runs and what it keeps

``--modern`` makes it a 2026-07-28 server (no initialize: every request must carry the
``_meta`` envelope; ``server/discover``; ``subscriptions/listen``). Its tools/list offers
``ask`` only to a client that declared elicitation (tools by client capability): ``ask``
answers ``input_required`` with an elicitation until the retry brings its answer (and
the same ``requestState``), then ``hello <name>``; ``changed`` sends tools/list_changed
on every listen; ``envelope`` returns its own request's ``_meta``.

Options: ``--id-last`` writes responses with the id as the last member (as the
TypeScript SDK does); ``--exit-at-start N`` exits with code N before reading anything;
``--no-ping`` answers ping with method-not-found; ``--ignore-term`` ignores SIGTERM (its
stop takes the whole grace period); ``--slow-start S`` sleeps S seconds before reading
anything (an interpreter with heavy imports on a busy machine).
"""
import json
import os
import signal
import sys
import threading
import time

ID_LAST = "--id-last" in sys.argv
NO_PING = "--no-ping" in sys.argv
MODERN = "--modern" in sys.argv
V = "io.modelcontextprotocol/"
out_lock = threading.Lock()
state = {"memory": None, "initializes": 0, "subscriptions": [], "cancelled": [], "hung": False, "stop_reading": False,
         "listens": [], "first": None}
client_answers = {}  # our request id -> threading.Event + reply
next_request = [0]


def write(message):
    if ID_LAST and "id" in message:
        message = {k: v for k, v in message.items() if k != "id"} | {"id": message["id"]}
    data = json.dumps(message) + "\n"
    with out_lock:
        sys.stdout.write(data)
        sys.stdout.flush()


def result(id_, value):
    write({"jsonrpc": "2.0", "id": id_, "result": value})


def text(id_, value):
    result(id_, {"content": [{"type": "text", "text": value}], "isError": False,
                 **({"resultType": "complete"} if MODERN else {})})


def ask_client(method, params=None):
    next_request[0] += 1
    rid = f"srv-{next_request[0]}"
    waiter = {"event": threading.Event(), "reply": None}
    client_answers[rid] = waiter
    write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
    waiter["event"].wait(20)
    return waiter["reply"]


def call_tool(id_, name, args, meta):
    if name == "echo":
        text(id_, args.get("text", ""))
    elif name == "slow":
        time.sleep(float(args.get("seconds", 1)))
        text(id_, args.get("text", "slow"))
    elif name == "crash":
        sys.stderr.write("scripted server: crashing on demand\n")
        sys.stderr.flush()
        os._exit(int(args.get("code", 3)))
    elif name == "huge":
        text(id_, "x" * int(args["bytes"]))
    elif name == "progress":
        token = meta.get("progressToken")
        steps = int(args.get("steps", 3))
        for i in range(steps):
            write({"jsonrpc": "2.0", "method": "notifications/progress",
                   "params": {"progressToken": token, "progress": i + 1, "total": steps}})
        text(id_, f"done {steps}")
    elif name == "roots":
        reply = ask_client("roots/list")
        result(id_, {"content": [{"type": "text", "text": json.dumps(reply)}]})
    elif name == "notify":
        write({"jsonrpc": "2.0", "method": args["method"], "params": args.get("params", {})})
        text(id_, "sent")
    elif name == "garbage":
        with out_lock:
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
        text(id_, "after garbage")
    elif name == "stop_reading":
        state["stop_reading"] = True
        text(id_, "no longer reading")
    elif name == "hang":
        text(id_, "hanging")
        state["hung"] = True
    elif name == "ping_client":
        result(id_, {"content": [{"type": "text", "text": json.dumps(ask_client("ping"))}]})
    elif name == "env":
        text(id_, json.dumps(os.environ.get(args["name"])))
    elif name == "remember":
        state["memory"] = args.get("value")
        text(id_, "remembered")
    elif name == "whoami":
        result(id_, {"pid": os.getpid(), "cwd": os.getcwd(), "memory": state["memory"],
                     "initializes": state["initializes"], "argv": sys.argv[1:]})
    elif name == "info":
        result(id_, {"pid": os.getpid(), "initializes": state["initializes"], "first": state["first"],
                     "subscriptions": state["subscriptions"], "cancelled": state["cancelled"]})
    else:
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32602, "message": f"unknown tool {name}"}})


TOOLS = [{"name": n, "description": n, "inputSchema": {"type": "object"}}
         for n in ("echo", "slow", "crash", "huge", "progress", "roots", "notify", "garbage", "stop_reading",
                   "hang", "info", "ping_client", "env", "remember", "whoami")]


def modern(msg):
    """Serve one message as a 2026-07-28 server; False when the legacy code serves it as is."""
    method, id_ = msg.get("method"), msg.get("id")
    params = msg.get("params") or {}
    meta = params.get("_meta") or {}
    if method is None or id_ is None:
        if method == "notifications/cancelled" and params.get("requestId") in state["listens"]:
            rid = params["requestId"]
            state["listens"].remove(rid)
            result(rid, {"resultType": "complete", "_meta": {V + "subscriptionId": rid}})
            return True
        return method is None  # answers to us: none in this era
    if method == "initialize":
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32022, "message": "modern only",
                                                      "data": {"supported": ["2026-07-28"]}}})
    elif V + "protocolVersion" not in meta or not isinstance(meta.get(V + "clientCapabilities"), dict):
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32602, "message": "missing the _meta envelope"}})
    elif method == "server/discover":
        result(id_, {"resultType": "complete", "supportedVersions": ["2026-07-28"], "ttlMs": 0, "cacheScope": "public",
                     "capabilities": {"tools": {"listChanged": True}},
                     "_meta": {V + "serverInfo": {"name": "scripted-modern", "version": "1"}}})
    elif method == "subscriptions/listen":
        state["listens"].append(id_)
        write({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"_meta": {V + "subscriptionId": id_}, "notifications": params.get("notifications", {})}})
    elif method == "tools/list":
        asks = ["ask"] if "elicitation" in meta[V + "clientCapabilities"] else []
        result(id_, {"resultType": "complete", "ttlMs": 0, "cacheScope": "private",
                     "tools": TOOLS + [{"name": n, "description": n, "inputSchema": {"type": "object"}}
                                       for n in asks + ["changed", "envelope"]]})
    elif method == "tools/call" and params.get("name") in ("ask", "changed", "envelope"):
        name = params["name"]
        if name == "envelope":
            result(id_, {"resultType": "complete", "content": [{"type": "text", "text": json.dumps(meta)}]})
        elif name == "changed":
            for rid in state["listens"]:
                write({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                       "params": {"_meta": {V + "subscriptionId": rid}}})
            text(id_, "changed")
        elif params.get("requestState") == "st-1" and "who" in (params.get("inputResponses") or {}):
            answer = params["inputResponses"]["who"]
            result(id_, {"resultType": "complete", "content": [
                {"type": "text", "text": f"hello {(answer.get('content') or {}).get('name', answer.get('action'))}"}]})
        else:
            result(id_, {"resultType": "input_required", "requestState": "st-1", "inputRequests": {"who": {
                "method": "elicitation/create", "params": {"mode": "form", "message": "name?", "requestedSchema": {
                    "type": "object", "properties": {"name": {"type": "string"}}}}}}})
    else:
        return False
    return True


def handle(msg):
    if state["hung"]:
        return
    if state["first"] is None:
        state["first"] = msg.get("method")
    if MODERN and modern(msg):
        return
    method = msg.get("method")
    id_ = msg.get("id")
    if method is None:  # a response to one of our requests
        waiter = client_answers.pop(id_, None)
        if waiter:
            waiter["reply"] = msg
            waiter["event"].set()
        return
    params = msg.get("params") or {}
    if method == "initialize":
        state["initializes"] += 1
        result(id_, {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                     "capabilities": {"tools": {"listChanged": True}, "resources": {"subscribe": True}},
                     "serverInfo": {"name": "scripted", "version": "1"}})
    elif method == "ping":
        if NO_PING:
            write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": "no ping"}})
        else:
            result(id_, {})
    elif method == "tools/list":
        result(id_, {"tools": TOOLS})
    elif method == "tools/call":
        args = params.get("arguments") or {}
        threading.Thread(target=call_tool, args=(id_, params.get("name"), args, params.get("_meta") or {}),
                         daemon=True).start()
    elif method == "resources/subscribe":
        if params.get("uri") not in state["subscriptions"]:  # a set, as in real servers
            state["subscriptions"].append(params.get("uri"))
        result(id_, {})
    elif method == "resources/unsubscribe":
        if params.get("uri") in state["subscriptions"]:
            state["subscriptions"].remove(params.get("uri"))
        result(id_, {})
    elif method == "notifications/cancelled":
        state["cancelled"].append(params.get("requestId"))
    elif id_ is not None:
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": f"no method {method}"}})


def main():
    if "--ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "--exit-at-start" in sys.argv:
        sys.stderr.write("scripted server: exiting at start\n")
        sys.exit(int(sys.argv[sys.argv.index("--exit-at-start") + 1]))
    if "--slow-start" in sys.argv:
        time.sleep(float(sys.argv[sys.argv.index("--slow-start") + 1]))
    for line in sys.stdin.buffer:
        if state["stop_reading"]:
            while True:
                time.sleep(3600)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        handle(msg)


if __name__ == "__main__":
    main()
