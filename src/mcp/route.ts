// POST /mcp: the Model Context Protocol over Streamable HTTP, stateless, on the
// app that serves /v1. The SDK's handler speaks the protocol (both the current
// per-request revision and the 2025 stateless one); this module checks where a
// request comes from, authenticates it as REST does, and hands each request a
// server that knows the principal's tools.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createMcpHandler, validateHostHeader, validateOriginHeader } from "@modelcontextprotocol/server";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { isAuthorized, type CommandName } from "../auth/grants";
import { MAX_BODY_BYTES } from "../api/app";
import { authenticate, commandsRequiredBy } from "../api/auth";
import type { AppEnv } from "../api/context";
import { ProblemError } from "../api/problem";
import { spendRequest } from "../api/rate-limit";
import { OPENAPI_INFO } from "../api/reference";
import { mcpServer, type McpDeps } from "./server";
import { deriveTools, type ToolSpec } from "./tools";
import { logLine } from "../observability/log";

export const MCP_PATH = "/mcp";

/** A tool and the command its route requires (none: any authenticated principal may call it). */
export interface CatalogTool extends ToolSpec {
  /** The commands its route requires (all of them); empty when the route names none. */
  commands: readonly CommandName[];
}

export interface Catalog {
  tools: CatalogTool[];
  byName: Map<string, CatalogTool>;
  byOperation: Map<string, CatalogTool>;
}

/** Hono's router lists a sub-app's handler wrapped when the sub-app has its own error handler; this is the key to the original. */
const COMPOSED_HANDLER = "__COMPOSED_HANDLER";

/** The commands each route requires, read from the `requires` middleware it was declared with. */
function commandsByRoute(app: OpenAPIHono<AppEnv>): Map<string, readonly CommandName[]> {
  const commands = new Map<string, readonly CommandName[]>();
  for (const { method, path, handler } of app.routes) {
    if (method === "ALL") continue;
    const original = (handler as unknown as Record<string, unknown>)[COMPOSED_HANDLER];
    const required = commandsRequiredBy(handler) ?? (typeof original === "function" ? commandsRequiredBy(original) : undefined);
    if (required) commands.set(`${method} ${path.replace(/:([^/]+)/g, "{$1}")}`, required);
  }
  return commands;
}

/** Every tool of the app's document with the command its route requires. */
export function buildCatalog(app: OpenAPIHono<AppEnv>): Catalog {
  const commands = commandsByRoute(app);
  const tools = deriveTools(app.getOpenAPI31Document(OPENAPI_INFO) as never).map((tool) => ({
    ...tool,
    commands: commands.get(`${tool.method} ${tool.path}`) ?? [],
  }));
  return {
    tools,
    byName: new Map(tools.map((tool) => [tool.name, tool])),
    byOperation: new Map(tools.map((tool) => [tool.operationId, tool])),
  };
}

/** The tools a principal's roles grant. */
export function visibleTools(catalog: Catalog, principal: Parameters<typeof isAuthorized>[0]): CatalogTool[] {
  return catalog.tools.filter((tool) => tool.commands.every((command) => isAuthorized(principal, command)));
}

/**
 * The checks the MCP transport specification asks for against DNS rebinding: a
 * browser's Origin must be listed, and the Host must be one the deployment
 * names (when it names any). A request with no Origin is not a browser's.
 */
const fromAllowedPlace = createMiddleware<AppEnv>(async (c, next) => {
  const { allowedOrigins, allowedHosts } = c.var.config.mcp;
  if (allowedHosts.length > 0) {
    const host = validateHostHeader(c.req.header("host") ?? new URL(c.req.url).host, allowedHosts);
    if (!host.ok) throw new ProblemError("Forbidden", `${host.message}: /mcp does not answer to this host`);
  }
  const origin = validateOriginHeader(c.req.header("origin"), allowedOrigins);
  if (!origin.ok) throw new ProblemError("Forbidden", `${origin.message}: this origin may not call /mcp (MCP_ALLOWED_ORIGINS)`);
  await next();
});

/** The methods whose handlers send REST requests through the app, each spending the budget of its route. */
const DISPATCHING_METHODS = new Set(["tools/call", "resources/read", "resources/list"]);

/** True when the body is one JSON-RPC request (or a batch of them) that only dispatches. */
function dispatchesOnly(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.length > 0 && messages.every((message) => DISPATCHING_METHODS.has((message as { method?: unknown } | null)?.method as string));
}

/** Mounts POST /mcp on the app that owns every route; call it after the routes are mounted. */
export function mountMcp(app: OpenAPIHono<AppEnv>) {
  // Built on first use, once per isolate: the document is the same for every request.
  let catalog: Catalog | undefined;
  // One handler per isolate; the server it makes per request is the request's
  // own, built from what the request's authentication found (handed over as
  // the SDK's pass-through authInfo).
  const handler = createMcpHandler(({ authInfo }) => mcpServer(authInfo!.extra!.deps as McpDeps), {
    maxRequestBodySize: MAX_BODY_BYTES,
    // Mostly a client's malformed request, already answered with its JSON-RPC error.
    onerror: (error) => logLine("warn", { msg: "mcp request not served", error: error.message }),
  });
  app.use(MCP_PATH, fromAllowedPlace);
  app.use(MCP_PATH, authenticate);
  app.use(
    MCP_PATH,
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ProblemError("PayloadTooLarge", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.post(MCP_PATH, async (c) => {
    // Read once here (a malformed body is left for the SDK to answer as JSON-RPC).
    let parsedBody: unknown;
    try {
      parsedBody = JSON.parse(await c.req.raw.clone().text());
    } catch {
      parsedBody = undefined;
    }
    // A tool call or a resource read spends the budget of the REST request it
    // sends; any other message (initialize, tools/list, ...) spends one of its own.
    if (!dispatchesOnly(parsedBody)) await spendRequest(c, "POST", MCP_PATH);
    catalog ??= buildCatalog(app);
    const principal = c.var.principal;
    const authorization = c.req.header("authorization")!;
    const deps: McpDeps = {
      visible: visibleTools(catalog, principal),
      byName: catalog.byName,
      byOperation: catalog.byOperation,
      caller: { origin: new URL(c.req.url).origin, authorization, requestId: c.var.request_id },
      fetch: (request) => Promise.resolve(app.fetch(request, c.env, c.executionCtx)),
    };
    return handler.fetch(c.req.raw, { ...(parsedBody === undefined ? {} : { parsedBody }), authInfo: { token: authorization, clientId: principal.principal_id, scopes: principal.roles, extra: { deps } } });
  });
}
