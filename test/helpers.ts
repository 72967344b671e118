// Shared test plumbing: requests through the Worker's own fetch handler, and
// principals created through the API the way an admin would.
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";

export const ADMIN_TOKEN = "test-admin-token";

export interface Call {
  method?: string;
  token?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/** Sends a request to the Worker and returns status, headers and parsed body. */
export async function call(path: string, options: Call = {}) {
  const headers = new Headers(options.headers);
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const response = await exports.default.fetch(
    new Request(`http://procedure-edge.test${path}`, { method: options.method ?? (body === undefined ? "GET" : "POST"), headers, body }),
  );
  const type = response.headers.get("content-type") ?? "";
  // A live stream does not end by itself: its body is left unread (test/live.ts reads streams).
  const streaming = type.startsWith("text/event-stream") || response.status === 101;
  if (streaming) await response.body?.cancel();
  // Decoded by hand: workerd warns when .text() reads a body whose type is not text (an export's JSON Lines).
  const text = streaming ? "" : new TextDecoder().decode(await response.arrayBuffer());
  // JSON Lines (an export) is read as text.
  const json = type.includes("json") && !type.includes("x-ndjson") && text ? JSON.parse(text) : undefined;
  return { status: response.status, headers: response.headers, json, text };
}

/** Asserts a problem response with the given status and error class. */
export function expectProblem(result: Awaited<ReturnType<typeof call>>, status: number, errorClass?: string) {
  expect(result.status).toBe(status);
  expect(result.headers.get("content-type")).toContain("application/problem+json");
  expect(result.json).toMatchObject({ status, ...(errorClass ? { error_class: errorClass } : {}) });
  expect(typeof result.json.title).toBe("string");
  expect(typeof result.json.detail).toBe("string");
  // Every refusal names its request, as its X-Request-Id header does.
  expect(result.json.request_id).toBe(result.headers.get("x-request-id"));
}

const tokens = new Map<string, string>();

/** A bearer token for a fresh principal holding `roles` (cached per role set per file). */
export async function tokenFor(...roles: string[]): Promise<string> {
  const key = roles.sort().join(",");
  const cached = tokens.get(key);
  if (cached) return cached;
  const created = await call("/v1/principals", { body: { name: `test-${key}`, roles } });
  expect(created.status).toBe(201);
  tokens.set(key, created.json.token);
  return created.json.token;
}

let counter = 0;

/**
 * Waits until the procedure's projection has caught up with every command it
 * answered: the reply does not wait for D1, as a reader of the list would.
 */
export function settled(id: string): Promise<void> {
  return procedureStub(id).project();
}

/** Registers a procedure and returns its id, its projection settled. */
export async function registerProcedure(overrides: Record<string, unknown> = {}, token?: string) {
  counter += 1;
  const result = await call("/v1/procedures", {
    token,
    body: { name: `procedure ${counter}`, kind: "calibration", target_asset_ids: ["asset-1"], ...overrides },
  });
  expect(result.status).toBe(201);
  await settled(result.json.procedure_id);
  return result.json.procedure_id as string;
}

/** Runs a lifecycle command and returns the response, the projection settled. */
export async function command(id: string, name: string, body?: unknown, token?: string) {
  const result = await call(`/v1/procedures/${id}/${name}`, { method: "POST", body, token });
  await settled(id);
  return result;
}

/** The event log as the API returns it. */
export async function eventLog(id: string) {
  const result = await call(`/v1/procedures/${id}/events?limit=500`);
  expect(result.status).toBe(200);
  return result.json.items as Array<{ version: number; type: string; payload: Record<string, unknown> }>;
}

/** The projection row for a procedure, straight from D1, once it has caught up. */
export async function summaryOf(id: string) {
  await settled(id);
  return env.DB.prepare("SELECT * FROM procedure_summary WHERE procedure_id = ?").bind(id).first<Record<string, unknown>>();
}

export function procedureStub(id: string) {
  return env.PROCEDURES.get(env.PROCEDURES.idFromName(id));
}

/** The tables a procedure's object holds in its storage (the runtime's own excluded): none for an id nobody registered. */
export function userTables(id: string) {
  return runInDurableObject(procedureStub(id), (_instance, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'")
      .toArray()
      .map((r) => r.name),
  );
}
