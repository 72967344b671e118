// The API's own description: the OpenAPI 3.1 document generated from the route
// schemas, and the health check. The interactive reference over it (/docs) and
// the console (/console) are static assets (see scripts/build-assets.mjs).
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./app";
import { jsonResponse } from "./schemas";

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "procedure-edge",
    version: "0.1.0",
    description:
      "System of record for running lab procedures. Every refusal is application/problem+json with an error_class.",
  },
};

const health = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "getHealth",
  summary: "Liveness check (no auth)",
  security: [],
  responses: { 200: jsonResponse("The service is up", z.object({ ok: z.literal(true) })) },
});

/** Mounts /openapi.json and /healthz on the app that owns every route. */
export function mountReference(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.openapi(health, (c) => c.json({ ok: true as const }, 200));
  // The server is the origin that served the document, so "try it" in /docs
  // (or any client generated from it) talks to the deployment it was read from.
  app.doc31("/openapi.json", (c) => ({ ...OPENAPI_INFO, servers: [{ url: new URL(c.req.url).origin, description: "This service" }] }));
}
