// Principals' lifecycle as an admin and the token holder see it: scope and
// expiry at creation, listing and reading without secrets, revocation,
// rotation, expiry, and the audit trail each change leaves.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BOOTSTRAP_ADMIN_ID, hashToken } from "../../src/auth/principals";
import { WATCHER_AGENT } from "../../src/watcher/stall";
import { call, expectProblem, tokenFor } from "../helpers";

afterEach(() => {
  vi.useRealTimers();
});

const HOUR = 3_600_000;

async function create(body: Record<string, unknown>) {
  const created = await call("/v1/principals", { body: { roles: ["gateway"], ...body } });
  expect(created.status, created.text).toBe(201);
  return created.json as { principal_id: string; token: string };
}

async function auditOf(subjectId: string) {
  const result = await call(`/v1/audit?subject_id=${subjectId}`);
  expect(result.status).toBe(200);
  return result.json.items as Array<{ action: string; subject_id: string; actor_id: string; reason: string | null }>;
}

async function auditCount(subjectId: string) {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE subject_id = ?").bind(subjectId).first<{ n: number }>();
  return row!.n;
}

describe("creating a principal", () => {
  it("takes a scope and an expiry, which /v1/me and the admin read show, and audits both", async () => {
    const expires_at = new Date(Date.now() + HOUR).toISOString();
    const { principal_id, token } = await create({ name: "lab-a gateway", scopes: { target_asset_ids: ["lab-a:1", "lab-a:2", "lab-a:1"] }, expires_at });
    const me = await call("/v1/me", { token });
    expect(me.json).toEqual({ principal_id, name: "lab-a gateway", roles: ["gateway"], scopes: { target_asset_ids: ["lab-a:1", "lab-a:2"] }, expires_at });
    const read = await call(`/v1/principals/${principal_id}`);
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ principal_id, scopes: { target_asset_ids: ["lab-a:1", "lab-a:2"] }, expires_at, revoked_at: null, has_token: true });
    expect((await auditOf(principal_id)).map((e) => [e.action, e.actor_id])).toEqual(
      expect.arrayContaining([
        ["principal.created", BOOTSTRAP_ADMIN_ID],
        ["principal.scoped", BOOTSTRAP_ADMIN_ID],
      ]),
    );
  });

  it("refuses an expiry in the past, an empty scope, and a scoped admin, writing nothing", async () => {
    const name = `refused-${crypto.randomUUID()}`;
    const past = await call("/v1/principals", { body: { name, roles: ["reader"], expires_at: "2020-01-01T00:00:00.000Z" } });
    expectProblem(past, 400, "ValidationFailed");
    const empty = await call("/v1/principals", { body: { name, roles: ["reader"], scopes: { target_asset_ids: [] } } });
    expectProblem(empty, 400, "ValidationFailed");
    // The route's own rule and the schema's word a refusal alike, naming the field.
    expect(past.json.detail).toBe(empty.json.detail);
    expect(past.json.errors).toEqual([{ path: "expires_at", message: "must be in the future" }]);
    expectProblem(await call("/v1/principals", { body: { name, roles: ["reader"], scopes: { target_asset_ids: Array.from({ length: 101 }, (_, i) => `a${i}`) } } }), 400, "ValidationFailed");
    expectProblem(await call("/v1/principals", { body: { name, roles: ["admin"], scopes: { target_asset_ids: ["a"] } } }), 422, "AdminCannotBeScoped");
    const row = await env.DB.prepare("SELECT count(*) AS n FROM principals WHERE name = ?").bind(name).first<{ n: number }>();
    expect(row!.n).toBe(0);
  });
});

