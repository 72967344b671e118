import { OpenAPIHono } from "@hono/zod-openapi";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../../src/api/context";
import { mountReference } from "../../src/api/reference";
import { call } from "../helpers";

const API_ROUTES = [
  ["post", "/v1/procedures"],
  ["get", "/v1/procedures"],
  ["get", "/v1/procedures/{id}"],
  ["get", "/v1/procedures/{id}/events"],
  ["get", "/v1/procedures/{id}/manifest"],
  ["post", "/v1/procedures/{id}/start"],
  ["post", "/v1/procedures/{id}/conduct"],
  ["post", "/v1/procedures/{id}/hold"],
  ["post", "/v1/procedures/{id}/resume"],
  ["post", "/v1/procedures/{id}/complete"],
  ["post", "/v1/procedures/{id}/abort"],
  ["post", "/v1/procedures/{id}/truncate"],
  ["post", "/v1/procedures/{id}/conduct-from"],
  ["get", "/v1/procedures/{id}/resume-point"],
  ["post", "/v1/procedures/{id}/activities"],
  ["get", "/v1/procedures/{id}/activities"],
  ["get", "/v1/decisions"],
  ["get", "/v1/decisions/{id}"],
  ["put", "/v1/pseudoaxes/{name}"],
  ["get", "/v1/pseudoaxes/{name}"],
  ["get", "/v1/actors/{id}"],
  ["post", "/v1/actors/{id}/deactivate"],
  ["post", "/v1/actors/{id}/activate"],
  ["post", "/v1/principals"],
  ["get", "/v1/watcher"],
  ["post", "/v1/procedures/{id}/go-ahead"],
  ["get", "/v1/me"],
  ["get", "/healthz"],
] as const;

describe("the API's own description", () => {
  it("serves an OpenAPI 3.1 document with every route of the contract", async () => {
    const result = await call("/openapi.json", { token: null });
    expect(result.status).toBe(200);
    expect(result.json.openapi).toBe("3.1.0");
    expect(result.json.servers).toEqual([{ url: "http://procedure-edge.test", description: "This service" }]);
    expect(result.json.paths["/healthz"].get.security).toEqual([]);
    for (const [method, path] of API_ROUTES) {
      expect(result.json.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    }
    expect(result.json.components.securitySchemes.bearer).toEqual({ type: "http", scheme: "bearer" });
    // An event stream's schema is each event's (OpenAPI 3.1), not the body's as one string.
    const stream = result.json.paths["/v1/procedures/{id}/stream"].get.responses["200"].content["text/event-stream"].schema;
    expect(stream).toEqual({ $ref: "#/components/schemas/StreamEvent" });
    expect(result.json.components.schemas.StreamEvent).toMatchObject({ type: "object", required: ["event", "data"] });
    const register = result.json.paths["/v1/procedures"].post;
    expect(register.requestBody.content["application/json"].schema).toBeDefined();
    expect(register.responses["401"].content["application/problem+json"]).toBeDefined();
  });

  it("links a procedure's responses to every operation on that procedure, each link naming an operation of the document", async () => {
    const doc = (await call("/openapi.json", { token: null })).json;
    const operations = new Map<string, string>();
    for (const [path, methods] of Object.entries<Record<string, { operationId: string }>>(doc.paths)) {
      for (const operation of Object.values(methods)) operations.set(operation.operationId, path);
    }
    const links = doc.paths["/v1/procedures"].post.responses["201"].links as Record<string, { operationId: string; parameters: Record<string, string> }>;
    // The manifest and the resume point exist only after a conduct: no link from any procedure to them.
    const onOneProcedure = [...operations]
      .filter(([id, path]) => path.startsWith("/v1/procedures/{id}") && id !== "readManifest" && id !== "readResumePoint")
      .map(([id]) => id);
    expect(Object.values(links).map((l) => l.operationId).sort()).toEqual(onOneProcedure.sort());
    for (const link of Object.values(links)) expect(link.parameters).toEqual({ id: "$response.body#/procedure_id" });
    expect(doc.paths["/v1/procedures/{id}/hold"].post.responses["200"].links).toEqual(links);
  });

  it("builds the document once per isolate and origin, each origin naming itself as the server", async () => {
    const app = new OpenAPIHono<AppEnv>();
    mountReference(app);
    const build = vi.spyOn(app, "getOpenAPI31Document");
    const read = async (origin: string) => (await app.request(`${origin}/openapi.json`)).json() as Promise<{ servers: unknown[] }>;
    const first = await read("https://lab-a.example");
    expect(await read("https://lab-a.example")).toEqual(first);
    expect(await read("https://lab-a.example")).toEqual(first);
    expect(first.servers).toEqual([{ url: "https://lab-a.example", description: "This service" }]);
    expect(build).toHaveBeenCalledTimes(1);
    expect((await read("https://lab-b.example")).servers).toEqual([{ url: "https://lab-b.example", description: "This service" }]);
    expect(build).toHaveBeenCalledTimes(2);
    // A bounded number of origins is kept: many hostnames cannot grow the isolate's memory without end.
    for (let i = 0; i < 20; i++) await read(`https://host-${i}.example`);
    build.mockClear();
    await read("https://lab-a.example");
    expect(build).toHaveBeenCalledTimes(1);
  });

  it("leaves /console and /docs to the static assets, which hold both pages with nothing from another host", async () => {
    // The asset router answers these paths before the Worker; the Worker itself has no such route.
    expect((await call("/docs", { token: null })).status).toBe(404);
    for (const path of ["/console", "/docs"]) {
      const page = await env.ASSETS.fetch(`http://procedure-edge.test${path}`);
      expect(page.status, path).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      const text = await page.text();
      const sources = [...text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(sources.length).toBeGreaterThan(0);
      for (const source of sources) expect(source, `${path} loads ${source}`).toMatch(/^\//);
    }
    const bundle = await env.ASSETS.fetch("http://procedure-edge.test/docs/swagger-ui-bundle.js");
    expect(bundle.status).toBe(200);
  });

  it("answers /healthz without auth, and unknown routes with a problem", async () => {
    const health = await call("/healthz", { token: null });
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ ok: true });
    const missing = await call("/v1/nothing-here");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("the Worker's entry module", () => {
  it("exports only the handlers and the Durable Object class (workerd refuses anything else)", async () => {
    const entry = await import("../../src/index");
    expect(Object.keys(entry).sort()).toEqual(["ProcedureObject", "default"]);
  });
});

describe("security headers on the pages", () => {
  it("serves /console and /docs, and their files, with a same-origin CSP, nosniff, no framing and no referrer", async () => {
    for (const path of ["/console", "/docs", "/console/app.js", "/console/console.css", "/docs/docs.js", "/docs/swagger-ui-bundle.js"]) {
      const page = await env.ASSETS.fetch(`http://procedure-edge.test${path}`);
      expect(page.status, path).toBe(200);
      await page.body?.cancel();
      const csp = page.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("connect-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      // Nothing but this origin (and inline images as data: URIs, which come from no host).
      const sources = csp.split(";").flatMap((directive) => directive.trim().split(/\s+/).slice(1));
      expect(sources.filter((s) => !["'self'", "'none'", "data:"].includes(s)), path).toEqual([]);
      expect(page.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(page.headers.get("referrer-policy"), path).toBe("no-referrer");
      expect(page.headers.get("x-frame-options"), path).toBe("DENY");
    }
  });
});
