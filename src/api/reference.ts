// The API's own description: the OpenAPI 3.1 document generated from the route
// schemas, a readable reference page rendered from it, and the health check.
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { html, raw } from "hono/html";
import type { AppEnv } from "./context";
import { jsonResponse, PUBLIC } from "./schemas";

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "procedure-edge",
    version: "0.1.0",
    description:
      "System of record for running lab procedures. Every refusal is application/problem+json with an error_class.",
  },
};

type Operation = {
  summary?: string;
  description?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
  security?: unknown[];
};

function schemaText(schema: unknown): string {
  return JSON.stringify(schema, null, 2);
}

/** Renders the OpenAPI document as a self-contained HTML page (no external assets). */
export function renderReference(doc: { paths?: Record<string, Record<string, Operation>>; components?: unknown }) {
  const sections = Object.entries(doc.paths ?? {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const params = (op.parameters ?? []).map((p) => html`<li><code>${p.name}</code> (${p.in}${p.required ? ", required" : ""})</li>`);
      const body = op.requestBody?.content?.["application/json"]?.schema;
      const responses = Object.entries(op.responses ?? {}).map(([status, r]) => html`<li><code>${status}</code> ${r.description ?? ""}</li>`);
      return html`<section>
        <h2><span class="m">${method.toUpperCase()}</span> <code>${path}</code></h2>
        <p>${op.summary ?? ""}</p>${op.description ? html`<p>${op.description}</p>` : ""}
        ${op.security?.length ? html`<p class="auth">Requires <code>Authorization: Bearer &lt;token&gt;</code></p>` : ""}
        ${params.length ? html`<h3>Parameters</h3><ul>${params}</ul>` : ""}
        ${body ? html`<h3>Body</h3><pre>${schemaText(body)}</pre>` : ""}
        <h3>Responses</h3><ul>${responses}</ul>
      </section>`;
    }),
  );
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>procedure-edge API reference</title>
        <style>
          ${raw(`body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
          section{border-top:1px solid #ddd;padding:.5rem 0}h2{font-size:1.1rem}.m{background:#234;color:#fff;padding:0 .4rem;border-radius:3px}
          pre{background:#f5f5f5;padding:.5rem;overflow:auto;font-size:13px}.auth{color:#805}`)}
        </style>
      </head>
      <body>
        <h1>procedure-edge API reference</h1>
        <p>${OPENAPI_INFO.info.description} The machine-readable form is <a href="/openapi.json">/openapi.json</a>.</p>
        <h2>Components</h2>
        <details><summary>Schemas</summary><pre>${schemaText(doc.components)}</pre></details>
        ${sections}
      </body>
    </html>`;
}

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

const docs = createRoute({
  method: "get",
  path: "/docs",
  operationId: "apiReference",
  summary: "A readable reference page of this document (no auth)",
  security: PUBLIC,
  responses: { 200: { description: "The page", content: { "text/html": { schema: z.string() } } } },
});

/** The document as served: the routes' declarations, with the origin the caller reached as its server. */
function describe(app: OpenAPIHono<AppEnv>, requestUrl: string) {
  return app.getOpenAPI31Document({ ...OPENAPI_INFO, servers: [{ url: new URL(requestUrl).origin }] });
}

/** Mounts /openapi.json, /docs and /healthz on the app that owns every route. */
export function mountReference(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.openapi(health, (c) => c.json({ ok: true as const }, 200));
  app.openapi(document, (c) => c.json(describe(app, c.req.url) as { openapi: string }, 200));
  app.openapi(docs, (c) => c.html(renderReference(describe(app, c.req.url) as never), 200));
}