describe("listing and reading principals", () => {
  it("pages every principal in creation order and never shows a token or its hash", async () => {
    const mine = [await create({ name: "list-1" }), await create({ name: "list-2" }), await create({ name: "list-3" })];
    const seen: Array<Record<string, unknown>> = [];
    const texts: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(`/v1/principals?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(2);
      texts.push(page.text);
      seen.push(...page.json.items);
      cursor = page.json.next_cursor;
    } while (cursor);
    const ids = seen.map((p) => p.principal_id);
    expect(ids).toEqual(expect.arrayContaining([...mine.map((p) => p.principal_id), WATCHER_AGENT.id]));
    expect(new Set(ids).size).toBe(ids.length);
    for (const { token } of mine) {
      const hash = await hashToken(token);
      for (const text of texts) {
        expect(text).not.toContain(token);
        expect(text).not.toContain(hash);
      }
    }
    expect(seen.every((p) => !("token_hash" in p) && !("token" in p))).toBe(true);
    expect(seen.find((p) => p.principal_id === WATCHER_AGENT.id)).toMatchObject({ has_token: false, roles: ["watcher"] });
  });

  it("answers 404 for a principal that does not exist, and for the bootstrap admin, which is a secret", async () => {
    expectProblem(await call(`/v1/principals/${crypto.randomUUID()}`), 404, "PrincipalNotFound");
    expectProblem(await call(`/v1/principals/${BOOTSTRAP_ADMIN_ID}`), 404, "PrincipalNotFound");
  });

  it("is for admins only", async () => {
    for (const role of ["operator", "gateway", "reader"]) {
      const token = await tokenFor(role);
      expectProblem(await call("/v1/principals", { token }), 403, "Forbidden");
      expectProblem(await call(`/v1/principals/${WATCHER_AGENT.id}`, { token }), 403, "Forbidden");
      expectProblem(await call("/v1/audit", { token }), 403, "Forbidden");
    }
  });
});

describe("revoking", () => {
  it("refuses the token on the very next request, records why, and stays revoked", async () => {
    const { principal_id, token } = await create({ name: "to-revoke" });
    expect((await call("/v1/me", { token })).status).toBe(200);
    const revoked = await call(`/v1/principals/${principal_id}/revoke`, { body: { reason: "gateway laptop stolen" } });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ principal_id, revoked_reason: "gateway laptop stolen" });
    expect(revoked.json.revoked_at).toEqual(expect.any(String));
    expectProblem(await call("/v1/me", { token }), 401, "Unauthenticated");
    const again = await call(`/v1/principals/${principal_id}/revoke`, { method: "POST" });
    expect(again.status).toBe(200);
    expect(again.json.revoked_at).toBe(revoked.json.revoked_at);
    const trail = await auditOf(principal_id);
    expect(trail.filter((e) => e.action === "principal.revoked")).toEqual([
      expect.objectContaining({ actor_id: BOOTSTRAP_ADMIN_ID, reason: "gateway laptop stolen" }),
    ]);
    expectProblem(await call(`/v1/principals/${principal_id}/rotate`, { method: "POST" }), 409, "PrincipalRevoked");
    expect(await auditCount(principal_id)).toBe(trail.length);
  });

  it.each([
    ["no body", {}],
    ["an empty JSON body", { rawBody: "", headers: { "content-type": "application/json" } }],
    ["an empty JSON body with a charset", { rawBody: "", headers: { "content-type": "application/json; charset=utf-8" } }],
    ["an empty JSON object", { body: {} }],
  ])("takes %s as a revoke without a reason", async (_label, request) => {
    const { principal_id, token } = await create({ name: "revoked without a reason" });
    const revoked = await call(`/v1/principals/${principal_id}/revoke`, { method: "POST", ...request });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.json).toMatchObject({ principal_id, revoked_reason: null, revoked_at: expect.any(String) });
    expectProblem(await call("/v1/me", { token }), 401, "Unauthenticated");
    expect((await auditOf(principal_id)).filter((e) => e.action === "principal.revoked")).toEqual([
      expect.objectContaining({ actor_id: BOOTSTRAP_ADMIN_ID, reason: null }),
    ]);
  });

  it("refuses a body that is not the revoke's, writing nothing", async () => {
    const { principal_id, token } = await create({ name: "kept" });
    const before = await auditCount(principal_id);
    expectProblem(await call(`/v1/principals/${principal_id}/revoke`, { rawBody: "{", headers: { "content-type": "application/json" } }), 400);
    expectProblem(await call(`/v1/principals/${principal_id}/revoke`, { body: { reason: 7 } }), 400, "ValidationFailed");
    expectProblem(await call(`/v1/principals/${principal_id}/revoke`, { body: { why: "x" } }), 400, "ValidationFailed");
    expect((await call("/v1/me", { token })).status).toBe(200);
    expect(await auditCount(principal_id)).toBe(before);
  });

  it("refuses the bootstrap admin and an unknown principal, writing nothing", async () => {
    for (const path of ["revoke", "rotate"]) {
      expectProblem(await call(`/v1/principals/${BOOTSTRAP_ADMIN_ID}/${path}`, { method: "POST" }), 409, "PrincipalManagedElsewhere");
      expectProblem(await call(`/v1/principals/${crypto.randomUUID()}/${path}`, { method: "POST" }), 404, "PrincipalNotFound");
    }
    expect((await call("/v1/me")).status).toBe(200);
    expect(await auditCount(BOOTSTRAP_ADMIN_ID)).toBe(0);
  });
});

describe("rotating", () => {
  it("answers a new token once: the old one is refused, the new one works", async () => {
    const { principal_id, token } = await create({ name: "to-rotate", scopes: { target_asset_ids: ["rot-1"] } });
    expect((await call("/v1/me", { token })).status).toBe(200);
    const rotated = await call(`/v1/principals/${principal_id}/rotate`, { method: "POST" });
    expect(rotated.status).toBe(200);
    expect(rotated.json.principal_id).toBe(principal_id);
    expect(rotated.json.token).not.toBe(token);
    expectProblem(await call("/v1/me", { token }), 401, "Unauthenticated");
    const me = await call("/v1/me", { token: rotated.json.token });
    expect(me.status).toBe(200);
    expect(me.json.scopes).toEqual({ target_asset_ids: ["rot-1"] });
    expect((await call(`/v1/principals/${principal_id}`)).json.rotated_at).toEqual(expect.any(String));
    expect((await auditOf(principal_id)).map((e) => e.action)).toContain("principal.rotated");
  });

  it("refuses an agent without a token: its actor's switch is how it is stopped", async () => {
    const before = await auditCount(WATCHER_AGENT.id);
    expectProblem(await call(`/v1/principals/${WATCHER_AGENT.id}/rotate`, { method: "POST" }), 409, "PrincipalManagedElsewhere");
    expectProblem(await call(`/v1/principals/${WATCHER_AGENT.id}/revoke`, { method: "POST", body: { reason: "stop the watcher" } }), 409, "PrincipalManagedElsewhere");
    expect(await auditCount(WATCHER_AGENT.id)).toBe(before);
    expect((await call(`/v1/principals/${WATCHER_AGENT.id}`)).json).toMatchObject({ revoked_at: null, has_token: false });
  });
});

describe("expiry", () => {
  it("refuses a token from the moment it expires, even one the service has just served", async () => {
    const now = Date.now();
    const { token } = await create({ name: "expiring", expires_at: new Date(now + HOUR).toISOString() });
    expect((await call("/v1/me", { token })).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(now + HOUR + 1);
    expectProblem(await call("/v1/me", { token }), 401, "Unauthenticated");
  });

  it("refuses a token whose stored expiry has passed before its first use", async () => {
    const { principal_id, token } = await create({ name: "expired-before-use" });
    await env.DB.prepare("UPDATE principals SET expires_at = ? WHERE principal_id = ?").bind("2020-01-01T00:00:00.000Z", principal_id).run();
    expectProblem(await call("/v1/me", { token }), 401, "Unauthenticated");
  });
});

describe("the audit trail", () => {
  it("records actor switches with who made them, newest first, in pages", async () => {
    const operator = await create({ name: "audited-admin", roles: ["admin"] });
    const actor = WATCHER_AGENT.id;
    expect((await call(`/v1/actors/${actor}/deactivate`, { method: "POST", token: operator.token })).status).toBe(200);
    expect((await call(`/v1/actors/${actor}/activate`, { method: "POST", token: operator.token })).status).toBe(200);
    const mine = (await auditOf(actor)).filter((e) => e.actor_id === operator.principal_id);
    expect(mine.map((e) => e.action)).toEqual(["actor.activated", "actor.deactivated"]);
    const first = await call(`/v1/audit?subject_id=${actor}&limit=1`);
    expect(first.json.items).toHaveLength(1);
    const second = await call(`/v1/audit?subject_id=${actor}&limit=1&cursor=${first.json.next_cursor}`);
    expect(second.json.items[0].audit_id).not.toBe(first.json.items[0].audit_id);
    expect(second.json.items[0].occurred_at <= first.json.items[0].occurred_at).toBe(true);
  });

  it("writes nothing for an actor that does not exist", async () => {
    const missing = crypto.randomUUID();
    expectProblem(await call(`/v1/actors/${missing}/deactivate`, { method: "POST" }), 404, "ActorNotFound");
    expect(await auditCount(missing)).toBe(0);
  });

  it("refuses a cursor it did not issue", async () => {
    expectProblem(await call("/v1/audit?cursor=bm90LWEtY3Vyc29y"), 400, "InvalidCursor");
  });
});

/** wrangler.toml: ADDRESS_RATE_LIMITER, 60 look-ups of unseen tokens per 10 s per client address. */
const ADDRESS_LIMIT = 60;

describe("unknown tokens", () => {
  it("are looked up a bounded number of times per client address: a flood from one address locks out nobody else", async () => {
    const { token: known } = await create({ name: "known while flooded" });
    const flooder = `198.51.100.${Math.floor(Math.random() * 250)}-${crypto.randomUUID()}`;
    const from = (address: string) => ({ "cf-connecting-ip": address });
    expect((await call("/v1/me", { token: known, headers: from(flooder) })).status).toBe(200);
    const seen = `bogus-${crypto.randomUUID()}`;
    expectProblem(await call("/v1/me", { token: seen, headers: from(flooder) }), 401, "Unauthenticated");
    // The simulator's windows are aligned to the clock: a flood straddling a window's end may need twice the limit.
    let throttled: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i <= 2 * ADDRESS_LIMIT + 1 && !throttled; i += 1) {
      const answer = await call("/v1/me", { token: `bogus-${crypto.randomUUID()}`, headers: from(flooder) });
      if (answer.status === 429) throttled = answer;
      else expectProblem(answer, 401, "Unauthenticated");
    }
    expect(throttled, "the flood was never limited").toBeDefined();
    expectProblem(throttled!, 429, "RateLimited");
    expect(throttled!.headers.get("retry-after")).toBe("10");

    // A new, valid token from another address gets in during the flood; from the flooding address it waits.
    const { token: fresh } = await create({ name: "fresh while flooded" });
    expectProblem(await call("/v1/me", { token: fresh, headers: from(flooder) }), 429, "RateLimited");
    expect((await call("/v1/me", { token: fresh, headers: from(`203.0.113.7-${crypto.randomUUID()}`) })).status).toBe(200);
    // Without a look-up: the token seen before is still refused as unknown, and a known one still works from anywhere.
    expectProblem(await call("/v1/me", { token: seen, headers: from(flooder) }), 401, "Unauthenticated");
    expect((await call("/v1/me", { token: known, headers: from(flooder) })).status).toBe(200);
  });

  it("are the only ones that spend the address's budget: many new, valid tokens from one address all get in", async () => {
    const office = { "cf-connecting-ip": `203.0.113.50-${crypto.randomUUID()}` };
    const tokens = await Promise.all(Array.from({ length: ADDRESS_LIMIT + 5 }, (_, i) => create({ name: `office ${i}` })));
    for (const { token } of tokens) expect((await call("/v1/me", { token, headers: office })).status).toBe(200);
    expectProblem(await call("/v1/me", { token: `bogus-${crypto.randomUUID()}`, headers: office }), 401, "Unauthenticated");
  });
});

describe("principal names", () => {
  it("answers the names of the ids asked for (the bootstrap admin's and the watcher's too), leaving out unknown ones", async () => {
    const created = await call("/v1/principals", { body: { name: "named operator", roles: ["operator"] } });
    const id = created.json.principal_id as string;
    const unknown = crypto.randomUUID();
    const answer = await call(`/v1/principal-names?ids=${id},${BOOTSTRAP_ADMIN_ID},${WATCHER_AGENT.id},${unknown},${id}`, { token: await tokenFor("reader") });
    expect(answer.status).toBe(200);
    const byId = Object.fromEntries(answer.json.items.map((i: { principal_id: string; name: string }) => [i.principal_id, i.name]));
    expect(byId).toEqual({ [id]: "named operator", [BOOTSTRAP_ADMIN_ID]: "bootstrap-admin", [WATCHER_AGENT.id]: expect.any(String) });
    // Nothing but the id and the name.
    expect(Object.keys(answer.json.items[0]).sort()).toEqual(["name", "principal_id"]);
  });

  it("refuses no ids, more than 100, and callers without a read grant", async () => {
    expectProblem(await call("/v1/principal-names"), 400, "ValidationFailed");
    expectProblem(await call(`/v1/principal-names?ids=${Array.from({ length: 101 }, (_, i) => `p${i}`).join(",")}`), 400, "ValidationFailed");
    expectProblem(await call("/v1/principal-names?ids=a", { token: await tokenFor("gateway") }), 403, "Forbidden");
    expectProblem(await call("/v1/principal-names?ids=a", { token: null }), 401, "Unauthenticated");
  });
});
