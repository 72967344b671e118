// Every route's security path: 401 without a known token, 403 for a principal
// whose roles do not grant the route's command, and nothing written either way.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/auth/principals";
import { WATCHER_AGENT } from "../../src/watcher/stall";
import { call, eventLog, expectProblem, registerProcedure, tokenFor } from "../helpers";

let id: string;
beforeAll(async () => {
  id = await registerProcedure();
});

const BOOTSTRAP = "01900000-0000-7000-8000-000000000001";
type Route = { method: string; path: () => string; body?: unknown; denied: string[] };

const ROUTES: Route[] = [
  { method: "POST", path: () => "/v1/procedures", body: { name: "n", kind: "k", target_asset_ids: [] }, denied: ["reader", "gateway"] },
  { method: "GET", path: () => "/v1/procedures", denied: ["gateway"] },
  { method: "GET", path: () => "/v1/procedures?order=attention&q=procedure", denied: ["gateway"] },
  { method: "GET", path: () => `/v1/procedures/${id}`, denied: [] },
  { method: "GET", path: () => `/v1/procedures/${id}/events`, denied: ["gateway"] },
  { method: "GET", path: () => `/v1/procedures/${id}/manifest`, denied: [] },
  { method: "POST", path: () => `/v1/procedures/${id}/start`, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/conduct`, body: { steps: [{ kind: "action", name: "a", params: {} }] }, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/hold`, body: { reason: "r" }, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/resume`, body: { re_establishment_boundary: 0 }, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/complete`, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/abort`, body: { reason: "r" }, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/truncate`, body: { reason: "r" }, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/conduct-from`, body: { re_establishment_boundary: 0 }, denied: ["reader", "gateway"] },
  { method: "POST", path: () => `/v1/procedures/${id}/go-ahead`, body: { step_index: 0 }, denied: ["reader", "gateway"] },
  { method: "GET", path: () => `/v1/procedures/${id}/resume-point`, denied: [] },
  { method: "POST", path: () => `/v1/procedures/${id}/activities`, body: { entries: [] }, denied: ["reader", "operator"] },
  { method: "GET", path: () => `/v1/procedures/${id}/activities`, denied: ["gateway"] },
  { method: "GET", path: () => "/v1/decisions", denied: ["gateway"] },
  { method: "GET", path: () => `/v1/decisions/${crypto.randomUUID()}`, denied: ["gateway"] },
  { method: "PUT", path: () => "/v1/pseudoaxes/axis", body: { constituents: [{ address: "m", scale: 1, offset: 0 }] }, denied: ["reader", "gateway"] },
  { method: "GET", path: () => "/v1/pseudoaxes/axis", denied: ["gateway"] },
  { method: "GET", path: () => `/v1/actors/${WATCHER_AGENT.id}`, denied: ["reader", "gateway", "operator"] },
  { method: "POST", path: () => `/v1/actors/${WATCHER_AGENT.id}/deactivate`, denied: ["reader", "gateway", "operator"] },
  { method: "POST", path: () => `/v1/actors/${WATCHER_AGENT.id}/activate`, denied: ["reader", "gateway", "operator"] },
  { method: "POST", path: () => "/v1/principals", body: { name: "p", roles: ["admin"] }, denied: ["reader", "gateway", "operator"] },
  { method: "GET", path: () => "/v1/watcher", denied: ["gateway"] },
  { method: "POST", path: () => "/v1/conduct-preview", body: { steps: [{ kind: "action", name: "a", params: {} }] }, denied: ["reader", "gateway"] },
  { method: "PUT", path: () => "/v1/templates/t", body: { conduct: { steps: [{ kind: "action", name: "a", params: {} }] } }, denied: ["reader", "gateway"] },
  { method: "GET", path: () => "/v1/templates/t", denied: ["gateway"] },
  { method: "GET", path: () => "/v1/templates", denied: ["gateway"] },
  { method: "GET", path: () => `/v1/principal-names?ids=${BOOTSTRAP}`, denied: ["gateway"] },
  { method: "DELETE", path: () => "/v1/templates/t", denied: ["reader", "gateway"] },
];

/** What the refused requests above could have written: the shared procedure's log, a principal, the agent. */
async function expectNothingWritten() {
  expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
  const principals = await env.DB.prepare("SELECT count(*) AS n FROM principals WHERE name = 'p'").first<{ n: number }>();
  expect(principals!.n).toBe(0);
  const templates = await env.DB.prepare("SELECT count(*) AS n FROM templates WHERE name = 't'").first<{ n: number }>();
  expect(templates!.n).toBe(0);
  const actor = await call(`/v1/actors/${WATCHER_AGENT.id}`);
  expect(actor.json.active).toBe(true);
}

describe.each(ROUTES)("$method $path", (route) => {
  it("answers 401 without a token and with an unknown one, and writes nothing", async () => {
    for (const token of [null, "not-a-token"]) {
      expectProblem(await call(route.path(), { method: route.method, body: route.body, token }), 401, "Unauthenticated");
    }
    await expectNothingWritten();
  });
});

// Reads of one procedure are open to every role, so they have no 403 path.
describe.each(ROUTES.filter((route) => route.denied.length > 0))("$method $path", (route) => {
  it("answers 403 to roles without the grant, and writes nothing", async () => {
    for (const role of route.denied) {
      const result = await call(route.path(), { method: route.method, body: route.body, token: await tokenFor(role) });
      expectProblem(result, 403, "Forbidden");
    }
    await expectNothingWritten();
  });
});

describe("refused requests write nothing", () => {
  it("authenticates before reading a body: an oversize request without a token is 401", async () => {
    const result = await call("/v1/procedures", {
      method: "POST",
      token: null,
      rawBody: "x".repeat(1_100_000),
      headers: { "content-type": "application/json" },
    });
    expectProblem(result, 401, "Unauthenticated");
  });
});

describe("principals", () => {
  it("stores only a hash of the token, which is shown once and works at once", async () => {
    const created = await call("/v1/principals", { body: { name: "hash-check", roles: ["reader"] } });
    expect(created.status).toBe(201);
    const { principal_id, token } = created.json;
    const row = await env.DB.prepare("SELECT * FROM principals WHERE principal_id = ?").bind(principal_id).first<Record<string, string>>();
    expect(row!.token_hash).toBe(await hashToken(token));
    expect(Object.values(row!).some((value) => String(value).includes(token))).toBe(false);
    expect((await call("/v1/procedures", { token })).status).toBe(200);
  });

  it("refuses unknown roles, including the watcher's own", async () => {
    expectProblem(await call("/v1/principals", { body: { name: "x", roles: ["watcher"] } }), 400, "ValidationFailed");
    expectProblem(await call("/v1/principals", { body: { name: "x", roles: [] } }), 400, "ValidationFailed");
  });
});
