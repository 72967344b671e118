// MCP clients for the tests: the SDK's own client and transport, talking to the
// Worker through its fetch handler, as any MCP client would over HTTP.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { exports } from "cloudflare:workers";
import { ADMIN_TOKEN } from "./helpers";

export const MCP_URL = "http://procedure-edge.test/mcp";

type Era = "legacy" | "modern";

/** A connected client acting as the token's principal; `modern` negotiates the per-request revision, `legacy` the 2025 handshake. */
export async function mcpClient(token: string = ADMIN_TOKEN, era: Era = "legacy") {
  const client = new Client(
    { name: "procedure-edge-tests", version: "0.0.0" },
    era === "modern" ? { versionNegotiation: { mode: "auto" } } : {},
  );
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    fetch: (input, init) => exports.default.fetch(new Request(input, init)),
  });
  await client.connect(transport);
  return client;
}

/** A raw POST to /mcp (for what a well-behaved client never sends). */
export async function postMcp(body: string, headers: Record<string, string> = {}, token: string | null = ADMIN_TOKEN, url = MCP_URL) {
  const response = await exports.default.fetch(
    new Request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...headers,
      },
      body,
    }),
  );
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  return { status: response.status, headers: response.headers, text, json: type.includes("json") && text ? JSON.parse(text) : undefined };
}

/** The problem document a refused tool call carries as its text (a refusal has no structured content). */
export function refusedProblem<T = Record<string, any>>(result: { content?: unknown }): T {
  return JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as T;
}
