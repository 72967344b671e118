// Per-principal rate limits with the wrangler.toml configuration (the local
// simulator of Cloudflare's rate-limiting binding): a burst is answered 429
// with Retry-After and does nothing; the two budgets are separate; each
// principal has its own.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { entry, post } from "../conduct-helpers";
import { call, command, expectProblem, registerProcedure } from "../helpers";

/** wrangler.toml: API_RATE_LIMITER 600 per 60 s, INGEST_RATE_LIMITER 100 per 10 s. */
const API_LIMIT = 600;
const INGEST_LIMIT = 100;

async function principal(roles: string[]) {
  const created = await call("/v1/principals", { body: { name: `burst ${roles.join(",")}`, roles } });
  expect(created.status).toBe(201);
  return created.json as { principal_id: string; token: string };
}

/**
 * Sends `send` until it is limited. The simulator's windows are aligned to the
 * clock, so a burst that straddles a window's end may need up to twice the limit.
 */
async function burst(limit: number, send: () => Promise<Awaited<ReturnType<typeof call>>>) {
  let accepted = 0;
  for (let i = 0; i <= 2 * limit + 1; i += 1) {
    const result = await send();
    if (result.status === 429) return { limited: result, accepted };
    expect(result.status).toBeLessThan(400);
    accepted += 1;
  }
  throw new Error(`no 429 after ${2 * limit + 2} requests`);
}

describe("rate limits", () => {
  it("answers a burst past the limit 429 with Retry-After, and a limited request writes nothing", async () => {
    const operator = await principal(["operator"]);
    const { limited, accepted } = await burst(API_LIMIT, () => call("/v1/me", { token: operator.token }));
    expect(accepted).toBeGreaterThanOrEqual(API_LIMIT);
    expectProblem(limited, 429, "RateLimited");
    expect(limited.headers.get("retry-after")).toBe("60");

    const key = crypto.randomUUID();
    const refused = await call("/v1/procedures", {
      token: operator.token,
      headers: { "idempotency-key": key },
      body: { name: "limited", kind: "k", target_asset_ids: ["a"] },
    });
    expectProblem(refused, 429, "RateLimited");
    const claims = await env.DB.prepare("SELECT count(*) AS n FROM idempotency_keys WHERE principal_id = ?").bind(operator.principal_id).first<{ n: number }>();
    expect(claims!.n).toBe(0);

    // Another principal has its own budget; the bootstrap admin is not limited.
    const other = await principal(["reader"]);
    expect((await call("/v1/me", { token: other.token })).status).toBe(200);
    expect((await call("/v1/me")).status).toBe(200);
  }, 120_000);

  // The simulator's clock cannot be set from a test, so recovery waits for the
  // ingest window (10 s, the shortest period the binding allows) to roll over.
  it("limits activity ingest on its own budget and lets the gateway in again after the period", async () => {
    const gateway = await principal(["gateway"]);
    const id = await registerProcedure();
    await command(id, "start");
    const send = () => call(`/v1/procedures/${id}/activities`, { token: gateway.token, body: { entries: [entry({ step_kind: "note", payload: { n: 1 } })] } });
    const { limited, accepted } = await burst(INGEST_LIMIT, send);
    expectProblem(limited, 429, "RateLimited");
    expect(limited.headers.get("retry-after")).toBe("10");
    const logbook = await call(`/v1/procedures/${id}/activities?limit=500`);
    expect(logbook.json.items).toHaveLength(accepted);

    // The other budget is untouched: the gateway still reads.
    expect((await call(`/v1/procedures/${id}`, { token: gateway.token })).status).toBe(200);

    await vi.waitFor(
      async () => {
        expect((await post(id, [entry({ step_kind: "note", payload: { n: 2 } })], gateway.token)).status).toBe(200);
      },
      { timeout: 15_000, interval: 1_000 },
    );
  }, 120_000);
});
