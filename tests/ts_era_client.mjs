// Run the official MCP TypeScript SDK 2.x client in one negotiation mode against an MCP
// Streamable HTTP URL, list the tools and call one.
//   node tests/ts_era_client.mjs PACKAGE_DIR MODE URL TOOL ARGS_JSON
// PACKAGE_DIR is the installed @modelcontextprotocol/client; MODE is legacy, auto or a
// version to pin (2026-07-28). Prints one JSON line: the protocol version in use, the
// server's name, the tool names, the tool's text result.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [packageDir, mode, url, tool, argsJson] = process.argv.slice(2);
const sdk = await import(pathToFileURL(join(packageDir, "dist", "index.mjs")).href);
const negotiation = mode === "legacy" || mode === "auto" ? { mode } : { mode: { pin: mode } };
const client = new sdk.Client({ name: "ts-era-client", version: "1" }, { versionNegotiation: negotiation });
await client.connect(new sdk.StreamableHTTPClientTransport(new URL(url)));
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
