// What the console's Health page reads: the watcher's recent ticks in
// GET /v1/watcher (kept a day, pruned by the tick) and the last hour's
// refusals in GET /v1/refusals (counted per isolate, added to D1 after the
// response).
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { ADMIN_TOKEN, call, expectProblem, tokenFor } from "../helpers";
import { CONFIG, tick as runTickAt } from "../watcher-helpers";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** How many ticks GET /v1/watcher could list. */
async function tickCount() {
  return (await env.DB.prepare("SELECT count(*) AS n FROM watcher_ticks").first<{ n: number }>())!.n;
}

async function tick(scheduledTime: number, enabled = true) {
  await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), { ...env, WATCHER_ENABLED: String(enabled) } as Env);
}

/** A request through the Worker with `overrides` on its environment, its after-response work awaited. */
async function fetchWith(path: string, token: string | null, overrides: Record<string, unknown> = {}) {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const response = await worker.fetch(new Request(`http://procedure-edge.test${path}`, { headers }), { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  await response.body?.cancel();
  return response.status;
}

async function refusals() {
  const result = await call("/v1/refusals");
  expect(result.status).toBe(200);
  return result.json as {
    since: string;
    total: number;
    rate_limited: number;
    by_error_class: Array<{ error_class: string; status: number; count: number }>;
    by_minute: Array<{ minute: string; count: number; rate_limited: number }>;
  };
}

function countOf(body: Awaited<ReturnType<typeof refusals>>, errorClass: string) {
  return body.by_error_class.find((row) => row.error_class === errorClass)?.count ?? 0;
}

describe("GET /v1/watcher: recent ticks", () => {
  it("lists the enabled watcher's ticks newest first, with their counts", async () => {
    const start = Date.now() - 10 * MINUTE;
    for (let i = 0; i < 3; i++) await tick(start + i * MINUTE);
    const status = await call("/v1/watcher");
    expect(status.status).toBe(200);
    const ticks = status.json.recent_ticks as Array<Record<string, unknown>>;
    expect(ticks.slice(0, 3).map((t) => t.started_at)).toEqual([2, 1, 0].map((i) => new Date(start + i * MINUTE).toISOString()));
    for (const t of ticks.slice(0, 3)) {
      expect(t).toEqual({
        started_at: expect.any(String),
        outcome: "ran",
        duration_ms: expect.any(Number),
        rows_read: expect.any(Number),
        candidates: expect.any(Number),
        flagged: expect.any(Number),
        acted: 0,
        archived: 0,
        failures: 0,
      });
    }
  });

  it("keeps no history of a disabled watcher's ticks that did no housekeeping", async () => {
    const before = await tickCount();
    await tick(Date.now() - 5 * MINUTE + 1, false);
    expect(await tickCount()).toBe(before);
  });

  it("keeps a disabled watcher's tick whose housekeeping archived, deleted or failed at something", async () => {
    const disabled = { config: { ...CONFIG, enabled: false } };
    const archive = { candidates: 2, requested: 2, not_due: 0, failures: 0, rows_read: 3, rows_written: 2 };
    const idle = { archive: { ...archive, candidates: 0, requested: 0 }, retention: [{ table: "audit" as const, deleted: 0, rows_read: 1, rows_written: 0 }] };
    const before = await tickCount();
    await runTickAt(Date.now() - 4 * MINUTE, { ...disabled, housekeeping: idle });
    expect(await tickCount()).toBe(before);
    const at = Date.now() - 3 * MINUTE;
    await runTickAt(at, { ...disabled, housekeeping: { archive, retention: [] } });
    await runTickAt(at + 1, { ...disabled, housekeeping: { retention: [{ table: "audit", deleted: 4, rows_read: 5, rows_written: 4 }] } });
    await runTickAt(at + 2, { ...disabled, housekeeping: { retention: [{ table: "deliveries", deleted: 0, rows_read: 0, rows_written: 0, error: "D1 unavailable" }] } });
    expect(await tickCount()).toBe(before + 3);
    const kept = await env.DB.prepare("SELECT outcome, archived FROM watcher_ticks WHERE started_at = ?").bind(new Date(at).toISOString()).first();
    expect(kept).toEqual({ outcome: "disabled", archived: 2 });
  });

  it("prunes ticks and refusal counts older than a day, enabled or not", async () => {
    const now = Date.now();
    const old = new Date(now - DAY - MINUTE).toISOString();
    const kept = new Date(now - DAY + 5 * MINUTE).toISOString();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO watcher_ticks VALUES (?, 'ran', 1, 0, 0, 0, 0, 0, 0)").bind(old),
      env.DB.prepare("INSERT INTO watcher_ticks VALUES (?, 'ran', 1, 0, 0, 0, 0, 0, 0)").bind(kept),
      env.DB.prepare("INSERT INTO refusal_counts VALUES (?, 'Forbidden', 3)").bind(old),
      env.DB.prepare("INSERT INTO refusal_counts VALUES (?, 'Forbidden', 3)").bind(kept),
    ]);
    await tick(now, false);
    const ticks = await env.DB.prepare("SELECT started_at FROM watcher_ticks WHERE started_at IN (?, ?)").bind(old, kept).all();
    const counts = await env.DB.prepare("SELECT minute FROM refusal_counts WHERE minute IN (?, ?)").bind(old, kept).all();
    expect(ticks.results).toEqual([{ started_at: kept }]);
    expect(counts.results).toEqual([{ minute: kept }]);
  });
});

describe("GET /v1/refusals", () => {
  it("counts the last hour's refusals by class and by minute, rate-limit hits among them", async () => {
    const before = await refusals();
    const operator = await tokenFor("operator");
    expect(await fetchWith("/v1/me", "not-a-known-token-000")).toBe(401);
    expect(await fetchWith("/v1/me", null)).toBe(401);
    expect(await fetchWith("/v1/principals", operator)).toBe(403);
    const spent = { limit: async () => ({ success: false }) };
    expect(await fetchWith("/v1/me", operator, { API_RATE_LIMITER: spent })).toBe(429);
    expect(await fetchWith("/v1/me", ADMIN_TOKEN)).toBe(200);

    const after = await refusals();
    expect(countOf(after, "Unauthenticated") - countOf(before, "Unauthenticated")).toBe(2);
    expect(countOf(after, "Forbidden") - countOf(before, "Forbidden")).toBe(1);
    expect(after.rate_limited - before.rate_limited).toBe(1);
    expect(after.total - before.total).toBe(4);
    expect(after.by_error_class.find((row) => row.error_class === "RateLimited")?.status).toBe(429);
    const thisMinute = after.by_minute.at(-1)!;
    expect(Date.now() - Date.parse(thisMinute.minute)).toBeLessThan(2 * MINUTE);
    expect(after.by_minute.reduce((n, m) => n + m.count, 0)).toBe(after.total);
    expect(Date.parse(after.since)).toBeGreaterThan(Date.now() - 61 * MINUTE);
  });

  it("leaves counts older than the hour out", async () => {
    const before = await refusals();
    await env.DB.prepare("INSERT INTO refusal_counts VALUES (?, 'PrincipalRevoked', 7)").bind(new Date(Date.now() - 2 * 60 * MINUTE).toISOString()).run();
    expect(countOf(await refusals(), "PrincipalRevoked")).toBe(countOf(before, "PrincipalRevoked"));
  });

  it("is the admin's: 401 without a token, 403 for an operator", async () => {
    expectProblem(await call("/v1/refusals", { token: null }), 401, "Unauthenticated");
    expectProblem(await call("/v1/refusals", { token: await tokenFor("operator") }), 403, "Forbidden");
  });
});
