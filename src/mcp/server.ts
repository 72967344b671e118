// One MCP server per /mcp request (stateless): tools/list shows the tools the
// principal's roles grant; tools/call and resources/read send the REST request
// each stands for through the same app, so a refusal there is the REST refusal.
// The SDK's low-level Server, not McpServer: the tools arrive as JSON Schemas
// derived from the document, and their arguments are validated by the route's
// own zod schemas, so a bad argument is REST's ValidationFailed problem.
import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError, Server } from "@modelcontextprotocol/server";
import type { CallToolResult, ReadResourceResult, Resource } from "@modelcontextprotocol/server";
import { ProblemError } from "../api/problem";
import { dispatch, requestFor, type AppFetch, type Caller, type RestAnswer } from "./dispatch";
import type { ToolSpec } from "./tools";

export const SERVER_INFO = { name: "procedure-edge", version: "0.1.0" } as const;

/** What one request's server works with. */
export interface McpDeps {
  /** The tools the principal's roles grant, for tools/list. */
  visible: readonly ToolSpec[];
  /** Every tool by name, for tools/call: a call to one the roles do not grant is refused by its route, as over REST. */
  byName: ReadonlyMap<string, ToolSpec>;
  /** Every tool by operationId, for the resources, which are reads of their operations. */
  byOperation: ReadonlyMap<string, ToolSpec>;
  caller: Caller;
  fetch: AppFetch;
}

const isSuccess = (status: number) => status >= 200 && status < 300;

/**
 * A REST answer as a tool result: the body as structured content and as a
 * JSON text copy. A refusal is `isError` with the problem document as its
 * text only: structured content is what the tool's output schema describes,
 * and clients check it against that schema, which describes the success.
 */
export function toolResult(answer: RestAnswer): CallToolResult {
  const content: CallToolResult["content"] = answer.text === "" ? [] : [{ type: "text", text: answer.text }];
  if (!isSuccess(answer.status)) return { content, isError: true };
  const structured = answer.body !== null && typeof answer.body === "object" && !Array.isArray(answer.body);
  return { content, ...(structured ? { structuredContent: answer.body as Record<string, unknown> } : {}) };
}

function refusalAnswer(error: ProblemError, requestId: string): RestAnswer {
  const body = error.body(requestId);
  return { status: error.status, contentType: "application/problem+json", body, text: JSON.stringify(body) };
}

/** Sends a tool call's request; a request that cannot be built (a missing path field) is refused as the route would refuse it. */
async function run(deps: McpDeps, tool: ToolSpec, args: Record<string, unknown>): Promise<RestAnswer> {
  let request: Request;
  try {
    request = requestFor(tool, args, deps.caller);
  } catch (error) {
    if (error instanceof ProblemError) return refusalAnswer(error, deps.caller.requestId);
    throw error;
  }
  return dispatch(deps.fetch, request);
}

const PROCEDURE_URI = /^procedure:\/\/([^/?#]+)(\/manifest)?$/;

/** The resource templates, each the read of one operation. */
const RESOURCE_TEMPLATES = [
  { uriTemplate: "procedure://{id}", name: "procedure", title: "A procedure's state", operationId: "readProcedure" },
  { uriTemplate: "procedure://{id}/manifest", name: "procedure-manifest", title: "A procedure's pinned manifest", operationId: "readManifest" },
] as const;

function operation(deps: McpDeps, operationId: string): ToolSpec {
  const tool = deps.byOperation.get(operationId);
  if (!tool) throw new ProtocolError(ProtocolErrorCode.InternalError, `operation ${operationId} is not served`);
  return tool;
}

/** A refused resource request: a JSON-RPC error carrying the problem document. */
function resourceRefusal(uri: string, answer: RestAnswer): ProtocolError {
  const problem = answer.body as { detail?: string; status?: number };
  if (answer.status === 404) return new ResourceNotFoundError(uri, problem.detail);
  return new ProtocolError(ProtocolErrorCode.InvalidRequest, problem.detail ?? `refused with status ${answer.status}`, answer.body);
}

/** The server for one request. */
export function mcpServer(deps: McpDeps): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {}, resources: {} },
    instructions:
      "procedure-edge: the system of record for lab procedures. Every tool is one operation of the HTTP API (GET /openapi.json), run as the bearer token's principal.",
  });

  server.setRequestHandler("tools/list", () => ({
    tools: deps.visible.map((tool) => ({
      name: tool.name,
      ...(tool.title ? { title: tool.title } : {}),
      description: tool.description,
      inputSchema: tool.inputSchema,
      ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
      annotations: tool.annotations,
    })),
  }));

  server.setRequestHandler("tools/call", async (request) => {
    const tool = deps.byName.get(request.params.name);
    if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown tool: ${request.params.name}`);
    return toolResult(await run(deps, tool, request.params.arguments ?? {}));
  });

  server.setRequestHandler("resources/templates/list", () => ({
    resourceTemplates: RESOURCE_TEMPLATES.map(({ operationId: _operationId, ...template }) => ({ ...template, mimeType: "application/json" })),
  }));

  // The procedures the principal may list, a page at a time: the listing's own cursor is the resource cursor.
  server.setRequestHandler("resources/list", async (request) => {
    const cursor = request.params?.cursor;
    const answer = await run(deps, operation(deps, "listProcedures"), cursor ? { cursor } : {});
    if (!isSuccess(answer.status)) throw resourceRefusal("procedure://", answer);
    const page = answer.body as { items: Array<{ procedure_id: string; name: string; status: string }>; next_cursor: string | null };
    const resources: Resource[] = page.items.map((item) => ({
      uri: `procedure://${item.procedure_id}`,
      name: item.name,
      description: `${item.status} procedure`,
      mimeType: "application/json",
    }));
    return { resources, ...(page.next_cursor ? { nextCursor: page.next_cursor } : {}) };
  });

  server.setRequestHandler("resources/read", async (request): Promise<ReadResourceResult> => {
    const uri = request.params.uri;
    const match = PROCEDURE_URI.exec(uri);
    if (!match) throw new ResourceNotFoundError(uri, `no resource at ${uri}; procedure://{id} and procedure://{id}/manifest are served`);
    const template = RESOURCE_TEMPLATES[match[2] ? 1 : 0];
    let id: string;
    try {
      id = decodeURIComponent(match[1]!);
    } catch {
      throw new ResourceNotFoundError(uri, `${uri} is not a well-formed URI`);
    }
    const answer = await run(deps, operation(deps, template.operationId), { id });
    if (!isSuccess(answer.status)) throw resourceRefusal(uri, answer);
    return { contents: [{ uri, mimeType: "application/json", text: answer.text }] };
  });

  return server;
}
