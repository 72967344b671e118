// POST /mcp through the MCP SDK's own client: the handshake in both protocol
// eras, the tools a principal's roles grant, a read and a command that agree
// with REST, and every refusal REST would make (403, 404 out of scope, 400,
// 429) as a tool error carrying the same problem, with nothing written.
import { env } from "cloudflare:workers";
import type { Client } from "@modelcontextprotocol/client";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/client/validators/cf-worker";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { call, eventLog, expectProblem, registerProcedure, tokenFor } from "../helpers";
import { mcpClient, postMcp, refusedProblem } from "../mcp-helpers";

type ToolResult = Awaited<ReturnType<Client["callTool"]>>;

/**
 * The problem a refused tool call carries, as its text: a refusal has no
 * structured content, which the tool's output schema (a success) describes.
 */
function problemOf(result: ToolResult) {
  expect(result.isError).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  return refusedProblem<{ status: number; error_class: string; detail: string; errors?: Array<{ path: string }> }>(result);
}

/** The body of a successful tool call, checked to be the same in its structured and text forms. */
function bodyOf(result: ToolResult) {
  expect(result.isError ?? false, JSON.stringify(result).slice(0, 300)).toBe(false);
  const text = (result.content as Array<{ type: string; text: string }>)[0]!.text;
  expect(JSON.parse(text)).toEqual(result.structuredContent);
  return result.structuredContent as Record<string, any>;
}

const RUN = crypto.randomUUID().slice(0, 8);
let admin: Client;
let id: string;

beforeAll(async () => {
  admin = await mcpClient();
  id = await registerProcedure({ target_asset_ids: [`mcp-in-${RUN}`] });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the handshake", () => {
  it.each(["legacy", "modern"] as const)("initializes in the %s era and names the server and its capabilities", async (era) => {
    const client = await mcpClient(undefined, era);
    expect(client.getServerVersion()).toMatchObject({ name: "procedure-edge" });
    expect(client.getServerCapabilities()).toMatchObject({ tools: {}, resources: {} });
    expect((await client.listTools()).tools.length).toBeGreaterThan(10);
    await client.close();
  });

  it("answers 401 on the HTTP request without a token or with an unknown one, as REST does", async () => {
    const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "0" } } });
    for (const token of [null, "not-a-token"]) {
      const result = await postMcp(initialize, {}, token);
      expect(result.status).toBe(401);
      expect(result.json).toMatchObject({ status: 401, error_class: "Unauthenticated" });
    }
    await expect(mcpClient("not-a-token")).rejects.toThrow();
  });
});

