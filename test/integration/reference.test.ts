import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
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
    const register = result.json.paths["/v1/procedures"].post;
    expect(register.requestBody.content["application/json"].schema).toBeDefined();
    expect(register.responses["401"].content["application/problem+json"]).toBeDefined();
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
