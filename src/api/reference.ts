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

/** Origins whose document an isolate keeps (a deployment answers on a few hostnames); past that the oldest is dropped. */
const MAX_ORIGINS = 8;

/**
 * The document as served, built once per isolate and origin: the routes never
 * change while an isolate lives, and generating the document walks every
 * schema. Its server is the origin the caller reached, so "try it" in /docs
 * (or a client generated from it) talks to the deployment it was read from.
 */
function documents(app: OpenAPIHono<AppEnv>): (requestUrl: string) => { openapi: string } {
  const built = new Map<string, { openapi: string }>();
  return (requestUrl) => {
    const origin = new URL(requestUrl).origin;
    let document = built.get(origin);
    if (document === undefined) {
      document = app.getOpenAPI31Document({ ...OPENAPI_INFO, servers: [{ url: origin, description: "This service" }] });
      if (built.size >= MAX_ORIGINS) built.delete(built.keys().next().value!);
      built.set(origin, document);
    }
    return document;
  };
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
  const documentFor = documents(app);
  app.openapi(document, (c) => c.json(documentFor(c.req.url), 200));
}
