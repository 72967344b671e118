// The API's own description: the OpenAPI 3.1 document generated from the route
// schemas, and the health check. The interactive reference over it (/docs) and
// the console (/console) are static assets (see scripts/build-assets.mjs).
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./context";
import { jsonResponse, PUBLIC } from "./schemas";

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "procedure-edge",
    version: "0.1.0",
    description:
      "System of record for running lab procedures. Every refusal is application/problem+json with an error_class. " +
      "Every /v1 operation except the live stream and its ticket is also a Model Context Protocol tool at POST /mcp (named by its operationId in snake_case), with the same authorization.",
  },
};

const health = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "health",
  summary: "Liveness check (no auth)",
  security: PUBLIC,
  responses: { 200: jsonResponse("The service is up", z.object({ ok: z.literal(true) })) },
});

const document = createRoute({
  method: "get",
  path: "/openapi.json",
  operationId: "openApiDocument",
  summary: "This OpenAPI 3.1 document (no auth)",
  security: PUBLIC,
  responses: { 200: jsonResponse("The document", z.looseObject({ openapi: z.string() })) },
});

/**
 * The document as served: the routes' declarations, with the origin the caller
 * reached as its server, so "try it" in /docs (or a client generated from it)
 * talks to the deployment it was read from.
 */
function describe(app: OpenAPIHono<AppEnv>, requestUrl: string) {
  return app.getOpenAPI31Document({ ...OPENAPI_INFO, servers: [{ url: new URL(requestUrl).origin, description: "This service" }] });
}

/** Mounts /openapi.json and /healthz on the app that owns every route; /docs and /console are static assets. */
export function mountReference(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.openAPIRegistry.registerComponent("securitySchemes", "streamTicket", {
    type: "apiKey",
    in: "query",
    name: "ticket",
    description: "A single-use stream ticket from POST /v1/procedures/{id}/stream-ticket (for a browser's WebSocket)",
  });
  app.openapi(health, (c) => c.json({ ok: true as const }, 200));
  app.openapi(document, (c) => c.json(describe(app, c.req.url) as { openapi: string }, 200));
}