describe("tools/list", () => {
  it("shows a principal only the tools its roles grant", async () => {
    const names = async (token?: string) => (await (await mcpClient(token)).listTools()).tools.map((tool) => tool.name);
    const all = await names();
    const reader = await names(await tokenFor("reader"));
    const gateway = await names(await tokenFor("gateway"));
    expect(all).toEqual(expect.arrayContaining(["register_procedure", "hold_procedure", "append_activities", "create_principal", "read_procedure"]));
    expect(reader).toEqual(expect.arrayContaining(["list_procedures", "read_procedure", "read_procedure_events", "get_me"]));
    expect(reader).not.toContain("register_procedure");
    expect(reader).not.toContain("create_principal");
    expect(gateway.sort()).toEqual(["append_activities", "get_me", "read_manifest", "read_procedure", "read_resume_point"]);
  });

  it("describes each tool's input with its route's path, query, header and body fields, and hints what it does", async () => {
    const { tools } = await admin.listTools();
    const tool = (name: string) => tools.find((t) => t.name === name)!;
    const hold = tool("hold_procedure");
    expect(Object.keys(hold.inputSchema.properties!).sort()).toEqual(["cause", "id", "reason"]);
    expect(hold.inputSchema.required).toEqual(expect.arrayContaining(["id", "reason"]));
    expect(hold.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(tool("register_procedure").inputSchema.properties).toHaveProperty("idempotency_key");
    expect(tool("list_procedures").inputSchema.properties).toHaveProperty("limit", expect.objectContaining({ type: "integer", maximum: 100 }));
    expect(tool("read_procedure").annotations).toMatchObject({ readOnlyHint: true });
    for (const name of ["abort_procedure", "truncate_procedure"]) expect(tool(name).annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(tool("define_pseudoaxis").annotations).toMatchObject({ idempotentHint: true, destructiveHint: false });
    expect(tools.map((t) => t.name)).not.toContain("stream_procedure");
    expect(tools.map((t) => t.name)).not.toContain("issue_stream_ticket");
  });

  it("declares what each call returns, and what calls return satisfies it; a tool answering no JSON object declares nothing", async () => {
    const { tools } = await admin.listTools();
    const outputOf = (name: string) => tools.find((t) => t.name === name)!.outputSchema;
    // A JSON Lines export, and deletions answered 204 with no body.
    expect(tools.filter((t) => t.outputSchema === undefined).map((t) => t.name).sort()).toEqual([
      "delete_subscription",
      "delete_template",
      "export_procedure",
    ]);
    expect(outputOf("read_procedure")).toMatchObject({ type: "object", required: expect.arrayContaining(["procedure_id", "status", "version"]) });

    const validator = new CfWorkerJsonSchemaValidator();
    const satisfies = (name: string, result: ToolResult) => {
      const check = validator.getValidator(outputOf(name)!)(bodyOf(result));
      expect(check.errorMessage, name).toBeUndefined();
      expect(check.valid).toBe(true);
    };
    const procedure = bodyOf(await admin.callTool({ name: "register_procedure", arguments: { name: `mcp out ${RUN}`, kind: "calibration", target_asset_ids: [] } }));
    await admin.callTool({ name: "start_procedure", arguments: { id: procedure.procedure_id } });
    const calls: Array<[string, Record<string, unknown>]> = [
      ["read_procedure", { id: procedure.procedure_id }],
      ["hold_procedure", { id: procedure.procedure_id, reason: "checking the output" }],
      ["read_procedure_events", { id: procedure.procedure_id }],
      ["list_procedures", { limit: 5 }],
      ["create_subscription", { url: "https://hooks.lab.example/procedures", event_types: ["procedure.held"] }],
      ["get_me", {}],
    ];
    for (const [name, args] of calls) satisfies(name, await admin.callTool({ name, arguments: args }));
    // A refusal is an error result carrying the problem, which the output schema does not describe.
    const refused = await admin.callTool({ name: "hold_procedure", arguments: { id: procedure.procedure_id, reason: "again" } });
    expect(problemOf(refused).status).toBe(409);
  });
});

describe("tools/call", () => {
  it("reads: the REST body as structured content and a JSON text copy", async () => {
    const rest = await call(`/v1/procedures/${id}`);
    expect(bodyOf(await admin.callTool({ name: "read_procedure", arguments: { id } }))).toEqual(rest.json);
    const page = bodyOf(await admin.callTool({ name: "read_procedure_events", arguments: { id, limit: 1 } }));
    expect(page.items).toHaveLength(1);
    expect(page.items[0].type).toBe("ProcedureRegistered");
  });

  it("runs a command as the token's principal, with an Idempotency-Key where the route takes one", async () => {
    const operator = await tokenFor("operator");
    const client = await mcpClient(operator);
    const me = (await call("/v1/me", { token: operator })).json;
    const key = crypto.randomUUID();
    const args = { name: `mcp ${RUN}`, kind: "calibration", target_asset_ids: ["asset-1"], idempotency_key: key };
    const first = bodyOf(await client.callTool({ name: "register_procedure", arguments: args }));
    const again = bodyOf(await client.callTool({ name: "register_procedure", arguments: args }));
    expect(again.procedure_id).toBe(first.procedure_id);
    await client.callTool({ name: "start_procedure", arguments: { id: first.procedure_id } });
    const held = bodyOf(await client.callTool({ name: "hold_procedure", arguments: { id: first.procedure_id, reason: "checking the beam" } }));
    expect(held.status).toBe("Held");
    const log = await eventLog(first.procedure_id);
    expect(log.map((e) => e.type)).toEqual(["ProcedureRegistered", "ProcedureStarted", "ProcedureHeld"]);
    expect(log.every((e) => (e as unknown as { principal_id: string }).principal_id === me.principal_id)).toBe(true);
  });

  it("refuses what the principal's roles do not grant with REST's 403 problem, and writes nothing", async () => {
    const reader = await tokenFor("reader");
    const rest = await call(`/v1/procedures/${id}/hold`, { body: { reason: "r" }, token: reader });
    expectProblem(rest, 403, "Forbidden");
    const problem = problemOf(await (await mcpClient(reader)).callTool({ name: "hold_procedure", arguments: { id, reason: "r" } }));
    // The same problem; each names its own request.
    expect(problem).toEqual({ ...rest.json, request_id: expect.any(String) });
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
  });

  it("answers a procedure outside a scoped principal's scopes 404, as if it did not exist, and writes nothing", async () => {
    const scoped = await call("/v1/principals", { body: { name: `mcp scoped ${RUN}`, roles: ["operator"], scopes: { target_asset_ids: [`elsewhere-${RUN}`] } } });
    const client = await mcpClient(scoped.json.token);
    expect(problemOf(await client.callTool({ name: "read_procedure", arguments: { id } }))).toMatchObject({ status: 404, error_class: "ProcedureNotFound" });
    expect(problemOf(await client.callTool({ name: "abort_procedure", arguments: { id, reason: "r" } }))).toMatchObject({ status: 404, error_class: "ProcedureNotFound" });
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
  });

  it("refuses arguments the route's schema refuses with its 400 problem, and writes nothing", async () => {
    const problem = problemOf(await admin.callTool({ name: "hold_procedure", arguments: { id, reason: 5, stray: true } }));
    expect(problem).toMatchObject({ status: 400, error_class: "ValidationFailed" });
    expect(problem.errors!.map((e) => e.path)).toEqual(expect.arrayContaining(["reason"]));
    expect(problemOf(await admin.callTool({ name: "read_procedure", arguments: {} }))).toMatchObject({ status: 400, error_class: "ValidationFailed", errors: [{ path: "id" }] });
    expect(problemOf(await admin.callTool({ name: "read_procedure", arguments: { id: ".." } }))).toMatchObject({ status: 400, error_class: "ValidationFailed" });
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
  });

  it("spends the principal's rate limit like REST: over it, a tool call is REST's 429 and does nothing", async () => {
    const operator = await call("/v1/principals", { body: { name: `mcp limited ${RUN}`, roles: ["operator"] } });
    const client = await mcpClient(operator.json.token);
    const limit = vi.spyOn(env.API_RATE_LIMITER, "limit").mockResolvedValue({ success: false });
    const problem = problemOf(await client.callTool({ name: "hold_procedure", arguments: { id, reason: "r" } }));
    expect(problem).toMatchObject({ status: 429, error_class: "RateLimited" });
    expect(limit).toHaveBeenCalledWith({ key: operator.json.principal_id });
    vi.restoreAllMocks();
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
  });

  it("spends one request of the budget per tool call (the REST request it makes) and per other message", async () => {
    const operator = await call("/v1/principals", { body: { name: `mcp counted ${RUN}`, roles: ["operator"] } });
    const client = await mcpClient(operator.json.token);
    const limit = vi.spyOn(env.API_RATE_LIMITER, "limit");
    bodyOf(await client.callTool({ name: "read_procedure", arguments: { id } }));
    expect(limit).toHaveBeenCalledTimes(1);
    await client.listTools();
    expect(limit).toHaveBeenCalledTimes(2);
    // Over the limit, a message that sends no REST request is refused on the HTTP request, as REST refuses one.
    limit.mockResolvedValue({ success: false });
    const refused = await postMcp(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), {}, operator.json.token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.json).toMatchObject({ status: 429, error_class: "RateLimited" });
  });

  it("answers an unknown tool with a JSON-RPC error", async () => {
    await expect(admin.callTool({ name: "no_such_tool", arguments: {} })).rejects.toThrow(/unknown tool/);
  });
});

describe("resources", () => {
  it("serves each procedure as procedure://{id} and its manifest as procedure://{id}/manifest", async () => {
    const { resourceTemplates } = await admin.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(["procedure://{id}", "procedure://{id}/manifest"]);
    const state = await admin.readResource({ uri: `procedure://${id}` });
    expect(JSON.parse((state.contents[0] as { text: string }).text)).toEqual((await call(`/v1/procedures/${id}`)).json);
    const { resources } = await admin.listResources();
    expect(resources.every((r) => r.uri.startsWith("procedure://"))).toBe(true);
    await expect(admin.readResource({ uri: "file:///etc/passwd" })).rejects.toThrow(/no resource/);
  });

  it("applies the same scope rules: a procedure outside the scopes is not found", async () => {
    const scoped = await call("/v1/principals", { body: { name: `mcp scoped reader ${RUN}`, roles: ["reader"], scopes: { target_asset_ids: [`elsewhere-${RUN}`] } } });
    const client = await mcpClient(scoped.json.token);
    await expect(client.readResource({ uri: `procedure://${id}` })).rejects.toThrow();
    await expect(client.readResource({ uri: `procedure://${id}/manifest` })).rejects.toThrow();
    expect((await client.listResources()).resources.map((r) => r.uri)).not.toContain(`procedure://${id}`);
  });
});

describe("the HTTP endpoint", () => {
  const list = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });

  it("answers malformed JSON-RPC and unknown methods with JSON-RPC errors, never a 5xx", async () => {
    const parse = await postMcp("{not json");
    expect(parse.status).toBe(400);
    expect(parse.json.error.code).toBe(-32700);
    const invalid = await postMcp('"just a string"');
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.code).toBe(-32600);
    const unknown = await postMcp(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "procedures/explode", params: {} }));
    expect(unknown.status).toBeLessThan(500);
    expect(unknown.text).toContain("-32601");
  });

  it("refuses a browser Origin not listed in MCP_ALLOWED_ORIGINS, before authentication", async () => {
    // vitest.config.ts lists https://console.procedure-edge.test.
    for (const origin of ["https://evil.example", "http://procedure-edge.test.evil.example", "null"]) {
      const refused = await postMcp(list, { origin }, null);
      expect(refused.status, origin).toBe(403);
      expect(refused.json).toMatchObject({ status: 403, error_class: "Forbidden" });
    }
    expect((await postMcp(list, { origin: "https://console.procedure-edge.test" })).status).toBe(200);
    // A client that is not a browser sends no Origin.
    expect((await postMcp(list, {})).status).toBe(200);
  });

  it("refuses a Host not listed in MCP_ALLOWED_HOSTS (a DNS-rebound name), before authentication", async () => {
    // vitest.config.ts lists procedure-edge.test, the tests' own host.
    const rebound = await postMcp(list, {}, null, "http://rebound.example/mcp");
    expect(rebound.status).toBe(403);
    expect(rebound.json).toMatchObject({ status: 403, error_class: "Forbidden" });
    const byHeader = await postMcp(list, { host: "rebound.example:8787" });
    expect(byHeader.status).toBe(403);
  });

  it("refuses a body over 1 MiB with 413 before reading it", async () => {
    const huge = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "register_procedure", arguments: { name: "x".repeat(1_100_000) } } });
    const result = await postMcp(huge);
    expect(result.status).toBe(413);
    expect(result.json).toMatchObject({ status: 413, error_class: "PayloadTooLarge" });
  });

  it("has no GET stream: 405 with the methods it allows", async () => {
    const result = await call("/mcp");
    expectProblem(result, 405, "MethodNotAllowed");
    expect(result.headers.get("allow")).toBe("POST");
  });
});
