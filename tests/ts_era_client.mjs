// Run the official MCP TypeScript SDK 2.x client in one negotiation mode, list the tools
// and call one:
//   node tests/ts_era_client.mjs PACKAGE_DIR MODE TOOL ARGS_JSON URL
//   node tests/ts_era_client.mjs PACKAGE_DIR MODE TOOL ARGS_JSON -- COMMAND [ARG...]
// over Streamable HTTP to URL, or over stdio to COMMAND (the agentdeck bridge; it gets
// this process's AGENTDECK_* environment). PACKAGE_DIR is the installed
// @modelcontextprotocol/client; MODE is legacy, auto or a version to pin (2026-07-28).
// Prints one JSON line: the protocol version in use, the server's name, the tool names,
// the tool's text result.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [packageDir, mode, tool, argsJson, ...target] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(join(packageDir, "dist", file)).href);
const sdk = await load("index.mjs");
let transport;
if (target[0] === "--") {
  const { StdioClientTransport } = await load("stdio.mjs");
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith("AGENTDECK_")));
  transport = new StdioClientTransport({ command: target[1], args: target.slice(2), env: { ...env, PATH: process.env.PATH } });
} else {
  transport = new sdk.StreamableHTTPClientTransport(new URL(target[0]));
}
const negotiation = mode === "legacy" || mode === "auto" ? { mode } : { mode: { pin: mode } };
const client = new sdk.Client({ name: "ts-era-client", version: "1" }, { versionNegotiation: negotiation });
await client.connect(transport);
const tools = await client.listTools();
const result = await client.callTool({ name: tool, arguments: JSON.parse(argsJson) });
console.log(JSON.stringify({
  version: client.getNegotiatedProtocolVersion() ?? null,
  server: client.getServerVersion()?.name ?? null,
  tools: tools.tools.map((t) => t.name).sort(),
  text: result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n"),
  is_error: Boolean(result.isError),
}));
await client.close();
