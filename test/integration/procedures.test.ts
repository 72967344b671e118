import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure, settled, summaryOf, tokenFor } from "../helpers";

describe("POST /v1/procedures", () => {
  it("registers a Defined procedure and projects it", async () => {
    const result = await call("/v1/procedures", {
      body: { name: "  Bake-out  ", kind: "thermal", target_asset_ids: ["oven-1", "oven-1", "sensor-2"] },
    });
    expect(result.status).toBe(201);
    expect(result.json).toMatchObject({
      name: "Bake-out",
      kind: "thermal",
      target_asset_ids: ["oven-1", "sensor-2"],
      status: "Defined",
      hold_claims: [],
      version: 1,
      step_count: null,
      completed_count: 0,
      in_flight_step_index: null,
      last_activity_at: null,
    });
    expect(result.headers.get("location")).toBe(`/v1/procedures/${result.json.procedure_id}`);
    expect(await summaryOf(result.json.procedure_id)).toMatchObject({ status: "Defined", version: 1, name: "Bake-out" });
  });

  it.each([
    ["unknown field", { name: "x", kind: "k", target_asset_ids: [], colour: "red" }],
    ["blank name", { name: "   ", kind: "k", target_asset_ids: [] }],
    ["name too long", { name: "n".repeat(201), kind: "k", target_asset_ids: [] }],
    ["kind too long", { name: "n", kind: "k".repeat(51), target_asset_ids: [] }],
    ["missing target_asset_ids", { name: "n", kind: "k" }],
  ])("refuses %s with 400 and writes nothing", async (_, body) => {
    const key = crypto.randomUUID();
    const result = await call("/v1/procedures", { body, headers: { "idempotency-key": key } });
    expectProblem(result, 400, "ValidationFailed");
    expect(result.json.errors.length).toBeGreaterThan(0);
    // Validation runs before anything: not even the idempotency key is claimed.
    const claimed = await env.DB.prepare("SELECT count(*) AS n FROM idempotency_keys WHERE idempotency_key = ?").bind(key).first<{ n: number }>();
    expect(claimed!.n).toBe(0);
  });

  it("refuses malformed JSON with a 400 problem", async () => {
    const result = await call("/v1/procedures", { method: "POST", rawBody: "{not json", headers: { "content-type": "application/json" } });
    expectProblem(result, 400);
  });

  it("refuses an oversize body with 413", async () => {
    const result = await call("/v1/procedures", {
      method: "POST",
      rawBody: JSON.stringify({ name: "x", kind: "k", target_asset_ids: ["a".repeat(1_100_000)] }),
      headers: { "content-type": "application/json" },
    });
    expectProblem(result, 413, "PayloadTooLarge");
  });

  it("returns the same procedure for a retry with the same Idempotency-Key", async () => {
    const key = crypto.randomUUID();
    const body = { name: "idempotent", kind: "k", target_asset_ids: [] };
    const first = await call("/v1/procedures", { body, headers: { "idempotency-key": key } });
    const second = await call("/v1/procedures", { body, headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.json.procedure_id).toBe(first.json.procedure_id);
    expect(await eventLog(first.json.procedure_id)).toHaveLength(1);
  });

  it("registers once when retries with the same key race each other", async () => {
    const key = crypto.randomUUID();
    const body = { name: "raced", kind: "k", target_asset_ids: [] };
    const results = await Promise.all(Array.from({ length: 6 }, () => call("/v1/procedures", { body, headers: { "idempotency-key": key } })));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(201));
    expect(new Set(results.map((r) => r.json.procedure_id)).size).toBe(1);
    expect(await eventLog(results[0]!.json.procedure_id)).toHaveLength(1);
  });

  it("scopes Idempotency-Key to the principal and refuses a reused key with another body", async () => {
    const key = crypto.randomUUID();
    const body = { name: "scoped", kind: "k", target_asset_ids: [] };
    const mine = await call("/v1/procedures", { body, headers: { "idempotency-key": key } });
    const theirs = await call("/v1/procedures", { body, headers: { "idempotency-key": key }, token: await tokenFor("operator") });
    expect(theirs.json.procedure_id).not.toBe(mine.json.procedure_id);
    const reused = await call("/v1/procedures", { body: { ...body, name: "other" }, headers: { "idempotency-key": key } });
    expectProblem(reused, 422, "IdempotencyKeyReused");
  });

  it("answers 401 without or with an unknown token, 403 for a reader or gateway", async () => {
    const body = { name: "n", kind: "k", target_asset_ids: [] };
    expectProblem(await call("/v1/procedures", { body, token: null }), 401, "Unauthenticated");
    expectProblem(await call("/v1/procedures", { body, token: "nope" }), 401, "Unauthenticated");
    expectProblem(await call("/v1/procedures", { body, token: await tokenFor("reader") }), 403, "Forbidden");
    expectProblem(await call("/v1/procedures", { body, token: await tokenFor("gateway") }), 403, "Forbidden");
  });
});

describe("GET /v1/procedures/{id}", () => {
  it("reads the state from the procedure's object", async () => {
    const id = await registerProcedure({ name: "readable" });
    const result = await call(`/v1/procedures/${id}`, { token: await tokenFor("reader") });
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({ procedure_id: id, name: "readable", status: "Defined" });
  });

  it("answers 404 for an unknown procedure and 400 for a bad id", async () => {
    expectProblem(await call(`/v1/procedures/${crypto.randomUUID()}`), 404, "ProcedureNotFound");
    expectProblem(await call("/v1/procedures/not-a-uuid"), 400, "ValidationFailed");
  });

  it("answers 401 without a token; a gateway may read", async () => {
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}`, { token: null }), 401);
    expect((await call(`/v1/procedures/${id}`, { token: await tokenFor("gateway") })).status).toBe(200);
  });
});

describe("lifecycle commands", () => {
  it("walks start, hold, resume, complete with contiguous events", async () => {
    const id = await registerProcedure();
    expect((await command(id, "start")).json.status).toBe("Running");
    const held = await command(id, "hold", { reason: "coffee" });
    expect(held.json).toMatchObject({ status: "Held", last_status_reason: "coffee", hold_claims: [{ cause: "operator" }] });
    expect((await command(id, "resume", { re_establishment_boundary: 0 })).json).toMatchObject({ status: "Running", hold_claims: [] });
    expect((await command(id, "complete")).json.status).toBe("Completed");
    const log = await eventLog(id);
    expect(log.map((e) => e.type)).toEqual([
      "ProcedureRegistered",
      "ProcedureStarted",
      "ProcedureHeld",
      "ProcedureResumed",
      "ProcedureCompleted",
    ]);
    expect(log.map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
    expect(await summaryOf(id)).toMatchObject({ status: "Completed", version: 5 });
  });

  it("keeps last_status_changed_at when a second claim holds a Held procedure, in the object and the list", async () => {
    const id = await registerProcedure();
    let clock = Date.parse("2026-03-01T10:00:00.000Z");
    await runInDurableObject(procedureStub(id), (instance) => {
      instance.clock = { now: () => clock, sleep: () => new Promise(() => {}) };
    });
    await command(id, "start");
    clock += 60_000;
    expect((await command(id, "hold", { reason: "sample swap" })).json.last_status_changed_at).toBe("2026-03-01T10:01:00.000Z");
    clock += 60_000;
    const second = await command(id, "hold", { reason: "driver lost", cause: "driver-stand-down" });
    expect(second.json).toMatchObject({
      status: "Held",
      hold_claims: [{ cause: "operator" }, { cause: "driver-stand-down" }],
      last_status_changed_at: "2026-03-01T10:01:00.000Z",
      last_status_reason: "driver lost",
    });
    await settled(id);
    expect(await summaryOf(id)).toMatchObject({ status: "Held", last_status_changed_at: "2026-03-01T10:01:00.000Z" });
    const listed = (await call(`/v1/procedures?status=Held&limit=100`)).json.items.find((p: { procedure_id: string }) => p.procedure_id === id);
    expect(listed).toMatchObject({ last_status_changed_at: "2026-03-01T10:01:00.000Z" });
  });

  it.each([
    ["start", "Running", "start", undefined, "ProcedureCannotStart"],
    ["complete", "Defined", "complete", undefined, "ProcedureCannotComplete"],
    ["hold", "Defined", "hold", { reason: "r" }, "ProcedureCannotHold"],
    ["resume", "Running", "resume", { re_establishment_boundary: 0 }, "ProcedureCannotResume"],
    ["abort", "Defined", "abort", { reason: "r" }, "ProcedureCannotAbort"],
    ["truncate", "Defined", "truncate", { reason: "r" }, "ProcedureCannotTruncate"],
  ])("refuses %s from %s with 409 and leaves the log and projection untouched", async (_, from, name, body, errorClass) => {
    const id = await registerProcedure();
    if (from === "Running") await command(id, "start");
    const before = await eventLog(id);
    const summaryBefore = await summaryOf(id);
    expectProblem(await command(id, name, body), 409, errorClass);
    expect(await eventLog(id)).toEqual(before);
    expect(await summaryOf(id)).toEqual(summaryBefore);
  });

  it("aborts and truncates with reasons; interrupted_at in the future is 400", async () => {
    const a = await registerProcedure();
    await command(a, "start");
    expect((await command(a, "abort", { reason: "vacuum lost" })).json).toMatchObject({ status: "Aborted", last_status_reason: "vacuum lost" });

    const t = await registerProcedure();
    await command(t, "start");
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expectProblem(await command(t, "truncate", { reason: "r", interrupted_at: future }), 400, "InterruptedAtInFuture");
    const at = new Date(Date.now() - 60_000).toISOString();
    expect((await command(t, "truncate", { reason: "power cut", interrupted_at: at })).json).toMatchObject({
      status: "Truncated",
      interrupted_at: at,
    });
    const last = (await eventLog(t)).at(-1)!;
    expect(last).toMatchObject({ type: "ProcedureTruncated", payload: { reason: "power cut", interrupted_at: at } });
  });

  it("keeps interrupted_at present and null when not given", async () => {
    const t = await registerProcedure();
    await command(t, "start");
    await command(t, "truncate", { reason: "r" });
    const last = (await eventLog(t)).at(-1)!;
    expect(last.payload).toHaveProperty("interrupted_at", null);
  });

  it("refuses complete from Held: it must resume first", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "hold", { reason: "wait" });
    expectProblem(await command(id, "complete"), 409, "ProcedureCannotComplete");
  });

  it("answers 401 and 403 per command", async () => {
    const id = await registerProcedure();
    expectProblem(await command(id, "start", undefined, null as never), 401);
    expectProblem(await command(id, "start", undefined, await tokenFor("reader")), 403);
    expectProblem(await command(id, "start", undefined, await tokenFor("gateway")), 403);
    expect((await command(id, "start", undefined, await tokenFor("operator"))).status).toBe(200);
  });
});
